"""CV-002, CV-003: topics have both ends; steps delegate to nodes through the container, intents reach effects.

CV-002 Node Coordination, the model
    A topic is *declared* by a module-level `*_TOPIC` string constant of src (a feature's `events.py` holds its
    REQUESTED_TOPIC, COMPLETED_TOPIC and FAILED_TOPIC), by a publish step of a feature's spec
    (`onex.evt.<pkg>.<event>.v1`), or by an enum topic family (the workflow orchestrator's lifecycle topics).
    The library *subscribes* to a topic through a feature's handler (the `requested` topic of its
    `FEATURE = Feature(..., topics=FeatureTopics(...), handler_class=...)`) and through `bus.subscribe(topic, ...)`
    calls; it *produces* a topic through a feature's handler (its `completed` and `failed` topics), through
    `bus.publish(topic, ...)` calls, `event_bus.publish` intents and enum topic families. Requested topics are
    produced by clients, outside the library; the events the library sends out (a feature's outcomes, the events
    its publish steps announce, lifecycle events) are subscribed to by the world outside, through the catalog
    (IV-003's AsyncAPI document lists them as `send` operations). So:

    * every feature declares `FEATURE` with a handler class of its `handlers.py` (a `FeatureHandler`) and its
      three topics, each the feature's own `events.py` constant: the handler subscribes to the requested topic
      (`onex.cmd.<pkg>.<name>-requested.v1`) and produces the other two (`onex.evt.<pkg>...`); no two features
      serve one requested topic;
    * every topic a feature's code publishes on is a literal or a constant, and is declared: an undeclared topic
      has no subscriber, inside the library or out;
    * every topic subscribed to has a producer: a feature's requested topic, a topic something in the library
      publishes, or a dead-letter topic (`<topic>.dlq`) of a subscribed one;
    * every declared topic has an end in the library: it is published or subscribed to (a spec's publish step
      whose workflow no longer publishes, a `*_TOPIC` nothing uses, fail);
    * every topic follows `onex.<cmd|evt>.<package>.<name>.v<N>`.

CV-003 Delegation Validation
    * Outside `core/`, no code builds a node itself (`NodeX(...)`): feature steps and hooks ask the container for
      it (`self.node(NodeX)`, `container.node(NodeX)`, `container.start_node(NodeX)`), which injects settings and
      services and runs its lifecycle.
    * Every intent built in src (`ModelIntent(intent_type=..., ...)`, a literal or a module constant) has exactly
      one effect node listing its type in `handled_intents`, as `core.registry.intent_routes` routes it;
      `<node>.<operation>` types name the effect's `node_name`; an effect that lists intents overrides
      `execute_intent`, and only effect nodes list them.
"""

from __future__ import annotations

import ast
from collections.abc import Generator, Iterator
from pathlib import Path

from ..catalog import TOPIC, Catalog, ClassInfo, base_name, catalog
from ..model import Finding, gate
from ..project import Project

__all__ = ["delegation_validation", "node_coordination"]

# ---------------------------------------------------------------------------- CV-002 Node Coordination

#: The `FeatureTopics` fields, with the constant of `events.py` each must name and its topic kind.
FEATURE_TOPICS = {
    "requested": ("REQUESTED_TOPIC", "cmd"),
    "completed": ("COMPLETED_TOPIC", "evt"),
    "failed": ("FAILED_TOPIC", "evt"),
}


@gate("CV-002")
def node_coordination(project: Project) -> Iterator[Finding]:
    """Every published topic has a subscriber and every subscription a producer."""
    built = catalog(project)
    declared = built.declared_topics()
    served: dict[str, list[str]] = {}
    produced: set[str] = set()
    for feature in project.features:
        topics = yield from _feature_wiring(project, built, feature.name, feature.path)
        if "requested" in topics:
            served.setdefault(topics["requested"], []).append(feature.name)
        produced.update(topic for role, topic in topics.items() if role != "requested")
    for topic, features in served.items():
        if len(features) > 1:
            yield Finding(
                project.relative(project.src / "features" / features[-1] / "__init__.py"),
                None,
                f"features {', '.join(features)} all serve {topic}: each request would run once per feature",
            )
    uses = built.bus_uses()
    produced.update(use.topic for use in uses if use.kind == "publish" and use.topic)
    produced.update(built.enum_topics())
    subscribed = set(served) | {use.topic for use in uses if use.kind == "subscribe" and use.topic}
    for use in uses:
        where = project.relative(use.path)
        if use.topic is None:
            if use.feature:
                yield Finding(
                    where,
                    use.line,
                    f"{use.kind}s on a topic computed at run time: use a declared *_TOPIC constant so the topic's "
                    "other end can be checked",
                )
        elif use.kind == "publish" and use.topic not in declared:
            yield Finding(
                where,
                use.line,
                f"publishes on {use.topic}, which nothing declares (no *_TOPIC constant, no publish step in a spec): "
                "nothing subscribes to it, in the library or out",
            )
        elif use.kind == "subscribe" and not _has_producer(use.topic, produced, served, subscribed):
            yield Finding(where, use.line, f"subscribes to {use.topic}, which nothing in the library produces")
    for topic, (path, line) in sorted(declared.items()):
        if topic not in produced and topic not in subscribed:
            yield Finding(
                project.relative(path),
                line,
                f"declares {topic}, but nothing publishes or subscribes to it: publish it, or drop the declaration",
            )
        yield from _topic_shape(project, topic, path, line)


