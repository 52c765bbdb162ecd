"""KV-001, KV-002: documentation is current; features compose catalog nodes.

KV-001 Documentation
    * The public API is documented: every module of src/ and quality/ has a docstring, and so has every public
      class and every public function and method in it (names without a leading underscore, in public classes;
      overloads and property setters and deleters excepted). This holds whatever the ruff configuration says.
    * README.md is current: its catalog names every node class the library shipped with (custom nodes are
      documented by their own modules), and every node class it names in backticks exists.
    * Each feature has `docs/features/<name>.md` with a Mermaid diagram of its workflow that is current: the
      diagram's steps (`step_<name>`) are the `@step`s of the feature's `workflow.py`, in order, and the page
      names the feature's topics (those of its `FEATURE` and of its spec's publish steps) and its request and
      response contracts.

KV-002 Pattern Reuse
    * A feature composes the catalog's nodes: no module of a feature defines a node class (a class deriving from
      `NodeBase`, an archetype base or any node of the library, or a class named `Node*`), and a feature imports
      `Node*` classes only from `archetypes/`, never the base classes of `core/nodes.py`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from ..catalog import NODE_ROOTS, Catalog, base_name, catalog, spec_published_topics
from ..model import Finding, gate
from ..project import Project

__all__ = ["documentation", "pattern_reuse"]

# ---------------------------------------------------------------------------- KV-001 Documentation

#: A fenced Mermaid block of a Markdown page.
MERMAID = re.compile(r"```mermaid\n(.*?)```", re.DOTALL)
#: A step's node id in a feature's diagram.
STEP_ID = re.compile(r"\bstep_([A-Za-z0-9_]+)\b")
#: A node class named in backticks.
NODE_CLASS = re.compile(r"`(Node[A-Z][A-Za-z0-9]*)`")


@gate("KV-001")
def documentation(project: Project) -> Iterator[Finding]:
    """Public API documented; README and per-feature docs with a workflow diagram are current."""
    built = catalog(project)
    quality = project.root / "quality"
    extra = sorted(p for p in quality.rglob("*.py") if "__pycache__" not in p.parts) if quality.is_dir() else []
    for path in [*project.python_files(), *extra]:
        yield from _docstrings(project, path)
    yield from _readme(project, built)
    for feature in project.features:
        yield from _feature_page(project, built, feature.name)


def _docstrings(project: Project, path: Path) -> Iterator[Finding]:
    tree = project.module(path)
    where = project.relative(path)
    if not ast.get_docstring(tree):
        yield Finding(where, 1, "module has no docstring: say what it is for")
    for statement in tree.body:
        if isinstance(statement, ast.ClassDef) and not statement.name.startswith("_"):
            if not ast.get_docstring(statement):
                yield Finding(where, statement.lineno, f"class {statement.name} has no docstring")
            for item in statement.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and _needs_docstring(item):
                    yield Finding(where, item.lineno, f"method {statement.name}.{item.name} has no docstring")
        elif isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef) and _needs_docstring(statement):
            yield Finding(where, statement.lineno, f"function {statement.name} has no docstring")


def _needs_docstring(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    if ast.get_docstring(function):
        return False
    if function.name.startswith("_") and function.name != "__init__":
        return False
    for decorator in function.decorator_list:
        if base_name(decorator) == "overload" or (
            isinstance(decorator, ast.Attribute) and decorator.attr in ("setter", "deleter")
        ):
            return False
    return True


def _readme(project: Project, built: Catalog) -> Iterator[Finding]:
    readme = project.root / "README.md"
    if not readme.is_file():
        yield Finding("README.md", None, "the project has no README.md")
        return
    text = readme.read_text(encoding="utf-8")
    named = {match[1]: text.count("\n", 0, match.start()) + 1 for match in NODE_CLASS.finditer(text)}
    for name, line in sorted(named.items()):
        if name not in built.classes:
            yield Finding("README.md", line, f"names {name}, which the library does not have: update the README")
    for node in project.nodes:
        if not node.custom and node.class_name and node.class_name not in named:
            yield Finding(
                "README.md", None, f"the catalog table does not list {node.class_name} ({project.relative(node.path)})"
            )


def _feature_page(project: Project, built: Catalog, feature: str) -> Iterator[Finding]:
    page = project.root / "docs" / "features" / f"{feature}.md"
    where = project.relative(page)
    if not page.is_file():
        yield Finding(where, None, f"feature {feature} has no page docs/features/{feature}.md: regenerate the feature")
        return
    text = page.read_text(encoding="utf-8")
    diagram = MERMAID.search(text)
    refresh = f"regenerate it (`copier update --trust -a .copier/feature-{feature}.yml`)"
    if diagram is None:
        yield Finding(where, None, f"the page has no Mermaid diagram of the {feature} workflow: {refresh}")
        return
    line = text.count("\n", 0, diagram.start()) + 1
    drawn = list(dict.fromkeys(STEP_ID.findall(diagram[1])))
    steps = [name for name, _node in built.workflow_steps(feature)]
    if drawn != steps:
        yield Finding(
            where,
            line,
            f"the diagram draws steps {', '.join(drawn) or 'none'}, but workflow.py has {', '.join(steps) or 'none'}: "
            f"{refresh}",
        )
    spec = next(f.spec for f in project.features if f.name == feature)
    topics = [event.topic for event in built.feature_events(feature) if event.role != "published"]
    for topic in [*topics, *spec_published_topics(spec, project.package)]:
        if topic not in text:
            yield Finding(where, None, f"the page does not name topic {topic}: {refresh}")
    wiring = built.wiring(feature)
    for role in ("request_model", "response_model"):
        model = wiring.names.get(role, "") if wiring else ""
        if model and model not in text:
            yield Finding(where, None, f"the page does not describe contract {model}: {refresh}")


# ---------------------------------------------------------------------------- KV-002 Pattern Reuse


@gate("KV-002")
def pattern_reuse(project: Project) -> Iterator[Finding]:
    """Features compose catalog nodes; a feature that defines its own node class fails."""
    built = catalog(project)
    for feature in project.features:
        for path in sorted(feature.path.rglob("*.py")):
            where = project.relative(path)
            for info in built.defined_in(path):
                if built.is_node(info.name) or info.name.startswith("Node"):
                    bases = ", ".join(info.bases) or "no base"
                    yield Finding(
                        where,
                        info.line,
                        f"feature {feature.name} defines its own node class {info.name} ({bases}): compose the "
                        "catalog's nodes in workflow steps, or add a node to the catalog "
                        "(copier copy -d kind=node ...) and use it",
                    )
            yield from _node_imports(project, where, built.walk(path), feature.name)


def _node_imports(project: Project, where: str, nodes: Iterable[ast.AST], feature: str) -> Iterator[Finding]:
    for statement in nodes:
        if not isinstance(statement, ast.ImportFrom):
            continue
        module = statement.module or ""
        from_archetypes = module.startswith(("archetypes", f"{project.package}.archetypes"))
        for alias in statement.names:
            if alias.name in NODE_ROOTS or (alias.name.startswith("Node") and not from_archetypes):
                yield Finding(
                    where,
                    statement.lineno,
                    f"feature {feature} imports {alias.name} from {'.' * statement.level}{module}: features use the "
                    "catalog's nodes from archetypes/, not node base classes or nodes defined elsewhere",
                )
