"""IV-001..IV-003: contract completeness, contract application, catalog capture.

Contracts are the Pydantic models that cross a boundary: the input, output and helper models of every node
(`archetypes/`), every feature's `contracts.py` and `events.py`, and the envelope (`core/envelope.py`).
IV-001's option `contract_modules` (globs under the package) says which modules hold them; QC-003 reads it too.

IV-001 Contract Completeness
    * Every field of a contract is typed (annotated) and described (`Field(description=...)`, also inside
      `Annotated[...]`). For a feature's contracts, whose fields come from its spec, a missing description is a
      finding when option `feature_field_descriptions` is true (the spec's `description:` of the property).
    * Each feature's JSON Schema snapshot, `contracts.schema.json`, says what its models say: for every contract
      and property (nested objects and array items included) the same type and format, description, length,
      pattern and range limits as the `Field(...)` of `contracts.py` declares. (That the snapshot and the models
      have the spec's contracts and fields is SV-001's check.)

IV-002 Contract Application
    * No dead contract. A feature's contract (model or enum of its `contracts.py`) is applied when a module of the
      feature other than `contracts.py` uses it (an event carries it, a step, the state or a hook uses it), or an
      applied contract uses it (a nested object, an enum). The Requested event carries the `FEATURE`'s request
      model and the Completed event its response model.
    * A node's contract models (models and enums of the node's modules) are used somewhere beyond their own
      definition: by the node, another contract, a feature or a test.

IV-003 Catalog Capture
    * The catalog of nodes, features, events and topics, as the code declares it, is captured in
      `docs/asyncapi.yaml` (AsyncAPI 3.0, written by `python -m quality.catalog`): when the document is there it
      must be current, every `$ref` in it must resolve, and every channel must have an operation. Option
      `require_document` (default false) also fails a project that has no document yet.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..catalog import (
    DOCUMENT,
    Catalog,
    ClassInfo,
    FeatureEvent,
    asyncapi_document,
    base_name,
    call_keyword,
    catalog,
    committed_document,
)
from ..model import Finding, gate
from ..project import Project

__all__ = [
    "CONTRACT_MODULES",
    "catalog_capture",
    "contract_application",
    "contract_classes",
    "contract_completeness",
    "contract_modules",
]

#: Where contracts live, as globs under the package (IV-001's option `contract_modules` replaces them).
CONTRACT_MODULES = ("archetypes/**/*.py", "features/*/contracts.py", "features/*/events.py", "core/envelope.py")


def contract_modules(project: Project) -> list[Path]:
    """The modules that hold contracts, sorted."""
    patterns = project.options("IV-001").get("contract_modules") or CONTRACT_MODULES
    if not isinstance(patterns, list | tuple):
        raise TypeError("IV-001 option contract_modules must be a list of globs under the package")
    found = {path for pattern in patterns for path in project.src.glob(str(pattern)) if path.is_file()}
    return sorted(path for path in found if "__pycache__" not in path.parts)


def contract_classes(project: Project, built: Catalog) -> list[ClassInfo]:
    """The Pydantic models defined in the contract modules, in file order."""
    return [info for path in contract_modules(project) for info in built.defined_in(path) if built.is_model(info.name)]


# ---------------------------------------------------------------------------- IV-001 Contract Completeness


@gate("IV-001")
def contract_completeness(project: Project) -> Iterator[Finding]:
    """Every contract field is typed and described; the JSON Schema snapshots say what the models say."""
    built = catalog(project)
    describe_features = bool(project.options("IV-001").get("feature_field_descriptions", False))
    features = {feature.path for feature in project.features}
    for info in contract_classes(project, built):
        in_feature = info.path.parent in features and info.path.name == "contracts.py"
        yield from _typed_and_described(project, info, describe=describe_features or not in_feature)
    for feature in project.features:
        yield from _snapshot(project, built, feature.name, feature.path)


def _fields(info: ClassInfo) -> Iterator[ast.AnnAssign | ast.Assign]:
    """The field declarations of a model's body: not `model_config`, class variables or private attributes."""
    for item in info.node.body:
        if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
            name = item.target.id
            if name != "model_config" and not name.startswith("_") and base_name(item.annotation) != "ClassVar":
                yield item
        elif isinstance(item, ast.Assign) and len(item.targets) == 1 and isinstance(item.targets[0], ast.Name):
            name = item.targets[0].id
            if name != "model_config" and not name.startswith("_") and not name.isupper():
                yield item


