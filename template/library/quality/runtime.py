"""Running the library for the runtime gates: throwaway embedded settings, feature runs, recorded envelopes.

The runtime gates import the library (through `Project.import_path`) and run it the
way a user does, on embedded backends in a temporary folder: SQLite, files, log
file, and the in-memory bus, which records every envelope it carries (`Session`).
Each run is a request envelope handed to the feature's bus handler, the path a
request from the bus takes; the run's task carries its index in a context
variable that every task it starts inherits, so each recorded envelope is
attributed to the run that emitted it without trusting the envelope's own ids.

What runs: each feature's `examples` (from its answers file, inputs as given),
or, for a feature without examples, a minimal request built from its request
contract. `variant` makes a request unique (a tag in its text fields) so that
many runs can share one database without colliding on keys.

Settings (`settings`): the library's own, as configured (environment, `.env`),
with the stores moved to the temporary folder; gates that check behaviour rather
than speed also make password hashing as cheap as the settings allow and retries
immediate.

Checks that measure the whole process (memory, file descriptors, threads,
`ResourceWarning`s) cannot share it with gates running in other threads: they
run in a child interpreter with `run_child`.
"""

from __future__ import annotations

import asyncio
import contextvars
import importlib
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict

from .model import Finding, GateSkipped
from .project import FeatureInfo, Project

__all__ = [
    "CHEAP_HASHING",
    "INSTANT_RETRIES",
    "MINIMAL",
    "RUN",
    "RUN_TIMEOUT_SECONDS",
    "Emitted",
    "Library",
    "Options",
    "RecordingEventBus",
    "Request",
    "RunRecord",
    "Session",
    "child_error",
    "child_json",
    "has_features",
    "library",
    "new_tag",
    "percentile",
    "requests",
    "run_child",
    "running",
    "settings",
    "variant",
]

#: The index of the run the current task works for (None outside runs); tasks inherit it.
RUN: contextvars.ContextVar[int | None] = contextvars.ContextVar("quality_run", default=None)

#: How long one run may take before a gate gives up on it.
RUN_TIMEOUT_SECONDS = 60.0

#: The cheapest password hashing the settings accept (argon2id and scrypt are slow by design).
CHEAP_HASHING: dict[str, object] = {
    "password_argon2_time_cost": 1,
    "password_argon2_memory_kib": 1024,
    "password_argon2_parallelism": 1,
    "password_scrypt_log2_n": 10,
}

#: Retries without waiting between attempts.
INSTANT_RETRIES: dict[str, object] = {
    "workflow_retry_initial_delay_seconds": 0.0,
    "workflow_retry_max_delay_seconds": 0.0,
    "retry_initial_delay_seconds": 0.0,
    "retry_max_delay_seconds": 0.0,
}


@dataclass(frozen=True)
class Library:
    """The parts of the imported library the runtime gates use (untyped here: the package name varies).

    Attributes:
        package: The import name.
        modules: The imported modules by dotted name relative to the package (`core.container`).
        features: The library's `Feature`s, from `features.discover_features()`; () without features.
        nodes: The `NodeDescriptor`s of `core.registry.discover_nodes()`.
    """

    package: str
    modules: Mapping[str, Any]
    features: tuple[Any, ...]
    nodes: tuple[Any, ...]

    def attribute(self, module: str, name: str) -> Any:
        """`name` from the library module `module` (`"core.errors", "OnexError"`)."""
        return getattr(self.modules[module], name)

    @property
    def error_class(self) -> type[Exception]:
        """`OnexError`."""
        error: type[Exception] = self.attribute("core.errors", "OnexError")
        return error

    def feature(self, name: str) -> Any:
        """The feature called `name`."""
        for feature in self.features:
            if feature.name == name:
                return feature
        raise KeyError(name)


_LIBRARIES: dict[Path, Library] = {}
_LIBRARIES_LOCK = threading.Lock()


def has_features(project: Project) -> bool:
    """Whether the library can have features: it has the workflow orchestrator and `features/runtime.py`."""
    return (project.src / "features" / "runtime.py").is_file()


