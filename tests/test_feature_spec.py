"""Feature specs: bad ones stop with one message at the fault's spec path; good ones become the right classes.

Bad specs are the good example `examples/user_auth.yml` with one thing changed. Most are
checked by calling the check directly; a representative few go through Copier, which must
refuse them before writing anything (the library's files stay byte-identical), and one
through the `copier` command line.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import copier
import pytest
import yaml
from copier.errors import UserMessageError
from pydantic import BaseModel, SecretStr, ValidationError

from extensions.catalog import node_names
from extensions.contracts import NAME_LIMIT, SpecError
from extensions.project import ProjectState
from extensions.spec import FeatureSpecError, FeatureView, build_feature, check_feature_spec

from .contracts_package import ContractsPackage, contracts_package, feature_of
from .rendering import SUITE_ROOT, render_library

BASE: dict[str, Any] = yaml.safe_load((SUITE_ROOT / "examples" / "user_auth.yml").read_text(encoding="utf-8"))
WIDE: dict[str, Any] = yaml.safe_load(
    (Path(__file__).parent / "specs" / "wide_contracts.yml").read_text(encoding="utf-8")
)
PACKAGE = "onex_lib"
LIBRARY = ProjectState(root=Path("/srv/onex-lib"), package_name=PACKAGE, library_nodes=tuple(node_names()))
REQUEST = "contracts.UserAuthRequest.properties"
#: Names one character longer than a spec may give: snake_case and PascalCase.
TOO_LONG = "a" * NAME_LIMIT + "b"
TOO_LONG_CONTRACT = "A" * NAME_LIMIT + "B"
LIMIT_REASON = f"is {NAME_LIMIT + 1} characters long; the limit is {NAME_LIMIT}"


# ---------------------------------------------------------------- changing one thing


def _walk(spec: dict[str, Any], path: str) -> tuple[Any, str | int]:
    """The container of the dotted `path` in `spec`, and the last key (an index for lists)."""
    *parents, last = path.split(".")
    node: Any = spec
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node, int(last) if isinstance(node, list) else last


def put(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """Set the value at `path` (`steps.1.node`), adding it when it is not there."""

    def change(spec: dict[str, Any]) -> None:
        node, key = _walk(spec, path)
        if isinstance(node, list) and key == len(node):
            node.append(copy.deepcopy(value))
        else:
            node[key] = copy.deepcopy(value)

    return change


def drop(path: str) -> Callable[[dict[str, Any]], None]:
    """Remove the value at `path`."""

    def change(spec: dict[str, Any]) -> None:
        node, key = _walk(spec, path)
        del node[key]

    return change


def both(*changes: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def change(spec: dict[str, Any]) -> None:
        for one in changes:
            one(spec)

    return change


def changed(change: Callable[[dict[str, Any]], None], base: dict[str, Any] = BASE) -> dict[str, Any]:
    spec = copy.deepcopy(base)
    change(spec)
    return spec


@dataclass(frozen=True)
class Bad:
    """A bad spec: `change` applied to the good one gives the fault at `path`, explained by `reason`."""

    name: str
    change: Callable[[dict[str, Any]], None]
    path: str
    reason: str
    project: ProjectState | None = None


def node_step(node: str, config: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": "extra", "node": node, **({"config": config} if config is not None else {})}


WITHOUT_DATABASE = replace(LIBRARY, library_nodes=tuple(n for n in node_names() if n != "database"))
WITHOUT_WORKFLOW = replace(LIBRARY, library_nodes=tuple(n for n in node_names() if n != "workflow"))

BAD_SPECS = [
    # --- the feature's name and description
    Bad("capitalised feature name", put("feature_name", "UserAuth"), "feature_name", "capital letters"),
    Bad("dashed feature name", put("feature_name", "user-auth"), "feature_name", "contains a dash"),
    Bad("keyword feature name", put("feature_name", "class"), "feature_name", "is a Python keyword"),
    Bad("reserved feature name", put("feature_name", "runtime"), "feature_name", "'runtime' is reserved"),
    Bad("no feature name", put("feature_name", None), "feature_name", "missing"),
    Bad("feature name too long", put("feature_name", TOO_LONG), "feature_name", LIMIT_REASON),
    Bad(
        "feature name taken",
        lambda spec: None,
        "feature_name",
        "already has a feature 'user_auth'",
        replace(LIBRARY, features=("user_auth",)),
    ),
    Bad("description not text", put("feature_description", ["a", "list"]), "feature_description", "must be text"),
    # --- contracts
    Bad(
        "contract name too long",
        put(f"contracts.{TOO_LONG_CONTRACT}", {"type": "object", "properties": {"n": {"type": "integer"}}}),
        f"contracts.{TOO_LONG_CONTRACT}",
        LIMIT_REASON,
    ),
    Bad(
        "property name too long",
        put(f"{REQUEST}.{TOO_LONG}", {"type": "integer"}),
        f"{REQUEST}.{TOO_LONG}",
        LIMIT_REASON,
    ),
    Bad("no contracts", put("contracts", {}), "contracts", "give at least one contract"),
    Bad("contracts not a mapping", put("contracts", ["UserAuthRequest"]), "contracts", "give at least one contract"),
    Bad(
        "contract name not PascalCase",
        put("contracts.userStats", {"type": "object", "properties": {"n": {"type": "integer"}}}),
        "contracts.userStats",
        "PascalCase",
    ),
    Bad(
        "contract named like the base class",
        put("contracts.Contract", {"type": "object", "properties": {"n": {"type": "integer"}}}),
        "contracts.Contract",
        "generates the class ModelContract, the base of every contract",
    ),
    Bad(
        "contract not an object",
        put("contracts.UserAuthRequest.type", "array"),
        "contracts.UserAuthRequest",
        "must be an object schema",
    ),
    Bad(
        "contract without properties",
        drop("contracts.UserAuthResponse.properties"),
        "contracts.UserAuthResponse",
        "needs properties",
    ),
    Bad("unknown type", put(f"{REQUEST}.age", {"type": "decimal"}), f"{REQUEST}.age.type", "'object'"),
    Bad("unknown format", put(f"{REQUEST}.username.format", "ipv4"), f"{REQUEST}.username.format", "'uuid'"),
    Bad("unknown keyword", put(f"{REQUEST}.username.minItems", 1), f"{REQUEST}.username.minItems", "unsupported"),
    Bad("no type and no $ref", put(f"{REQUEST}.age", {"minimum": 1}), f"{REQUEST}.age.type", "give a type or a $ref"),
    Bad(
        "$ref to nothing",
        put(f"{REQUEST}.profile", {"$ref": "#/contracts/UserProfile"}),
        f"{REQUEST}.profile.$ref",
        "'#/contracts/UserProfile' names no contract",
    ),
    Bad(
        "$ref outside the contracts",
        put(f"{REQUEST}.profile", {"$ref": "#/definitions/UserAuthResponse"}),
        f"{REQUEST}.profile.$ref",
        "names no contract of this spec (known: #/contracts/UserAuthRequest",
    ),
    Bad(
        "$ref with a type beside it",
        put(f"{REQUEST}.profile", {"$ref": "#/contracts/UserAuthResponse", "type": "object"}),
        f"{REQUEST}.profile",
        "$ref cannot be combined with type",
    ),
    Bad(
        "required names a missing property",
        put("contracts.UserAuthRequest.required", ["username", "password", "email"]),
        "contracts.UserAuthRequest.required.2",
        "'email', which is not among the properties",
    ),
    Bad(
        "required lists a property twice",
        put("contracts.UserAuthRequest.required", ["username", "username"]),
        "contracts.UserAuthRequest.required",
        "lists a property twice",
    ),
    Bad(
        "pattern not a regex",
        put(f"{REQUEST}.username.pattern", "^[a-z"),
        f"{REQUEST}.username.pattern",
        "not a valid regular expression",
    ),
    Bad(
        "pattern not a regex, with a default",
        put(f"{REQUEST}.nick", {"type": "string", "pattern": "(", "default": "x"}),
        f"{REQUEST}.nick.pattern",
        "not a valid regular expression",
    ),
    Bad(
        "minimum above maximum",
        put(f"{REQUEST}.age", {"type": "integer", "minimum": 5, "maximum": 1}),
        f"{REQUEST}.age.minimum",
        "5 is above maximum 1",
    ),
    Bad(
        "minLength above maxLength",
        put(f"{REQUEST}.username.minLength", 40),
        f"{REQUEST}.username.minLength",
        "40 is above maxLength 32",
    ),
    Bad(
        "negative minLength",
        put(f"{REQUEST}.username.minLength", -1),
        f"{REQUEST}.username.minLength",
        "greater than or equal to 0",
    ),
    Bad(
        "string limit on an integer",
        put(f"{REQUEST}.age", {"type": "integer", "maxLength": 3}),
        f"{REQUEST}.age.maxLength",
        "applies to strings only",
    ),
    Bad(
        "number limit on a string",
        put(f"{REQUEST}.username.minimum", 1),
        f"{REQUEST}.username.minimum",
        "applies to integers and numbers only",
    ),
    Bad(
        "fractional limit on an integer",
        put(f"{REQUEST}.age", {"type": "integer", "minimum": 1.5}),
        f"{REQUEST}.age.minimum",
        "must be a whole number",
    ),
    Bad(
        "format on an integer",
        put(f"{REQUEST}.age", {"type": "integer", "format": "uuid"}),
        f"{REQUEST}.age.format",
        "applies to strings only",
    ),
    Bad(
        "length limit on a uuid",
        put(f"{REQUEST}.ref", {"type": "string", "format": "uuid", "maxLength": 36}),
        f"{REQUEST}.ref.maxLength",
        "does not apply to format uuid",
    ),
    Bad(
        "pattern on a date-time",
        put(f"{REQUEST}.at", {"type": "string", "format": "date-time", "pattern": "Z$"}),
        f"{REQUEST}.at.pattern",
        "does not apply to format date-time",
    ),
    Bad(
        "pattern on a password",
        put(f"{REQUEST}.password.pattern", "[0-9]"),
        f"{REQUEST}.password.pattern",
        "does not apply to a password",
    ),
    Bad(
        "enum of numbers",
        put(f"{REQUEST}.level", {"type": "string", "enum": [1, 2]}),
        f"{REQUEST}.level.enum",
        "every enum value must be a string",
    ),
    Bad("empty enum", put(f"{REQUEST}.level", {"type": "string", "enum": []}), f"{REQUEST}.level.enum", "at least one"),
    Bad(
        "enum with a value twice",
        put(f"{REQUEST}.level", {"type": "string", "enum": ["a", "a"]}),
        f"{REQUEST}.level.enum",
        "lists a value twice",
    ),
    Bad(
        "enum values with one member name",
        put(f"{REQUEST}.level", {"type": "string", "enum": ["in-progress", "in_progress"]}),
        f"{REQUEST}.level.enum",
        "same member name",
    ),
    Bad(
        "enum on an integer",
        put(f"{REQUEST}.level", {"type": "integer", "enum": ["a"]}),
        f"{REQUEST}.level.enum",
        "strings only",
    ),
    Bad(
        "array without items",
        put(f"{REQUEST}.tags", {"type": "array"}),
        f"{REQUEST}.tags.items",
        "an array needs items",
    ),
    Bad(
        "items on a string",
        put(f"{REQUEST}.tags", {"type": "string", "items": {"type": "string"}}),
        f"{REQUEST}.tags.items",
        "applies to arrays only",
    ),
    Bad(
        "bad limit on an array's items",
        put(f"{REQUEST}.tags", {"type": "array", "items": {"type": "string", "minimum": 1}}),
        f"{REQUEST}.tags.items.minimum",
        "applies to integers and numbers only",
    ),
    Bad(
        "default on an array's items",
        put(f"{REQUEST}.tags", {"type": "array", "items": {"type": "string", "default": "x"}}),
        f"{REQUEST}.tags.items.default",
        "applies to properties only",
    ),
    Bad(
        "properties on a string",
        put(f"{REQUEST}.username.properties", {"a": {"type": "string"}}),
        f"{REQUEST}.username.properties",
        "applies to objects only",
    ),
    Bad(
        "bad property deep in a nested object",
        put(f"{REQUEST}.address", {"type": "object", "properties": {"zip": {"type": "string", "pattern": "["}}}),
        f"{REQUEST}.address.properties.zip.pattern",
        "not a valid regular expression",
    ),
    Bad(
        "default on a required property",
        put(f"{REQUEST}.username.default", "ana"),
        f"{REQUEST}.username.default",
        "a required property cannot have a default",
    ),
    Bad(
        "default of the wrong type",
        put(f"{REQUEST}.age", {"type": "integer", "default": "3"}),
        f"{REQUEST}.age.default",
        "'3' is not a integer",
    ),
    Bad(
        "default outside the enum",
        put(f"{REQUEST}.level", {"type": "string", "enum": ["low", "high"], "default": "mid"}),
        f"{REQUEST}.level.default",
        "not one of the enum's values",
    ),
    Bad(
        "default above the maximum",
        put(f"{REQUEST}.age", {"type": "integer", "maximum": 10, "default": 11}),
        f"{REQUEST}.age.default",
        "above maximum 10",
    ),
    Bad(
        "default on a date-time",
        put(f"{REQUEST}.at", {"type": "string", "format": "date-time", "default": "2024-01-01T00:00:00Z"}),
        f"{REQUEST}.at.default",
        "not supported on format date-time",
    ),
    Bad(
        "default email without an @",
        put(f"{REQUEST}.mail", {"type": "string", "format": "email", "default": "nobody"}),
        f"{REQUEST}.mail.default",
        "not an email address",
    ),
    Bad(
        "property name with a space",
        put(f"{REQUEST}.first name", {"type": "string"}),
        f"{REQUEST}.first name",
        "a property name must start with a letter or _",
    ),
    Bad(
        "two properties, one Python name",
        both(put(f"{REQUEST}.userId", {"type": "string"}), put(f"{REQUEST}.user_id", {"type": "string"})),
        f"{REQUEST}.user_id",
        "becomes the Python name 'user_id', like property 'userId'",
    ),
    Bad(
        "nested object's class taken by a contract",
        both(
            put(f"{REQUEST}.profile", {"type": "object", "properties": {"a": {"type": "string"}}}),
            put("contracts.UserAuthRequestProfile", {"type": "object", "properties": {"b": {"type": "string"}}}),
        ),
        f"{REQUEST}.profile",
        "generates the class ModelUserAuthRequestProfile, which another contract already uses",
    ),
    Bad(
        "contract named like a node's model",
        put("contracts.Session", {"type": "object", "properties": {"n": {"type": "integer"}}}),
        "contracts.Session",
        "generates the class ModelSession, which the feature's code uses already",
    ),
    Bad(
        "contract named like the feature's state",
        put("contracts.UserAuthState", {"type": "object", "properties": {"n": {"type": "integer"}}}),
        "contracts.UserAuthState",
        "generates the class ModelUserAuthState, which the feature's code uses already",
    ),
    # --- input and output
    Bad("input names no contract", put("input", "LoginRequest"), "input", "'LoginRequest' names no contract"),
    Bad("no output", put("output", None), "output", "None names no contract"),
    # --- steps
    Bad("no steps", put("steps", []), "steps", "give at least one step"),
    Bad("steps as a string", put("steps", "validate_input"), "steps", "give at least one step, as a list"),
    Bad("a step that is not a mapping", put("steps.0", "validation"), "steps.0", "a step is a mapping"),
    Bad("duplicate step names", put("steps.1.name", "validate_input"), "steps.1.name", "names an earlier step too"),
    Bad("step name not snake_case", put("steps.1.name", "fetchUser"), "steps.1.name", "capital letters"),
    Bad("step without a name", drop("steps.1.name"), "steps.1.name", "step name is missing"),
    Bad("unknown step key", put("steps.0.retries", 3), "steps.0.retries", "unsupported key"),
    Bad("unknown node", put("steps.1.node", "databse"), "steps.1.node", "unknown node 'databse'; catalog nodes:"),
    Bad("node not a name", put("steps.1.node", 3), "steps.1.node", "name a node of the catalog"),
    Bad("catalog node, wrong archetype", put("steps.1.node", "database_compute"), "steps.1.node", "not a compute"),
    Bad("config not a mapping", put("steps.1.config", "get users"), "steps.1.config", "a mapping of settings"),
    Bad(
        "unknown operation",
        put("steps.1.config.operation", "fetch"),
        "steps.1.config.operation",
        "'fetch' is not an operation of 'database' (offered: insert, upsert, get, delete, custom)",
    ),
    Bad(
        "node without a built-in operation",
        put("steps.4", node_step("parser")),
        "steps.4.config.operation",
        "has no built-in operation; use operation: custom",
    ),
    Bad("unknown setting", put("steps.1.config.table", "users"), "steps.1.config.table", "unsupported"),
    Bad("missing setting", drop("steps.1.config.collection"), "steps.1.config.collection", "Field required"),
    Bad("bad setting value", put("steps.1.config.if_missing", "ignore"), "steps.1.config.if_missing", "'fail'"),
    Bad(
        "missing_error spelt as before 0.4.0",
        put("steps.1.config.missing_error", "permission_denied"),
        "steps.1.config.missing_error",
        "'permission_denied' is how copier-onex spelt it before 0.4.0: write PERMISSION_DENIED",
    ),
    Bad(
        "missing_error of no error code",
        put("steps.1.config.missing_error", "GONE"),
        "steps.1.config.missing_error",
        "'NOT_FOUND' or 'PERMISSION_DENIED'",
    ),
    Bad(
        "reference to no value",
        put("steps.2.config.stored_hash", "$usr.password_hash"),
        "steps.2.config.stored_hash",
        "refers to 'usr', which no earlier step produces (known: input, user)",
    ),
    Bad(
        "reference to a later value",
        put("steps.1.config.key", "$session.subject"),
        "steps.1.config.key",
        "refers to 'session', which no earlier step produces",
    ),
    Bad(
        "reference to no input property",
        put("steps.1.config.key", "$input.login"),
        "steps.1.config.key",
        "the input contract UserAuthRequest has no property 'login'",
    ),
    Bad(
        "reference of the wrong type",
        put(
            "steps.4",
            node_step("metrics", {"operation": "record", "namespace": "auth", "size_bytes": "$input.username"}),
        ),
        "steps.4.config.size_bytes",
        "is a string, but this setting needs integer",
    ),
    Bad("reserved value name", put("steps.1.config.into", "request"), "steps.1.config.into", "reserved"),
    Bad("value name too long", put("steps.1.config.into", TOO_LONG), "steps.1.config.into", LIMIT_REASON),
    Bad("step name too long", put("steps.2.name", TOO_LONG), "steps.2.name", LIMIT_REASON),
    Bad(
        "event name too long",
        put(
            "steps.4",
            node_step(
                "event_bus",
                {"operation": "publish", "event": TOO_LONG, "contract": "UserAuthRequest", "payload": {}},
            ),
        ),
        "steps.4.config.event",
        LIMIT_REASON,
    ),
    Bad(
        "value produced twice",
        put("steps.4", node_step("database", {"operation": "get", "collection": "users", "key": "x", "into": "user"})),
        "steps.4.config.into",
        "'user' is produced by an earlier step already",
    ),
    Bad(
        "publish of no contract",
        put(
            "steps.4", node_step("event_bus", {"operation": "publish", "event": "x", "contract": "Nope", "payload": {}})
        ),
        "steps.4.config.contract",
        "'Nope' names no contract",
    ),
    Bad(
        "publish of a bad event name",
        put(
            "steps.4",
            node_step(
                "event_bus",
                {"operation": "publish", "event": "User Authed", "contract": "UserAuthRequest", "payload": {}},
            ),
        ),
        "steps.4.config.event",
        "not a lower-case event name",
    ),
    # --- what the library has
    Bad(
        "node the library lacks",
        lambda spec: None,
        "steps.1.node",
        "generated without the 'database' node",
        WITHOUT_DATABASE,
    ),
    Bad(
        "custom node that does not exist",
        put("steps.4", node_step("s3_effect", {"operation": "custom"})),
        "steps.4.node",
        "no custom node 's3_effect' in this library (custom nodes: none); add it with kind=node",
        LIBRARY,
    ),
    Bad(
        "custom node of another archetype",
        put("steps.4", node_step("s3_compute", {"operation": "custom"})),
        "steps.4.node",
        "no custom node 's3_compute' in this library (custom nodes: s3_effect)",
        replace(LIBRARY, custom_nodes={"s3": "effect"}),
    ),
    Bad("library without the workflow node", lambda spec: None, "steps", "workflow orchestrator", WITHOUT_WORKFLOW),
    Bad(
        "destination that is no library",
        lambda spec: None,
        "destination",
        "holds no ONEX library",
        ProjectState(root=Path("/home/me/notes")),
    ),
    # --- result
    Bad("result not a mapping", put("result", ["session_id"]), "result", "map fields of the output contract"),
    Bad("result of no output property", put("result.token", "$session.session_id"), "result.token", "no property"),
    Bad(
        "result from no value",
        put("result.session_id", "$sesion.session_id"),
        "result.session_id",
        "refers to 'sesion', which no earlier step produces",
    ),
    Bad(
        "required output left unmapped",
        drop("result.expires_at"),
        "result.expires_at",
        "required, but no step produces a value of that name",
    ),
    # --- examples
    Bad("example name too long", put("examples.1.name", TOO_LONG), "examples.1.name", LIMIT_REASON),
    Bad("examples not a list", put("examples", {"a": 1}), "examples", "a list of examples"),
    Bad("example expecting nonsense", put("examples.0.expect", "ok"), "examples.0.expect", "one of completed"),
    Bad(
        "example with an unknown error code",
        put("examples.0.error_code", "OOPS"),
        "examples.0.error_code",
        "one of VALIDATION_ERROR",
    ),
    Bad("example names twice", put("examples.1.name", "unknown_user"), "examples.1.name", "names an earlier example"),
    Bad("example input not a mapping", put("examples.0.input", "nobody"), "examples.0.input", "a mapping"),
    Bad(
        "example output of no property",
        both(put("examples.0.expect", "completed"), drop("examples.0.error_code"), put("examples.0.output", {"x": 1})),
        "examples.0.output.x",
        "has no property 'x'",
    ),
]


def test_the_base_spec_is_good() -> None:
    assert check_feature_spec(package_name=PACKAGE, project=LIBRARY, **BASE) == ""


def test_there_are_at_least_30_distinct_bad_specs() -> None:
    assert len({bad.name for bad in BAD_SPECS}) == len(BAD_SPECS) >= 30
    assert len({bad.path for bad in BAD_SPECS}) >= 30


@pytest.mark.parametrize("bad", BAD_SPECS, ids=[bad.name for bad in BAD_SPECS])
def test_a_bad_spec_stops_with_one_message_at_its_spec_path(bad: Bad) -> None:
    spec = changed(bad.change)

    with pytest.raises(FeatureSpecError) as caught:
        check_feature_spec(package_name=PACKAGE, project=bad.project, **spec)

    message = str(caught.value)
    assert message.startswith(f"Invalid feature spec: {bad.path}: "), message
    assert bad.reason in message
    assert "\n" not in message
    with pytest.raises(SpecError) as raw:
        build_feature(package_name=PACKAGE, project=bad.project, **spec)
    assert raw.value.path == bad.path


def test_without_a_project_the_library_checks_are_skipped() -> None:
    """During `copier update` the destination is not read: the spec alone is checked."""
    custom = changed(put("steps.4", node_step("s3_effect", {"operation": "custom", "into": "blob"})))
    assert check_feature_spec(package_name=PACKAGE, project=None, **custom) == ""
    assert (
        check_feature_spec(package_name=PACKAGE, project=replace(LIBRARY, custom_nodes={"s3": "effect"}), **custom)
        == ""
    )


def test_a_feature_needs_the_package_of_a_library() -> None:
    with pytest.raises(SpecError) as caught:
        build_feature(package_name="", **BASE)
    assert caught.value.path == "package_name"


# ---------------------------------------------------------------- good specs


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ContractsPackage]:
    with contracts_package(tmp_path_factory.mktemp("spec-contracts")) as made:
        yield made


RESERVED = {
    "from": "from_",
    "class": "class_",
    "model_config": "field_model_config",
    "schema": "schema_",
    "json": "json_",
    "model_x": "field_model_x",
    "camelCase": "camel_case",
    "kebab-name": "kebab_name",
    "_id": "id",
    "list": "list_",
    "copy": "copy_",
    "validate": "validate_",
    "match": "match_",
    "l": "l_",
    "plain": "plain",
}
RESERVED_CONTRACTS = {
    "Names": {
        "type": "object",
        "properties": {name: {"type": "string"} for name in RESERVED}
        | {"tags": {"type": "array", "items": {"type": "string"}}},
        "required": ["from"],
    }
}


def test_reserved_property_names_get_python_names_and_keep_their_spec_names_as_aliases() -> None:
    (model,) = feature_of(RESERVED_CONTRACTS, "Names").contracts.models

    fields = {f.alias or f.name: f for f in model.fields}
    for spec_name, python_name in RESERVED.items():
        assert fields[spec_name].name == python_name
        assert fields[spec_name].alias == (None if python_name == spec_name else spec_name)
        assert python_name.isidentifier()


def test_reserved_property_names_work_on_the_wire(package: ContractsPackage) -> None:
    names = package.compile(RESERVED_CONTRACTS, "Names").model("Names")
    wire = {name: f"value of {name}" for name in RESERVED} | {"tags": ["a"]}

    instance = names.model_validate(wire)

    assert instance.model_dump(mode="json") == wire
    assert names.model_validate_json(instance.model_dump_json()) == instance
    for spec_name, python_name in RESERVED.items():
        assert getattr(instance, python_name) == f"value of {spec_name}"
    with pytest.raises(ValidationError, match="from_"):
        names.model_validate({"from_": "a Python name is no property of the schema"})


TREE = {
    "TreeNode": {
        "type": "object",
        "description": "A node of a tree.",
        "properties": {
            "label": {"type": "string"},
            "children": {"type": "array", "items": {"$ref": "#/contracts/TreeNode"}},
            "parent": {"$ref": "#/contracts/TreeNode"},
        },
        "required": ["label"],
    }
}


def test_a_contract_that_refers_to_itself_is_a_tree(package: ContractsPackage) -> None:
    compiled = package.compile(TREE, "TreeNode")
    fields = {f.name: f for f in compiled.view.contracts.models[0].fields}
    assert fields["children"].annotation == "list[ModelTreeNode] | None"
    assert fields["parent"].annotation == "ModelTreeNode | None"
    assert 'description="A node of a tree."' in fields["parent"].arguments

    tree = {"label": "root", "children": [{"label": "a", "children": [{"label": "a1"}]}, {"label": "b"}]}
    node = compiled.model("TreeNode").model_validate(tree)
    assert node.model_dump(mode="json") == tree
    with pytest.raises(ValidationError):
        compiled.model("TreeNode").model_validate({"label": "root", "children": [{"children": []}]})


MUTUAL = {
    "Author": {
        "type": "object",
        "properties": {"name": {"type": "string"}, "books": {"type": "array", "items": {"$ref": "#/contracts/Book"}}},
        "required": ["name"],
    },
    "Book": {
        "type": "object",
        "properties": {"title": {"type": "string"}, "author": {"$ref": "#/contracts/Author"}},
        "required": ["title"],
    },
}


def test_contracts_may_refer_to_each_other(package: ContractsPackage) -> None:
    compiled = package.compile(MUTUAL, "Author")
    data = {"name": "Ana", "books": [{"title": "One", "author": {"name": "Ana"}}]}

    author = compiled.model("Author").model_validate(data)

    assert author.model_dump(mode="json") == data
    assert compiled.model("Book").model_validate({"title": "Two"}).model_dump(mode="json") == {"title": "Two"}


NESTED = {
    "Order": {
        "type": "object",
        "properties": {
            "status": {"type": "string", "enum": ["new", "in-progress", "done"], "default": "new"},
            "kind": {"type": "string", "enum": ["web", "shop"]},
            "address": {
                "type": "object",
                "properties": {
                    "city": {"type": "string"},
                    "geo": {"type": "object", "properties": {"lat": {"type": "number"}}, "required": ["lat"]},
                },
                "required": ["city"],
            },
            "lines": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"sku": {"type": "string"}, "qty": {"type": "integer", "minimum": 1}},
                    "required": ["sku", "qty"],
                },
            },
            "customer": {"$ref": "#/contracts/Customer"},
            "others": {"type": "array", "items": {"$ref": "#/contracts/Customer"}},
            "tags": {"type": "array", "items": {"type": "string", "minLength": 2, "pattern": "^[a-z]+$"}},
            "extra": {"type": "object"},
            "priority": {"type": "integer", "default": 3},
            "ratio": {"type": "number", "default": 0.5},
            "gift": {"type": "boolean", "default": False},
            "note": {"type": "string", "default": 'say "hi"'},
        },
        "required": ["kind", "address"],
    },
    "Customer": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
}


def test_enums_nested_objects_arrays_of_refs_and_defaults_become_classes() -> None:
    view = feature_of(NESTED, "Order").contracts

    assert [enum.name for enum in view.enums] == ["EnumOrderStatus", "EnumOrderKind"]
    assert view.enums[0].members == (("NEW", "new"), ("IN_PROGRESS", "in-progress"), ("DONE", "done"))
    assert [model.name for model in view.models] == [
        "ModelOrderAddressGeo",
        "ModelOrderAddress",
        "ModelOrderLinesItem",
        "ModelOrder",
        "ModelCustomer",
    ]
    fields = {f.name: f for f in view.models[3].fields}
    assert fields["status"].annotation == "EnumOrderStatus"
    assert fields["status"].arguments == ("default=EnumOrderStatus.NEW",)
    assert fields["kind"].annotation == "EnumOrderKind"
    assert fields["address"].annotation == "ModelOrderAddress"
    assert fields["lines"].annotation == "list[ModelOrderLinesItem] | None"
    assert fields["customer"].annotation == "ModelCustomer | None"
    assert fields["others"].annotation == "list[ModelCustomer] | None"
    assert fields["tags"].annotation == 'list[Annotated[Text, Field(min_length=2, pattern="^[a-z]+$")]] | None'
    assert fields["extra"].annotation == "dict[str, JsonValue] | None"
    assert fields["priority"].arguments == ("default=3",)
    assert fields["ratio"].arguments == ("default=0.5",)
    assert fields["gift"].arguments == ("default=False",)
    assert fields["note"].arguments == ("default='say \"hi\"'",)


def test_enums_nested_objects_arrays_of_refs_and_defaults_validate(package: ContractsPackage) -> None:
    order = package.compile(NESTED, "Order").model("Order")
    data = {
        "kind": "web",
        "address": {"city": "Porto", "geo": {"lat": 41.1}},
        "lines": [{"sku": "a", "qty": 2}],
        "customer": {"name": "Ana"},
        "others": [{"name": "Bo"}],
        "tags": ["ab"],
        "extra": {"any": [1, None, {"x": "y"}]},
    }

    parsed = order.model_validate(data)

    defaults = {"status": "new", "priority": 3, "ratio": 0.5, "gift": False, "note": 'say "hi"'}
    assert parsed.model_dump(mode="json") == data | defaults
    assert order.model_validate({**data, "status": "in-progress"}).model_dump(mode="json")["status"] == "in-progress"
    for bad in ({"status": "paused"}, {"tags": ["a"]}, {"tags": ["AB"]}, {"lines": [{"sku": "a", "qty": 0}]}):
        with pytest.raises(ValidationError):
            order.model_validate(data | bad)


def test_the_shipped_json_schema_is_closed_and_refers_within_itself() -> None:
    document = yaml.safe_load(feature_of(NESTED, "Order").json_schema())

    order = document["$defs"]["Order"]
    assert order["additionalProperties"] is False
    assert order["properties"]["address"]["additionalProperties"] is False
    assert "additionalProperties" not in order["properties"]["extra"]
    assert order["properties"]["customer"] == {"$ref": "#/$defs/Customer"}
    assert order["properties"]["others"]["items"] == {"$ref": "#/$defs/Customer"}


def test_the_wide_spec_is_good(package: ContractsPackage) -> None:
    feature = build_feature(package_name=PACKAGE, project=LIBRARY, **WIDE)
    request = WIDE["contracts"]["WideRequest"]
    assert len(request["properties"]) >= 30
    assert {"from", "class", "model_config", "schema", "json", "camelCase", "kebab-name"} <= set(request["properties"])

    compiled = package.compile(WIDE["contracts"], "WideRequest")
    example = WIDE["examples"][0]
    parsed = compiled.model("WideRequest").model_validate(example["input"])
    assert parsed.model_dump(mode="json")["status"] == "active"
    assert isinstance(feature, FeatureView)


def test_a_password_stays_secret_in_reprs_and_is_written_out_on_the_wire(package: ContractsPackage) -> None:
    request = package.compile(BASE["contracts"], "UserAuthRequest").model("UserAuthRequest")

    phrase = "correct horse"
    parsed: BaseModel = request.model_validate({"username": "ana", "password": phrase})

    assert isinstance(parsed.password, SecretStr)  # type: ignore[attr-defined]
    assert phrase not in repr(parsed)
    assert parsed.model_dump(mode="json")["password"] == phrase


# ---------------------------------------------------------------- through Copier


def tree_of(root: Path) -> dict[str, bytes | None]:
    """Every file (its bytes) and folder (None) under `root`, by relative path."""
    return {str(path.relative_to(root)): path.read_bytes() if path.is_file() else None for path in root.rglob("*")}


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A library that already has the user_auth feature."""
    root = render_library(tmp_path_factory.mktemp("spec-library") / "onex-spec", project_name="ONEX Spec")
    copy_feature(root, BASE)
    return root


