"""Custom nodes: one archetypal node a team adds to its library (`copier copy -d kind=node`).

The node sub-template renders the skeleton of its archetype from the suite's
`archetypes/` folder. `check_node_answers` runs from a hidden question before
anything is written; `custom_node` is what the skeletons render, named the way
catalog nodes are (`CatalogNode` holds that naming, once).

A custom node is three files: the node module (generated; `copier update`
rewrites it), and its logic module and test, which are the user's: created once,
never rewritten (`user_files`, the suite's `_skip_if_exists`).
"""

from __future__ import annotations

from dataclasses import dataclass

from .answers import AnswersError
from .catalog import ARCHETYPES, CATALOG_BY_NAME, CatalogNode
from .naming import identifier_error, package_name_error, pascal_case
from .project import ProjectState

#: Longer names make class names that no longer fit the generated code's lines.
MAX_NODE_NAME_LENGTH = 32
#: The description is the class docstring's summary line (`<pkg> nodes` shows it).
MAX_DESCRIPTION_LENGTH = 100

_ARCHETYPE_SUFFIXES = tuple(f"_{archetype}" for archetype in ARCHETYPES)


@dataclass(frozen=True)
class CustomNode(CatalogNode):
    """A node added with the node sub-template: catalog naming, plus the files the user owns."""

    @property
    def qualified_name(self) -> str:
        """`s3_effect`: how feature steps and `find_node` name it."""
        return f"{self.name}_{self.archetype}"

    @property
    def stem(self) -> str:
        """`S3`: the prefix of its models (`ModelS3Input`)."""
        return pascal_case(self.name)

    @property
    def logic_module(self) -> str:
        """`s3_effect_logic`: the user's module, next to the node module."""
        return f"{self.qualified_name}_logic"

    @property
    def logic_class(self) -> str:
        """`S3EffectLogic`: the user's class that the node class extends."""
        return f"{self.stem}{pascal_case(self.archetype)}Logic"

    @property
    def docstring(self) -> str:
        """The class docstring's summary: the description as one sentence, or a plain default."""
        text = " ".join(self.summary.split()) or f"The {self.name.replace('_', ' ')} {self.archetype}"
        text = text[0].upper() + text[1:]
        return text if text.endswith((".", "!", "?")) else f"{text}."

    def module_path(self, package_name: str) -> str:
        """`src/<pkg>/archetypes/effects/node_s3_effect.py`."""
        return f"src/{package_name}/archetypes/{self.package}/{self.module_name}.py"

    def logic_path(self, package_name: str) -> str:
        """`src/<pkg>/archetypes/effects/s3_effect_logic.py`."""
        return f"src/{package_name}/archetypes/{self.package}/{self.logic_module}.py"

    @property
    def test_path(self) -> str:
        """`tests/archetypes/test_node_s3_effect.py`."""
        return f"tests/archetypes/test_{self.module_name}.py"

    def user_files(self, package_name: str) -> tuple[str, str]:
        """The files the user writes: created once, never rewritten by `copier update`."""
        return self.logic_path(package_name), self.test_path


def custom_node(name: str, archetype: str, description: str = "") -> CustomNode:
    """The custom node called `name` of `archetype` (answers already checked)."""
    if archetype not in ARCHETYPES:
        raise AnswersError(_archetype_error(archetype))
    return CustomNode(name, archetype, description)


def _archetype_error(archetype: str) -> str:
    return f"archetype {archetype!r} is not one of {', '.join(ARCHETYPES)}"


def node_name_error(name: str) -> str:
    """Why `name` cannot name a custom node, or "" when it can (the library is not consulted)."""
    error = identifier_error(name, what="node_name")
    if error:
        return error
    if len(name) > MAX_NODE_NAME_LENGTH:
        return f"node_name {name!r} is {len(name)} characters long; keep it to {MAX_NODE_NAME_LENGTH}"
    if name in CATALOG_BY_NAME:
        catalog = CATALOG_BY_NAME[name]
        return (
            f"node_name {name!r} is taken by the catalog's {catalog.name} {catalog.archetype} "
            f"({catalog.class_name}); choose another name"
        )
    if name.endswith(_ARCHETYPE_SUFFIXES):
        suffix = "_" + name.rsplit("_", 1)[1]
        return (
            f"node_name {name!r} ends with {suffix!r}: the archetype is added to the name already "
            f"(node_<name>_<archetype>.py); use {name.removesuffix(suffix)!r}"
        )
    return ""


def description_error(description: str) -> str:
    """Why `description` cannot be the node's one-line summary, or "" when it can."""
    if "\n" in description.strip() or "\r" in description:
        return "node_description spans several lines; give one sentence"
    if '"""' in description or "\\" in description:
        return 'node_description may not contain backslashes or """ (it becomes the class docstring)'
    if len(description.strip()) > MAX_DESCRIPTION_LENGTH:
        return f"node_description is {len(description.strip())} characters long; keep it to {MAX_DESCRIPTION_LENGTH}"
    return ""


def _taken_error(name: str, archetype: str, package_name: str, project: ProjectState) -> str:
    """Why the library at `project` cannot take the node, or ""."""
    existing = project.custom_nodes.get(name)
    if existing is not None:
        return (
            f"node_name {name!r} is taken by this library's custom {existing} node "
            f"(.copier/node-{name}-{existing}.yml); choose another name"
        )
    node = custom_node(name, archetype)
    for path in (node.module_path(package_name), node.logic_path(package_name), node.test_path):
        if (project.root / path).exists():
            return f"node_name {name!r} is taken: {path} exists already; choose another name"
    return ""


def check_node_answers(
    *,
    archetype: str,
    node_name: str,
    node_description: str,
    package_name: str,
    project: ProjectState | None,
) -> str:
    """Raise `AnswersError` listing every bad answer; return "" when all are good.

    `project` is the destination as it is before the copy, or None during
    `copier update` (the answers were checked when the node was added).
    """
    if project is not None and not project.is_library:
        raise AnswersError(
            f"{project.root} is not an ONEX library (it has no .copier-answers.yml with a package_name): "
            "generate the library first (copier copy --trust <suite> <folder>), then add nodes to it"
        )
    errors = [
        "" if archetype in ARCHETYPES else _archetype_error(archetype),
        node_name_error(node_name),
        description_error(node_description),
        package_name_error(package_name),
    ]
    if project is not None and not any(errors):
        errors.append(_taken_error(node_name, archetype, package_name, project))
    problems = [error for error in errors if error]
    if problems:
        raise AnswersError("Invalid answers:\n  - " + "\n  - ".join(problems))
    return ""
