"""Layout of generated Python: the same lines `ruff format` and ruff's isort would write.

Generated code must pass `ruff format --check` and `ruff check` as it is
rendered, so the few places where a line's shape depends on its length
(calls, long strings) and the import block are laid out here.
"""

from __future__ import annotations

import re
import sys
import textwrap
from collections import defaultdict
from collections.abc import Iterable

LINE_LENGTH = 120


def literal(value: object) -> str:
    """A Python literal for a JSON value, quoted the way `ruff format` quotes it (double quotes preferred)."""
    if isinstance(value, str):
        text = repr(value)
        # ruff format: double quotes, unless the value holds more double than single quotes
        # (then repr's single-quoted form, which escapes fewer characters).
        if text.startswith("'") and value.count('"') <= value.count("'"):
            text = '"' + text[1:-1].replace("\\'", "'").replace('"', '\\"') + '"'
        return text
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        items = ", ".join(literal(item) for item in value)
        return (
            f"({items},)"
            if isinstance(value, tuple) and len(value) == 1
            else (f"({items})" if isinstance(value, tuple) else f"[{items}]")
        )
    return repr(value)


def call(prefix: str, arguments: Iterable[str], *, indent: int, suffix: str = ")") -> str:
    """`prefix(arg, ...)` on one line when it fits, else one argument per line with a trailing comma.

    `prefix` ends with the opening parenthesis, e.g. `name: str = Field(`.
    """
    args = list(arguments)
    one_line = f"{prefix}{', '.join(args)}{suffix}"
    if indent + len(one_line) <= LINE_LENGTH and "\n" not in one_line:
        return one_line
    inner = " " * (indent + 4)
    body = "".join(f"{inner}{arg},\n" for arg in args)
    return f"{prefix}\n{body}{' ' * indent}{suffix}"


def string(text: str, *, indent: int, room: int = 0) -> str:
    """`repr(text)`, split into an implicit concatenation in parentheses when the line would be too long.

    `room` is the width of what shares the line with the string (e.g. `description=` and `,`).
    """
    quoted = literal(text)
    if indent + room + len(quoted) <= LINE_LENGTH:
        return quoted
    width = LINE_LENGTH - indent - 4 - 2
    parts: list[str] = []
    current = ""
    for word in text.split(" "):
        candidate = f"{current} {word}" if current else word
        if len(literal(candidate)) > width and current:
            parts.append(f"{current} ")
            current = word
        else:
            current = candidate
    parts.append(current)
    inner = " " * (indent + 4)
    return "(\n" + "".join(f"{inner}{literal(part)}\n" for part in parts) + " " * indent + ")"


def _name_order(name: str) -> tuple[int, str]:
    """Order names like ruff's `order-by-type`: CONSTANTS, then Classes, then functions and variables."""
    bare = name.split(" as ")[0]
    if bare.isupper() and len(bare) > 1:
        return (0, bare)
    if bare[:1].isupper():
        return (1, bare)
    return (2, bare)


def _module_order(module: str) -> tuple[int, str]:
    """Relative imports furthest first (`...` before `..` before `.`), then by name."""
    dots = len(module) - len(module.lstrip("."))
    return (-dots, module.lstrip(".").lower())


def import_block(*groups: dict[str, set[str]]) -> str:
    """The import sections of a module, each `from module import a, b`, laid out like ruff's isort.

    `groups` are the sections in order (standard library, third party, first party, relative).
    """
    sections: list[str] = []
    for group in groups:
        relative = any(module.startswith(".") for module in group)
        order = _module_order if relative else (lambda module: (0, module))
        lines = [f"import {module}" for module in sorted(group, key=order) if not group[module]]
        for module in sorted(group, key=order):
            if not group[module]:
                continue
            names = sorted(group[module], key=_name_order)
            lines.append(call(f"from {module} import ", names, indent=0, suffix="").replace("import \n", "import (\n"))
        if lines:
            sections.append("\n".join(_close(line) for line in lines))
    return "\n\n".join(sections)


def _close(line: str) -> str:
    """A wrapped `from … import (` gets its closing parenthesis."""
    return f"{line})" if line.endswith(",\n") else line


