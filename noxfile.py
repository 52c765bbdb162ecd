"""The suite's own sessions: `tests`, `lint`, `demo`.

Run them through `python3 noxw.py -s <session>` (see README), or with nox directly.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["lint", "tests"]
nox.options.reuse_venv = "yes"

ROOT = Path(__file__).resolve().parent
PYPROJECT = nox.project.load_toml("pyproject.toml")
DEMO = ROOT / "build" / "demo"


@nox.session(python="3.11")
def tests(session: nox.Session) -> None:
    """The suite's tests: pass pytest options after `--` (e.g. `-m "not slow"`)."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "test"))
    session.run("pytest", *session.posargs)


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """Ruff and mypy --strict on extensions/, tests/ and the nox files."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")


@nox.session(python="3.11")
def demo(session: nox.Session) -> None:
    """Generate a library into build/demo/, run its CLI, then its own nox sessions (lint, types, tests)."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "template"))
    shutil.rmtree(DEMO, ignore_errors=True)
    session.run(
        "copier",
        "copy",
        "--trust",
        "--defaults",
        "--vcs-ref",
        "HEAD",
        "--quiet",
        "--data",
        "project_name=ONEX Demo",
        str(ROOT),
        str(DEMO),
    )
    session.install("-e", f"{DEMO}[dev]")
    with session.chdir(DEMO):
        session.run("onex_demo", "nodes")
        session.run("onex_demo", "health")
        # The generated project's own noxfile, run by the nox running this session.
        session.run(sys.executable, "-m", "nox", external=True)
