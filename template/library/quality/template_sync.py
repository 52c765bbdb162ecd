"""Keep the project in step with its template: which answers files are behind, and `copier update` them all.

    python -m quality.template_sync check                    # which answers files are behind
    python -m quality.template_sync update                   # update each of them (`nox -s update`)
    python -m quality.template_sync update --vcs-ref v0.4.0  # to that version instead of the latest

Every part of the project was rendered by copier-onex and records its answers: the
library in `.copier-answers.yml`, each feature in `.copier/feature-<name>.yml`, each
custom node in `.copier/node-<name>-<archetype>.yml`. `update` updates them in that
order, one `copier update` each. Copier refuses to update a project with uncommitted
changes, so each finished step is committed on a temporary commit; at the end HEAD
goes back where it was, and every change of the update is staged, for you to review
and commit. Copier exits 0 even when its three-way merge leaves conflicts, so after
each step `update` looks for conflict markers and `.rej` files (`quality.leftovers`):
on the first, it stops and lists them; resolve them, commit, and run it again: it
goes on with the files still behind.

Exit codes. `check`: 0 when every answers file is at the template's latest release,
1 when one is behind, 2 when one cannot be checked (its template cannot be reached,
or it was not rendered from a tagged release). `update`: 0 when done, 1 when it
stopped on conflicts, 2 when it could not start (uncommitted changes, not a git
repository, a usage error), Copier failed, or a file could not be checked.

Copier runs as `python -m copier` of this interpreter: only the standard library and
PyYAML are imported here, so `nox -s update` needs an environment with Copier alone.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from importlib.util import find_spec
from pathlib import Path

import yaml

from .leftovers import find_leftovers

__all__ = [
    "EnumSyncState",
    "SyncError",
    "SyncStatus",
    "answers_files",
    "behind",
    "check",
    "label",
    "main",
    "update",
]

#: The project root: `quality/` lives in it.
ROOT = Path(__file__).resolve().parent.parent

#: The library's answers file; features and nodes keep theirs in `.copier/`.
LIBRARY_ANSWERS = ".copier-answers.yml"
ANSWERS_FOLDER = ".copier"

#: Seconds one `copier check-update` may take (it clones the template twice) before the template counts as unreachable.
CHECK_TIMEOUT = 120.0

#: Who the temporary commits of an update are by (they never outlive the update).
_IDENTITY = {
    "GIT_AUTHOR_NAME": "quality.template_sync",
    "GIT_AUTHOR_EMAIL": "template-sync@localhost",
    "GIT_COMMITTER_NAME": "quality.template_sync",
    "GIT_COMMITTER_EMAIL": "template-sync@localhost",
}

#: Copier's colours, taken out of the messages quoted from it.
_ANSI = re.compile(r"\x1b\[[0-9;]*m")

#: What Copier says when it cannot tell which release an answers file was rendered from.
_UNVERSIONED = (
    "Unknown revision",
    "Cannot check",
    "cannot obtain old template references",
    "only supported in git-tracked templates",
)

#: Writes one line of output.
Say = Callable[[str], None]


def _say(text: str) -> None:
    print(text, flush=True)  # noqa: T201 - a command-line tool's output


class SyncError(Exception):
    """The update cannot start or go on; the message says why and what to do.

    Attributes:
        code: The exit code it ends the command with (2, or 1 for conflicts).
    """

    def __init__(self, message: str, code: int = 2) -> None:
        """A reason to stop, ending the command with exit code `code`."""
        super().__init__(message)
        self.code = code


class EnumSyncState(StrEnum):
    """Where an answers file stands against its template."""

    CURRENT = "current"  # rendered from the template's latest release
    BEHIND = "behind"  # a newer release is out
    UNVERSIONED = "unversioned"  # not rendered from a tagged release of a git template: nothing to compare
    UNREACHABLE = "unreachable"  # the template cannot be read (offline, moved, no access)


@dataclass(frozen=True)
class SyncStatus:
    """One answers file against its template.

    Attributes:
        path: The answers file, relative to the project root (POSIX).
        state: Where it stands.
        current: The template version it was rendered from, as Copier reads it ("" when unknown).
        latest: The template's latest release ("" when unknown).
        detail: Why it cannot be compared, for `UNVERSIONED` and `UNREACHABLE`.
    """

    path: str
    state: EnumSyncState
    current: str = ""
    latest: str = ""
    detail: str = ""

    @property
    def label(self) -> str:
        """How output names it: `library`, `feature user_auth`, `node s3 (effect)`."""
        return label(self.path)

    def describe(self) -> str:
        """One line: the file and where it stands."""
        if self.state is EnumSyncState.CURRENT:
            return f"{self.label}: up to date ({self.current})"
        if self.state is EnumSyncState.BEHIND:
            return f"{self.label}: {self.current} -> {self.latest} available"
        if self.state is EnumSyncState.UNREACHABLE:
            return f"{self.label}: cannot reach its template: {self.detail}"
        return f"{self.label}: cannot tell whether it is behind: {self.detail}"


def answers_files(root: Path) -> list[Path]:
    """The project's answers files in update order: the library's, then the features', then the nodes' (sorted)."""
    library = [root / LIBRARY_ANSWERS] if (root / LIBRARY_ANSWERS).is_file() else []
    folder = root / ANSWERS_FOLDER
    return [*library, *sorted(folder.glob("feature-*.yml")), *sorted(folder.glob("node-*.yml"))]


def label(path: str | Path) -> str:
    """The part of the project an answers file renders: `library`, `feature user_auth`, `node s3 (effect)`."""
    name = Path(path).name
    if name == LIBRARY_ANSWERS:
        return "library"
    stem = Path(path).stem
    if stem.startswith("feature-"):
        return f"feature {stem.removeprefix('feature-')}"
    if stem.startswith("node-"):
        node, _, archetype = stem.removeprefix("node-").rpartition("-")
        return f"node {node} ({archetype})" if node else f"node {archetype}"
    return Path(path).as_posix()


def _recorded(path: Path) -> dict[str, str]:
    """`_src_path` and `_commit` of an answers file (those it has, as text; {} when it is not a YAML mapping)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {key: str(data[key]) for key in ("_src_path", "_commit") if data.get(key)}


