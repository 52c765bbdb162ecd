"""Contracts: the JSON Schema subset a feature spec is written in, and the Pydantic code it becomes.

A spec's `contracts` maps a PascalCase name to a schema. The subset:
`object`/`properties`/`required`, `string`, `integer`, `number`, `boolean`,
`array`/`items`, `enum` (of strings), `format` (uuid, date-time, date, email,
uri, password), `minLength`/`maxLength`/`pattern`, `minimum`/`maximum`,
`default`, `description`, nested objects, and `$ref: "#/contracts/<Name>"`
(a contract may refer to itself). `parse_contracts` checks a spec's contracts
and returns the classes `contracts.py` declares; every fault is reported with
its spec path, e.g. `contracts.UserAuthRequest.properties.age.minimum`.
"""

from __future__ import annotations

import keyword
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, NonNegativeInt, ValidationError

from .naming import pascal_case
from .pycode import LINE_LENGTH, literal, string

JsonType = Literal["object", "string", "integer", "number", "boolean", "array"]
Format = Literal["uuid", "date-time", "date", "email", "uri", "password"]

REF_PREFIX = "#/contracts/"

#: Python type of each format (names from the library's `core.contracts`).
FORMAT_TYPES: dict[str, str] = {
    "uuid": "Uuid",
    "date-time": "DateTime",
    "date": "Date",
    "email": "Email",
    "uri": "Uri",
    "password": "Password",
}

#: Python type of each plain JSON type (names from the library's `core.contracts`).
SCALAR_TYPES: dict[str, str] = {"string": "Text", "integer": "Integer", "number": "Number", "boolean": "Boolean"}

#: Field names a Pydantic model cannot use as they are: they get a trailing `_` and an alias.
#: The attributes of `BaseModel` (and its metaclass) a field would shadow, and the builtins
#: `contracts.py` annotations use (a field `list` would hide `list[...]` from the fields after it).
PYDANTIC_RESERVED = frozenset(
    {
        "construct", "copy", "dict", "fields", "from_orm", "json", "mro", "parse_file", "parse_obj", "parse_raw",
        "register", "schema", "schema_json", "update_forward_refs", "validate",
        "list", "str",
        "l",  # ruff's E741 (ambiguous name), which generated code must pass
    }
)  # fmt: skip

#: Formats whose values are not strings in Python: length and pattern limits do not apply to them.
_NON_STRING_FORMATS = frozenset({"uuid", "date-time", "date"})

_CONTRACT_NAME = re.compile(r"^[A-Z][A-Za-z0-9]*$")
_PROPERTY_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")

#: The longest name a spec may give a feature, a contract, a property, a step, a value (`into`),
#: an example or a published event. Generated code is laid out for names up to this length
#: (120-character lines); see docs/feature-specs.md.
NAME_LIMIT = 48


def length_error(name: str, what: str) -> str:
    """Why `name` is too long for a spec's `what` (e.g. "step name"), or "" when it fits."""
    if len(name) <= NAME_LIMIT:
        return ""
    return f"{what} {name!r} is {len(name)} characters long; the limit is {NAME_LIMIT}"


class SpecError(ValueError):
    """A fault in a feature spec, at `path`."""

    def __init__(self, path: str, message: str) -> None:
        """Report `message` at the spec path `path`."""
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


