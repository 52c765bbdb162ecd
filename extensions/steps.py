"""Steps: what a feature spec's `steps` may ask of each catalog node, and how it is checked.

Each catalog node offers operations; a step names a node and, in its `config`,
an `operation` and that operation's settings. Values in a config are literals,
or references to what the run knows so far, written `$input.<path>` (the
request) or `$<value>.<path>` (a value an earlier step produced, by its name).
Every node also offers `custom`: the step calls a hook the user writes in the
feature's `logic.py`, which is also how custom nodes (added with `kind=node`)
take part.

Which node offers which operation is declared with the node, in `catalog.CATALOG`.
The templates render each operation with the macro of the same name in
`template/macros/steps.jinja`; `StepView` hands them the compiled arguments.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator
from pydantic_core import PydanticCustomError

from .migrations import OLD_MISSING_ERRORS
from .pycode import LINE_LENGTH, block, string
from .pycode import call as layout_call
from .pycode import literal as python_literal

#: How a reference is read from the workflow state, and the Python type it gives.
Kind = Literal["text", "integer", "number", "flag", "secret", "record", "value"]

_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")
_EVENT_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")


class Operation(BaseModel):
    """Base of every operation's config: unknown settings are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Python type of each value the operation produces, by the setting that names it.
    produces: ClassVar[dict[str, str]] = {}
    #: Settings that hold references or literals, and how each is read.
    reads: ClassVar[dict[str, Kind]] = {}
    #: Settings that map names to references or literals (read as JSON values).
    mappings: ClassVar[tuple[str, ...]] = ()
    #: Whether the step's reducer intents need the database effect.
    needs_database: ClassVar[bool] = False

    def produced(self) -> dict[str, str]:
        """Value name -> Python type, for the values this step adds to the state."""
        return {getattr(self, setting): type_ for setting, type_ in self.produces.items() if getattr(self, setting)}

    def references(self) -> Iterator[tuple[str, Any, Kind]]:
        """(config path, value, kind) of every setting that may hold a reference."""
        for setting, kind in self.reads.items():
            value = getattr(self, setting)
            if value is not None:
                yield setting, value, kind
        for setting in self.mappings:
            for key, value in (getattr(self, setting) or {}).items():
                yield f"{setting}.{key}", value, "value"


# ---------------------------------------------------------------- compute


