"""Generated contracts against an independent implementation: the `jsonschema` library (issue 3).

Hypothesis draws contract schemas from the supported subset, the suite renders the
feature's `contracts.py` from them (the real template, with the suite's Jinja
extension) and imports it next to the library's `core/contracts.py`. Then, for
valid instances (scalars drawn by `hypothesis-jsonschema`, see `instances`), for the
same instances changed in one place, and for arbitrary JSON, the generated model
must accept an instance (by `model_validate` and from JSON) exactly when `jsonschema`
accepts it under the JSON Schema the feature ships (`contracts.schema.json`), and
what the model dumps must validate again, into an equal model.

Not drawn: the `uri` format, whose check in `core.contracts` is deliberately simpler
than jsonschema's RFC 3986 one (an absolute URI: a scheme, then no whitespace); and
numbers beyond what a float holds (the models read `number` as a Python float).
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from pydantic import BaseModel, ValidationError

from extensions.contracts import python_name

from .contracts_package import ContractsPackage, contracts_package

pytestmark = pytest.mark.differential

MAIN, OTHER = "Main", "Other"
REF = "#/contracts/"


@dataclass
class Drawn:
    """The generated model of `Main` and its oracle: jsonschema on the JSON Schema the feature ships."""

    model: type[BaseModel]
    validator: Any
    document: dict[str, Any]
    source: str


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ContractsPackage]:
    with contracts_package(tmp_path_factory.mktemp("differential")) as made:
        yield made


def drawn(package: ContractsPackage, contracts: dict[str, Any]) -> Drawn:
    compiled = package.compile(contracts, MAIN)
    return Drawn(compiled.model(MAIN), compiled.validator(MAIN), compiled.document, compiled.source)


def test_the_oracle_checks_every_drawn_format() -> None:
    # jsonschema checks `date-time` only when rfc3339-validator is installed; it ignores `password`,
    # as JSON Schema says of formats it does not define.
    assert {"uuid", "date-time", "date", "email"} <= set(Draft202012Validator.FORMAT_CHECKER.checkers)


# ---------------------------------------------------------------- drawn schemas

#: Valid Python regular expressions (JSON Schema's are ECMA-262; these mean the same in both).
PATTERNS = ("^[a-z0-9_]+$", "^[0-9]{6}$", "^[a-f0-9]{2,8}$", "^(ab|cd)+$")
#: Patterns any long enough string can match, safe to combine with length limits.
LOOSE_PATTERNS = ("[0-9]", "^[A-Z]", "x$", "\\.", "[^a-z]")
ENUM_VALUES = ("red", "green", "in-progress", "Blue", "x1", "done", "it's", 'say "hi"', "naïve", "2fa")
PROPERTY_NAMES = (
    "name", "age", "from", "class", "model_config", "schema", "json", "model_x", "camelCase", "kebab-name",
    "_id", "list", "str", "items", "type", "id", "HTTPCode", "values", "copy", "validate", "mro", "in",
)  # fmt: skip
DESCRIPTIONS = (
    None, "A value.", 'Quoted "text", and more', 'It\'s "quoted"', "Ünïcödé — ok", "Ends with a quote'", "Line\nbreak",
    "Matches \\d+ in C:\\new",
)  # fmt: skip

property_names = st.sampled_from(PROPERTY_NAMES) | st.from_regex(r"[a-z][a-zA-Z0-9_-]{0,8}", fullmatch=True)


@st.composite
def string_schemas(draw: st.DrawFn) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    fmt = draw(st.sampled_from((None, None, None, "uuid", "date-time", "date", "email", "password")))
    if fmt is not None:
        schema["format"] = fmt
    if fmt in (None, "email", "password"):
        low = draw(st.none() | st.integers(0, 4))
        high = draw(st.none() | st.integers(max(low or 0, 4), 40))
        if low is not None:
            schema["minLength"] = low
        if high is not None:
            schema["maxLength"] = high
    if fmt is None and draw(st.booleans()):
        lengths = "minLength" in schema or "maxLength" in schema
        schema["pattern"] = draw(st.sampled_from(LOOSE_PATTERNS if lengths else PATTERNS + LOOSE_PATTERNS))
    if fmt == "email" and draw(st.booleans()):
        schema["pattern"] = draw(st.sampled_from(("@", "\\.")))
    return schema


@st.composite
def number_schemas(draw: st.DrawFn) -> dict[str, Any]:
    json_type = draw(st.sampled_from(("integer", "number")))
    limits = (
        st.integers(-5, 100) | st.sampled_from((3.0, -2.0))
        if json_type == "integer"
        else st.sampled_from((-2.5, 0, 1.5, 10, 0.1, 1e6))
    )
    schema: dict[str, Any] = {"type": json_type}
    low, high = draw(st.none() | limits), draw(st.none() | limits)
    if low is not None and high is not None and low > high:
        low, high = high, low
    if low is not None:
        schema["minimum"] = low
    if high is not None:
        schema["maximum"] = high
    return schema


def enum_schemas() -> st.SearchStrategy[dict[str, Any]]:
    values = st.lists(st.sampled_from(ENUM_VALUES), min_size=1, max_size=4, unique=True)
    return values.map(lambda v: {"type": "string", "enum": v})


def scalar_schemas() -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(string_schemas(), number_schemas(), st.just({"type": "boolean"}), enum_schemas())


def ref_to(name: str) -> dict[str, Any]:
    return {"$ref": f"{REF}{name}"}


def property_schemas(depth: int) -> st.SearchStrategy[dict[str, Any]]:
    """A property's schema; `Other` may be referred to anywhere, `Main` (itself) only by `main_schemas`."""
    leaves = scalar_schemas() | st.just(ref_to(OTHER))
    if depth == 0:
        return leaves
    inner = property_schemas(depth - 1)
    arrays = inner.map(lambda items: {"type": "array", "items": items})
    return st.one_of(leaves, arrays, object_schemas(inner), st.just({"type": "object"}))


