"""FV-001 Lifecycle Compliance: every node starts and stops cleanly, leaving nothing behind.

In a fresh interpreter (open files, threads and warnings belong to the whole
process, which the runner shares between gates), every node the library
discovers, catalog and custom, gets a container of its own on throwaway embedded
settings: `CONCURRENT_STARTS` tasks ask the container for it at once (as
concurrent workflow runs do: it must start once), it answers its health check,
and the container shuts down. Then the node must be STOPPED, and nothing it acquired may outlive it: no
asyncio task still pending, no file descriptor still open, no thread of its own
still running, no `ResourceWarning` (an unclosed file, socket or transport) when
its objects are collected. A node that cannot start on embedded settings (a
server it needs is not running) must still release what its failed start took.
Last, every feature's requests run on one container that then shuts down, with
the same checks: a workflow must not leave step tasks or connections behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import inspect
import json
import os
import sys
import tempfile
import threading
import warnings
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..model import Finding, gate
from ..project import Project
from ..runtime import Library, Options, Session, child_json, requests, run_child, running, settings

__all__ = ["CONCURRENT_STARTS", "lifecycle_compliance", "lifecycle_probe"]

#: Runs `lifecycle_probe` in the child interpreter.
_LIFECYCLE_CHILD = "from quality.gates.lifecycle import lifecycle_probe\nlifecycle_probe()\n"

#: Frames recorded where each coroutine is created (`cr_origin`), to name where a leaked task came from.
_ORIGIN_DEPTH = 16

#: Tasks that ask the container for a node at the same moment, as concurrent runs do.
CONCURRENT_STARTS = 3

#: How long a thread a node started may take to end after shutdown, in seconds.
_THREAD_GRACE = 2.0


@gate("FV-001")
def lifecycle_compliance(project: Project) -> Iterator[Finding]:
    """Every node starts and stops through the container without leaking tasks, files, threads or sockets."""
    timeout = Options(project.options("FV-001")).number("timeout_seconds", 120)
    for item in child_json(run_child(project, _LIFECYCLE_CHILD, timeout=timeout)):
        yield Finding(str(item["path"]), item["line"], str(item["message"]))


def lifecycle_probe() -> None:
    """In the child interpreter: print the FV-001 findings as a JSON list."""
    project = Project(Path.cwd())
    sys.set_coroutine_origin_tracking_depth(_ORIGIN_DEPTH)
    findings: list[Finding] = []
    restarted: list[str] = []
    with running(project, need_features=False) as loaded:
        gc.freeze()  # the library as imported: later collections only look at what the lifecycles made
        for descriptor in loaded.nodes:
            node_class = descriptor.node_class
            problems = _observe(functools.partial(_node_cycle, loaded, node_class, restarted))
            if problems:
                where = project.relative(Path(inspect.getfile(node_class)))
                subject = f"{node_class.__name__}, started by {CONCURRENT_STARTS} tasks at once and shut down"
                findings.append(Finding(where, None, f"{subject}: {problems}"))
        if restarted:
            findings.append(
                Finding(
                    project.relative(project.src / "core" / "container.py"),
                    None,
                    f"start_node started {', '.join(restarted)} once per task when {CONCURRENT_STARTS} tasks asked "
                    "for the same node at once (each start acquires the node's resources again): start a node once",
                )
            )
        if loaded.features:
            planned, _ = requests(project, loaded)
            problems = _observe(functools.partial(_feature_cycle, loaded, planned))
            if problems:
                findings.append(
                    Finding(
                        project.relative(project.src / "features"),
                        None,
                        f"after running every feature's requests and shutting the container down: {problems}",
                    )
                )
    print(json.dumps([asdict(finding) for finding in findings]))  # noqa: T201 - the child's answer to the gate


def _observe(cycle: Callable[[], Coroutine[Any, Any, list[str]]]) -> str:
    """Run `cycle` in an event loop of its own; its problems, resource warnings and leftover threads, joined."""
    threads = set(threading.enumerate())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        problems = asyncio.run(cycle())
        gc.collect()
    problems += [
        f"ResourceWarning: {warning.message}" for warning in caught if issubclass(warning.category, ResourceWarning)
    ]
    problems += _leftover_threads(threads)
    return "; ".join(problems)


def _leftover_threads(before: set[threading.Thread]) -> list[str]:
    """Threads started since `before` that do not end within the grace period."""
    problems = []
    for thread in threading.enumerate():
        if thread in before:
            continue
        thread.join(_THREAD_GRACE)
        if thread.is_alive():
            problems.append(f"thread {thread.name!r} is still running")
    return problems


async def _node_cycle(loaded: Library, node_class: Any, restarted: list[str]) -> list[str]:
    """Start `node_class` through a container from several tasks at once, check its health, shut down.

    Returns:
        What went wrong and what was left behind; the node's name goes to `restarted`
        when its `on_startup` ran more than once.
    """
    stopped = loaded.attribute("core.nodes", "EnumNodeLifecycle").STOPPED
    with tempfile.TemporaryDirectory(prefix="onex-gates-") as folder:
        container = loaded.attribute("core.container", "OnexContainer")(settings(loaded, Path(folder)))
        await container.startup()
        baseline = _Baseline.take()
        problems: list[str] = []
        node = container.node(node_class)
        startups = _count_calls(node, "on_startup")
        # Concurrent runs each ask the container for the node: it must start once.
        starts = [container.start_node(node_class) for _ in range(CONCURRENT_STARTS)]
        outcomes = await asyncio.gather(*starts, return_exceptions=True)
        failures = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
        if len(startups) > 1 and not failures:  # (a start that fails may be tried again by the next task)
            restarted.append(node_class.__name__)
        problems += [
            f"starting it raised {type(failure).__name__}: {failure}"
            for failure in failures
            if not isinstance(failure, loaded.error_class)  # no server on embedded settings: not a lifecycle fault
        ]
        if len(failures) < len(outcomes):
            # An unhealthy dependency is the health check's business, not the lifecycle's.
            with contextlib.suppress(loaded.error_class):
                await node.health_check()
        await container.shutdown()
        if len(failures) < len(outcomes) and node.lifecycle is not stopped:
            problems.append(f"it is {node.lifecycle} after shutdown, not {stopped}")
        problems += await baseline.leaks()
        return problems


def _count_calls(node: Any, method: str) -> list[None]:
    """Make `node.<method>` append to the returned list on each call (the instance's own attribute wraps it)."""
    calls: list[None] = []
    original = getattr(node, method)

    async def counted() -> None:
        calls.append(None)
        await original()

    setattr(node, method, counted)
    return calls


async def _feature_cycle(loaded: Library, planned: Any) -> list[str]:
    """Run every request once on a fresh session, shut it down; what was left behind."""
    baseline = _Baseline.take()
    async with Session(loaded) as session:
        for request in planned:
            await session.run(request)
    return await baseline.leaks()


@dataclass(frozen=True)
class _Baseline:
    """The tasks and file descriptors that exist before a lifecycle starts."""

    tasks: frozenset[asyncio.Task[Any]]
    descriptors: frozenset[int]

    @classmethod
    def take(cls) -> _Baseline:
        return cls(frozenset(asyncio.all_tasks()), frozenset(_descriptors()))

    async def leaks(self) -> list[str]:
        """What exists now and did not before: pending tasks (cancelled here) and open file descriptors."""
        for _ in range(3):
            await asyncio.sleep(0)  # let cancelled tasks finish
        problems = []
        for task in asyncio.all_tasks() - self.tasks - {asyncio.current_task()}:
            coroutine = task.get_coro()
            name = getattr(coroutine, "__qualname__", repr(coroutine))
            problems.append(f"task {task.get_name()!r} ({name}{_origin(coroutine)}) is still pending")
            task.cancel()
        problems.extend(
            f"file descriptor {descriptor} ({_target(descriptor)}) is still open"
            for descriptor in sorted(_descriptors() - self.descriptors)
        )
        return problems


def _origin(coroutine: object) -> str:
    """`, created at src/pkg/x.py:12`: the innermost frame of the project's own code that created `coroutine`."""
    root = Path.cwd()
    for filename, line, _ in getattr(coroutine, "cr_origin", None) or ():
        path = Path(filename)
        if path.is_relative_to(root):
            return f", created at {path.relative_to(root).as_posix()}:{line}"
    return ""


def _descriptors() -> set[int]:
    """The process's open file descriptors (empty where the platform does not list them)."""
    for folder in (Path("/proc/self/fd"), Path("/dev/fd")):
        if folder.is_dir():
            # The listing's own descriptor is closed once it is done: keep those still open.
            return {int(entry.name) for entry in folder.iterdir() if _is_open(int(entry.name))}
    return set()


def _is_open(descriptor: int) -> bool:
    try:
        os.fstat(descriptor)
    except OSError:
        return False
    return True


def _target(descriptor: int) -> str:
    """What a file descriptor points to: a path (project-relative when inside it), `socket:[…]`, `pipe:[…]`."""
    try:
        target = Path(f"/proc/self/fd/{descriptor}").readlink()
    except OSError:
        return "unknown"
    root = Path.cwd()
    return target.relative_to(root).as_posix() if target.is_relative_to(root) else str(target)
