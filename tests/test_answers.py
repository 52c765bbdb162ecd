"""Bad answers are refused before anything is written, with one clear message."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from copier.errors import UserMessageError

from .rendering import SUITE_ROOT, render, render_library

BAD_ANSWERS: list[tuple[dict[str, Any], str]] = [
    ({"package_name": "class"}, "package_name 'class' is a Python keyword"),
    ({"package_name": "match"}, "package_name 'match' is a Python keyword"),
    ({"package_name": "my-lib"}, "contains a dash; use underscores: 'my_lib'"),
    ({"package_name": "MyLib"}, "contains capital letters; use 'mylib'"),
    ({"package_name": ""}, "package_name is empty"),
    ({"package_name": "json"}, "shadows the standard-library module 'json'"),
    ({"package_name": "typing"}, "shadows the standard-library module 'typing'"),
    ({"package_name": "2fast"}, "is not snake_case"),
    ({"project_name": "json"}, "shadows the standard-library module 'json'"),
    ({"author_email": "ada.example.com"}, "author_email 'ada.example.com' is not an email address"),
    ({"nodes": []}, "nodes is empty"),
    ({"license": "GPL"}, "license 'GPL' is not one of MIT, Apache-2.0, BSD-3-Clause"),
]


@pytest.mark.parametrize(("answers", "message"), BAD_ANSWERS, ids=[m for _, m in BAD_ANSWERS])
def test_bad_answer_is_refused_and_nothing_is_written(tmp_path: Path, answers: dict[str, Any], message: str) -> None:
    destination = tmp_path / "lib"
    with pytest.raises(UserMessageError, match="Invalid answers") as error:
        render_library(destination, **answers)
    assert message in str(error.value)
    assert not destination.exists()


def test_an_unknown_kind_is_refused_with_one_message(tmp_path: Path) -> None:
    destination = tmp_path / "lib"
    with pytest.raises(UserMessageError, match="kind 'plugin' is not a sub-template of this suite"):
        render("plugin", destination)
    assert not destination.exists()


def test_existing_destination_is_left_exactly_as_it_was(tmp_path: Path) -> None:
    destination = tmp_path / "lib"
    destination.mkdir()
    (destination / "notes.txt").write_text("mine")
    with pytest.raises(UserMessageError):
        render_library(destination, package_name="json")
    assert [p.name for p in destination.iterdir()] == ["notes.txt"]
    assert (destination / "notes.txt").read_text() == "mine"


def test_cli_prints_one_message_and_exits_non_zero(tmp_path: Path) -> None:
    copier = Path(sys.executable).parent / "copier"
    destination = tmp_path / "lib"
    result = subprocess.run(
        [
            str(copier),
            "copy",
            "--trust",
            "--defaults",
            "--vcs-ref",
            "HEAD",
            "--quiet",
            "-d",
            "package_name=class",
            str(SUITE_ROOT),
            str(destination),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "package_name 'class' is a Python keyword" in result.stderr
    assert "Traceback" not in result.stderr
    assert not destination.exists()