def _is_local_path(source: str) -> bool:
    """`source` names a folder rather than a URL (`gh:`/`gl:` shortcuts and `git@host:` are URLs to Copier)."""
    return "://" not in source and not re.match(r"^(gh:|gl:|git\+|git@)", source)


def _holds(template: Path, commit: str) -> bool:
    """The git repository of a local template has the commit `commit` names (a tag, a hash, `git describe` output).

    Answers rendered from uncommitted changes of a local template name a commit Copier made
    in a temporary clone: asking git here takes milliseconds, Copier a clone of the template.
    """
    git = shutil.which("git")
    if git is None:
        return True  # Copier will tell
    if commit.startswith("-"):
        return False  # not a revision, and git would read it as an option
    result = subprocess.run(  # noqa: S603 - git from PATH, fixed arguments
        [git, "rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}"],
        cwd=template,
        capture_output=True,
        check=False,
    )
    return result.returncode != 1  # 1: no such commit; 128 (not a git repository, say): Copier will tell


def _not_held(source: str, commit: str) -> str:
    """Why an answers file whose version its template does not hold cannot be compared."""
    return f"{source} holds no version {commit} (rendered from uncommitted template changes, or that version is gone)"


def _copier_error(stderr: str) -> str:
    """The telling line of a failed Copier run: git's `fatal:` message, else the last line."""
    lines = [_ANSI.sub("", line).strip() for line in stderr.splitlines()]
    lines = [line.split("|", 1)[1].strip() if line.startswith(("Stderr:", "|")) else line for line in lines]
    lines = [line for line in lines if line]
    fatal = next((line for line in lines if line.startswith("fatal:")), "")
    return fatal or (lines[-1] if lines else "Copier failed without a message")


#: What one `copier check-update` tells: the state, the current and the latest version, and why it is unknown.
_Checked = tuple[EnumSyncState, str, str, str]


