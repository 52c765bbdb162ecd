"""The library's catalog as its code declares it, and the AsyncAPI 3.0 document that captures it.

Read from the syntax trees, never by importing the package: the classes of `src/`
(which are models, enums, nodes), the nodes with their contracts and the intent
types they carry out, the features with their steps and events, and every topic
the library sends or receives.

    python -m quality.catalog            # write docs/asyncapi.yaml
    python -m quality.catalog --check    # exit 1 when docs/asyncapi.yaml is not current

Gate IV-003 builds the document in memory and compares it with the committed one;
gate CV-002 checks the topics' producers and subscribers.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import sys
import threading
import tomllib
import weakref
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from .model import load_yaml
from .project import Project

__all__ = [
    "DOCUMENT",
    "BusUse",
    "Catalog",
    "ClassInfo",
    "FeatureEvent",
    "FeatureWiring",
    "IntentEmission",
    "asyncapi_document",
    "base_name",
    "catalog",
    "committed_document",
    "dump_document",
    "main",
]

#: Where the AsyncAPI document is kept, relative to the project root.
DOCUMENT = Path("docs") / "asyncapi.yaml"

#: What `python -m quality.catalog` tells a reader of the document.
HEADER = "# The library's catalog: nodes, features, events and topics. Generated: `python -m quality.catalog`.\n"

#: PyYAML's safe loader and dumper, in C when PyYAML has it (ten times faster on the document).
_DUMPER: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

#: Base classes (by name) that make a class a Pydantic model or an enum.
MODEL_ROOTS = frozenset({"BaseModel", "RootModel", "BaseSettings"})
ENUM_ROOTS = frozenset({"Enum", "StrEnum", "IntEnum", "Flag", "IntFlag"})
#: The archetype base classes, by archetype.
ARCHETYPE_BASES = {
    "effect": "NodeEffect",
    "compute": "NodeCompute",
    "reducer": "NodeReducer",
    "orchestrator": "NodeOrchestrator",
}
NODE_ROOTS = frozenset({"NodeBase", *ARCHETYPE_BASES.values()})

#: A topic's shape: `onex.<cmd|evt>.<package>.<name>.v<N>`.
TOPIC = re.compile(r"^onex\.(?P<kind>cmd|evt)\.(?P<package>[a-z0-9_]+)\.(?P<name>[a-z0-9_-]+)\.v(?P<version>\d+)$")

Action = Literal["send", "receive"]
#: What an event is to its feature: the request it serves, one of its two outcomes, or an event a step publishes.
Role = Literal["requested", "completed", "failed", "published"]
#: The events every feature's handler builds, by the name of the handler method (and `FeatureTopics` field).
OUTCOME_ROLES: tuple[Role, ...] = ("requested", "completed", "failed")


def child_nodes(node: ast.AST) -> list[ast.AST]:
    """The direct children of `node`, as `ast.iter_child_nodes` gives them, in one list."""
    children: list[ast.AST] = []
    for name in node._fields:
        value = getattr(node, name, None)
        if isinstance(value, ast.AST):
            children.append(value)
        elif isinstance(value, list):
            children.extend(item for item in value if isinstance(item, ast.AST))
    return children


def nodes_of(tree: ast.AST) -> list[ast.AST]:
    """Every node of `tree`, in the order `ast.walk` gives them (breadth first).

    The gates walk every module several times; `ast.walk` spends most of its time in
    generators (`iter_child_nodes`, `iter_fields`), this several times less.
    """
    found: list[ast.AST] = [tree]
    index = 0
    while index < len(found):
        found.extend(child_nodes(found[index]))
        index += 1
    return found


def base_name(expr: ast.expr) -> str:
    """The name a base class or callee expression ends in ("" for anything else).

    `NodeCompute[...]`, `core.NodeCompute` and `NodeCompute` all give `NodeCompute`.
    """
    if isinstance(expr, ast.Subscript):
        return base_name(expr.value)
    if isinstance(expr, ast.Attribute):
        return expr.attr
    if isinstance(expr, ast.Name):
        return expr.id
    return ""


def string_constants(tree: ast.Module) -> dict[str, str]:
    """The module-level `NAME = "text"` (or annotated) constants of `tree`."""
    found: dict[str, str] = {}
    for statement in tree.body:
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
            target, value = statement.targets[0], statement.value
        elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
            target, value = statement.target, statement.value
        else:
            continue
        if isinstance(target, ast.Name) and isinstance(value, ast.Constant) and isinstance(value.value, str):
            found[target.id] = value.value
    return found


def docstring_summary(node: ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef | ast.Module) -> str:
    """The first line of `node`'s docstring ("" when it has none)."""
    text = ast.get_docstring(node) or ""
    return text.strip().splitlines()[0].strip() if text.strip() else ""