@st.composite
def _objects(draw: st.DrawFn, values: st.SearchStrategy[dict[str, Any]], max_size: int = 5) -> dict[str, Any]:
    names = draw(st.lists(property_names, min_size=1, max_size=max_size, unique_by=python_name))
    properties = {name: copy.deepcopy(draw(values)) for name in names}
    required = [name for name in names if draw(st.booleans())]
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    for name, prop in properties.items():
        if name not in required and draw(st.integers(0, 3)) == 0:
            default = valid_default(prop)
            if default is not None:
                prop["default"] = default
    description = draw(st.sampled_from(DESCRIPTIONS))
    if description is not None:
        schema["description"] = description
    return schema


def object_schemas(values: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return _objects(values, max_size=3)


def valid_default(schema: dict[str, Any]) -> Any:
    """A default the property accepts, or None when the drawn property gets none."""
    if "enum" in schema:
        return schema["enum"][-1]
    match schema.get("type"):
        case "boolean":
            return True
        case "integer" | "number":
            value = schema.get("minimum", schema.get("maximum", 7))
            return int(value) if schema["type"] == "integer" else value
        case "string" if set(schema) <= {"type", "minLength", "maxLength"}:
            return "d" * schema.get("minLength", 1) if schema.get("maxLength", 1) else ""
    return None


@st.composite
def contract_specs(draw: st.DrawFn) -> dict[str, Any]:
    """`contracts` of a spec: `Main` (1-5 properties, maybe referring to itself) and `Other` (scalars)."""
    main = draw(_objects(property_schemas(depth=2)))
    if draw(st.integers(0, 2)) == 0:
        taken = {python_name(name) for name in main["properties"]}
        name = draw(st.sampled_from(("children", "parent", "next")).filter(lambda n: python_name(n) not in taken))
        main["properties"][name] = ref_to(MAIN) if name != "children" else {"type": "array", "items": ref_to(MAIN)}
    other = draw(_objects(scalar_schemas(), max_size=3))
    return {MAIN: main, OTHER: other}


# ---------------------------------------------------------------- drawn instances

#: Strings on the edges of the formats' definitions.
EDGE_STRINGS = (
    "12345678-1234-1234-1234-123456789abc", "12345678-1234-1234-1234-123456789ABC",
    "{12345678-1234-1234-1234-123456789abc}", "123456781234123412341234567890ab",
    "urn:uuid:12345678-1234-1234-1234-123456789abc",
    "12345678-1234-1234-1234-123456789ab", "1234567-81234-1234-1234-123456789abc",
    "2024-02-29T12:30:00Z", "2023-02-29T12:30:00Z", "2024-01-01t00:00:00z", "2024-01-01T00:00:00.123456789+05:30",
    "2024-01-01T24:00:00Z", "2024-01-01T00:00:60Z", "2024-01-01T00:00:00", "0000-01-01T00:00:00Z",
    "2024-01-01 00:00:00Z", "2024-01-01T00:00:00Z\n", "2024-13-01T00:00:00Z",
    "2024-02-29", "2023-02-29", "2024-1-01", "0000-01-01", "2024-01-01T00:00:00Z", "2024-01-01\n",
    "a@b", "ab", "@", "x@y.z", "", "abc", "ABC", "123456", "1234567", "x", "a.b", "abcd", "in-progress", "red", "Blue",
)  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-10, 200),
    st.integers(-(2**63), 2**63),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from((2.0, -0.0, 1.5, 1e300, 0.1, 1e6)),
    st.text(max_size=12),
    st.sampled_from(EDGE_STRINGS),
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(property_names, children, max_size=3),
    max_leaves=8,
)
FORMATS = {
    "uuid": st.uuids().map(str),
    "password": st.text(max_size=20),
}


