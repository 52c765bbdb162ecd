"""What an unfinished `copier update` leaves behind: `.rej` files and conflict markers.

Copier applies a template update as a patch. A hunk it cannot place ends up in the
file between `<<<<<<< before updating` and `>>>>>>> after updating` markers (inline
conflicts, the default) or in a `<file>.rej` next to it, and Copier exits 0 either
way, outside of any git merge, so git's own merge checks never see them. Gate FV-002
and the `copier-leftovers` pre-commit hook (`python -m quality.leftovers`) refuse both.

Conflict markers are looked for in the files git tracks (in every file when git tracks
none, outside a repository say); `.rej` files anywhere in the project, untracked and
ignored ones included, leaving out `.git`, virtual environments and tool caches.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from .model import Finding

__all__ = ["conflict_markers", "find_leftovers", "main", "project_files", "rejected_hunks"]

#: The markers that open and close a conflict: seven characters, then a space or the end of the line.
#: (`=======` alone is left out: it is also a Markdown heading underline, and never comes without these.)
CONFLICT_MARKERS = (b"<<<<<<<", b">>>>>>>")

#: A file with a NUL byte in its first this many bytes is binary, as git judges it.
_BINARY_PROBE = 8000


def _is_conflict_marker(line: bytes) -> bool:
    """`line` opens or closes a conflict."""
    return line.startswith(CONFLICT_MARKERS) and line[7:8] in (b" ", b"\n", b"\r", b"")


def _left_out(folder: Path) -> bool:
    """`folder` is git's, a virtual environment (`pyvenv.cfg`) or a tool cache (`CACHEDIR.TAG`)."""
    return folder.name == ".git" or (folder / "pyvenv.cfg").exists() or (folder / "CACHEDIR.TAG").exists()


def _walk(root: Path) -> Iterator[Path]:
    """Every file under `root`, in sorted order, outside of the folders `_left_out` names."""
    for folder, folders, files in os.walk(root):
        base = Path(folder)
        folders[:] = sorted(name for name in folders if not _left_out(base / name))
        yield from (base / name for name in sorted(files))


def project_files(root: Path) -> list[Path]:
    """The files git tracks in `root` (staged ones included); every file when git tracks none there."""
    git = shutil.which("git")
    if git is not None:
        listing = subprocess.run(  # noqa: S603 - git from PATH, fixed arguments
            [git, "ls-files", "-z", "--cached"], cwd=root, capture_output=True, check=False
        )
        # A file with an unresolved conflict is listed once per side of it: keep one.
        names = [os.fsdecode(name) for name in dict.fromkeys(listing.stdout.split(b"\0")) if name]
        names = names if listing.returncode == 0 else []
        if names:
            paths = (root / name for name in names)
            return sorted(path for path in paths if path.is_file() and not path.is_symlink())
    return list(_walk(root))


def conflict_markers(root: Path, files: Iterable[Path]) -> Iterator[Finding]:
    """A finding for every conflict marker in the text files among `files` (paths reported relative to `root`)."""
    for path in files:
        try:
            content = path.read_bytes()
        except OSError:
            continue
        if b"\0" in content[:_BINARY_PROBE]:
            continue
        for number, line in enumerate(content.splitlines(keepends=True), start=1):
            if _is_conflict_marker(line):
                marker = line.decode("utf-8", "replace").rstrip()
                yield Finding(
                    _relative(root, path),
                    number,
                    f"conflict marker {marker!r} left by a merge or `copier update`: resolve the conflict",
                )


def rejected_hunks(root: Path) -> Iterator[Finding]:
    """A finding for every `.rej` file in the project."""
    for path in _walk(root):
        if path.suffix == ".rej":
            target = path.with_suffix("").name
            yield Finding(
                _relative(root, path),
                None,
                f"hunks `copier update` could not apply to {target}: apply them by hand, then delete this file",
            )


def find_leftovers(root: Path) -> list[Finding]:
    """Conflict markers in the project's files and `.rej` files in its tree."""
    return [*conflict_markers(root, project_files(root)), *rejected_hunks(root)]


def _relative(root: Path, path: Path) -> str:
    """`path` relative to `root`, as a POSIX path."""
    return path.relative_to(root).as_posix()


def main(argv: list[str] | None = None) -> int:
    """Print every leftover in the project (argument: its root, default the current folder); 1 when there is one."""
    args = sys.argv[1:] if argv is None else argv
    root = Path(args[0] if args else ".").resolve()
    findings = find_leftovers(root)
    for finding in findings:
        print(f"{finding.location()}: {finding.message}")  # noqa: T201 - a command-line report
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
