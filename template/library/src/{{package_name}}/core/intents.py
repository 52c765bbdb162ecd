"""Intents: side effects that reducers describe and effect nodes carry out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError

from .errors import EnumCoreErrorCode, OnexError, invalid_input

#: A value a database intent's row holds, or a query parameter carries (structured values travel as JSON text).
SqlScalar = str | int | float | bool | None


class ModelIntent(BaseModel):
    """A deferred side effect, e.g. `database.upsert` into `onex_sessions`.

    `intent_type` names the operation and decides which effect node runs it;
    `target` is what it acts on (a table, a topic, a path).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    intent_type: str = Field(pattern=r"^[a-z_]+\.[a-z_]+$", description="`<node>.<operation>`.")
    target: str = Field(min_length=1, description="What the intent acts on.")
    payload: dict[str, JsonValue] = Field(default_factory=dict, description="Operation arguments.")


class ModelIntentResult(BaseModel):
    """What carrying out one intent produced."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    intent: ModelIntent
    executed_by: str = Field(description="The node that carried the intent out.")
    result: JsonValue = Field(default=None, description="The operation's result, if any.")


class ModelStateQuery(BaseModel):
    """A read of the rows a reducer's intents write.

    Reducers do no I/O, so a workflow that folds new input into stored state
    reads that state first: it runs the query on the database effect,
    `rows = await database.fetch_all(query.sql, query.parameters)`, and hands
    the rows to the reducer's matching `..._from_rows` function.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    sql: str = Field(min_length=1, description="One SELECT with `?` placeholders and no literal values.")
    parameters: tuple[SqlScalar, ...] = Field(default=(), description="The values of the placeholders, in order.")


def unreadable_rows(table: str, holds: str, error: KeyError | ValueError) -> OnexError:
    """VALIDATION_ERROR for rows of `table` that do not hold `holds` (a missing column, a refused value).

    The message names the column or the field, never a value: rows may hold secrets.
    """
    if isinstance(error, ValidationError):
        return invalid_input(f"rows of {table}", error, table=table)
    return OnexError(
        f"rows of {table} do not hold {holds}: {error!r}",
        code=EnumCoreErrorCode.VALIDATION_ERROR,
        details={"table": table},
    )


def single_row(rows: Sequence[Mapping[str, object]], table: str, of: str) -> Mapping[str, object] | None:
    """The one row a read by key found, or None; VALIDATION_ERROR when it found several (`of`: "one session")."""
    if len(rows) > 1:
        raise OnexError(
            f"{len(rows)} rows of {table} for {of}",
            code=EnumCoreErrorCode.VALIDATION_ERROR,
            details={"table": table, "rows": len(rows)},
        )
    return rows[0] if rows else None
