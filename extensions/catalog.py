"""The catalog of archetypal nodes, declared once.

The library template renders one module per selected node, the `nodes` question
offers these as choices, and (later) feature specs name them in their steps.
Every other place that needs the catalog reads it from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from . import steps
from .naming import pascal_case

Archetype = Literal["effect", "compute", "reducer", "orchestrator"]

ARCHETYPES: tuple[Archetype, ...] = ("effect", "compute", "reducer", "orchestrator")

#: The package (under `<pkg>.archetypes`) that holds the nodes of each archetype.
ARCHETYPE_PACKAGES: dict[Archetype, str] = {
    "effect": "effects",
    "compute": "compute",
    "reducer": "reducers",
    "orchestrator": "orchestrators",
}


@dataclass(frozen=True)
class CatalogNode:
    """One reusable archetypal node of the library."""

    name: str
    archetype: Archetype
    summary: str
    #: What a feature's step may ask of the node (`extensions.steps`); the first is the default.
    operations: tuple[type[steps.Operation], ...] = ()

    def step_operations(self) -> dict[str, type[steps.Operation]]:
        """Operation name -> config class of a step on this node, `custom` included."""
        return steps.offered(self.operations)

    @property
    def class_name(self) -> str:
        """`NodeDatabaseEffect`."""
        return f"Node{pascal_case(self.name)}{pascal_case(self.archetype)}"

    @property
    def module_name(self) -> str:
        """`node_database_effect`."""
        return f"node_{self.name}_{self.archetype}"

    @property
    def package(self) -> str:
        """`effects`: the folder under `archetypes/` that holds the module."""
        return ARCHETYPE_PACKAGES[self.archetype]

    @property
    def choice_label(self) -> str:
        """How the `nodes` question shows this node."""
        return f"{self.name} ({self.archetype}): {self.summary}"


CATALOG: tuple[CatalogNode, ...] = (
    CatalogNode(
        "database",
        "effect",
        "async SQL with parameterised queries and transactions",
        (steps.DatabaseInsert, steps.DatabaseUpsert, steps.DatabaseGet, steps.DatabaseDelete),
    ),
    CatalogNode("api", "effect", "HTTP calls confined to one base URL, with timeouts and retries", (steps.ApiRequest,)),
    CatalogNode("event_bus", "effect", "publishes event envelopes on the bus", (steps.EventBusPublish,)),
    CatalogNode(
        "file", "effect", "reads, writes and lists files inside one root folder", (steps.FileRead, steps.FileWrite)
    ),
    CatalogNode("logger", "effect", "structured logs with secrets redacted", (steps.LoggerLog,)),
    CatalogNode("validation", "compute", "checks a payload against a contract and rules", (steps.ValidationValidate,)),
    CatalogNode(
        "hashing",
        "compute",
        "BLAKE3/SHA-256 for content; scrypt/argon2 for passwords",
        (steps.HashingHashPassword, steps.HashingVerifyPassword, steps.HashingDigest),
    ),
    CatalogNode("parser", "compute", "parses JSON, YAML and CSV text into validated models"),
    CatalogNode("transformation", "compute", "declarative mapping, renaming and projection"),
    CatalogNode("llm", "compute", "text generation through Ollama, with a response cache", (steps.LlmGenerate,)),
    CatalogNode("session", "reducer", "opens, refreshes, closes and expires sessions", (steps.SessionOpen,)),
    CatalogNode("state", "reducer", "tracks entity states through a finite-state machine", (steps.StateTransition,)),
    CatalogNode("cache", "reducer", "a bounded cache with time-to-live and eviction"),
    CatalogNode("metrics", "reducer", "aggregates counts and sizes per namespace", (steps.MetricsRecord,)),
    CatalogNode("workflow", "orchestrator", "runs LlamaIndex workflows with FSM, events and retries"),
)

CATALOG_BY_NAME: dict[str, CatalogNode] = {node.name: node for node in CATALOG}


def node_names() -> list[str]:
    """Every catalog node's name, in catalog order."""
    return [node.name for node in CATALOG]


def node_choices() -> dict[str, str]:
    """The `nodes` question's choices: label -> name."""
    return {node.choice_label: node.name for node in CATALOG}


def excluded_node_files(selected: list[str]) -> list[str]:
    """Exclusion patterns for the modules and tests of nodes that were not selected."""
    patterns: list[str] = []
    for node in CATALOG:
        if node.name not in selected:
            patterns += [f"{node.module_name}.py", f"test_{node.module_name}.py"]
    if "workflow" not in selected:
        # Features run on the workflow orchestrator: without it, the library has no features package.
        patterns += ["src/*/features/", "test_feature_runtime.py", "test_serve.py"]
    return patterns
