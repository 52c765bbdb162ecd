"""`copier update` of the library, a feature and a node, from releases the tests build themselves.

The module builds one suite repository with two releases: v1.0.0 (the working tree) and
v1.1.0 (a realistic template change to a library file and the README, to the feature's
workflow and hooks, to the effect node's module, and to the templates of the user-owned
files: a feature's `logic.py`, a custom node's logic module and test). A project copied at
v1.0.0 from its `file://` URL (library, features `user_auth` and `register_user`, custom
effect node `s3`) and one copied at v1.1.0 are rendered once; each test updates a copy:

1. an update equals a fresh copy of v1.1.0, user-owned files aside (which keep their bytes);
2. user edits survive: away from the template's change they merge, on the same lines they
   conflict there and only there, and no user line is lost;
3. updating a current project changes nothing;
4. updating one feature changes only that feature's files;
5. a changed spec (`--data`) regenerates the feature, keeps `logic.py`, and its tests pass.

Copier exits 0 on a conflict: the tests look for markers and `.rej` files themselves.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import copier
import pytest
import yaml

from .project_env import prepare_env, requirements_of
from .rendering import EXAMPLES, git, load_spec, release, render_feature, render_library, render_node, snapshot_suite

PACKAGE = "onex_up"
FEATURES = ("user_auth", "register_user")
#: The catalog nodes the two features use (a library with all 15 takes longer to render, three times per update).
LIBRARY_NODES = ["database", "event_bus", "hashing", "logger", "session", "validation", "workflow"]
NODE = {"archetype": "effect", "node_name": "s3", "node_description": "Stores and fetches objects in S3."}

#: The answers file of each sub-template the project holds.
ANSWERS = {
    "library": ".copier-answers.yml",
    "feature": ".copier/feature-user_auth.yml",
    "node": ".copier/node-s3-effect.yml",
}
KINDS = list(ANSWERS)

#: The files a user owns: created once, never rewritten by `copier update`.
USER_OWNED = frozenset(
    {
        *(f"src/{PACKAGE}/features/{name}/logic.py" for name in FEATURES),
        f"src/{PACKAGE}/archetypes/effects/s3_effect_logic.py",
        "tests/archetypes/test_node_s3_effect.py",
    }
)

#: Copier's labels for the two sides of an inline conflict.
BEFORE, AFTER = "<<<<<<< before updating", ">>>>>>> after updating"


@dataclass(frozen=True)
class Edit:
    """Replace the one occurrence of `old` in file `path` with `new` (`old` empty: append `new`)."""

    path: str
    old: str
    new: str

    def applied(self, text: str) -> str:
        """`text` with the edit made."""
        if not self.old:
            return text + self.new
        assert text.count(self.old) == 1, f"{self.path}: {self.old!r} is not there exactly once"
        return text.replace(self.old, self.new)

    def apply(self, root: Path) -> None:
        """Make the edit in the file under `root`."""
        target = root / self.path
        target.write_text(self.applied(target.read_text(encoding="utf-8")), encoding="utf-8")


FEATURE_TEMPLATE = "template/feature/src/{{package_name}}/features/{{feature_name}}"
RETRY_DEFAULT = "    max_attempts: int = 3\n"
WORKFLOW_SUPER_INIT = "        super().__init__(container, timeout=timeout)\n"
NODE_PROCESS_DOCSTRING = (
    '        """Run `execute` through the circuit breaker, retrying transient failures'
    ' unless `retry_execute` is False."""\n'
)