def library(project: Project) -> Library:
    """The library of `project`, imported once per process (call inside `project.import_path()`)."""
    with _LIBRARIES_LOCK:
        loaded = _LIBRARIES.get(project.root)
        if loaded is None:
            names = ["core.container", "core.envelope", "core.errors", "core.nodes", "core.registry", "core.settings"]
            if has_features(project):
                names += ["features", "features.runtime"]
            modules = {name: importlib.import_module(f"{project.package}.{name}") for name in names}
            features = tuple(modules["features"].discover_features()) if "features" in modules else ()
            nodes = tuple(modules["core.registry"].discover_nodes())
            loaded = _LIBRARIES[project.root] = Library(project.package, modules, features, nodes)
        return loaded


@contextmanager
def running(project: Project, *, need_features: bool = True) -> Iterator[Library]:
    """The imported library, with the project on `sys.path` for the whole block.

    Raises:
        GateSkipped: `need_features` and the library has no features.
    """
    with project.import_path():
        loaded = library(project)
        if need_features and not loaded.features:
            why = "it has no features yet" if has_features(project) else "it has no workflow orchestrator"
            raise GateSkipped(f"nothing to run: {why}")
        yield loaded


@dataclass(frozen=True)
class Request:
    """One request a gate runs.

    Attributes:
        feature: The feature's name.
        name: The example's name, or `minimal request` when built from the contract.
        payload: The request as JSON (valid or not: examples may expect it to be refused).
    """

    feature: str
    name: str
    payload: object

    @property
    def label(self) -> str:
        """`register_user example ada_registers`."""
        return f"{self.feature} {self.name}" if self.name == MINIMAL else f"{self.feature} example {self.name}"


#: The name of a request built from the request contract.
MINIMAL = "minimal request"


def requests(project: Project, loaded: Library) -> tuple[list[Request], list[Finding]]:
    """Every request to run: each feature's examples, or a minimal request from its contract.

    Returns:
        The requests, by feature then example, and a finding for each feature that cannot be run.
    """
    infos = {info.name: info for info in project.features}
    found: list[Request] = []
    findings: list[Finding] = []
    for feature in loaded.features:
        info = infos.get(feature.name)
        examples = _examples(info)
        if examples:
            found += [Request(feature.name, name, payload) for name, payload in examples]
            continue
        minimal = _minimal_request(feature, info.spec if info else {}, loaded.error_class)
        if minimal is None:
            source = info.answers_file if info and info.answers_file else project.src / "features" / feature.name
            findings.append(
                Finding(
                    project.relative(source),
                    None,
                    f"{feature.name} has no examples and no valid request could be built from its contract "
                    f"{feature.request_model.__name__}: add `examples` to its spec",
                )
            )
        else:
            found.append(Request(feature.name, MINIMAL, minimal))
    return found, findings


def _examples(info: FeatureInfo | None) -> list[tuple[str, object]]:
    """The (name, input) of each example of a feature's spec."""
    raw = info.spec.get("examples") if info else None
    if not isinstance(raw, list):
        return []
    return [
        (str(item.get("name", f"#{index}")), item["input"])
        for index, item in enumerate(raw, start=1)
        if isinstance(item, dict) and "input" in item
    ]


def _minimal_request(feature: Any, spec: Mapping[str, Any], error_class: type[Exception]) -> object | None:
    """The smallest request the contract accepts (required fields only), or None when none is found.

    The contract comes from the spec (its `contracts`, formats included), else from the request model.
    """
    contracts = spec.get("contracts")
    if isinstance(contracts, dict) and isinstance(contracts.get(spec.get("input")), dict):
        schema, definitions = contracts[spec["input"]], contracts
    else:
        schema = feature.request_model.model_json_schema()
        definitions = schema.get("$defs", {})
    candidate = _instance(schema, definitions, depth=0)
    if candidate is _NOTHING:
        return None
    try:
        feature.parse_request(candidate)
    except error_class:
        return None
    return candidate


_NOTHING = object()
_MAX_DEPTH = 8
_FORMATS: dict[str, str] = {
    "email": "user@example.com",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "00:00:00",
    "uri": "https://example.com/",
    "hostname": "example.com",
    "ipv4": "127.0.0.1",
}