def call_keyword(call: ast.Call, name: str) -> ast.expr | None:
    """The value of keyword argument `name` of `call`, if given."""
    return next((keyword.value for keyword in call.keywords if keyword.arg == name), None)


def pascal(name: str) -> str:
    """`user-registered` and `user_registered` give `UserRegistered`."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[-_.]", name) if part)


@dataclass(frozen=True)
class ClassInfo:
    """A class defined at the top level of a module of `src/`."""

    name: str
    path: Path
    node: ast.ClassDef

    @property
    def bases(self) -> list[str]:
        """The names its bases end in."""
        return [name for name in (base_name(base) for base in self.node.bases) if name]

    @property
    def line(self) -> int:
        """The line of its `class` statement."""
        return self.node.lineno

    def generic_arguments(self, base: str) -> list[str]:
        """The names of the type arguments of base `base` (`NodeCompute[ModelAInput, ModelAOutput]`)."""
        for expr in self.node.bases:
            if isinstance(expr, ast.Subscript) and base_name(expr.value) == base:
                items = expr.slice.elts if isinstance(expr.slice, ast.Tuple) else [expr.slice]
                return [base_name(item) for item in items]
        return []


@dataclass(frozen=True)
class BusUse:
    """A publication or a subscription in the code.

    `bus.publish(topic, ...)`, `bus.subscribe(topic, ...)` or an `event_bus.publish` intent.

    `topic` is None when it is computed at run time (not a literal or a module constant).
    """

    kind: Literal["publish", "subscribe"]
    topic: str | None
    path: Path
    line: int
    feature: str
    envelope: ast.expr | None = None
    function: ast.FunctionDef | ast.AsyncFunctionDef | None = None


@dataclass(frozen=True)
class FeatureEvent:
    """An event a feature receives or sends, with its topic and the contract it carries."""

    feature: str
    role: Role
    topic: str
    message: str
    payload: str
    event_type: str
    summary: str
    path: Path
    line: int

    @property
    def action(self) -> Action:
        """What the library does with it: it receives requests and sends everything else."""
        return "receive" if self.role == "requested" else "send"


@dataclass(frozen=True)
class FeatureWiring:
    """What a feature's `FEATURE = Feature(...)` declares, by name, with its topics resolved."""

    feature: str
    path: Path
    line: int
    names: Mapping[str, str]
    topics: Mapping[str, str | None]
    description: str


@dataclass(frozen=True)
class IntentEmission:
    """A `ModelIntent(intent_type=...)` built in the code; `intent_type` is None when not a literal or constant."""

    intent_type: str | None
    target: str | None
    path: Path
    line: int


