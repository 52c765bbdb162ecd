"""A generated library's pre-commit hooks, gate FV-002, and its CI workflow.

The hooks are checked twice: statically (every hook local and pinned; the mypy hook
installs every dependency pyproject.toml declares, at a version it allows) and for real,
`pre-commit run --all-files` on copies of the feature library, clean and with planted
violations. Hook environments install from PyPI on the first run (with uv, through
pre-commit-uv) into build/pre-commit/, which every test run shares; those tests carry
the `precommit` marker. FV-002 is planted like every other gate (tests/gates.py).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from .gates import PLANT_SCOPES, assert_only_gate_fails, gate_result, gated_copy, run_gates, run_plant
from .project_env import ProjectEnv
from .rendering import SUITE_ROOT, git

#: Where pre-commit keeps the hook environments, shared by every run of the suite.
PRE_COMMIT_HOME = SUITE_ROOT / "build" / "pre-commit"

#: The hooks issue 5 asks for, and the two the Scientific Python guidelines add (codespell, zizmor).
EXPECTED_HOOKS = {
    "check-merge-conflict",
    "copier-leftovers",
    "check-yaml",
    "check-toml",
    "end-of-file-fixer",
    "trailing-whitespace",
    "detect-private-key",
    "codespell",
    "zizmor",
    "ruff-check",
    "ruff-format",
    "mypy",
    "quality-gates",
}

#: A conflict as `copier update` leaves it in a file (git merge-file, Copier's labels).
CONFLICT = "<<<<<<< before updating\nbuild/\n=======\nbuild/\ndist/\n>>>>>>> after updating\n"


def _config(library: Path) -> dict[str, Any]:
    data = yaml.safe_load((library / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _hooks(library: Path) -> dict[str, dict[str, Any]]:
    return {hook["id"]: hook for repo in _config(library)["repos"] for hook in repo["hooks"]}


def _fv002_options(library: Path) -> dict[str, Any]:
    gates = yaml.safe_load((library / "quality" / "gates.yaml").read_text(encoding="utf-8"))
    options = next(entry["options"] for entry in gates if entry["id"] == "FV-002")
    assert isinstance(options, dict)
    return options


# ---------------------------------------------------------------- the config, statically


def test_the_config_has_every_hook_and_each_is_local_and_pinned(full_library: Path) -> None:
    config = _config(full_library)
    assert [repo["repo"] for repo in config["repos"]] == ["local"]
    hooks = _hooks(full_library)
    assert set(hooks) == EXPECTED_HOOKS
    assert set(_fv002_options(full_library)["hooks"]) == EXPECTED_HOOKS
    for hook_id, hook in hooks.items():
        assert hook["language"] == "python", hook_id
        assert hook["additional_dependencies"], hook_id
        for dependency in hook["additional_dependencies"]:
            requirement = Requirement(dependency)
            assert len(requirement.specifier) == 1, f"{hook_id}: {dependency} is not pinned"
            assert next(iter(requirement.specifier)).operator == "==", f"{hook_id}: {dependency} is not pinned"


def test_copier_markers_are_caught_outside_a_merge(full_library: Path) -> None:
    """check-merge-conflict looks only during a git merge; Copier's markers need the copier-leftovers hook."""
    hooks = _hooks(full_library)
    assert "--assume-in-merge" not in hooks["check-merge-conflict"].get("args", [])
    leftovers = hooks["copier-leftovers"]
    assert leftovers["entry"] == "python -m quality.leftovers"
    assert leftovers["always_run"] is True  # untracked .rej files count too
    assert leftovers["pass_filenames"] is False