def copy_feature(destination: Path, spec: dict[str, Any]) -> None:
    copier.run_copy(
        str(SUITE_ROOT),
        destination,
        data={"kind": "feature", **spec},
        defaults=True,
        unsafe=True,
        quiet=True,
        vcs_ref="HEAD",
    )


def test_the_library_has_the_feature(library: Path) -> None:
    assert (library / ".copier" / "feature-user_auth.yml").is_file()
    assert (library / "src" / "onex_spec" / "features" / "user_auth" / "contracts.py").is_file()


COPIER_CASES = [
    Bad(
        "contracts",
        put(f"{REQUEST}.age", {"type": "integer", "minimum": 5, "maximum": 1}),
        f"{REQUEST}.age.minimum",
        "5 is above maximum 1",
    ),
    Bad("steps", put("steps.1.node", "databse"), "steps.1.node", "unknown node 'databse'"),
    Bad(
        "missing_error spelt as before 0.4.0",
        put("steps.1.config.missing_error", "not_found"),
        "steps.1.config.missing_error",
        "write NOT_FOUND (an error code's name, upper case like an example's error_code); `copier update` migrates",
    ),
    Bad("result", put("result.token", "$session.session_id"), "result.token", "has no property 'token'"),
    Bad("feature name taken", lambda spec: None, "feature_name", "already has a feature 'user_auth'"),
    Bad("steps as text", put("steps", "validate_input, fetch_user"), "steps", "as a list"),
    Bad(
        "properties as a list",
        put("contracts.UserAuthRequest.properties", ["username", "password"]),
        "contracts.UserAuthRequest.properties",
        "valid dictionary",
    ),
]


