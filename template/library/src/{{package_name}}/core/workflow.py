"""Workflows inside orchestrators: `OnexWorkflow`, and `run_workflow` for one safe run.

Orchestrators coordinate LlamaIndex workflows (`llama-index-workflows`). An
`OnexWorkflow` reaches nodes through the container, so its steps do I/O only
through effect nodes; its steps edit the run's typed state with `edit_state`.
A run's failures come out as `OnexError` (`workflow_errors`): a timeout (the
workflow's own, or the hard one around the wait) as TIMEOUT, invalid data as
VALIDATION_ERROR, an invalid workflow as CONFIGURATION_ERROR, any other
exception of a step as OPERATION_FAILED; an `OnexError` raised by a step comes
out as it is. Cancelling the wait cancels the run (`wait_for_stop`), so no step
keeps running. Only orchestrators and workflows import this module: importing
`workflows` takes about half a second.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, TypeVar

from pydantic import BaseModel, JsonValue, ValidationError
from workflows import Context, Workflow
from workflows.errors import WorkflowConfigurationError, WorkflowTimeoutError, WorkflowValidationError
from workflows.events import StartEvent, StopEvent
from workflows.handler import WorkflowHandler

from .errors import EnumCoreErrorCode, OnexError
from .nodes import AnyNode

if TYPE_CHECKING:
    from .container import OnexContainer

NodeT = TypeVar("NodeT", bound=AnyNode)
StopT = TypeVar("StopT", bound=StopEvent)
StateT = TypeVar("StateT", bound=BaseModel)


class OnexWorkflow(Workflow):
    """A workflow whose steps reach nodes through the container (`await self.node(NodeDatabaseEffect)`)."""

    def __init__(self, container: OnexContainer, *, timeout: float | None = None) -> None:
        """A workflow whose runs give up after `timeout` seconds (None: never)."""
        super().__init__(timeout=timeout)
        self.container = container

    async def node(self, node_class: type[NodeT]) -> NodeT:
        """The container's instance of `node_class`, started."""
        return await self.container.start_node(node_class)

    @asynccontextmanager
    async def edit_state(self, ctx: Context[StateT]) -> AsyncIterator[StateT]:
        """The run's state, for one step to change; saved when the block ends, dropped when it raises.

        For workflows whose steps run one after another, as a feature's do. Unlike
        `ctx.store.edit_state()`, which deep-copies the whole state for every block so that
        steps running at the same time keep reading the saved one, this edits a shallow copy:
        values the block sets are saved only at its end, while a value it changes in place
        (an item of a dict) changes at once. That is safe here: no other step of the run reads
        the state meanwhile, and a failed step fails the attempt, whose state goes with its
        context (a retry starts from a fresh one).
        """
        store = ctx.store
        state = await store.get_state()
        yield state
        await store.set_state(state)


@contextmanager
def workflow_errors(name: str, timeout: float, details: Mapping[str, JsonValue] | None = None) -> Iterator[None]:
    """Turn every failure of building or running workflow `name` into an `OnexError` carrying `details`."""
    context: dict[str, JsonValue] = {"workflow_name": name, **(details or {})}
    try:
        yield
    except OnexError:
        raise
    except (WorkflowTimeoutError, TimeoutError) as exc:
        raise OnexError(
            f"workflow {name!r} timed out after {timeout:g}s", code=EnumCoreErrorCode.TIMEOUT, details=context
        ) from exc
    except ValidationError as exc:
        raise OnexError(
            f"invalid data in workflow {name!r}: {exc}", code=EnumCoreErrorCode.VALIDATION_ERROR, details=context
        ) from exc
    except (WorkflowValidationError, WorkflowConfigurationError) as exc:
        raise OnexError(
            f"workflow {name!r} is not valid: {exc}", code=EnumCoreErrorCode.CONFIGURATION_ERROR, details=context
        ) from exc
    except Exception as exc:
        raise OnexError(
            f"workflow {name!r} failed: {type(exc).__name__}: {exc}",
            code=EnumCoreErrorCode.OPERATION_FAILED,
            details={**context, "exception": type(exc).__name__},
        ) from exc


async def wait_for_stop(handler: WorkflowHandler) -> StopEvent:
    """The run's stop event; when the wait is cancelled, the run is cancelled gracefully first."""
    result = asyncio.ensure_future(handler.stop_event_result())
    try:
        return await asyncio.shield(result)
    except asyncio.CancelledError:
        await handler.cancel_run()
        result.cancel()
        await asyncio.gather(result, return_exceptions=True)
        raise


async def run_workflow(
    workflow: Workflow,
    start_event: StartEvent,
    stop_type: type[StopT],
    *,
    name: str,
    timeout_seconds: float,
) -> StopT:
    """Run `workflow` from `start_event` to its stop event, a `stop_type`, within `timeout_seconds`.

    Raises:
        OnexError: TIMEOUT, VALIDATION_ERROR, CONFIGURATION_ERROR or
            OPERATION_FAILED (see the module); what a step raises as an `OnexError`.
    """
    with workflow_errors(name, timeout_seconds):
        handler = workflow.run(start_event=start_event)
        async with asyncio.timeout(timeout_seconds):
            stop_event = await wait_for_stop(handler)
    if not isinstance(stop_event, stop_type):
        raise OnexError(
            f"workflow {name!r} stopped with {type(stop_event).__name__}, not {stop_type.__name__}",
            code=EnumCoreErrorCode.OPERATION_FAILED,
            details={"workflow_name": name},
        )
    return stop_event