def test_the_mypy_hook_installs_every_dependency_at_a_version_pyproject_allows(full_library: Path) -> None:
    """The hook's environment is the project's: mypy sees every import, at versions the project accepts."""
    project = tomllib.loads((full_library / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = [Requirement(text) for text in project["dependencies"]]
    declared += [Requirement(text) for extra in project["optional-dependencies"].values() for text in extra]
    not_imported = {canonicalize_name(name) for name in _fv002_options(full_library)["tools_not_imported"]}
    pinned = {}
    for text in _hooks(full_library)["mypy"]["additional_dependencies"]:
        requirement = Requirement(text)
        pinned[canonicalize_name(requirement.name)] = next(iter(requirement.specifier)).version
    assert "mypy" in pinned
    for requirement in declared:
        name = canonicalize_name(requirement.name)
        if name in not_imported:
            continue
        assert name in pinned, f"the mypy hook does not install {requirement}"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"the mypy hook pins {name}=={pinned[name]}, outside pyproject's {requirement}"
        )
    # Both hooks that run the project's code share the mypy hook's environment.
    hooks = _hooks(full_library)
    assert hooks["quality-gates"]["additional_dependencies"] == hooks["mypy"]["additional_dependencies"]
    assert hooks["copier-leftovers"]["additional_dependencies"] == hooks["mypy"]["additional_dependencies"]


def test_the_tools_pinned_in_hooks_are_versions_the_dev_extra_allows(full_library: Path) -> None:
    """ruff and mypy in the hooks are versions the `dev` extra allows, so nox sessions and pre-commit agree."""
    project = tomllib.loads((full_library / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    dev: dict[str, Requirement] = {
        canonicalize_name(r.name): r for r in map(Requirement, project["optional-dependencies"]["dev"])
    }
    hooks = _hooks(full_library)
    for hook_id, tool in (("ruff-check", "ruff"), ("ruff-format", "ruff"), ("mypy", "mypy")):
        pins: dict[str, Requirement] = {
            canonicalize_name(r.name): r for r in map(Requirement, hooks[hook_id]["additional_dependencies"])
        }
        version = next(iter(pins[tool].specifier)).version
        assert dev[tool].specifier.contains(version), f"{hook_id} pins {tool}=={version}; the dev extra: {dev[tool]}"


# ---------------------------------------------------------------- pre-commit, for real


@dataclass(frozen=True)
class HookRun:
    """One hook's line in pre-commit's verbose output, and what it printed."""

    status: str
    output: str


_STATUS_LINE = re.compile(r"^(?P<name>.+?)\.+(?:\([^)]*\))?(?P<status>Passed|Failed|Skipped)$")


def run_pre_commit(library: Path, *args: str) -> tuple[int, dict[str, HookRun], str]:
    """`pre-commit run --verbose *args` in `library`: exit code, each hook's run by id, and the whole log."""
    env = {**os.environ, "PRE_COMMIT_HOME": str(PRE_COMMIT_HOME)}
    # Under nox, UV_PYTHON (and UV_PROJECT_ENVIRONMENT) name the session's environment, and uv, which
    # pre-commit-uv installs hooks with, would put every hook's dependencies there instead of the hook's own.
    for name in ("VIRTUAL_ENV", "UV_PYTHON", "UV_PROJECT_ENVIRONMENT", "PYTHONPATH", "SKIP"):
        env.pop(name, None)
    result = subprocess.run(
        [sys.executable, "-m", "pre_commit", "run", "--verbose", "--color", "never", *args],
        cwd=library,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    log = result.stdout + result.stderr
    runs: dict[str, HookRun] = {}
    status = ""
    lines: list[str] = []
    hook_id = ""
    for line in [*log.splitlines(), "end....Passed"]:
        match = _STATUS_LINE.match(line)
        if match:
            if hook_id:
                runs[hook_id] = HookRun(status, "\n".join(lines))
            status, lines, hook_id = match["status"], [], ""
        elif line.startswith("- hook id: "):
            hook_id = line.removeprefix("- hook id: ").strip()
        else:
            lines.append(line)
    return result.returncode, runs, log


def _git_library(env: ProjectEnv, feature_library: Path, destination: Path) -> Path:
    """A copy of the feature library (mypy's cache warm) in a git repository, every file staged as before a commit."""
    library = gated_copy(env, feature_library, destination)
    git("init", "--quiet", "--initial-branch=main", cwd=library)
    git("add", "--all", cwd=library)
    return library


def _failing(runs: dict[str, HookRun]) -> set[str]:
    return {hook_id for hook_id, run in runs.items() if run.status == "Failed"}


@pytest.mark.precommit
def test_pre_commit_passes_on_the_feature_library(
    feature_library: Path, project_env: ProjectEnv, tmp_path: Path
) -> None:
    library = _git_library(project_env, feature_library, tmp_path / "onex-demo")
    code, runs, log = run_pre_commit(library, "--all-files")
    assert code == 0, log
    assert set(runs) == EXPECTED_HOOKS, log
    assert {run.status for run in runs.values()} == {"Passed"}, log
    assert not git("diff", "--stat", cwd=library), "a hook changed files"


@pytest.mark.precommit
def test_pre_commit_refuses_what_copier_update_leaves(
    feature_library: Path, project_env: ProjectEnv, tmp_path: Path
) -> None:
    """Markers in a staged file, an untracked `.rej` file: copier-leftovers fails, naming both; no other hook does."""
    library = _git_library(project_env, feature_library, tmp_path / "onex-demo")
    gitignore = library / ".gitignore"
    gitignore.write_text(gitignore.read_text(encoding="utf-8") + CONFLICT, encoding="utf-8")
    git("add", ".gitignore", cwd=library)
    (library / "pyproject.toml.rej").write_text("@@ -1,3 +1,3 @@\n-old\n+new\n", encoding="utf-8")

    code, runs, log = run_pre_commit(library, "--all-files")

    assert code == 1, log
    assert _failing(runs) == {"copier-leftovers"}, log
    output = runs["copier-leftovers"].output
    assert re.search(r"\.gitignore:\d+: conflict marker '<<<<<<< before updating'", output), output
    assert re.search(r"\.gitignore:\d+: conflict marker '>>>>>>> after updating'", output), output
    assert "pyproject.toml.rej: hunks `copier update` could not apply to pyproject.toml" in output, output
    # Outside a git merge, pre-commit-hooks' own check does not look (hence the copier-leftovers hook).
    assert runs["check-merge-conflict"].status == "Passed"


@pytest.mark.precommit
def test_pre_commit_refuses_a_ruff_violation(feature_library: Path, project_env: ProjectEnv, tmp_path: Path) -> None:
    library = _git_library(project_env, feature_library, tmp_path / "onex-demo")
    planted = library / "src" / "onex_demo" / "planted.py"
    planted.write_text(
        '"""A module with an unused variable."""\n\n\n'
        'def answer() -> int:\n    """The answer."""\n    unused = 41\n    return 42\n',
        encoding="utf-8",
    )
    git("add", str(planted), cwd=library)

    code, runs, log = run_pre_commit(library, "--all-files")

    assert code == 1, log
    assert _failing(runs) == {"ruff-check"}, log
    assert "F841" in runs["ruff-check"].output, log
    assert "src/onex_demo/planted.py:6" in runs["ruff-check"].output, log


# ---------------------------------------------------------------- FV-002, planted


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")


def _replace(path: Path, old: str, new: str) -> None:
    content = path.read_text(encoding="utf-8")
    assert old in content, f"{old!r} not in {path}"
    path.write_text(content.replace(old, new, 1), encoding="utf-8")


def _drop_key(path: Path, key: str) -> None:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    assert any(line.startswith(f"{key}:") for line in lines), f"no {key} in {path}"
    path.write_text("".join(line for line in lines if not line.startswith(f"{key}:")), encoding="utf-8")


Plant = Callable[[Path], object]

#: FV-002's plants: id, what it does to the library, and the path and words of the finding it must cause.
FV002_PLANTS: list[tuple[str, Plant, str, str]] = [
    (
        "rej-file",
        lambda lib: (lib / "pyproject.toml.rej").write_text("@@ -1 +1 @@\n-a\n+b\n", encoding="utf-8"),
        "pyproject.toml.rej",
        "could not apply to pyproject.toml",
    ),
    ("conflict-markers", lambda lib: _append(lib / ".gitignore", CONFLICT), ".gitignore", "conflict marker"),
    (
        "answers-without-commit",
        lambda lib: _drop_key(lib / ".copier" / "feature-user_auth.yml", "_commit"),
        ".copier/feature-user_auth.yml",
        "has no _commit",
    ),
    (
        "mypy-hook-misses-a-dependency",
        lambda lib: _replace(lib / ".pre-commit-config.yaml", "          - httpx==", "          # httpx=="),
        ".pre-commit-config.yaml",
        "the mypy hook does not install httpx",
    ),
    (
        "hook-from-github",
        lambda lib: _append(
            lib / ".pre-commit-config.yaml",
            "  - repo: https://github.com/pre-commit/pre-commit-hooks\n    rev: v6.0.0\n    hooks:\n"
            "      - id: check-json\n",
        ),
        ".pre-commit-config.yaml",
        "is fetched with git",
    ),
    (
        "invalid-config",
        lambda lib: _replace(lib / ".pre-commit-config.yaml", "        entry: mypy\n", ""),
        ".pre-commit-config.yaml",
        "validate-config rejects it",
    ),
]


@pytest.mark.parametrize("scope", PLANT_SCOPES)
@pytest.mark.parametrize(
    ("plant", "path", "message"), [pytest.param(plant, path, words, id=id_) for id_, plant, path, words in FV002_PLANTS]
)
def test_fv_002_fails_on_its_plant(
    plant: Plant, path: str, message: str, scope: str, feature_library: Path, project_env: ProjectEnv, tmp_path: Path
) -> None:
    library = gated_copy(project_env, feature_library, tmp_path / "onex-demo")
    plant(library)
    report = run_plant(project_env, library, "FV-002", scope)
    assert_only_gate_fails(report, "FV-002", path=path, message=message)


def test_fv_002_names_a_missing_answers_file_and_a_feature_without_one(
    feature_library: Path, project_env: ProjectEnv, tmp_path: Path
) -> None:
    library = gated_copy(project_env, feature_library, tmp_path / "onex-demo")
    (library / ".copier-answers.yml").unlink()
    (library / ".copier" / "feature-login.yml").unlink()
    report = run_gates(project_env, library, "FV-002")
    findings = gate_result(report, "FV-002")["findings"]
    messages = {finding["path"]: finding["message"] for finding in findings}
    assert messages[".copier-answers.yml"].startswith("missing: without it `copier update` cannot update the library")
    assert messages["src/onex_demo/features/login"].startswith(
        "feature login has no answers file .copier/feature-login.yml"
    )


# ---------------------------------------------------------------- quality.leftovers on its own


def test_leftovers_finds_markers_and_rej_files_and_leaves_lookalikes(
    full_library: Path, project_env: ProjectEnv, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    (project / "docs").mkdir(parents=True)
    (project / "docs" / "title.md").write_text(
        "Title\n=======\n\n> quote\n", encoding="utf-8"
    )  # a heading, not a conflict
    (project / "arrows.txt").write_text(">>>>>>>> eight\n<<<<<<<<\n", encoding="utf-8")
    (project / "blob.bin").write_bytes(b"\0\1\2<<<<<<< before updating\n")
    (project / "settings.yml").write_text("a: 1\n" + CONFLICT, encoding="utf-8")
    (project / "src").mkdir()
    (project / "src" / "mod.py.rej").write_text("@@\n", encoding="utf-8")
    venv = project / ".venv"
    (venv / "lib").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr\n", encoding="utf-8")
    (venv / "lib" / "site.py.rej").write_text("@@\n", encoding="utf-8")
    (venv / "lib" / "conflicted.txt").write_text(CONFLICT, encoding="utf-8")

    result = project_env.run("python", "-m", "quality.leftovers", str(project), cwd=full_library, check=False)

    assert result.returncode == 1, result.stderr
    conflict = "left by a merge or `copier update`: resolve the conflict"
    assert result.stdout.splitlines() == [
        f"settings.yml:2: conflict marker '<<<<<<< before updating' {conflict}",
        f"settings.yml:7: conflict marker '>>>>>>> after updating' {conflict}",
        "src/mod.py.rej: hunks `copier update` could not apply to mod.py: apply them by hand, then delete this file",
    ]

    # In a git repository, markers count in tracked files only; .rej files count tracked or not.
    git("init", "--quiet", cwd=project)
    git("add", "docs", cwd=project)
    result = project_env.run("python", "-m", "quality.leftovers", str(project), cwd=full_library, check=False)
    assert result.stdout.splitlines() == [
        "src/mod.py.rej: hunks `copier update` could not apply to mod.py: apply them by hand, then delete this file"
    ]

    (project / "src" / "mod.py.rej").unlink()
    (project / "settings.yml").unlink()
    result = project_env.run("python", "-m", "quality.leftovers", str(project), cwd=full_library, check=False)
    assert (result.returncode, result.stdout) == (0, "")


# ---------------------------------------------------------------- the CI workflow


def _workflow(library: Path) -> dict[Any, Any]:
    data = yaml.safe_load((library / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _runs(job: dict[str, Any]) -> list[str]:
    return [step["run"] for step in job["steps"] if "run" in step]


def _uses(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [step for step in job["steps"] if str(step.get("uses", "")).startswith(f"{action}@")]


def test_the_ci_workflow_runs_checks_backends_gates_and_pre_commit_and_keeps_the_report(full_library: Path) -> None:
    workflow = _workflow(full_library)
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as true
    assert {"push", "pull_request", "workflow_dispatch"} <= set(triggers)
    assert workflow["concurrency"]["cancel-in-progress"] is True
    assert workflow["permissions"] == {"contents": "read"}
    jobs = workflow["jobs"]
    assert set(jobs) == {"check", "integration", "gates", "pre-commit"}
    for job in jobs.values():
        checkout = _uses(job, "actions/checkout")
        assert checkout, job
        assert checkout[0]["with"]["persist-credentials"] is False
        assert _uses(job, "actions/setup-python"), job

    assert "nox" in _runs(jobs["check"])
    assert "nox -s integration" in _runs(jobs["integration"])
    assert any("apt-get install -y -qq postgresql" in run for run in _runs(jobs["integration"]))

    gates = jobs["gates"]
    assert "nox -s gates" in _runs(gates)
    (upload,) = _uses(gates, "actions/upload-artifact")
    assert upload["if"] == "${{ !cancelled() }}"  # the report is kept when gates fail, too
    assert upload["with"]["path"] == "build/gates/"
    assert upload["with"]["if-no-files-found"] == "error"
    steps = [step.get("run") or step.get("uses") for step in gates["steps"]]
    assert steps.index("nox -s gates") < steps.index(upload["uses"])

    pre_commit = jobs["pre-commit"]
    assert "pre-commit run --all-files --show-diff-on-failure" in _runs(pre_commit)
    (cache,) = _uses(pre_commit, "actions/cache")
    assert cache["with"]["path"] == "~/.cache/pre-commit"
    assert "hashFiles('.pre-commit-config.yaml')" in cache["with"]["key"]
