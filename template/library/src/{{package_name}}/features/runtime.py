"""What every generated feature builds on: its descriptor, workflow, state, hooks and bus handler.

A feature (generated from its spec) is a `Feature`: contracts, three events, a
`OnexWorkflow` whose steps call catalog nodes, and a `FeatureHandler` that
serves the requested topic. `FeatureRunner` registers the workflows with the
workflow orchestrator (FSM, lifecycle events, retries) and runs requests:
`run` for one request in-process, `subscribe` to serve them from the bus.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar, runtime_checkable
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field, JsonValue, SecretStr, TypeAdapter, ValidationError
from pydantic_core import to_jsonable_python

from ..archetypes.orchestrators.node_workflow_orchestrator import (
    ModelWorkflowInput,
    NodeWorkflowOrchestrator,
    WorkflowFactory,
)
from ..core.envelope import OnexEnvelopeV1
from ..core.errors import EnumCoreErrorCode, ModelErrorDetail, OnexError, invalid_input
from ..core.fsm import EnumWorkflowState
from ..core.nodes import AnyNode
from ..core.registry import discover_nodes
from ..core.workflow import OnexWorkflow

if TYPE_CHECKING:
    from ..core.container import OnexContainer

PayloadT = TypeVar("PayloadT", bound=BaseModel)
RequestT = TypeVar("RequestT", bound=BaseModel)
ResponseT = TypeVar("ResponseT", bound=BaseModel)

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeatureTopics:
    """The three topics of a feature: `onex.cmd.<pkg>.<feature>-requested.v1` and its two outcomes."""

    requested: str
    completed: str
    failed: str


class ModelFeatureFailure(BaseModel):
    """The payload of every `…Failed` event: which run failed, and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    feature: str = Field(description="The feature whose run failed.")
    workflow_id: UUID | None = Field(default=None, description="The failed run; None when it never started.")
    error: ModelErrorDetail = Field(description="Why it failed.")


class ModelFeatureState(BaseModel):
    """Base of a feature workflow's state: the request, plus one typed field per value its steps produce.

    Steps read values by spec path (`request.username`, `user.password_hash`):
    `value` gives the JSON value or None when there is none; the typed readers
    (`text`, `integer`, ...) fail with a clear `OnexError` instead.
    """

    correlation_id: UUID | None = Field(default=None, description="The run's conversation, from the request event.")
    causation_id: UUID | None = Field(default=None, description="The request event's id.")

    def value(self, path: str) -> JsonValue:
        """The JSON value at the dotted `path`, or None when there is none; secrets are revealed."""
        current: Any = self
        for part in path.split("."):
            if isinstance(current, BaseModel):
                name = _field_name(type(current), part)
                current = getattr(current, name) if name else None
            elif isinstance(current, Mapping):
                current = current.get(part)
            else:
                current = None
            if current is None:
                return None
        if type(current) in _PLAIN_JSON:
            plain: JsonValue = current
            return plain
        if isinstance(current, SecretStr):
            return current.get_secret_value()
        if isinstance(current, BaseModel):
            dumped: JsonValue = current.model_dump(mode="json")
            return dumped
        return _JSON.validate_python(to_jsonable_python(current))

    def text(self, path: str) -> str:
        """The string at `path`."""
        return _expect(path, self.value(path), str, "a string")

    def integer(self, path: str) -> int:
        """The integer at `path`; a whole float such as `2.0` is one, as in JSON Schema."""
        value = self.value(path)
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return _expect(path, value, int, "an integer")

    def number(self, path: str) -> float:
        """The number at `path`."""
        value = self.value(path)
        if isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        return _expect(path, value, float, "a number")

    def flag(self, path: str) -> bool:
        """The boolean at `path`."""
        return _expect(path, self.value(path), bool, "a boolean")

    def secret(self, path: str) -> SecretStr:
        """The string at `path`, as a secret."""
        return SecretStr(self.text(path))

    def record(self, path: str) -> dict[str, JsonValue]:
        """The JSON object at `path`."""
        return _expect(path, self.value(path), dict, "an object")

    @staticmethod
    def present(values: Mapping[str, JsonValue]) -> dict[str, JsonValue]:
        """`values` without the absent (None) ones: contracts leave absent properties out."""
        return {key: value for key, value in values.items() if value is not None}

    def envelope(self, event_type: str, payload: PayloadT) -> OnexEnvelopeV1[PayloadT]:
        """An event of this run: same correlation id, caused by the request."""
        return OnexEnvelopeV1(
            correlation_id=self.correlation_id or uuid4(),
            causation_id=self.causation_id,
            event_type=event_type,
            source_node="workflow",
            payload=payload,
        )


_JSON: TypeAdapter[JsonValue] = TypeAdapter(JsonValue)
#: Values that are JSON as they are (their exact types: an enum member is converted).
_PLAIN_JSON = frozenset({str, int, float, bool})

