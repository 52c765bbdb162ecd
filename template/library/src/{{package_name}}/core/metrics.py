"""Latency histograms per operation, and `@monitor_performance` to fill them."""

from __future__ import annotations

import bisect
import functools
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

P = ParamSpec("P")
T = TypeVar("T")

#: Upper bounds of the histogram buckets, in milliseconds (the last is +inf).
BUCKETS_MS: tuple[float, ...] = (1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000)


class ModelOperationMetrics(BaseModel):
    """What is known of one operation's latency."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    operation: str
    count: int
    errors: int
    total_ms: float
    max_ms: float
    buckets: dict[str, int]

    @property
    def mean_ms(self) -> float:
        """Mean latency."""
        return self.total_ms / self.count if self.count else 0.0


class ModelMetricsSnapshot(BaseModel):
    """Every operation's metrics at one moment."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    operations: dict[str, ModelOperationMetrics]


@dataclass
class _Histogram:
    counts: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS_MS) + 1))
    count: int = 0
    errors: int = 0
    total_ms: float = 0.0
    max_ms: float = 0.0


class MetricsRegistry:
    """Collects latencies; one per container."""

    def __init__(self) -> None:
        """Start empty."""
        self._histograms: dict[str, _Histogram] = {}

    def record(self, operation: str, elapsed_ms: float, *, ok: bool = True) -> None:
        """Add one observation."""
        histogram = self._histograms.setdefault(operation, _Histogram())
        histogram.counts[bisect.bisect_left(BUCKETS_MS, elapsed_ms)] += 1
        histogram.count += 1
        histogram.errors += not ok
        histogram.total_ms += elapsed_ms
        histogram.max_ms = max(histogram.max_ms, elapsed_ms)

    def snapshot(self) -> ModelMetricsSnapshot:
        """A consistent copy of every histogram."""
        labels = [f"le_{bound:g}ms" for bound in BUCKETS_MS] + ["le_inf"]
        return ModelMetricsSnapshot(
            operations={
                name: ModelOperationMetrics(
                    operation=name,
                    count=h.count,
                    errors=h.errors,
                    total_ms=h.total_ms,
                    max_ms=h.max_ms,
                    buckets=dict(zip(labels, h.counts, strict=True)),
                )
                for name, h in self._histograms.items()
            }
        )


class SupportsMetrics(Protocol):
    """Anything with a `metrics` registry: every node has one."""

    @property
    def metrics(self) -> MetricsRegistry:
        """Where latencies are recorded."""
        ...


SelfT = TypeVar("SelfT", bound=SupportsMetrics)
Method = Callable[Concatenate[SelfT, P], Coroutine[Any, Any, T]]


def monitor_performance(
    operation: str,
) -> Callable[[Method[SelfT, P, T]], Method[SelfT, P, T]]:
    """Record the latency and outcome of an async method in `self.metrics`."""

    def decorate(method: Method[SelfT, P, T]) -> Method[SelfT, P, T]:
        @functools.wraps(method)
        async def wrapper(self: SelfT, /, *args: P.args, **kwargs: P.kwargs) -> T:
            started = time.perf_counter()
            ok = False
            try:
                result = await method(self, *args, **kwargs)
                ok = True
                return result
            finally:
                self.metrics.record(operation, (time.perf_counter() - started) * 1000, ok=ok)

        return wrapper

    return decorate