class ValidationRule(BaseModel):
    """One declarative rule of the validation node."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    field: str = Field(min_length=1)
    rule: Literal["required", "min_length", "max_length", "pattern", "one_of", "minimum", "maximum", "equals_field"]
    value: JsonValue = None
    message: str | None = None


class ValidationValidate(Operation):
    """Check the request against its contract and `rules`; fail with VALIDATION_ERROR."""

    operation: Literal["validate"] = "validate"
    rules: list[ValidationRule] = Field(default_factory=list)


class HashingHashPassword(Operation):
    """Hash a password (scrypt or argon2) into a self-describing string."""

    operation: Literal["hash_password"]
    password: str
    algorithm: Literal["scrypt", "argon2"] | None = None
    into: str = "password_hash"
    produces: ClassVar[dict[str, str]] = {"into": "str"}
    reads: ClassVar[dict[str, Kind]] = {"password": "secret"}


class HashingVerifyPassword(Operation):
    """Verify a password against a stored hash; fail with PERMISSION_DENIED when it does not match."""

    operation: Literal["verify_password"]
    password: str
    stored_hash: str
    reads: ClassVar[dict[str, Kind]] = {"password": "secret", "stored_hash": "text"}


class HashingDigest(Operation):
    """Digest content with BLAKE3 or SHA-256 (lower-case hex)."""

    operation: Literal["digest"]
    data: str
    algorithm: Literal["blake3", "sha256"] = "blake3"
    into: str = "digest"
    produces: ClassVar[dict[str, str]] = {"into": "str"}
    reads: ClassVar[dict[str, Kind]] = {"data": "text"}


class LlmGenerate(Operation):
    """Generate text from a prompt."""

    operation: Literal["generate"]
    prompt: str
    system: str | None = None
    model: str | None = None
    into: str = "text"
    produces: ClassVar[dict[str, str]] = {"into": "str"}
    reads: ClassVar[dict[str, Kind]] = {"prompt": "text", "system": "text"}


# ---------------------------------------------------------------- effects


class _Record(Operation):
    collection: str
    key: JsonValue
    reads: ClassVar[dict[str, Kind]] = {"key": "text"}


class DatabaseInsert(_Record):
    """Insert a JSON record under `key` in `collection`; fail with CONFLICT when the key exists."""

    operation: Literal["insert"]
    record: dict[str, JsonValue]
    mappings: ClassVar[tuple[str, ...]] = ("record",)


class DatabaseUpsert(_Record):
    """Insert or replace the JSON record under `key` in `collection`."""

    operation: Literal["upsert"]
    record: dict[str, JsonValue]
    mappings: ClassVar[tuple[str, ...]] = ("record",)


class DatabaseGet(_Record):
    """Read the record under `key` in `collection` into a value; a missing one fails (or is skipped)."""

    operation: Literal["get"]
    into: str
    if_missing: Literal["fail", "skip"] = "fail"
    missing_error: Literal["NOT_FOUND", "PERMISSION_DENIED"] = "NOT_FOUND"
    produces: ClassVar[dict[str, str]] = {"into": "dict[str, JsonValue]"}

    @field_validator("missing_error", mode="before")
    @classmethod
    def _error_code_name(cls, value: object) -> object:
        """Refuse the lower-case spelling of suite versions before 0.4.0, saying what to write."""
        if isinstance(value, str) and value in OLD_MISSING_ERRORS:
            raise PydanticCustomError(
                "old_spelling",
                f"{value!r} is how copier-onex spelt it before 0.4.0: write {value.upper()} (an error code's name, "
                "upper case like an example's error_code); `copier update` migrates the specs of existing features",
            )
        return value


class DatabaseDelete(_Record):
    """Delete the record under `key` in `collection`, if any."""

    operation: Literal["delete"]


class FileRead(Operation):
    """Read a text file under the file root; produces its text and `<into>_size` (bytes)."""

    operation: Literal["read"]
    path: str
    into: str = "content"
    reads: ClassVar[dict[str, Kind]] = {"path": "text"}

    def produced(self) -> dict[str, str]:
        """The text, and its size in bytes."""
        return {self.into: "str", f"{self.into}_size": "int"}


class FileWrite(Operation):
    """Write text to a file under the file root."""

    operation: Literal["write"]
    path: str
    content: str
    reads: ClassVar[dict[str, Kind]] = {"path": "text", "content": "text"}


class EventBusPublish(Operation):
    """Publish an event `onex.evt.<pkg>.<event>.v1` carrying a contract of the spec."""

    operation: Literal["publish"]
    event: str
    contract: str
    payload: dict[str, JsonValue]
    mappings: ClassVar[tuple[str, ...]] = ("payload",)


class LoggerLog(Operation):
    """Write one structured log event (secrets redacted)."""

    operation: Literal["log"]
    event: str = Field(min_length=1)
    level: Literal["debug", "info", "warning", "error", "critical"] = "info"
    fields: dict[str, JsonValue] = Field(default_factory=dict)
    mappings: ClassVar[tuple[str, ...]] = ("fields",)


class ApiRequest(Operation):
    """Call the API under its base URL; a 4xx/5xx answer fails; produces the JSON body."""

    operation: Literal["request"]
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    path: str
    body: dict[str, JsonValue] | None = None
    into: str = "response"
    produces: ClassVar[dict[str, str]] = {"into": "JsonValue"}
    reads: ClassVar[dict[str, Kind]] = {"path": "text"}
    mappings: ClassVar[tuple[str, ...]] = ("body",)


# ---------------------------------------------------------------- reducers


class SessionOpen(Operation):
    """Open a session for `subject` and persist it through the reducer's intents."""

    operation: Literal["open"]
    subject: str
    data: dict[str, JsonValue] = Field(default_factory=dict)
    ttl_seconds: float | None = Field(default=None, gt=0)
    into: str = "session"
    produces: ClassVar[dict[str, str]] = {"into": "ModelSession"}
    reads: ClassVar[dict[str, Kind]] = {"subject": "text"}
    mappings: ClassVar[tuple[str, ...]] = ("data",)
    needs_database: ClassVar[bool] = True


