"""The workflow orchestrator: runs registered LlamaIndex workflows with an FSM, events and retries.

`register(name, factory)` adds a workflow; `process` runs it with the input payload as its start event.
Each run has an FSM (PENDING -> PROCESSING -> COMPLETED/FAILED, RETRYING between attempts) and publishes
lifecycle events `onex.evt.<pkg>.workflow-*.v1` sharing the run's correlation id, each caused by the one
before. Failed attempts are retried with exponential backoff, every attempt has a timeout, and a run that
still fails ends FAILED in the output rather than raising. Shutdown cancels the runs in flight.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol, TypeVar
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field, JsonValue, TypeAdapter, ValidationError
from pydantic_core import PydanticSerializationError, to_jsonable_python
from workflows import Workflow
from workflows.events import StopEvent

from ...core.envelope import OnexEnvelopeV1, derive_envelope
from ...core.errors import EnumCoreErrorCode, ModelErrorDetail, OnexError
from ...core.fsm import EnumWorkflowState, FsmManager, ModelFsmTransition, workflow_fsm
from ...core.metrics import monitor_performance
from ...core.nodes import NodeOrchestrator
from ...core.retry import TRANSIENT_CODES, RetryPolicy
from ...core.workflow import wait_for_stop, workflow_errors

if TYPE_CHECKING:
    from ...core.container import OnexContainer

PayloadT = TypeVar("PayloadT", bound=BaseModel)

#: The library's top-level package, the `<pkg>` of lifecycle topics.
PACKAGE = __name__.split(".", 1)[0]

#: Failures worth another attempt: transient ones, and failures of the workflow's own code.
RETRYABLE_CODES = TRANSIENT_CODES | {EnumCoreErrorCode.CIRCUIT_OPEN, EnumCoreErrorCode.OPERATION_FAILED}

_JSON: TypeAdapter[JsonValue] = TypeAdapter(JsonValue)


class WorkflowFactory(Protocol):
    """Gives the workflow of one attempt: a new one (a `Workflow` subclass is such a factory), or one it keeps.

    Either way the attempt runs in a context of its own, so with a fresh state.
    """

    def __call__(self, *, timeout: float | None) -> Workflow:
        """The workflow to run, giving up after `timeout` seconds."""
        ...


class EnumWorkflowEvent(StrEnum):
    """The lifecycle events of a run."""

    STARTED = "started"
    STATE_TRANSITION = "state-transition"
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def topic(self) -> str:
        """`onex.evt.<pkg>.workflow-<event>.v1`."""
        return f"onex.evt.{PACKAGE}.workflow-{self.value}.v1"

    @property
    def event_type(self) -> str:
        """`workflow.<event>`, the envelope's `event_type`."""
        return f"workflow.{self.value.replace('-', '_')}"


class ModelWorkflowInput(BaseModel):
    """A request to run a registered workflow."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    workflow_name: str = Field(min_length=1, description="The name the workflow was registered under.")
    payload: dict[str, JsonValue] = Field(default_factory=dict, description="Fields of the workflow's start event.")
    correlation_id: UUID = Field(default_factory=uuid4, description="Shared by every lifecycle event of the run.")
    causation_id: UUID | None = Field(default=None, description="Envelope id of the request that caused the run.")
    workflow_id: UUID = Field(default_factory=uuid4, description="Id of this run.")


class ModelWorkflowOutput(BaseModel):
    """How a run ended."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    workflow_id: UUID = Field(description="Id of the run.")
    workflow_name: str = Field(description="The workflow that ran.")
    correlation_id: UUID = Field(description="The run's correlation id.")
    state: EnumWorkflowState = Field(description="COMPLETED or FAILED.")
    result: JsonValue = Field(default=None, description="The stop event's result, as JSON; None when FAILED.")
    attempts: int = Field(ge=0, description="Attempts made.")
    error: ModelErrorDetail | None = Field(default=None, description="Why the run failed; None when COMPLETED.")
    transitions: tuple[ModelFsmTransition, ...] = Field(description="The run's FSM history, oldest first.")


class ModelWorkflowEvent(BaseModel):
    """What every lifecycle event payload names: the run and its workflow."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    workflow_id: UUID = Field(description="Id of the run.")
    workflow_name: str = Field(description="The workflow of the run.")


class ModelWorkflowStarted(ModelWorkflowEvent):
    """Payload of `workflow-started`: a run was accepted."""

    max_attempts: int = Field(ge=1, description="Attempts the run may make.")


class ModelWorkflowStateTransition(ModelWorkflowEvent):
    """Payload of `workflow-state-transition`: the run's FSM moved."""

    from_state: EnumWorkflowState = Field(description="The state left.")
    to_state: EnumWorkflowState = Field(description="The state entered.")
    attempt: int = Field(ge=0, description="The current attempt, from 1.")
    reason: str = Field(description="Why the run moved.")


class ModelWorkflowCompleted(ModelWorkflowEvent):
    """Payload of `workflow-completed`: the run succeeded."""

    attempts: int = Field(ge=1, description="Attempts made.")
    result: JsonValue = Field(description="The stop event's result, as JSON.")