@pytest.mark.parametrize("bad", COPIER_CASES, ids=[bad.name for bad in COPIER_CASES])
def test_copier_refuses_a_bad_spec_before_writing_anything(library: Path, bad: Bad) -> None:
    spec = changed(bad.change)
    if bad.name != "feature name taken":
        spec["feature_name"] = "user_login"
    before = tree_of(library)

    with pytest.raises(UserMessageError) as caught:
        copy_feature(library, spec)

    assert str(caught.value).startswith(f"Invalid feature spec: {bad.path}: ")
    assert bad.reason in str(caught.value)
    assert tree_of(library) == before


def test_copier_refuses_a_feature_for_a_folder_that_is_no_library(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a library\n", encoding="utf-8")
    before = tree_of(tmp_path)

    with pytest.raises(UserMessageError, match=r"^Invalid feature spec: destination: .* holds no ONEX library"):
        copy_feature(tmp_path, BASE)

    assert tree_of(tmp_path) == before


def test_the_copier_command_prints_one_message_and_fails(library: Path, tmp_path: Path) -> None:
    spec = changed(put(f"{REQUEST}.age", {"type": "integer", "minimum": 5, "maximum": 1}))
    spec["feature_name"] = "user_login"
    data_file = tmp_path / "bad.yml"
    data_file.write_text(yaml.safe_dump(spec), encoding="utf-8")
    before = tree_of(library)
    command = [
        str(Path(sys.executable).parent / "copier"),
        "copy",
        "--trust",
        "--defaults",
        "--vcs-ref=HEAD",
        "--data=kind=feature",
        f"--data-file={data_file}",
        str(SUITE_ROOT),
        str(library),
    ]

    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)

    assert done.returncode != 0
    assert f"Invalid feature spec: {REQUEST}.age.minimum: 5 is above maximum 1" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert tree_of(library) == before
