"""The four archetype base classes and their shared lifecycle.

Every node is built by the container (`container.node(NodeXxx)`), receives
the container in its constructor, and has one entry point,
`process(Model...Input) -> Model...Output`. Lifecycle: `initialize` (check
configuration), `startup` (acquire resources), `shutdown` (release them);
`async with node:` does startup and shutdown.

- `NodeEffect`: the only archetype that does I/O; every operation runs through
  its circuit breaker and retry policy, and it carries out intents.
- `NodeCompute`: pure transformations; no writes, no publishing.
- `NodeReducer`: folds actions into state and returns intents, doing no I/O.
- `NodeOrchestrator`: coordinates workflows; reaches I/O only through effects.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from .circuit_breaker import CircuitBreaker
from .errors import EnumCoreErrorCode, OnexError
from .intents import ModelIntent
from .lifecycle import AsyncLifecycle
from .metrics import MetricsRegistry
from .retry import RetryPolicy, is_transient

if TYPE_CHECKING:
    from .container import OnexContainer
    from .settings import ModelOnexSettings

InputT = TypeVar("InputT", bound=BaseModel)
OutputT = TypeVar("OutputT", bound=BaseModel)
T = TypeVar("T")


class EnumNodeArchetype(StrEnum):
    """The four ONEX archetypes."""

    EFFECT = "effect"
    COMPUTE = "compute"
    REDUCER = "reducer"
    ORCHESTRATOR = "orchestrator"


class EnumNodeLifecycle(StrEnum):
    """Where a node is in its life."""

    CREATED = "CREATED"
    INITIALIZED = "INITIALIZED"
    RUNNING = "RUNNING"
    STOPPED = "STOPPED"


class NodeBase(AsyncLifecycle, Generic[InputT, OutputT]):
    """What every node shares: container injection, lifecycle, health, metrics."""

    archetype: ClassVar[EnumNodeArchetype]
    #: The catalog name, e.g. `database` for `NodeDatabaseEffect`.
    node_name: ClassVar[str]
    #: Whether a failing health check makes the whole library unhealthy.
    health_critical: ClassVar[bool] = True

    def __init__(self, container: OnexContainer) -> None:
        """Take services from `container`; acquire nothing yet."""
        self.container = container
        self.lifecycle = EnumNodeLifecycle.CREATED
        #: Why the last `startup()` failed, reported by `require_running`.
        self.startup_error: BaseException | None = None

    @property
    def settings(self) -> ModelOnexSettings:
        """The container's settings."""
        return self.container.settings

    @property
    def metrics(self) -> MetricsRegistry:
        """The container's metrics registry (used by `@monitor_performance`)."""
        return self.container.metrics

    async def initialize(self) -> None:
        """Check configuration; idempotent."""
        if self.lifecycle is EnumNodeLifecycle.CREATED:
            await self.on_initialize()
            self.lifecycle = EnumNodeLifecycle.INITIALIZED

    async def startup(self) -> None:
        """Initialize if needed and acquire resources; idempotent."""
        if self.lifecycle is EnumNodeLifecycle.RUNNING:
            return
        if self.lifecycle is EnumNodeLifecycle.STOPPED:
            raise OnexError(
                f"node {self.node_name!r} was shut down and cannot start again",
                code=EnumCoreErrorCode.LIFECYCLE_ERROR,
            )
        await self.initialize()
        await self.on_startup()
        try:
            await self.verify_startup()
        except BaseException as error:
            # Release what on_startup acquired; the node may be started again.
            self.startup_error = error
            await self.on_shutdown()
            raise
        self.startup_error = None
        self.lifecycle = EnumNodeLifecycle.RUNNING

    async def shutdown(self) -> None:
        """Release resources; idempotent."""
        if self.lifecycle is EnumNodeLifecycle.RUNNING:
            await self.on_shutdown()
        self.lifecycle = EnumNodeLifecycle.STOPPED

    async def health_check(self) -> None:
        """Raise when the node cannot serve; by default, when it is not running."""
        self.require_running()

    def require_running(self) -> None:
        """Raise `OnexError(LIFECYCLE_ERROR)` unless the node has started."""
        if self.lifecycle is not EnumNodeLifecycle.RUNNING:
            reason = f"start failed: {self.startup_error}" if self.startup_error else "call startup() first"
            raise OnexError(
                f"node {self.node_name!r} is {self.lifecycle}, not RUNNING; {reason}",
                code=EnumCoreErrorCode.LIFECYCLE_ERROR,
            )

    def acquired(self, resource: T | None, what: str) -> T:
        """`resource` once `startup` acquired it; otherwise `OnexError(LIFECYCLE_ERROR)`."""
        if resource is None:
            raise OnexError(
                f"node {self.node_name!r} has no {what}; call startup() first",
                code=EnumCoreErrorCode.LIFECYCLE_ERROR,
            )
        return resource

    async def on_initialize(self) -> None:
        """Hook: validate configuration."""

    async def on_startup(self) -> None:
        """Hook: open connections, files, clients."""

    async def verify_startup(self) -> None:
        """Hook: check the node can serve; a failure undoes `on_startup`."""

    async def on_shutdown(self) -> None:
        """Hook: close what `on_startup` opened (also after a failed start)."""

    @abstractmethod
    async def process(self, input_data: InputT) -> OutputT:
        """The node's one entry point."""


