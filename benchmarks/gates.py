"""Gates: the library's 23 quality gates, against the tools they build on, and as features grow.

- a warm `nox -s gates` (the environment installed, mypy's cache warm) against running `ruff check .`,
  `ruff format --check .`, `mypy` and `pytest` one after the other in the same environment
  (`.nox/gates`) on the same project: budget 1.5x (DESIGN.md §6);
- `python -m quality`, warm, on libraries with 1, 5 and 20 features (1 and 3 with --quick) in one
  environment: the time per feature count, the slope per feature (least squares) and how far the
  largest count is from the line through the two smallest (linear growth is the budget).

Each figure carries the per-gate times of the subject's last run (`build/gates/report.json`) in
`extra`, in seconds, so a figure over budget shows which gates it spent its time in.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .context import (
    BenchmarkError,
    alternate,
    clean_environ,
    copy_project,
    nox_command,
    renamed_specs,
    render_feature_library,
    timed,
)
from .model import BenchContext, Comparison, Series

AREA = "gates"

#: DESIGN.md §6: all 23 gates, warm, within 1.5x of ruff, mypy and pytest run directly.
GATES_BUDGET = 1.5

#: Feature counts of the scaling figure (full run, and --quick).
FEATURE_COUNTS = (1, 5, 20)
FEATURE_COUNTS_QUICK = (1, 3)

#: What the gates build on, run directly one after the other: the baseline of `nox -s gates`.
DIRECT_TOOLS = (
    ("ruff", "check", "."),
    ("ruff", "format", "--check", "."),
    ("mypy",),
    ("pytest", "-q", "-p", "no:cacheprovider"),
)

#: The tools exit 1 when they find something (a work-in-progress template, say): still a timed run.
TOOL_EXIT_CODES = (0, 1)

#: `python -m quality` exits 1 when a blocking gate fails: still a timed run.
GATE_EXIT_CODES = (0, 1)


def read_report(project: Path) -> dict[str, Any]:
    """The gates' report of the last run in `project` (`build/gates/report.json`)."""
    path = project / "build" / "gates" / "report.json"
    if not path.is_file():
        raise BenchmarkError(f"the gates wrote no report in {path}")
    report: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return report


def gate_seconds(report: dict[str, Any]) -> dict[str, float]:
    """Each gate's time in a report, in seconds, and the whole run's as `total`."""
    times = {str(gate["id"]): round(float(gate["duration_ms"]) / 1000, 3) for gate in report["gates"]}
    return {**times, "total": round(float(report["duration_ms"]) / 1000, 3)}


def gate_outcome(report: dict[str, Any]) -> str:
    """Whether every gate of a report passed (or was skipped), else which did not."""
    failed = [gate["id"] for gate in report["gates"] if gate["status"] not in ("pass", "skip")]
    return "all gates passed" if not failed else f"gates not passing: {', '.join(failed)}"


def bench_nox_gates(ctx: BenchContext) -> Comparison:
    """A warm `nox -s gates` against ruff, mypy and pytest run directly in its environment."""
    project = copy_project(ctx.library, ctx.work / "gates" / "onex-demo")
    nox = nox_command()
    environ = clean_environ()
    ctx.log("nox -s gates: first run (installs .nox/gates, warms mypy's cache)")
    seconds = timed([*nox, "-s", "gates"], project, environ, GATE_EXIT_CODES)
    ctx.log(f"nox -s gates: first run: {seconds:.1f} s")
    gates_bin = project / ".nox" / "gates" / "bin"
    if not (gates_bin / "python").exists():
        raise BenchmarkError(f"nox -s gates made no environment in {gates_bin.parent}")
    tools_env = clean_environ(gates_bin)

    def direct(_: int) -> float:
        return sum(timed(tool, project, tools_env, TOOL_EXIT_CODES) for tool in DIRECT_TOOLS)

    ctx.log(f"direct tools: warm-up run: {direct(0):.1f} s")

    def gates(_: int) -> float:
        return timed([*nox, "-s", "gates"], project, environ, GATE_EXIT_CODES)

    subject, baseline = alternate(ctx, "warm", ("nox -s gates", gates), ("ruff + ruff format + mypy + pytest", direct))
    report = read_report(project)
    return Comparison(
        AREA,
        "nox -s gates (warm) vs ruff, mypy, pytest directly",
        subject,
        baseline,
        GATES_BUDGET,
        note=f"Library with the 3 example features; {gate_outcome(report)}. Per-gate seconds of the last run in extra.",
        extra=gate_seconds(report),
    )


