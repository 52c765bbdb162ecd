"""Run gates: pick them, run them in parallel threads, time each one.

Gates are independent, so they run at once, in threads: a tool gate waits on its
subprocess (ruff, mypy, pytest) while in-process gates use the interpreter, so the
two kinds have a pool each and overlap. The slowest gates (by budget) start first.
The performance gates time the library, so they run last, one at a time, alone.
Each finished gate is reported as it ends; the results come back in specification order.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from .model import REGISTRY, EnumGateRuns, EnumGateStatus, Finding, GateResult, GateSkipped, GateSpec
from .project import Project

__all__ = ["UnknownGateError", "run_gate", "run_gates", "select"]


class UnknownGateError(ValueError):
    """A gate id that `gates.yaml` does not specify."""


def select(
    specs: Sequence[GateSpec],
    ids: Collection[str] = (),
    categories: Collection[str] = (),
    runs: Collection[str] = (),
) -> list[GateSpec]:
    """The gates picked by any of `ids`, `categories` and `runs` (all gates when none is given), in spec order.

    Raises:
        UnknownGateError: An id is not in the specification; the message names it.
    """
    known = {spec.id for spec in specs}
    unknown = [gate_id for gate_id in ids if gate_id not in known]
    if unknown:
        raise UnknownGateError(
            f"unknown gate id{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )
    if not (ids or categories or runs):
        return list(specs)
    return [spec for spec in specs if spec.id in ids or spec.category in categories or spec.runs in runs]


def _origin(exc: BaseException) -> str:
    """Where `exc` was raised: the innermost frame's file and line."""
    frames = traceback.extract_tb(exc.__traceback__)
    return f" ({Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""


def run_gate(spec: GateSpec, project: Project, *, why_unregistered: str = "") -> GateResult:
    """Run the check of `spec` on `project`: pass, fail (with findings), skip, or error (the check broke).

    `why_unregistered` explains a gate without a check (a gate module that does not import, say).
    """
    check = REGISTRY.get(spec.id)
    start = time.perf_counter()
    if check is None:
        reason = f"no check is registered for {spec.id}" + (f"; {why_unregistered}" if why_unregistered else "")
        return GateResult(spec, EnumGateStatus.ERROR, 0.0, reason)
    try:
        findings = tuple(check(project))
    except GateSkipped as skipped:
        return GateResult(spec, EnumGateStatus.SKIPPED, _elapsed_ms(start), str(skipped))
    except Exception as exc:  # noqa: BLE001 - a broken check is reported as the gate's error, not a crash
        reason = f"{type(exc).__name__}: {exc}{_origin(exc)}"
        return GateResult(spec, EnumGateStatus.ERROR, _elapsed_ms(start), reason)
    if not all(isinstance(finding, Finding) for finding in findings):
        return GateResult(spec, EnumGateStatus.ERROR, _elapsed_ms(start), "the check yielded something not a Finding")
    status = EnumGateStatus.FAILED if findings else EnumGateStatus.PASSED
    return GateResult(spec, status, _elapsed_ms(start), findings=findings)


def _elapsed_ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 1)


#: Gates of this category measure time and memory: they run alone, after the others, undisturbed.
MEASURED_ALONE = "performance"


def _start_order(spec: GateSpec) -> float:
    """Longest budget first: the slowest gates never start last."""
    return -spec.budget_ms


def run_gates(
    specs: Sequence[GateSpec],
    project: Project,
    *,
    jobs: int,
    on_result: Callable[[GateResult], None] | None = None,
    why_unregistered: str = "",
) -> list[GateResult]:
    """Run `specs` on `project`: up to `jobs` tool gates and `jobs` in-process gates at once.

    Tool gates spend their time in a subprocess and in-process gates in this
    interpreter, so each kind has its own pool and the two overlap. The
    performance gates run after them, one at a time.

    Args:
        specs: The gates to run.
        project: The project they check.
        jobs: How many gates of each kind run at once.
        on_result: Called with each result as its gate finishes, from the calling thread.
        why_unregistered: Why a gate may have no check, for its error.

    Returns:
        The results, in the order of `specs`.
    """
    results: dict[str, GateResult] = {}

    def finished(result: GateResult) -> None:
        results[result.spec.id] = result
        if on_result is not None:
            on_result(result)

    workers = max(1, jobs)
    with (
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gate-tool") as tools,
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gate") as in_process,
    ):
        futures = [
            (tools if spec.runs is EnumGateRuns.TOOL else in_process).submit(
                run_gate, spec, project, why_unregistered=why_unregistered
            )
            for spec in sorted(specs, key=_start_order)
            if spec.category != MEASURED_ALONE
        ]
        for future in as_completed(futures):
            finished(future.result())
    for spec in specs:
        if spec.category == MEASURED_ALONE:
            finished(run_gate(spec, project, why_unregistered=why_unregistered))
    return [results[spec.id] for spec in specs]
