"""Discovery of nodes: the library finds its nodes by scanning `archetypes/`.

No file lists the nodes: a module `node_<name>_<archetype>.py` anywhere under
the `archetypes` package that defines a concrete node class is part of the
catalog, whether it came with the library or was added later.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from dataclasses import dataclass
from functools import cache
from typing import Any

from .. import archetypes
from .errors import EnumCoreErrorCode, OnexError
from .nodes import AnyNode, EnumNodeArchetype, NodeBase, NodeEffect

AnyEffect = NodeEffect[Any, Any]


@dataclass(frozen=True)
class NodeDescriptor:
    """One discovered node."""

    name: str
    archetype: EnumNodeArchetype
    node_class: type[AnyNode]
    summary: str

    @property
    def qualified_name(self) -> str:
        """`database_effect`: unique across archetypes."""
        return f"{self.name}_{self.archetype}"


def _summary(cls: type) -> str:
    doc = inspect.getdoc(cls) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


@cache
def discover_nodes() -> tuple[NodeDescriptor, ...]:
    """Every node class under `archetypes/`, sorted by archetype and name."""
    found: list[NodeDescriptor] = []
    for module_info in pkgutil.walk_packages(archetypes.__path__, f"{archetypes.__name__}."):
        if not module_info.name.rsplit(".", 1)[-1].startswith("node_"):
            continue
        module = importlib.import_module(module_info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, NodeBase) and cls.__module__ == module.__name__ and not inspect.isabstract(cls):
                found.append(NodeDescriptor(cls.node_name, cls.archetype, cls, _summary(cls)))
    order = list(EnumNodeArchetype)
    return tuple(sorted(found, key=lambda d: (order.index(d.archetype), d.name)))


def find_node(name: str) -> NodeDescriptor:
    """The node called `name` (`database`) or `qualified_name` (`database_effect`)."""
    for descriptor in discover_nodes():
        if name in (descriptor.name, descriptor.qualified_name):
            return descriptor
    known = ", ".join(d.name for d in discover_nodes())
    raise OnexError(
        f"no node named {name!r}; known nodes: {known}",
        code=EnumCoreErrorCode.NOT_FOUND,
        details={"node": name},
    )


def intent_routes() -> dict[str, type[AnyEffect]]:
    """Which effect node carries out each intent type."""
    routes: dict[str, type[AnyEffect]] = {}
    for descriptor in discover_nodes():
        cls = descriptor.node_class
        if not issubclass(cls, NodeEffect):
            continue
        for intent_type in cls.handled_intents:
            if intent_type in routes:
                raise OnexError(
                    f"intent {intent_type!r} is claimed by {routes[intent_type].__name__} and {cls.__name__}",
                    code=EnumCoreErrorCode.CONFIGURATION_ERROR,
                )
            routes[intent_type] = cls
    return routes
