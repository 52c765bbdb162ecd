"""Layout of generated Python (`extensions.pycode`): the lines `ruff format` and ruff's isort write.

The expected texts below were checked against ruff 0.17 (`ruff format`, `ruff check --select I`).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from extensions.pycode import LINE_LENGTH, block, call, docstring, import_block, literal, string


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain", '"plain"'),
        ("it's", '"it\'s"'),
        ('say "hi"', "'say \"hi\"'"),
        # ruff keeps single quotes when they need fewer escapes, double quotes on a tie
        ('it\'s "x"', "'it\\'s \"x\"'"),
        ("a'b\"c", '"a\'b\\"c"'),
        ("back\\slash", '"back\\\\slash"'),
        ("tab\tand\nnewline", '"tab\\tand\\nnewline"'),
        ("naïve", '"naïve"'),
        ("", '""'),
        (None, "None"),
        (True, "True"),
        (1.5, "1.5"),
        ({"a": [1, "b"]}, '{"a": [1, "b"]}'),
        (("x",), '("x",)'),
        (("x", "y"), '("x", "y")'),
    ],
)
def test_literal_quotes_like_ruff_format(value: object, expected: str) -> None:
    assert literal(value) == expected


@settings(max_examples=200, deadline=None, database=None, derandomize=True)
@given(st.text(alphabet=st.sampled_from("a'\"\\ \n\té\x00")) | st.text())
def test_literal_is_the_value(value: str) -> None:
    assert eval(literal(value)) == value  # noqa: S307 - a literal we just wrote


def test_call_fits_on_one_line_when_it_can() -> None:
    assert call("name: Text = Field(", ["min_length=1", 'description="The name."'], indent=4) == (
        'name: Text = Field(min_length=1, description="The name.")'
    )


def test_call_puts_one_argument_per_line_with_a_magic_trailing_comma_when_too_long() -> None:
    arguments = ["default=None", 'alias="from"', f'description="{"d" * 80}"']
    assert call("from_: Text | None = Field(", arguments, indent=4) == (
        "from_: Text | None = Field(\n"
        "        default=None,\n"
        '        alias="from",\n'
        f'        description="{"d" * 80}",\n'
        "    )"
    )


def test_call_counts_the_indent_and_the_suffix() -> None:
    arguments = ["a" * 50, "b" * 50]
    assert "\n" not in call("f(", arguments, indent=0, suffix=")")
    assert "\n" in call("f(", arguments, indent=20, suffix=")")
    assert call("def f(", ["self"], indent=4, suffix=") -> None:") == "def f(self) -> None:"


def test_import_block_orders_sections_modules_and_names_like_isort() -> None:
    stdlib = {"typing": {"Any"}, "uuid": {"UUID"}, "asyncio": set()}
    third_party = {"pydantic": {"Field", "BaseModel", "JsonValue"}}
    local = {
        ".logic": {"helper", "Logic", "LOGIC_X"},
        "...core.contracts": {"Text", "ModelContract"},
        "..runtime": {"x"},
    }

    assert import_block(stdlib, third_party, {}, local) == (
        "import asyncio\n"
        "from typing import Any\n"
        "from uuid import UUID\n"
        "\n"
        "from pydantic import BaseModel, Field, JsonValue\n"
        "\n"
        "from ...core.contracts import ModelContract, Text\n"
        "from ..runtime import x\n"
        "from .logic import LOGIC_X, Logic, helper"
    )


def test_import_block_wraps_a_long_import_in_parentheses() -> None:
    names = {f"Name{index:02d}abcdefgh" for index in range(8)}
    wrapped = import_block({"pydantic": names})

    assert wrapped.startswith("from pydantic import (\n    Name00abcdefgh,\n")
    assert wrapped.endswith("    Name07abcdefgh,\n)")
    assert all(len(line) <= LINE_LENGTH for line in wrapped.splitlines())


def test_string_splits_a_long_text_into_an_implicit_concatenation() -> None:
    text = "word " * 40 + "end"
    short = string("short", indent=8, room=13)
    split = string(text, indent=8, room=13)

    assert short == '"short"'
    assert split.startswith("(\n")
    assert split.endswith("\n        )")
    assert all(len(line) <= LINE_LENGTH for line in split.splitlines())
    assert "".join(eval(line) for line in split.splitlines()[1:-1]) == text  # noqa: S307


def test_docstring_is_one_line_when_it_fits_and_ends_with_a_period() -> None:
    assert docstring("The name", indent=4) == '"""The name."""'
    assert docstring('Holds """quotes"""?', indent=4) == "\"\"\"Holds '''quotes'''?\"\"\""


def test_a_long_docstring_gets_a_summary_a_blank_line_and_a_wrapped_body() -> None:
    text = "The summary. " + "More words here. " * 20
    lines = docstring(text, indent=4).splitlines()

    assert lines[0] == '"""The summary.'
    assert lines[1] == ""
    assert lines[-1] == '    """'
    assert len(lines[0]) + 4 <= LINE_LENGTH
    assert all(len(line) <= LINE_LENGTH for line in lines[1:])


@pytest.mark.parametrize(
    ("text", "summary", "rest"),
    [
        ("The x feature: " + "words " * 30, '"""The x feature.', "Words words"),
        ("Asks of your code; `Logic` overrides it " + "and more " * 20, '"""Asks of your code.', "`Logic` overrides"),
        ("First. Second: third " + "x " * 60, '"""First.', "Second: third"),
    ],
)
def test_a_long_docstring_ends_its_summary_at_the_first_sentence_colon_or_semicolon(
    text: str, summary: str, rest: str
) -> None:
    lines = docstring(text, indent=4).splitlines()

    assert lines[:2] == [summary, ""]
    assert lines[2].startswith(f"    {rest}")
    assert all(len(line) <= LINE_LENGTH for line in lines)


def test_a_summary_too_long_for_its_sentence_breaks_at_a_colon() -> None:
    text = "A " + "long " * 20 + "sentence: the rest. More."
    lines = docstring(text, indent=0).splitlines()

    assert lines[0] == '"""A ' + "long " * 20 + "sentence."
    assert lines[2] == "The rest. More."


def test_paragraphs_after_the_summary_are_kept_as_written_when_they_fit() -> None:
    text = "The summary: short.\n\nA body line,\nand its second line.\n\nA second paragraph."

    assert docstring(text, indent=0) == (
        '"""The summary: short.\n\nA body line,\nand its second line.\n\nA second paragraph.\n"""'
    )


def test_a_paragraph_with_a_line_too_long_is_rewrapped() -> None:
    long_line = "Steps: " + " -> ".join(["a_step_with_a_long_name"] * 8) + "."
    text = f"The summary.\n\n{long_line}\nAnother line."
    lines = docstring(text, indent=4).splitlines()

    assert lines[:2] == ['"""The summary.', ""]
    assert all(len(line) <= LINE_LENGTH for line in lines)
    assert " ".join(line.strip() for line in lines[2:-1]) == f"{long_line} Another line."


def test_a_docstring_with_backslashes_is_raw() -> None:
    assert docstring("Matches \\d+ in C:\\new", indent=4) == 'r"""Matches \\d+ in C:\\new."""'


def test_block_keeps_short_values_on_one_line_and_breaks_long_ones() -> None:
    assert block({"a": 1}, indent=4) == '{"a": 1}'
    assert block({"a": 1, "b": ["x" * 60, "y" * 60]}, indent=0) == (
        '{\n    "a": 1,\n    "b": [\n        "' + "x" * 60 + '",\n        "' + "y" * 60 + '",\n    ],\n}'
    )
