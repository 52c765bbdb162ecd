"""A finite-state machine with validated transitions and a history."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from .errors import EnumCoreErrorCode, OnexError

StateT = TypeVar("StateT", bound=StrEnum)


class ModelFsmTransition(BaseModel):
    """One recorded transition."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    from_state: str
    to_state: str
    reason: str = ""
    at: datetime = Field(default_factory=lambda: datetime.now(UTC))


class FsmManager(Generic[StateT]):
    """Tracks one entity's state; refuses transitions the table does not allow."""

    def __init__(self, transitions: Mapping[StateT, frozenset[StateT]], initial: StateT) -> None:
        """Start in `initial`; `transitions` maps each state to the states it may enter."""
        if initial not in transitions:
            raise OnexError(
                f"initial state {initial!r} is not in the transition table",
                code=EnumCoreErrorCode.CONFIGURATION_ERROR,
            )
        self._transitions = transitions
        self._state = initial
        self._history: list[ModelFsmTransition] = []

    @property
    def state(self) -> StateT:
        """The current state."""
        return self._state

    @property
    def history(self) -> tuple[ModelFsmTransition, ...]:
        """Every transition so far, oldest first."""
        return tuple(self._history)

    @property
    def is_terminal(self) -> bool:
        """True when no transition leaves the current state."""
        return not self._transitions[self._state]

    def can_transition(self, to_state: StateT) -> bool:
        """Whether `to_state` may follow the current state."""
        return to_state in self._transitions[self._state]

    def transition(self, to_state: StateT, reason: str = "", *, at: datetime | None = None) -> ModelFsmTransition:
        """Enter `to_state`, or raise `OnexError(INVALID_TRANSITION)`.

        `at` stamps the record (default: now); reducers pass their input's time to stay pure.
        """
        if not self.can_transition(to_state):
            allowed = sorted(str(s) for s in self._transitions[self._state])
            raise OnexError(
                f"invalid transition {self._state} -> {to_state}",
                code=EnumCoreErrorCode.INVALID_TRANSITION,
                details={"from": str(self._state), "to": str(to_state), "allowed": list(allowed)},
            )
        record = ModelFsmTransition(
            from_state=self._state, to_state=to_state, reason=reason, at=at or datetime.now(UTC)
        )
        self._history.append(record)
        self._state = to_state
        return record


class EnumWorkflowState(StrEnum):
    """The lifecycle of one workflow run."""

    PENDING = "PENDING"
    PROCESSING = "PROCESSING"
    RETRYING = "RETRYING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


WORKFLOW_TRANSITIONS: Mapping[EnumWorkflowState, frozenset[EnumWorkflowState]] = {
    EnumWorkflowState.PENDING: frozenset({EnumWorkflowState.PROCESSING, EnumWorkflowState.FAILED}),
    EnumWorkflowState.PROCESSING: frozenset(
        {EnumWorkflowState.COMPLETED, EnumWorkflowState.FAILED, EnumWorkflowState.RETRYING}
    ),
    EnumWorkflowState.RETRYING: frozenset({EnumWorkflowState.PROCESSING, EnumWorkflowState.FAILED}),
    EnumWorkflowState.COMPLETED: frozenset(),
    EnumWorkflowState.FAILED: frozenset(),
}


def workflow_fsm() -> FsmManager[EnumWorkflowState]:
    """A fresh FSM for one workflow run: PENDING -> PROCESSING -> COMPLETED/FAILED."""
    return FsmManager(WORKFLOW_TRANSITIONS, EnumWorkflowState.PENDING)