def _field_call(item: ast.AnnAssign) -> ast.Call | None:
    """The field's `Field(...)`: its value, or the one inside `Annotated[...]`."""
    if isinstance(item.value, ast.Call) and base_name(item.value.func) == "Field":
        return item.value
    for node in ast.walk(item.annotation):
        if isinstance(node, ast.Call) and base_name(node.func) == "Field" and call_keyword(node, "description"):
            return node
    return None


def _typed_and_described(project: Project, info: ClassInfo, *, describe: bool) -> Iterator[Finding]:
    where = project.relative(info.path)
    for item in _fields(info):
        if isinstance(item, ast.Assign):
            name = item.targets[0].id if isinstance(item.targets[0], ast.Name) else "?"
            yield Finding(where, item.lineno, f"{info.name}.{name} has no type: annotate the contract field")
            continue
        name = item.target.id if isinstance(item.target, ast.Name) else "?"
        call = _field_call(item)
        description = call_keyword(call, "description") if call is not None else None
        described = isinstance(description, ast.Constant) and bool(str(description.value).strip())
        if describe and not described:
            how = (
                "give its property a `description:` in the feature's spec and run `copier update`"
                if info.path.name == "contracts.py" and "features" in info.path.parts
                else 'add Field(description="...")'
            )
            yield Finding(where, item.lineno, f"{info.name}.{name} is not described: {how}")


#: JSON Schema keyword -> the `Field(...)` argument that states the same limit, for values and for arrays.
VALUE_LIMITS = {
    "minLength": "min_length",
    "maxLength": "max_length",
    "pattern": "pattern",
    "minimum": "ge",
    "maximum": "le",
    "exclusiveMinimum": "gt",
    "exclusiveMaximum": "lt",
}
ARRAY_LIMITS = {"minItems": "min_length", "maxItems": "max_length"}
#: The field types of `core/contracts.py` (and plain ones), as (JSON type, format).
FIELD_TYPES: dict[str, tuple[str, str | None]] = {
    "Text": ("string", None),
    "Password": ("string", "password"),
    "Email": ("string", "email"),
    "Uri": ("string", "uri"),
    "Uuid": ("string", "uuid"),
    "DateTime": ("string", "date-time"),
    "Date": ("string", "date"),
    "Integer": ("integer", None),
    "Number": ("number", None),
    "Boolean": ("boolean", None),
    "str": ("string", None),
    "int": ("integer", None),
    "float": ("number", None),
    "bool": ("boolean", None),
}


def _snapshot(project: Project, built: Catalog, feature: str, folder: Path) -> Iterator[Finding]:
    path, contracts = folder / "contracts.schema.json", folder / "contracts.py"
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return  # SV-001 reports a missing or unreadable snapshot
    definitions = document.get("$defs") if isinstance(document, dict) else None
    if not isinstance(definitions, dict) or not contracts.is_file():
        return
    compare = _SnapshotComparison(built, contracts)
    for name, schema in definitions.items():
        info = built.find(f"Model{name}", contracts)
        if info is None or not isinstance(schema, dict):
            continue  # SV-001: the spec's contracts compile to Model<Name>
        for problem in compare.model(info, schema, f"$defs.{name}"):
            yield Finding(
                project.relative(path),
                None,
                f"{problem}: the snapshot is not current with contracts.py; regenerate the feature "
                f"(`copier update --trust -a .copier/feature-{feature}.yml`) or restore contracts.py",
            )


