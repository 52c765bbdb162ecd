"""The pure functions behind the templates."""

from __future__ import annotations

import pytest

from extensions import answers, catalog, naming, steps


@pytest.mark.parametrize(
    ("project_name", "expected"),
    [("ONEX Library", "onex_library"), ("my-lib 2", "my_lib_2"), ("  Billing__API ", "billing_api")],
)
def test_package_name_is_derived_from_the_project_name(project_name: str, expected: str) -> None:
    assert naming.package_name(project_name) == expected


def test_naming_helpers() -> None:
    assert naming.pascal_case("user_auth") == "UserAuth"
    assert naming.distribution_name("onex_lib") == "onex-lib"
    assert naming.env_prefix("onex_lib") == "ONEX_LIB_"


@pytest.mark.parametrize("name", ["onex", "billing_api", "a1_b2"])
def test_good_package_names(name: str) -> None:
    assert naming.package_name_error(name) == ""


def test_catalog_names_are_unique_and_well_formed() -> None:
    names = catalog.node_names()
    assert len(names) == len(set(names)) == 15
    assert {node.archetype for node in catalog.CATALOG} == set(catalog.ARCHETYPES)
    for node in catalog.CATALOG:
        assert naming.identifier_error(node.name, what="node") == ""


def test_catalog_class_and_module_names_follow_onex_naming() -> None:
    node = catalog.CATALOG_BY_NAME["event_bus"]
    assert node.class_name == "NodeEventBusEffect"
    assert node.module_name == "node_event_bus_effect"
    assert node.package == "effects"


def test_excluded_node_files_name_only_unselected_nodes() -> None:
    excluded = catalog.excluded_node_files(["database", "workflow"])
    assert "node_database_effect.py" not in excluded
    assert "node_hashing_compute.py" in excluded
    assert "test_node_hashing_compute.py" in excluded
    assert len(excluded) == 2 * 13


def test_all_answers_good_returns_empty() -> None:
    checked = answers.check_library_answers(
        project_name="X", package_name="x_lib", author_email="a@b.c", license="MIT", nodes=["database"]
    )
    assert checked == ""


def test_several_bad_answers_are_reported_together() -> None:
    with pytest.raises(answers.AnswersError) as error:
        answers.check_library_answers(
            project_name="X", package_name="json", author_email="nope", license="GPL", nodes=[]
        )
    message = str(error.value)
    for fragment in ("standard-library module 'json'", "'nope' is not an email", "'GPL' is not one of", "nodes"):
        assert fragment in message


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(answers.AnswersError, match="kind 'plugin'"):
        answers.answers_file("plugin")


# ---------------------------------------------------------------- a step's code, laid out for its place


def test_a_mapping_has_one_item_a_line() -> None:
    assert steps.mapping_expression({"path": "$input.path", "n": 1}, 4) == (
        '{\n        "path": state.value("request.path"),\n        "n": 1,\n    }'
    )
    assert steps.mapping_expression({}, 4) == "{}"


def test_a_long_item_of_a_step_mapping_breaks_for_its_place_in_the_workflow() -> None:
    """A step's code is indented by `STEP_BODY_INDENT` afterwards: the item that would overflow there breaks."""
    name = "p" * 48
    text = steps.mapping_expression({"path": "$input.path", name: f"$input.{name}"}, 4, offset=steps.STEP_BODY_INDENT)
    placed = " " * 16 + text.replace("\n", "\n" + " " * steps.STEP_BODY_INDENT)  # as `| indent(12)` places it

    assert placed.splitlines() == [
        "                {",
        '                    "path": state.value("request.path"),',
        f'                    "{name}": state.value(',
        f'                        "request.{name}",',
        "                    ),",
        "                }",
    ]
