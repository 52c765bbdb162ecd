"""Fixtures: rendered libraries (rendered once per test module) and the shared environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from .project_env import ProjectEnv, prepare_env, requirements_of
from .rendering import EXAMPLES, load_spec, render_feature, render_library


@pytest.fixture(scope="session")
def full_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A library with every catalog node."""
    return render_library(tmp_path_factory.mktemp("full") / "onex-full", project_name="ONEX Full")


@pytest.fixture(scope="session")
def trio_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A library with three nodes, one effect, one compute and one reducer."""
    return render_library(
        tmp_path_factory.mktemp("trio") / "onex-trio",
        project_name="ONEX Trio",
        nodes=["database", "hashing", "session"],
        license="Apache-2.0",
    )


#: Extra specs the feature library carries beside the examples (tests/specs/).
SPECS = Path(__file__).resolve().parent / "specs"


@pytest.fixture(scope="session")
def feature_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A library with every node, the three example features, and the test specs of tests/specs/.

    `login` is `user_auth` under another name: the same contract names in two features.
    """
    library = render_library(tmp_path_factory.mktemp("features") / "onex-demo", project_name="ONEX Demo")
    for spec in sorted(EXAMPLES.glob("*.yml")):
        render_feature(library, load_spec(spec))
    render_feature(library, {**load_spec(EXAMPLES / "user_auth.yml"), "feature_name": "login"})
    for spec in sorted(SPECS.glob("*.yml")):
        render_feature(library, load_spec(spec))
    return library


@pytest.fixture(scope="session")
def project_env(full_library: Path) -> ProjectEnv:
    """The environment every rendered library's tools run in."""
    return prepare_env(requirements_of(full_library))
