"""Retry with exponential backoff, on tenacity."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from .errors import EnumCoreErrorCode, OnexError

T = TypeVar("T")

#: Codes worth retrying: the dependency may come back.
TRANSIENT_CODES = frozenset({EnumCoreErrorCode.DEPENDENCY_UNAVAILABLE, EnumCoreErrorCode.TIMEOUT})


def is_transient(error: BaseException) -> bool:
    """Whether a retry may succeed: timeouts and unavailable dependencies, not bad input."""
    if isinstance(error, OnexError):
        return error.code in TRANSIENT_CODES
    return isinstance(error, (OSError, TimeoutError, ConnectionError))


def is_conflict(error: BaseException) -> bool:
    """Whether a conditional write lost to a concurrent one: reading again and retrying may succeed."""
    return isinstance(error, OnexError) and error.code == EnumCoreErrorCode.CONFLICT


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff: `initial_delay * 2**n`, capped at `max_delay`."""

    max_attempts: int = 3
    initial_delay: float = 0.1
    max_delay: float = 2.0

    def delay(self, retry_number: int) -> float:
        """The wait before retry `retry_number` (1 for the first retry)."""
        return float(min(self.max_delay, self.initial_delay * 2 ** (retry_number - 1)))

    async def run(
        self,
        operation: Callable[[], Awaitable[T]],
        *,
        retry_if: Callable[[BaseException], bool] = is_transient,
    ) -> T:
        """Run `operation`, retrying while `retry_if` says the failure is transient."""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=wait_exponential(multiplier=self.initial_delay, max=self.max_delay),
            retry=retry_if_exception(retry_if),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await operation()
        raise OnexError(  # pragma: no cover - tenacity either returns or reraises
            "retry loop ended without a result", code=EnumCoreErrorCode.OPERATION_FAILED
        )


#: For a read-fold-write whose conditional write lost to a concurrent run (`retry_if=is_conflict`):
#: the loser stored nothing, so it reads the winner's state and folds again, soon. Each round of
#: writers from one read has a winner, so ten attempts see ten runs at once through.
CONFLICT_RETRY = RetryPolicy(max_attempts=10, initial_delay=0.01, max_delay=0.2)