class MetricsRecord(Operation):
    """Count one item of `size_bytes` under `namespace`; produces the namespace's aggregate."""

    operation: Literal["record"]
    namespace: str
    size_bytes: JsonValue
    into: str = "metrics"
    produces: ClassVar[dict[str, str]] = {"into": "ModelNamespaceMetrics"}
    reads: ClassVar[dict[str, Kind]] = {"namespace": "text", "size_bytes": "integer"}
    needs_database: ClassVar[bool] = True


class StateTransition(Operation):
    """Move an entity to `target_state` through its state machine; produces the entity's state."""

    operation: Literal["transition"]
    entity_type: str = Field(min_length=1)
    entity_id: str
    target_state: str = Field(min_length=1)
    initial_state: str = Field(min_length=1)
    transitions: dict[str, list[str]]
    into: str = "entity"
    produces: ClassVar[dict[str, str]] = {"into": "ModelEntityState"}
    reads: ClassVar[dict[str, Kind]] = {"entity_id": "text"}
    needs_database: ClassVar[bool] = True


# ---------------------------------------------------------------- any node


class Custom(Operation):
    """Call the step's hook in `logic.py` with the node; the hook's result becomes `into`."""

    operation: Literal["custom"]
    into: str | None = None
    produces: ClassVar[dict[str, str]] = {"into": "JsonValue"}


def operation_name(operation: type[Operation]) -> str:
    """The value of `operation` that selects this config class."""
    default = operation.model_fields["operation"].default
    if isinstance(default, str):
        return default
    annotation = operation.model_fields["operation"].annotation
    return str(annotation.__args__[0])  # type: ignore[union-attr]


def offered(operations: tuple[type[Operation], ...]) -> dict[str, type[Operation]]:
    """Operation name -> config class: a node's own operations (the first is the default), then `custom`."""
    return {**{operation_name(op): op for op in operations}, "custom": Custom}


def value_name_error(name: str) -> str:
    """Why `name` cannot name a value in the workflow state, or ""."""
    if not _IDENTIFIER.match(name) or name.endswith("_") or "__" in name:
        return f"{name!r} is not a snake_case name"
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        return f"{name!r} is a Python keyword"
    if name in RESERVED_VALUES or name.startswith("model_") or name in dir(BaseModel):
        return f"{name!r} is reserved by the workflow state"
    return ""


#: Names the workflow state already uses.
RESERVED_VALUES = frozenset(
    {
        "request",
        "correlation_id",
        "causation_id",
        "value",
        "text",
        "integer",
        "number",
        "flag",
        "secret",
        "record",
        "present",
        "envelope",
        "input",
    }
)


def event_name_error(name: str) -> str:
    """Why `name` cannot name a published event, or ""."""
    return "" if _EVENT_NAME.match(name) else f"{name!r} is not a lower-case event name (letters, digits, _ and -)"


@dataclass(frozen=True)
class Reference:
    """A `$…` value of a step config, resolved against the state."""

    head: str
    path: tuple[str, ...]

    @property
    def state_path(self) -> str:
        """The dotted path in the workflow state (`$input` is the state's `request`)."""
        return ".".join(("request" if self.head == "input" else self.head, *self.path))


