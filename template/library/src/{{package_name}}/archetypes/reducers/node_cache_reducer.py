"""The cache reducer: a bounded key-value cache with time-to-live and LRU eviction.

The cache state (entries in least- to most-recently-used order) comes in with
an action (`get`, `put`, `delete`, `purge_expired`) and the time `now`; the new
state goes out with write-through intents for `onex_cache_entries`:
`database.upsert` for a put, `database.delete` for every entry that is deleted,
expired or evicted. Expired entries are dropped lazily or by `purge_expired`.

The read side loads a namespace: run `cache_state_query(namespace)` on the
database effect and pass the rows to `cache_state_from_rows`. Access order is
not stored, so loaded entries come in expiry order (see `cache_state_from_rows`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, JsonValue

from ...core.errors import EnumCoreErrorCode, OnexError
from ...core.intents import ModelIntent, ModelStateQuery, unreadable_rows
from ...core.metrics import monitor_performance
from ...core.nodes import ModelReducerOutput, NodeReducer

CACHE_TABLE = "onex_cache_entries"
#: Where entries that never expire sort when a cache is loaded: after every entry that does.
_NEVER = datetime.max.replace(tzinfo=UTC)


class EnumCacheAction(StrEnum):
    """What to do to the cache."""

    GET = "get"
    PUT = "put"
    DELETE = "delete"
    PURGE_EXPIRED = "purge_expired"


class ModelCacheEntry(BaseModel):
    """One cached value."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str = Field(min_length=1, description="The cache key.")
    value: JsonValue = Field(description="The cached value.")
    expires_at: AwareDatetime | None = Field(default=None, description="When the entry expires; None: never.")

    def is_expired(self, now: AwareDatetime) -> bool:
        """Whether the entry is past its time-to-live at `now`."""
        return self.expires_at is not None and now >= self.expires_at


class ModelCacheState(BaseModel):
    """A cache namespace: its entries, least recently used first."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    namespace: str = Field(min_length=1, description="The cache's namespace (one cache per namespace).")
    entries: tuple[ModelCacheEntry, ...] = Field(
        default=(), description="Entries in access order: least recently used first, most recently used last."
    )

    def find(self, key: str) -> ModelCacheEntry | None:
        """The entry of `key`, expired or not."""
        return next((entry for entry in self.entries if entry.key == key), None)


class ModelCacheInput(BaseModel):
    """An action on the cache, with the current cache and the time."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    action: EnumCacheAction = Field(description="What to do.")
    state: ModelCacheState = Field(description="The cache before the action.")
    now: AwareDatetime = Field(description="The time of the action; the reducer never reads a clock.")
    key: str | None = Field(default=None, min_length=1, description="The key; required by get, put and delete.")
    value: JsonValue = Field(default=None, description="`put` only: the value to cache.")
    ttl_seconds: float | None = Field(
        default=None, gt=0, description="`put` only: time-to-live; default `settings.cache_ttl_seconds`."
    )
    max_entries: int | None = Field(
        default=None, ge=1, description="Capacity before LRU eviction; default `settings.cache_max_entries`."
    )


class ModelCacheOutput(ModelReducerOutput):
    """The cache after the action, what the action found, and what it removed."""

    state: ModelCacheState = Field(description="The cache after the action.")
    hit: bool = Field(default=False, description="get: a live entry was found; delete: the key was cached.")
    value: JsonValue = Field(default=None, description="get: the cached value on a hit.")
    evicted: tuple[str, ...] = Field(default=(), description="Keys evicted, least recently used first, to make room.")
    expired: tuple[str, ...] = Field(default=(), description="Keys dropped because their time-to-live had passed.")


