"""Render the suite's sub-templates in-process, the way the tests need them."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import copier
import yaml

SUITE_ROOT = Path(__file__).resolve().parent.parent


def render(
    kind: str, destination: Path, src: str | Path = SUITE_ROOT, vcs_ref: str | None = "HEAD", **answers: Any
) -> Path:
    """Render sub-template `kind` into `destination` with `answers` (defaults elsewhere), as `copier copy` does.

    By default renders the suite's working tree, uncommitted changes included
    (`vcs_ref="HEAD"` keeps Copier from picking an older tag); `vcs_ref=None`
    takes the latest tag, as `copier copy <url>` does for users.
    """
    copier.run_copy(
        str(src),
        destination,
        data={"kind": kind, **answers},
        defaults=True,
        unsafe=True,
        vcs_ref=vcs_ref,
        quiet=True,
    )
    return destination


def render_library(
    destination: Path, src: str | Path = SUITE_ROOT, vcs_ref: str | None = "HEAD", **answers: Any
) -> Path:
    """A new library in `destination`."""
    return render("library", destination, src, vcs_ref, **answers)


def render_feature(
    library: Path, spec: dict[str, Any], src: str | Path = SUITE_ROOT, vcs_ref: str | None = "HEAD"
) -> Path:
    """Add the feature of `spec` to `library`, as `copier copy -d kind=feature --data-file SPEC` does."""
    return render("feature", library, src, vcs_ref, **spec)


def render_node(library: Path, src: str | Path = SUITE_ROOT, vcs_ref: str | None = "HEAD", **answers: Any) -> Path:
    """Add a custom node to `library`, as `copier copy -d kind=node -d archetype=… -d node_name=…` does."""
    return render("node", library, src, vcs_ref, **answers)


EXAMPLES = SUITE_ROOT / "examples"


def load_spec(path: Path) -> dict[str, Any]:
    """A feature spec file as Copier data."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), path
    return data


def git(*args: str, cwd: Path) -> str:
    """Run git in `cwd` with a fixed identity; return its output."""
    result = subprocess.run(
        ["git", "-c", "user.name=copier-onex tests", "-c", "user.email=tests@copier-onex.invalid", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout


def write_working_tree(destination: Path) -> None:
    """Write the suite's working tree into `destination`: uncommitted and untracked (not ignored) files too."""
    files = git("ls-files", "--cached", "--others", "--exclude-standard", "-z", cwd=SUITE_ROOT).split("\0")
    for name in filter(None, files):
        source = SUITE_ROOT / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())


def snapshot_suite(destination: Path, tag: str) -> Path:
    """A git repository holding the suite's working tree, committed and tagged `tag`.

    Tests of `file://` copies and updates consume this, as users consume a release.
    Name `destination` `*.git`: Copier reads a `file://` URL as git only then.
    """
    destination.mkdir(parents=True)
    write_working_tree(destination)
    git("init", "--quiet", "--initial-branch=main", cwd=destination)
    git("add", "--all", cwd=destination)
    git("commit", "--quiet", "--message", f"copier-onex {tag}", cwd=destination)
    git("tag", tag, cwd=destination)
    return destination


def release(repository: Path, tag: str, message: str) -> str:
    """Commit every change in a suite snapshot (see `snapshot_suite`) and tag it `tag`, as a release does."""
    git("add", "--all", cwd=repository)
    git("commit", "--quiet", "--allow-empty", "--message", message, cwd=repository)
    git("tag", tag, cwd=repository)
    return f"file://{repository}"