@dataclass
class Catalog:
    """What the code of one project declares; build it with `catalog(project)`."""

    project: Project
    classes: dict[str, list[ClassInfo]] = field(default_factory=dict)
    constants: dict[Path, dict[str, str]] = field(default_factory=dict)
    _ancestors: dict[str, frozenset[str]] = field(default_factory=dict)
    _bus_uses: list[BusUse] | None = None
    _walked: dict[Path, list[ast.AST]] = field(default_factory=dict)
    _functions: dict[Path, list[ast.FunctionDef | ast.AsyncFunctionDef]] = field(default_factory=dict)
    _calls: dict[Path, list[ast.Call]] = field(default_factory=dict)

    # ------------------------------------------------------------------ syntax trees

    def walk(self, path: Path) -> list[ast.AST]:
        """Every node of the syntax tree of `path` (as `ast.walk` gives them), listed once and kept."""
        found = self._walked.get(path)
        if found is None:
            found = nodes_of(self.project.module(path))
            self._walked[path] = found
        return found

    def functions_in(self, path: Path) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
        """Every function and method of the module at `path`, nested ones included (listed once and kept)."""
        found = self._functions.get(path)
        if found is None:
            found = [node for node in self.walk(path) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)]
            self._functions[path] = found
        return found

    def calls_in(self, path: Path) -> list[ast.Call]:
        """Every call in the module at `path` (listed once and kept)."""
        found = self._calls.get(path)
        if found is None:
            found = [node for node in self.walk(path) if isinstance(node, ast.Call)]
            self._calls[path] = found
        return found

    # ------------------------------------------------------------------ classes

    def ancestors(self, name: str) -> frozenset[str]:
        """Every base class name reachable from the class `name` through the project's classes (and their roots)."""
        known = self._ancestors.get(name)
        if known is not None:
            return known
        seen: set[str] = set()
        todo = [base for info in self.classes.get(name, []) for base in info.bases]
        while todo:
            base = todo.pop()
            if base in seen or base == name:
                continue
            seen.add(base)
            todo.extend(b for info in self.classes.get(base, []) for b in info.bases)
        result = frozenset(seen)
        self._ancestors[name] = result
        return result

    def is_model(self, name: str) -> bool:
        """Whether class `name` is a Pydantic model (or settings)."""
        return bool(self.ancestors(name) & MODEL_ROOTS)

    def is_enum(self, name: str) -> bool:
        """Whether class `name` is an enum."""
        return bool(self.ancestors(name) & ENUM_ROOTS)

    def is_node(self, name: str) -> bool:
        """Whether class `name` is a node class (derives from `NodeBase` or an archetype base)."""
        return bool(self.ancestors(name) & NODE_ROOTS)

    def defined_in(self, path: Path) -> list[ClassInfo]:
        """The top-level classes of the module at `path`, in order."""
        return sorted(
            (info for infos in self.classes.values() for info in infos if info.path == path), key=lambda i: i.line
        )

    def find(self, name: str, *paths: Path) -> ClassInfo | None:
        """The class `name` as defined in one of `paths` (any module when none is given)."""
        wanted = set(paths)
        return next((info for info in self.classes.get(name, []) if not wanted or info.path in wanted), None)

    def contract_of(self, info: ClassInfo) -> tuple[str, str] | None:
        """The input and output contract names of a node class, or None.

        They are the type arguments of the archetype base the class reaches, through its own
        bases too (a custom node derives from its logic class, which derives from the base).
        """
        for current in self.lineage(info):
            for base in ARCHETYPE_BASES.values():
                arguments = current.generic_arguments(base)
                if len(arguments) == len(("input", "output")):
                    return arguments[0], arguments[1]
        return None

    def lineage(self, info: ClassInfo) -> Iterator[ClassInfo]:
        """The class, then the project's classes it derives from, nearest first, each once."""
        todo, seen = [info], set()
        while todo:
            current = todo.pop(0)
            if current.name in seen:
                continue
            seen.add(current.name)
            yield current
            todo.extend(parent for base in current.bases for parent in self.classes.get(base, []))

    # ------------------------------------------------------------------ topics

    def constant(self, path: Path, name: str) -> str | None:
        """The string constant `name` as module `path` sees it: its own, or one it imports from a module of src."""
        own = self.constants.get(path, {})
        if name in own:
            return own[name]
        tree = self.project.module(path)
        for statement in tree.body:
            if not isinstance(statement, ast.ImportFrom):
                continue
            for alias in statement.names:
                if (alias.asname or alias.name) == name:
                    source = _resolve_import(path, statement, self.project)
                    if source is not None:
                        return self.constants.get(source, {}).get(alias.name)
        return None

    def topic_value(self, path: Path, expr: ast.expr | None) -> str | None:
        """The topic `expr` names in module `path`: a string literal or a module constant; None otherwise."""
        if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
            return expr.value
        if isinstance(expr, ast.Name):
            return self.constant(path, expr.id)
        return None

    def bus_uses(self) -> list[BusUse]:
        """Every publication and subscription in `src/`, with its topic when it can be read."""
        if self._bus_uses is not None:
            return self._bus_uses
        uses: list[BusUse] = []
        for path in self.project.python_files():
            feature = self.feature_of(path)
            for call in self.calls_in(path):
                use = self._bus_use(path, feature, call)
                if use is not None:
                    uses.append(use)
        self._bus_uses = uses
        return uses

    def _bus_use(self, path: Path, feature: str, call: ast.Call) -> BusUse | None:
        if isinstance(call.func, ast.Attribute) and call.func.attr in ("publish", "subscribe") and call.args:
            kind: Literal["publish", "subscribe"] = "publish" if call.func.attr == "publish" else "subscribe"
            envelope = call.args[1] if len(call.args) > 1 else call_keyword(call, "envelope")
            topic = self.topic_value(path, call.args[0])
            return BusUse(kind, topic, path, call.lineno, feature, envelope, self._enclosing(path, call))
        if base_name(call.func) == "ModelIntent":
            intent_type = self.topic_value(path, call_keyword(call, "intent_type"))
            if intent_type == "event_bus.publish":
                topic = self.topic_value(path, call_keyword(call, "target"))
                return BusUse("publish", topic, path, call.lineno, feature)
        return None

    def _enclosing(self, path: Path, node: ast.expr) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
        """The innermost function of module `path` that holds `node`."""
        holders = [
            function
            for function in self.functions_in(path)
            if function.lineno <= node.lineno <= (function.end_lineno or function.lineno)
        ]
        return max(holders, key=lambda function: function.lineno, default=None)

    def feature_of(self, path: Path) -> str:
        """The feature whose package holds `path` ("" outside every feature)."""
        for feature in self.project.features:
            if feature.path in path.parents:
                return feature.name
        return ""

    def declared_topics(self) -> dict[str, tuple[Path, int]]:
        """Every topic the code or the specs declare, with where.

        Declarations are the `*_TOPIC` constants of src, the topics of the specs' publish
        steps, and topic families of enums (the workflow orchestrator's lifecycle events).
        """
        declared: dict[str, tuple[Path, int]] = {}
        for path in self.project.python_files():
            for statement in self.project.module(path).body:
                target = _single_target(statement)
                if target is not None and target.endswith("_TOPIC") and target in self.constants.get(path, {}):
                    declared.setdefault(self.constants[path][target], (path, statement.lineno))
        for feature in self.project.features:
            answers = feature.answers_file or feature.path
            for topic in spec_published_topics(feature.spec, self.project.package):
                declared.setdefault(topic, (answers, 1))
        for topic, (path, line, _message) in self.enum_topics().items():
            declared.setdefault(topic, (path, line))
        return declared

    def enum_topics(self) -> dict[str, tuple[Path, int, str]]:
        """Topics of enum families, by topic, with where and the message's name.

        A family is an enum in `archetypes/` with a `topic` property returning an f-string of
        `PACKAGE` and `self.value`: one topic per member, its message named after the topic
        (`workflow-started`: WorkflowStarted).
        """
        found: dict[str, tuple[Path, int, str]] = {}
        for infos in self.classes.values():
            for info in infos:
                if "archetypes" not in info.path.parts or not self.is_enum(info.name):
                    continue
                template = _topic_template(info.node)
                if template is None:
                    continue
                for member, value in _enum_members(info.node):
                    topic = _render_topic(template, self.project.package, value)
                    if topic is not None:
                        match = TOPIC.match(topic)
                        message = pascal(match["name"]) if match else info.name.removeprefix("Enum") + pascal(member)
                        found[topic] = (info.path, info.line, message)
        return found

    # ------------------------------------------------------------------ features

    def wiring(self, feature_name: str) -> FeatureWiring | None:
        """What `FEATURE = Feature(...)` in the feature's `__init__.py` declares; None when it is not there."""
        feature = next(f for f in self.project.features if f.name == feature_name)
        init = feature.path / "__init__.py"
        for statement in self.project.module(init).body:
            if _single_target(statement) != "FEATURE" or not isinstance(statement, ast.Assign | ast.AnnAssign):
                continue
            call = statement.value
            if not isinstance(call, ast.Call) or base_name(call.func) != "Feature":
                return None
            names = {kw.arg: base_name(kw.value) for kw in call.keywords if kw.arg and base_name(kw.value)}
            topics: dict[str, str | None] = {}
            topics_call = call_keyword(call, "topics")
            if isinstance(topics_call, ast.Call):
                for keyword in topics_call.keywords:
                    if keyword.arg:
                        topics[keyword.arg] = self.topic_value(init, keyword.value)
            description = call_keyword(call, "description")
            text = description.value if isinstance(description, ast.Constant) else ""
            return FeatureWiring(feature_name, init, statement.lineno, names, topics, str(text))
        return None

    def feature_events(self, feature_name: str) -> list[FeatureEvent]:
        """The events of a feature.

        First its Requested, Completed and Failed, as its handler builds them, on the topics
        its `FEATURE` declares; then the events its code publishes.
        """
        feature = next(f for f in self.project.features if f.name == feature_name)
        wiring = self.wiring(feature_name)
        events: list[FeatureEvent] = []
        if wiring is not None:
            handler = self.find(wiring.names.get("handler_class", ""), feature.path / "handlers.py")
            for role in OUTCOME_ROLES:
                topic = wiring.topics.get(role)
                event_class = self._handler_event(handler, role) if handler else None
                if topic is None or event_class is None:
                    continue
                events.append(self._envelope_event(feature_name, role, topic, event_class))
        events.extend(
            self._published_event(feature_name, use)
            for use in self.bus_uses()
            if use.feature == feature_name and use.kind == "publish" and use.topic is not None
        )
        return events

    def _handler_event(self, handler: ClassInfo, role: str) -> ClassInfo | None:
        """The event class a handler's `requested`/`completed`/`failed` method returns."""
        for item in handler.node.body:
            if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and item.name == role and item.returns:
                return self.find(base_name(item.returns), handler.path.parent / "events.py")
        return None

    def _envelope_event(self, feature: str, role: Role, topic: str, event: ClassInfo) -> FeatureEvent:
        arguments = event.generic_arguments("OnexEnvelopeV1")
        event_type = ""
        for item in event.node.body:
            if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name) and item.target.id == "event_type":
                default = call_keyword(item.value, "default") if isinstance(item.value, ast.Call) else item.value
                if isinstance(default, ast.Constant) and isinstance(default.value, str):
                    event_type = default.value
        return FeatureEvent(
            feature=feature,
            role=role,
            topic=topic,
            message=event.name,
            payload=arguments[0] if arguments else "",
            event_type=event_type,
            summary=docstring_summary(event.node),
            path=event.path,
            line=event.line,
        )

    def _published_event(self, feature: str, use: BusUse) -> FeatureEvent:
        """An event a feature's code publishes: `bus.publish(topic, state.envelope("type", payload))`."""
        event_type, payload = "", ""
        envelope = use.envelope
        if isinstance(envelope, ast.Call) and len(envelope.args) == len(("event_type", "payload")):
            kind, value = envelope.args
            if isinstance(kind, ast.Constant) and isinstance(kind.value, str):
                event_type = kind.value
            payload = _constructed_class(use.function, value) if use.function else ""
        match = TOPIC.match(use.topic or "")
        message = payload.removeprefix("Model") if payload else pascal(match["name"] if match else "event")
        return FeatureEvent(
            feature=feature,
            role="published",
            topic=use.topic or "",
            message=message,
            payload=payload,
            event_type=event_type,
            summary=f"Published by the {feature} feature" + (f" ({event_type})." if event_type else "."),
            path=use.path,
            line=use.line,
        )

    def workflow_steps(self, feature_name: str) -> list[tuple[str, str]]:
        """The `@step` methods of the feature's workflow, in order, with the node class each asks for.

        The node class is "" for a step that asks the container for none.
        """
        feature = next(f for f in self.project.features if f.name == feature_name)
        path = feature.path / "workflow.py"
        if not path.is_file():
            return []
        return [
            (item.name, _container_node(item))
            for info in self.defined_in(path)
            for item in info.node.body
            if isinstance(item, ast.AsyncFunctionDef | ast.FunctionDef) and _is_step(item)
        ]

    # ------------------------------------------------------------------ intents

    def intent_emissions(self) -> list[IntentEmission]:
        """Every `ModelIntent(...)` built in `src/`."""
        found: list[IntentEmission] = []
        for path in self.project.python_files():
            for node in self.calls_in(path):
                if base_name(node.func) == "ModelIntent":
                    intent_type = self.topic_value(path, call_keyword(node, "intent_type"))
                    target = self.topic_value(path, call_keyword(node, "target"))
                    found.append(IntentEmission(intent_type, target, path, node.lineno))
        return found

    def handled_intents(self) -> dict[str, list[ClassInfo]]:
        """Intent type -> the effect classes that list it in `handled_intents`."""
        routes: dict[str, list[ClassInfo]] = {}
        for node in self.project.nodes:
            for info in self.defined_in(node.path):
                for intent_type in _handled_intents(info.node):
                    routes.setdefault(intent_type, []).append(info)
        return routes