#: What release v1.1.0 changes, line edits in the middle of files, one or more per sub-template.
TEMPLATE_CHANGES = [
    Edit(
        "template/library/README.md.jinja",
        "It runs with no set-up on embedded backends (SQLite and an in-memory event bus).\n",
        "It runs with no set-up on embedded backends (SQLite and an in-memory event bus),\n"
        "and in production on PostgreSQL and Kafka.\n",
    ),
    Edit(
        "template/library/src/{{package_name}}/core/retry.py",
        RETRY_DEFAULT,
        "    #: Attempts in all, the first one included.\n    max_attempts: int = 4\n",
    ),
    Edit(
        f"{FEATURE_TEMPLATE}/workflow.py.jinja",
        WORKFLOW_SUPER_INIT,
        "        # The orchestrator retries whole runs; the workflow itself never retries.\n"
        "        super().__init__(container=container, timeout=timeout)\n",
    ),
    Edit(
        f"{FEATURE_TEMPLATE}/hooks.py.jinja",
        "Generated from the feature's spec: `copier update` rewrites this file when the spec changes.\n",
        "Generated from the feature's spec: `copier update` rewrites this file when the spec or the suite changes.\n",
    ),
    Edit(
        f"{FEATURE_TEMPLATE}/logic.py.jinja",
        "This file is yours: it is created once and never overwritten by `copier update`.\n",
        "This file is yours: Copier creates it once, and `copier update` never overwrites it.\n",
    ),
    Edit(
        "archetypes/effect/node.py.jinja",
        NODE_PROCESS_DOCSTRING + "        self.require_running()\n",
        '        """Run `execute` through the circuit breaker; transient failures are retried'
        ' unless `retry_execute` is False."""\n'
        "        self.require_running()\n"
        "        # A stopped node refuses work before the breaker counts it.\n",
    ),
    Edit(
        "archetypes/effect/logic.py.jinja",
        "Copier created it once; `copier update` never rewrites it.",
        "Copier created it once, and `copier update` never rewrites it.",
    ),
    Edit("archetypes/effect/test.py.jinja", '(target="example")', '(target="an-example")'),
]

#: The files of a project that release v1.1.0 changes (answers files: their `_commit`).
CHANGED_BY_RELEASE = {
    ".copier-answers.yml",
    "README.md",
    f"src/{PACKAGE}/core/retry.py",
    *(f".copier/feature-{name}.yml" for name in FEATURES),
    *(f"src/{PACKAGE}/features/{name}/{module}.py" for name in FEATURES for module in ("workflow", "hooks", "logic")),
    ".copier/node-s3-effect.yml",
    f"src/{PACKAGE}/archetypes/effects/node_s3_effect.py",
    f"src/{PACKAGE}/archetypes/effects/s3_effect_logic.py",
    "tests/archetypes/test_node_s3_effect.py",
}

FUTURE = "from __future__ import annotations\n"

#: A user's edits per kind, away from the lines release v1.1.0 changes (and user-owned files).
USER_EDITS = {
    "library": [
        Edit("README.md", "", "\n## Our deployment\n\nThe platform team deploys this library every Tuesday.\n"),
        Edit(f"src/{PACKAGE}/core/retry.py", 'T = TypeVar("T")\n', 'T = TypeVar("T")\n\n#: Callers log retries.\n'),
    ],
    "feature": [
        Edit(
            f"src/{PACKAGE}/features/user_auth/logic.py",
            '    """The user_auth hooks as this library needs them."""\n',
            '    """Our user_auth: the default hooks, audited by the security team."""\n',
        ),
        Edit(f"src/{PACKAGE}/features/user_auth/workflow.py", FUTURE, FUTURE + "\n# Reviewed by the security team.\n"),
    ],
    "node": [
        Edit(f"src/{PACKAGE}/archetypes/effects/node_s3_effect.py", FUTURE, FUTURE + "\n# Reviewed by the S3 team.\n"),
        Edit(
            f"src/{PACKAGE}/archetypes/effects/s3_effect_logic.py", "", '\n\n#: Our bucket.\nBUCKET = "onex-objects"\n'
        ),
        Edit("tests/archetypes/test_node_s3_effect.py", "", "\n\n# Our own tests go here.\n"),
    ],
}

