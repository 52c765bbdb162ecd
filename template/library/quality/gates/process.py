"""PV-001..PV-003: typed workflow state, no cross-talk between concurrent runs, consistent results.

- PV-001 Context Synchronization: every workflow step that takes a `Context` takes
  `Context[<State>]`, one state class per workflow, derived from `ModelFeatureState`,
  whose fields are typed (no `Any`, `object` or `dict[str, Any]` grab bags, no
  `extra="allow"`); and no code reads or writes workflow state by string key
  (`ctx.store.get("…")`, `ctx.store.set("…")`, `ctx.get/set`) or stuffs keys into a
  state field (`state.x["key"] = …`, `state.x.update(…)`).
- PV-002 Coordination Validation: `concurrent_runs` runs (at least `copies` of
  each request) of every feature's requests at once on one container, each
  request made unique by a tag (`runtime.variant`) and given its own correlation
  id. Each run must end in exactly one outcome event carrying its own correlation
  id; nothing a run emits may carry another run's correlation id or workflow id,
  nor the tag of another run of its feature (a feature may read what other
  features wrote).
- PV-003 Result Consistency: every request once per pass (as the same tagged
  variant each time), on a fresh database per pass: twice one after the other,
  once all at once. Each run's signature must be the same in all three passes:
  its outcome event type, the handler's error, its outcome payload, and every
  event it emitted (type, topic, payload) in order, with volatile values
  normalised (see `signature`).
"""

from __future__ import annotations

import ast
import asyncio
import fnmatch
import inspect
import re
import types
import typing
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..model import Finding, GateSkipped, gate
from ..project import Project
from ..runtime import Library, Options, Request, RunRecord, Session, has_features, new_tag, requests, running, variant

__all__ = ["consistency", "context_synchronization", "coordination", "signature"]

#: Findings shown per gate before the rest are summed up in one line.
MAX_FINDINGS = 12

#: Payload keys whose values differ between identical runs by design (fnmatch patterns, case-insensitive).
VOLATILE_KEYS = ("id", "*_id", "*_at", "timestamp", "*token*", "*hash*", "*secret*", "*nonce*", "*salt*")

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?")
_TAG = re.compile(r"t[0-9a-f]{8}")

#: Methods that add or remove keys of a mapping.
_KEY_WRITERS = frozenset({"update", "setdefault", "pop", "popitem", "clear", "__setitem__", "__delitem__"})


@gate("PV-001")
def context_synchronization(project: Project) -> Iterator[Finding]:
    """Workflow state is typed and only reached through its typed fields."""
    findings = [finding for path in project.python_files() for finding in _string_keyed_state(project, path)]
    if has_features(project):
        with running(project, need_features=False) as loaded:
            for feature in loaded.features:
                findings += _typed_state(project, loaded, feature)
            if not (findings or loaded.features):
                raise GateSkipped("no workflow to check: the library has no features yet")
    elif not findings:
        raise GateSkipped("no workflow to check: the library has no workflow orchestrator")
    yield from findings


def _typed_state(project: Project, loaded: Library, feature: Any) -> Iterator[Finding]:
    """Each step's Context is typed with the feature's one state class, and that class is typed."""
    from workflows.utils import get_steps_from_class  # noqa: PLC0415 - the library's dependency, imported with it

    base = loaded.attribute("features.runtime", "ModelFeatureState")
    workflow = feature.workflow_class
    states: set[type] = set()
    for name, function in sorted(get_steps_from_class(workflow).items()):
        config = function._step_config
        if config.context_parameter is None:
            continue
        where = _source(project, function)
        state = config.context_state_type
        if state is None:
            yield Finding(
                *where,
                f"step {workflow.__name__}.{name} takes an untyped Context: declare "
                f"`{config.context_parameter}: Context[<the feature's state class>]`",
            )
        elif not issubclass(state, base):
            yield Finding(
                *where,
                f"step {workflow.__name__}.{name} keeps its state in {getattr(state, '__name__', state)!r}, "
                f"which does not derive from {base.__name__}",
            )
        else:
            states.add(state)
    if len(states) > 1:
        names = ", ".join(sorted(state.__name__ for state in states))
        yield Finding(
            *_source(project, workflow),
            f"the steps of {workflow.__name__} type their Context with different state classes ({names}): "
            "one run has one state",
        )
    for state in sorted(states, key=lambda state: state.__name__):
        yield from _state_fields(project, state)


