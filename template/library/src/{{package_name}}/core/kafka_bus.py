"""The Kafka event bus: `ProtocolEventBus` on aiokafka, chosen by `bus_url = "kafka://host:port[,host:port]"`.

Delivery is at least once:

- `publish` returns once the broker has the message from every in-sync replica
  (`acks="all"`; an idempotent producer when `bus_kafka_idempotence` is on). The
  key is the envelope's correlation id, so a conversation stays in one partition,
  in order.
- Each consumer group is one consumer per process; processes in one group share
  its partitions. A fetched batch is handled in order within each partition, the
  partitions concurrently, and its offsets are committed only after its handlers
  finished: a process that dies mid-batch leaves the batch to be delivered again.
- A handler that keeps failing (`bus_max_delivery_attempts`, with backoff) sends
  its message to `<topic>.dlq` with the reason in the envelope's metadata; bytes
  that are not an envelope go there as they are, with the reason in a header.
- `stop()` finishes the batches in flight, commits them and leaves the groups
  before it closes the producer.
- Topics are created on first use (`bus_partitions` partitions each).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError, TopicAlreadyExistsError, for_code
from pydantic import ValidationError

from .envelope import JsonEnvelope
from .errors import EnumCoreErrorCode, OnexError
from .event_bus import Envelope, EnvelopeHandler, dead_letter_topic
from .retry import RetryPolicy
from .settings import ModelOnexSettings

#: The scheme of a Kafka `bus_url`.
URL_SCHEME = "kafka://"
#: The envelope metadata key (and, for raw messages, the header) that says why a message was dead-lettered.
DEAD_LETTER_REASON = "dead_letter_reason"
#: Records fetched at most by one poll.
_BATCH_RECORDS = 500
#: How long one poll waits for records; `stop()` is noticed within it.
_POLL_MS = 200

_log = logging.getLogger(__name__)

ClientT = TypeVar("ClientT")


class Record(Protocol):
    """What the bus reads of a consumed message (aiokafka's `ConsumerRecord`)."""

    offset: int
    key: bytes | None
    value: bytes | None


def encode_envelope(envelope: Envelope) -> bytes:
    """The message value of `envelope`: its JSON."""
    return envelope.model_dump_json().encode()


def decode_envelope(value: bytes | None) -> Envelope:
    """The envelope in a message value, its payload as `ModelJsonPayload`.

    Raises:
        ValidationError: the value is not an envelope's JSON.
    """
    envelope: Envelope = JsonEnvelope.model_validate_json(value or b"")
    return envelope


def bootstrap_servers(bus_url: str) -> list[str]:
    """The `host:port` list of `kafka://host:port[,host:port]`.

    Raises:
        OnexError: CONFIGURATION_ERROR for another scheme or no host.
    """
    hosts = [host.strip().strip("/") for host in bus_url.removeprefix(URL_SCHEME).split(",")]
    if not bus_url.startswith(URL_SCHEME) or not all(hosts):
        raise OnexError(
            f"bus_url {bus_url!r} is not kafka://host:port[,host:port]",
            code=EnumCoreErrorCode.CONFIGURATION_ERROR,
            details={"bus_url": bus_url},
        )
    return hosts


def kafka_error(action: str, error: KafkaError, **details: str) -> OnexError:
    """`error` as an `OnexError`: timeouts are TIMEOUT, retriable errors DEPENDENCY_UNAVAILABLE."""
    if isinstance(error, KafkaTimeoutError):
        code = EnumCoreErrorCode.TIMEOUT
    elif isinstance(error, KafkaConnectionError) or error.retriable:
        code = EnumCoreErrorCode.DEPENDENCY_UNAVAILABLE
    else:
        code = EnumCoreErrorCode.OPERATION_FAILED
    return OnexError(f"{action}: {type(error).__name__}: {error}", code=code, details=details)


@dataclass
class _Group:
    """One consumer group of this process: its handlers per topic, its consumer and the task polling it."""

    name: str
    handlers: dict[str, list[EnvelopeHandler]] = field(default_factory=dict)
    consumer: AIOKafkaConsumer | None = None
    task: asyncio.Task[None] | None = None
    #: Held while a batch is handled and committed; a rebalance waits for it.
    batch: asyncio.Lock = field(default_factory=asyncio.Lock)


class _FinishBeforeRevoke(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka's base class is untyped
    """Lets the batch in flight finish and commit before the group takes partitions away."""

    def __init__(self, group: _Group) -> None:
        self.group = group

    async def on_partitions_revoked(self, revoked: Collection[TopicPartition]) -> None:
        async with self.group.batch:
            if revoked:
                _log.info("group %s: partitions revoked: %s", self.group.name, _describe(revoked))

    async def on_partitions_assigned(self, assigned: Collection[TopicPartition]) -> None:
        _log.info("group %s: partitions assigned: %s", self.group.name, _describe(assigned) or "none")


def _describe(partitions: Iterable[TopicPartition]) -> str:
    """`topic[0,2] other[1]`."""
    by_topic: dict[str, list[int]] = {}
    for partition in partitions:
        by_topic.setdefault(partition.topic, []).append(partition.partition)
    return " ".join(f"{topic}[{','.join(map(str, sorted(numbers)))}]" for topic, numbers in sorted(by_topic.items()))


class KafkaEventBus:
    """The event bus on a Kafka cluster (or any broker speaking its protocol)."""

    def __init__(
        self,
        servers: Sequence[str],
        *,
        client_id: str = "onex",
        partitions: int = 4,
        replication_factor: int = 1,
        max_delivery_attempts: int = 3,
        retry_policy: RetryPolicy | None = None,
        idempotence: bool = True,
        session_timeout_seconds: float = 10.0,
        request_timeout_seconds: float = 30.0,
    ) -> None:
        """Connect to `servers` (`host:port`) on `start()`; topics are created with `partitions` partitions.

        `retry_policy` spaces a failing handler's attempts (its `max_attempts` is
        replaced by `max_delivery_attempts`).
        """
        self.servers = list(servers)
        self.client_id = client_id
        self._partitions = partitions
        self._replication_factor = replication_factor
        policy = retry_policy or RetryPolicy()
        self._retry = RetryPolicy(max_delivery_attempts, policy.initial_delay, policy.max_delay)
        self._idempotence = idempotence
        self._session_timeout_ms = round(session_timeout_seconds * 1000)
        self._request_timeout_ms = round(request_timeout_seconds * 1000)
        self._groups: dict[str, _Group] = {}
        self._producer: AIOKafkaProducer | None = None
        self._admin: AIOKafkaAdminClient | None = None
        self._known_topics: set[str] = set()
        self._topics_lock = asyncio.Lock()
        self._lifecycle_lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._background: set[asyncio.Task[None]] = set()
        #: Why the last `start()` failed, reported by `health_check`.
        self.start_error: OnexError | None = None

    @classmethod
    def from_settings(cls, settings: ModelOnexSettings) -> KafkaEventBus:
        """The bus that `settings` describe (`bus_url` and the other `bus_*` settings)."""
        return cls(
            bootstrap_servers(settings.bus_url),
            client_id=settings.bus_consumer_group,
            partitions=settings.bus_partitions,
            replication_factor=settings.bus_replication_factor,
            max_delivery_attempts=settings.bus_max_delivery_attempts,
            retry_policy=RetryPolicy(
                initial_delay=settings.retry_initial_delay_seconds, max_delay=settings.retry_max_delay_seconds
            ),
            idempotence=settings.bus_kafka_idempotence,
            session_timeout_seconds=settings.bus_session_timeout_seconds,
        )

    @property
    def running(self) -> bool:
        """Whether the bus is connected."""
        return self._producer is not None

    def subscribe(self, topic: str, handler: EnvelopeHandler, *, group: str = "default") -> None:
        """Add `handler` to `group` on `topic`; the group's partitions of `topic` are shared among its handlers.

        On a running bus the consumer (re)subscribes in the background; a failure is logged.
        """
        target = self._groups.setdefault(group, _Group(group))
        target.handlers.setdefault(topic, []).append(handler)
        if self.running:
            task = asyncio.create_task(self._join(target), name=f"kafka:subscribe:{group}")
            self._background.add(task)
            task.add_done_callback(self._background_done)

    async def start(self) -> None:
        """Connect the producer, create the subscribed topics and join every consumer group.

        Raises:
            OnexError: DEPENDENCY_UNAVAILABLE (or TIMEOUT) when the broker cannot be reached.
        """
        async with self._lifecycle_lock:
            if not self.running:
                await self._start()

    async def stop(self) -> None:
        """Finish and commit the batches in flight, leave the groups, then close the producer."""
        async with self._lifecycle_lock:
            if self.running:
                await self._stop()

    async def _start(self) -> None:
        self._stopping.clear()
        producer = AIOKafkaProducer(
            bootstrap_servers=self.servers,
            client_id=self.client_id,
            acks="all",
            enable_idempotence=self._idempotence,
            request_timeout_ms=self._request_timeout_ms,
        )
        admin = AIOKafkaAdminClient(
            bootstrap_servers=self.servers, client_id=self.client_id, request_timeout_ms=self._request_timeout_ms
        )
        try:
            await producer.start()
            await admin.start()
        except KafkaError as exc:
            await producer.stop()
            await admin.close()
            servers = ",".join(self.servers)
            self.start_error = kafka_error(f"cannot connect to the Kafka broker at {servers}", exc, bus=servers)
            raise self.start_error from exc
        self._producer, self._admin, self.start_error = producer, admin, None
        try:
            for group in self._groups.values():
                await self._join(group)
        except BaseException:
            await self._stop()
            raise

    async def _stop(self) -> None:
        self._stopping.set()
        await asyncio.gather(*self._background, return_exceptions=True)
        for group in self._groups.values():
            if group.task is not None:
                await asyncio.gather(group.task, return_exceptions=True)
                group.task = None
            if group.consumer is not None:
                await group.consumer.stop()
                group.consumer = None
        producer, admin = self._producer, self._admin
        self._producer = self._admin = None
        self._known_topics.clear()
        if producer is not None:
            await producer.stop()
        if admin is not None:
            await admin.close()

    async def publish(self, topic: str, envelope: Envelope, *, key: str | None = None) -> None:
        """Publish `envelope` on `topic` under `key` (default: its correlation id); return once the broker has it.

        Raises:
            OnexError: LIFECYCLE_ERROR before `start()`; DEPENDENCY_UNAVAILABLE,
                TIMEOUT or OPERATION_FAILED when the broker does not take it.
        """
        await self._send(topic, encode_envelope(envelope), key or envelope.key)

    async def health_check(self) -> None:
        """Raise unless the bus is started, every group still consumes, and the cluster answers."""
        admin = self._admin
        if admin is None:
            reason = f": {self.start_error.message}" if self.start_error else ""
            raise OnexError(f"the event bus is not started{reason}", code=EnumCoreErrorCode.DEPENDENCY_UNAVAILABLE)
        for group in self._groups.values():
            if group.task is not None and group.task.done():
                error = None if group.task.cancelled() else group.task.exception()
                raise OnexError(
                    f"consumer group {group.name!r} stopped consuming: {error!r}",
                    code=EnumCoreErrorCode.OPERATION_FAILED,
                    details={"group": group.name},
                )
        try:
            await admin.describe_cluster()
        except KafkaError as exc:
            raise kafka_error("the Kafka cluster does not answer", exc) from exc

    async def ensure_topics(self, topics: Iterable[str]) -> None:
        """Create those of `topics` this bus has not seen yet; topics that exist already are fine.

        Raises:
            OnexError: when the broker refuses to create one.
        """
        admin = _started(self._admin)
        wanted = set(topics)
        if wanted <= self._known_topics:
            return
        async with self._topics_lock:
            missing = sorted(wanted - self._known_topics)
            if not missing:
                return
            new = [NewTopic(topic, self._partitions, self._replication_factor) for topic in missing]
            try:
                response = await admin.create_topics(new)
            except KafkaError as exc:
                raise kafka_error("creating topics failed", exc, topics=", ".join(missing)) from exc
            for topic, code, *message in response.topic_errors:
                error = for_code(code)
                if code and error is not TopicAlreadyExistsError:
                    reason = message[0] if message and message[0] else error.__name__
                    raise OnexError(
                        f"the broker refused to create topic {topic!r}: {reason}",
                        code=EnumCoreErrorCode.OPERATION_FAILED,
                        details={"topic": topic, "error": error.__name__},
                    )
            self._known_topics.update(missing)

    async def _send(self, topic: str, value: bytes, key: str, headers: Sequence[tuple[str, bytes]] = ()) -> None:
        producer = _started(self._producer)
        await self.ensure_topics([topic])
        try:
            await producer.send_and_wait(topic, value, key=key.encode(), headers=list(headers) or None)
        except KafkaError as exc:
            raise kafka_error(f"publishing on {topic!r} failed", exc, topic=topic) from exc

    async def _join(self, group: _Group) -> None:
        """Create the group's topics, then start its consumer, or resubscribe it to the group's topics."""
        topics = list(group.handlers)
        await self.ensure_topics(topics)
        listener = _FinishBeforeRevoke(group)
        if group.consumer is not None:
            group.consumer.subscribe(topics, listener=listener)
            return
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.servers,
            client_id=self.client_id,
            group_id=group.name,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=self._session_timeout_ms,
            heartbeat_interval_ms=max(self._session_timeout_ms // 3, 1),
            request_timeout_ms=max(self._request_timeout_ms, self._session_timeout_ms + 1000),
        )
        consumer.subscribe(topics, listener=listener)
        try:
            await consumer.start()
        except KafkaError as exc:
            await consumer.stop()
            raise kafka_error(f"consumer group {group.name!r} cannot join", exc, group=group.name) from exc
        group.consumer = consumer
        group.task = asyncio.create_task(self._consume(group, consumer), name=f"kafka:consume:{group.name}")
        _log.info("group %s: consuming %s", group.name, ", ".join(topics))

    async def _consume(self, group: _Group, consumer: AIOKafkaConsumer) -> None:
        """Poll, handle and commit batch after batch until `stop()`."""
        while not self._stopping.is_set():
            try:
                batch: dict[TopicPartition, list[Record]] = await consumer.getmany(
                    timeout_ms=_POLL_MS, max_records=_BATCH_RECORDS
                )
            except KafkaError as exc:
                _log.warning("group %s: polling failed, retrying: %s", group.name, exc)
                await asyncio.sleep(self._retry.initial_delay)
                continue
            if not batch:
                continue
            async with group.batch:
                assigned = consumer.assignment()
                ends = await asyncio.gather(
                    *(
                        self._deliver_partition(group, consumer, partition, records)
                        for partition, records in batch.items()
                        if partition in assigned
                    )
                )
                offsets = {partition: end for partition, end in ends if end is not None}
                if offsets:
                    await self._commit(group, consumer, offsets)

    async def _deliver_partition(
        self, group: _Group, consumer: AIOKafkaConsumer, partition: TopicPartition, records: list[Record]
    ) -> tuple[TopicPartition, int | None]:
        """Handle `records` in order; the offset to commit (None when none was handled).

        A record that could be neither handled nor dead-lettered (the broker is
        away) stops the partition there: it is fetched again after a seek.
        """
        handlers = group.handlers[partition.topic]
        handler = handlers[partition.partition % len(handlers)]
        end: int | None = None
        for record in records:
            try:
                await self._deliver(partition.topic, handler, record)
            except OnexError as exc:
                _log.warning("group %s: %s offset %d is retried later: %s", group.name, partition, record.offset, exc)
                if partition in consumer.assignment():
                    consumer.seek(partition, record.offset)
                await asyncio.sleep(self._retry.initial_delay)
                break
            end = record.offset + 1
        return partition, end

    async def _deliver(self, topic: str, handler: EnvelopeHandler, record: Record) -> None:
        """Run `handler` on the record's envelope, retried; dead-letter it when every attempt failed."""
        try:
            envelope = decode_envelope(record.value)
        except ValidationError as exc:
            reason = f"not an envelope: {exc.errors(include_url=False)[0]['msg']}"
            _log.warning("dead-lettered %s offset %d: %s", topic, record.offset, reason)
            if not topic.endswith(".dlq"):
                key = record.key.decode(errors="replace") if record.key else str(record.offset)
                headers = [(DEAD_LETTER_REASON, reason.encode())]
                await self._send(dead_letter_topic(topic), record.value or b"", key, headers)
            return
        reason = ""
        for attempt in range(1, self._retry.max_attempts + 1):
            try:
                await handler(envelope)
            except Exception as exc:  # noqa: BLE001 - a handler's failure must not stop the partition
                reason = f"{type(exc).__name__}: {exc}"
            else:
                return
            if attempt < self._retry.max_attempts:
                await asyncio.sleep(self._retry.delay(attempt))
        _log.warning("dead-lettered %s from %s: %s", envelope.envelope_id, topic, reason)
        if topic.endswith(".dlq"):  # a failing dead-letter handler does not cascade
            return
        dead = envelope.model_copy(update={"metadata": {**envelope.metadata, DEAD_LETTER_REASON: reason}})
        key = record.key.decode(errors="replace") if record.key else dead.key
        await self._send(dead_letter_topic(topic), encode_envelope(dead), key)

    async def _commit(self, group: _Group, consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int]) -> None:
        try:
            await consumer.commit(offsets)
        except KafkaError as exc:
            # The partitions moved on (a rebalance): their new owner gets these messages again.
            _log.warning("group %s: commit failed, the batch will be delivered again: %s", group.name, exc)

    def _background_done(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _log.error("subscribing failed: %s", task.exception())


def _started(client: ClientT | None) -> ClientT:
    """`client`, once `start()` created it."""
    if client is None:
        raise OnexError("the event bus is not started", code=EnumCoreErrorCode.LIFECYCLE_ERROR)
    return client