def _instance(schema: Mapping[str, Any], defs: Mapping[str, Any], depth: int) -> object:  # noqa: PLR0911 - one return per JSON type
    """A minimal value `schema` accepts, or `_NOTHING`."""
    if depth > _MAX_DEPTH:
        return _NOTHING
    if "$ref" in schema:
        return _instance(defs.get(str(schema["$ref"]).rsplit("/", 1)[-1], {}), defs, depth + 1)
    for key in ("default", "const"):
        if key in schema:
            return schema[key]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        for option in schema.get(key, []):
            value = _instance(option, defs, depth + 1)
            if value is not _NOTHING and value is not None:
                return value
    kind = schema.get("type")
    if kind == "object":
        properties = schema.get("properties", {})
        values = {name: _instance(properties.get(name, {}), defs, depth + 1) for name in schema.get("required", [])}
        return _NOTHING if _NOTHING in values.values() else values
    if kind == "array":
        item = _instance(schema.get("items", {}), defs, depth + 1)
        return _NOTHING if item is _NOTHING else [item] * int(schema.get("minItems", 0))
    if kind == "string":
        return _text(schema)
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", -1) + 1)
        return int(low) if kind == "integer" else float(low)
    return {"boolean": False, "null": None}.get(str(kind), _NOTHING)


def _text(schema: Mapping[str, Any]) -> object:
    """A string `schema` accepts: its format's example, or a run of one character that fits its pattern."""
    if schema.get("format") in _FORMATS:
        return _FORMATS[str(schema["format"])]
    length = max(int(schema.get("minLength", 1)), 1)
    pattern = schema.get("pattern")
    for char in "a0A_":
        candidate = char * length
        if pattern is None or re.search(str(pattern), candidate):
            return candidate
    return _NOTHING


def variant(feature: Any, payload: object, tag: str, error_class: type[Exception]) -> object:
    """`payload` with `tag` mixed into each of its text values that still validates; unchanged when invalid.

    A request the contract refuses stays as it is (it never reaches shared state).
    Text values are tagged one at a time (`ada` -> `ada_<tag>`, `ada@example.com`
    -> `ada_<tag>@example.com`, `a/b.txt` -> `a/b_<tag>.txt`), and a tagged value
    the contract refuses (an enum, a format, a length) is left as it was.
    """
    try:
        feature.parse_request(payload)
    except error_class:
        return payload
    current = payload
    for path in _text_paths(payload):
        candidate = _replace(current, path, _tagged(_get(current, path), tag))
        try:
            feature.parse_request(candidate)
        except error_class:
            continue
        current = candidate
    return current