def _state_fields(project: Project, state: Any) -> Iterator[Finding]:
    """A state class whose fields take arbitrary keys or values."""
    where = _source(project, state)
    if state.model_config.get("extra") == "allow":
        yield Finding(*where, f"{state.__name__} allows extra fields: every value of a run needs a declared field")
    for name, info in state.model_fields.items():
        if _untyped(info.annotation):
            yield Finding(
                *where,
                f"{state.__name__}.{name} is typed {_describe(info.annotation)}: "
                "give it a model or a precise type instead of a bag of untyped keys",
            )


def _untyped(annotation: object) -> bool:
    """`Any`, `object`, a bare `dict`, or a mapping to `Any`/`object`, possibly in a union."""
    if annotation in (Any, object, dict):
        return True
    origin = typing.get_origin(annotation)
    arguments = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_untyped(argument) for argument in arguments)
    if origin in (dict, Mapping, typing.Mapping) or (isinstance(origin, type) and issubclass(origin, Mapping)):
        return not arguments or arguments[-1] in (Any, object)
    return False


def _describe(annotation: object) -> str:
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


def _source(project: Project, item: Any) -> tuple[str, int | None]:
    """The project-relative file and line where `item` (a function or class) is defined."""
    try:
        path = inspect.getsourcefile(item)
        line = inspect.getsourcelines(item)[1]
    except (OSError, TypeError):
        return "", None
    return (project.relative(Path(path)), line) if path else ("", None)


def _string_keyed_state(project: Project, path: Path) -> Iterator[Finding]:
    """Calls that reach workflow state by string key, and writes of keys into a state field."""
    try:
        tree = project.module(path)
    except SyntaxError:
        return
    where = project.relative(path)
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        contexts, states = _state_names(function)
        for node in ast.walk(function):
            message = _keyed_access(node, contexts, states)
            if message:
                yield Finding(where, getattr(node, "lineno", None), f"{function.name}: {message}")


def _state_names(function: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[set[str], set[str]]:
    """The function's names bound to a workflow Context, and to a state model."""
    contexts: set[str] = set()
    states: set[str] = set()
    arguments = function.args
    for argument in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]:
        annotation = ast.unparse(argument.annotation) if argument.annotation else ""
        if annotation == "Context" or annotation.startswith("Context["):
            contexts.add(argument.arg)
        elif re.search(r"State\b", annotation):
            states.add(argument.arg)
    for node in ast.walk(function):
        if isinstance(node, ast.AsyncWith | ast.With):
            for item in node.items:
                call = item.context_expr
                if (
                    isinstance(call, ast.Call)
                    and isinstance(call.func, ast.Attribute)
                    and call.func.attr == "edit_state"
                    and isinstance(item.optional_vars, ast.Name)
                ):
                    states.add(item.optional_vars.id)
    return contexts, states