T = TypeVar("T")


@cache
def _field_name(model: type[BaseModel], name: str) -> str | None:
    """The field of `model` that the spec calls `name` (its alias or its own name)."""
    for field_name, info in model.model_fields.items():
        if name in (field_name, info.alias):
            return field_name
    return None


def _expect(path: str, value: object, kind: type[T], expected: str) -> T:
    """`value`, unless it is missing or not of `kind` (booleans are not numbers here)."""
    if value is None:
        raise OnexError(
            f"the workflow has no value at {path!r}", code=EnumCoreErrorCode.VALIDATION_ERROR, details={"path": path}
        )
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise OnexError(
            f"the value at {path!r} is {type(value).__name__}, expected {expected}",
            code=EnumCoreErrorCode.VALIDATION_ERROR,
            details={"path": path},
        )
    return value


def not_written(feature: str, hook: str) -> OnexError:
    """The error of a hook the user has yet to write in the feature's `logic.py`."""
    return OnexError(
        f"{feature}: write the {hook!r} hook in features/{feature}/logic.py (its step has operation: custom)",
        code=EnumCoreErrorCode.NOT_IMPLEMENTED,
        details={"feature": feature, "hook": hook},
    )


def utc_now() -> datetime:
    """The current time, for reducers (which never read a clock themselves)."""
    return datetime.now(UTC)


class FeatureHooks:
    """Base of a feature's generated hooks: the user's `logic.py` subclass overrides them.

    One instance serves every run of the feature in the process, runs in flight together
    included: what a run needs to remember goes in its `state`, not on `self`.
    """

    def __init__(self, container: OnexContainer) -> None:
        """Hooks may use any node or service of the container."""
        self.container = container


@dataclass(frozen=True)
class Feature(Generic[RequestT, ResponseT]):
    """One feature of the library, as its package declares it in `FEATURE`."""

    name: str
    description: str
    request_model: type[RequestT]
    response_model: type[ResponseT]
    workflow_class: type[OnexWorkflow]
    handler_class: type[FeatureHandler[RequestT, ResponseT]]
    topics: FeatureTopics

    def parse_request(self, payload: object) -> RequestT:
        """`payload` as the request contract.

        Raises:
            OnexError: VALIDATION_ERROR naming the first bad field.
        """
        try:
            return self.request_model.model_validate(payload)
        except ValidationError as error:
            raise invalid_input(f"invalid {self.name} request", error, feature=self.name) from error


