"""Health checks: critical and non-critical components, each with a timeout.

Overall status: UNHEALTHY when a critical check fails, DEGRADED when only
non-critical ones do, HEALTHY otherwise.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class EnumHealthStatus(StrEnum):
    """Health of a component or of the whole library."""

    HEALTHY = "HEALTHY"
    DEGRADED = "DEGRADED"
    UNHEALTHY = "UNHEALTHY"


@dataclass(frozen=True)
class HealthCheck:
    """A named probe: `probe` raises when the component is not healthy."""

    name: str
    probe: Callable[[], Awaitable[None]]
    critical: bool = True
    timeout_seconds: float = 2.0


class ModelComponentHealth(BaseModel):
    """The result of one check."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    status: EnumHealthStatus
    critical: bool
    latency_ms: float
    error: str | None = None


class ModelHealthReport(BaseModel):
    """The result of every check, and the overall status."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    status: EnumHealthStatus
    components: list[ModelComponentHealth]


class HealthRegistry:
    """Holds the checks of one container and runs them concurrently."""

    def __init__(self) -> None:
        """Start with no checks."""
        self._checks: dict[str, HealthCheck] = {}

    def register(self, check: HealthCheck) -> None:
        """Add `check`, replacing one of the same name."""
        self._checks[check.name] = check

    async def run(self) -> ModelHealthReport:
        """Run every check at once and aggregate."""
        components = await asyncio.gather(*(self._run_one(c) for c in self._checks.values()))
        return ModelHealthReport(status=aggregate(components), components=list(components))

    @staticmethod
    async def _run_one(check: HealthCheck) -> ModelComponentHealth:
        started = time.perf_counter()
        error: str | None = None
        try:
            await asyncio.wait_for(check.probe(), timeout=check.timeout_seconds)
        except TimeoutError:
            error = f"no answer within {check.timeout_seconds:g}s"
        except Exception as exc:  # noqa: BLE001 - any failure of a probe is the answer
            error = f"{type(exc).__name__}: {exc}"
        failed = EnumHealthStatus.UNHEALTHY if check.critical else EnumHealthStatus.DEGRADED
        return ModelComponentHealth(
            name=check.name,
            status=failed if error else EnumHealthStatus.HEALTHY,
            critical=check.critical,
            latency_ms=(time.perf_counter() - started) * 1000,
            error=error,
        )


def aggregate(components: list[ModelComponentHealth]) -> EnumHealthStatus:
    """The overall status of a set of component results."""
    statuses = {c.status for c in components}
    for status in (EnumHealthStatus.UNHEALTHY, EnumHealthStatus.DEGRADED):
        if status in statuses:
            return status
    return EnumHealthStatus.HEALTHY
