"""Versions and migrations: the registry, its migration, and updates from the oldest releases to this one.

The update tests build a suite repository the way users consume one: the suite's real old
releases (`git archive v0.1.0`, `v0.2.0`) committed and tagged, then the working tree committed on
top and tagged with the version CHANGELOG.md names last. A project copied from an old tag through
its `file://` URL is updated with `copier.run_update` (library first, then every answers file in
`.copier/`) and must come out as a fresh copy at the current version, user-owned files aside.
A v0.2.0 feature cannot be updated without the 0.4.0 migration: its spec spells `missing_error`
the old way, which the current spec check refuses.
"""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import copier
import pytest
import yaml

from extensions.custom_nodes import custom_node
from extensions.migrations import MIGRATIONS, OLD_MISSING_ERRORS, migrate_text, migration, upper_case_missing_error

from .rendering import EXAMPLES, SUITE_ROOT, git, load_spec, write_working_tree

#: The releases the update tests start from: the oldest with a library, the oldest with features and nodes.
LIBRARY_RELEASE = "v0.1.0"
FEATURE_RELEASE = "v0.2.0"

MIGRATIONS_SCRIPT = SUITE_ROOT / "extensions" / "migrations.py"


def changelog_versions() -> list[str]:
    """The released versions CHANGELOG.md lists (`## X.Y.Z - date` headings), newest first."""
    text = (SUITE_ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    return re.findall(r"^## (\d+\.\d+\.\d+)\b", text, flags=re.MULTILINE)


def current_version() -> str:
    """The version this working tree becomes: CHANGELOG.md's latest."""
    versions = changelog_versions()
    assert versions, "CHANGELOG.md lists no version (`## X.Y.Z - YYYY-MM-DD`)"
    return versions[0]


def suite_tags() -> set[str]:
    """The tags of the suite's own repository (none in a shallow clone)."""
    return set(git("tag", "--list", cwd=SUITE_ROOT).split())


# ---------------------------------------------------------------- the registry

FEATURE_ANSWERS: dict[str, Any] = {
    "_commit": "v0.3.0",
    "_src_path": "https://example.invalid/copier-onex.git",
    "kind": "feature",
    "package_name": "onex_demo",
    **load_spec(EXAMPLES / "user_auth.yml"),
}


def old_spelling(answers: dict[str, Any], value: str = "permission_denied") -> dict[str, Any]:
    """`answers` with every `missing_error` spelt `value`, as before 0.4.0."""
    old = copy.deepcopy(answers)
    for step in old["steps"]:
        if "missing_error" in (step.get("config") or {}):
            step["config"]["missing_error"] = value
    return old


def test_each_migration_is_registered_once_with_a_version_a_kind_and_a_description() -> None:
    names = [m.name for m in MIGRATIONS]
    assert len(set(names)) == len(names)
    for registered in MIGRATIONS:
        assert re.fullmatch(r"\d+\.\d+\.\d+", registered.version)
        assert registered.kind in {"library", "feature", "node"}
        assert registered.description
        assert "\n" not in registered.description
        assert migration(registered.name) is registered
    with pytest.raises(LookupError, match="no migration 'nope' \\(known: missing_error_upper_case\\)"):
        migration("nope")


def test_each_migration_has_its_entry_in_copier_yml() -> None:
    config = yaml.safe_load((SUITE_ROOT / "copier.yml").read_text(encoding="utf-8"))
    entries = config["_migrations"]
    assert len(entries) == len(MIGRATIONS)
    for entry, registered in zip(entries, MIGRATIONS, strict=True):
        assert entry["version"] == registered.version
        assert entry["when"] == "{{ _stage == 'before' }}"
        assert entry["command"][1:] == [
            "{{ _copier_conf.src_path }}/extensions/migrations.py",
            registered.name,
            "{{ _copier_conf.answers_file }}",
        ]


def test_no_migration_is_newer_than_the_current_version() -> None:
    def key(version: str) -> tuple[int, ...]:
        return tuple(int(part) for part in version.split("."))

    assert all(key(m.version) <= key(current_version()) for m in MIGRATIONS)


@pytest.mark.parametrize("old", sorted(OLD_MISSING_ERRORS))
def test_missing_error_becomes_the_error_codes_name_and_nothing_else_changes(old: str) -> None:
    answers = old_spelling(FEATURE_ANSWERS, old)
    before = copy.deepcopy(answers)

    migrated = upper_case_missing_error(answers)

    assert answers == before, "the migration changed its input"
    assert migrated == old_spelling(FEATURE_ANSWERS, old.upper())
    assert list(migrated) == list(answers)
    assert [list(step) for step in migrated["steps"]] == [list(step) for step in answers["steps"]]
    assert list(migrated["steps"][1]["config"]) == list(answers["steps"][1]["config"])


def test_missing_error_is_migrated_in_every_step_that_has_it() -> None:
    answers = copy.deepcopy(FEATURE_ANSWERS)
    get = {"operation": "get", "collection": "sessions", "key": "$input.username", "into": "old"}
    answers["steps"].append(
        {"name": "fetch_session", "node": "database", "config": {**get, "missing_error": "not_found"}}
    )
    answers["steps"].append({"name": "fetch_other", "node": "database", "config": get})
    answers = old_spelling(answers)
    answers["steps"][-2]["config"]["missing_error"] = "not_found"

    migrated = upper_case_missing_error(answers)

    errors = [step.get("config", {}).get("missing_error") for step in migrated["steps"]]
    assert errors == [None, "PERMISSION_DENIED", None, None, "NOT_FOUND", None]


def test_the_migration_is_idempotent() -> None:
    once = MIGRATIONS[0].apply(old_spelling(FEATURE_ANSWERS))

    assert MIGRATIONS[0].apply(once) == once
    assert MIGRATIONS[0].apply(FEATURE_ANSWERS) == FEATURE_ANSWERS


@pytest.mark.parametrize("kind", ["library", "node", None])
def test_other_kinds_are_left_alone(kind: str | None) -> None:
    answers = {**old_spelling(FEATURE_ANSWERS), "kind": kind}

    assert MIGRATIONS[0].apply(answers) == answers


@pytest.mark.parametrize(
    "steps",
    [
        None,
        "validate_input, fetch_user",
        [],
        ["validation"],
        [{"name": "fetch_user", "node": "database"}],
        [{"name": "fetch_user", "node": "database", "config": "get users"}],
        [{"name": "fetch_user", "node": "database", "config": {"missing_error": "gone"}}],
        [{"name": "fetch_user", "node": "database", "config": {"missing_error": ["permission_denied"]}}],
        [{"name": "fetch_user", "node": "database", "config": {"missing_error": "Permission_Denied"}}],
    ],
)
def test_unknown_shapes_are_left_alone(steps: Any) -> None:
    answers = {**FEATURE_ANSWERS, "steps": steps}

    assert MIGRATIONS[0].apply(answers) == answers


# ---------------------------------------------------------------- the answers file

HEADER = (
    "# Changes here will be overwritten by Copier; do not edit by hand.\n"
    "# The whole feature spec: change it and run `copier update -a .copier/feature-user_auth.yml`.\n"
)


def answers_file_text(answers: dict[str, Any]) -> str:
    """An answers file as the feature sub-template writes it (`to_nice_yaml(indent=2, sort_keys=False)`)."""
    body = yaml.dump(answers, indent=2, allow_unicode=True, default_flow_style=False, sort_keys=False)
    return HEADER + body


def test_an_answers_file_is_rewritten_as_the_template_writes_it_keeping_its_header() -> None:
    text = answers_file_text(old_spelling(FEATURE_ANSWERS))

    migrated = migrate_text(text, MIGRATIONS[0])

    assert migrated == answers_file_text(FEATURE_ANSWERS)
    assert migrate_text(migrated, MIGRATIONS[0]) is migrated


def run_script(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The migrations script as `_migrations` runs it: a file run by Copier's interpreter, in the project."""
    return subprocess.run(
        [sys.executable, str(MIGRATIONS_SCRIPT), *args], cwd=cwd, capture_output=True, text=True, check=False
    )


def test_the_script_rewrites_the_named_answers_file_in_place(tmp_path: Path) -> None:
    answers_file = tmp_path / ".copier" / "feature-user_auth.yml"
    answers_file.parent.mkdir()
    answers_file.write_text(answers_file_text(old_spelling(FEATURE_ANSWERS)), encoding="utf-8")

    done = run_script("missing_error_upper_case", ".copier/feature-user_auth.yml", cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert answers_file.read_text(encoding="utf-8") == answers_file_text(FEATURE_ANSWERS)
    assert "missing_error" in done.stderr
    again = run_script("missing_error_upper_case", ".copier/feature-user_auth.yml", cwd=tmp_path)
    assert (again.returncode, again.stderr) == (0, "")
    assert answers_file.read_text(encoding="utf-8") == answers_file_text(FEATURE_ANSWERS)


def test_the_script_leaves_the_answers_file_of_another_kind_untouched(tmp_path: Path) -> None:
    answers_file = tmp_path / ".copier-answers.yml"
    text = "# Changes here will be overwritten by Copier; do not edit by hand.\n_commit: v0.3.0\nkind: library\n"
    answers_file.write_text(text, encoding="utf-8")

    done = run_script("missing_error_upper_case", ".copier-answers.yml", cwd=tmp_path)

    assert (done.returncode, done.stderr) == (0, "")
    assert answers_file.read_text(encoding="utf-8") == text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("missing_error_upper_case",), "usage: migrations.py NAME ANSWERS_FILE"),
        (("nope", ".copier-answers.yml"), "no migration 'nope'"),
        (("missing_error_upper_case", "absent.yml"), "absent.yml"),
        (("missing_error_upper_case", "list.yml"), "an answers file holds a mapping of answers"),
    ],
)
def test_the_script_fails_with_one_message(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    (tmp_path / ".copier-answers.yml").write_text("kind: feature\n", encoding="utf-8")
    (tmp_path / "list.yml").write_text("- kind\n", encoding="utf-8")

    done = run_script(*args, cwd=tmp_path)

    assert done.returncode != 0
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr


# ---------------------------------------------------------------- versions


def test_the_package_version_is_the_changelogs_latest() -> None:
    pyproject = tomllib.loads((SUITE_ROOT / "pyproject.toml").read_text(encoding="utf-8"))

    assert pyproject["project"]["version"] == current_version()


def test_each_released_version_in_the_changelog_has_its_tag() -> None:
    tags = suite_tags()
    if not tags:
        pytest.skip("the suite's repository has no tags (a shallow clone?): fetch them with `git fetch --tags`")
    versions = changelog_versions()
    released = versions if f"v{versions[0]}" in tags else versions[1:]

    assert released, "CHANGELOG.md lists no released version"
    assert [v for v in released if f"v{v}" not in tags] == []


# ---------------------------------------------------------------- from the oldest releases to this one


def _clear_worktree(repository: Path) -> None:
    for entry in repository.iterdir():
        if entry.name == ".git":
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def _commit_and_tag(repository: Path, tag: str) -> None:
    git("add", "--all", cwd=repository)
    git("commit", "--quiet", "--allow-empty", "--message", f"copier-onex {tag}", cwd=repository)
    git("tag", "--annotate", "--message", f"copier-onex {tag}", tag, cwd=repository)


def _write_release(repository: Path, tag: str) -> None:
    """The suite's release `tag`, as `git archive` gives it."""
    archive = subprocess.run(["git", "archive", "--format=tar", tag], cwd=SUITE_ROOT, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(repository)], input=archive.stdout, check=True)


