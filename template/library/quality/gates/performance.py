"""PF-001 and PF-002: workflow latency budgets; import time, memory and bounded buffers.

PF-001 Performance Thresholds, a micro-benchmark of each feature: its requests
(examples, each run a fresh tagged variant so that writes never collide) run one
after the other on one container with the library's settings, the stores moved
to a temporary folder. After `warmup` rounds over the feature's requests, up to
`runs` timed runs (request handed to the bus handler until its outcome is
published); the p95 (nearest rank) must stay within `features.<name>`, or else
`workflow_p95_ms`. A feature stops early after `min_runs` once `max_seconds` have
passed, or as soon as its p95 can no longer meet the budget.

Password hashing runs at the cheapest cost the settings allow unless `hashing` is
`configured`. The configured cost is a security setting, slow on purpose and sized
per machine (argon2id at 64 MiB, t=3, p=4 takes about 180 ms on two cores, and
several times that while other gates load them): a budget on it would measure the
operator's choice and the machine's load, not the workflow. With `hashing:
configured`, give password features their own budget in `features`.

PF-002 Resource Utilization, in a fresh interpreter (a measurement of the whole
process cannot share it with gates running in other threads): importing the
package and discovering its nodes and features within `import_ms` and the
process's peak memory after that within `import_rss_mib`; then the peak of
Python memory (tracemalloc) while one request runs, for each request after a
warm-up, within `run_peak_mib`. And no unbounded buffer in the package's code: an
`asyncio`/`queue` queue without a positive `maxsize`, a `queue.SimpleQueue`, a
`collections.deque` without `maxlen`.
"""

from __future__ import annotations

import ast
import asyncio
import json
import math
import re
import time
import tracemalloc
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..model import Finding, gate
from ..project import Project
from ..runtime import (
    Library,
    Options,
    Request,
    Session,
    child_error,
    child_json,
    has_features,
    new_tag,
    percentile,
    requests,
    run_child,
    running,
    variant,
)

__all__ = ["performance_thresholds", "resource_probe", "resource_utilization", "unbounded_buffers"]

_MIB = 1024 * 1024


@dataclass(frozen=True)
class _Budget:
    milliseconds: float
    reason: str


@dataclass(frozen=True)
class _Benchmark:
    feature: str
    samples: tuple[tuple[float, str], ...]  # (milliseconds, request label)

    @property
    def p95(self) -> float:
        return percentile([milliseconds for milliseconds, _ in self.samples], 0.95)


@gate("PF-001")
def performance_thresholds(project: Project) -> Iterator[Finding]:
    """Each feature's workflow meets its p95 latency budget in a micro-benchmark."""
    options = Options(project.options("PF-001"))
    with running(project) as loaded:
        planned, unrunnable = requests(project, loaded)
        yield from unrunnable
        budgets = {feature.name: _budget(options, feature.name) for feature in loaded.features}
        benchmarks = asyncio.run(_benchmark(loaded, planned, budgets, options))
    for benchmark in benchmarks:
        budget = budgets[benchmark.feature]
        if benchmark.p95 > budget.milliseconds:
            slowest, label = max(benchmark.samples)
            yield Finding(
                project.relative(project.src / "features" / benchmark.feature / "workflow.py"),
                None,
                f"{benchmark.feature}: p95 {benchmark.p95:.0f} ms over {len(benchmark.samples)} runs exceeds its "
                f"budget of {budget.milliseconds:.0f} ms ({budget.reason}); slowest: {label}, {slowest:.0f} ms",
            )


def _budget(options: Options, feature: str) -> _Budget:
    """The p95 budget of `feature`: its own from `options.features`, else `workflow_p95_ms`."""
    own = options.numbers("features").get(feature)
    if own is not None:
        return _Budget(own, f"options.features.{feature}")
    return _Budget(options.number("workflow_p95_ms", 250), "workflow_p95_ms")