def parse_reference(value: object) -> Reference | None:
    """The reference a config value holds, or None for a literal (`$$` escapes a leading `$`)."""
    if not isinstance(value, str) or not value.startswith("$") or value.startswith("$$"):
        return None
    head, *path = value[1:].split(".")
    return Reference(head, tuple(path))


def literal(value: JsonValue) -> JsonValue:
    """A literal config value, with an escaped `$$` unescaped."""
    if isinstance(value, str) and value.startswith("$$"):
        return value[1:]
    return value


def expression(value: JsonValue, kind: Kind) -> str:
    """The Python expression that gives `value` in a step: a read of the state, or a literal."""
    reference = parse_reference(value)
    if reference is not None:
        return f"state.{kind}({python_literal(reference.state_path)})"
    constant = literal(value)
    if kind == "secret":
        return f"SecretStr({python_literal(constant)})"
    return python_literal(constant)


#: Where a step's code starts in `workflow.py`: in the step method's `async with` block.
STEP_BODY_INDENT = 12


def _shift(text: str, offset: int) -> str:
    """`text` laid out `offset` columns in, with that indentation taken off its lines after the first."""
    first, *rest = text.split("\n")
    return "\n".join([first, *(line[offset:] for line in rest)])


def _entry(key: str, value: JsonValue, indent: int) -> str:
    """One `key: expression,` item of a dict display whose items start at `indent`; broken when too long."""
    head = f"{python_literal(key)}: "
    one_line = f"{head}{expression(value, 'value')},"
    if indent + len(one_line) <= LINE_LENGTH:
        return one_line
    reference = parse_reference(value)
    if reference is not None:
        return layout_call(f"{head}state.value(", [python_literal(reference.state_path)], indent=indent, suffix="),")
    constant = literal(value)
    if isinstance(constant, str):
        return f"{head}{string(constant, indent=indent, room=len(head) + 1)},"
    return f"{head}{block(constant, indent=indent, room=len(head) + 1)},"


def mapping_expression(values: Mapping[str, JsonValue], indent: int, offset: int = 0) -> str:
    """A dict display of JSON values, each a literal or a read of the state, one per line (closing at `indent`).

    `offset` is how far in the text will be indented afterwards (a step's code is indented by
    `STEP_BODY_INDENT` in `workflow.py`): lines are laid out for their final place.
    """
    if not values:
        return "{}"
    inner = " " * (indent + offset + 4)
    items = "".join(f"{inner}{_entry(key, value, indent + offset + 4)}\n" for key, value in values.items())
    return _shift("{\n" + items + " " * (indent + offset) + "}", offset)


@dataclass
class StepView:
    """One step as the templates render it."""

    name: str
    node: str
    archetype: str
    node_class: str
    node_module: str
    operation: str
    config: Operation
    description: str
    produced: dict[str, str] = field(default_factory=dict)
    event_class: str = ""
    is_custom_node: bool = False

    @property
    def macro(self) -> str:
        """The macro in `template/macros/steps.jinja` that renders this step."""
        return "custom" if self.operation == "custom" else f"{self.node}_{self.operation}"

    def arg(self, setting: str) -> str:
        """The Python expression of one setting, read as that setting's kind."""
        value = getattr(self.config, setting)
        return expression(value, self.config.reads.get(setting, "value"))

    def mapping(self, setting: str, indent: int) -> str:
        """The Python dict display of a mapping setting, whose line starts at `indent` in the step's code."""
        return mapping_expression(getattr(self.config, setting) or {}, indent, offset=STEP_BODY_INDENT)

    def call(self, prefix: str, *arguments: str, suffix: str = ")", indent: int = 0) -> str:
        """`prefix(arguments)` as a line of the step's code (at `indent` in it), one argument per line when too long."""
        text = layout_call(prefix, arguments, indent=STEP_BODY_INDENT + indent, suffix=suffix)
        return _shift(text, STEP_BODY_INDENT)
