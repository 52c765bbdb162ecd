"""The event bus: a protocol, and the in-memory implementation used by default.

The in-memory bus behaves like a small Kafka: each topic has `partitions`
bounded queues; an envelope goes to the partition of its key, so events with
one key (a conversation) are handled in order. Every consumer group gets every
message; within a group, partitions are shared among its handlers. A message
whose handler keeps failing is published on the dead-letter topic `<topic>.dlq`
with the reason in its metadata (and kept in `dead_letters` for inspection).
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from pydantic import BaseModel

from .envelope import OnexEnvelopeV1
from .errors import EnumCoreErrorCode, OnexError

Envelope = OnexEnvelopeV1[BaseModel]
EnvelopeHandler = Callable[[Envelope], Awaitable[None]]

_log = logging.getLogger(__name__)


def dead_letter_topic(topic: str) -> str:
    """Where messages go that no handler could process."""
    return f"{topic}.dlq"


class ProtocolEventBus(Protocol):
    """What nodes need of a bus; in-memory and Kafka implement it."""

    async def start(self) -> None:
        """Connect and start delivering."""

    async def stop(self) -> None:
        """Finish in-flight messages, then disconnect."""

    async def publish(self, topic: str, envelope: Envelope, *, key: str | None = None) -> None:
        """Publish `envelope`; `key` (default: its correlation id) keeps order."""

    def subscribe(self, topic: str, handler: EnvelopeHandler, *, group: str = "default") -> None:
        """Deliver every message of `topic` to one handler of `group`."""

    async def health_check(self) -> None:
        """Raise when the bus cannot deliver."""


@dataclass
class _Group:
    handlers: list[EnvelopeHandler] = field(default_factory=list)
    queues: list[asyncio.Queue[Envelope]] = field(default_factory=list)
    workers: list[asyncio.Task[None]] = field(default_factory=list)


class InMemoryEventBus:
    """A process-local bus with per-key order and bounded queues."""

    def __init__(self, *, partitions: int = 4, queue_size: int = 1000, max_delivery_attempts: int = 3) -> None:
        """`queue_size` bounds each partition: publishers wait when it is full."""
        self._partitions = partitions
        self._queue_size = queue_size
        self._max_attempts = max_delivery_attempts
        self._topics: dict[str, dict[str, _Group]] = {}
        self._running = False
        self._unfinished = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.dead_letters: list[tuple[str, Envelope, str]] = []

    @property
    def running(self) -> bool:
        """Whether the bus delivers messages."""
        return self._running

    def subscribe(self, topic: str, handler: EnvelopeHandler, *, group: str = "default") -> None:
        """Add `handler` to `group` on `topic`; partitions are shared round-robin."""
        groups = self._topics.setdefault(topic, {})
        target = groups.get(group)
        if target is None:
            target = groups[group] = _Group()
            target.queues = [asyncio.Queue(self._queue_size) for _ in range(self._partitions)]
            if self._running:
                self._start_group(topic, target)
        target.handlers.append(handler)

    async def start(self) -> None:
        """Start one worker per partition of every group."""
        if self._running:
            return
        self._running = True
        for topic, groups in self._topics.items():
            for group in groups.values():
                self._start_group(topic, group)

    async def stop(self) -> None:
        """Deliver what is queued, then stop the workers."""
        if not self._running:
            return
        await self.drain()
        self._running = False
        workers = [w for groups in self._topics.values() for g in groups.values() for w in g.workers]
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        for groups in self._topics.values():
            for group in groups.values():
                group.workers.clear()

    async def drain(self) -> None:
        """Wait until every queued message has been handled, including those handlers publish meanwhile."""
        await self._idle.wait()

    async def publish(self, topic: str, envelope: Envelope, *, key: str | None = None) -> None:
        """Queue `envelope` on its key's partition in every group of `topic`."""
        if not self._running:
            raise OnexError(
                "the event bus is not started", code=EnumCoreErrorCode.LIFECYCLE_ERROR, details={"topic": topic}
            )
        groups = self._topics.get(topic)
        if not groups:
            return
        partition = zlib.crc32((key or envelope.key).encode()) % self._partitions
        for group in groups.values():
            self._unfinished += 1
            self._idle.clear()
            queue = group.queues[partition]
            try:
                if queue.full():
                    await queue.put(envelope)
                else:
                    queue.put_nowait(envelope)
            except BaseException:
                self._message_done()
                raise

    async def health_check(self) -> None:
        """Raise when the bus is not running."""
        if not self._running:
            raise OnexError("the event bus is not started", code=EnumCoreErrorCode.DEPENDENCY_UNAVAILABLE)

    def _start_group(self, topic: str, group: _Group) -> None:
        group.workers = [
            asyncio.create_task(self._work(topic, group, partition), name=f"bus:{topic}:{partition}")
            for partition in range(self._partitions)
        ]

    async def _work(self, topic: str, group: _Group, partition: int) -> None:
        queue = group.queues[partition]
        while True:
            envelope = await queue.get()
            handler = group.handlers[partition % len(group.handlers)]
            try:
                await handler(envelope)
            except Exception as exc:  # noqa: BLE001 - a handler's failure must not stop the partition
                await self._redeliver(topic, handler, envelope, exc)
            finally:
                queue.task_done()
                self._message_done()

    def _message_done(self) -> None:
        self._unfinished -= 1
        if not self._unfinished:
            self._idle.set()

    async def _redeliver(self, topic: str, handler: EnvelopeHandler, envelope: Envelope, error: Exception) -> None:
        """Deliver again after the first attempt failed with `error`; dead-letter when every attempt failed."""
        for _ in range(self._max_attempts - 1):
            try:
                await handler(envelope)
            except Exception as exc:  # noqa: BLE001 - a handler's failure must not stop the partition
                error = exc
            else:
                return
        reason = f"{type(error).__name__}: {error}"
        _log.warning("dead-lettered %s from %s: %s", envelope.envelope_id, topic, reason)
        dead_topic = dead_letter_topic(topic)
        dead = envelope.model_copy(update={"metadata": {**envelope.metadata, "dead_letter_reason": reason}})
        self.dead_letters.append((dead_topic, dead, reason))
        if not topic.endswith(".dlq"):  # a failing dead-letter handler does not cascade
            await self.publish(dead_topic, dead)
