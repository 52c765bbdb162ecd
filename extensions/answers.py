"""Validation of answers, and the Copier settings derived from them.

Copier's per-question `validator` is not run on default answers and turns a
failure into a traceback when answers come from `--data`. The templates
therefore run `check_library_answers` from a hidden question at the end of
the questionnaire: it runs before any file is written, on every path
(interactive, `--data`, `--defaults`), and fails with one message.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .catalog import CATALOG_BY_NAME
from .naming import package_name_error

LICENSES = ("MIT", "Apache-2.0", "BSD-3-Clause")

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


class AnswersError(ValueError):
    """Answers that cannot produce a working project."""


def email_error(email: str) -> str:
    """Why `email` is not an email address, or "" when it is."""
    if not _EMAIL.match(email):
        return f"author_email {email!r} is not an email address (expected name@domain)"
    return ""


def nodes_error(nodes: Sequence[str]) -> str:
    """Why a `nodes` selection cannot make a library, or "" when it can."""
    if isinstance(nodes, str) or not nodes:
        return "nodes is empty: select at least one archetypal node of the catalog"
    unknown = sorted(set(nodes) - CATALOG_BY_NAME.keys())
    if unknown:
        return f"nodes names unknown catalog nodes: {', '.join(unknown)}"
    return ""


def check_library_answers(
    *,
    project_name: str,
    package_name: str,
    author_email: str,
    license: str,
    nodes: Sequence[str],
) -> str:
    """Raise `AnswersError` listing every bad answer; return "" when all are good."""
    errors = [
        "project_name is empty" if not project_name.strip() else "",
        package_name_error(package_name),
        email_error(author_email),
        "" if license in LICENSES else f"license {license!r} is not one of {', '.join(LICENSES)}",
        nodes_error(nodes),
    ]
    problems = [error for error in errors if error]
    if problems:
        raise AnswersError("Invalid answers:\n  - " + "\n  - ".join(problems))
    return ""


KINDS = ("library", "feature", "node")


def check_kind(kind: str) -> str:
    """Raise `AnswersError` unless `kind` names a sub-template; return ""."""
    if kind not in KINDS:
        raise AnswersError(f"kind {kind!r} is not a sub-template of this suite (expected: {', '.join(KINDS)})")
    return ""


def answers_file(kind: str, name: str = "", archetype: str = "") -> str:
    """Where each kind of sub-template keeps its answers in the project.

    The library's answers are `.copier-answers.yml`; each feature and node has its
    own file under `.copier/`, so each can be updated on its own.
    """
    if kind == "library":
        return ".copier-answers.yml"
    if kind == "feature":
        return f".copier/feature-{name}.yml"
    if kind == "node":
        return f".copier/node-{name}-{archetype}.yml"
    raise AnswersError(f"kind {kind!r} is not a sub-template of this suite (expected: library, feature or node)")
