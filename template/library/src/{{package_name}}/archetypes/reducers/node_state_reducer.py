"""The state reducer: moves entities through a declarative finite-state machine.

The input names an entity, its current state and version (none for a new
entity), the requested state, and the transition table. The reducer validates
the move with the core FSM, bumps the version, and returns the transition record
with a `database.upsert` intent for `onex_entity_states`. Passing
`expected_version` gives optimistic concurrency: a stale version is a CONFLICT.
The intent is a conditional write (`version_column`): the database node
replaces the stored row only if its version is one lower, so of two runs that
read and fold the same version, the second gets CONFLICT instead of a lost update.

The read side loads the entity: run `entity_state_query(entity_type, entity_id)`
on the database effect and pass the rows to `entity_state_from_rows`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import cast

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, JsonValue, ValidationError

from ...core.errors import EnumCoreErrorCode, OnexError
from ...core.fsm import FsmManager
from ...core.intents import ModelIntent, ModelStateQuery, single_row, unreadable_rows
from ...core.metrics import monitor_performance
from ...core.nodes import ModelReducerOutput, NodeReducer

ENTITY_STATES_TABLE = "onex_entity_states"


class ModelEntityState(BaseModel):
    """Where one entity is: its state and how many times it changed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    state: str = Field(min_length=1, description="The entity's current state.")
    version: int = Field(ge=1, description="1 when created, incremented by every transition.")


class ModelStateInput(BaseModel):
    """A requested state change of one entity, with the machine that governs it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    entity_type: str = Field(min_length=1, description="Kind of entity, e.g. `order`.")
    entity_id: str = Field(min_length=1, description="Id of the entity within its type.")
    current: ModelEntityState | None = Field(default=None, description="The entity now; None for a new entity.")
    target_state: str = Field(min_length=1, description="The state to enter; a new entity must enter `initial_state`.")
    transitions: dict[str, frozenset[str]] = Field(
        description="Each state mapped to the states it may enter; states only ever entered are final."
    )
    initial_state: str = Field(min_length=1, description="The state every new entity starts in.")
    expected_version: int | None = Field(
        default=None, ge=0, description="Refuse with CONFLICT unless the current version is this (0: must be new)."
    )
    now: AwareDatetime = Field(description="The time of the change; the reducer never reads a clock.")
    reason: str = Field(default="", description="Why the entity changes state, kept in the transition record.")


class ModelStateTransition(BaseModel):
    """The record of one state change."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    entity_type: str = Field(description="Kind of entity.")
    entity_id: str = Field(description="Id of the entity within its type.")
    from_state: str | None = Field(description="The state left; None when the entity was created.")
    to_state: str = Field(description="The state entered.")
    from_version: int = Field(ge=0, description="The version before the change; 0 when created.")
    to_version: int = Field(ge=1, description="The version after the change.")
    reason: str = Field(description="Why the entity changed state.")
    at: AwareDatetime = Field(description="When the change happened.")


class ModelStateOutput(ModelReducerOutput):
    """The entity after the change, the record of the change, and its intent."""

    entity: ModelEntityState = Field(description="The entity after the change.")
    transition: ModelStateTransition = Field(description="What changed.")


