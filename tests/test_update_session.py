"""`nox -s update` in a generated library: `python -m quality.template_sync`, which updates every part in turn.

A library with two example features and a custom node is copied from a `file://` release
of the suite at v1.0.0 and committed; the suite is then released as v1.1.0 with changes
to a library file, a feature file and a node file. `update` must bring every answers file
to v1.1.0 with every change staged and HEAD where it was; stop on a conflict, listing it,
and go on after it is resolved; and refuse a dirty repository, changing nothing.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from .project_env import prepare_env
from .rendering import (
    EXAMPLES,
    SUITE_ROOT,
    git,
    load_spec,
    release,
    render_feature,
    render_library,
    render_node,
    snapshot_suite,
)

PACKAGE = "onex_demo"
FEATURES = ("register_user", "user_auth")
ANSWERS = [
    ".copier-answers.yml",
    ".copier/feature-register_user.yml",
    ".copier/feature-user_auth.yml",
    ".copier/node-s3-effect.yml",
]
PARTS = ["library", "feature register_user", "feature user_auth", "node s3 (effect)"]
NODE_MODULE = f"src/{PACKAGE}/archetypes/effects/node_s3_effect.py"
USER_LOGIC = f"src/{PACKAGE}/features/register_user/logic.py"
USER_LINE = "# Ours: updates never touch this file.\n"

#: What v1.1.0 changes, a file of each sub-template (library, feature, node): (template file, old text, new text).
RELEASE_CHANGES = [
    ("template/library/.gitignore", ".onex/\n", ".onex/\n*.swp\n"),
    ("template/feature/docs/features/{{feature_name}}.md.jinja", "\n## Flow\n", "\n## Flow of a run\n"),
    ("archetypes/effect/node.py.jinja", "from the suite's effect skeleton", "from copier-onex's effect skeleton"),
]
#: The files of the project those changes reach: what an update from v1.0.0 to v1.1.0 stages.
CHANGED = {
    *ANSWERS,
    ".gitignore",
    "docs/features/register_user.md",
    "docs/features/user_auth.md",
    NODE_MODULE,
}


def _replace_once(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} is not once in {path}"
    path.write_text(text.replace(old, new), encoding="utf-8")


@pytest.fixture(scope="module")
def project_at_v1(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The library, its two features and node `s3` from copier-onex v1.0.0, committed; v1.1.0 is out since."""
    root = tmp_path_factory.mktemp("update-session")
    repository = snapshot_suite(root / "copier-onex.git", "v1.0.0")
    url = f"file://{repository}"
    project = render_library(root / "onex-demo", src=url, vcs_ref=None, project_name="ONEX Demo")
    for name in FEATURES:
        render_feature(project, load_spec(EXAMPLES / f"{name}.yml"), src=url, vcs_ref=None)
    render_node(project, src=url, vcs_ref=None, archetype="effect", node_name="s3")
    logic = project / USER_LOGIC
    logic.write_text(logic.read_text(encoding="utf-8") + USER_LINE, encoding="utf-8")
    git("init", "--quiet", "--initial-branch=main", cwd=project)
    git("add", "--all", cwd=project)
    git("commit", "--quiet", "--message", "ONEX Demo from copier-onex v1.0.0", cwd=project)
    for name, old, new in RELEASE_CHANGES:
        _replace_once(repository / name, old, new)
    release(repository, "v1.1.0", "copier-onex v1.1.0")
    return project


@pytest.fixture
def project(project_at_v1: Path, tmp_path: Path) -> Path:
    """A copy of `project_at_v1` (its git repository too) for one test."""
    return Path(shutil.copytree(project_at_v1, tmp_path / "onex-demo", symlinks=True))


def _environ() -> dict[str, str]:
    """This environment without what would point a child at another environment (nox's, a venv's)."""
    dropped = ("VIRTUAL_ENV", "PYTHONPATH", "UV_PYTHON", "UV_PROJECT_ENVIRONMENT")
    return {name: value for name, value in os.environ.items() if name not in dropped}