class SchemaNode(BaseModel):
    """One schema of the subset; unknown keywords are refused."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    type: JsonType | None = None
    ref: str | None = Field(default=None, alias="$ref")
    description: str | None = None
    properties: dict[str, SchemaNode] | None = None
    required: list[str] | None = None
    items: SchemaNode | None = None
    enum: list[JsonValue] | None = None
    format: Format | None = None
    min_length: NonNegativeInt | None = Field(default=None, alias="minLength")
    max_length: NonNegativeInt | None = Field(default=None, alias="maxLength")
    pattern: str | None = None
    minimum: int | float | None = None
    maximum: int | float | None = None
    default: JsonValue = None


def pydantic_path(prefix: str, error: ValidationError) -> SpecError:
    """The first Pydantic error as a `SpecError` at its spec path (aliases as written in the spec)."""
    first = error.errors()[0]
    loc = [str(part) for part in first["loc"]]
    message = first["msg"]
    if first["type"] == "extra_forbidden":
        message = "unsupported keyword (see docs/feature-specs.md for the subset)"
    return SpecError(".".join([prefix, *loc]) if loc else prefix, message)


# ---------------------------------------------------------------- what contracts.py declares


@dataclass(frozen=True)
class FieldView:
    """One field of a generated model."""

    name: str
    alias: str | None
    annotation: str
    arguments: tuple[str, ...]

    @property
    def declaration(self) -> str:
        """`name: Annotation = Field(...)`, as it appears in the class body."""
        return f"{self.name}: {self.annotation} = Field({', '.join(self.arguments)})"

    def opening(self, indent: int) -> str:
        """`name: Annotation = Field(`; the annotation in parentheses on a line of its own when the line is too long."""
        line = f"{self.name}: {self.annotation} = Field("
        if indent + len(line) <= LINE_LENGTH:
            return line
        return f"{self.name}: (\n{' ' * (indent + 4)}{self.annotation}\n{' ' * indent}) = Field("


@dataclass(frozen=True)
class EnumView:
    """One generated `Enum…` class."""

    name: str
    description: str
    members: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ModelView:
    """One generated `Model…` class."""

    name: str
    description: str
    fields: tuple[FieldView, ...]


@dataclass
class ContractsView:
    """Everything `contracts.py` declares, in declaration order."""

    enums: list[EnumView] = field(default_factory=list)
    models: list[ModelView] = field(default_factory=list)
    schemas: dict[str, SchemaNode] = field(default_factory=dict)
    #: The top-level contracts: spec name -> class name.
    classes: dict[str, str] = field(default_factory=dict)

    def uses(self, type_name: str) -> bool:
        """Whether any field's annotation mentions `type_name` (for imports)."""
        pattern = re.compile(rf"\b{re.escape(type_name)}\b")
        return any(pattern.search(f.annotation) for model in self.models for f in model.fields)

    def property_names(self, contract: str) -> tuple[str, ...]:
        """The spec's property names of a top-level contract."""
        return tuple(self.schemas[contract].properties or {})


def model_class(contract: str) -> str:
    """`Model<Contract>`: the class of a contract."""
    return f"Model{contract}"


def python_name(name: str) -> str:
    """A field name Python and Pydantic accept for the spec's property `name` (its alias keeps the original)."""
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).replace("-", "_").lower()
    if snake.startswith("_"):  # Pydantic keeps names with a leading `_` for private attributes
        snake = snake.lstrip("_")
        snake = snake if snake[:1].isalpha() else f"field_{snake}"
    if keyword.iskeyword(snake) or keyword.issoftkeyword(snake) or snake in PYDANTIC_RESERVED:
        return f"{snake}_"
    if snake.startswith("model_"):
        return f"field_{snake}"
    return snake