#: A user's change to the very lines release v1.1.0 changes: the one conflict per kind.
CONFLICTING_EDITS = {
    "library": Edit(f"src/{PACKAGE}/core/retry.py", RETRY_DEFAULT, "    max_attempts: int = 5  # ours is slow\n"),
    "feature": Edit(
        f"src/{PACKAGE}/features/user_auth/workflow.py",
        WORKFLOW_SUPER_INIT,
        "        super().__init__(container, timeout=timeout or 30.0)\n",
    ),
    "node": Edit(
        f"src/{PACKAGE}/archetypes/effects/node_s3_effect.py",
        NODE_PROCESS_DOCSTRING,
        '        """Our breaker-wrapped `execute`."""\n',
    ),
}


# ---------------------------------------------------------------- helpers


def tree(root: Path) -> dict[str, bytes]:
    """Every file under `root`, `.git` aside: relative path -> content."""
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and ".git" not in path.relative_to(root).parts
    }


def commit_all(project: Path, message: str = "work") -> None:
    """Commit everything in `project` (a git repository, created when missing): Copier updates clean trees only."""
    if not (project / ".git").exists():
        git("init", "--quiet", "--initial-branch=main", cwd=project)
    git("add", "--all", cwd=project)
    git("commit", "--quiet", "--allow-empty", "--message", message, cwd=project)


def changed_files(project: Path) -> set[str]:
    """What `git status` lists as changed, added or untracked since the last commit."""
    status = git("status", "--porcelain", "--untracked-files=all", "--no-renames", cwd=project)
    return {line[3:] for line in status.splitlines()}


def conflicted_files(project: Path) -> list[str]:
    """Files `copier update` left unresolved: with conflict markers, or with a `<file>.rej` beside them."""
    found: set[str] = set()
    for relative, content in tree(project).items():
        if relative.endswith(".rej"):
            found.add(relative.removesuffix(".rej"))
        elif any(line.rstrip() in (BEFORE.encode(), AFTER.encode()) for line in content.splitlines()):
            found.add(relative)
    return sorted(found)


def update(project: Path, kind: str, data: Mapping[str, Any] | None = None) -> None:
    """`copier update --trust --defaults -a <answers of kind> [--data …]` to the latest release."""
    copier.run_update(
        project,
        dict(data) if data else None,
        answers_file=ANSWERS[kind],
        defaults=True,
        unsafe=True,
        overwrite=True,
        quiet=True,
    )


def user_lines(before: str, after: str) -> list[str]:
    """The lines of `after` that `before` does not have: what a user wrote."""
    original = set(before.splitlines())
    return [line for line in after.splitlines() if line not in original and line.strip()]


def resolve(text: str, keep: str) -> str:
    """`text` with each inline conflict replaced by its `keep` side ("before" or "after")."""
    lines: list[str] = []
    side = ""
    for line in text.splitlines(keepends=True):
        marker = line.rstrip("\n")
        if marker == BEFORE:
            side = "before"
        elif marker.startswith("|||||||") and side:
            side = "base"
        elif marker == "=======" and side:
            side = "after"
        elif marker == AFTER:
            side = ""
        elif not side or side == keep:
            lines.append(line)
    return "".join(lines)


# ---------------------------------------------------------------- the two releases


@dataclass(frozen=True)
class Releases:
    """The suite at v1.0.0 and v1.1.0, and one project copied at each; never changed by the tests."""

    url: str
    #: Library, features and node copied at v1.0.0, and the same copied at v1.1.0 (both committed).
    v1: Path
    v2: Path
    #: Which sub-template renders each file: "library", "feature:<name>" or "node".
    owners: dict[str, str]

    def project(self, source: Path, destination: Path) -> Path:
        """A copy of a project (its git repository too) that a test may change."""
        shutil.copytree(source, destination, symlinks=True)
        return destination


def render_project(destination: Path, url: str) -> dict[str, str]:
    """The test project at the latest release of `url`, as users build it; returns each file's owner."""
    owners: dict[str, str] = {}

    def own(owner: str) -> None:
        for path in tree(destination):
            owners.setdefault(path, owner)

    render_library(destination, src=url, vcs_ref=None, project_name="ONEX Up", nodes=LIBRARY_NODES)
    own("library")
    for name in FEATURES:
        render_feature(destination, load_spec(EXAMPLES / f"{name}.yml"), src=url, vcs_ref=None)
        own(f"feature:{name}")
    render_node(destination, src=url, vcs_ref=None, **NODE)
    own("node")
    commit_all(destination, "as copied")
    return owners


