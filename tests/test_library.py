"""The library sub-template: what it renders, and that the result passes its own checks."""

from __future__ import annotations

import re
import subprocess
import zipfile
from pathlib import Path

import pytest
import yaml
from uv import find_uv_bin

from extensions import catalog

from .project_env import ProjectEnv
from .rendering import SUITE_ROOT, render_library, snapshot_suite

TEMPLATE = SUITE_ROOT / "template" / "library"
PACKAGE_SOURCE = TEMPLATE / "src" / "{{package_name}}"


def test_every_catalog_node_has_a_module_and_a_test_in_the_template() -> None:
    for node in catalog.CATALOG:
        assert (PACKAGE_SOURCE / "archetypes" / node.package / f"{node.module_name}.py").is_file(), node.name
        assert (TEMPLATE / "tests" / "archetypes" / f"test_{node.module_name}.py.jinja").is_file(), node.name


def test_every_node_module_in_the_template_is_in_the_catalog() -> None:
    modules = {p.stem for p in (PACKAGE_SOURCE / "archetypes").rglob("node_*.py")}
    assert modules == {node.module_name for node in catalog.CATALOG}


def _node_modules(library: Path) -> set[str]:
    return {p.stem for p in library.glob("src/*/archetypes/*/node_*.py")}


def test_full_library_has_every_node_and_its_answers(full_library: Path) -> None:
    assert _node_modules(full_library) == {node.module_name for node in catalog.CATALOG}
    answers = yaml.safe_load((full_library / ".copier-answers.yml").read_text())
    assert answers["package_name"] == "onex_full"
    assert answers["nodes"] == catalog.node_names()
    assert "library_answers_check" not in answers
    assert (full_library / "src" / "onex_full" / "py.typed").is_file()
    assert "MIT License" in (full_library / "LICENSE").read_text()


def test_trio_library_has_only_its_nodes_and_their_tests(trio_library: Path) -> None:
    assert _node_modules(trio_library) == {
        "node_database_effect",
        "node_hashing_compute",
        "node_session_reducer",
    }
    tests = {p.stem for p in trio_library.glob("tests/archetypes/test_node_*.py")}
    assert tests == {"test_node_database_effect", "test_node_hashing_compute", "test_node_session_reducer"}
    assert "Apache License" in (trio_library / "LICENSE").read_text()


def test_copy_from_a_git_url_at_a_tag_records_url_and_tag(tmp_path: Path) -> None:
    repository = snapshot_suite(tmp_path / "copier-onex.git", "v1.0.0")
    url = f"file://{repository}"
    destination = tmp_path / "from-url"
    render_library(destination, src=url, vcs_ref=None, project_name="From URL")
    answers = yaml.safe_load((destination / ".copier-answers.yml").read_text())
    assert answers["_src_path"] == url
    assert answers["_commit"] == "v1.0.0"
    assert (destination / "src" / "from_url" / "core" / "nodes.py").is_file()


LIBRARIES = ["full_library", "trio_library"]


@pytest.mark.slow
@pytest.mark.parametrize("library_name", LIBRARIES)
def test_ruff_is_clean(library_name: str, request: pytest.FixtureRequest, project_env: ProjectEnv) -> None:
    library: Path = request.getfixturevalue(library_name)
    project_env.run("ruff", "check", "--no-cache", ".", cwd=library)
    project_env.run("ruff", "format", "--no-cache", "--check", ".", cwd=library)


@pytest.mark.slow
@pytest.mark.parametrize("library_name", LIBRARIES)
def test_mypy_strict_is_clean(library_name: str, request: pytest.FixtureRequest, project_env: ProjectEnv) -> None:
    library: Path = request.getfixturevalue(library_name)
    cache = project_env.path.parent / "mypy-cache" / library.name
    project_env.run("mypy", "--cache-dir", str(cache), cwd=library)


@pytest.mark.slow
@pytest.mark.parametrize("library_name", LIBRARIES)
def test_generated_tests_pass(library_name: str, request: pytest.FixtureRequest, project_env: ProjectEnv) -> None:
    library: Path = request.getfixturevalue(library_name)
    project_env.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=library)


