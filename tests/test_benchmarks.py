"""The benchmark framework: figures, verdicts, the results files, and a crashing area.

The unit tests check the arithmetic and the shape of what a run writes; the one slow test
runs `python -m benchmarks --quick --only generation` for real. No test asserts a time.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from benchmarks.__main__ import load_area, run_areas
from benchmarks.context import renamed_specs
from benchmarks.gates import extrapolate, gate_outcome, gate_seconds, least_squares
from benchmarks.model import Area, BenchContext, Comparison, Series
from benchmarks.report import RANGE, AreaOutcome, Machine, markdown_table, render_markdown, results_json, write_results

from .rendering import SUITE_ROOT

MACHINE = Machine("Test CPU", 2, 8.0, "Linux-test", "3.11.7", {"copier": "9.19.1"})
DATE = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)


def times(*samples: float, name: str = "subject") -> Series:
    return Series(name, samples)


def throughput(*samples: float, name: str = "subject") -> Series:
    return Series(name, samples, unit="ops/s")


def context(tmp_path: Path, log: list[str]) -> BenchContext:
    return BenchContext(
        suite=SUITE_ROOT,
        library=tmp_path / "lib",
        python=Path(sys.executable),
        work=tmp_path,
        repeats=1,
        quick=True,
        log=log.append,
    )


# ------------------------------------------------------------------ model


def test_series_median_min_max_and_percentiles() -> None:
    series = times(5.0, 1.0, 3.0, 2.0, 4.0)
    assert (series.median, series.min, series.max) == (3.0, 1.0, 5.0)
    assert series.percentile(50) == 3.0
    assert series.percentile(95) == 5.0
    assert series.percentile(0) == 1.0
    assert times(7.0).percentile(95) == 7.0


def test_a_time_ratio_is_subject_over_baseline() -> None:
    comparison = Comparison("a", "f", times(3.0, 3.0, 9.0), times(2.0, 1.0, 2.0))
    assert comparison.ratio == pytest.approx(1.5)


def test_a_throughput_ratio_is_baseline_over_subject() -> None:
    comparison = Comparison("a", "f", throughput(500.0), throughput(1000.0, name="raw"))
    assert comparison.ratio == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("subject", "budget", "expected"),
    [(1.4, 1.5, True), (1.5, 1.5, True), (1.6, 1.5, False), (1.4, None, None)],
)
def test_the_budget_verdict(subject: float, budget: float | None, expected: bool | None) -> None:
    assert Comparison("a", "f", times(subject), times(1.0), budget).within_budget is expected


def test_a_figure_without_a_baseline_has_no_ratio_and_no_verdict() -> None:
    comparison = Comparison("a", "f", times(1.0), budget=1.5)
    assert comparison.ratio is None
    assert comparison.within_budget is None


# ------------------------------------------------------------------ report


def test_the_markdown_table_has_one_row_per_figure_with_verdicts() -> None:
    rows = markdown_table(
        [
            Comparison("generation", "copy", times(3.0, 2.0, 4.0), times(1.0, 0.9, 1.2), 1.5, note="why | how"),
            Comparison("gates", "nox", times(1.2), times(1.0), 1.5),
            Comparison("gates", "slope", times(0.5)),
        ]
    ).splitlines()
    assert rows[0].startswith(f"| area | figure | subject median (min{RANGE}max) | baseline median (min{RANGE}max) |")
    assert len(rows) == 5
    assert rows[2] == (
        f"| generation | copy | 3.00 s (2.00{RANGE}4.00) | 1.00 s (0.900{RANGE}1.20) "
        "| 3.00x | ≤ 1.5x | ✗ | why \\| how |"
    )
    assert rows[3] == "| gates | nox | 1.20 s | 1.00 s | 1.20x | ≤ 1.5x | ✓ |  |"
    assert rows[4] == "| gates | slope | 0.500 s | — | — | — | — |  |"


def test_results_json_holds_the_machine_the_areas_and_every_comparison() -> None:
    figure = Comparison("gates", "nox", times(2.0, 3.0), times(1.0, 2.0), 1.5, extra={"QC-001": 0.1})
    outcomes = [
        AreaOutcome("gates", "ok", (figure,)),
        AreaOutcome("runtime", "not run", reason="no module benchmarks.runtime"),
    ]
    data = json.loads(json.dumps(results_json(outcomes, MACHINE, DATE)))
    assert data["date"] == "2026-01-02T03:04:00+00:00"
    assert data["machine"] == {
        "cpu": "Test CPU",
        "cores": 2,
        "ram_gib": 8.0,
        "os": "Linux-test",
        "python": "3.11.7",
        "versions": {"copier": "9.19.1"},
    }
    assert [area["status"] for area in data["areas"]] == ["ok", "not run"]
    (comparison,) = data["comparisons"]
    assert comparison["ratio"] == pytest.approx(2.5 / 1.5)
    assert comparison["within_budget"] is False
    assert comparison["subject"]["samples"] == [2.0, 3.0]
    assert set(comparison["subject"]) == {"name", "unit", "median", "min", "max", "p95", "samples"}
    assert comparison["extra"] == {"QC-001": 0.1}


def test_the_markdown_names_the_machine_and_the_areas_without_figures() -> None:
    text = render_markdown([AreaOutcome("serve", "crashed", reason="OSError: port\nmore")], MACHINE, DATE)
    assert "Machine: Test CPU, 2 cores, 8.0 GiB RAM, Linux-test, Python 3.11.7; copier 9.19.1." in text
    assert "- serve: crashed: OSError: port\n" in text


def test_an_unknown_area_status_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown area status 'fine'"):
        AreaOutcome("gates", "fine")


# ------------------------------------------------------------------ running areas


def test_a_crashing_area_is_reported_and_the_others_are_still_written(tmp_path: Path) -> None:
    def good(ctx: BenchContext) -> Sequence[Comparison]:
        ctx.log("measuring")
        return [Comparison("good", "figure", times(2.0), times(1.0), 1.5)]

    def bad(ctx: BenchContext) -> Sequence[Comparison]:
        raise RuntimeError("the broker went away")

    areas: dict[str, Area | str] = {"good": good, "bad": bad, "missing": "no module benchmarks.missing"}
    log: list[str] = []
    outcomes = run_areas(["bad", "good", "missing"], context(tmp_path, log), areas.__getitem__)

    assert [(outcome.area, outcome.status) for outcome in outcomes] == [
        ("bad", "crashed"),
        ("good", "ok"),
        ("missing", "not run"),
    ]
    assert outcomes[0].reason == "RuntimeError: the broker went away"
    assert "[good] measuring" in log
    assert any(line.startswith("[bad] crashed:") and "the broker went away" in line for line in log)

    json_path, markdown_path = write_results(tmp_path / "out", outcomes, MACHINE, DATE)
    data = json.loads(json_path.read_text(encoding="utf-8"))
    assert [item["name"] for item in data["comparisons"]] == ["figure"]
    assert {area["area"]: area["reason"] for area in data["areas"]}["missing"] == "no module benchmarks.missing"
    markdown = markdown_path.read_text(encoding="utf-8")
    assert "| good | figure | 2.00 s | 1.00 s | 2.00x | ≤ 1.5x | ✗ |" in markdown
    assert "- bad: crashed: RuntimeError: the broker went away" in markdown


def test_an_area_without_a_module_is_not_run_with_the_reason() -> None:
    assert load_area("no_such_area") == "no module benchmarks.no_such_area"
    assert callable(load_area("generation"))


# ------------------------------------------------------------------ the areas' arithmetic


def test_least_squares_fits_a_line_and_reports_r_squared() -> None:
    slope, intercept, r_squared = least_squares([(1, 12.0), (5, 20.0), (20, 50.0)])
    assert slope == pytest.approx(2.0)
    assert intercept == pytest.approx(10.0)
    assert r_squared == pytest.approx(1.0)
    assert least_squares([(1, 10.0), (5, 30.0), (20, 10.0)])[2] < 0.5
    with pytest.raises(ValueError, match="two different x values"):
        least_squares([(3, 1.0), (3, 2.0)])


def test_extrapolate_follows_the_line_through_two_points() -> None:
    assert extrapolate((1, 12.0), (5, 20.0), 20) == pytest.approx(50.0)


def test_gate_seconds_reads_each_gate_and_the_total_of_a_report() -> None:
    report = {"duration_ms": 1500.0, "gates": [{"id": "QC-001", "duration_ms": 250.0}]}
    assert gate_seconds(report) == {"QC-001": 0.25, "total": 1.5}


def test_gate_outcome_names_the_gates_that_did_not_pass() -> None:
    gates = [{"id": "QC-001", "status": "pass"}, {"id": "KV-001", "status": "skip"}, {"id": "SV-004", "status": "fail"}]
    assert gate_outcome({"gates": gates}) == "gates not passing: SV-004"
    assert gate_outcome({"gates": gates[:2]}) == "all gates passed"


def test_renamed_specs_cycle_through_the_examples_with_unique_names() -> None:
    names = [str(spec["feature_name"]) for spec in renamed_specs(5)]
    assert len(set(names)) == 5
    assert names[0].endswith("_01")
    assert names[4].endswith("_05")
    assert names[0].removesuffix("_01") == names[3].removesuffix("_04")


# ------------------------------------------------------------------ for real


@pytest.mark.slow
def test_a_quick_generation_run_writes_both_files(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--only", "generation", "--output", str(tmp_path)],
        cwd=SUITE_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert [area["status"] for area in data["areas"]] == ["ok"]
    names = [item["name"] for item in data["comparisons"]]
    assert names == [
        "copier copy: library (CLI, cold)",
        "copier copy: feature user_auth (CLI, cold)",
        "copier update: library + 3 features, total (4 answers files)",
        "copier update: per answers file (mean)",
    ]
    for item in data["comparisons"]:
        assert len(item["subject"]["samples"]) == 1
        assert item["subject"]["median"] > 0
    assert [item["budget"] for item in data["comparisons"]] == [1.5, 1.2, None, None]
    markdown = (tmp_path / "results.md").read_text(encoding="utf-8")
    assert markdown.count("| generation |") == 4
    assert "[generation] copy library: library run 1/1:" in result.stderr