def _text_paths(value: object, prefix: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """The paths (keys and indexes) of every string inside `value`."""
    if isinstance(value, str):
        return [prefix]
    if isinstance(value, dict):
        return [path for key, item in value.items() for path in _text_paths(item, (*prefix, key))]
    if isinstance(value, list):
        return [path for index, item in enumerate(value) for path in _text_paths(item, (*prefix, index))]
    return []


def _get(value: Any, path: tuple[object, ...]) -> str:
    for part in path:
        value = value[part]
    return str(value)


def _replace(value: object, path: tuple[object, ...], new: object) -> object:
    """A copy of `value` with the item at `path` replaced by `new`."""
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {key: _replace(item, rest, new) if key == head else item for key, item in value.items()}
    if isinstance(value, list):
        return [_replace(item, rest, new) if index == head else item for index, item in enumerate(value)]
    return value


def _tagged(text: str, tag: str) -> str:
    """`text` with `_<tag>` added where it keeps its shape: before an `@` or a file extension, else at the end."""
    if "@" in text:
        at = text.index("@")
        return f"{text[:at]}_{tag}{text[at:]}"
    folder, _, name = text.rpartition("/")
    stem, dot, extension = name.rpartition(".")
    if dot and stem:
        return f"{folder}{'/' if folder else ''}{stem}_{tag}.{extension}"
    return f"{text}_{tag}"


def new_tag() -> str:
    """A short tag no input contains: `t` and eight hex digits."""
    return f"t{uuid4().hex[:8]}"


class _RawRequest(BaseModel):
    """A request payload as it arrives from the bus: any JSON object, not yet checked against the contract."""

    model_config = ConfigDict(frozen=True, extra="allow")


@dataclass(frozen=True)
class Emitted:
    """One envelope the bus carried.

    Attributes:
        run: The index of the run whose task published it (None: outside every run).
        topic: The topic it was published on.
        envelope: The `OnexEnvelopeV1`.
    """

    run: int | None
    topic: str
    envelope: Any

    @property
    def text(self) -> str:
        """The envelope as JSON."""
        text: str = self.envelope.model_dump_json()
        return text


@dataclass
class RunRecord:
    """One run of a request: what was sent and what the bus carried for it.

    Attributes:
        index: The run's index in its session.
        request: What was asked.
        payload: The payload sent (the request's, or a `variant` of it).
        tag: The tag of the variant, "" when the payload is the request's own.
        correlation_id: The request envelope's correlation id.
        envelope_id: The request envelope's id.
        topics: The feature's completed and failed topics.
        emitted: Every envelope the run's tasks published, in order.
        error: The exception the handler raised, "" when none.
        seconds: Wall time from handing the request over to the handler's return.
    """

    index: int
    request: Request
    payload: object
    tag: str
    correlation_id: UUID
    envelope_id: UUID
    topics: tuple[str, str]
    emitted: list[Emitted] = field(default_factory=list)
    error: str = ""
    seconds: float = 0.0

    @property
    def outcomes(self) -> list[Emitted]:
        """The run's completed or failed events (one, when all is well)."""
        return [emitted for emitted in self.emitted if emitted.topic in self.topics]

    @property
    def label(self) -> str:
        """`register_user example ada_registers (run 3)`."""
        return f"{self.request.label} (run {self.index})"


class RecordingEventBus:
    """The library's bus, recording every envelope published on it with the run that published it."""

    def __init__(self, inner: Any) -> None:
        """Wrap `inner`, a `ProtocolEventBus`."""
        self.inner = inner
        self.emitted: list[Emitted] = []

    async def start(self) -> None:
        """Start the wrapped bus."""
        await self.inner.start()

    async def stop(self) -> None:
        """Stop the wrapped bus."""
        await self.inner.stop()

    async def publish(self, topic: str, envelope: Any, *, key: str | None = None) -> None:
        """Record, then publish."""
        self.emitted.append(Emitted(RUN.get(), topic, envelope))
        await self.inner.publish(topic, envelope, key=key)

    def subscribe(self, topic: str, handler: Any, *, group: str = "default") -> None:
        """Subscribe on the wrapped bus."""
        self.inner.subscribe(topic, handler, group=group)

    async def health_check(self) -> None:
        """The wrapped bus's health check."""
        await self.inner.health_check()


def settings(loaded: Library, folder: Path, *, cheap_hashing: bool = True, instant_retries: bool = True) -> Any:
    """The library's settings as configured, with every store inside `folder` and the in-memory bus.

    Args:
        loaded: The library.
        folder: Where the SQLite database, the file node's root and the log file go.
        cheap_hashing: Make password hashing as cheap as the settings allow (`CHEAP_HASHING`).
        instant_retries: Retry without backoff waits (`INSTANT_RETRIES`).
    """
    overrides: dict[str, object] = {
        "database_url": f"sqlite:///{folder / 'onex.sqlite3'}",
        "bus_url": "memory://",
        "file_root": folder / "files",
        "log_file": folder / "onex.log",
        **(CHEAP_HASHING if cheap_hashing else {}),
        **(INSTANT_RETRIES if instant_retries else {}),
    }
    return loaded.attribute("core.settings", "ModelOnexSettings")(**overrides)


class Session:
    """A container on throwaway embedded settings, its feature runner, and every envelope its bus carried.

    `async with Session(library) as session:` then `await session.run(request)`,
    alone or many at once (`asyncio.gather`).
    """

    def __init__(self, loaded: Library, *, cheap_hashing: bool = True, instant_retries: bool = True) -> None:
        """A session of `loaded`; `cheap_hashing` and `instant_retries` as for `settings`."""
        self.library = loaded
        self._settings = {"cheap_hashing": cheap_hashing, "instant_retries": instant_retries}
        self.records: list[RunRecord] = []
        self._folder: tempfile.TemporaryDirectory[str] | None = None
        self._container: Any = None
        self._runner: Any = None
        self.bus: RecordingEventBus | None = None

    async def __aenter__(self) -> Self:
        """Create the folder and start the container."""
        self._folder = tempfile.TemporaryDirectory(prefix="onex-gates-")
        folder = Path(self._folder.name)
        (folder / "files").mkdir()
        configured = settings(self.library, folder, **self._settings)
        self.bus = RecordingEventBus(self.library.attribute("core.container", "create_event_bus")(configured))
        self._container = self.library.attribute("core.container", "OnexContainer")(configured, event_bus=self.bus)
        await self._container.startup()
        self._runner = self.library.attribute("features.runtime", "FeatureRunner")(
            self._container, self.library.features
        )
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        """Shut the container down and remove the folder."""
        try:
            if self._container is not None:
                await self._container.shutdown()
        finally:
            if self._folder is not None:
                self._folder.cleanup()

    @property
    def folder(self) -> Path:
        """The session's temporary folder (its path shows up in some error messages)."""
        if self._folder is None:
            raise RuntimeError("the session has not started")
        return Path(self._folder.name)

    async def run(self, request: Request, *, payload: object = None, tag: str = "") -> RunRecord:
        """Hand `request` (or `payload`, a variant of it) to its feature's bus handler, in a task of its own.

        Returns:
            The run's record; every envelope the run emitted is in it.
        """
        feature = self.library.feature(request.feature)
        sent = request.payload if payload is None else payload
        record = RunRecord(
            index=len(self.records),
            request=request,
            payload=sent,
            tag=tag,
            correlation_id=uuid4(),
            envelope_id=uuid4(),
            topics=(feature.topics.completed, feature.topics.failed),
        )
        self.records.append(record)
        context = contextvars.copy_context()
        context.run(RUN.set, record.index)
        await asyncio.create_task(self._serve(record, feature), context=context)
        if self.bus is not None:
            record.emitted = [emitted for emitted in self.bus.emitted if emitted.run == record.index]
        return record

    async def _serve(self, record: RunRecord, feature: Any) -> None:
        envelope = self.library.attribute("core.envelope", "OnexEnvelopeV1")(
            envelope_id=record.envelope_id,
            correlation_id=record.correlation_id,
            event_type=f"{feature.name}.requested",
            source_node="quality",
            payload=_RawRequest.model_validate(record.payload if isinstance(record.payload, dict) else {}),
        )
        handler = self._runner.handler(feature.name)
        start = time.perf_counter()
        try:
            async with asyncio.timeout(RUN_TIMEOUT_SECONDS):
                await handler.handle(envelope)
        except TimeoutError:
            record.error = f"the run did not end within {RUN_TIMEOUT_SECONDS:g} s"
        except Exception as exc:  # noqa: BLE001 - any failure of the handler is what the gate reports
            record.error = f"{type(exc).__name__}: {exc}"
        record.seconds = time.perf_counter() - start


@dataclass(frozen=True)
class Options:
    """A gate's `options` from `gates.yaml`, read with defaults and types."""

    values: Mapping[str, object]

    def number(self, key: str, default: float) -> float:
        """The number under `key`."""
        value = self.values.get(key, default)
        return float(value) if isinstance(value, int | float) else default

    def integer(self, key: str, default: int) -> int:
        """The whole number under `key`."""
        return int(self.number(key, default))

    def strings(self, key: str, default: Sequence[str]) -> tuple[str, ...]:
        """The list of strings under `key`."""
        value = self.values.get(key)
        return tuple(str(item) for item in value) if isinstance(value, list | tuple) else tuple(default)

    def numbers(self, key: str) -> dict[str, float]:
        """The mapping of names to numbers under `key`."""
        value = self.values.get(key)
        if not isinstance(value, Mapping):
            return {}
        return {str(name): float(number) for name, number in value.items() if isinstance(number, int | float)}


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of `values` (`fraction` 0.95 for p95); 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(1, math.ceil(len(ordered) * fraction)) - 1]


def run_child(
    project: Project, code: str, *args: str, timeout: float, flags: Sequence[str] = ()
) -> subprocess.CompletedProcess[str]:
    """Run Python `code` in a fresh interpreter in the project root, with `src/` and the root importable.

    For measurements that need the whole process (memory, file descriptors,
    threads, warnings): gates share the runner's process. `args` become
    `sys.argv[1:]`; `flags` go to the interpreter (`-X importtime`).
    """
    paths = [str(project.root / "src"), str(project.root)]
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([*paths, os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(  # noqa: S603 - this interpreter, code of this package
        [sys.executable, *flags, "-c", code, *args],
        cwd=project.root,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def child_json(result: subprocess.CompletedProcess[str]) -> Any:
    """The JSON document a child printed last on stdout.

    Raises:
        RuntimeError: The child failed or printed no JSON; the message holds the end of its stderr.
    """
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        raise RuntimeError(child_error(result))
    return json.loads(lines[-1])


def child_error(result: subprocess.CompletedProcess[str]) -> str:
    """Why a child failed: its exit code and the last lines of its stderr."""
    tail = "\n".join(result.stderr.strip().splitlines()[-8:])
    return f"the child interpreter exited with {result.returncode}: {tail or 'no output'}"