async def _benchmark(
    loaded: Library, planned: Sequence[Request], budgets: dict[str, _Budget], options: Options
) -> list[_Benchmark]:
    """Time every feature's requests, one feature after the other, on one container."""
    warmup = options.integer("warmup", 1)
    runs = max(options.integer("runs", 20), 1)
    min_runs = min(max(options.integer("min_runs", 5), 1), runs)
    max_seconds = options.number("max_seconds", 1.0)
    # The p95 of `runs` samples is the `allowed + 1`-th slowest: more samples over budget decide a failure.
    allowed = runs - math.ceil(runs * 0.95)
    results: list[_Benchmark] = []
    cheap = options.values.get("hashing", "minimal") != "configured"
    async with Session(loaded, cheap_hashing=cheap, instant_retries=False) as session:

        async def timed(request: Request) -> float:
            tag = new_tag()
            payload = variant(loaded.feature(request.feature), request.payload, tag, loaded.error_class)
            return (await session.run(request, payload=payload, tag=tag)).seconds * 1000

        for feature in loaded.features:
            mine = [request for request in planned if request.feature == feature.name]
            if not mine:
                continue
            for _ in range(warmup):
                for request in mine:
                    await timed(request)
            budget, started = budgets[feature.name].milliseconds, time.perf_counter()
            samples: list[tuple[float, str]] = []
            for index in range(runs):
                request = mine[index % len(mine)]
                samples.append((await timed(request), request.label))
                if sum(milliseconds > budget for milliseconds, _ in samples) > allowed:
                    break
                if index + 1 >= min_runs and time.perf_counter() - started > max_seconds:
                    break
            results.append(_Benchmark(feature.name, tuple(samples)))
    return results


#: Measures, in a fresh interpreter, importing the package (`sys.argv[1]`) and discovering its nodes
#: and features (`sys.argv[2] == "features"`), then runs `resource_probe` with the time it took.
_RESOURCES_CHILD = """
import importlib, sys, time
start, cpu = time.perf_counter(), time.process_time()
importlib.import_module(sys.argv[1] + ".core.registry").discover_nodes()
if sys.argv[2] == "features":
    importlib.import_module(sys.argv[1] + ".features").discover_features()
cpu_ms, wall_ms = (time.process_time() - cpu) * 1000, (time.perf_counter() - start) * 1000
from quality.gates.performance import resource_probe
resource_probe(cpu_ms, wall_ms)
"""

#: The same imports, under `-X importtime`, to name the slowest packages.
_IMPORTS_CHILD = """
import importlib, sys
importlib.import_module(sys.argv[1] + ".core.registry").discover_nodes()
if sys.argv[2] == "features":
    importlib.import_module(sys.argv[1] + ".features").discover_features()
"""


@gate("PF-002")
def resource_utilization(project: Project) -> Iterator[Finding]:
    """Import time and memory within budget; no unbounded buffers in the package."""
    options = Options(project.options("PF-002"))
    for path in project.python_files():
        yield from unbounded_buffers(project, path)
    mode = "features" if has_features(project) else "nodes"
    result = run_child(project, _RESOURCES_CHILD, project.package, mode, timeout=options.number("timeout_seconds", 120))
    measured = child_json(result)
    where = project.relative(project.src / "__init__.py")
    import_ms, budget_ms = float(measured["import_cpu_ms"]), options.number("import_ms", 4000)
    if import_ms > budget_ms:
        yield Finding(
            where,
            None,
            f"importing {project.package} and discovering its nodes and features takes {import_ms:.0f} ms of CPU "
            f"({float(measured['import_wall_ms']):.0f} ms wall), over the budget of {budget_ms:.0f} ms; "
            f"slowest packages: {_slowest_imports(project, mode)}",
        )
    rss_mib, budget_mib = measured.get("rss_mib"), options.number("import_rss_mib", 150)
    if rss_mib is not None and float(rss_mib) > budget_mib:
        yield Finding(
            where,
            None,
            f"the process peaks at {float(rss_mib):.0f} MiB after importing {project.package}, "
            f"over the budget of {budget_mib:.0f} MiB",
        )
    budget_mib = options.number("run_peak_mib", 16)
    for label, peak in measured.get("runs", {}).items():
        if float(peak) > budget_mib:
            feature = label.split(" ", 1)[0]
            yield Finding(
                project.relative(project.src / "features" / feature),
                None,
                f"{label} allocates up to {float(peak):.1f} MiB of Python memory while it runs, "
                f"over the budget of {budget_mib:.0f} MiB",
            )


def resource_probe(cpu_ms: float, wall_ms: float) -> None:
    """In the child interpreter: print the import time, peak memory and each request's peak Python memory as JSON."""
    project = Project(Path.cwd())
    report: dict[str, Any] = {
        "import_cpu_ms": cpu_ms,
        "import_wall_ms": wall_ms,
        "rss_mib": _peak_rss_mib(),
        "runs": {},
    }
    if has_features(project):
        with running(project, need_features=False) as loaded:
            planned, _ = requests(project, loaded)
            if planned:
                report["runs"] = asyncio.run(_peaks(loaded, planned))
    print(json.dumps(report))  # noqa: T201 - the child's answer to the gate


