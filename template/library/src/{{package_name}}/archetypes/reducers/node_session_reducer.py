"""The session reducer: opens, refreshes, closes and expires sessions, doing no I/O.

The current session comes in with the action and the time `now`; the new
session goes out with a `database.upsert` intent for `onex_sessions`. A session
lives `ttl_seconds` (default `settings.session_ttl_seconds`) since its last
refresh. Status changes go through an FSM: ACTIVE -> ACTIVE (refresh), CLOSED or
EXPIRED; a lapsed session can only be expired, and CLOSED and EXPIRED are final.

A session carries a version: 1 when opened, incremented by every action. The
intent is a conditional write (`version_column`): the database node replaces
the stored row only if its version is one lower, so of two runs that act on
the same version (a refresh and a close, say), the second gets CONFLICT instead
of overwriting the first (a refresh cannot reopen a session closed meanwhile).

The read side loads the current session: run `session_query(session_id)` on
the database effect and pass the rows to `session_from_rows`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import timedelta
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, JsonValue

from ...core.errors import EnumCoreErrorCode, OnexError
from ...core.fsm import FsmManager, ModelFsmTransition
from ...core.intents import ModelIntent, ModelStateQuery, single_row, unreadable_rows
from ...core.metrics import monitor_performance
from ...core.nodes import ModelReducerOutput, NodeReducer

SESSIONS_TABLE = "onex_sessions"


class EnumSessionAction(StrEnum):
    """What to do to a session."""

    OPEN = "open"
    REFRESH = "refresh"
    CLOSE = "close"
    EXPIRE = "expire"


class EnumSessionStatus(StrEnum):
    """Where a session is in its life."""

    ACTIVE = "ACTIVE"
    CLOSED = "CLOSED"
    EXPIRED = "EXPIRED"


SESSION_TRANSITIONS: Mapping[EnumSessionStatus, frozenset[EnumSessionStatus]] = {
    EnumSessionStatus.ACTIVE: frozenset(
        {EnumSessionStatus.ACTIVE, EnumSessionStatus.CLOSED, EnumSessionStatus.EXPIRED}
    ),
    EnumSessionStatus.CLOSED: frozenset(),
    EnumSessionStatus.EXPIRED: frozenset(),
}

_TARGET_STATUS: Mapping[EnumSessionAction, EnumSessionStatus] = {
    EnumSessionAction.REFRESH: EnumSessionStatus.ACTIVE,
    EnumSessionAction.CLOSE: EnumSessionStatus.CLOSED,
    EnumSessionAction.EXPIRE: EnumSessionStatus.EXPIRED,
}


class ModelSession(BaseModel):
    """One session: the state this reducer folds actions into."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    session_id: str = Field(min_length=1, description="Opaque id of the session (a bearer secret).")
    subject: str = Field(min_length=1, description="Who the session belongs to, e.g. a user id.")
    status: EnumSessionStatus = Field(description="Where the session is in its life.")
    data: dict[str, JsonValue] = Field(default_factory=dict, description="Application data kept with the session.")
    created_at: AwareDatetime = Field(description="When the session was opened.")
    refreshed_at: AwareDatetime = Field(description="When the session was last opened or refreshed.")
    expires_at: AwareDatetime = Field(description="When the session lapses unless refreshed.")
    version: int = Field(
        default=0,
        ge=0,
        description="1 when opened, incremented by every action; 0 for a row stored before versions were kept.",
    )

    def is_lapsed(self, now: AwareDatetime) -> bool:
        """Whether the session is past its expiry time at `now`."""
        return now >= self.expires_at


