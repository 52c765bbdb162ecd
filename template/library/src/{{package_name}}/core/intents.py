"""Intents: side effects that reducers describe and effect nodes carry out."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, JsonValue


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