class Imports:
    """Collects what a generated module imports, by section."""

    def __init__(self, first_party: str = "") -> None:
        """Start empty; modules under `first_party` (the library's package) get their own section."""
        self.first_party_package = first_party
        self.stdlib: dict[str, set[str]] = defaultdict(set)
        self.third_party: dict[str, set[str]] = defaultdict(set)
        self.first_party: dict[str, set[str]] = defaultdict(set)
        self.local: dict[str, set[str]] = defaultdict(set)

    def add(self, module: str, *names: str) -> None:
        """`from module import names`; the section follows from the module."""
        top = module.split(".")[0]
        if module.startswith("."):
            section = self.local
        elif top in sys.stdlib_module_names:
            section = self.stdlib
        elif top == self.first_party_package:
            section = self.first_party
        else:
            section = self.third_party
        section[module].update(names)

    def render(self) -> str:
        """The import block."""
        return import_block(self.stdlib, self.third_party, self.first_party, self.local)


#: Where a summary too long for its line may end, in order of preference: a sentence, a colon, a semicolon.
_SUMMARY_BREAKS = (". ", ": ", "; ")


def _summary(text: str, room: int) -> tuple[str, str]:
    """`text` split into a summary that fits in `room` characters and the rest (capitalised), at its first break.

    Without such a break, the first sentence and the rest (the summary then wraps).
    """
    for mark in _SUMMARY_BREAKS:
        head, _, rest = text.partition(mark)
        if rest and len(head) + 1 <= room:
            return f"{head}.", rest[:1].upper() + rest[1:]
    head, _, rest = text.partition(". ")
    return (f"{head}." if rest else head), rest


def _paragraph(text: str, *, indent: int) -> list[str]:
    """The lines of a body paragraph: as written when they fit, else rewrapped."""
    lines = [line.strip() for line in text.replace('"""', "'''").splitlines()]
    if all(indent + len(line) <= LINE_LENGTH for line in lines):
        return lines
    return textwrap.wrap(" ".join(lines), LINE_LENGTH - indent)


def docstring(text: str, *, indent: int) -> str:
    """A docstring for `text`: one line when it fits, else a summary line, a blank line and the rest wrapped.

    The summary ends at the first sentence's end, or else at the first colon or semicolon, that
    leaves it short enough for its line. Paragraphs after a blank line in `text` follow as
    written, or rewrapped when a line of theirs is too long.
    """
    first, *paragraphs = re.split(r"\n[ \t]*\n", text.strip())
    text = " ".join(first.replace('"""', "'''").split())
    if not text.endswith((".", "!", "?")):
        text += "."
    quote = 'r"""' if "\\" in text or any("\\" in p for p in paragraphs) else '"""'  # backslashes as written (D301)
    if not paragraphs and indent + len(text) + len(quote) + 3 <= LINE_LENGTH:
        return f'{quote}{text}"""'
    width = LINE_LENGTH - indent
    if paragraphs and len(quote) + len(text) <= width:
        summary, rest = text, ""
    else:
        summary, rest = _summary(text, width - len(quote))
    pad = " " * indent
    lines = textwrap.wrap(summary, width - len(quote)) or [""]
    out = f"{quote}{lines[0]}\n" + "".join(f"{pad}{line}\n" for line in lines[1:])
    body = [textwrap.wrap(rest, width)] if rest else []
    body += [_paragraph(paragraph, indent=indent) for paragraph in paragraphs]
    for paragraph in body:
        out += "\n" + "".join(f"{pad}{line}\n" for line in paragraph)
    return out + f'{pad}"""'


def block(value: object, *, indent: int, room: int = 0) -> str:
    """A literal for a JSON value; a dict or list too long for its line gets one item per line."""
    one_line = literal(value)
    if indent + room + len(one_line) <= LINE_LENGTH or not isinstance(value, dict | list) or not value:
        return one_line
    inner = " " * (indent + 4)
    if isinstance(value, dict):
        items = [
            f"{literal(key)}: {block(item, indent=indent + 4, room=len(literal(key)) + 3)}"
            for key, item in value.items()
        ]
        opening, closing = "{", "}"
    else:
        items = [block(item, indent=indent + 4, room=1) for item in value]
        opening, closing = "[", "]"
    return opening + "\n" + "".join(f"{inner}{item},\n" for item in items) + " " * indent + closing