@pytest.mark.slow
@pytest.mark.parametrize(("library_name", "count"), [("full_library", 15), ("trio_library", 3)])
def test_cli_lists_the_selected_nodes_and_reports_health(
    library_name: str, count: int, request: pytest.FixtureRequest, project_env: ProjectEnv, tmp_path: Path
) -> None:
    library: Path = request.getfixturevalue(library_name)
    package = library.name.replace("-", "_")
    env = {"PYTHONPATH": str(library / "src")}
    nodes = project_env.run("python", "-m", package, "nodes", cwd=tmp_path, env=env)
    assert len(nodes.stdout.strip().splitlines()) == count
    health = project_env.run("python", "-m", package, "health", cwd=tmp_path, env=env)
    last_line = health.stdout.strip().splitlines()[-1]
    assert last_line in {"overall: HEALTHY", "overall: DEGRADED"}, health.stdout


@pytest.mark.slow
def test_health_exits_non_zero_when_a_critical_component_is_down(
    full_library: Path, project_env: ProjectEnv, tmp_path: Path
) -> None:
    env = {"PYTHONPATH": str(full_library / "src"), "ONEX_FULL_DATABASE_URL": "sqlite:////proc/onex/cannot.sqlite3"}
    health = project_env.run("python", "-m", "onex_full", "health", cwd=tmp_path, env=env, check=False)
    assert health.returncode == 1, health.stdout + health.stderr
    assert "UNHEALTHY" in health.stdout
    assert "node:database" in health.stdout


@pytest.mark.parametrize("library_name", LIBRARIES)
def test_rendered_files_carry_no_template_syntax(library_name: str, request: pytest.FixtureRequest) -> None:
    library: Path = request.getfixturevalue(library_name)
    for path in library.rglob("*"):
        if path.is_file():
            assert path.suffix != ".jinja", path
            text = path.read_text()
            if ".github" in path.parts:  # GitHub Actions expressions look like Jinja: `${{ github.ref }}`
                text = text.replace("${{ ", "")
            assert "{{ " not in text, path
            assert "{%" not in text, path


def test_readme_catalog_lists_exactly_the_selected_nodes(trio_library: Path) -> None:
    readme = (trio_library / "README.md").read_text()
    listed = {node.class_name for node in catalog.CATALOG if f"`{node.class_name}`" in readme}
    assert listed == {"NodeDatabaseEffect", "NodeHashingCompute", "NodeSessionReducer"}


@pytest.mark.slow
def test_the_wheel_carries_the_schema_files_and_type_information(trio_library: Path, tmp_path: Path) -> None:
    subprocess.run(
        [find_uv_bin(), "build", "--wheel", "--quiet", "--out-dir", str(tmp_path), str(trio_library)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("onex_trio-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "onex_trio/py.typed" in names
    assert "onex_trio/schema/sqlite/0001_core.sql" in names
    assert "onex_trio/archetypes/reducers/node_session_reducer.py" in names
    assert not any("node_llm_compute" in name for name in names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "onex_trio = onex_trio.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


@pytest.mark.slow
@pytest.mark.parametrize("library_name", LIBRARIES)
def test_the_readme_example_runs(
    library_name: str, request: pytest.FixtureRequest, project_env: ProjectEnv, tmp_path: Path
) -> None:
    library: Path = request.getfixturevalue(library_name)
    (example,) = re.findall(r"```python\n(.*?)```", (library / "README.md").read_text(), re.DOTALL)
    imports = [line for line in example.splitlines() if line.startswith(("from ", "import "))]
    body = [f"    {line}" for line in example.splitlines() if line.strip() and line not in imports]
    script = tmp_path / "example.py"
    script.write_text(
        "\n".join(["import asyncio", *imports, "async def main() -> None:", *body, "asyncio.run(main())"])
    )
    project_env.run("python", str(script), cwd=tmp_path, env={"PYTHONPATH": str(library / "src")})