def unrolled(defs: dict[str, Any], depth: int = 2) -> dict[str, Any]:
    """`Main` with every `$ref` inlined and its self-references cut `depth` levels down (hypothesis-jsonschema
    draws no recursive schemas); the properties cut are optional, so what it draws is still valid."""

    def inline(node: Any, level: int) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                target = node["$ref"].removeprefix("#/$defs/")
                if target == MAIN and level == 0:
                    return None
                return inline(defs[target], level - 1 if target == MAIN else level)
            out = {}
            for key, value in node.items():
                if key == "properties":
                    kept = {name: inline(prop, level) for name, prop in value.items()}
                    out[key] = {name: prop for name, prop in kept.items() if prop is not None}
                else:
                    out[key] = inline(value, level)
                    if key == "items" and out[key] is None:
                        return None
            return out
        if isinstance(node, list):
            return [inline(item, level) for item in node]
        return node

    main = inline(defs[MAIN], depth)
    assert isinstance(main, dict)
    return main


def instances(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Instances of an inlined schema: objects and arrays drawn here, everything else by hypothesis-jsonschema.

    hypothesis-jsonschema 0.23.1 draws objects through a Hypothesis internal (`many.more()`) that
    Hypothesis 6.170 no longer has, so its strategy serves the scalars (formats, patterns, lengths) only.
    """
    if schema.get("type") == "object":
        if "properties" not in schema:
            return st.dictionaries(st.text(max_size=6), json_values, max_size=3)
        required = schema.get("required", [])
        properties = {name: instances(prop) for name, prop in schema["properties"].items()}
        optional = {name: strategy for name, strategy in properties.items() if name not in required}
        return st.fixed_dictionaries({name: properties[name] for name in required}, optional=optional)
    if schema.get("type") == "array":
        return st.lists(instances(schema["items"]), max_size=3)
    return from_schema(schema, custom_formats=FORMATS)


def _nodes(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _nodes(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _nodes(item, (*path, index))


def _set(root: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    parent = root
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = value
    return root


@st.composite
def mutated(draw: st.DrawFn, instance: Any) -> Any:
    """`instance` changed in one place: a value replaced (by null, too), a key dropped, added or renamed."""
    instance = copy.deepcopy(instance)
    nodes = list(_nodes(instance))
    path, node = draw(st.sampled_from(nodes))
    how = draw(st.sampled_from(("replace", "replace", "drop", "add", "rename", "null")))
    event(f"mutation: {how}")
    if how in ("drop", "add", "rename") and isinstance(node, dict):
        if how == "add":
            node[draw(property_names)] = draw(json_values)
        elif node:
            key = draw(st.sampled_from(sorted(node)))
            value = node.pop(key)
            if how == "rename":
                node[python_name(key) if python_name(key) != key else f"{key}_"] = value
        return instance
    return _set(instance, path, None if how == "null" else draw(json_values))


# ---------------------------------------------------------------- the differential


def _accepts(compiled: Drawn, instance: Any, stats: Counter[str]) -> None:
    """The model accepts `instance` exactly when jsonschema does; what it accepts round-trips."""
    expected = compiled.validator.is_valid(instance)
    try:
        model = compiled.model.model_validate(copy.deepcopy(instance))
    except ValidationError:
        accepted = False
    else:
        accepted = True
    try:
        compiled.model.model_validate_json(json.dumps(instance))
    except ValidationError:
        accepted_json = False
    else:
        accepted_json = True
    context = f"instance: {instance!r}\nschema: {json.dumps(compiled.document['$defs'])}\n{compiled.source}"
    assert accepted == expected, f"the model {'accepts' if accepted else 'refuses'} what jsonschema does not\n{context}"
    assert accepted_json == expected, f"from JSON, the model {'accepts' if accepted_json else 'refuses'}\n{context}"
    stats["accepted" if accepted else "refused"] += 1
    if accepted:
        dumped = model.model_dump(mode="json")
        assert compiled.validator.is_valid(dumped), f"dumped: {dumped!r}\n{context}"
        assert compiled.model.model_validate(dumped) == model, f"dumped: {dumped!r}\n{context}"
        assert json.loads(model.model_dump_json()) == dumped


DIFFERENTIAL = settings(
    # No shrinking: each drawn spec is a module to render and import, and the failure message
    # already shows the instance, the schema and the generated code.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    max_examples=150,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)


def test_models_accept_exactly_what_jsonschema_accepts(package: ContractsPackage) -> None:
    stats: Counter[str] = Counter()

    @DIFFERENTIAL
    @given(contracts=contract_specs(), data=st.data())
    def check(contracts: dict[str, Any], data: st.DataObject) -> None:
        compiled = drawn(package, contracts)
        valid = instances(unrolled(compiled.document["$defs"]))
        for _ in range(4):
            instance = data.draw(valid, label="valid")
            _accepts(compiled, instance, stats)
            _accepts(compiled, data.draw(mutated(instance), label="mutated"), stats)
        _accepts(compiled, data.draw(json_values | st.dictionaries(property_names, json_values)), stats)

    check()
    # Both sides of the equivalence were exercised (the counts are fixed: the run is derandomized).
    assert stats["accepted"] >= 500, stats
    assert stats["refused"] >= 500, stats


#: Contracts and instances on the edges the drawn runs found or must keep covering.
EDGE_CONTRACTS: dict[str, Any] = {
    MAIN: {
        "type": "object",
        "properties": {
            "from": {"type": "string"},
            "camelCase": {"type": "integer", "minimum": 0},
            "_id": {"type": "string", "format": "uuid"},
            "tags": {"type": "array", "items": {"type": "string", "minLength": 2, "pattern": "^[a-z]+$"}},
            "scores": {"type": "array", "items": {"type": "array", "items": {"type": "number", "maximum": 1}}},
            "when": {"type": "string", "format": "date-time"},
            "day": {"type": "string", "format": "date"},
            "level": {"type": "string", "enum": ["low", "naïve", "in-progress"], "default": "low"},
            "children": {"type": "array", "items": {"$ref": f"{REF}{MAIN}"}},
            "other": {"$ref": f"{REF}{OTHER}"},
        },
        "required": ["from"],
    },
    OTHER: {"type": "object", "properties": {"list": {"type": "boolean"}, "l": {"type": "string"}}},
}

EDGE_INSTANCES = [
    {"from": "x"},
    {"from_": "x"},
    {"from": "x", "camel_case": 1},
    {"from": "x", "camelCase": 2.0},
    {"from": "x", "camelCase": True},
    {"from": "x", "camelCase": -1},
    {"from": "x", "id": "12345678-1234-1234-1234-123456789abc"},
    {"from": "x", "_id": "12345678-1234-1234-1234-123456789abc"},
    {"from": "x", "_id": "123456781234123412341234567890ab"},
    {"from": "x", "tags": ["ab", "cd"]},
    {"from": "x", "tags": ["a"]},
    {"from": "x", "tags": ["AB"]},
    {"from": "x", "scores": [[0.5, 1], []]},
    {"from": "x", "scores": [[1.5]]},
    {"from": "x", "when": "2024-01-01t00:00:00z"},
    {"from": "x", "when": "2024-01-01T00:00:00"},
    {"from": "x", "day": "2023-02-29"},
    {"from": "x", "level": "naïve"},
    {"from": "x", "level": "NAIVE"},
    {"from": "x", "level": None},
    {"from": "x", "children": [{"from": "y", "children": [{"from": "z"}]}]},
    {"from": "x", "children": [{"from": "y", "children": [{"from_": "z"}]}]},
    {"from": "x", "other": {"list": True, "l": "v"}},
    {"from": "x", "other": {"list_": True}},
    {"from": "x", "other": {"l_": "v"}},
]


@pytest.mark.parametrize("instance", EDGE_INSTANCES, ids=[json.dumps(i, ensure_ascii=False) for i in EDGE_INSTANCES])
def test_edges_agree_with_jsonschema(package: ContractsPackage, instance: Any) -> None:
    _accepts(drawn(package, EDGE_CONTRACTS), instance, Counter())
