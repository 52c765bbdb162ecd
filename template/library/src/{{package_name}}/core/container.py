"""The container: builds nodes, injects services, and runs their lifecycle."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TypeVar, cast

from .errors import EnumCoreErrorCode, OnexError
from .event_bus import InMemoryEventBus, ProtocolEventBus
from .health import HealthCheck, HealthRegistry
from .intents import ModelIntent, ModelIntentResult
from .lifecycle import AsyncLifecycle
from .metrics import MetricsRegistry
from .nodes import AnyNode
from .registry import intent_routes
from .settings import ModelOnexSettings

NodeT = TypeVar("NodeT", bound=AnyNode)
ServiceT = TypeVar("ServiceT")


def create_event_bus(settings: ModelOnexSettings) -> ProtocolEventBus:
    """The bus that `settings.bus_url` names: `memory://`, or `kafka://...` with the `kafka` extra installed."""
    if settings.bus_url.startswith("memory://"):
        return InMemoryEventBus(
            partitions=settings.bus_partitions,
            queue_size=settings.bus_queue_size,
            max_delivery_attempts=settings.bus_max_delivery_attempts,
        )
    if settings.bus_url.startswith("kafka://"):
        try:
            from .kafka_bus import KafkaEventBus  # noqa: PLC0415 - aiokafka is an optional extra
        except ModuleNotFoundError as exc:
            raise OnexError(
                f"bus_url {settings.bus_url!r} needs aiokafka: install the library's `kafka` extra",
                code=EnumCoreErrorCode.CONFIGURATION_ERROR,
                details={"bus_url": settings.bus_url, "missing": str(exc.name)},
            ) from exc
        return KafkaEventBus.from_settings(settings)
    raise OnexError(
        f"unsupported bus_url {settings.bus_url!r}; use memory:// or kafka://host:port",
        code=EnumCoreErrorCode.CONFIGURATION_ERROR,
        details={"bus_url": settings.bus_url},
    )


class OnexContainer(AsyncLifecycle):
    """One per process (or per test): settings, services, and node singletons.

    `async with OnexContainer() as container:` starts the event bus, and on
    exit shuts down every node it started, newest first, then the bus.
    """

    def __init__(self, settings: ModelOnexSettings | None = None, *, event_bus: ProtocolEventBus | None = None) -> None:
        """Create the shared services; nodes are built on first use."""
        self.settings = settings or ModelOnexSettings()
        self.metrics = MetricsRegistry()
        self.health = HealthRegistry()
        self.event_bus = event_bus or create_event_bus(self.settings)
        self._services: dict[type[object], object] = {}
        self._nodes: dict[type[object], AnyNode] = {}
        self._started: list[AnyNode] = []
        self._starting: dict[type[object], asyncio.Lock] = {}
        self.health.register(
            HealthCheck(
                "event_bus", self.event_bus.health_check, timeout_seconds=self.settings.health_check_timeout_seconds
            )
        )

    def register(self, key: type[ServiceT], service: ServiceT) -> None:
        """Provide `service` to whoever resolves `key`."""
        self._services[key] = service

    def resolve(self, key: type[ServiceT]) -> ServiceT:
        """The service registered for `key`."""
        try:
            return cast("ServiceT", self._services[key])
        except KeyError:
            raise OnexError(
                f"no service registered for {key.__name__}",
                code=EnumCoreErrorCode.NOT_FOUND,
                details={"service": key.__name__},
            ) from None

    def node(self, node_class: type[NodeT]) -> NodeT:
        """The container's one instance of `node_class`, built on first use."""
        node = self._nodes.get(node_class)
        if node is None:
            node = node_class(self)
            self._nodes[node_class] = node
            self.health.register(
                HealthCheck(
                    f"node:{node_class.node_name}",
                    node.health_check,
                    critical=node_class.health_critical,
                    timeout_seconds=self.settings.health_check_timeout_seconds,
                )
            )
        return cast("NodeT", node)

    async def start_node(self, node_class: type[NodeT]) -> NodeT:
        """The node, started; it will be shut down with the container."""
        node = self.node(node_class)
        # Tasks that ask for the same node at once wait for one start, not each start it again.
        async with self._starting.setdefault(node_class, asyncio.Lock()):
            if node not in self._started:
                await node.startup()
                self._started.append(node)
        return node

    async def execute_intents(self, intents: Sequence[ModelIntent]) -> list[ModelIntentResult]:
        """Carry out `intents` in order, each by the effect node that handles its type."""
        routes = intent_routes()
        results: list[ModelIntentResult] = []
        for intent in intents:
            node_class = routes.get(intent.intent_type)
            if node_class is None:
                raise OnexError(
                    f"no effect node carries out intent {intent.intent_type!r}",
                    code=EnumCoreErrorCode.INTENT_UNROUTABLE,
                    details={"intent_type": intent.intent_type, "known": ", ".join(sorted(routes))},
                )
            node = await self.start_node(node_class)
            result = await node.execute_intent(intent)
            results.append(ModelIntentResult(intent=intent, executed_by=node_class.__name__, result=result))
        return results

    async def startup(self) -> None:
        """Start the event bus."""
        await self.event_bus.start()

    async def shutdown(self) -> None:
        """Shut down started nodes, newest first, then the bus."""
        while self._started:
            await self._started.pop().shutdown()
        await self.event_bus.stop()
