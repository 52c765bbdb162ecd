"""A circuit breaker: stop calling a dependency that keeps failing.

CLOSED: calls pass; `failure_threshold` consecutive failures open the circuit.
OPEN: calls fail at once with `OnexError(CIRCUIT_OPEN)` until
`recovery_timeout` has passed. HALF_OPEN: one probe call passes; its success
closes the circuit, its failure opens it again.

Written here rather than taken from the `circuitbreaker` package, which keeps
its state on decorated functions (not per node instance) and ships no types.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import TypeVar

from .errors import EnumCoreErrorCode, OnexError

T = TypeVar("T")


class EnumCircuitState(StrEnum):
    """The three states of a breaker."""

    CLOSED = "CLOSED"
    OPEN = "OPEN"
    HALF_OPEN = "HALF_OPEN"


class CircuitBreaker:
    """Per-dependency breaker; `clock` is injectable for tests."""

    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int = 5,
        recovery_timeout: float = 30.0,
        is_failure: Callable[[BaseException], bool] = lambda _error: True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Configure the breaker; errors for which `is_failure` is false do not count."""
        self.name = name
        self.failure_threshold = failure_threshold
        self.recovery_timeout = recovery_timeout
        self._is_failure = is_failure
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._probe = asyncio.Lock()

    @property
    def state(self) -> EnumCircuitState:
        """The current state, moving OPEN to HALF_OPEN once the timeout passed."""
        if self._opened_at is None:
            return EnumCircuitState.CLOSED
        if self._clock() - self._opened_at >= self.recovery_timeout:
            return EnumCircuitState.HALF_OPEN
        return EnumCircuitState.OPEN

    @property
    def failure_count(self) -> int:
        """Consecutive failures so far."""
        return self._failures

    async def call(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Run `operation` through the breaker."""
        state = self.state
        if state is EnumCircuitState.OPEN:
            raise self._open_error()
        if state is EnumCircuitState.HALF_OPEN:
            if self._probe.locked():
                raise self._open_error()
            async with self._probe:
                return await self._attempt(operation)
        return await self._attempt(operation)

    def reset(self) -> None:
        """Close the circuit and forget failures."""
        self._failures = 0
        self._opened_at = None

    async def _attempt(self, operation: Callable[[], Awaitable[T]]) -> T:
        try:
            result = await operation()
        except Exception as error:
            if self._is_failure(error):
                self._record_failure()
            raise
        self.reset()
        return result

    def _record_failure(self) -> None:
        self._failures += 1
        if self._opened_at is not None or self._failures >= self.failure_threshold:
            self._opened_at = self._clock()

    def _open_error(self) -> OnexError:
        return OnexError(
            f"circuit {self.name!r} is open after {self._failures} failures",
            code=EnumCoreErrorCode.CIRCUIT_OPEN,
            details={"breaker": self.name, "failures": self._failures},
        )