class FeatureHandler(ABC, Generic[RequestT, ResponseT]):
    """Serves one feature: each request runs its workflow once and ends in a completed or failed event.

    The generated subclass builds the feature's typed events; this class does the
    rest. A request envelope delivered twice (the bus delivers at least once) is
    run once: while it runs, its id is claimed in the runner's `ProcessedEnvelopes`;
    once its outcome is published, the id is recorded in the runner's
    `EnvelopeLedger`, where any later delivery finds it, in this process or
    another. A delivery whose handling failed (say, the outcome could not be
    published) leaves no trace, so the bus's redelivery runs the request again.
    """

    source_node: ClassVar[str] = "workflow"

    def __init__(self, feature: Feature[RequestT, ResponseT], runner: FeatureRunner) -> None:
        """Serve `feature` through `runner`'s container and orchestrator."""
        self.feature = feature
        self.runner = runner

    @abstractmethod
    def requested(self, request: RequestT, *, correlation_id: UUID | None = None) -> OnexEnvelopeV1[RequestT]:
        """The feature's Requested event for `request`."""

    @abstractmethod
    def completed(self, cause: OnexEnvelopeV1[RequestT], response: ResponseT) -> OnexEnvelopeV1[ResponseT]:
        """The feature's Completed event, caused by `cause`."""

    @abstractmethod
    def failed(
        self, cause: OnexEnvelopeV1[RequestT], failure: ModelFeatureFailure
    ) -> OnexEnvelopeV1[ModelFeatureFailure]:
        """The feature's Failed event, caused by `cause`."""

    async def run(self, envelope: OnexEnvelopeV1[RequestT]) -> OnexEnvelopeV1[BaseModel]:
        """Run the workflow for `envelope` under the orchestrator; the completed or failed event."""
        orchestrator = await self.runner.orchestrator()
        output = await orchestrator.process(
            ModelWorkflowInput(
                workflow_name=self.feature.name,
                payload={
                    "request": envelope.payload.model_dump(mode="json"),
                    "correlation_id": str(envelope.correlation_id),
                    "causation_id": str(envelope.envelope_id),
                },
                correlation_id=envelope.correlation_id,
                causation_id=envelope.envelope_id,
            )
        )
        if output.state is EnumWorkflowState.COMPLETED:
            try:
                response = self.feature.response_model.model_validate(output.result)
            except ValidationError as error:
                failure = invalid_input(f"{self.feature.name} produced an invalid response", error).to_model()
            else:
                return self.completed(envelope, response)
        else:
            failure = output.error or OnexError("the run failed", code=EnumCoreErrorCode.OPERATION_FAILED).to_model()
        return self.failed(
            envelope, ModelFeatureFailure(feature=self.feature.name, workflow_id=output.workflow_id, error=failure)
        )

    async def handle(self, envelope: OnexEnvelopeV1[BaseModel]) -> None:
        """The bus subscriber: run a new request once and publish its outcome; skip one handled before."""
        if not self.runner.processed.claim(envelope.envelope_id):
            return
        try:
            if await self.runner.ledger.handled(envelope.envelope_id):
                _log.info("%s: request %s was handled before; skipped", self.feature.name, envelope.envelope_id)
                return
            await self._serve(envelope)
            await self.runner.ledger.record(envelope.envelope_id, handler=self.feature.name)
        except BaseException:
            # The bus redelivers a request whose handling failed: that delivery must run it.
            self.runner.processed.release(envelope.envelope_id)
            raise

    async def _serve(self, envelope: OnexEnvelopeV1[BaseModel]) -> None:
        """Run `envelope`'s request, or refuse it as invalid, and publish the outcome."""
        try:
            request = self.feature.parse_request(envelope.payload.model_dump(mode="json"))
        except OnexError as error:
            outcome: OnexEnvelopeV1[BaseModel] = OnexEnvelopeV1(
                correlation_id=envelope.correlation_id,
                causation_id=envelope.envelope_id,
                event_type=f"{self.feature.name}.failed",
                source_node=self.source_node,
                payload=ModelFeatureFailure(feature=self.feature.name, error=error.to_model()),
            )
        else:
            typed = self.requested(request, correlation_id=envelope.correlation_id).model_copy(
                update={"envelope_id": envelope.envelope_id, "causation_id": envelope.causation_id}
            )
            outcome = await self.run(typed)
        await self.publish(outcome)

    async def publish(self, outcome: OnexEnvelopeV1[BaseModel]) -> None:
        """Publish a run's outcome on the completed or the failed topic."""
        failed = isinstance(outcome.payload, ModelFeatureFailure)
        topic = self.feature.topics.failed if failed else self.feature.topics.completed
        await self.runner.container.event_bus.publish(topic, outcome)


class ProcessedEnvelopes:
    """The ids of request envelopes already taken, so that a redelivery is not run again.

    Bounded: it remembers the latest `capacity` ids, which covers every
    redelivery window of the in-memory bus. An id whose handling failed is
    released, so that the bus's redelivery runs the request after all.
    """

    def __init__(self, capacity: int = 100_000) -> None:
        """Remember at most `capacity` ids."""
        self.capacity = capacity
        self._ids: OrderedDict[UUID, None] = OrderedDict()

    def claim(self, envelope_id: UUID) -> bool:
        """True the first time `envelope_id` is seen, False after that."""
        if envelope_id in self._ids:
            return False
        self._ids[envelope_id] = None
        while len(self._ids) > self.capacity:
            self._ids.popitem(last=False)
        return True

    def release(self, envelope_id: UUID) -> None:
        """Forget `envelope_id`: its handling failed, so its redelivery is to run."""
        self._ids.pop(envelope_id, None)


# The ledger's statements on `onex_processed_envelopes` (schema `0001_core.sql`, `0003_processed_envelopes.sql`).
_SELECT_HANDLED = "SELECT envelope_id FROM onex_processed_envelopes WHERE envelope_id = ?"
_INSERT_HANDLED = (
    "INSERT INTO onex_processed_envelopes (envelope_id, handler, processed_at) VALUES (?, ?, ?) "
    "ON CONFLICT (envelope_id) DO NOTHING"
)


@runtime_checkable
class ProtocolSqlNode(Protocol):
    """What the ledger asks of the database node, which it finds by name: a library may lack it."""

    async def fetch_one(self, sql: str, parameters: Sequence[str] = ()) -> Mapping[str, object] | None:
        """The first row of a query, or None."""

    async def execute(self, sql: str, parameters: Sequence[str] = ()) -> object:
        """Run one statement."""


