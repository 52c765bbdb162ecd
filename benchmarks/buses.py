"""Buses: the in-memory bus against a raw `asyncio.Queue`; the Kafka bus against raw aiokafka on Tansu.

`benchmarks/library/bus_throughput.py` runs in the library's environment and measures
messages per second of both sides in alternating rounds: publishing envelopes to a
topic that one handler consumes (in memory), and on a Tansu broker of its own (started
as the library's tests start it) publishing one at a time, publishing all at once, and
consuming. DESIGN.md §6 asks for "near" the raw client; the benchmark reads that as
within 1.5x, and says so in each note.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from .model import BenchContext, Comparison, Series
from .runtime import library_environ, run_script, samples

#: DESIGN.md §6 says "near"; read as within 1.5x.
NEAR_BUDGET = 1.5
#: Messages per round, full and --quick.
MEMORY_MESSAGES, QUICK_MEMORY_MESSAGES = 50_000, 5_000
KAFKA_MESSAGES, QUICK_KAFKA_MESSAGES = 2_000, 300

#: What each measure of the script is, as the report names it.
MEASURES = {
    "memory": ("in-memory bus vs asyncio.Queue (messages/s)", "InMemoryEventBus", "asyncio.Queue + consumer task"),
    "kafka_publish_one_at_a_time": (
        "Kafka publish, one at a time (messages/s)",
        "KafkaEventBus.publish",
        "AIOKafkaProducer.send_and_wait",
    ),
    "kafka_publish_in_flight": (
        "Kafka publish, all in flight (messages/s)",
        "KafkaEventBus.publish",
        "AIOKafkaProducer.send_and_wait",
    ),
    "kafka_consume": ("Kafka consume (messages/s)", "KafkaEventBus subscriber", "AIOKafkaConsumer.getmany loop"),
}


def bus_comparisons(document: Mapping[str, Any]) -> list[Comparison]:
    """The comparisons in a `bus_throughput.py` document: one per measure it holds, in `MEASURES` order."""
    comparisons = []
    for key, (name, subject, baseline) in MEASURES.items():
        if key not in document:
            continue
        sides = document[key]
        note = f"DESIGN.md asks for 'near' the raw client: read as within {NEAR_BUDGET}x"
        comparisons.append(
            Comparison(
                area="buses",
                name=name,
                subject=Series(subject, samples(sides, "bus"), unit="ops/s"),
                baseline=Series(baseline, samples(sides, "raw"), unit="ops/s"),
                budget=NEAR_BUDGET,
                note=note if key == "memory" else f"{note}; Tansu broker, acks=all, idempotence off",
            )
        )
    return comparisons


def run(ctx: BenchContext) -> Sequence[Comparison]:
    """Both buses against their raw clients, `ctx.repeats` alternating rounds each (at least 2 in memory)."""
    environ = library_environ(
        ctx, {"PYTHONPATH": os.pathsep.join([str(ctx.library / "src"), str(ctx.library / "tests")])}
    )
    comparisons: list[Comparison] = []
    memory_messages = QUICK_MEMORY_MESSAGES if ctx.quick else MEMORY_MESSAGES
    ctx.log(f"buses: in-memory bus and asyncio.Queue, {memory_messages} messages per round")
    document = run_script(
        ctx,
        "bus_throughput.py",
        ["memory", "--messages", str(memory_messages), "--rounds", str(max(ctx.repeats, 2))],
        environ=environ,
    )
    comparisons.extend(bus_comparisons(document))
    kafka_messages = QUICK_KAFKA_MESSAGES if ctx.quick else KAFKA_MESSAGES
    ctx.log(f"buses: Kafka bus and aiokafka on Tansu, {kafka_messages} messages per round")
    document = run_script(
        ctx,
        "bus_throughput.py",
        ["kafka", "--messages", str(kafka_messages), "--rounds", str(ctx.repeats)],
        environ=environ,
    )
    comparisons.extend(bus_comparisons(document))
    return comparisons
