"""The runtime benchmarks' pure helpers: reading a library script's document, and the figures made of it."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.buses import NEAR_BUDGET, bus_comparisons
from benchmarks.context import BenchmarkError
from benchmarks.model import BenchContext
from benchmarks.runtime import (
    WORKFLOW_BUDGET,
    library_environ,
    overhead_share,
    package_name,
    parse_document,
    runs_per_second,
    samples,
    workflow_comparison,
)
from benchmarks.serve import serve_comparison


def test_parse_document_reads_the_last_line() -> None:
    assert parse_document('warming up\n{"ours": [1]}\n\n') == {"ours": [1]}


@pytest.mark.parametrize(
    ("stdout", "message"),
    [("", "printed no result"), ("done\n", "not JSON"), ("[1, 2]\n", "not a JSON object")],
)
def test_parse_document_refuses_what_is_not_a_document(stdout: str, message: str) -> None:
    with pytest.raises(BenchmarkError, match=message):
        parse_document(stdout)


def test_samples_are_floats() -> None:
    assert samples({"raw": [1, 2.5]}, "raw") == (1.0, 2.5)


@pytest.mark.parametrize("document", [{}, {"raw": []}, {"raw": "1"}, {"raw": [1, "2"]}, {"raw": [True]}])
def test_samples_refuse_missing_or_foreign_values(document: dict[str, object]) -> None:
    with pytest.raises(BenchmarkError, match="no samples under 'raw'"):
        samples(document, "raw")


def test_overhead_share_is_the_part_of_the_subject_the_baseline_lacks() -> None:
    assert overhead_share(10.0, 8.0) == pytest.approx(0.2)
    assert overhead_share(8.0, 10.0) == pytest.approx(-0.25)
    with pytest.raises(ValueError, match="positive"):
        overhead_share(0.0, 1.0)


def test_runs_per_second_of_sequential_runs() -> None:
    assert runs_per_second([0.1, 0.3]) == pytest.approx(5.0)
    with pytest.raises(ValueError, match="positive"):
        runs_per_second([])


def test_workflow_comparison_pools_the_repeats() -> None:
    ours = [(0.012, 0.010, 0.011), (0.013, 0.011)]
    raw = [(0.010, 0.009, 0.011), (0.010, 0.010)]
    comparison = workflow_comparison("register_user", ours, raw)
    assert comparison.area == "runtime"
    assert comparison.budget == WORKFLOW_BUDGET
    assert len(comparison.subject.samples) == 5
    assert comparison.subject.median == pytest.approx(0.011)
    assert comparison.baseline is not None
    assert comparison.baseline.median == pytest.approx(0.010)
    assert comparison.ratio == pytest.approx(1.1)
    assert comparison.within_budget is True
    assert comparison.extra["p50_ms"] == pytest.approx(11.0)
    assert comparison.extra["p95_ms"] == pytest.approx(13.0)
    assert comparison.extra["raw_p50_ms"] == pytest.approx(10.0)
    assert comparison.extra["overhead_share"] == pytest.approx(1 / 11)
    # Runs per second is the median over repeats of each repeat's sequential rate.
    assert comparison.extra["runs_per_s"] == pytest.approx((3 / 0.033 + 2 / 0.024) / 2)


def test_bus_comparisons_follow_the_document() -> None:
    document = {
        "kafka_consume": {"bus": [900.0, 1100.0], "raw": [1000.0, 1200.0]},
        "memory": {"bus": [100.0], "raw": [160.0]},
    }
    comparisons = bus_comparisons(document)
    assert [comparison.name for comparison in comparisons] == [
        "in-memory bus vs asyncio.Queue (messages/s)",
        "Kafka consume (messages/s)",
    ]
    memory, consume = comparisons
    assert memory.subject.unit == "ops/s"
    assert memory.ratio == pytest.approx(1.6)  # throughput: baseline / subject
    assert memory.within_budget is False
    assert consume.ratio == pytest.approx(1.1)
    assert all(comparison.budget == NEAR_BUDGET and "1.5x" in comparison.note for comparison in comparisons)


def test_serve_comparison_reports_the_speedup_without_a_budget() -> None:
    comparison = serve_comparison({"1": [20.0, 22.0], "2": [30.0, 33.0], "failed": 1}, requests=60)
    assert comparison.budget is None
    assert comparison.within_budget is None
    assert comparison.ratio == pytest.approx(21.0 / 31.5)
    assert comparison.extra == {"speedup": pytest.approx(1.5), "failed_requests": 1.0}
    assert "60 metadata_stamping requests" in comparison.note


def _library(tmp_path: Path, *packages: str) -> Path:
    for package in packages:
        (tmp_path / "src" / package).mkdir(parents=True)
        (tmp_path / "src" / package / "__init__.py").write_text("", encoding="utf-8")
    (tmp_path / "src" / "not_a_package").mkdir(parents=True)
    return tmp_path


def test_package_name_is_the_one_package_under_src(tmp_path: Path) -> None:
    assert package_name(_library(tmp_path, "onex_demo")) == "onex_demo"


def test_package_name_refuses_two_packages(tmp_path: Path) -> None:
    with pytest.raises(BenchmarkError, match="expected one package"):
        package_name(_library(tmp_path, "one", "two"))


def test_library_environ_drops_the_library_settings_of_this_shell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    library = _library(tmp_path, "onex_demo")
    monkeypatch.setenv("ONEX_DEMO_BUS_URL", "kafka://elsewhere:9092")
    monkeypatch.setenv("PYTHONPATH", "/somewhere/else")
    ctx = BenchContext(
        suite=tmp_path,
        library=library,
        python=Path("python"),
        work=tmp_path,
        repeats=1,
        quick=True,
        log=lambda _message: None,
    )
    environ = library_environ(ctx, {"EXTRA": "1"})
    assert "ONEX_DEMO_BUS_URL" not in environ
    assert environ["PYTHONPATH"] == str(library / "src")
    assert environ["EXTRA"] == "1"
