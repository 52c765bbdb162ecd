"""What an existing library already holds, read when a feature or node is added to it.

Only `copier copy` reads the destination: during `copier update` each
sub-template replays its own answers file, and Copier renders the old and new
versions in empty folders. So these facts are preconditions checked once, when
a feature or node is first added, and never inputs to what is rendered.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

LIBRARY_ANSWERS = ".copier-answers.yml"
SUB_TEMPLATE_ANSWERS = ".copier"


@dataclass(frozen=True)
class ProjectState:
    """The sub-templates a project was generated from, by their answers files."""

    root: Path
    package_name: str = ""
    library_nodes: tuple[str, ...] = ()
    features: tuple[str, ...] = ()
    custom_nodes: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_library(self) -> bool:
        """Whether the folder holds an ONEX library (it has the library's answers)."""
        return bool(self.package_name)

    def has_node(self, name: str, archetype: str) -> bool:
        """Whether the library holds the catalog node `name` or the custom node `name` of `archetype`."""
        return name in self.library_nodes or self.custom_nodes.get(name) == archetype


def _answers(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def project_state(root: str | Path) -> ProjectState:
    """Read what the project at `root` was generated with; empty when it is no library."""
    root = Path(root)
    library = _answers(root / LIBRARY_ANSWERS)
    package_name = library.get("package_name")
    if not isinstance(package_name, str):
        return ProjectState(root)
    nodes = library.get("nodes")
    answers_dir = root / SUB_TEMPLATE_ANSWERS
    features = sorted(
        str(answers["feature_name"])
        for path in answers_dir.glob("feature-*.yml")
        if "feature_name" in (answers := _answers(path))
    )
    custom_nodes = {
        str(answers["node_name"]): str(answers["archetype"])
        for path in sorted(answers_dir.glob("node-*.yml"))
        if {"node_name", "archetype"} <= (answers := _answers(path)).keys()
    }
    return ProjectState(
        root=root,
        package_name=package_name,
        library_nodes=tuple(str(node) for node in nodes) if isinstance(nodes, list) else (),
        features=tuple(features),
        custom_nodes=custom_nodes,
    )
