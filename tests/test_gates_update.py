"""Gate FV-002 on a library behind its template: it names each answers file behind, and passes once updated.

The library and a feature are copied from a `file://` release of the suite at v1.0.0, as
users consume it; then v1.1.0 is released. FV-002 asks `copier check-update` about each
answers file (`quality.template_sync`), so it fails until `nox -s update` ran and its
changes are committed. A template it cannot reach fails it too, unless its option
`check_updates` is off; a file not rendered from a release has nothing to compare with.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from .gates import assert_all_pass, assert_only_gate_fails, copy_library, run_gates
from .project_env import ProjectEnv
from .rendering import EXAMPLES, git, load_spec, release, render_feature, render_library, snapshot_suite

FEATURE_ANSWERS = ".copier/feature-user_auth.yml"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A release of the suite, v1.0.0, as a git repository (v1.1.0 comes with `behind_library`)."""
    return snapshot_suite(tmp_path_factory.mktemp("gates-update") / "copier-onex.git", "v1.0.0")


@pytest.fixture(scope="module")
def behind_library(template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The library and feature `user_auth` from v1.0.0, committed; v1.1.0 is released after."""
    url = f"file://{template}"
    library = render_library(
        tmp_path_factory.mktemp("behind") / "onex-demo", src=url, vcs_ref=None, project_name="ONEX Demo"
    )
    render_feature(library, load_spec(EXAMPLES / "user_auth.yml"), src=url, vcs_ref=None)
    git("init", "--quiet", "--initial-branch=main", cwd=library)
    git("add", "--all", cwd=library)
    git("commit", "--quiet", "--message", "from copier-onex v1.0.0", cwd=library)
    release(template, "v1.1.0", "copier-onex v1.1.0")  # versions are what FV-002 compares: no change is needed
    return library


def _set_answer(path: Path, key: str, value: str) -> None:
    """Set `key` of an answers file, the rest as it is."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    assert any(line.startswith(f"{key}:") for line in lines), f"no {key} in {path}"
    path.write_text(
        "".join(f"{key}: {value}\n" if line.startswith(f"{key}:") else line for line in lines), encoding="utf-8"
    )


def _set_fv002_option(library: Path, key: str, value: object) -> None:
    """Set one of FV-002's options in the library's gates.yaml."""
    spec = library / "quality" / "gates.yaml"
    entries = yaml.safe_load(spec.read_text(encoding="utf-8"))
    next(entry for entry in entries if entry["id"] == "FV-002")["options"][key] = value
    spec.write_text(yaml.safe_dump(entries, sort_keys=False), encoding="utf-8")


def test_fv_002_names_each_answers_file_behind_and_passes_once_updated(
    behind_library: Path, project_env: ProjectEnv, tmp_path: Path
) -> None:
    library = copy_library(behind_library, tmp_path / "onex-demo")

    report = run_gates(project_env, library, "FV-002", "--runs", "static")

    findings = assert_only_gate_fails(report, "FV-002", path=FEATURE_ANSWERS, message="run `nox -s update`")
    assert {(finding["path"], finding["message"].split(":")[0]) for finding in findings} == {
        (".copier-answers.yml", "library is at template version 1.0.0, and 1.1.0 is out"),
        (FEATURE_ANSWERS, "feature user_auth is at template version 1.0.0, and 1.1.0 is out"),
    }

    updated = project_env.run("python", "-m", "quality.template_sync", "update", cwd=library)
    assert updated.stdout.splitlines()[:2] == ["library: v1.0.0 -> v1.1.0", "feature user_auth: v1.0.0 -> v1.1.0"]
    git("commit", "--quiet", "--message", "copier-onex v1.1.0", cwd=library)

    assert_all_pass(run_gates(project_env, library, "FV-002", "--runs", "static"))


def test_fv_002_fails_on_a_template_out_of_reach_unless_told_not_to_look(
    behind_library: Path, project_env: ProjectEnv, tmp_path: Path
) -> None:
    library = copy_library(behind_library, tmp_path / "onex-demo")
    gone = tmp_path / "moved" / "copier-onex.git"
    for answers in (".copier-answers.yml", FEATURE_ANSWERS):
        _set_answer(library / answers, "_src_path", f"file://{gone}")

    report = run_gates(project_env, library, "FV-002")

    findings = assert_only_gate_fails(report, "FV-002", path=FEATURE_ANSWERS, message="check_updates: false")
    assert {finding["path"] for finding in findings} == {".copier-answers.yml", FEATURE_ANSWERS}
    assert all(f"cannot check feature user_auth for template updates: file://{gone}" in finding["message"]
               for finding in findings if finding["path"] == FEATURE_ANSWERS)  # fmt: skip

    _set_fv002_option(library, "check_updates", False)
    assert_all_pass(run_gates(project_env, library, "FV-002"))


def test_a_file_not_rendered_from_a_release_passes_fv_002_and_check_names_it(
    behind_library: Path, template: Path, project_env: ProjectEnv, tmp_path: Path
) -> None:
    """Rendered from uncommitted changes of a local template: its version is nowhere, so there is nothing to compare."""
    library = copy_library(behind_library, tmp_path / "onex-demo")
    local = shutil.copytree(template, tmp_path / "copier-onex", symlinks=True)
    for answers in (".copier-answers.yml", FEATURE_ANSWERS):
        _set_answer(library / answers, "_src_path", str(local))
        _set_answer(library / answers, "_commit", "v1.1.0-1-g0123abc")  # a commit Copier made in a temporary clone

    assert_all_pass(run_gates(project_env, library, "FV-002"))

    checked = project_env.run("python", "-m", "quality.template_sync", "check", cwd=library, check=False)
    assert checked.returncode == 2, checked.stdout + checked.stderr
    assert checked.stdout.splitlines() == [
        f"{part}: cannot tell whether it is behind: {local} holds no version v1.1.0-1-g0123abc "
        "(rendered from uncommitted template changes, or that version is gone)"
        for part in ("library", "feature user_auth")
    ]