def enum_member(value: str) -> str:
    """The member name of an enum value: `in-progress` -> `IN_PROGRESS`."""
    ascii_value = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()  # naïve -> NAIVE
    member = re.sub(r"\W+", "_", re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", ascii_value)).strip("_").upper()
    if not member or member[0].isdigit() or keyword.iskeyword(member.lower()):
        member = f"V_{member}"
    return member


class _ContractCompiler:
    """Checks the contracts of one spec and builds the classes that implement them."""

    def __init__(self, schemas: dict[str, SchemaNode]) -> None:
        self.schemas = schemas
        self.view = ContractsView(schemas=schemas)
        self.class_names: set[str] = set()

    def compile(self) -> ContractsView:
        for name in self.schemas:
            if model_class(name) == "ModelContract":  # the base class `contracts.py` imports
                raise SpecError(f"contracts.{name}", "generates the class ModelContract, the base of every contract")
            self.view.classes[name] = model_class(name)
            self.class_names.add(model_class(name))
        for name, schema in self.schemas.items():
            path = f"contracts.{name}"
            if schema.type != "object" or schema.ref is not None:
                raise SpecError(path, "a contract must be an object schema (type: object, with properties)")
            self._object(path, model_class(name), name, schema)
        return self.view

    def _claim(self, path: str, class_name: str) -> str:
        if class_name in self.class_names:
            raise SpecError(path, f"generates the class {class_name}, which another contract already uses; rename one")
        self.class_names.add(class_name)
        return class_name

    def _object(self, path: str, class_name: str, stem: str, schema: SchemaNode) -> None:
        properties = schema.properties
        if properties is None:
            raise SpecError(path, "an object contract needs properties")
        required = schema.required or []
        for index, name in enumerate(required):
            if name not in properties:
                raise SpecError(f"{path}.required.{index}", f"names {name!r}, which is not among the properties")
        if len(set(required)) != len(required):
            raise SpecError(f"{path}.required", "lists a property twice")
        fields: list[FieldView] = []
        seen: dict[str, str] = {}
        for prop, prop_schema in properties.items():
            prop_path = f"{path}.properties.{prop}"
            if not _PROPERTY_NAME.match(prop):
                raise SpecError(
                    prop_path, "a property name must start with a letter or _ and hold only letters, digits, _ and -"
                )
            if too_long := length_error(prop, "property name"):
                raise SpecError(prop_path, too_long)
            name = python_name(prop)
            if name in seen:
                raise SpecError(prop_path, f"becomes the Python name {name!r}, like property {seen[name]!r}")
            seen[name] = prop
            fields.append(self._field(prop_path, stem, prop, name, prop_schema, prop in required))
        self.view.models.append(ModelView(class_name, _docstring(schema.description, stem), tuple(fields)))

    def _field(self, path: str, stem: str, prop: str, name: str, schema: SchemaNode, required: bool) -> FieldView:
        annotation = self._annotation(path, f"{stem}{pascal_case(python_name(prop))}", schema)
        limits = _constraints(path, schema)  # before the default is checked against them
        arguments: list[str] = []
        if schema.default is not None:
            if required:
                raise SpecError(f"{path}.default", "a required property cannot have a default")
            _check_default(path, schema)
            arguments.append(f"default={self._literal(annotation, schema.default)}")
        elif not required:
            arguments.append("default=None")
            annotation = f"{annotation} | None"
        if name != prop:
            arguments.append(f"alias={literal(prop)}")
        arguments += limits
        description = schema.description or (self._ref_description(schema) if schema.ref else None)
        if description:
            arguments.append(f"description={string(description, indent=8, room=13)}")
        return FieldView(name, prop if name != prop else None, annotation, tuple(arguments))

    def _ref_description(self, schema: SchemaNode) -> str | None:
        target = self.schemas.get((schema.ref or "").removeprefix(REF_PREFIX))
        return target.description if target else None

    def _annotation(self, path: str, stem: str, schema: SchemaNode) -> str:
        if schema.ref is not None:
            return self._ref(path, schema)
        if schema.type is None:
            raise SpecError(f"{path}.type", "missing: give a type or a $ref")
        if schema.format is not None and schema.type != "string":
            raise SpecError(f"{path}.format", "applies to strings only")
        if schema.enum is not None:
            return self._enum(path, stem, schema)
        if schema.type == "object":
            if schema.properties is None:
                return "dict[str, JsonValue]"
            class_name = self._claim(path, f"Model{stem}")
            self._object(path, class_name, stem, schema)
            return class_name
        if schema.type == "array":
            if schema.items is None:
                raise SpecError(f"{path}.items", "missing: an array needs items")
            return f"list[{self._item(f'{path}.items', f'{stem}Item', schema.items)}]"
        if schema.items is not None:
            raise SpecError(f"{path}.items", "applies to arrays only")
        if schema.properties is not None or schema.required is not None:
            raise SpecError(f"{path}.properties", "applies to objects only")
        if schema.format is not None:
            return FORMAT_TYPES[schema.format]
        return SCALAR_TYPES[schema.type]

    def _item(self, path: str, stem: str, schema: SchemaNode) -> str:
        """The annotation of an array's items, with their limits (`Annotated[Text, Field(min_length=1)]`)."""
        annotation = self._annotation(path, stem, schema)
        if schema.default is not None:
            raise SpecError(f"{path}.default", "applies to properties only, not to an array's items")
        limits = _constraints(path, schema)
        return f"Annotated[{annotation}, Field({', '.join(limits)})]" if limits else annotation

    def _ref(self, path: str, schema: SchemaNode) -> str:
        ref = schema.ref or ""
        others = schema.model_dump(exclude={"ref", "description"}, exclude_none=True)
        if others:
            raise SpecError(path, f"$ref cannot be combined with {', '.join(sorted(others))}")
        target = ref.removeprefix(REF_PREFIX)
        if not ref.startswith(REF_PREFIX) or target not in self.schemas:
            known = ", ".join(f"{REF_PREFIX}{name}" for name in self.schemas)
            raise SpecError(f"{path}.$ref", f"{ref!r} names no contract of this spec (known: {known})")
        return model_class(target)

    def _enum(self, path: str, stem: str, schema: SchemaNode) -> str:
        values = schema.enum or []
        if schema.type != "string":
            raise SpecError(f"{path}.enum", "enums are supported on strings only (type: string)")
        if not values:
            raise SpecError(f"{path}.enum", "an enum needs at least one value")
        if not all(isinstance(value, str) for value in values):
            raise SpecError(f"{path}.enum", "every enum value must be a string")
        if len(set(map(str, values))) != len(values):
            raise SpecError(f"{path}.enum", "lists a value twice")
        if schema.format or schema.pattern or schema.min_length is not None or schema.max_length is not None:
            raise SpecError(f"{path}.enum", "an enum cannot also have format, pattern or length limits")
        members = [(enum_member(str(value)), str(value)) for value in values]
        if len({member for member, _ in members}) != len(members):
            raise SpecError(
                f"{path}.enum", "two values give the same member name; make them differ in letters or digits"
            )
        class_name = self._claim(path, f"Enum{stem}")
        self.view.enums.append(EnumView(class_name, _docstring(schema.description, stem), tuple(members)))
        return class_name

    def _literal(self, annotation: str, value: JsonValue) -> str:
        for enum in self.view.enums:
            if enum.name == annotation:
                member = next(member for member, text in enum.members if text == value)
                return f"{enum.name}.{member}"
        return literal(value)


def _docstring(description: str | None, stem: str) -> str:
    text = (description or f"The {stem} contract.").strip().replace('"""', "'''")
    return text if text.endswith(".") else f"{text}."


def _constraints(path: str, schema: SchemaNode) -> list[str]:
    """`Field` arguments for the schema's limits, after checking that they fit its type."""
    arguments: list[str] = []
    string_limits = {"minLength": schema.min_length, "maxLength": schema.max_length, "pattern": schema.pattern}
    number_limits = {"minimum": schema.minimum, "maximum": schema.maximum}
    for keyword_name, limit in string_limits.items():
        if limit is not None and (schema.type != "string" or schema.ref):
            raise SpecError(f"{path}.{keyword_name}", "applies to strings only")
        if limit is not None and schema.format in _NON_STRING_FORMATS:
            raise SpecError(f"{path}.{keyword_name}", f"does not apply to format {schema.format} (checked whole)")
    if schema.pattern is not None and schema.format == "password":
        raise SpecError(f"{path}.pattern", "does not apply to a password (kept secret); use a validation rule")
    for keyword_name, bound in number_limits.items():
        if bound is not None and schema.type not in ("integer", "number"):
            raise SpecError(f"{path}.{keyword_name}", "applies to integers and numbers only")
    if schema.min_length is not None and schema.max_length is not None and schema.min_length > schema.max_length:
        raise SpecError(f"{path}.minLength", f"{schema.min_length} is above maxLength {schema.max_length}")
    if schema.minimum is not None and schema.maximum is not None and schema.minimum > schema.maximum:
        raise SpecError(f"{path}.minimum", f"{schema.minimum} is above maximum {schema.maximum}")
    if schema.pattern is not None:
        try:
            re.compile(schema.pattern)
        except re.error as error:
            raise SpecError(f"{path}.pattern", f"not a valid regular expression: {error}") from None
    if schema.type == "integer":
        for keyword_name, bound in number_limits.items():
            if isinstance(bound, float) and not bound.is_integer():
                raise SpecError(f"{path}.{keyword_name}", "an integer's limit must be a whole number")
    names: dict[str, object] = {"min_length": schema.min_length, "max_length": schema.max_length}
    names |= {
        "pattern": schema.pattern,
        "ge": _whole(schema.minimum, schema.type),
        "le": _whole(schema.maximum, schema.type),
    }
    arguments += [f"{name}={literal(value)}" for name, value in names.items() if value is not None]
    return arguments


def _whole(value: float | None, json_type: str | None) -> float | None:
    return int(value) if json_type == "integer" and value is not None else value


def _check_default(path: str, schema: SchemaNode) -> None:
    """A default must be a value the property itself accepts."""
    value, where = schema.default, f"{path}.default"
    if schema.ref or schema.type in ("object", "array"):
        raise SpecError(where, "defaults are supported on strings, numbers, integers, booleans and enums only")
    expected: dict[str, type | tuple[type, ...]] = {
        "string": str,
        "integer": int,
        "number": (int, float),
        "boolean": bool,
    }
    if isinstance(value, bool) != (schema.type == "boolean") or not isinstance(
        value, expected[schema.type or "string"]
    ):
        raise SpecError(where, f"{value!r} is not a {schema.type}")
    if schema.format in (*_NON_STRING_FORMATS, "password"):
        raise SpecError(where, f"defaults are not supported on format {schema.format}")
    if schema.format == "email" and "@" not in str(value):
        raise SpecError(where, f"{value!r} is not an email address")
    if schema.format == "uri" and not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s]*$", str(value)):
        raise SpecError(where, f"{value!r} is not an absolute URI")
    if schema.enum is not None and value not in schema.enum:
        raise SpecError(where, f"{value!r} is not one of the enum's values")
    if isinstance(value, str):
        if schema.min_length is not None and len(value) < schema.min_length:
            raise SpecError(where, f"{value!r} is shorter than minLength {schema.min_length}")
        if schema.max_length is not None and len(value) > schema.max_length:
            raise SpecError(where, f"{value!r} is longer than maxLength {schema.max_length}")
        if schema.pattern is not None and not re.search(schema.pattern, value):
            raise SpecError(where, f"{value!r} does not match the pattern")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if schema.minimum is not None and value < schema.minimum:
            raise SpecError(where, f"{value!r} is below minimum {schema.minimum}")
        if schema.maximum is not None and value > schema.maximum:
            raise SpecError(where, f"{value!r} is above maximum {schema.maximum}")