class NodeStateReducer(NodeReducer[ModelStateInput, ModelStateOutput]):
    """Tracks entity states through a finite-state machine, with optimistic concurrency."""

    node_name = "state"

    @monitor_performance("state.process")
    async def process(self, input_data: ModelStateInput) -> ModelStateOutput:
        """Move the entity to `target_state`.

        Raises:
            OnexError: CONFLICT when `expected_version` is stale;
                VALIDATION_ERROR when the table does not know the initial or
                current state; INVALID_TRANSITION when the table does not allow
                the move (or a new entity asks for another state than the
                initial one).
        """
        current = input_data.current
        from_version = current.version if current else 0
        if input_data.expected_version is not None and input_data.expected_version != from_version:
            raise OnexError(
                f"{input_data.entity_type} {input_data.entity_id!r} is at version {from_version}, "
                f"not {input_data.expected_version}",
                code=EnumCoreErrorCode.CONFLICT,
                details={"expected_version": input_data.expected_version, "actual_version": from_version},
            )
        states = _states(input_data.transitions)
        for role, state in (("initial", input_data.initial_state), ("current", current.state if current else None)):
            if state is not None and state not in states:
                raise OnexError(
                    f"the {role} state {state!r} is not in the transition table",
                    code=EnumCoreErrorCode.VALIDATION_ERROR,
                    details={"state": state, "states": list[JsonValue](states)},
                )
        if current is None:
            _check_creation(input_data.initial_state, input_data.target_state)
        else:
            _check_transition(input_data.transitions, current.state, input_data.target_state, input_data.reason)

        entity = ModelEntityState(state=input_data.target_state, version=from_version + 1)
        transition = ModelStateTransition(
            entity_type=input_data.entity_type,
            entity_id=input_data.entity_id,
            from_state=current.state if current else None,
            to_state=entity.state,
            from_version=from_version,
            to_version=entity.version,
            reason=input_data.reason,
            at=input_data.now,
        )
        return ModelStateOutput(entity=entity, transition=transition, intents=(_upsert_intent(transition),))


def entity_state_query(entity_type: str, entity_id: str) -> ModelStateQuery:
    """The read of the stored state of one entity: one row, or none for an entity never created."""
    return ModelStateQuery(
        sql="SELECT state, version FROM onex_entity_states WHERE entity_type = ? AND entity_id = ?",
        parameters=(entity_type, entity_id),
    )


def entity_state_from_rows(rows: Sequence[Mapping[str, object]]) -> ModelEntityState | None:
    """The entity that the rows of `entity_state_query` hold, or None (a new entity) without a row.

    The inverse of the reducer's upsert intent; pass it as `current` of the next change.

    Raises:
        OnexError: VALIDATION_ERROR for more than one row, or a row that does
            not hold an entity state (a missing column, a version below 1, ...).
    """
    row = single_row(rows, ENTITY_STATES_TABLE, "one entity")
    if row is None:
        return None
    try:
        return ModelEntityState.model_validate({"state": row["state"], "version": row["version"]})
    except (KeyError, ValidationError) as exc:  # a missing column, a value the model refuses
        raise unreadable_rows(ENTITY_STATES_TABLE, "an entity state", exc) from exc


def _states(table: Mapping[str, frozenset[str]]) -> list[str]:
    """Every state of the table, sorted: its keys and every state they lead to."""
    return sorted(set(table).union(*table.values()))


def _check_creation(initial: str, target: str) -> None:
    if target != initial:
        raise OnexError(
            f"a new entity starts in {initial!r}, not {target!r}",
            code=EnumCoreErrorCode.INVALID_TRANSITION,
            details={"from": None, "to": target, "allowed": [initial]},
        )


def _check_transition(table: Mapping[str, frozenset[str]], current: str, target: str, reason: str) -> None:
    """Validate `current -> target` with the core FSM, over an enum generated from the table."""
    states = _states(table)
    if target not in states:
        raise OnexError(
            f"invalid transition {current} -> {target}: {target!r} is not a state of the table",
            code=EnumCoreErrorCode.INVALID_TRANSITION,
            details={"from": current, "to": target, "allowed": list[JsonValue](sorted(table.get(current, ())))},
        )
    # The functional Enum API returns a new class; typeshed types the call as an instance.
    enum = cast("type[StrEnum]", StrEnum("EnumEntityState", [(f"S{i}", s) for i, s in enumerate(states)]))
    fsm = FsmManager({enum(s): frozenset(enum(t) for t in table.get(s, ())) for s in states}, enum(current))
    fsm.transition(enum(target), reason)


def _upsert_intent(transition: ModelStateTransition) -> ModelIntent:
    row: dict[str, JsonValue] = {
        "entity_type": transition.entity_type,
        "entity_id": transition.entity_id,
        "state": transition.to_state,
        "version": transition.to_version,
        "updated_at": transition.at.isoformat(),
    }
    return ModelIntent(
        intent_type="database.upsert",
        target=ENTITY_STATES_TABLE,
        # A conditional write: of two runs that fold the same version, the second gets CONFLICT.
        payload={"row": row, "key": ["entity_type", "entity_id"], "version_column": "version"},
    )