def _keyed_access(node: ast.AST, contexts: set[str], states: set[str]) -> str:
    """Why `node` reaches state by key ("" when it does not)."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        method, owner = node.func.attr, node.func.value
        if method in ("get", "set") and isinstance(owner, ast.Attribute) and owner.attr == "store":
            return (
                f"`{ast.unparse(node.func)}(…)` reaches workflow state by string key; "
                "use the typed state (`async with ctx.store.edit_state() as state: state.<field> = …`)"
            )
        if method in ("get", "set") and isinstance(owner, ast.Name) and owner.id in contexts:
            return f"`{ast.unparse(node.func)}(…)` stores untyped keys in the Context; use its typed state"
        if method in _KEY_WRITERS and _state_field(owner, states):
            return f"`{ast.unparse(node.func)}(…)` adds untyped keys to a state field; declare a typed field instead"
    targets: list[ast.expr] = []
    if isinstance(node, ast.Assign | ast.Delete):
        targets = node.targets
    elif isinstance(node, ast.AugAssign | ast.AnnAssign):
        targets = [node.target]
    for target in targets:
        if isinstance(target, ast.Subscript) and _state_field(target.value, states):
            return f"`{ast.unparse(target)}` writes an untyped key into a state field; declare a typed field instead"
    return ""


def _state_field(node: ast.expr, states: set[str]) -> bool:
    """`state.<field>` for a name bound to a state model."""
    return isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in states


@gate("PV-002")
def coordination(project: Project) -> Iterator[Finding]:
    """Concurrent runs on one container keep their correlation ids, workflow ids and data apart."""
    options = Options(project.options("PV-002"))
    with running(project) as loaded:
        planned, unrunnable = requests(project, loaded)
        yield from unrunnable
        if planned:
            count = max(options.integer("concurrent_runs", 20), options.integer("copies", 3) * len(planned))
            records = asyncio.run(_burst(loaded, planned, count))
            yield from _capped(_cross_talk(project, records))


async def _burst(loaded: Library, planned: Sequence[Request], count: int) -> list[RunRecord]:
    """`count` runs at once, cycling through `planned`, each a tagged variant of its request."""
    async with Session(loaded) as session:
        runs = []
        for index in range(count):
            request = planned[index % len(planned)]
            tag = new_tag()
            payload = variant(loaded.feature(request.feature), request.payload, tag, loaded.error_class)
            runs.append(session.run(request, payload=payload, tag=tag if payload != request.payload else ""))
        return list(await asyncio.gather(*runs))


def _cross_talk(project: Project, records: Sequence[RunRecord]) -> Iterator[Finding]:
    """What one run emitted that belongs to another run."""
    by_correlation = {record.correlation_id: record for record in records}
    by_tag = {record.tag: record for record in records if record.tag}
    owners: dict[str, RunRecord] = {}
    for record in records:
        where = _feature_path(project, record.request.feature)
        if record.error:
            yield Finding(where, None, f"{record.label}: the handler raised {record.error}")
        if len(record.outcomes) != 1:
            yield Finding(where, None, f"{record.label} ended in {len(record.outcomes)} outcome events, not one")
        for outcome in record.outcomes:
            if outcome.envelope.correlation_id != record.correlation_id:
                yield Finding(
                    where,
                    None,
                    f"{record.label}: its {outcome.envelope.event_type} event carries correlation id "
                    f"{outcome.envelope.correlation_id}, not its request's {record.correlation_id}",
                )
        for emitted in record.emitted:
            event = f"{emitted.envelope.event_type} on {emitted.topic}"
            other = by_correlation.get(emitted.envelope.correlation_id)
            if other is not None and other is not record:
                yield Finding(where, None, f"{record.label} emitted {event} with the correlation id of {other.label}")
            for tag in sorted(set(_TAG.findall(emitted.text)) - {record.tag}):
                # Another feature may read what other runs wrote (a read model): only its own feature is foreign.
                if tag in by_tag and by_tag[tag].request.feature == record.request.feature:
                    yield Finding(where, None, f"{record.label} emitted {event} carrying data of {by_tag[tag].label}")
            workflow_id = str(getattr(emitted.envelope.payload, "workflow_id", None) or "")
            owner = owners.setdefault(workflow_id, record) if workflow_id else record
            if owner is not record:
                yield Finding(where, None, f"{record.label} emitted {event} about the workflow run of {owner.label}")


@gate("PV-003")
def consistency(project: Project) -> Iterator[Finding]:
    """Each request gives the same outcome twice in a row and when all run at once."""
    keys = Options(project.options("PV-003")).strings("volatile_keys", VOLATILE_KEYS)
    with running(project) as loaded:
        planned, unrunnable = requests(project, loaded)
        yield from unrunnable
        if not planned:
            return
        first, second, together = asyncio.run(_passes(loaded, planned, keys))
    findings = []
    for request, one, two, three in zip(planned, first, second, together, strict=True):
        where = project.relative(project.src / "features" / request.feature)
        difference = _difference(one, two)
        if difference:
            findings.append(Finding(where, None, f"{request.label}: two runs in a row differ: {difference}"))
        difference = _difference(one, three)
        if difference:
            findings.append(Finding(where, None, f"{request.label}: differs when run concurrently: {difference}"))
    yield from _capped(findings)


async def _passes(
    loaded: Library, planned: Sequence[Request], keys: Sequence[str]
) -> tuple[list[object], list[object], list[object]]:
    """The signatures of every request: two sequential passes and a concurrent one, each on a fresh database.

    Each request runs as the same tagged variant in every pass, so that two
    examples writing under one key (each meant for an empty library) do not collide.
    """
    tags = [new_tag() for _ in planned]
    payloads = [
        variant(loaded.feature(request.feature), request.payload, tag, loaded.error_class)
        for request, tag in zip(planned, tags, strict=True)
    ]
    runs = list(zip(planned, payloads, tags, strict=True))
    results: list[list[object]] = []
    for concurrent in (False, False, True):
        async with Session(loaded) as session:
            if concurrent:
                records = list(await asyncio.gather(*(session.run(r, payload=p, tag=t) for r, p, t in runs)))
            else:
                records = [await session.run(r, payload=p, tag=t) for r, p, t in runs]
            results.append([signature(record, session.folder, keys) for record in records])
    return results[0], results[1], results[2]


def signature(record: RunRecord, folder: Path, keys: Sequence[str] = VOLATILE_KEYS) -> dict[str, object]:
    """What must be the same for the same request: outcome, error, payload, and every event emitted, in order.

    Normalised: values under a volatile key (`keys`: ids, times, tokens, hashes,
    secrets) become `<volatile>`; in every string, UUIDs become `<uuid>`, RFC 3339
    timestamps `<date-time>` and the session's temporary folder `<tmp>`.
    """
    outcome = record.outcomes[0].envelope if len(record.outcomes) == 1 else None
    return {
        "outcome": outcome.event_type if outcome is not None else f"{len(record.outcomes)} outcome events",
        "error": _normal_text(record.error, folder),
        "payload": _normal(outcome.payload.model_dump(mode="json"), folder, keys) if outcome is not None else None,
        "events": [
            {
                "event_type": emitted.envelope.event_type,
                "topic": emitted.topic,
                "payload": _normal(emitted.envelope.payload.model_dump(mode="json"), folder, keys),
            }
            for emitted in record.emitted
        ],
    }


def _normal(value: object, folder: Path, keys: Sequence[str]) -> object:
    if isinstance(value, dict):
        return {
            key: "<volatile>" if _volatile(str(key), keys) else _normal(item, folder, keys)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_normal(item, folder, keys) for item in value]
    if isinstance(value, str):
        return _normal_text(value, folder)
    return value


def _volatile(key: str, keys: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(key.lower(), pattern) for pattern in keys)


def _normal_text(text: str, folder: Path) -> str:
    text = text.replace(str(folder), "<tmp>")
    return _DATE_TIME.sub("<date-time>", _UUID.sub("<uuid>", text))


def _difference(first: object, second: object, path: str = "") -> str:
    """Where `first` and `second` first differ (`payload.display_name: 'Ada' != 'Bob'`), "" when equal."""
    if isinstance(first, dict) and isinstance(second, dict):
        for key in [*first, *(key for key in second if key not in first)]:
            found = _difference(first.get(key, "<missing>"), second.get(key, "<missing>"), f"{path}.{key}")
            if found:
                return found
        return ""
    if isinstance(first, list) and isinstance(second, list) and len(first) == len(second):
        for index, (one, two) in enumerate(zip(first, second, strict=True)):
            found = _difference(one, two, f"{path}[{index}]")
            if found:
                return found
        return ""
    if first == second:
        return ""
    return f"{path.lstrip('.') or 'value'}: {_short(first)} != {_short(second)}"


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 120 else f"{text[:117]}..."  # noqa: PLR2004 - a readable finding


def _feature_path(project: Project, feature: str) -> str:
    return project.relative(project.src / "features" / feature)


def _capped(findings: Iterable[Finding]) -> Iterator[Finding]:
    """The first `MAX_FINDINGS` findings, then one that counts the rest."""
    rest = 0
    for index, finding in enumerate(findings):
        if index < MAX_FINDINGS:
            yield finding
        else:
            rest += 1
    if rest:
        yield Finding("", None, f"... and {rest} more findings like these")
