"""Runtime: each example workflow as the library runs it, against the same steps as a raw LlamaIndex workflow.

`benchmarks/library/feature_runs.py` runs in the library's environment: per feature, it
alternates `FeatureRunner.run` (request contract, envelopes, the orchestrator's FSM,
lifecycle events and monitoring, typed state and hooks) with a plain `workflows.Workflow`
whose steps call the same node methods of the same container (SQLite file, in-memory
bus), and prints the seconds of every run. Each repeat is a fresh process and database.
Budget (DESIGN.md §6): the p50 within 1.15x of the raw workflow's.

The helpers that run a library script and read its document are shared by `buses` and `serve`.
"""

from __future__ import annotations

import json
import statistics
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .context import BenchmarkError, clean_environ
from .model import BenchContext, Comparison, Series

#: The folder of the scripts that run with the library's interpreter.
LIBRARY_SCRIPTS = Path(__file__).resolve().parent / "library"
#: The example features, each with a raw twin in `library/feature_runs.py`.
FEATURES = ("register_user", "user_auth", "metadata_stamping")
#: DESIGN.md §6: a generated workflow within 1.15x of the raw LlamaIndex workflow.
WORKFLOW_BUDGET = 1.15
#: Runs per feature and repeat (after the warm-up), and in --quick mode.
ITERATIONS, QUICK_ITERATIONS = 200, 50
WARMUP = 20
#: How long one library script may run before the benchmark gives up on it.
SCRIPT_TIMEOUT_SECONDS = 900.0


def package_name(library: Path) -> str:
    """The library's top-level package: the one package under `src/`."""
    packages = sorted(path.parent.name for path in (library / "src").glob("*/__init__.py"))
    if len(packages) != 1:
        raise BenchmarkError(f"expected one package under {library / 'src'}, found {packages or 'none'}")
    return packages[0]


def library_environ(ctx: BenchContext, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a library script: its `src/` importable, no settings inherited from this shell."""
    prefix = f"{package_name(ctx.library).upper()}_"
    environ = {key: value for key, value in clean_environ().items() if not key.startswith(prefix)}
    environ["PYTHONPATH"] = str(ctx.library / "src")
    environ.update(extra or {})
    return environ


def parse_document(stdout: str) -> dict[str, Any]:
    """The JSON object a library script printed: its last non-empty line.

    Raises:
        BenchmarkError: when there is none, or it is not a JSON object.
    """
    lines = [line for line in stdout.splitlines() if line.strip()]
    if not lines:
        raise BenchmarkError("the script printed no result")
    try:
        document = json.loads(lines[-1])
    except json.JSONDecodeError as error:
        raise BenchmarkError(f"the script's last line is not JSON: {error}: {lines[-1][:200]}") from error
    if not isinstance(document, dict):
        raise BenchmarkError(f"the script's result is not a JSON object: {lines[-1][:200]}")
    return document


def run_script(
    ctx: BenchContext,
    script: str,
    args: Sequence[str],
    *,
    environ: Mapping[str, str] | None = None,
    timeout: float = SCRIPT_TIMEOUT_SECONDS,
) -> dict[str, Any]:
    """Run `library/<script>` with the library's interpreter in `ctx.work`; the document it printed."""
    command = [str(ctx.python), str(LIBRARY_SCRIPTS / script), *args]
    try:
        result = subprocess.run(
            command,
            cwd=ctx.work,
            env=dict(environ) if environ is not None else library_environ(ctx),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise BenchmarkError(f"`{' '.join(command)}` did not finish within {timeout:g} s") from error
    if result.returncode != 0:
        raise BenchmarkError(f"`{' '.join(command)}` exited {result.returncode}:\n{result.stderr[-3000:]}")
    return parse_document(result.stdout)


def samples(document: Mapping[str, Any], key: str) -> tuple[float, ...]:
    """The list of numbers under `key` in a script's document.

    Raises:
        BenchmarkError: when it is missing, empty or not all numbers.
    """
    values = document.get(key)
    if (
        not isinstance(values, list)
        or not values
        or not all(isinstance(value, int | float) and not isinstance(value, bool) for value in values)
    ):
        raise BenchmarkError(f"the script's result has no samples under {key!r}")
    return tuple(float(value) for value in values)


def overhead_share(subject: float, baseline: float) -> float:
    """The share of the subject's time that it adds to the baseline's: (subject - baseline) / subject."""
    if subject <= 0:
        raise ValueError(f"the subject's time must be positive, not {subject}")
    return (subject - baseline) / subject


def runs_per_second(seconds: Sequence[float]) -> float:
    """Runs per second of runs done one after the other, taking `seconds` each."""
    total = sum(seconds)
    if total <= 0:
        raise ValueError("runs per second need a positive total time")
    return len(seconds) / total


def workflow_comparison(feature: str, ours: Sequence[Sequence[float]], raw: Sequence[Sequence[float]]) -> Comparison:
    """The comparison of one feature: seconds per run of every repeat, pooled; p50, p95, runs/s and overhead share.

    `ours[i]` and `raw[i]` are the runs of repeat `i`; runs per second is the median over repeats.
    """
    subject = Series(f"{feature}: FeatureRunner.run", tuple(second for run in ours for second in run))
    baseline = Series(f"{feature}: raw LlamaIndex workflow", tuple(second for run in raw for second in run))
    return Comparison(
        area="runtime",
        name=f"workflow {feature} (seconds per run)",
        subject=subject,
        baseline=baseline,
        budget=WORKFLOW_BUDGET,
        note=(
            "ratio of p50s; the raw workflow calls the same node methods on the same container (SQLite, "
            "in-memory bus); argon2 at its lowest cost so that the hash does not hide the layer"
        ),
        extra={
            "p50_ms": subject.median * 1000,
            "p95_ms": subject.percentile(95) * 1000,
            "raw_p50_ms": baseline.median * 1000,
            "raw_p95_ms": baseline.percentile(95) * 1000,
            "runs_per_s": statistics.median(runs_per_second(run) for run in ours),
            "raw_runs_per_s": statistics.median(runs_per_second(run) for run in raw),
            "overhead_share": overhead_share(subject.median, baseline.median),
        },
    )


def run(ctx: BenchContext) -> Sequence[Comparison]:
    """Every example feature against its raw workflow, `ctx.repeats` fresh processes each."""
    iterations = QUICK_ITERATIONS if ctx.quick else ITERATIONS
    warmup = WARMUP // 4 if ctx.quick else WARMUP
    comparisons = []
    for feature in FEATURES:
        ours: list[tuple[float, ...]] = []
        raw: list[tuple[float, ...]] = []
        for repeat in range(ctx.repeats):
            work = ctx.work / "runtime" / f"{feature}-{repeat}"
            document = run_script(
                ctx,
                "feature_runs.py",
                ["--work", str(work), "--feature", feature, "--iterations", str(iterations), "--warmup", str(warmup)],
            )
            ours.append(samples(document, "ours"))
            raw.append(samples(document, "raw"))
            ctx.log(
                f"runtime: {feature} repeat {repeat + 1}/{ctx.repeats}: p50 {statistics.median(ours[-1]) * 1000:.2f} ms"
                f" against {statistics.median(raw[-1]) * 1000:.2f} ms raw"
            )
        comparisons.append(workflow_comparison(feature, ours, raw))
    return comparisons