def _has_producer(topic: str, produced: set[str], served: dict[str, list[str]], subscribed: set[str]) -> bool:
    dead_letters = topic.endswith(".dlq") and topic.removesuffix(".dlq") in subscribed
    return topic in produced or topic in served or dead_letters


def _topic_shape(project: Project, topic: str, path: Path, line: int) -> Iterator[Finding]:
    match = TOPIC.match(topic)
    if match is None or match["package"] != project.package:
        yield Finding(
            project.relative(path),
            line,
            f"topic {topic} does not follow onex.<cmd|evt>.{project.package}.<name>.v<N>",
        )


def _feature_wiring(
    project: Project, built: Catalog, feature: str, folder: Path
) -> Generator[Finding, None, dict[str, str]]:
    """Yield what is wrong with how the feature's FEATURE wires its topics; return its topics by role."""
    init = project.relative(folder / "__init__.py")
    wiring = built.wiring(feature)
    if wiring is None:
        yield Finding(
            init, None, f"feature {feature} declares no FEATURE = Feature(...): no handler subscribes to its topics"
        )
        return {}
    handler = wiring.names.get("handler_class", "")
    info = built.find(handler, folder / "handlers.py") if handler else None
    if info is None or "FeatureHandler" not in built.ancestors(info.name):
        yield Finding(
            init,
            wiring.line,
            f"FEATURE's handler_class {handler or '<none>'} is no FeatureHandler of handlers.py: nothing subscribes "
            f"to the {feature} requests",
        )
    constants = built.constants.get(folder / "events.py", {})
    topics: dict[str, str] = {}
    for role, (constant, kind) in FEATURE_TOPICS.items():
        topic, expected = wiring.topics.get(role), constants.get(constant)
        if topic is None or topic != expected:
            consequence = "no handler subscribes to it" if role == "requested" else "the handler does not publish it"
            yield Finding(
                init,
                wiring.line,
                f"FEATURE's topics.{role} is {topic or '<not a declared topic>'}, not {constant} of events.py "
                f"({expected or 'missing'}): {consequence}",
            )
        if topic is not None:
            topics[role] = topic
            match = TOPIC.match(topic)
            if match is not None and match["kind"] != kind:
                yield Finding(init, wiring.line, f"topics.{role} {topic} should be an onex.{kind}.* topic")
    return topics


# ---------------------------------------------------------------------------- CV-003 Delegation Validation


@gate("CV-003")
def delegation_validation(project: Project) -> Iterator[Finding]:
    """Steps reach nodes through the container; every intent type has an effect that executes it."""
    built = catalog(project)
    yield from _direct_node_construction(project, built)
    yield from _intent_routes(project, built)


def _direct_node_construction(project: Project, built: Catalog) -> Iterator[Finding]:
    core = project.src / "core"
    for path in project.python_files():
        if core in path.parents:
            continue
        for call in built.calls_in(path):
            name = base_name(call.func)
            if name in built.classes and built.is_node(name):
                yield Finding(
                    project.relative(path),
                    call.lineno,
                    f"builds {name} itself: ask the container for it (self.node({name}) in a step, "
                    f"container.node({name}) or await container.start_node({name})), which injects its settings "
                    "and runs its lifecycle",
                )


def _intent_routes(project: Project, built: Catalog) -> Iterator[Finding]:
    routes = built.handled_intents()
    for intent_type, handlers in sorted(routes.items()):
        yield from _handlers_of(project, built, intent_type, handlers)
    for emission in built.intent_emissions():
        where = project.relative(emission.path)
        if emission.intent_type is None:
            yield Finding(
                where,
                emission.line,
                "builds an intent whose type is computed at run time: use a literal or a module constant, so its "
                "route to an effect can be checked",
            )
        elif emission.intent_type not in routes:
            known = ", ".join(sorted(routes)) or "none"
            yield Finding(
                where,
                emission.line,
                f"emits intent {emission.intent_type}, which no effect node executes (handled intents: {known}): "
                "add it to an effect's handled_intents and carry it out in execute_intent",
            )


def _handlers_of(project: Project, built: Catalog, intent_type: str, handlers: list[ClassInfo]) -> Iterator[Finding]:
    if len(handlers) > 1:
        names = ", ".join(info.name for info in handlers)
        yield Finding(
            project.relative(handlers[1].path),
            handlers[1].line,
            f"intent {intent_type} is claimed by {names}: the container routes each intent type to one effect",
        )
    for info in handlers:
        where = project.relative(info.path)
        if "NodeEffect" not in built.ancestors(info.name):
            yield Finding(
                where, info.line, f"{info.name} lists handled_intents but only effect nodes carry out intents"
            )
            continue
        lineage = [info, *(p for base in built.ancestors(info.name) for p in built.classes.get(base, []))]
        if not any(_defines(current.node, "execute_intent") for current in lineage if current.name != "NodeEffect"):
            yield Finding(
                where,
                info.line,
                f"{info.name} lists {intent_type} in handled_intents but does not override execute_intent",
            )
        node_name = _node_name(info.node)
        prefix = intent_type.split(".", 1)[0]
        if node_name and prefix != node_name:
            yield Finding(
                where,
                info.line,
                f"{info.name} (node {node_name!r}) handles {intent_type}: intent types are <node>.<operation> of the "
                "effect that runs them",
            )


def _defines(node: ast.ClassDef, method: str) -> bool:
    return any(isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and item.name == method for item in node.body)


def _node_name(node: ast.ClassDef) -> str:
    for item in node.body:
        if (
            isinstance(item, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "node_name" for t in item.targets)
            and isinstance(item.value, ast.Constant)
        ):
            return str(item.value.value)
    return ""
