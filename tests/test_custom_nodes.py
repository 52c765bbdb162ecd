"""The pure functions behind the node sub-template: custom node naming and the check of its answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from extensions import answers, catalog, custom_nodes
from extensions.project import ProjectState


def library_state(root: Path, **fields: Any) -> ProjectState:
    return ProjectState(root=root, package_name="my_lib", library_nodes=("database", "logger"), **fields)


def check(project: ProjectState | None, **overrides: str) -> str:
    values = {
        "archetype": "effect",
        "node_name": "s3",
        "node_description": "Stores objects in S3.",
        "package_name": "my_lib",
        **overrides,
    }
    return custom_nodes.check_node_answers(project=project, **values)


def test_a_custom_node_is_named_like_a_catalog_node_and_knows_its_files() -> None:
    node = custom_nodes.custom_node("tax_calculation", "compute", "computes the tax due")

    assert isinstance(node, catalog.CatalogNode)
    assert node.class_name == "NodeTaxCalculationCompute"
    assert node.module_name == "node_tax_calculation_compute"
    assert node.qualified_name == "tax_calculation_compute"
    assert node.package == "compute"
    assert node.logic_module == "tax_calculation_compute_logic"
    assert node.logic_class == "TaxCalculationComputeLogic"
    assert node.module_path("my_lib") == "src/my_lib/archetypes/compute/node_tax_calculation_compute.py"
    assert node.user_files("my_lib") == (
        "src/my_lib/archetypes/compute/tax_calculation_compute_logic.py",
        "tests/archetypes/test_node_tax_calculation_compute.py",
    )


@pytest.mark.parametrize(
    ("description", "docstring"),
    [
        ("computes the tax due", "Computes the tax due."),
        ("Computes the tax due!", "Computes the tax due!"),
        ("  two   spaces  ", "Two spaces."),
        ("", "The tax calculation compute."),
    ],
)
def test_the_docstring_is_one_sentence(description: str, docstring: str) -> None:
    assert custom_nodes.custom_node("tax_calculation", "compute", description).docstring == docstring


def test_an_unknown_archetype_has_no_custom_node() -> None:
    with pytest.raises(answers.AnswersError, match="archetype 'plugin' is not one of effect, compute"):
        custom_nodes.custom_node("s3", "plugin")


def test_good_answers_return_empty(tmp_path: Path) -> None:
    assert check(library_state(tmp_path)) == ""
    assert check(None) == ""


BAD_NAMES = [
    ("class", "node_name 'class' is a Python keyword"),
    ("match", "node_name 'match' is a Python keyword"),
    ("S3", "contains capital letters; use 's3'"),
    ("s3-bucket", "contains a dash; use underscores: 's3_bucket'"),
    ("2fast", "is not snake_case"),
    ("s3__bucket", "is not snake_case"),
    ("s3_", "is not snake_case"),
    ("", "node_name is empty"),
    ("a" * 33, "is 33 characters long; keep it to 32"),
    ("database", "taken by the catalog's database effect (NodeDatabaseEffect)"),
    ("hashing", "taken by the catalog's hashing compute (NodeHashingCompute)"),
    ("s3_effect", "ends with '_effect': the archetype is added to the name already"),
    ("tax_compute", "use 'tax'"),
]


@pytest.mark.parametrize(("name", "message"), BAD_NAMES, ids=[m for _, m in BAD_NAMES])
def test_bad_node_names_are_refused(tmp_path: Path, name: str, message: str) -> None:
    with pytest.raises(answers.AnswersError, match="Invalid answers") as error:
        check(library_state(tmp_path), node_name=name)
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("description", "message"),
    [
        ("Two\nlines", "spans several lines"),
        ('Ends with """', "may not contain backslashes"),
        ("C:\\path", "may not contain backslashes"),
        ("x" * 101, "is 101 characters long; keep it to 100"),
    ],
)
def test_bad_descriptions_are_refused(tmp_path: Path, description: str, message: str) -> None:
    with pytest.raises(answers.AnswersError, match=message):
        check(library_state(tmp_path), node_description=description)


@pytest.mark.parametrize("archetype", ["effect", "compute"])
def test_a_name_taken_by_a_custom_node_of_any_archetype_is_refused(tmp_path: Path, archetype: str) -> None:
    project = library_state(tmp_path, custom_nodes={"s3": "effect"})

    with pytest.raises(answers.AnswersError) as error:
        check(project, archetype=archetype)

    assert "'s3' is taken by this library's custom effect node (.copier/node-s3-effect.yml)" in str(error.value)


def test_a_name_whose_files_exist_is_refused(tmp_path: Path) -> None:
    logic = tmp_path / "src" / "my_lib" / "archetypes" / "effects" / "s3_effect_logic.py"
    logic.parent.mkdir(parents=True)
    logic.write_text("")

    with pytest.raises(answers.AnswersError) as error:
        check(library_state(tmp_path))
    assert "src/my_lib/archetypes/effects/s3_effect_logic.py exists already" in str(error.value)


def test_a_folder_that_is_no_library_is_refused_with_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(answers.AnswersError, match="is not an ONEX library") as error:
        check(ProjectState(root=tmp_path), package_name="")
    assert "generate the library first" in str(error.value)


def test_several_bad_answers_are_reported_together(tmp_path: Path) -> None:
    with pytest.raises(answers.AnswersError) as error:
        check(library_state(tmp_path), archetype="plugin", node_name="for", node_description="a\nb", package_name="")
    message = str(error.value)
    for fragment in ("archetype 'plugin'", "'for' is a Python keyword", "several lines", "package_name is empty"):
        assert fragment in message


def test_during_update_the_library_is_not_consulted() -> None:
    assert check(None, node_name="s3") == ""