class ModelWorkflowFailed(ModelWorkflowEvent):
    """Payload of `workflow-failed`: the run gave up."""

    attempts: int = Field(ge=0, description="Attempts made.")
    error: ModelErrorDetail = Field(description="The last attempt's failure.")


@dataclass(frozen=True)
class _Registration:
    factory: WorkflowFactory
    timeout_seconds: float
    max_attempts: int


@dataclass
class _Run:
    request: ModelWorkflowInput
    registration: _Registration
    fsm: FsmManager[EnumWorkflowState] = field(default_factory=workflow_fsm)
    attempts: int = 0
    last_event: OnexEnvelopeV1[BaseModel] | None = None


class NodeWorkflowOrchestrator(NodeOrchestrator[ModelWorkflowInput, ModelWorkflowOutput]):
    """Runs LlamaIndex workflows with an FSM, lifecycle events and retries."""

    node_name = "workflow"

    def __init__(self, container: OnexContainer) -> None:
        """Start with no workflows and no runs."""
        super().__init__(container)
        self._workflows: dict[str, _Registration] = {}
        self._runs: dict[UUID, _Run] = {}
        self._tasks: set[asyncio.Task[ModelWorkflowOutput]] = set()
        self._stopping = False

    def register(
        self,
        name: str,
        factory: WorkflowFactory,
        *,
        timeout_seconds: float | None = None,
        max_attempts: int | None = None,
    ) -> None:
        """Make `factory`'s workflow runnable as `name`.

        Args:
            name: The `workflow_name` that runs it.
            factory: Gives the workflow of each attempt, e.g. the `Workflow` subclass itself.
            timeout_seconds: Timeout of one attempt; default `settings.workflow_timeout_seconds`.
            max_attempts: Attempts of a failing run; default `settings.workflow_max_attempts`.

        Raises:
            OnexError: CONFLICT when `name` is taken; CONFIGURATION_ERROR for a
                non-positive timeout or attempt count.
        """
        if name in self._workflows:
            raise OnexError(
                f"a workflow named {name!r} is already registered",
                code=EnumCoreErrorCode.CONFLICT,
                details={"workflow_name": name},
            )
        registration = _Registration(
            factory=factory,
            timeout_seconds=self.settings.workflow_timeout_seconds if timeout_seconds is None else timeout_seconds,
            max_attempts=self.settings.workflow_max_attempts if max_attempts is None else max_attempts,
        )
        if registration.timeout_seconds <= 0 or registration.max_attempts < 1:
            raise OnexError(
                f"workflow {name!r} needs a positive timeout and at least one attempt",
                code=EnumCoreErrorCode.CONFIGURATION_ERROR,
                details={"timeout_seconds": registration.timeout_seconds, "max_attempts": registration.max_attempts},
            )
        self._workflows[name] = registration

    @property
    def workflow_names(self) -> tuple[str, ...]:
        """The registered workflows, sorted."""
        return tuple(sorted(self._workflows))

    @property
    def active_runs(self) -> dict[UUID, EnumWorkflowState]:
        """The state of every run in flight, by workflow id."""
        return {workflow_id: run.fsm.state for workflow_id, run in self._runs.items()}

    @monitor_performance("workflow.process")
    async def process(self, input_data: ModelWorkflowInput) -> ModelWorkflowOutput:
        """Run the workflow to its end, retrying failed attempts; failures end in a FAILED output.

        Raises:
            OnexError: NOT_FOUND for an unregistered workflow; CONFLICT when a
                run with this `workflow_id` is in flight; LIFECYCLE_ERROR
                unless the node is running.
        """
        self.require_running()
        if self._stopping:
            raise OnexError("the orchestrator is shutting down", code=EnumCoreErrorCode.LIFECYCLE_ERROR)
        registration = self._workflows.get(input_data.workflow_name)
        if registration is None:
            raise OnexError(
                f"no workflow named {input_data.workflow_name!r}; registered: {', '.join(self.workflow_names)}",
                code=EnumCoreErrorCode.NOT_FOUND,
                details={"workflow_name": input_data.workflow_name},
            )
        if input_data.workflow_id in self._runs:
            raise OnexError(
                f"workflow run {input_data.workflow_id} is already in flight",
                code=EnumCoreErrorCode.CONFLICT,
                details={"workflow_id": str(input_data.workflow_id)},
            )
        run = _Run(request=input_data, registration=registration)
        self._runs[input_data.workflow_id] = run
        task = asyncio.create_task(
            self._execute(run), name=f"workflow:{input_data.workflow_name}:{input_data.workflow_id}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return await task

    async def on_shutdown(self) -> None:
        """Cancel the runs in flight (each ends FAILED) and wait for them."""
        self._stopping = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _execute(self, run: _Run) -> ModelWorkflowOutput:
        policy = RetryPolicy(
            max_attempts=run.registration.max_attempts,
            initial_delay=self.settings.workflow_retry_initial_delay_seconds,
            max_delay=self.settings.workflow_retry_max_delay_seconds,
        )
        request = run.request
        try:
            await self._publish(
                run,
                EnumWorkflowEvent.STARTED,
                ModelWorkflowStarted(
                    workflow_id=request.workflow_id,
                    workflow_name=request.workflow_name,
                    max_attempts=policy.max_attempts,
                ),
            )
            while True:
                run.attempts += 1
                await self._move(run, EnumWorkflowState.PROCESSING, f"attempt {run.attempts}")
                try:
                    result = await self._attempt(run)
                except OnexError as error:
                    if error.code not in RETRYABLE_CODES or run.attempts >= policy.max_attempts:
                        return await self._fail(run, error)
                    await self._move(run, EnumWorkflowState.RETRYING, f"attempt {run.attempts} failed: {error}")
                    await asyncio.sleep(policy.delay(run.attempts))
                else:
                    return await self._complete(run, result)
        except asyncio.CancelledError:
            if not self._stopping or run.fsm.is_terminal:
                raise
            return await self._fail(
                run,
                OnexError(
                    "the orchestrator shut down during the run",
                    code=EnumCoreErrorCode.LIFECYCLE_ERROR,
                    details={"workflow_name": request.workflow_name},
                ),
            )
        finally:
            self._runs.pop(request.workflow_id, None)

    async def _attempt(self, run: _Run) -> JsonValue:
        """One run of the workflow, in a fresh context; every failure comes out as an `OnexError`."""
        name, timeout = run.request.workflow_name, run.registration.timeout_seconds
        details: dict[str, JsonValue] = {"workflow_name": name, "attempt": run.attempts}
        with workflow_errors(name, timeout, details):
            workflow = run.registration.factory(timeout=timeout)
            handler = workflow.run(start_event=workflow.start_event_class(**run.request.payload))
            async with asyncio.timeout(timeout):
                stop_event = await wait_for_stop(handler)
        value = stop_event.result if type(stop_event) is StopEvent else stop_event
        try:
            return _JSON.validate_python(to_jsonable_python(value))
        except (PydanticSerializationError, ValidationError) as exc:
            raise OnexError(
                f"workflow {name!r} returned a result that is not JSON: {exc}",
                code=EnumCoreErrorCode.VALIDATION_ERROR,
                details=details,
            ) from exc

    async def _move(self, run: _Run, to_state: EnumWorkflowState, reason: str) -> None:
        record = run.fsm.transition(to_state, reason)
        await self._publish(
            run,
            EnumWorkflowEvent.STATE_TRANSITION,
            ModelWorkflowStateTransition(
                workflow_id=run.request.workflow_id,
                workflow_name=run.request.workflow_name,
                from_state=EnumWorkflowState(record.from_state),
                to_state=to_state,
                attempt=run.attempts,
                reason=reason,
            ),
        )

    async def _complete(self, run: _Run, result: JsonValue) -> ModelWorkflowOutput:
        await self._move(run, EnumWorkflowState.COMPLETED, f"attempt {run.attempts} succeeded")
        request = run.request
        await self._publish(
            run,
            EnumWorkflowEvent.COMPLETED,
            ModelWorkflowCompleted(
                workflow_id=request.workflow_id,
                workflow_name=request.workflow_name,
                attempts=run.attempts,
                result=result,
            ),
        )
        return _output(run, result=result)

    async def _fail(self, run: _Run, error: OnexError) -> ModelWorkflowOutput:
        await self._move(run, EnumWorkflowState.FAILED, str(error))
        request, detail = run.request, error.to_model()
        await self._publish(
            run,
            EnumWorkflowEvent.FAILED,
            ModelWorkflowFailed(
                workflow_id=request.workflow_id,
                workflow_name=request.workflow_name,
                attempts=run.attempts,
                error=detail,
            ),
        )
        return _output(run, error=detail)

    async def _publish(self, run: _Run, event: EnumWorkflowEvent, payload: BaseModel) -> None:
        """Publish the next lifecycle event, caused by the run's previous one."""
        if run.last_event is None:
            envelope = _root_envelope(run.request, event.event_type, self.node_name, payload)
        else:
            envelope = derive_envelope(
                run.last_event, event_type=event.event_type, source_node=self.node_name, payload=payload
            )
        await self.container.event_bus.publish(event.topic, envelope)
        run.last_event = envelope


def _root_envelope(
    request: ModelWorkflowInput, event_type: str, source_node: str, payload: PayloadT
) -> OnexEnvelopeV1[PayloadT]:
    """The run's first event, caused by the request (if any)."""
    return OnexEnvelopeV1(
        correlation_id=request.correlation_id,
        causation_id=request.causation_id,
        event_type=event_type,
        source_node=source_node,
        payload=payload,
        metadata={"workflow_name": request.workflow_name, "workflow_id": str(request.workflow_id)},
    )


def _output(run: _Run, *, result: JsonValue = None, error: ModelErrorDetail | None = None) -> ModelWorkflowOutput:
    return ModelWorkflowOutput(
        workflow_id=run.request.workflow_id,
        workflow_name=run.request.workflow_name,
        correlation_id=run.request.correlation_id,
        state=run.fsm.state,
        result=result,
        attempts=run.attempts,
        error=error,
        transitions=run.fsm.history,
    )
