"""The metrics reducer: aggregates item counts and sizes per namespace.

The running totals come in with a batch of items (namespace, size in bytes);
the new totals go out with one `database.upsert` intent for `onex_metrics` per
namespace the batch touched. Aggregates (count, total, min, max) merge
associatively, so folding batch A then batch B gives the aggregates of folding
A + B: batches may be streamed in any split.

Each namespace's row carries a version: 1 when first written, incremented by
every fold that touches it. The intents are conditional writes
(`version_column`): the database node replaces a stored row only if its version
is one lower, so of two runs that read and fold the same version, the second
gets CONFLICT instead of a lost update. A batch touching several namespaces
gives one intent each, in name order; carry them out inside one
`database.transaction()` for the batch to be written whole or not at all.

The read side rebuilds the state, versions included, from the table: run
`metrics_state_query(namespaces)` on the database effect and pass the rows to
`metrics_state_from_rows`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, JsonValue, NonNegativeInt, ValidationError

from ...core.errors import EnumCoreErrorCode, OnexError
from ...core.intents import ModelIntent, ModelStateQuery, unreadable_rows
from ...core.metrics import monitor_performance
from ...core.nodes import ModelReducerOutput, NodeReducer

METRICS_TABLE = "onex_metrics"


class ModelMetricsItem(BaseModel):
    """One observed item."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    namespace: str = Field(min_length=1, description="What the item is counted under.")
    size_bytes: int = Field(ge=0, description="The item's size.")


class ModelNamespaceMetrics(BaseModel):
    """The aggregate of every item of one namespace."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    count: int = Field(default=0, ge=0, description="Items seen.")
    total_bytes: int = Field(default=0, ge=0, description="Sum of their sizes.")
    min_bytes: int | None = Field(default=None, ge=0, description="Smallest size; None before the first item.")
    max_bytes: int | None = Field(default=None, ge=0, description="Largest size; None before the first item.")

    @property
    def mean_bytes(self) -> float | None:
        """Mean size; None before the first item."""
        return self.total_bytes / self.count if self.count else None

    def merge(self, other: ModelNamespaceMetrics) -> ModelNamespaceMetrics:
        """The aggregate of both: associative and commutative, with the empty aggregate as identity."""
        sizes_min = [m for m in (self.min_bytes, other.min_bytes) if m is not None]
        sizes_max = [m for m in (self.max_bytes, other.max_bytes) if m is not None]
        return ModelNamespaceMetrics(
            count=self.count + other.count,
            total_bytes=self.total_bytes + other.total_bytes,
            min_bytes=min(sizes_min, default=None),
            max_bytes=max(sizes_max, default=None),
        )

    @classmethod
    def of(cls, item: ModelMetricsItem) -> ModelNamespaceMetrics:
        """The aggregate of one item."""
        return cls(count=1, total_bytes=item.size_bytes, min_bytes=item.size_bytes, max_bytes=item.size_bytes)


class ModelMetricsState(BaseModel):
    """Aggregates of every namespace seen so far."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    namespaces: dict[str, ModelNamespaceMetrics] = Field(default_factory=dict, description="Aggregate per namespace.")
    versions: dict[str, NonNegativeInt] = Field(
        default_factory=dict,
        description="The stored row's version per namespace; a namespace without one was never written (0).",
    )

    def version(self, namespace: str) -> int:
        """The stored version of `namespace`'s row: 0 before its first write."""
        return self.versions.get(namespace, 0)


