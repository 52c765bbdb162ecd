"""A rendered library on its production backends: its own integration tests, on PostgreSQL and Kafka.

The library's tests start both servers themselves (a throwaway PostgreSQL cluster with `initdb`
and `pg_ctl`, a Tansu broker from the `dev` extra) and run every database, node and feature test
again on them. PostgreSQL's binaries must be installed (`.ci/run` installs Debian's `postgresql`).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from .project_env import prepare_env, requirements_of
from .rendering import EXAMPLES

pytestmark = pytest.mark.integration


def postgresql_installed() -> bool:
    """Whether PostgreSQL's server binaries are where the library's fixture looks for them."""
    return shutil.which("initdb") is not None or any(Path("/usr/lib/postgresql").glob("*/bin/initdb"))


@pytest.mark.skipif(
    not postgresql_installed(),
    reason="PostgreSQL's server binaries (initdb, pg_ctl) are not installed: apt-get install postgresql (.ci/run does)",
)
def test_the_features_and_nodes_pass_on_postgresql_and_kafka(feature_library: Path) -> None:
    env = prepare_env(requirements_of(feature_library, extras=("postgres", "kafka")))
    pytest_args = ("python", "-m", "pytest", "-m", "integration", "-p", "no:cacheprovider")

    collected = env.run(*pytest_args, "--collect-only", "-q", cwd=feature_library).stdout
    for example in sorted(EXAMPLES.glob("*.yml")):
        assert re.search(rf"tests/features/test_{example.stem}\.py::\w+\[production\]", collected), example.stem
    assert "test_node_database_effect.py::test_a_postgres_restart_opens_the_breaker" in collected

    result = env.run(*pytest_args, "-q", cwd=feature_library, check=False)
    output = f"{result.stdout}\n{result.stderr}"
    assert result.returncode == 0, output
    summary = output.strip().splitlines()[-1]
    assert re.search(r"\d+ passed", summary), output
    assert "skipped" not in summary, f"a server was missing:\n{output}"
