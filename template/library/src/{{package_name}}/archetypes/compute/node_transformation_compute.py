"""The transformation node: declarative mapping between models and dicts.

The result is built in four steps: an optional copy of the source (`passthrough`),
`renames` (move a value to a new path), `mappings` (read a dotted source path, fall
back to a default, apply an `EnumTransform`, write a dotted target path), then
projection (`include`, then `exclude`). It may then be validated into a target
contract. Pure and deterministic; a missing source without default, a transform
that does not apply, or an invalid result is a VALIDATION_ERROR naming the path.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from enum import Enum, StrEnum
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    FiniteFloat,
    JsonValue,
    SerializeAsAny,
    TypeAdapter,
    ValidationError,
)

from ...core.errors import EnumCoreErrorCode, OnexError, invalid_input
from ...core.metrics import monitor_performance
from ...core.nodes import NodeCompute

#: A dotted path such as `user.address.city`; digit segments index lists when reading (`items.0.sku`).
DottedPath = Annotated[str, Field(pattern=r"^[^.]+(\.[^.]+)*$")]


class _Missing(Enum):
    """The type of `_MISSING`: no value at a path (unlike a null value)."""

    TOKEN = 0


_MISSING = _Missing.TOKEN


class EnumTransform(StrEnum):
    """A conversion applied to one value; null passes through every transform unchanged."""

    NONE = "none"
    LOWER = "lower"
    UPPER = "upper"
    STRIP = "strip"
    TO_STR = "to_str"
    TO_INT = "to_int"
    TO_FLOAT = "to_float"
    TO_BOOL = "to_bool"


class ModelFieldMapping(BaseModel):
    """Copy one value from a source path to a target path, converting it on the way."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: DottedPath = Field(description="Where to read in the source, e.g. `user.email`.")
    target: DottedPath = Field(description="Where to write in the result, e.g. `contact.email`.")
    default: JsonValue = Field(
        default=None,
        description="Written as is when the source path is missing; set it (even to null) to make the source optional.",
    )
    transform: EnumTransform = Field(default=EnumTransform.NONE, description="Conversion of the source value.")

    @property
    def has_default(self) -> bool:
        """Whether `default` was given, so a missing source is not an error."""
        return "default" in self.model_fields_set


class ModelTransformationInput(BaseModel):
    """A source and the declarative description of the result to build from it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: dict[str, JsonValue] | SerializeAsAny[BaseModel] = Field(
        description="The data to transform; a model is read as its JSON dump (by alias)."
    )
    passthrough: bool | None = Field(
        default=None, description="Start from a copy of the source; None: only when there are no mappings."
    )
    renames: dict[DottedPath, DottedPath] = Field(
        default_factory=dict, description="Source paths moved to new result paths (old path -> new path)."
    )
    mappings: tuple[ModelFieldMapping, ...] = Field(default=(), description="Values written into the result.")
    include: tuple[DottedPath, ...] | None = Field(
        default=None, description="Result paths to keep, in this order (None keeps everything)."
    )
    exclude: tuple[DottedPath, ...] = Field(default=(), description="Result paths to drop.")
    target_contract: type[BaseModel] | None = Field(
        default=None, description="Model the result must validate into; the result is then its JSON dump."
    )


class ModelTransformationOutput(BaseModel):
    """The transformed data, and its contract instance when one was asked for."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    result: dict[str, JsonValue] = Field(description="The transformed data as JSON values.")
    instance: SerializeAsAny[BaseModel] | None = Field(
        default=None, description="The result as an instance of `target_contract`, if given."
    )


class NodeTransformationCompute(NodeCompute[ModelTransformationInput, ModelTransformationOutput]):
    """Declarative mapping, renaming and projection between models and dicts."""

    node_name = "transformation"

    async def process(self, input_data: ModelTransformationInput) -> ModelTransformationOutput:
        """Build the result; see `transform`."""
        return await self.transform(input_data)

    @monitor_performance("transformation.transform")
    async def transform(self, input_data: ModelTransformationInput) -> ModelTransformationOutput:
        """Copy, rename, map, project, then validate.

        Raises:
            OnexError: VALIDATION_ERROR naming the source or result path at fault.
        """
        source = input_data.source
        if isinstance(source, BaseModel):
            source = _json_dump(source)
        passthrough = not input_data.mappings if input_data.passthrough is None else input_data.passthrough
        result: dict[str, JsonValue] = copy.deepcopy(source) if passthrough else {}
        for old, new in input_data.renames.items():
            value = _get(source, old)
            if value is _MISSING:
                raise _error(f"cannot rename {old!r}: the source has no such path", path=old, target=new)
            if passthrough:
                _delete(result, old)
            _set(result, new, copy.deepcopy(value))
        for mapping in input_data.mappings:
            _set(result, mapping.target, _mapped_value(source, mapping))
        if input_data.include is not None:
            result = _project(result, input_data.include)
        for path in input_data.exclude:
            _delete(result, path)
        if input_data.target_contract is None:
            return ModelTransformationOutput(result=result)
        instance = _validate(result, input_data.target_contract)
        return ModelTransformationOutput(result=_json_dump(instance), instance=instance)


