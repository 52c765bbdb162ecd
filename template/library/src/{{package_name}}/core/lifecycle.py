"""`AsyncLifecycle`: `startup` and `shutdown`, and `async with` for both."""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self


class AsyncLifecycle(ABC):
    """Something that acquires resources in `startup` and releases them in `shutdown`."""

    @abstractmethod
    async def startup(self) -> None:
        """Acquire resources; idempotent."""

    @abstractmethod
    async def shutdown(self) -> None:
        """Release resources; idempotent."""

    async def __aenter__(self) -> Self:
        """Start."""
        await self.startup()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Shut down, whether or not the block failed."""
        await self.shutdown()