@pytest.fixture(scope="module")
def suite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A `file://` URL of a suite repository: the old releases, then this working tree tagged as the current version."""
    missing = sorted({LIBRARY_RELEASE, FEATURE_RELEASE} - suite_tags())
    if missing:
        pytest.skip(
            f"the suite's repository lacks the release tags {', '.join(missing)} (a shallow clone?): "
            "fetch them with `git fetch --tags` to test updates from old releases"
        )
    repository = tmp_path_factory.mktemp("releases") / "copier-onex.git"
    repository.mkdir()
    git("init", "--quiet", "--initial-branch=main", cwd=repository)
    for tag in sorted({LIBRARY_RELEASE, FEATURE_RELEASE}):
        _clear_worktree(repository)
        _write_release(repository, tag)
        _commit_and_tag(repository, tag)
    _clear_worktree(repository)
    write_working_tree(repository)
    _commit_and_tag(repository, f"v{current_version()}")
    return f"file://{repository}"


def copy_from(url: str, destination: Path, vcs_ref: str | None, **data: Any) -> None:
    """`copier copy --trust --defaults [--vcs-ref REF] -d ... URL DESTINATION`; no ref takes the latest tag."""
    copier.run_copy(url, destination, data=data, defaults=True, unsafe=True, quiet=True, vcs_ref=vcs_ref)


def commit_all(project: Path, message: str) -> None:
    git("add", "--all", cwd=project)
    git("commit", "--quiet", "--allow-empty", "--message", message, cwd=project)


def update_everything(project: Path) -> None:
    """`copier update` of the library, then of every feature and node answers file, each committed."""
    for answers_file in [
        ".copier-answers.yml",
        *sorted(f".copier/{p.name}" for p in (project / ".copier").glob("*.yml")),
    ]:
        copier.run_update(project, defaults=True, unsafe=True, overwrite=True, quiet=True, answers_file=answers_file)
        commit_all(project, f"update {answers_file}")


def tree(root: Path, user_owned: set[str]) -> dict[str, bytes]:
    """Every file under `root` but `.git` and `user_owned`, by relative path."""
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
        and ".git" not in path.relative_to(root).parts
        and path.relative_to(root).as_posix() not in user_owned
    }


def assert_no_conflicts(project: Path) -> None:
    leftovers = [p for p in project.rglob("*.rej") if ".git" not in p.parts]
    marked = [
        path.relative_to(project).as_posix()
        for path in project.rglob("*")
        if path.is_file()
        and ".git" not in path.relative_to(project).parts
        and re.search(rb"^(<{7}|>{7}) ", path.read_bytes(), flags=re.MULTILINE)
    ]
    assert (leftovers, marked) == ([], [])


def assert_same_project(updated: Path, fresh: Path, user_owned: set[str]) -> None:
    for name in user_owned:
        assert (updated / name).is_file(), f"the update lost the user's {name}"
    got, want = tree(updated, user_owned), tree(fresh, user_owned)
    assert sorted(set(got) ^ set(want)) == []
    assert [name for name in want if got[name] != want[name]] == []


def test_a_library_of_the_oldest_release_updates_to_a_fresh_copy_of_this_one(suite_url: str, tmp_path: Path) -> None:
    project = tmp_path / "updated" / "onex-old"
    copy_from(suite_url, project, LIBRARY_RELEASE, kind="library", project_name="ONEX Old")
    git("init", "--quiet", cwd=project)
    commit_all(project, f"copier-onex {LIBRARY_RELEASE}")

    update_everything(project)

    answers = yaml.safe_load((project / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert answers["_commit"] == f"v{current_version()}"
    assert_no_conflicts(project)
    fresh = tmp_path / "fresh" / "onex-old"
    copy_from(suite_url, fresh, None, kind="library", project_name="ONEX Old")
    assert_same_project(project, fresh, set())


def old_example(tag: str, name: str) -> dict[str, Any]:
    """The example spec `examples/<name>` as release `tag` shipped it."""
    spec = yaml.safe_load(git("show", f"{tag}:examples/{name}", cwd=SUITE_ROOT))
    assert isinstance(spec, dict)
    return spec


NODE = {"kind": "node", "archetype": "effect", "node_name": "s3", "node_description": "Stores blobs in S3."}


def copy_library_with_features_and_a_node(
    url: str, project: Path, vcs_ref: str | None, specs: list[dict[str, Any]]
) -> None:
    """A library, the custom node `s3_effect`, and a feature per spec, copied at `vcs_ref`."""
    copy_from(url, project, vcs_ref, kind="library", project_name="ONEX Old")
    copy_from(url, project, vcs_ref, **NODE)
    for spec in specs:
        copy_from(url, project, vcs_ref, kind="feature", **spec)


@pytest.mark.slow
def test_features_and_a_node_of_the_oldest_release_update_to_fresh_copies_of_this_one(
    suite_url: str, tmp_path: Path
) -> None:
    names = git("ls-tree", "--name-only", f"{FEATURE_RELEASE}:examples", cwd=SUITE_ROOT).split()
    old_specs = [old_example(FEATURE_RELEASE, name) for name in names]
    assert any(
        (step.get("config") or {}).get("missing_error") in OLD_MISSING_ERRORS
        for spec in old_specs
        for step in spec["steps"]
    ), f"the examples of {FEATURE_RELEASE} no longer exercise the migration"
    project = tmp_path / "updated" / "onex-old"
    copy_library_with_features_and_a_node(suite_url, project, FEATURE_RELEASE, old_specs)
    git("init", "--quiet", cwd=project)
    commit_all(project, f"copier-onex {FEATURE_RELEASE}")

    update_everything(project)

    user_auth = yaml.safe_load((project / ".copier" / "feature-user_auth.yml").read_text(encoding="utf-8"))
    assert user_auth["_commit"] == f"v{current_version()}"
    assert user_auth["steps"][1]["config"]["missing_error"] == "PERMISSION_DENIED"
    assert_no_conflicts(project)
    fresh = tmp_path / "fresh" / "onex-old"
    copy_library_with_features_and_a_node(suite_url, fresh, None, [load_spec(EXAMPLES / name) for name in names])
    node = custom_node("s3", "effect")
    user_owned = {
        *(f"src/onex_old/features/{spec['feature_name']}/logic.py" for spec in old_specs),
        *node.user_files("onex_old"),
    }
    assert_same_project(project, fresh, user_owned)


#: The catalog nodes `user_auth` needs: a small library renders fast.
USER_AUTH_NODES = ["validation", "database", "hashing", "session", "workflow"]


def test_copier_update_runs_the_migration_on_a_feature_of_the_oldest_release(suite_url: str, tmp_path: Path) -> None:
    project = tmp_path / "updated" / "onex-old"
    copy_from(suite_url, project, FEATURE_RELEASE, kind="library", project_name="ONEX Old", nodes=USER_AUTH_NODES)
    copy_from(suite_url, project, FEATURE_RELEASE, kind="feature", **old_example(FEATURE_RELEASE, "user_auth.yml"))
    git("init", "--quiet", cwd=project)
    commit_all(project, f"copier-onex {FEATURE_RELEASE}")

    copier.run_update(
        project, defaults=True, unsafe=True, overwrite=True, quiet=True, answers_file=".copier/feature-user_auth.yml"
    )

    answers = yaml.safe_load((project / ".copier" / "feature-user_auth.yml").read_text(encoding="utf-8"))
    assert answers["steps"][1]["config"]["missing_error"] == "PERMISSION_DENIED"
    assert_no_conflicts(project)
    fresh = tmp_path / "fresh" / "onex-old"
    copy_from(suite_url, fresh, None, kind="library", project_name="ONEX Old", nodes=USER_AUTH_NODES)
    copy_from(suite_url, fresh, None, kind="feature", **load_spec(EXAMPLES / "user_auth.yml"))
    feature_files = {name for name in tree(fresh, set()) if "user_auth" in name and not name.endswith("/logic.py")}
    assert feature_files
    got, want = tree(project, set()), tree(fresh, set())
    assert [name for name in sorted(feature_files) if got.get(name) != want[name]] == []
