"""Names derived from answers: package, distribution and class names."""

from __future__ import annotations

import keyword
import re
import sys

_SNAKE_CASE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")
_WORD = re.compile(r"[A-Za-z0-9]+")


def package_name(project_name: str) -> str:
    """Derive a Python package name from a free-form project name.

    >>> package_name("My ONEX-Library 2")
    'my_onex_library_2'
    """
    return "_".join(word.lower() for word in _WORD.findall(project_name))


def distribution_name(package: str) -> str:
    """The name a package is published under (PEP 503 style, dashes)."""
    return package.replace("_", "-")


def pascal_case(snake: str) -> str:
    """`user_auth` -> `UserAuth`."""
    return "".join(part.capitalize() for part in snake.split("_") if part)


def env_prefix(package: str) -> str:
    """The environment-variable prefix of a generated library's settings."""
    return f"{package.upper()}_"


def identifier_error(name: str, *, what: str) -> str:
    """Why `name` is not a usable snake_case identifier, or "" when it is."""
    if not name:
        return f"{what} is empty"
    if "-" in name:
        return f"{what} {name!r} contains a dash; use underscores: {package_name(name)!r}"
    if name != name.lower():
        return f"{what} {name!r} contains capital letters; use {package_name(name)!r}"
    if not _SNAKE_CASE.match(name):
        return (
            f"{what} {name!r} is not snake_case "
            "(lowercase letters, digits and single underscores, starting with a letter)"
        )
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        return f"{what} {name!r} is a Python keyword"
    return ""


def package_name_error(name: str) -> str:
    """Why `name` cannot be the package of a generated library, or "" when it can."""
    error = identifier_error(name, what="package_name")
    if error:
        return error
    if name in sys.stdlib_module_names:
        return (
            f"package_name {name!r} shadows the standard-library module {name!r}; "
            f"choose another name, for example {name + '_lib'!r}"
        )
    return ""