@dataclass(frozen=True)
class _SnapshotComparison:
    """Compares the models of one `contracts.py` with the schemas of its snapshot; yields what differs."""

    built: Catalog
    contracts: Path

    def model(self, info: ClassInfo, schema: Mapping[str, Any], at: str) -> Iterator[str]:
        """The fields of model `info` against the properties of `schema`."""
        properties = schema.get("properties")
        if not isinstance(properties, dict):
            return
        fields: dict[str, ast.AnnAssign] = {}
        for item in _fields(info):
            if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                call = _field_call(item)
                alias = call_keyword(call, "alias") if call is not None else None
                fields[str(alias.value if isinstance(alias, ast.Constant) else item.target.id)] = item
        for key, property_schema in properties.items():
            field = fields.get(key)
            if field is not None and isinstance(property_schema, dict):  # SV-001 compares the field sets
                yield from self.field(info, field, property_schema, f"{at}.properties.{key}")

    def field(self, info: ClassInfo, item: ast.AnnAssign, schema: Mapping[str, Any], at: str) -> Iterator[str]:
        """One field's description, limits and type against its property's schema."""
        what = f"{info.name}.{item.target.id if isinstance(item.target, ast.Name) else '?'}"
        call = item.value if isinstance(item.value, ast.Call) and base_name(item.value.func) == "Field" else None
        stated = _field_arguments(call)
        description = stated.pop("description", None)
        expected = schema.get("description")
        # A bare $ref property shows the referenced contract's description.
        if not (expected is None and "$ref" in schema) and description != expected:
            yield f"{at}.description differs from {what}'s Field(description=...)"
        yield from _limit_problems(stated, schema, at, what)
        yield from self.type(what, _without_none(item.annotation), schema, at)

    def type(self, what: str, annotation: ast.expr, schema: Mapping[str, Any], at: str) -> Iterator[str]:
        """A field's (or a list's items') type against the schema's type, format, enum or object."""
        if isinstance(annotation, ast.Subscript) and base_name(annotation.value) == "Annotated":
            elements = annotation.slice.elts if isinstance(annotation.slice, ast.Tuple) else [annotation.slice]
            inner = next((e for e in elements[1:] if isinstance(e, ast.Call) and base_name(e.func) == "Field"), None)
            stated = _field_arguments(inner)
            stated.pop("description", None)
            yield from _limit_problems(stated, schema, at, f"the items of {what}")
            annotation = elements[0]
        type_name = base_name(annotation)
        if isinstance(annotation, ast.Subscript) and type_name == "list":
            items = schema.get("items")
            if schema.get("type") != "array" or not isinstance(items, dict):
                yield f"{at} is not an array but {what} is a list"
            else:
                yield from self.type(what, annotation.slice, items, f"{at}.items")
        elif isinstance(annotation, ast.Subscript) and type_name == "dict":
            if schema.get("type") != "object" or "properties" in schema:
                yield f"{at} is not a free-form object but {what} is a dict"
        elif type_name in FIELD_TYPES:
            json_type, json_format = FIELD_TYPES[type_name]
            if schema.get("type") != json_type or schema.get("format") != json_format:
                wanted = json_type + (f" ({json_format})" if json_format else "")
                actual = str(schema.get("type")) + (f" ({schema['format']})" if schema.get("format") else "")
                yield f"{at} is {actual} but {what} is {type_name}, {wanted}"
        else:
            yield from self.nested(what, type_name, schema, at)

    def nested(self, what: str, type_name: str, schema: Mapping[str, Any], at: str) -> Iterator[str]:
        """An enum's members against the schema's `enum`; an inline object's model against its schema."""
        nested = self.built.find(type_name, self.contracts)
        if nested is None:
            return
        if self.built.is_enum(type_name):
            members = [
                item.value.value
                for item in nested.node.body
                if isinstance(item, ast.Assign) and isinstance(item.value, ast.Constant)
            ]
            if list(schema.get("enum") or []) != members:
                yield f"{at}.enum is {schema.get('enum')!r} but {what}'s {type_name} holds {members!r}"
        elif self.built.is_model(type_name) and "$ref" not in schema:
            yield from self.model(nested, schema, at)