@pytest.fixture(scope="module")
def releases(tmp_path_factory: pytest.TempPathFactory) -> Releases:
    root = tmp_path_factory.mktemp("updates")
    suite = snapshot_suite(root / "copier-onex.git", "v1.0.0")
    url = f"file://{suite}"
    owners = render_project(root / "v1" / "onex-up", url)
    for change in TEMPLATE_CHANGES:
        change.apply(suite)
    assert release(suite, "v1.1.0", "Clearer docs, one more retry") == url
    assert render_project(root / "v2" / "onex-up", url) == owners
    result = Releases(url, root / "v1" / "onex-up", root / "v2" / "onex-up", owners)
    v1, v2 = tree(result.v1), tree(result.v2)
    # The release changes what it says and nothing else: every other file renders byte for byte the same.
    assert {path for path in v1 if v1[path] != v2[path]} == CHANGED_BY_RELEASE
    return result


def expected_after(releases: Releases, updated: set[str]) -> dict[str, bytes]:
    """The project copied at v1.0.0 with the files of the `updated` owners as a fresh v1.1.0 copy has them.

    User-owned files keep their v1.0.0 content: `copier update` never rewrites them.
    """
    v1, v2 = tree(releases.v1), tree(releases.v2)
    return {path: v2[path] if releases.owners[path] in updated and path not in USER_OWNED else v1[path] for path in v1}


def owner_of(kind: str) -> str:
    """The owner name of the sub-template that `kind`'s answers file belongs to."""
    return {"library": "library", "feature": "feature:user_auth", "node": "node"}[kind]


# ---------------------------------------------------------------- 1. an update equals a fresh copy


@pytest.mark.parametrize("kind", KINDS)
def test_an_update_to_v2_equals_a_fresh_copy_of_v2_for_that_sub_template(
    releases: Releases, tmp_path: Path, kind: str
) -> None:
    project = releases.project(releases.v1, tmp_path / "onex-up")
    update(project, kind)
    assert tree(project) == expected_after(releases, {owner_of(kind)})
    assert conflicted_files(project) == []


@pytest.mark.slow  # four updates, ~15 s
def test_updating_every_answers_file_equals_a_fresh_copy_of_v2(releases: Releases, tmp_path: Path) -> None:
    project = releases.project(releases.v1, tmp_path / "onex-up")
    # The library first, then every feature and node; Copier updates a clean tree only, so commit in between.
    for answers in [".copier-answers.yml", *sorted(str(p.relative_to(project)) for p in project.glob(".copier/*.yml"))]:
        copier.run_update(project, answers_file=answers, defaults=True, unsafe=True, overwrite=True, quiet=True)
        assert conflicted_files(project) == [], answers
        commit_all(project, f"update {answers}")
    after, v1, v2 = tree(project), tree(releases.v1), tree(releases.v2)
    assert {path: after[path] for path in after if path not in USER_OWNED} == {
        path: v2[path] for path in v2 if path not in USER_OWNED
    }
    assert {path: after[path] for path in USER_OWNED} == {path: v1[path] for path in USER_OWNED}
    assert conflicted_files(project) == []


# ---------------------------------------------------------------- 2. user edits survive


@pytest.mark.parametrize("kind", KINDS)
def test_user_edits_away_from_the_template_change_merge_cleanly(releases: Releases, tmp_path: Path, kind: str) -> None:
    project = releases.project(releases.v1, tmp_path / "onex-up")
    for edit in USER_EDITS[kind]:
        edit.apply(project)
    commit_all(project, "our edits")

    update(project, kind)

    # Each edited file is the fresh v1.1.0 file with the user's edit in it (user-owned ones: the v1.0.0 file).
    expected = expected_after(releases, {owner_of(kind)})
    for edit in USER_EDITS[kind]:
        expected[edit.path] = edit.applied(expected[edit.path].decode()).encode()
    assert tree(project) == expected
    assert conflicted_files(project) == []