def _mapped_value(source: dict[str, JsonValue], mapping: ModelFieldMapping) -> JsonValue:
    value = _get(source, mapping.source)
    if value is _MISSING:
        if mapping.has_default:
            return copy.deepcopy(mapping.default)
        raise _error(
            f"source path {mapping.source!r} is missing and its mapping has no default",
            path=mapping.source,
            target=mapping.target,
        )
    return _apply(mapping.transform, copy.deepcopy(value), mapping.source)


def _apply(transform: EnumTransform, value: JsonValue, path: str) -> JsonValue:
    """`value` (read at `path`) converted by `transform`; null stays null."""
    if value is None:
        return None
    try:
        return _TRANSFORMS[transform](value)
    except TypeError as exc:
        kind = type(value).__name__
        raise _error(f"{transform} does not apply to the {kind} at {path!r}", path=path, transform=transform) from exc
    except ValidationError as exc:
        problem = exc.errors(include_url=False, include_input=False)[0]["msg"]
        raise _error(f"{transform} failed at {path!r}: {problem}", path=path, transform=transform) from exc


def _on_text(operation: Callable[[str], str]) -> Callable[[JsonValue], JsonValue]:
    def apply(value: JsonValue) -> JsonValue:
        if not isinstance(value, str):
            raise TypeError(value)
        return operation(value)

    return apply


def _to_str(value: JsonValue) -> JsonValue:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise TypeError(value)


def _unchanged(value: JsonValue) -> JsonValue:
    return value


#: Each transform; TypeError means "does not apply to this type". Conversions use
#: Pydantic's lax rules: `"42"` to 42, `"1.5"` to 1.5, `"yes"`/`"off"` to True/False.
_TRANSFORMS: dict[EnumTransform, Callable[[JsonValue], JsonValue]] = {
    EnumTransform.NONE: _unchanged,
    EnumTransform.LOWER: _on_text(str.lower),
    EnumTransform.UPPER: _on_text(str.upper),
    EnumTransform.STRIP: _on_text(str.strip),
    EnumTransform.TO_STR: _to_str,
    EnumTransform.TO_INT: TypeAdapter(int).validate_python,
    EnumTransform.TO_FLOAT: TypeAdapter(FiniteFloat).validate_python,
    EnumTransform.TO_BOOL: TypeAdapter(bool).validate_python,
}


def _validate(result: dict[str, JsonValue], contract: type[BaseModel]) -> BaseModel:
    try:
        return contract.model_validate(result)
    except ValidationError as exc:
        raise invalid_input(f"result does not satisfy {contract.__name__}", exc, contract=contract.__name__) from exc


def _json_dump(model: BaseModel) -> dict[str, JsonValue]:
    dumped: dict[str, JsonValue] = model.model_dump(mode="json", by_alias=True)
    return dumped


def _get(data: JsonValue, path: str) -> JsonValue | _Missing:
    """The value at dotted `path`, or `_MISSING`; digit segments index lists."""
    current = data
    for part in path.split("."):
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return _MISSING
    return current


def _set(data: dict[str, JsonValue], path: str, value: JsonValue) -> None:
    """Write `value` at `path`, creating intermediate objects."""
    *parents, leaf = path.split(".")
    current = data
    for depth, part in enumerate(parents):
        child = current.setdefault(part, {})
        if not isinstance(child, dict):
            blocked = ".".join(parents[: depth + 1])
            raise _error(f"cannot write {path!r}: {blocked!r} is not an object", path=path)
        current = child
    current[leaf] = value


def _delete(data: dict[str, JsonValue], path: str) -> None:
    """Remove `path` if present."""
    *parents, leaf = path.split(".")
    parent = _get(data, ".".join(parents)) if parents else data
    if isinstance(parent, dict):
        parent.pop(leaf, None)


def _project(data: dict[str, JsonValue], paths: tuple[str, ...]) -> dict[str, JsonValue]:
    """Only the present `paths` of `data`, nested as they were."""
    projected: dict[str, JsonValue] = {}
    for path in paths:
        value = _get(data, path)
        if value is not _MISSING:
            _set(projected, path, value)
    return projected


def _error(message: str, *, path: str, **details: str) -> OnexError:
    return OnexError(message, code=EnumCoreErrorCode.VALIDATION_ERROR, details={"path": path, **details})