# ---------------------------------------------------------------------- building the catalog

_CATALOGS: weakref.WeakKeyDictionary[Project, Catalog] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def catalog(project: Project) -> Catalog:
    """The catalog of `project`, built once per project (gates share it across threads)."""
    with _LOCK:
        built = _CATALOGS.get(project)
        if built is None:
            built = _build(project)
            _CATALOGS[project] = built
        return built


def _build(project: Project) -> Catalog:
    built = Catalog(project)
    for path in project.python_files():
        tree = project.module(path)
        built.constants[path] = string_constants(tree)
        for statement in tree.body:
            if isinstance(statement, ast.ClassDef):
                built.classes.setdefault(statement.name, []).append(ClassInfo(statement.name, path, statement))
    return built


def _resolve_import(path: Path, statement: ast.ImportFrom, project: Project) -> Path | None:
    """The module of src that a `from ... import` in `path` reads, when it is one."""
    if statement.level:
        folder = path.parent
        for _ in range(statement.level - 1):
            folder = folder.parent
    elif statement.module and statement.module.split(".")[0] == project.package:
        folder = project.src.parent
    else:
        return None
    parts = statement.module.split(".") if statement.module else []
    candidate = folder.joinpath(*parts)
    for option in (candidate.with_suffix(".py"), candidate / "__init__.py"):
        if option.is_file():
            return option
    return None