@pytest.mark.parametrize("kind", KINDS)
def test_a_conflict_appears_only_where_user_and_template_changed_the_same_lines(
    releases: Releases, tmp_path: Path, kind: str
) -> None:
    project = releases.project(releases.v1, tmp_path / "onex-up")
    conflicting = CONFLICTING_EDITS[kind]
    for edit in [*USER_EDITS[kind], conflicting]:
        edit.apply(project)
    commit_all(project, "our edits")
    ours = {path: (project / path).read_text() for path in {edit.path for edit in [*USER_EDITS[kind], conflicting]}}

    update(project, kind)

    # Reported: the one file, and git knows it as unmerged.
    assert conflicted_files(project) == [conflicting.path]
    assert git("diff", "--name-only", "--diff-filter=U", cwd=project).split() == [conflicting.path]
    # No user line is lost, in the conflicted file or elsewhere.
    v1 = tree(releases.v1)
    for path, text in ours.items():
        now = (project / path).read_text()
        assert [line for line in user_lines(v1[path].decode(), text) if line not in now.splitlines()] == [], path
    # The conflict is exactly the lines both changed: the user's on one side, the template's on the other,
    # and taking the template's side leaves the fresh v1.1.0 file with the user's other edits.
    text = (project / conflicting.path).read_text()
    assert text.count(BEFORE) == 1
    assert conflicting.new in text.split(BEFORE)[1].split("=======")[0]
    expected = expected_after(releases, {owner_of(kind)})
    for edit in USER_EDITS[kind]:
        expected[edit.path] = edit.applied(expected[edit.path].decode()).encode()
    assert resolve(text, "after") == expected[conflicting.path].decode()
    # Every other file merged cleanly.
    after = tree(project)
    del after[conflicting.path], expected[conflicting.path]
    assert after == expected


def test_copier_update_without_an_answers_file_updates_the_library(releases: Releases, tmp_path: Path) -> None:
    """Plain `copier update`, the command users type first, takes the library's answers file."""
    project = releases.project(releases.v1, tmp_path / "onex-up")
    copier.run_update(project, defaults=True, unsafe=True, overwrite=True, quiet=True)
    assert tree(project) == expected_after(releases, {"library"})


# ---------------------------------------------------------------- 3. a current project stays as it is


@pytest.mark.parametrize("kind", KINDS)
def test_updating_a_current_project_changes_nothing(releases: Releases, tmp_path: Path, kind: str) -> None:
    project = releases.project(releases.v2, tmp_path / "onex-up")
    update(project, kind)
    assert changed_files(project) == set()


# ---------------------------------------------------------------- 4. one feature at a time


def test_updating_one_feature_leaves_the_library_and_the_other_features_untouched(
    releases: Releases, tmp_path: Path
) -> None:
    project = releases.project(releases.v1, tmp_path / "onex-up")
    update(project, "feature")
    changed = changed_files(project)
    assert changed == {
        ".copier/feature-user_auth.yml",
        f"src/{PACKAGE}/features/user_auth/hooks.py",
        f"src/{PACKAGE}/features/user_auth/workflow.py",
    }
    assert {releases.owners[path] for path in changed} == {"feature:user_auth"}
    answers = yaml.safe_load((project / ANSWERS["feature"]).read_text())
    assert answers["_commit"] == "v1.1.0"
    assert yaml.safe_load((project / ".copier/feature-register_user.yml").read_text())["_commit"] == "v1.0.0"


# ---------------------------------------------------------------- 5. a feature's spec changes