def _check_update(root: Path, relative: str, timeout: float) -> _Checked:
    """`copier check-update` of one answers file: its state, current and latest version, and why it is unknown."""
    try:
        result = subprocess.run(  # noqa: S603 - this interpreter's Copier, fixed arguments
            [sys.executable, "-m", "copier", "check-update", "--output-format", "json", "-a", relative],
            cwd=root,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},  # a template that needs a password is unreachable here
        )
    except subprocess.TimeoutExpired:
        return EnumSyncState.UNREACHABLE, "", "", f"no answer within {timeout:g} s"
    report = next((line for line in reversed(result.stdout.splitlines()) if line.startswith("{")), "")
    if result.returncode == 0 and report:
        data = json.loads(report)
        state = EnumSyncState.BEHIND if data["update_available"] else EnumSyncState.CURRENT
        return state, str(data["current_version"]), str(data["latest_version"]), ""
    error = _copier_error(result.stderr)
    if any(sign in result.stderr for sign in _UNVERSIONED):
        return EnumSyncState.UNVERSIONED, "", "", error
    return EnumSyncState.UNREACHABLE, "", "", error


def behind(root: Path = ROOT, *, timeout: float = CHECK_TIMEOUT, jobs: int = 4) -> list[SyncStatus]:
    """Where each answers file of the project stands against its template's latest release, in update order.

    One `copier check-update` per distinct template and version: files rendered from the
    same release share it. Each clones the template; the checks of one template run one
    after the other, those of `jobs` different templates at once.

    Raises:
        SyncError: Copier is not installed in this interpreter.
    """
    if find_spec("copier") is None:
        raise SyncError(f"Copier is not installed for {sys.executable}: install the project's `dev` extra")
    root = root.resolve()
    files = [path.relative_to(root).as_posix() for path in answers_files(root)]
    recorded = {relative: _recorded(root / relative) for relative in files}
    unknown: dict[str, SyncStatus] = {}
    to_check: dict[tuple[str, str], str] = {}  # (template, version) -> the answers file Copier checks it with
    for relative, answers in recorded.items():
        source, commit = answers.get("_src_path", ""), answers.get("_commit", "")
        if not source or not commit:
            why = "it records no template (`_src_path`)" if not source else "it records no template version (`_commit`)"
            unknown[relative] = SyncStatus(relative, EnumSyncState.UNVERSIONED, detail=why)
        elif _is_local_path(source) and not (root / Path(source).expanduser()).is_dir():
            unknown[relative] = SyncStatus(relative, EnumSyncState.UNREACHABLE, detail=f"no folder {source}")
        elif _is_local_path(source) and not _holds(root / Path(source).expanduser(), commit):
            unknown[relative] = SyncStatus(relative, EnumSyncState.UNVERSIONED, detail=_not_held(source, commit))
        else:
            to_check.setdefault((source, commit), relative)
    by_template: dict[str, list[tuple[str, str]]] = {}  # template -> its (version, answers file) to check
    for (source, commit), relative in to_check.items():
        by_template.setdefault(source, []).append((commit, relative))

    def check_template(source: str) -> dict[tuple[str, str], _Checked]:
        # One template's checks run one after the other: Copier's cache of a template's clone breaks
        # under two Copier processes at once ("bad object worktrees/...").
        return {(source, commit): _check_update(root, relative, timeout) for commit, relative in by_template[source]}

    checked: dict[tuple[str, str], _Checked] = {}
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for results in pool.map(check_template, by_template):
            checked.update(results)
    statuses: list[SyncStatus] = []
    for relative, answers in recorded.items():
        if relative in unknown:
            statuses.append(unknown[relative])
            continue
        state, current, latest, detail = checked[answers["_src_path"], answers["_commit"]]
        if state is EnumSyncState.UNVERSIONED and "Unknown revision" in detail:
            detail = _not_held(answers["_src_path"], answers["_commit"])
        elif state is EnumSyncState.UNREACHABLE:
            detail = f"{answers['_src_path']}: {detail}"
        statuses.append(SyncStatus(relative, state, current, latest, detail))
    return statuses


# --- update -------------------------------------------------------------------------------------


def _git(root: Path, *args: str) -> str:
    """Run git in `root`; its output.

    Raises:
        SyncError: git is not installed, or the command fails.
    """
    git = shutil.which("git")
    if git is None:
        raise SyncError("git is not installed: Copier needs it to update a project")
    result = subprocess.run(  # noqa: S603 - git from PATH, arguments of this module
        [git, *args], cwd=root, capture_output=True, text=True, check=False, env={**os.environ, **_IDENTITY}
    )
    if result.returncode != 0:
        raise SyncError(f"`git {' '.join(args)}` failed: {result.stderr.strip() or result.stdout.strip()}")
    return result.stdout