def _single_target(statement: ast.stmt) -> str | None:
    if isinstance(statement, ast.Assign) and len(statement.targets) == 1 and isinstance(statement.targets[0], ast.Name):
        return statement.targets[0].id
    if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
        return statement.target.id
    return None


def _own_calls(function: ast.FunctionDef | ast.AsyncFunctionDef) -> Iterator[ast.Call]:
    """The calls in `function`'s body, leaving out those of functions nested in it (they are visited on their own)."""
    todo: list[ast.AST] = list(function.body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            continue
        if isinstance(node, ast.Call):
            yield node
        todo.extend(child_nodes(node))


def _constructed_class(function: ast.FunctionDef | ast.AsyncFunctionDef, value: ast.expr) -> str:
    """The class whose instance `value` is: `ModelX(...)`, `ModelX.model_validate(...)`, or a name assigned one."""
    if isinstance(value, ast.Call):
        callee = value.func
        if isinstance(callee, ast.Attribute) and callee.attr in ("model_validate", "model_construct"):
            return base_name(callee.value)
        return base_name(callee)
    if isinstance(value, ast.Name):
        for node in ast.walk(function):
            if (
                isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == value.id for t in node.targets)
                and isinstance(node.value, ast.Call)
            ):
                return _constructed_class(function, node.value)
    return ""


