"""The suite's own sessions: `tests`, `lint`, `demo`, `bench`.

Run them through `python3 noxw.py -s <session>` (see README), or with nox directly.
"""

from __future__ import annotations

import json
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
    """The whole suite on two workers; pytest options after `--` replace the selection (`-m "not slow"`)."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "test"))
    # `-m ""` selects every marker group, the gates matrix included (plain `pytest` leaves it out).
    session.run("pytest", "-n", "2", *(session.posargs or ["-m", ""]))


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """Ruff and mypy --strict on extensions/, tests/ and the nox files."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")


@nox.session(python="3.11", default=False)
def bench(session: nox.Session) -> None:
    """The benchmarks (README, Performance): build/bench/results.json and results.md; options after `--`."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "bench"))
    session.run("python", "-m", "benchmarks", *session.posargs)


#: The demo's requests: (title, feature, request, expected exit code of `onex_demo run`).
DEMO_RUNS: list[tuple[str, str, dict[str, str], int]] = [
    (
        "register ada",
        "register_user",
        {"username": "ada", "email": "ada@example.com", "password": "correct-horse-battery"},
        0,
    ),
    ("log in with the right password", "user_auth", {"username": "ada", "password": "correct-horse-battery"}, 0),
    ("log in with a wrong password", "user_auth", {"username": "ada", "password": "wrong-password"}, 1),
    ("stamp a file", "metadata_stamping", {"path": "notes/hello.txt", "namespace": "docs"}, 0),
    ("stamp it again", "metadata_stamping", {"path": "notes/hello.txt", "namespace": "docs"}, 0),
]


def _copier(session: nox.Session, *args: str) -> None:
    session.run("copier", "copy", "--trust", "--defaults", "--vcs-ref", "HEAD", "--quiet", *args, str(ROOT), str(DEMO))


@nox.session(python="3.11")
def demo(session: nox.Session) -> None:
    """Generate a library with the example features in build/demo/, run them, then its nox sessions and gates."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "template"))
    shutil.rmtree(DEMO, ignore_errors=True)
    _copier(session, "--data", "project_name=ONEX Demo")
    for spec in sorted((ROOT / "examples").glob("*.yml")):
        _copier(session, "--data", "kind=feature", "--data-file", str(spec))
    session.install("-e", f"{DEMO}[dev]")
    with session.chdir(DEMO):
        session.run("onex_demo", "nodes")
        session.run("onex_demo", "features")
        notes = DEMO / ".onex" / "files" / "notes"
        notes.mkdir(parents=True, exist_ok=True)
        (notes / "hello.txt").write_text("Hello, ONEX.\n", encoding="utf-8")
        for title, feature, request, expected in DEMO_RUNS:
            session.log(f"demo: {title} ({feature}); expect exit {expected}")
            session.run("onex_demo", "run", feature, "--input", json.dumps(request), success_codes=[expected])
        session.run("onex_demo", "health")
        # The generated project's own noxfile, run by the nox running this session: lint, types, tests,
        # then the 23 quality gates (the report lands in build/demo/build/gates/).
        session.run(sys.executable, "-m", "nox", external=True)
        session.run(sys.executable, "-m", "nox", "-s", "gates", external=True)