class NodeCacheReducer(NodeReducer[ModelCacheInput, ModelCacheOutput]):
    """A bounded cache with time-to-live and LRU eviction; returns write-through intents."""

    node_name = "cache"

    @monitor_performance("cache.process")
    async def process(self, input_data: ModelCacheInput) -> ModelCacheOutput:
        """Apply the action to the cache at `input_data.now`.

        Raises:
            OnexError: VALIDATION_ERROR when get, put or delete has no key.
        """
        if input_data.action is EnumCacheAction.PURGE_EXPIRED:
            return self._purge_expired(input_data)
        if input_data.key is None:
            raise OnexError(
                f"`{input_data.action}` needs a key",
                code=EnumCoreErrorCode.VALIDATION_ERROR,
                details={"action": input_data.action.value},
            )
        if input_data.action is EnumCacheAction.GET:
            return self._get(input_data, input_data.key)
        if input_data.action is EnumCacheAction.PUT:
            return self._put(input_data, input_data.key)
        return self._delete(input_data, input_data.key)

    def _get(self, input_data: ModelCacheInput, key: str) -> ModelCacheOutput:
        state, now = input_data.state, input_data.now
        entry = state.find(key)
        if entry is None:
            return ModelCacheOutput(state=state)
        others = tuple(e for e in state.entries if e.key != key)
        if entry.is_expired(now):
            return ModelCacheOutput(
                state=state.model_copy(update={"entries": others}),
                expired=(key,),
                intents=(_delete_intent(state.namespace, key),),
            )
        # A hit only reorders the entries: access order is not persisted, so there is no intent.
        return ModelCacheOutput(
            state=state.model_copy(update={"entries": (*others, entry)}), hit=True, value=entry.value
        )

    def _put(self, input_data: ModelCacheInput, key: str) -> ModelCacheOutput:
        state, now = input_data.state, input_data.now
        ttl = input_data.ttl_seconds or self.settings.cache_ttl_seconds
        entry = ModelCacheEntry(
            key=key, value=input_data.value, expires_at=now + timedelta(seconds=ttl) if ttl is not None else None
        )
        entries = [e for e in state.entries if e.key != key]
        capacity = (input_data.max_entries or self.settings.cache_max_entries) - 1
        expired: list[str] = []
        if len(entries) > capacity:
            # Room is made first from entries that are dead anyway, then from the least recently used.
            expired = [e.key for e in entries if e.is_expired(now)]
            entries = [e for e in entries if not e.is_expired(now)]
        overflow = max(0, len(entries) - capacity)
        evicted = [e.key for e in entries[:overflow]]
        entries = [*entries[overflow:], entry]
        removed = [_delete_intent(state.namespace, k) for k in (*expired, *evicted)]
        return ModelCacheOutput(
            state=state.model_copy(update={"entries": tuple(entries)}),
            evicted=tuple(evicted),
            expired=tuple(expired),
            intents=(*removed, _upsert_intent(state.namespace, entry)),
        )

    def _delete(self, input_data: ModelCacheInput, key: str) -> ModelCacheOutput:
        state = input_data.state
        if state.find(key) is None:
            return ModelCacheOutput(state=state)
        return ModelCacheOutput(
            state=state.model_copy(update={"entries": tuple(e for e in state.entries if e.key != key)}),
            hit=True,
            intents=(_delete_intent(state.namespace, key),),
        )

    def _purge_expired(self, input_data: ModelCacheInput) -> ModelCacheOutput:
        state, now = input_data.state, input_data.now
        expired = tuple(e.key for e in state.entries if e.is_expired(now))
        return ModelCacheOutput(
            state=state.model_copy(update={"entries": tuple(e for e in state.entries if not e.is_expired(now))}),
            expired=expired,
            intents=tuple(_delete_intent(state.namespace, key) for key in expired),
        )


def cache_state_query(namespace: str) -> ModelStateQuery:
    """The read of every stored entry of the cache `namespace`, expired ones included."""
    return ModelStateQuery(
        sql="SELECT cache_key, value, expires_at FROM onex_cache_entries WHERE namespace = ?",
        parameters=(namespace,),
    )


def cache_state_from_rows(namespace: str, rows: Sequence[Mapping[str, object]]) -> ModelCacheState:
    """The cache `namespace` that the rows of `cache_state_query` hold; empty without rows.

    The inverse of the reducer's intents up to order: access order is not
    stored, so entries come least recently used first as far as the table can
    tell, by expiry time (with one time-to-live, the order they were put),
    entries that never expire last, ties by key.

    Raises:
        OnexError: VALIDATION_ERROR for an empty namespace, or a row that does
            not hold an entry (a missing column, a value that is not JSON, ...).
    """
    try:
        entries = [
            ModelCacheEntry.model_validate(
                {"key": row["cache_key"], "value": json.loads(str(row["value"])), "expires_at": row["expires_at"]}
            )
            for row in rows
        ]
        entries.sort(key=lambda entry: (entry.expires_at or _NEVER, entry.key))
        return ModelCacheState(namespace=namespace, entries=tuple(entries))
    except (KeyError, ValueError) as exc:  # a missing column, a value that is not JSON, a value the model refuses
        raise unreadable_rows(CACHE_TABLE, "a cache", exc) from exc


def _upsert_intent(namespace: str, entry: ModelCacheEntry) -> ModelIntent:
    row: dict[str, JsonValue] = {
        "namespace": namespace,
        "cache_key": entry.key,
        "value": json.dumps(entry.value, sort_keys=True, separators=(",", ":")),
        "expires_at": entry.expires_at.isoformat() if entry.expires_at else None,
    }
    return ModelIntent(
        intent_type="database.upsert", target=CACHE_TABLE, payload={"row": row, "key": ["namespace", "cache_key"]}
    )


def _delete_intent(namespace: str, key: str) -> ModelIntent:
    return ModelIntent(
        intent_type="database.delete", target=CACHE_TABLE, payload={"where": {"namespace": namespace, "cache_key": key}}
    )