def _is_step(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    return any(base_name(d.func if isinstance(d, ast.Call) else d) == "step" for d in function.decorator_list)


def _container_node(function: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    """The node class a step asks for: `self.node(NodeX)`, `container.node(NodeX)` or `start_node(NodeX)`."""
    for call in _own_calls(function):
        if isinstance(call.func, ast.Attribute) and call.func.attr in ("node", "start_node") and call.args:
            return base_name(call.args[0])
    return ""


def _handled_intents(node: ast.ClassDef) -> list[str]:
    """The literal intent types of a class's `handled_intents = frozenset({...})`."""
    for item in node.body:
        if _single_target(item) == "handled_intents" and isinstance(item, ast.Assign | ast.AnnAssign):
            return sorted(
                constant.value
                for constant in ast.walk(item.value or ast.Constant(None))
                if isinstance(constant, ast.Constant) and isinstance(constant.value, str)
            )
    return []


def _topic_template(node: ast.ClassDef) -> ast.JoinedStr | None:
    for item in node.body:
        if isinstance(item, ast.FunctionDef) and item.name == "topic":
            for statement in item.body:
                if isinstance(statement, ast.Return) and isinstance(statement.value, ast.JoinedStr):
                    return statement.value
    return None


def _enum_members(node: ast.ClassDef) -> list[tuple[str, str]]:
    members: list[tuple[str, str]] = []
    for item in node.body:
        target = _single_target(item)
        value = item.value if isinstance(item, ast.Assign | ast.AnnAssign) else None
        if target and isinstance(value, ast.Constant) and isinstance(value.value, str):
            members.append((target, value.value))
    return members


def _render_topic(template: ast.JoinedStr, package: str, value: str) -> str | None:
    """`template` with `PACKAGE` and `self.value` filled in; None when it holds anything else."""
    parts: list[str] = []
    for part in template.values:
        if isinstance(part, ast.Constant):
            parts.append(str(part.value))
        elif isinstance(part, ast.FormattedValue) and isinstance(part.value, ast.Name) and part.value.id == "PACKAGE":
            parts.append(package)
        elif isinstance(part, ast.FormattedValue) and ast.unparse(part.value) == "self.value":
            parts.append(value)
        else:
            return None
    return "".join(parts)


def spec_published_topics(spec: Mapping[str, Any], package: str) -> list[str]:
    """The topics of a feature spec's publish steps: `onex.evt.<package>.<event>.v1`."""
    topics: list[str] = []
    for step in spec.get("steps") or []:
        config = step.get("config") if isinstance(step, Mapping) else None
        if isinstance(config, Mapping) and config.get("operation") == "publish" and config.get("event"):
            topics.append(f"onex.evt.{spec.get('package_name') or package}.{config['event']}.v1")
    return topics


# ---------------------------------------------------------------------- the AsyncAPI document


def asyncapi_document(project: Project) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of the project's catalog, built from its code and its features' JSON Schemas."""
    built = catalog(project)
    pyproject = tomllib.loads((project.root / "pyproject.toml").read_text(encoding="utf-8")).get("project", {})
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {"OnexEnvelopeV1": _model_schema(built, "OnexEnvelopeV1")}
    for feature in project.features:
        contracts = _feature_schemas(feature.name, feature.path / "contracts.schema.json")
        schemas.update(contracts)
        for event in built.feature_events(feature.name):
            key = f"{feature.name}.{event.message}"
            payload_ref = _payload_schema(built, schemas, feature.name, event.payload, contracts)
            messages[key] = _message(event.message, event.summary, event.event_type, payload_ref)
            _add_operation(channels, operations, event.topic, key, action=event.action, feature=feature.name)
    for topic, (_path, _line, message) in sorted(built.enum_topics().items()):
        messages[message] = _message(message, f"Lifecycle event {message} of the workflow orchestrator.", "", None)
        _add_operation(channels, operations, topic, message, action="send", feature="")
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": str(pyproject.get("name", project.package)),
            "version": str(pyproject.get("version", "0")),
            "description": str(pyproject.get("description", "")),
        },
        "defaultContentType": "application/json",
        "channels": dict(sorted(channels.items())),
        "operations": dict(sorted(operations.items())),
        "components": {"schemas": dict(sorted(schemas.items())), "messages": dict(sorted(messages.items()))},
        "x-onex-catalog": {
            "nodes": _nodes_section(built),
            "features": _features_section(built),
            "intents": {
                intent_type: sorted(info.name for info in infos)
                for intent_type, infos in sorted(built.handled_intents().items())
            },
        },
    }


def _add_operation(
    channels: dict[str, Any], operations: dict[str, Any], topic: str, message: str, *, action: Action, feature: str
) -> None:
    channel = channels.setdefault(topic, {"address": topic, "messages": {}})
    channel["messages"][message] = {"$ref": f"#/components/messages/{message}"}
    operation_id = f"{action}.{topic}"
    operation = operations.setdefault(
        operation_id,
        {"action": action, "channel": {"$ref": f"#/channels/{_pointer(topic)}"}, "messages": []},
    )
    reference = {"$ref": f"#/channels/{_pointer(topic)}/messages/{_pointer(message)}"}
    if reference not in operation["messages"]:
        operation["messages"].append(reference)
    if feature:
        operation.setdefault("x-onex-features", [])
        if feature not in operation["x-onex-features"]:
            operation["x-onex-features"].append(feature)


def _pointer(key: str) -> str:
    """`key` as one JSON Pointer token."""
    return key.replace("~", "~0").replace("/", "~1")


def _message(name: str, summary: str, event_type: str, payload: dict[str, Any] | None) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    if event_type:
        properties["event_type"] = {"const": event_type}
    if payload is not None:
        properties["payload"] = payload
    return {
        "name": name,
        "summary": summary,
        "contentType": "application/json",
        "payload": {
            "allOf": [
                {"$ref": "#/components/schemas/OnexEnvelopeV1"},
                {"type": "object", "properties": properties},
            ]
        },
    }


def _feature_schemas(feature: str, path: Path) -> dict[str, Any]:
    """The feature's contracts from its `contracts.schema.json`, keyed `<feature>.<Contract>`.

    References are rewritten to point into the document's components; {} when the file
    is missing or broken.
    """
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    definitions = document.get("$defs") if isinstance(document, dict) else None
    if not isinstance(definitions, dict):
        return {}

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            out = {key: rewrite(value) for key, value in node.items()}
            reference = out.get("$ref")
            if isinstance(reference, str) and reference.startswith("#/$defs/"):
                out["$ref"] = f"#/components/schemas/{feature}.{reference.removeprefix('#/$defs/')}"
            return out
        if isinstance(node, list):
            return [rewrite(item) for item in node]
        return node

    return {f"{feature}.{name}": rewrite(schema) for name, schema in definitions.items()}


def _payload_schema(
    built: Catalog, schemas: dict[str, Any], feature: str, payload: str, contracts: Mapping[str, Any]
) -> dict[str, Any] | None:
    """A reference to the schema of contract class `payload`: the feature's own, or one built from the code."""
    if not payload:
        return None
    own = f"{feature}.{payload.removeprefix('Model')}"
    if own in contracts:
        return {"$ref": f"#/components/schemas/{own}"}
    todo = [payload]
    while todo:
        name = todo.pop()
        if name not in schemas:
            schemas[name] = _model_schema(built, name)
            todo.extend(_references(schemas[name]))
    return {"$ref": f"#/components/schemas/{payload}"}


def _references(schema: Any) -> Iterator[str]:
    if isinstance(schema, dict):
        reference = schema.get("$ref")
        if isinstance(reference, str) and reference.startswith("#/components/schemas/"):
            yield reference.removeprefix("#/components/schemas/")
        for value in schema.values():
            yield from _references(value)
    elif isinstance(schema, list):
        for item in schema:
            yield from _references(item)


#: JSON Schema of the annotations a model built from the code may use.
_SIMPLE_TYPES: dict[str, dict[str, Any]] = {
    "str": {"type": "string"},
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "bool": {"type": "boolean"},
    "UUID": {"type": "string", "format": "uuid"},
    "datetime": {"type": "string", "format": "date-time"},
    "AwareDatetime": {"type": "string", "format": "date-time"},
    "date": {"type": "string", "format": "date"},
    "JsonValue": {},
    "None": {"type": "null"},
}


def _model_schema(built: Catalog, name: str) -> dict[str, Any]:
    """A JSON Schema of model class `name`, read from its syntax tree.

    It holds the fields with their descriptions and simple types, and references to the
    other models and enums of the project.
    """
    info = built.find(name)
    if info is None:
        return {"type": "object", "title": name}
    if built.is_enum(name):
        return {
            "title": name,
            "description": docstring_summary(info.node),
            "enum": [v for _, v in _enum_members(info.node)],
        }
    properties: dict[str, Any] = {}
    required: list[str] = []
    for item in info.node.body:
        if not isinstance(item, ast.AnnAssign) or not isinstance(item.target, ast.Name):
            continue
        field_name = item.target.id
        if field_name == "model_config" or base_name(item.annotation) == "ClassVar":
            continue
        typed = _annotation_schema(built, item.annotation)
        if "$ref" in typed:  # a reference takes no sibling keywords in the draft AsyncAPI schemas build on
            typed = {"allOf": [typed]}
        description = _field_description(item.value)
        properties[field_name] = {**typed, **({"description": description} if description else {})}
        if _is_required(item.value):
            required.append(field_name)
    schema: dict[str, Any] = {"type": "object", "title": name, "description": docstring_summary(info.node)}
    schema["properties"] = properties
    if required:
        schema["required"] = required
    return schema


#: JSON Schema of the generic containers a model built from the code may use.
_CONTAINERS: dict[str, dict[str, Any]] = {
    "dict": {"type": "object"},
    "Mapping": {"type": "object"},
    "list": {"type": "array"},
    "tuple": {"type": "array"},
    "Sequence": {"type": "array"},
    "set": {"type": "array"},
    "frozenset": {"type": "array"},
}


def _annotation_schema(built: Catalog, annotation: ast.expr) -> dict[str, Any]:
    if isinstance(annotation, ast.BinOp) and isinstance(annotation.op, ast.BitOr):
        options = [_annotation_schema(built, side) for side in (annotation.left, annotation.right)]
        return {"anyOf": [option for option in options if option] or [{}]}
    if isinstance(annotation, ast.Subscript):
        outer = base_name(annotation.value)
        if outer in ("SerializeAsAny", "Annotated"):
            inner = annotation.slice.elts[0] if isinstance(annotation.slice, ast.Tuple) else annotation.slice
            return _annotation_schema(built, inner)
        return dict(_CONTAINERS.get(outer, {}))
    name = base_name(annotation) or ast.unparse(annotation)
    if name in _SIMPLE_TYPES:
        return dict(_SIMPLE_TYPES[name])
    if built.find(name) is not None and (built.is_model(name) or built.is_enum(name)):
        return {"$ref": f"#/components/schemas/{name}"}
    return {}


def _field_description(value: ast.expr | None) -> str:
    if isinstance(value, ast.Call) and base_name(value.func) == "Field":
        description = call_keyword(value, "description")
        if isinstance(description, ast.Constant) and isinstance(description.value, str):
            return description.value
    return ""


def _is_required(value: ast.expr | None) -> bool:
    if value is None:
        return True
    if isinstance(value, ast.Call) and base_name(value.func) == "Field":
        has_default = call_keyword(value, "default") is not None or call_keyword(value, "default_factory") is not None
        positional_default = bool(value.args) and not (
            isinstance(value.args[0], ast.Constant) and value.args[0].value is Ellipsis
        )
        return not (has_default or positional_default)
    return False


def _nodes_section(built: Catalog) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = []
    for node in built.project.nodes:
        info = built.find(node.class_name, node.path) if node.class_name else None
        contract = built.contract_of(info) if info else None
        nodes.append(
            {
                "name": node.name,
                "archetype": node.archetype,
                "class": node.class_name,
                "module": built.project.relative(node.path),
                "summary": docstring_summary(info.node) if info else "",
                "input": contract[0] if contract else "",
                "output": contract[1] if contract else "",
                "custom": node.custom,
            }
        )
    return nodes


def _features_section(built: Catalog) -> list[dict[str, Any]]:
    features: list[dict[str, Any]] = []
    for feature in built.project.features:
        wiring = built.wiring(feature.name)
        features.append(
            {
                "name": feature.name,
                "description": wiring.description if wiring else "",
                "request": wiring.names.get("request_model", "") if wiring else "",
                "response": wiring.names.get("response_model", "") if wiring else "",
                "steps": [{"name": name, "node": node} for name, node in built.workflow_steps(feature.name)],
            }
        )
    return features


def dump_document(document: Mapping[str, Any]) -> str:
    """The document as the YAML text `python -m quality.catalog` writes."""
    return HEADER + yaml.dump(dict(document), Dumper=_DUMPER, sort_keys=False, allow_unicode=True, width=120)


def committed_document(project: Project) -> object:
    """The committed document, parsed (None when there is none; the error text when it is not YAML)."""
    path = project.root / DOCUMENT
    if not path.is_file():
        return None
    try:
        return load_yaml(path)
    except yaml.YAMLError as error:
        return f"not YAML: {error}"


def main(argv: list[str] | None = None) -> int:
    """Write the AsyncAPI document, or with `--check` say whether the committed one is current (exit 1 if not)."""
    parser = argparse.ArgumentParser(prog="python -m quality.catalog", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the document is current")
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent, help="the project root")
    arguments = parser.parse_args(argv)
    project = Project(arguments.root)
    target = project.root / DOCUMENT
    document = asyncapi_document(project)
    current = committed_document(project) == document
    if arguments.check:
        sys.stdout.write(f"{DOCUMENT} is {'current' if current else 'not current: run python -m quality.catalog'}\n")
        return 0 if current else 1
    if not current:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(dump_document(document), encoding="utf-8")
    sys.stdout.write(f"wrote {DOCUMENT}\n" if not current else f"{DOCUMENT} is current\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