class ModelSessionInput(BaseModel):
    """An action on a session, with the current session and the time."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    action: EnumSessionAction = Field(description="What to do.")
    now: AwareDatetime = Field(description="The time of the action; the reducer never reads a clock.")
    session: ModelSession | None = Field(
        default=None, description="The current session; required except for `open`, which must not have one."
    )
    session_id: str | None = Field(default=None, min_length=1, description="`open` only: the new session's id.")
    subject: str | None = Field(default=None, min_length=1, description="`open` only: who the session belongs to.")
    data: dict[str, JsonValue] | None = Field(
        default=None, description="`open`: the initial data; `refresh`: keys merged into the session's data."
    )
    ttl_seconds: float | None = Field(
        default=None, gt=0, description="Lifetime from now on `open`/`refresh`; default `settings.session_ttl_seconds`."
    )


class ModelSessionOutput(ModelReducerOutput):
    """The session after the action, and the intents that persist it."""

    session: ModelSession = Field(description="The session after the action.")
    transition: ModelFsmTransition | None = Field(
        default=None, description="The status transition; None for `open`, which creates the session."
    )


class NodeSessionReducer(NodeReducer[ModelSessionInput, ModelSessionOutput]):
    """Opens, refreshes, closes and expires sessions; returns intents, does no I/O."""

    node_name = "session"

    @monitor_performance("session.process")
    async def process(self, input_data: ModelSessionInput) -> ModelSessionOutput:
        """Apply the action to the session at `input_data.now`.

        Raises:
            OnexError: VALIDATION_ERROR when an argument the action needs is
                missing; CONFLICT when opening over an existing session;
                INVALID_TRANSITION when the action is not allowed in the
                session's status or at this time.
        """
        transition: ModelFsmTransition | None = None
        if input_data.action is EnumSessionAction.OPEN:
            session = self._open(input_data)
        elif input_data.session is None:
            raise OnexError(
                f"`{input_data.action}` needs the current session",
                code=EnumCoreErrorCode.VALIDATION_ERROR,
                details={"action": input_data.action.value},
            )
        else:
            session, transition = self._change(input_data, input_data.session)
        return ModelSessionOutput(session=session, transition=transition, intents=(_upsert_intent(session),))

    def _ttl(self, input_data: ModelSessionInput) -> timedelta:
        return timedelta(seconds=input_data.ttl_seconds or self.settings.session_ttl_seconds)

    def _open(self, input_data: ModelSessionInput) -> ModelSession:
        if input_data.session is not None:
            raise OnexError(
                "cannot open a session over an existing one",
                code=EnumCoreErrorCode.CONFLICT,
                details={"status": input_data.session.status.value},
            )
        if input_data.session_id is None or input_data.subject is None:
            raise OnexError(
                "`open` needs `session_id` and `subject`",
                code=EnumCoreErrorCode.VALIDATION_ERROR,
                details={"action": input_data.action.value},
            )
        now = input_data.now
        return ModelSession(
            session_id=input_data.session_id,
            subject=input_data.subject,
            status=EnumSessionStatus.ACTIVE,
            data=dict(input_data.data or {}),
            created_at=now,
            refreshed_at=now,
            expires_at=now + self._ttl(input_data),
            version=1,
        )

    def _change(self, input_data: ModelSessionInput, session: ModelSession) -> tuple[ModelSession, ModelFsmTransition]:
        action, now = input_data.action, input_data.now
        target = _TARGET_STATUS[action]
        lapsed = session.status is EnumSessionStatus.ACTIVE and session.is_lapsed(now)
        if action is EnumSessionAction.EXPIRE and session.status is EnumSessionStatus.ACTIVE and not lapsed:
            raise _refused(session, target, f"the session does not expire before {session.expires_at.isoformat()}")
        if action is not EnumSessionAction.EXPIRE and lapsed:
            raise _refused(session, target, f"the session lapsed at {session.expires_at.isoformat()}; expire it")
        fsm = FsmManager(SESSION_TRANSITIONS, session.status)
        transition = fsm.transition(target, reason=action.value, at=now)
        update: dict[str, object] = {"status": fsm.state, "version": session.version + 1}
        if action is EnumSessionAction.REFRESH:
            update |= {
                "refreshed_at": now,
                "expires_at": now + self._ttl(input_data),
                "data": {**session.data, **(input_data.data or {})},
            }
        return session.model_copy(update=update), transition


def session_query(session_id: str) -> ModelStateQuery:
    """The read of the stored session `session_id`: one row, or none when there is no such session."""
    return ModelStateQuery(
        sql="SELECT session_id, subject, status, data, created_at, refreshed_at, expires_at, version "
        "FROM onex_sessions WHERE session_id = ?",
        parameters=(session_id,),
    )


def session_from_rows(rows: Sequence[Mapping[str, object]]) -> ModelSession | None:
    """The session that the rows of `session_query` hold, or None without a row.

    The inverse of the reducer's upsert intent: `data` is read back from its JSON text.

    Raises:
        OnexError: VALIDATION_ERROR for more than one row, or a row that does
            not hold a session (a missing column, an unknown status, ...).
    """
    row = single_row(rows, SESSIONS_TABLE, "one session")
    if row is None:
        return None
    try:
        columns = {name: row[name] for name in ModelSession.model_fields}
        return ModelSession.model_validate(columns | {"data": json.loads(str(row["data"]))})
    except (KeyError, ValueError) as exc:  # a missing column, data that is not JSON, a value the model refuses
        raise unreadable_rows(SESSIONS_TABLE, "a session", exc) from exc


def _refused(session: ModelSession, target: EnumSessionStatus, why: str) -> OnexError:
    return OnexError(
        f"invalid transition {session.status} -> {target}: {why}",
        code=EnumCoreErrorCode.INVALID_TRANSITION,
        details={"from": session.status.value, "to": target.value, "expires_at": session.expires_at.isoformat()},
    )


def _upsert_intent(session: ModelSession) -> ModelIntent:
    row: dict[str, JsonValue] = {
        "session_id": session.session_id,
        "subject": session.subject,
        "status": session.status.value,
        "data": json.dumps(session.data, sort_keys=True, separators=(",", ":")),
        "created_at": session.created_at.isoformat(),
        "refreshed_at": session.refreshed_at.isoformat(),
        "expires_at": session.expires_at.isoformat(),
        "version": session.version,
    }
    return ModelIntent(
        intent_type="database.upsert",
        target=SESSIONS_TABLE,
        # A conditional write: of two runs that act on the same version, the second gets CONFLICT.
        payload={"row": row, "key": ["session_id"], "version_column": "version"},
    )
