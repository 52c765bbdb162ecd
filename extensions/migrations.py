"""Migrations: changes to stored answers that a three-way merge cannot carry.

`copier update` replays a project's stored answers against the new template. When a
release changes what an answer means or how it is spelt, the stored answers must be
rewritten before the new template renders them: that is a migration. Each one is a pure
function over an answers mapping (a new dict out; key order and every other key kept),
idempotent, limited to one sub-template `kind`, and registered in `MIGRATIONS` with the
suite version it came in.

`copier.yml` runs each registered migration from `_migrations` in the `before` stage, as

    {{ _copier_python }} {{ _copier_conf.src_path }}/extensions/migrations.py NAME ANSWERS_FILE

in the project's folder. Copier's `before` stage runs after it rendered the old version and
before it re-reads the answers file for the new one. A migration's `when` is rendered before
Copier has loaded the project's answers, so `kind` is not known there: `main` reads the
answers file's `kind` itself and leaves other kinds' files alone. This file runs as a script
with only what Copier's own interpreter has (the standard library and PyYAML), so it imports
nothing from its package.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

#: Stored answers, as Copier writes them to an answers file.
Answers = dict[str, Any]


@dataclass(frozen=True)
class Migration:
    """One rewrite of stored answers, registered with the suite version that needs it."""

    name: str
    version: str
    kind: str
    description: str
    rewrite: Callable[[Mapping[str, Any]], Answers]

    def apply(self, answers: Mapping[str, Any]) -> Answers:
        """The migrated answers; a copy of `answers` when they belong to another kind."""
        if answers.get("kind") != self.kind:
            return dict(answers)
        return self.rewrite(answers)


# ---------------------------------------------------------------- 0.4.0

#: How the database `get` step's `missing_error` was spelt before 0.4.0.
OLD_MISSING_ERRORS = frozenset({"not_found", "permission_denied"})


def upper_case_missing_error(answers: Mapping[str, Any]) -> Answers:
    """A feature spec's `missing_error` as the error code's name: `permission_denied` -> `PERMISSION_DENIED`.

    Only the two spellings 0.3.0 accepted are rewritten, in every step that has one; any other
    shape (no steps, a step that is not a mapping, another value) is left as it is, for the
    spec check to report.
    """
    steps = answers.get("steps")
    if not isinstance(steps, list):
        return dict(answers)
    migrated: list[Any] = []
    for step in steps:
        config = step.get("config") if isinstance(step, dict) else None
        value = config.get("missing_error") if isinstance(config, dict) else None
        if isinstance(config, dict) and isinstance(value, str) and value in OLD_MISSING_ERRORS:
            step = {**step, "config": {**config, "missing_error": value.upper()}}
        migrated.append(step)
    if migrated == steps:
        return dict(answers)
    return {**answers, "steps": migrated}


#: Every migration, oldest first; `copier.yml` has one `_migrations` entry for each.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        name="missing_error_upper_case",
        version="0.4.0",
        kind="feature",
        description="steps[].config.missing_error takes the error code's name in upper case",
        rewrite=upper_case_missing_error,
    ),
)


def migration(name: str) -> Migration:
    """The registered migration called `name`."""
    for candidate in MIGRATIONS:
        if candidate.name == name:
            return candidate
    known = ", ".join(m.name for m in MIGRATIONS)
    raise LookupError(f"no migration {name!r} (known: {known})")


# ---------------------------------------------------------------- answers files


def migrate_text(text: str, step: Migration) -> str:
    """The answers file `text` after `step`; `text` itself when nothing changes.

    The leading comment lines are kept; the answers are written the way the feature
    sub-template writes them (`to_nice_yaml(indent=2, sort_keys=False)`).
    """
    answers = yaml.safe_load(text)
    if not isinstance(answers, dict):
        raise TypeError("an answers file holds a mapping of answers")
    migrated = step.apply(answers)
    if migrated == answers:
        return text
    header = "".join(_leading_comments(text.splitlines(keepends=True)))
    body = yaml.safe_dump(migrated, indent=2, allow_unicode=True, default_flow_style=False, sort_keys=False)
    return header + body


def _leading_comments(lines: Sequence[str]) -> list[str]:
    header: list[str] = []
    for line in lines:
        if not line.startswith("#"):
            break
        header.append(line)
    return header


def main(argv: Sequence[str]) -> int:
    """`migrations.py NAME ANSWERS_FILE`: apply migration NAME to the answers file, in place."""
    if len(argv) != 2:
        print("usage: migrations.py NAME ANSWERS_FILE", file=sys.stderr)
        return 2
    name, answers_file = argv
    try:
        step = migration(name)
        path = Path(answers_file)
        text = path.read_text(encoding="utf-8")
        migrated = migrate_text(text, step)
    except (LookupError, OSError, TypeError, ValueError, yaml.YAMLError) as error:
        print(f"copier-onex migration {name}: {answers_file}: {error}", file=sys.stderr)
        return 1
    if migrated != text:
        path.write_text(migrated, encoding="utf-8")
        print(f"copier-onex {step.version}: {answers_file}: {step.description}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