def changed_spec() -> dict[str, Any]:
    """`user_auth`'s spec with a new request field, a new step and an example of the field."""
    spec = load_spec(EXAMPLES / "user_auth.yml")
    request = spec["contracts"]["UserAuthRequest"]
    request["properties"]["device"] = {
        "type": "string",
        "minLength": 1,
        "maxLength": 64,
        "description": "The device the user signs in from, when the client says.",
    }
    log_attempt = {
        "name": "log_attempt",
        "node": "logger",
        "description": "Log the attempt (the logger redacts secrets).",
        "config": {"event": "user.login_attempted", "fields": {"username": "$input.username"}},
    }
    spec["steps"].insert(1, log_attempt)
    spec["examples"].append(
        {
            "name": "empty_device",
            "input": {"username": "ada", "password": "whatever-it-is", "device": ""},
            "expect": "invalid",
            "error_code": "VALIDATION_ERROR",
        }
    )
    return {key: spec[key] for key in ("contracts", "steps", "examples")}


@pytest.fixture(scope="module")
def respecified(releases: Releases, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, bytes]]:
    """A current project whose user_auth was updated with `changed_spec()`, and what the update changed it from."""
    project = releases.project(releases.v2, tmp_path_factory.mktemp("respecified") / "onex-up")
    USER_EDITS["feature"][0].apply(project)  # logic.py, the user's
    commit_all(project, "our logic")
    before = tree(project)
    update(project, "feature", changed_spec())
    return project, before


def fresh_feature(releases: Releases, destination: Path, spec: dict[str, Any]) -> dict[str, bytes]:
    """The current project as a fresh copy would have it with user_auth rendered from `spec`."""
    project = releases.project(releases.v2, destination)
    for path, owner in releases.owners.items():
        if owner == "feature:user_auth":
            (project / path).unlink()
    render_feature(project, spec, src=releases.url, vcs_ref=None)
    return tree(project)


def test_a_changed_spec_regenerates_the_feature_and_keeps_logic_py(
    releases: Releases, respecified: tuple[Path, dict[str, bytes]], tmp_path: Path
) -> None:
    project, before = respecified
    spec = {**load_spec(EXAMPLES / "user_auth.yml"), **changed_spec()}
    answers = yaml.safe_load((project / ANSWERS["feature"]).read_text())
    # `--data` with `--defaults` replaces the stored answers: the answers file holds the new spec.
    assert {key: answers[key] for key in spec} == spec
    assert conflicted_files(project) == []

    after = tree(project)
    logic = f"src/{PACKAGE}/features/user_auth/logic.py"
    assert after[logic] == before[logic]
    # Everything else is what a fresh copy of the feature from the new spec has.
    expected = fresh_feature(releases, tmp_path / "fresh", spec)
    expected[logic] = before[logic]
    assert after == expected
    feature = f"src/{PACKAGE}/features/user_auth"
    changed = {path for path in after if after[path] != before[path]}
    assert {releases.owners[path] for path in changed} == {"feature:user_auth"}
    assert {
        f"{feature}/contracts.py",
        f"{feature}/contracts.schema.json",
        f"{feature}/workflow.py",
        "tests/features/test_user_auth.py",
    } <= changed
    # The new field is in the request contract, so in the Requested event (`events.py` names the contract,
    # and renders the same); the new step has its @step method and its event in the workflow.
    assert "    device: Text | None = Field(" in after[f"{feature}/contracts.py"].decode()
    workflow = after[f"{feature}/workflow.py"].decode()
    assert "async def log_attempt(" in workflow
    assert "class LogAttemptDone(Event):" in workflow
    assert "empty_device" in after["tests/features/test_user_auth.py"].decode()


@pytest.mark.slow
def test_the_respecified_features_generated_tests_pass(respecified: tuple[Path, dict[str, bytes]]) -> None:
    project, _ = respecified
    env = prepare_env(requirements_of(project))
    result = env.run(
        "python",
        "-m",
        "pytest",
        "-v",
        "-p",
        "no:cacheprovider",
        "tests/features/test_user_auth.py",
        cwd=project,
        env={"PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert re.search(r"test_example_empty_device\S* PASSED", result.stdout), result.stdout