def _peak_rss_mib() -> float | None:
    """The process's peak resident memory, in MiB (None where the platform does not tell)."""
    try:
        import resource  # noqa: PLC0415 - POSIX only
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if not _is_macos() else peak / _MIB


def _is_macos() -> bool:
    import platform  # noqa: PLC0415 - only asked once

    return platform.system() == "Darwin"


async def _peaks(loaded: Library, planned: Sequence[Request]) -> dict[str, float]:
    """The peak Python memory (MiB) allocated while each request runs, after one warm-up round."""
    peaks: dict[str, float] = {}
    async with Session(loaded) as session:

        async def run(request: Request) -> None:
            tag = new_tag()
            payload = variant(loaded.feature(request.feature), request.payload, tag, loaded.error_class)
            await session.run(request, payload=payload, tag=tag)

        for request in planned:
            await run(request)
        tracemalloc.start()
        try:
            for request in planned:
                before, _ = tracemalloc.get_traced_memory()
                tracemalloc.reset_peak()
                await run(request)
                _, peak = tracemalloc.get_traced_memory()
                peaks[request.label] = (peak - before) / _MIB
        finally:
            tracemalloc.stop()
    return peaks


def _slowest_imports(project: Project, mode: str) -> str:
    """The five top-level packages that take longest to import (`-X importtime`), e.g. `workflows 170 ms`."""
    result = run_child(project, _IMPORTS_CHILD, project.package, mode, timeout=120, flags=("-X", "importtime"))
    if result.returncode != 0:
        return child_error(result)
    totals: Counter[str] = Counter()
    for line in result.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)", line)
        if match:
            totals[match[2].split(".", 1)[0]] += int(match[1])
    return ", ".join(f"{name} {micros / 1000:.0f} ms" for name, micros in totals.most_common(5))


#: Buffers and the argument that bounds them: (position, keyword, what bounds it).
_BOUNDED_BY: dict[str, tuple[int, str]] = {
    "asyncio.Queue": (0, "maxsize"),
    "asyncio.LifoQueue": (0, "maxsize"),
    "asyncio.PriorityQueue": (0, "maxsize"),
    "queue.Queue": (0, "maxsize"),
    "queue.LifoQueue": (0, "maxsize"),
    "queue.PriorityQueue": (0, "maxsize"),
    "multiprocessing.Queue": (0, "maxsize"),
    "collections.deque": (1, "maxlen"),
}
_ALWAYS_UNBOUNDED = frozenset({"queue.SimpleQueue", "multiprocessing.SimpleQueue"})


def unbounded_buffers(project: Project, path: Path) -> Iterator[Finding]:
    """Queues and deques in `path` created without a bound."""
    try:
        tree = project.module(path)
    except SyntaxError:
        return
    names = _imported_names(tree)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        qualified = _qualified(node.func, names)
        if qualified in _ALWAYS_UNBOUNDED:
            yield Finding(project.relative(path), node.lineno, f"{qualified}() has no bound: use a bounded queue")
            continue
        bound = _BOUNDED_BY.get(qualified or "")
        if bound is None or qualified is None:
            continue
        position, keyword = bound
        value = _argument(node, position, keyword)
        if value is None or (isinstance(value, ast.Constant) and (value.value is None or _not_positive(value.value))):
            yield Finding(
                project.relative(path),
                node.lineno,
                f"{qualified}() without a positive {keyword} grows without bound: give it `{keyword}=` "
                "(publishers then wait when it is full)",
            )


def _not_positive(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value <= 0


def _argument(call: ast.Call, position: int, keyword: str) -> ast.expr | None:
    """The argument at `position` or named `keyword`, None when absent."""
    for item in call.keywords:
        if item.arg == keyword:
            return item.value
    if len(call.args) > position and not any(isinstance(arg, ast.Starred) for arg in call.args[: position + 1]):
        return call.args[position]
    return None


def _imported_names(tree: ast.Module) -> dict[str, str]:
    """Local name -> dotted name of what the module imports (`Queue` -> `asyncio.Queue`)."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".", 1)[0]
                names[alias.asname or top] = alias.name if alias.asname else top
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def _qualified(func: ast.expr, names: dict[str, str]) -> str | None:
    """The dotted name a call's function refers to (`asyncio.Queue`), generics unwrapped; None when unknown."""
    if isinstance(func, ast.Subscript):
        func = func.value
    parts: list[str] = []
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    if not isinstance(func, ast.Name) or func.id not in names:
        return None
    return ".".join([names[func.id], *reversed(parts)])
