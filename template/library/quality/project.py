"""What the gates read: the project's files, syntax trees, nodes, features and answers.

One `Project` serves every gate of a run. Gates run in threads, so whatever it
parses or scans is computed once, under a lock, and cached.
"""

from __future__ import annotations

import ast
import sys
import threading
import tomllib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml

from . import template_sync
from .model import SPEC_FILE, GateSpec, load_specs, load_yaml

__all__ = ["ARCHETYPE_PACKAGES", "Archetype", "FeatureInfo", "NodeInfo", "Project"]

Archetype = Literal["effect", "compute", "reducer", "orchestrator"]

#: The folder under `archetypes/` that holds each archetype's nodes.
ARCHETYPE_PACKAGES: dict[str, Archetype] = {
    "effects": "effect",
    "compute": "compute",
    "reducers": "reducer",
    "orchestrators": "orchestrator",
}


@dataclass(frozen=True)
class NodeInfo:
    """One node module under `archetypes/`, catalog or custom.

    Attributes:
        path: The module, `src/<pkg>/archetypes/<folder>/node_<name>_<archetype>.py`.
        class_name: The node class it defines (the `Node*` class with a `node_name`), "" when none.
        archetype: The archetype of the folder the module is in.
        name: The node's name: the module name without `node_` and `_<archetype>`.
        custom: Added by the node sub-template (it has `.copier/node-<name>-<archetype>.yml`).
        logic_path: A custom node's `<name>_<archetype>_logic.py`, when it exists.
        test_path: `tests/archetypes/test_node_<name>_<archetype>.py`, when it exists.
    """

    path: Path
    class_name: str
    archetype: Archetype
    name: str
    custom: bool
    logic_path: Path | None
    test_path: Path | None


@dataclass(frozen=True)
class FeatureInfo:
    """One feature package, `src/<pkg>/features/<name>/`.

    Attributes:
        name: The feature's name (its package name).
        path: The feature's folder.
        answers_file: `.copier/feature-<name>.yml`, when it exists.
        spec: The answers file's data (the feature's spec); {} when it is missing or not a YAML mapping.
    """

    name: str
    path: Path
    answers_file: Path | None
    spec: Mapping[str, Any]