#: Uncommitted changes named in the message that refuses them; `git status` shows them all.
_SHOWN_CHANGES = 5


def _start(root: Path) -> str:
    """The commit HEAD is at, once the project is known to be ready for an update.

    Raises:
        SyncError: It is not a git repository, has no commit yet or has uncommitted changes,
            Copier is not installed, or an earlier update left conflicts (exit code 1).
    """
    try:
        _git(root, "rev-parse", "--show-toplevel")
    except SyncError:
        raise SyncError(f"{root} is not in a git repository: Copier updates only what git tracks") from None
    try:
        start = _git(root, "rev-parse", "--verify", "HEAD").strip()
    except SyncError:
        raise SyncError("the repository has no commit yet: commit the project first") from None
    changes = _git(root, "status", "--porcelain").splitlines()
    if changes:
        shown = ", ".join(line[3:] for line in changes[:_SHOWN_CHANGES])
        raise SyncError(
            f"uncommitted changes ({shown}{', ...' if len(changes) > _SHOWN_CHANGES else ''}): commit or stash "
            "them first, so that the update's changes stay apart from yours (Copier refuses a dirty repository)"
        )
    if find_spec("copier") is None:
        raise SyncError(f"Copier is not installed for {sys.executable}: run `nox -s update`")
    leftovers = find_leftovers(root)
    if leftovers:
        listing = "\n".join(f"  {finding.location()}: {finding.message}" for finding in leftovers)
        raise SyncError(f"an earlier merge or update left conflicts; resolve them and commit first:\n{listing}", 1)
    return start


@dataclass(frozen=True)
class _Step:
    """One answers file's turn: updated, or only reported.

    Attributes:
        path: The answers file, relative to the project root.
        report: What to say instead of updating it ("" to update it).
        failed: It needs an update that cannot be made (its template is out of reach, say).
    """

    path: str
    report: str = ""
    failed: bool = False


def _plan(root: Path, vcs_ref: str | None) -> list[_Step]:
    """Each answers file's turn, in update order: those behind (or not at `vcs_ref`) are updated.

    Raises:
        SyncError: There is no answers file.
    """
    files = [path.relative_to(root).as_posix() for path in answers_files(root)]
    if not files:
        raise SyncError(f"no answers file ({LIBRARY_ANSWERS}, {ANSWERS_FOLDER}/*.yml): Copier rendered nothing here")
    if vcs_ref is not None:
        at_ref = {path for path in files if _recorded(root / path).get("_commit") == vcs_ref}
        return [_Step(path, f"{label(path)}: up to date ({vcs_ref})" if path in at_ref else "") for path in files]
    return [
        _Step(status.path)
        if status.state is EnumSyncState.BEHIND
        else _Step(status.path, status.describe(), failed=status.state is not EnumSyncState.CURRENT)
        for status in behind(root)
    ]


def _step_commit(root: Path, message: str) -> None:
    """Commit everything on a temporary commit, so that Copier finds a clean repository for the next file.

    Plumbing only (`write-tree`, `commit-tree`, `update-ref`): no hook runs, nothing is signed.
    """
    _git(root, "add", "--all")
    tree = _git(root, "write-tree").strip()
    if tree == _git(root, "rev-parse", "HEAD^{tree}").strip():
        return
    commit = _git(root, "commit-tree", "--no-gpg-sign", tree, "-p", "HEAD", "-m", message).strip()
    _git(root, "update-ref", "-m", f"template_sync: {message}", "HEAD", commit)


def _restore(root: Path, start: str) -> None:
    """Point HEAD back at `start`, leaving the index and the files alone: every change stays, staged.

    `git update-ref` moves HEAD even while the index holds a conflict (where `git reset --soft` refuses).
    """
    _git(root, "update-ref", "-m", "template_sync: back to where the update started", "HEAD", start)


