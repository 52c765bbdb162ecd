"""sp-repo-review (the Scientific Python development guidelines) on a rendered library.

Every check passes, or the generated pyproject.toml skips it under
`[tool.repo-review.ignore]` with the reason it does not apply; a skip that is no
longer needed (its check would pass) fails too. The library is the one with the
example features: its `docs/` folder (PY004) holds their pages.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any


def repo_review(project: Path, *args: str) -> dict[str, dict[str, Any]]:
    """Run repo-review (with the sp-repo-review checks) on `project`; its checks by code."""
    result = subprocess.run(
        [sys.executable, "-m", "repo_review", str(project), "--format", "json", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    # Exit code 3 means "some check failed"; anything else but 0 is repo-review itself failing.
    assert result.returncode in (0, 3), result.stderr
    checks: dict[str, dict[str, Any]] = json.loads(result.stdout)["checks"]
    assert checks, result.stdout
    return checks


def _skips(project: Path) -> dict[str, str]:
    config = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    skips: dict[str, str] = config["tool"]["repo-review"]["ignore"]
    return skips


def test_every_check_passes_or_is_skipped_with_a_reason(feature_library: Path) -> None:
    checks = repo_review(feature_library)
    failing = {code: check["description"] for code, check in checks.items() if check["result"] is False}
    assert not failing, f"sp-repo-review checks failing: {failing}"
    skipped = {code: check for code, check in checks.items() if check["result"] is None}
    assert skipped, "no check skipped: drop [tool.repo-review.ignore]"
    unexplained = [code for code, check in skipped.items() if not check["skip_reason"].strip()]
    assert not unexplained, f"skipped without a reason: {unexplained}"
    assert set(skipped) == set(_skips(feature_library))
    # The families of the guidelines the library is checked against (all but Read the Docs and setup.cfg).
    assert {check["family"] for check in checks.values()} >= {
        "general",
        "pyproject",
        "github",
        "mypy",
        "noxfile",
        "pre-commit",
        "ruff",
        "security",
    }


def test_each_skip_is_still_needed(feature_library: Path) -> None:
    """Without the ignore table, each skipped check fails (or is not run, its prerequisite failing)."""
    skips = _skips(feature_library)
    # An `--ignore` on the command line replaces the pyproject table; the code ignored here is no check.
    raw = repo_review(feature_library, "--ignore", "NONE000")
    assert not [code for code, check in raw.items() if check["skip_reason"]], "the ignore table was applied"
    passing = sorted(code for code in skips if raw[code]["result"] is True)
    assert not passing, f"these checks pass now: remove them from [tool.repo-review.ignore]: {passing}"
    assert all(code in raw for code in skips), sorted(set(skips) - set(raw))