#: Any node, whatever its contracts (for registries and containers).
AnyNode = NodeBase[Any, Any]


class NodeEffect(NodeBase[InputT, OutputT]):
    """External I/O behind a circuit breaker and retry with backoff."""

    archetype = EnumNodeArchetype.EFFECT
    #: Intent types this node carries out, e.g. `database.upsert`.
    handled_intents: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, container: OnexContainer) -> None:
        """Build the breaker and retry policy from settings."""
        super().__init__(container)
        settings = container.settings
        self.breaker = CircuitBreaker(
            self.node_name,
            failure_threshold=settings.breaker_failure_threshold,
            recovery_timeout=settings.breaker_recovery_timeout_seconds,
            is_failure=is_transient,
        )
        self.retry_policy = RetryPolicy(
            max_attempts=settings.retry_max_attempts,
            initial_delay=settings.retry_initial_delay_seconds,
            max_delay=settings.retry_max_delay_seconds,
        )

    async def run_effect(self, operation: Callable[[], Awaitable[T]], *, retry: bool = True) -> T:
        """Run one I/O operation through the breaker, retrying transient failures.

        Pass `retry=False` for operations that are not safe to repeat.
        """
        if not retry:
            return await self.breaker.call(operation)
        return await self.retry_policy.run(lambda: self.breaker.call(operation))

    async def check_connectivity(self) -> None:
        """Hook: raise when the dependency cannot be reached."""

    async def verify_startup(self) -> None:
        """Check connectivity through the breaker (with retries)."""
        await self.run_effect(self.check_connectivity)

    async def health_check(self) -> None:
        """Running, and the dependency answers (through the breaker)."""
        self.require_running()
        await self.breaker.call(self.check_connectivity)

    async def execute_intent(self, intent: ModelIntent) -> JsonValue:
        """Carry out `intent`; nodes override this for their `handled_intents`."""
        raise OnexError(
            f"node {self.node_name!r} does not carry out {intent.intent_type!r}",
            code=EnumCoreErrorCode.INTENT_UNROUTABLE,
            details={"intent_type": intent.intent_type},
        )


class NodeCompute(NodeBase[InputT, OutputT]):
    """A pure transformation: the same input always gives the same output."""

    archetype = EnumNodeArchetype.COMPUTE


class ModelReducerOutput(BaseModel):
    """Base of every reducer output: the new state travels with its intents."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    intents: tuple[ModelIntent, ...] = Field(default=(), description="Side effects for effect nodes to run.")


ReducerOutputT = TypeVar("ReducerOutputT", bound=ModelReducerOutput)


class NodeReducer(NodeBase[InputT, ReducerOutputT]):
    """Folds an action into state; returns intents instead of doing I/O."""

    archetype = EnumNodeArchetype.REDUCER


class NodeOrchestrator(NodeBase[InputT, OutputT]):
    """Coordinates a workflow of other nodes; does I/O only through effects."""

    archetype = EnumNodeArchetype.ORCHESTRATOR