def sync(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m quality.template_sync *args` in `project`, with this interpreter (it has Copier)."""
    return subprocess.run(
        [sys.executable, "-m", "quality.template_sync", *args],
        cwd=project,
        env=_environ(),
        capture_output=True,
        text=True,
        check=False,
    )


def versions(project: Path) -> dict[str, str]:
    """The template version each answers file records, by file."""
    return {name: yaml.safe_load((project / name).read_text(encoding="utf-8"))["_commit"] for name in ANSWERS}


def head(project: Path) -> str:
    return git("rev-parse", "HEAD", cwd=project).strip()


def lines_of(output: str) -> set[str]:
    return set(output.splitlines())


def test_update_brings_every_part_to_the_release_and_stages_it_all(project: Path) -> None:
    checked = sync(project, "check")
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert {f"{part}: 1.0.0 -> 1.1.0 available" for part in PARTS} <= lines_of(checked.stdout), checked.stdout

    start = head(project)
    result = sync(project, "update")

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[:4] == [f"{part}: v1.0.0 -> v1.1.0" for part in PARTS], "in update order"
    assert "Every change is staged" in result.stdout
    assert versions(project) == dict.fromkeys(ANSWERS, "v1.1.0")
    assert head(project) == start, "the temporary commits are gone: HEAD is where it was"
    assert set(git("diff", "--cached", "--name-only", cwd=project).split()) == CHANGED
    assert not git("diff", "--name-only", cwd=project), "nothing is left unstaged"
    assert not git("ls-files", "--others", "--exclude-standard", cwd=project), "nothing is left untracked"
    assert ".onex/\n*.swp\n" in (project / ".gitignore").read_text(encoding="utf-8")
    assert "\n## Flow of a run\n" in (project / "docs/features/user_auth.md").read_text(encoding="utf-8")
    assert "copier-onex's effect skeleton" in (project / NODE_MODULE).read_text(encoding="utf-8")
    assert (project / USER_LOGIC).read_text(encoding="utf-8").endswith(USER_LINE), "the user's logic is kept"

    rechecked = sync(project, "check")
    assert rechecked.returncode == 0, rechecked.stdout + rechecked.stderr
    assert {f"{part}: up to date (1.1.0)" for part in PARTS} <= lines_of(rechecked.stdout)

    git("commit", "--quiet", "--message", "copier-onex v1.1.0", cwd=project)
    updated = head(project)
    again = sync(project, "update")
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.splitlines()[-1] == "Everything is up to date."
    assert head(project) == updated
    assert not git("status", "--porcelain", cwd=project), "updating a current project changes nothing"


def test_a_conflict_stops_the_update_and_lists_it_then_the_update_goes_on(project: Path) -> None:
    doc = project / "docs/features/register_user.md"
    _replace_once(doc, "\n## Flow\n", "\n## How a run flows\n")  # the line v1.1.0 changes
    git("commit", "--quiet", "--all", "--message", "our title", cwd=project)
    start = head(project)

    result = sync(project, "update")

    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert "library: v1.0.0 -> v1.1.0\n" in out
    assert "feature register_user: v1.0.0 -> v1.1.0, with conflicts:" in out
    (opening,) = re.findall(r"docs/features/register_user\.md:(\d+): conflict marker '<<<<<<< before updating'", out)
    assert doc.read_text(encoding="utf-8").splitlines()[int(opening) - 1] == "<<<<<<< before updating"
    assert "nox -s update: it goes on with the files still behind" in out
    assert "user_auth" not in out, "the update stopped at the conflict"
    assert head(project) == start
    assert versions(project) == {
        ".copier-answers.yml": "v1.1.0",
        ".copier/feature-register_user.yml": "v1.1.0",
        ".copier/feature-user_auth.yml": "v1.0.0",
        ".copier/node-s3-effect.yml": "v1.0.0",
    }
    assert "\n## Flow\n" in (project / "docs/features/user_auth.md").read_text(encoding="utf-8"), "not updated yet"
    assert ".gitignore" in git("diff", "--cached", "--name-only", cwd=project).split(), "the library's step is staged"

    # Resolve as the README says: keep ours, drop the markers, commit, run it again.
    text = doc.read_text(encoding="utf-8")
    resolved = re.sub(
        r"<<<<<<< before updating\n(.*?)=======\n.*?>>>>>>> after updating\n", r"\1", text, flags=re.DOTALL
    )
    assert resolved != text
    doc.write_text(resolved, encoding="utf-8")
    git("add", "--all", cwd=project)
    git("commit", "--quiet", "--message", "copier-onex v1.1.0 (library, register_user)", cwd=project)
    resolved_head = head(project)

    again = sync(project, "update")

    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.splitlines()[:4] == [
        "library: up to date (1.1.0)",
        "feature register_user: up to date (1.1.0)",
        "feature user_auth: v1.0.0 -> v1.1.0",
        "node s3 (effect): v1.0.0 -> v1.1.0",
    ]
    assert versions(project) == dict.fromkeys(ANSWERS, "v1.1.0")
    assert head(project) == resolved_head
    assert "\n## How a run flows\n" in doc.read_text(encoding="utf-8"), "the user's line is kept"
    assert set(git("diff", "--cached", "--name-only", cwd=project).split()) == {
        ".copier/feature-user_auth.yml",
        ".copier/node-s3-effect.yml",
        "docs/features/user_auth.md",
        NODE_MODULE,
    }


def test_a_dirty_repository_is_refused_and_left_alone(project: Path) -> None:
    readme = project / "README.md"
    readme.write_text(readme.read_text(encoding="utf-8") + "\nWork in progress.\n", encoding="utf-8")
    start = head(project)

    result = sync(project, "update")

    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        "update: uncommitted changes (README.md): commit or stash them first, so that the update's changes "
        "stay apart from yours (Copier refuses a dirty repository)"
    ]
    assert head(project) == start
    assert git("status", "--porcelain", cwd=project) == " M README.md\n"
    assert versions(project) == dict.fromkeys(ANSWERS, "v1.0.0")


def test_an_unknown_command_is_a_usage_error(project: Path) -> None:
    result = sync(project, "upgrade")
    assert result.returncode == 2
    assert "invalid choice: 'upgrade'" in result.stderr


def _suite_pins(group: str) -> list[str]:
    groups = tomllib.loads((SUITE_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["dependency-groups"]
    return [pin for pin in groups[group] if isinstance(pin, str)]


def test_the_update_session_pins_the_copier_the_suite_is_tested_with(project: Path) -> None:
    tree = ast.parse((project / "noxfile.py").read_text(encoding="utf-8"))
    (pins,) = [
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and any(getattr(target, "id", "") == "COPIER" for target in node.targets)
    ]
    assert sorted(pins) == sorted(_suite_pins("template"))
    dev = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    assert set(pins) <= set(dev["dev"]), "the gates' environment (FV-002) runs the same Copier"
    (session,) = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "update"]
    (decorator,) = session.decorator_list
    assert isinstance(decorator, ast.Call)
    assert {keyword.arg: ast.literal_eval(keyword.value) for keyword in decorator.keywords} == {"default": False}


@pytest.mark.slow
def test_nox_s_update_updates_the_project(project: Path) -> None:
    """The real session: nox builds its environment (Copier from PyPI, uv's cache) and runs the update."""
    (nox_pin,) = [pin for pin in _suite_pins("lint") if pin.startswith("nox==")]
    nox_env = prepare_env([nox_pin])
    environ = _environ()
    environ["PATH"] = os.pathsep.join([str(nox_env.bin), str(Path(sys.executable).parent), environ["PATH"]])  # uv
    start = head(project)

    result = subprocess.run(
        [str(nox_env.bin / "nox"), "-s", "update", "--", "--vcs-ref", "v1.1.0"],
        cwd=project,
        env=environ,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "library: v1.0.0 -> v1.1.0" in result.stdout + result.stderr
    assert versions(project) == dict.fromkeys(ANSWERS, "v1.1.0")
    assert head(project) == start
    assert set(git("diff", "--cached", "--name-only", cwd=project).split()) == CHANGED
    assert not git("ls-files", "--others", "--exclude-standard", cwd=project), "nox's environment is ignored"