class ModelMetricsInput(BaseModel):
    """A batch of items to fold into the running aggregates."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    state: ModelMetricsState = Field(default_factory=ModelMetricsState, description="The aggregates before the batch.")
    items: tuple[ModelMetricsItem, ...] = Field(description="The batch, in any order.")
    now: AwareDatetime = Field(description="When the batch is folded; recorded as `updated_at`.")


class ModelMetricsOutput(ModelReducerOutput):
    """The aggregates after the batch, and which namespaces it touched."""

    state: ModelMetricsState = Field(description="The aggregates after the batch.")
    touched: tuple[str, ...] = Field(description="Namespaces the batch changed, sorted.")


class NodeMetricsReducer(NodeReducer[ModelMetricsInput, ModelMetricsOutput]):
    """Aggregates counts and sizes per namespace over streamed batches."""

    node_name = "metrics"

    @monitor_performance("metrics.process")
    async def process(self, input_data: ModelMetricsInput) -> ModelMetricsOutput:
        """Fold the batch into the aggregates."""
        batch: dict[str, ModelNamespaceMetrics] = {}
        for item in input_data.items:
            batch[item.namespace] = batch.get(item.namespace, ModelNamespaceMetrics()).merge(
                ModelNamespaceMetrics.of(item)
            )
        state = input_data.state
        merged = {
            name: state.namespaces.get(name, ModelNamespaceMetrics()).merge(batch[name]) for name in sorted(batch)
        }
        versions = {name: state.version(name) + 1 for name in merged}
        updated_at = input_data.now.isoformat()
        return ModelMetricsOutput(
            state=ModelMetricsState(namespaces={**state.namespaces, **merged}, versions={**state.versions, **versions}),
            touched=tuple(merged),
            intents=tuple(
                _upsert_intent(name, metrics, versions[name], updated_at) for name, metrics in merged.items()
            ),
        )


def metrics_state_query(namespaces: Sequence[str]) -> ModelStateQuery:
    """The read of the stored aggregates of `namespaces`, one row each at most, in name order.

    Before folding a batch, read the namespaces it touches:
    `metrics_state_query([item.namespace for item in items])`; no namespaces read no rows.

    Raises:
        OnexError: VALIDATION_ERROR for one string instead of a sequence of namespaces.
    """
    if isinstance(namespaces, str):
        raise OnexError(
            "pass a sequence of namespaces, not one string",
            code=EnumCoreErrorCode.VALIDATION_ERROR,
            details={"namespaces": namespaces},
        )
    names = tuple(sorted(set(namespaces)))
    where = f"namespace IN ({', '.join('?' for _ in names)})" if names else "1 = 0"
    return ModelStateQuery(
        sql=f"SELECT namespace, item_count, total_bytes, min_bytes, max_bytes, version FROM {METRICS_TABLE} "  # noqa: S608 - only placeholders are interpolated
        f"WHERE {where} ORDER BY namespace",
        parameters=names,
    )


def metrics_state_from_rows(rows: Sequence[Mapping[str, object]]) -> ModelMetricsState:
    """The aggregates and versions that rows of `onex_metrics` hold: the inverse of the reducer's upsert intents.

    Namespaces without a row are simply absent: the reducer starts them from zero, at version 0.

    Raises:
        OnexError: VALIDATION_ERROR when a row lacks a column or holds a value
            an aggregate cannot (a negative count, say).
    """
    try:
        namespaces = {
            row["namespace"]: {
                "count": row["item_count"],
                "total_bytes": row["total_bytes"],
                "min_bytes": row["min_bytes"],
                "max_bytes": row["max_bytes"],
            }
            for row in rows
        }
        versions = {row["namespace"]: row["version"] for row in rows}
        return ModelMetricsState.model_validate({"namespaces": namespaces, "versions": versions})
    except (KeyError, ValidationError) as exc:  # a missing column, a value an aggregate refuses
        raise unreadable_rows(METRICS_TABLE, "aggregates", exc) from exc


def _upsert_intent(namespace: str, metrics: ModelNamespaceMetrics, version: int, updated_at: str) -> ModelIntent:
    row: dict[str, JsonValue] = {
        "namespace": namespace,
        "item_count": metrics.count,
        "total_bytes": metrics.total_bytes,
        "min_bytes": metrics.min_bytes,
        "max_bytes": metrics.max_bytes,
        "version": version,
        "updated_at": updated_at,
    }
    return ModelIntent(
        intent_type="database.upsert",
        target=METRICS_TABLE,
        # A conditional write: of two runs that fold the same version, the second gets CONFLICT.
        payload={"row": row, "key": ["namespace"], "version_column": "version"},
    )