HOW_TO_RESOLVE = """\
The update stopped there: the files after it are not updated yet. Every change so far is staged.
To go on:
  1. In each file above, keep what you want between `<<<<<<< before updating` (your version)
     and `>>>>>>> after updating` (the template's), and delete the marker lines. For a `.rej`
     file, apply its hunks by hand and delete it.
  2. git add -A && git commit
  3. nox -s update: it goes on with the files still behind."""


def _update_one(root: Path, path: str, vcs_ref: str | None) -> tuple[str, str]:
    """`copier update` of one answers file (recorded answers, inline conflict markers): its version before and after.

    Raises:
        SyncError: Copier failed, or left conflicts (exit code 1); the message lists them and how to go on.
    """
    name = label(path)
    before = _recorded(root / path).get("_commit", "?")
    command = [sys.executable, "-m", "copier", "update", "--trust", "--defaults", "--conflict", "inline", "--quiet"]
    result = subprocess.run(  # noqa: S603 - this interpreter's Copier, fixed arguments
        [*command, *(["--vcs-ref", vcs_ref] if vcs_ref is not None else []), "-a", path],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    after = _recorded(root / path).get("_commit", "?")
    if result.returncode != 0:
        raise SyncError(
            f"{name}: copier update failed: {_copier_error(result.stderr)}\nThe update stopped there. "
            "The changes before it are staged; `git status` shows what the failed step left."
        )
    conflicts = find_leftovers(root)
    if conflicts:
        listing = "\n".join(f"  {finding.location()}: {finding.message}" for finding in conflicts)
        raise SyncError(f"{name}: {before} -> {after}, with conflicts:\n{listing}\n{HOW_TO_RESOLVE}", 1)
    return before, after


def update(root: Path = ROOT, vcs_ref: str | None = None, *, say: Say = _say) -> int:
    """Update every answers file of the project that is behind, library first; the exit code (see the module).

    Args:
        root: The project root.
        vcs_ref: The template version (a tag) to update to; the latest release when None.
        say: Where the progress lines go.
    """
    root = root.resolve()
    updated: list[str] = []
    failed: list[str] = []
    try:
        start = _start(root)
    except SyncError as exc:
        say(f"update: {exc}")
        return exc.code
    try:
        for step in _plan(root, vcs_ref):
            name = label(step.path)
            if step.report:
                say(step.report)
                failed += [name] if step.failed else []
                continue
            before, after = _update_one(root, step.path, vcs_ref)
            say(f"{name}: {before} -> {after}" if after != before else f"{name}: up to date ({after})")
            updated += [name] if after != before else []
            _step_commit(root, f"{name}: {before} -> {after}")
    except SyncError as exc:
        say(str(exc))
        return exc.code
    finally:
        _restore(root, start)
    if updated:
        say(
            f"Updated {', '.join(updated)}. Every change is staged: review it (git diff --cached), "
            "run the gates (nox -s gates), then commit."
        )
    if failed:
        say(f"Not updated: {', '.join(failed)} (see above).")
        return 2
    if not updated:
        say("Everything is up to date.")
    return 0


# --- command line -------------------------------------------------------------------------------


def check(root: Path = ROOT, *, say: Say = _say) -> int:
    """Print where each answers file stands; the exit code (see the module)."""
    try:
        statuses = behind(root)
    except SyncError as exc:
        say(f"check: {exc}")
        return 2
    if not statuses:
        say(f"check: no answers file ({LIBRARY_ANSWERS}, {ANSWERS_FOLDER}/*.yml): nothing was rendered by Copier here")
        return 2
    for status in statuses:
        say(status.describe())
    states = {status.state for status in statuses}
    if EnumSyncState.BEHIND in states:
        say("Run `nox -s update` to update them.")
        return 1
    return 2 if states - {EnumSyncState.CURRENT} else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m quality.template_sync",
        description="Check whether the project is behind its copier-onex template, or update it.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("check", help="which answers files are behind the template's latest release")
    updating = commands.add_parser("update", help="copier update every answers file that is behind, library first")
    updating.add_argument("--vcs-ref", metavar="REF", help="the template version (a tag) to go to (default: latest)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args = _parser().parse_args(argv)
    if args.command == "check":
        return check()
    return update(vcs_ref=args.vcs_ref)


if __name__ == "__main__":
    sys.exit(main())
