"""Run a rendered library's quality gates and read their report: what every gate test builds on.

A plant test copies `feature_library` (`gated_copy`), plants ONE violation, runs the
gates (`run_plant`) and checks that the planted gate, and only it, fails
(`assert_only_gate_fails`). In the default suite a plant runs its own gate and the
static gates; parametrised with `PLANT_SCOPES`, the `gates_matrix` group runs all 23:

    @pytest.mark.parametrize("scope", PLANT_SCOPES)
    def test_a_bare_except_fails_qc_004(scope: str, feature_library: Path, project_env: ProjectEnv, tmp_path: Path):
        library = gated_copy(project_env, feature_library, tmp_path / "lib")
        ...  # plant the violation
        report = run_plant(project_env, library, "QC-004", scope)
        assert_only_gate_fails(report, "QC-004", path="src/onex_demo/...", message="bare except")
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from .project_env import ProjectEnv

#: Left out of a copy: build output and caches that name the original's paths. `.mypy_cache` is
#: kept, so mypy (QC-003) runs warm in the copy.
COPY_IGNORED = ("build", ".nox", ".pytest_cache", ".ruff_cache", "__pycache__")

#: The scopes of a plant test: its gate plus the static gates (default suite), or all 23 gates.
PLANT_SCOPES = [pytest.param("static", id="static"), pytest.param("all", id="all", marks=pytest.mark.gates_matrix)]


def copy_library(src: Path, dst: Path) -> Path:
    """A copy of the library `src` at `dst`, without build output and caches (but with mypy's)."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(*COPY_IGNORED), symlinks=True)
    return dst


def warm_mypy(env: ProjectEnv, library: Path) -> None:
    """Run mypy once in `library`, so copies of it start with a warm `.mypy_cache` (a no-op once warm)."""
    if not (library / ".mypy_cache").is_dir():
        env.run("python", "-m", "mypy", cwd=library, check=False)


def gated_copy(env: ProjectEnv, src: Path, dst: Path) -> Path:
    """A copy of `src` for running gates on: mypy is warmed in `src` first, then the copy keeps its cache."""
    warm_mypy(env, src)
    return copy_library(src, dst)


def run_gates(env: ProjectEnv, project: Path, *args: str) -> dict[str, Any]:
    """Run `python -m quality *args` in `project` and return its `build/gates/report.json`.

    `args` are gate ids and CLI options (`--runs static`); none runs all 23. The exit
    code must agree with the report: 0 when it passed, 1 when a blocking gate failed.
    """
    report_dir = project / "build" / "gates"
    (report_dir / "report.json").unlink(missing_ok=True)
    result = env.run("python", "-m", "quality", *args, "--report-dir", str(report_dir), cwd=project, check=False)
    assert result.returncode in (0, 1), (
        f"python -m quality {' '.join(args)} exited {result.returncode}:\n{result.stderr}"
    )
    assert (report_dir / "report.json").is_file(), f"python -m quality wrote no report:\n{result.stderr}"
    report: dict[str, Any] = json.loads((report_dir / "report.json").read_text(encoding="utf-8"))
    assert result.returncode == (0 if report["passed"] else 1), f"exit code disagrees with the report:\n{result.stdout}"
    return report


def run_plant(env: ProjectEnv, project: Path, gate_id: str, scope: str) -> dict[str, Any]:
    """Run the gates a plant test needs: `gate_id` and the static gates, or all 23 when `scope` is "all"."""
    return run_gates(env, project, *([gate_id, "--runs", "static"] if scope == "static" else []))


def gate_result(report: dict[str, Any], gate_id: str) -> dict[str, Any]:
    """The report's entry for `gate_id`."""
    for result in report["gates"]:
        if result["id"] == gate_id:
            return dict(result)
    raise AssertionError(f"{gate_id} did not run; ran: {[result['id'] for result in report['gates']]}")


def describe(report: dict[str, Any]) -> str:
    """The report's gates, one line each, with every finding: for assertion messages."""
    lines: list[str] = []
    for result in report["gates"]:
        lines.append(f"{result['id']} {result['status']} {result['reason']}".rstrip())
        lines.extend(f"    {f['path']}:{f['line']} {f['message']}" for f in result["findings"])
    return "\n".join(lines)


def assert_all_pass(report: dict[str, Any]) -> None:
    """Every gate of the report passed."""
    failing = [result["id"] for result in report["gates"] if result["status"] != "pass"]
    assert not failing, f"gates not passing: {failing}\n{describe(report)}"


def assert_only_gate_fails(
    report: dict[str, Any], gate_id: str, *, path: str | None = None, message: str | None = None
) -> list[dict[str, Any]]:
    """`gate_id` failed, every other gate of the report passed (or skipped), and return its findings.

    Args:
        report: A parsed report.json.
        gate_id: The gate the plant targets.
        path: When given, some finding's path must end with it.
        message: When given, that finding's message must contain it (case-insensitive).
    """
    planted = gate_result(report, gate_id)
    assert planted["status"] == "fail", f"{gate_id} should fail but is {planted['status']}:\n{describe(report)}"
    assert planted["findings"], f"{gate_id} failed without a finding"
    matching = [
        finding
        for finding in planted["findings"]
        if (path is None or finding["path"].endswith(path))
        and (message is None or message.lower() in finding["message"].lower())
    ]
    assert matching, f"no finding of {gate_id} names {path!r} / {message!r}:\n{describe(report)}"
    others = [
        result["id"]
        for result in report["gates"]
        if result["id"] != gate_id and result["status"] not in ("pass", "skip")
    ]
    assert not others, f"only {gate_id} should fail, but so do {others}:\n{describe(report)}"
    assert not report["passed"]
    return list(planted["findings"])