def _field_arguments(call: ast.Call | None) -> dict[str, object]:
    """The limits and the description a `Field(...)` states, as values."""
    if call is None:
        return {}
    wanted = {*VALUE_LIMITS.values(), "description"}
    stated: dict[str, object] = {}
    for keyword in call.keywords:
        if keyword.arg in wanted:
            try:
                stated[keyword.arg] = ast.literal_eval(keyword.value)
            except ValueError:
                stated[keyword.arg] = ast.unparse(keyword.value)
    return stated


def _limit_problems(stated: Mapping[str, object], schema: Mapping[str, Any], at: str, what: str) -> Iterator[str]:
    limits = ARRAY_LIMITS if schema.get("type") == "array" else VALUE_LIMITS
    expected = {argument: schema[keyword] for keyword, argument in limits.items() if keyword in schema}
    keywords = {argument: keyword for keyword, argument in limits.items()}
    for argument in sorted(set(expected) | set(stated)):
        if expected.get(argument) != stated.get(argument):
            keyword = keywords.get(argument, argument)
            yield f"{at}.{keyword} is {expected.get(argument)!r} but {what} has {argument}={stated.get(argument)!r}"


def _without_none(annotation: ast.expr) -> ast.expr:
    """`X | None` gives `X` (an optional property is absent, never null)."""
    if (
        isinstance(annotation, ast.BinOp)
        and isinstance(annotation.op, ast.BitOr)
        and isinstance(annotation.right, ast.Constant)
        and annotation.right.value is None
    ):
        return annotation.left
    return annotation


# ---------------------------------------------------------------------------- IV-002 Contract Application


@gate("IV-002")
def contract_application(project: Project) -> Iterator[Finding]:
    """No dead contract: each one is carried by an event or used by a step (or by a node, for node contracts)."""
    built = catalog(project)
    for feature in project.features:
        yield from _feature_contracts_applied(project, built, feature.name, feature.path)
    yield from _node_contracts_used(project, built)


def _loaded_names(nodes: Iterable[ast.AST]) -> set[str]:
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
    return names


def _feature_contracts_applied(project: Project, built: Catalog, feature: str, folder: Path) -> Iterator[Finding]:
    contracts = folder / "contracts.py"
    if not contracts.is_file():
        return
    declared = {
        info.name: info for info in built.defined_in(contracts) if built.is_model(info.name) or built.is_enum(info.name)
    }
    used: set[str] = set()
    for path in sorted(folder.glob("*.py")):
        if path.name != "contracts.py":
            used |= _loaded_names(built.walk(path))
    applied = {name for name in declared if name in used}
    todo = list(applied)
    while todo:
        for name in _loaded_names(ast.walk(declared[todo.pop()].node)) & set(declared):
            if name not in applied:
                applied.add(name)
                todo.append(name)
    for name, info in declared.items():
        if name not in applied:
            yield Finding(
                project.relative(contracts),
                info.line,
                f"{name} is a dead contract of feature {feature}: no event carries it and no step, state or hook "
                "uses it; use it in a step or drop it from the spec",
            )
    yield from _events_carry_request_and_response(project, built, feature)


def _events_carry_request_and_response(project: Project, built: Catalog, feature: str) -> Iterator[Finding]:
    wiring = built.wiring(feature)
    if wiring is None:
        return  # CV-002 reports a feature without FEATURE
    carried: dict[str, FeatureEvent] = {event.role: event for event in built.feature_events(feature)}
    for role, model in (("requested", "request_model"), ("completed", "response_model")):
        event, expected = carried.get(role), wiring.names.get(model, "")
        if event is not None and expected and event.payload != expected:
            yield Finding(
                project.relative(event.path),
                event.line,
                f"{event.message} carries {event.payload or 'no contract'}, but FEATURE's {model} is {expected}: "
                f"the {role} event must carry it",
            )