def parse_contracts(raw: Any) -> ContractsView:
    """Check a spec's `contracts` and return the classes that implement them.

    Raises:
        SpecError: at the spec path of the first fault.
    """
    if not isinstance(raw, dict) or not raw:
        raise SpecError("contracts", "give at least one contract, as a mapping of name to schema")
    schemas: dict[str, SchemaNode] = {}
    for name, schema in raw.items():
        path = f"contracts.{name}"
        if not isinstance(name, str) or not _CONTRACT_NAME.match(name):
            raise SpecError(path, "a contract name must be PascalCase (letters and digits, starting with a capital)")
        if too_long := length_error(name, "contract name"):
            raise SpecError(path, too_long)
        if not isinstance(schema, dict):
            raise SpecError(path, "a contract must be a JSON Schema object")
        try:
            schemas[name] = SchemaNode.model_validate(schema)
        except ValidationError as error:
            raise pydantic_path(path, error) from None
    return _ContractCompiler(schemas).compile()


def property_schema(view: ContractsView, contract: str, path: list[str]) -> SchemaNode | None:
    """The schema at `path` (property names) inside `contract`, following `$ref`s; None when there is none.

    Arrays and free-form objects end the walk: what lies inside them is known only at run time,
    so the schema of the array or object is returned.
    """
    schema = view.schemas[contract]
    for part in path:
        while schema.ref:
            schema = view.schemas[schema.ref.removeprefix(REF_PREFIX)]
        if schema.type != "object" or schema.properties is None:
            return schema
        if part not in schema.properties:
            return None
        schema = schema.properties[part]
    return schema