class EnvelopeLedger:
    """The durable record of handled request envelopes: `onex_processed_envelopes`, through the database node.

    Every process serving from one database shares it, and it outlives them:
    a request redelivered after a crash or a rebalance, to whichever process,
    is found there and not run again. The id is recorded after the outcome
    was published, so a process that dies before that leaves the request to
    be run again by the redelivery (its steps then run a second time).

    In a library without the database node the ledger records nothing, and
    deduplication is `ProcessedEnvelopes` alone, in memory.
    """

    def __init__(self, container: OnexContainer) -> None:
        """Record through `container`'s database node, started on first use."""
        self.container = container
        self._node: ProtocolSqlNode | None = None
        self._lock = asyncio.Lock()

    @property
    def durable(self) -> bool:
        """Whether the library has a database node to record in."""
        return _database_node_class() is not None

    async def start(self) -> None:
        """Start the database node now rather than on the first request."""
        await self._database()

    async def handled(self, envelope_id: UUID) -> bool:
        """Whether `envelope_id` was recorded as handled."""
        database = await self._database()
        if database is None:
            return False
        return await database.fetch_one(_SELECT_HANDLED, (str(envelope_id),)) is not None

    async def record(self, envelope_id: UUID, *, handler: str) -> None:
        """Record `envelope_id` as handled by `handler` (a feature); recording it twice keeps the first."""
        database = await self._database()
        if database is not None:
            now = datetime.now(UTC).isoformat()
            await database.execute(_INSERT_HANDLED, (str(envelope_id), handler, now))

    async def _database(self) -> ProtocolSqlNode | None:
        async with self._lock:
            node_class = _database_node_class()
            if self._node is None and node_class is not None:
                node = await self.container.start_node(node_class)
                if not isinstance(node, ProtocolSqlNode):
                    raise OnexError(f"{node_class.__name__} cannot run SQL", code=EnumCoreErrorCode.CONFIGURATION_ERROR)
                self._node = node
            return self._node


def _database_node_class() -> type[AnyNode] | None:
    """The database node of the library, if it has one."""
    return next((node.node_class for node in discover_nodes() if node.name == "database"), None)


class FeatureRunner:
    """Runs a library's features on one container."""

    def __init__(self, container: OnexContainer, features: Sequence[Feature[Any, Any]]) -> None:
        """Serve `features` with `container`'s nodes and bus."""
        self.container = container
        self.features = {feature.name: feature for feature in features}
        self.processed = ProcessedEnvelopes()
        self.ledger = EnvelopeLedger(container)
        self.handlers: dict[str, FeatureHandler[Any, Any]] = {
            name: feature.handler_class(feature, self) for name, feature in self.features.items()
        }
        self._orchestrator: NodeWorkflowOrchestrator | None = None
        self._lock = asyncio.Lock()

    async def orchestrator(self) -> NodeWorkflowOrchestrator:
        """The started workflow orchestrator, with every feature's workflow registered."""
        async with self._lock:
            if self._orchestrator is None:
                orchestrator = await self.container.start_node(NodeWorkflowOrchestrator)
                for feature in self.features.values():
                    if feature.name not in orchestrator.workflow_names:
                        orchestrator.register(feature.name, self._factory(feature))
                self._orchestrator = orchestrator
            return self._orchestrator

    def _factory(self, feature: Feature[Any, Any]) -> WorkflowFactory:
        """The feature's workflow, built on its first attempt and shared by every attempt after it.

        A LlamaIndex workflow holds no run: each `run()` has its own context and so its own
        state, built fresh, so runs in flight together and retries never see each other's values.
        Sharing one instance spares every attempt building and validating the workflow again.
        """
        built: dict[float | None, OnexWorkflow] = {}

        def workflow(*, timeout: float | None) -> OnexWorkflow:
            if timeout not in built:
                built[timeout] = feature.workflow_class(self.container, timeout=timeout)
            return built[timeout]

        return workflow

    def handler(self, name: str) -> FeatureHandler[Any, Any]:
        """The handler of the feature called `name`."""
        try:
            return self.handlers[name]
        except KeyError:
            raise OnexError(
                f"no feature named {name!r}; features: {', '.join(sorted(self.handlers)) or 'none'}",
                code=EnumCoreErrorCode.NOT_FOUND,
                details={"feature": name},
            ) from None

    async def run(self, name: str, payload: object) -> OnexEnvelopeV1[BaseModel]:
        """Run feature `name` once for `payload`; its completed or failed event (also published).

        Raises:
            OnexError: VALIDATION_ERROR when `payload` is not a valid request (nothing runs then);
                NOT_FOUND for an unknown feature.
        """
        handler = self.handler(name)
        request = handler.feature.parse_request(payload)
        envelope = handler.requested(request)
        self.processed.claim(envelope.envelope_id)
        outcome = await handler.run(envelope)
        await handler.publish(outcome)
        return outcome

    async def start(self) -> None:
        """Start what serving needs (the workflow orchestrator, the ledger's database) before the first request."""
        await self.orchestrator()
        await self.ledger.start()

    def subscribe(self, *, group: str | None = None) -> None:
        """Serve every feature's requested topic from the bus, in consumer group `group` (default: the settings')."""
        for handler in self.handlers.values():
            self.container.event_bus.subscribe(
                handler.feature.topics.requested,
                handler.handle,
                group=group or self.container.settings.bus_consumer_group,
            )