class Project:
    """The library the gates check, rooted where its `pyproject.toml` is.

    Attributes:
        root: The library's root folder.
        name: The distribution name (`[project] name`).
        package: The import name of the package under `src/`.
        src: The package's folder, `src/<package>`.
    """

    def __init__(self, root: Path, specs: list[GateSpec] | None = None) -> None:
        """Read the project at `root`.

        Args:
            root: The library's root folder.
            specs: The gate specifications (`options` come from them); by default `quality/gates.yaml`.
        """
        self.root = root.resolve()
        self._specs = {spec.id: spec for spec in (specs if specs is not None else load_specs(SPEC_FILE))}
        self._lock = threading.RLock()
        self._modules: dict[Path, ast.Module] = {}
        self._path_users = 0
        metadata: dict[str, Any] = tomllib.loads((self.root / "pyproject.toml").read_text(encoding="utf-8")).get(
            "project", {}
        )
        self.name = str(metadata.get("name", self.root.name))
        self.package = self._package_name(metadata)
        self.src = self.root / "src" / self.package

    def _package_name(self, metadata: dict[str, Any]) -> str:
        """The import name: from the console script's target, else the one package under `src/`."""
        for target in metadata.get("scripts", {}).values():
            return str(target).split(":", 1)[0].split(".", 1)[0]
        packages = sorted(path.parent.name for path in (self.root / "src").glob("*/__init__.py"))
        if len(packages) != 1:
            raise ValueError(f"cannot tell the package of {self.root}: src/ holds {packages or 'no package'}")
        return packages[0]

    def options(self, gate_id: str) -> dict[str, object]:
        """The `options` of gate `gate_id` in `gates.yaml` ({} for an unknown gate)."""
        spec = self._specs.get(gate_id)
        return dict(spec.options) if spec else {}

    def python_files(self, *, tests: bool = False) -> list[Path]:
        """The package's Python files (and those of `tests/` when `tests`), sorted."""
        files = list(self.src.rglob("*.py"))
        if tests and (self.root / "tests").is_dir():
            files.extend((self.root / "tests").rglob("*.py"))
        return sorted(path for path in files if "__pycache__" not in path.parts)

    def module(self, path: Path) -> ast.Module:
        """The syntax tree of `path`, parsed once.

        Raises:
            SyntaxError: The file is not valid Python.
        """
        path = path.resolve()
        with self._lock:
            tree = self._modules.get(path)
            if tree is None:
                tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
                self._modules[path] = tree
            return tree

    def parse_all(self) -> None:
        """Parse every Python file of `src/`, `tests/` and `quality/` now, before the gates run in threads.

        CPython's parser keeps some state per interpreter, not per thread: two threads
        in `ast.parse` at once can fail with "AST constructor recursion depth mismatch".
        Parsing up front also leaves each gate's time to its own checks. A file that
        does not parse is left to the gates that read it, which report it.
        """
        for folder in (self.src, self.root / "tests", self.root / "quality"):
            for path in sorted(folder.rglob("*.py")):
                if "__pycache__" not in path.parts:
                    with suppress(OSError, SyntaxError, UnicodeDecodeError, ValueError):
                        self.module(path)

    def relative(self, path: Path) -> str:
        """`path` relative to the root, as a POSIX path (unchanged when outside the project)."""
        try:
            return path.resolve().relative_to(self.root).as_posix()
        except ValueError:
            return path.as_posix()

    @contextmanager
    def import_path(self) -> Iterator[None]:
        """Put `src/` and the root on `sys.path` while in the block, for gates that import the package.

        Safe for threads: the entries stay until the last user leaves.
        """
        entries = [str(self.root / "src"), str(self.root)]
        with self._lock:
            if self._path_users == 0:
                for entry in reversed(entries):
                    sys.path.insert(0, entry)
            self._path_users += 1
        try:
            yield
        finally:
            with self._lock:
                self._path_users -= 1
                if self._path_users == 0:
                    for entry in entries:
                        if entry in sys.path:
                            sys.path.remove(entry)

    @cached_property
    def answers_files(self) -> list[Path]:
        """The answers files in update order (`quality.template_sync.answers_files`): the library's first."""
        with self._lock:
            return template_sync.answers_files(self.root)

    @cached_property
    def nodes(self) -> list[NodeInfo]:
        """Every node module under `archetypes/`, sorted by path."""
        with self._lock:
            found: list[NodeInfo] = []
            for folder, archetype in ARCHETYPE_PACKAGES.items():
                for path in sorted((self.src / "archetypes" / folder).glob("node_*.py")):
                    name = path.stem.removeprefix("node_").removesuffix(f"_{archetype}")
                    stem = f"{name}_{archetype}"
                    logic = path.with_name(f"{stem}_logic.py")
                    test = self.root / "tests" / "archetypes" / f"test_node_{stem}.py"
                    found.append(
                        NodeInfo(
                            path=path,
                            class_name=self._node_class(path),
                            archetype=archetype,
                            name=name,
                            custom=(self.root / ".copier" / f"node-{name}-{archetype}.yml").is_file(),
                            logic_path=logic if logic.is_file() else None,
                            test_path=test if test.is_file() else None,
                        )
                    )
            return sorted(found, key=lambda node: node.path)

    def _node_class(self, path: Path) -> str:
        """The `Node*` class of a node module that sets `node_name` ("" when there is none or it does not parse)."""
        try:
            tree = self.module(path)
        except SyntaxError:
            return ""
        for statement in tree.body:
            if (
                isinstance(statement, ast.ClassDef)
                and statement.name.startswith("Node")
                and any("node_name" in _assigned_names(item) for item in statement.body)
            ):
                return statement.name
        return ""

    @cached_property
    def features(self) -> list[FeatureInfo]:
        """Every feature package under `features/`, sorted by name."""
        with self._lock:
            found: list[FeatureInfo] = []
            for init in sorted((self.src / "features").glob("*/__init__.py")):
                name = init.parent.name
                answers = self.root / ".copier" / f"feature-{name}.yml"
                found.append(
                    FeatureInfo(
                        name=name,
                        path=init.parent,
                        answers_file=answers if answers.is_file() else None,
                        spec=_read_mapping(answers),
                    )
                )
            return found


def _assigned_names(statement: ast.stmt) -> set[str]:
    """The plain names an assignment statement binds (none for other statements)."""
    if isinstance(statement, ast.Assign):
        targets = statement.targets
    elif isinstance(statement, ast.AnnAssign):
        targets = [statement.target]
    else:
        return set()
    return {target.id for target in targets if isinstance(target, ast.Name)}


def _read_mapping(path: Path) -> Mapping[str, Any]:
    """The YAML mapping in `path`; {} when the file is missing, unreadable or not a mapping."""
    try:
        data = load_yaml(path)
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}