def _node_contracts_used(project: Project, built: Catalog) -> Iterator[Finding]:
    modules = [node.path for node in project.nodes] + [node.logic_path for node in project.nodes if node.logic_path]
    declared = [
        info
        for path in modules
        for info in built.defined_in(path)
        if built.is_model(info.name) or built.is_enum(info.name)
    ]
    if not declared:
        return
    uses: dict[str, int] = {}
    for path in project.python_files(tests=True):
        for node in built.walk(path):
            name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None
            if name is not None:
                uses[name] = uses.get(name, 0) + 1
            elif isinstance(node, ast.alias):
                uses[node.name] = uses.get(node.name, 0) + 1
    for info in declared:
        if not uses.get(info.name):
            yield Finding(
                project.relative(info.path),
                info.line,
                f"{info.name} is a dead contract: nothing uses it (no node, contract, feature or test)",
            )


# ---------------------------------------------------------------------------- IV-003 Catalog Capture


#: How many differences a stale document's finding names.
SHOWN = 6


@gate("IV-003")
def catalog_capture(project: Project) -> Iterator[Finding]:
    """The catalog of nodes, features, events and topics is current in docs/asyncapi.yaml (AsyncAPI 3.0)."""
    committed = committed_document(project)
    where = DOCUMENT.as_posix()
    refresh = "run `python -m quality.catalog` to write it"
    if committed is None:
        if project.options("IV-003").get("require_document", False):
            yield Finding(where, None, f"the catalog is not captured: {where} is missing; {refresh}")
        return
    if not isinstance(committed, dict):
        yield Finding(where, None, f"{where} is not an AsyncAPI document ({committed!r:.80}); {refresh}")
        return
    current = asyncapi_document(project)
    differences = list(_differences(committed, current))
    if differences:
        shown = "; ".join(differences[:SHOWN]) + (
            f"; and {len(differences) - SHOWN} more" if differences[SHOWN:] else ""
        )
        yield Finding(where, None, f"{where} is not current with the code: {shown}; {refresh} again")
        return
    for problem in _document_problems(committed):
        yield Finding(where, None, f"{problem}; {refresh} again")


def _differences(committed: Mapping[str, Any], current: Mapping[str, Any], at: str = "") -> Iterator[str]:
    """What differs between two documents, by path: added, missing or changed entries."""
    for key in sorted(set(committed) | set(current), key=str):
        path = f"{at}.{key}" if at else str(key)
        if key not in committed:
            yield f"{path} is missing"
        elif key not in current:
            yield f"{path} is no longer in the code"
        elif isinstance(committed[key], dict) and isinstance(current[key], dict):
            yield from _differences(committed[key], current[key], path)
        elif _named(committed[key]) and _named(current[key]):
            yield from _differences(_by_name(committed[key]), _by_name(current[key]), path)
        elif committed[key] != current[key]:
            yield f"{path} changed"


def _named(value: object) -> bool:
    """A list of mappings that each have a `name`: the catalog's nodes and features."""
    return isinstance(value, list) and all(isinstance(item, dict) and "name" in item for item in value)


def _by_name(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {str(item["name"]): item for item in items}


def _document_problems(document: Mapping[str, Any]) -> Iterator[str]:
    if document.get("asyncapi") != "3.0.0" or not isinstance(document.get("info"), dict):
        yield "it is not an AsyncAPI 3.0.0 document with info"
    for reference in sorted(set(_references(document))):
        if _resolve(document, reference) is None:
            yield f"$ref {reference} resolves to nothing"
    channels = document.get("channels") or {}
    operated = {operation.get("channel", {}).get("$ref") for operation in (document.get("operations") or {}).values()}
    for channel in channels:
        if f"#/channels/{channel.replace('~', '~0').replace('/', '~1')}" not in operated:
            yield f"channel {channel} has no operation (nothing sends or receives it)"


def _references(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        reference = node.get("$ref")
        if isinstance(reference, str):
            yield reference
        for value in node.values():
            yield from _references(value)
    elif isinstance(node, list):
        for item in node:
            yield from _references(item)


def _resolve(document: Mapping[str, Any], reference: str) -> object:
    if not reference.startswith("#/"):
        return None
    node: Any = document
    for part in reference[2:].split("/"):
        token = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or token not in node:
            return None
        node = node[token]
    return node
