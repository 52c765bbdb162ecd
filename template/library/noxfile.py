#!/usr/bin/env -S uv run --script
# /// script
# dependencies = ["nox>=2025.2.9"]
# ///
"""Developer sessions: `nox` runs lint, typecheck and tests; `nox -s gates` the 23 quality gates.

`nox -s update` brings copier-onex's changes into the project (README: Updating).
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import nox

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_venv = "yes"


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff lint and format check."""
    session.install("-e", ".[dev]")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """Type-check src/ and tests/ with mypy --strict."""
    session.install("-e", ".[dev]")
    session.run("mypy")


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite on the embedded backends; pass pytest options after `--`."""
    session.install("-e", ".[dev]")
    session.run("pytest", *session.posargs)


@nox.session(default=False)
def integration(session: nox.Session) -> None:
    """The tests on PostgreSQL and Kafka, servers they start themselves (PostgreSQL's binaries must be installed)."""
    session.install("-e", ".[dev,postgres,kafka]")
    session.run("pytest", "-m", "integration", *session.posargs)


#: The gate categories of quality/gates.yaml; each has a session tagged with it (`nox -t structural`).
GATE_CATEGORIES = (
    "structural",
    "process",
    "interface",
    "coordination",
    "quality-compliance",
    "performance",
    "knowledge",
    "framework",
)
#: The one environment every gate session runs in: the `gates` session's own.
GATES_ENV = Path(".nox") / "gates"
GATES_STAMP = ".installed-for"


def _requirements_hash() -> str:
    return hashlib.sha256(Path("pyproject.toml").read_bytes()).hexdigest()


def _gates_env_ready(location: Path) -> bool:
    """The environment has the project installed for the current pyproject.toml."""
    stamp = location / GATES_STAMP
    return stamp.is_file() and stamp.read_text(encoding="utf-8") == _requirements_hash()


@nox.session(reuse_venv=True, default=False)
def gates(session: nox.Session) -> None:
    """The 23 quality gates; name gates or options after `--` (`nox -s gates -- QC-001 SV-003`)."""
    location = Path(session.virtualenv.location)
    if not _gates_env_ready(location):  # a warm run installs nothing
        session.install("-e", ".[dev]")
        (location / GATES_STAMP).write_text(_requirements_hash(), encoding="utf-8")
    session.run("python", "-m", "quality", *session.posargs)


def _in_gates_env(session: nox.Session, *args: str) -> None:
    """Run `python -m <args>` in the `gates` session's environment, installing it first if needed."""
    if not _gates_env_ready(GATES_ENV):
        session.run(sys.executable, "-m", "nox", "--install-only", "--session", "gates", external=True)
    python = GATES_ENV / ("Scripts" if sys.platform == "win32" else "bin") / "python"
    session.run(str(python), "-m", *args, external=True)


def _category_session(category: str) -> None:
    def run(session: nox.Session) -> None:
        _in_gates_env(session, "quality", "--category", category, *session.posargs)

    run.__doc__ = f"The {category} gates, in the environment of the `gates` session."
    nox.session(name=f"gates-{category}", venv_backend="none", tags=[category], default=False)(run)


for _category in GATE_CATEGORIES:
    _category_session(_category)


#: What `nox -s update` runs Copier with: the versions copier-onex is tested with (the `dev` extra pins the same).
COPIER = ("copier==9.19.1", "copier-template-extensions==0.3.4")


@nox.session(default=False)
def update(session: nox.Session) -> None:
    """Update the library, then each feature and node, from copier-onex; changes end up staged (README: Updating).

    `nox -s update -- --vcs-ref v0.4.0` updates to that version instead of the latest.
    """
    session.install(*COPIER)
    session.run("python", "-m", "quality.template_sync", "update", *session.posargs)


@nox.session(venv_backend="none", default=False)
def catalog(session: nox.Session) -> None:
    """Write docs/asyncapi.yaml, the catalog of nodes, features, events and topics; commit it (gate IV-003)."""
    _in_gates_env(session, "quality.catalog", *session.posargs)


if __name__ == "__main__":
    nox.main()