def least_squares(points: Sequence[tuple[float, float]]) -> tuple[float, float, float]:
    """The line through `points` that fits best: (slope, intercept, R²); R² is 1.0 when every y is equal."""
    if len(points) < 2:
        raise ValueError("a line needs at least two points")
    xs, ys = [x for x, _ in points], [y for _, y in points]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    if spread == 0:
        raise ValueError("a line needs two different x values")
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / spread
    intercept = mean_y - slope * mean_x
    total = sum((y - mean_y) ** 2 for y in ys)
    residual = sum((y - (intercept + slope * x)) ** 2 for x, y in points)
    return slope, intercept, 1.0 if total == 0 else 1 - residual / total


def extrapolate(first: tuple[float, float], second: tuple[float, float], x: float) -> float:
    """The y at `x` on the line through `first` and `second`."""
    (x1, y1), (x2, y2) = first, second
    return y1 + (y2 - y1) / (x2 - x1) * (x - x1)


def bench_scaling(ctx: BenchContext) -> list[Comparison]:
    """`python -m quality`, warm, with growing feature counts; the slope per feature and the linearity."""
    counts = FEATURE_COUNTS_QUICK if ctx.quick else FEATURE_COUNTS
    environ = clean_environ(ctx.python.parent)
    series: dict[int, Series] = {}
    reports: dict[int, dict[str, Any]] = {}
    for count in counts:
        ctx.log(f"{count} features: rendering the library")
        project = render_feature_library(ctx.work / "gates" / f"features-{count}", renamed_specs(count), ctx.suite)
        command: list[str | Path] = [ctx.python, "-m", "quality"]
        ctx.log(f"{count} features: warm-up run: {timed(command, project, environ, GATE_EXIT_CODES):.1f} s")
        samples = []
        for index in range(ctx.repeats):
            seconds = timed(command, project, environ, GATE_EXIT_CODES)
            samples.append(seconds)
            ctx.log(f"{count} features: python -m quality run {index + 1}/{ctx.repeats}: {seconds:.1f} s")
        series[count] = Series(f"{count} features", tuple(samples))
        reports[count] = read_report(project)

    comparisons = [
        Comparison(
            AREA,
            f"python -m quality (warm), {count} feature{'s' if count > 1 else ''}",
            series[count],
            note=f"{gate_outcome(reports[count])}. Per-gate seconds in extra.",
            extra=gate_seconds(reports[count]),
        )
        for count in counts
    ]
    slopes = tuple(
        least_squares([(count, series[count].samples[index]) for count in counts])[0] for index in range(ctx.repeats)
    )
    slope, intercept, r_squared = least_squares([(count, series[count].median) for count in counts])
    extra = {"slope_s_per_feature": slope, "intercept_s": intercept, "r_squared": r_squared}
    extra |= {f"median_{count}_features_s": series[count].median for count in counts}
    note = f"Least squares over {', '.join(map(str, counts))} features: {intercept:.1f} s + {slope:.2f} s per feature"
    comparisons.append(
        Comparison(
            AREA,
            "gates: seconds per feature (slope)",
            Series("slope", slopes),
            note=f"{note}, R² {r_squared:.3f}.",
            extra=extra,
        )
    )
    if len(counts) >= 3:
        first, second, last = counts[0], counts[1], counts[-1]
        line = tuple(
            extrapolate((first, series[first].samples[i]), (second, series[second].samples[i]), last)
            for i in range(ctx.repeats)
        )
        comparisons.append(
            Comparison(
                AREA,
                f"gates with {last} features vs the line through {first} and {second}",
                series[last],
                Series(f"extrapolated from {first} and {second}", line),
                note="Above 1.0x the gates grow faster than linearly with features; below, slower.",
            )
        )
    return comparisons


def run(ctx: BenchContext) -> Sequence[Comparison]:
    """The gates figures: nox -s gates against the tools directly, then the growth with features."""
    return [bench_nox_gates(ctx), *bench_scaling(ctx)]
