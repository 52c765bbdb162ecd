"""`OnexError`: the one exception type nodes raise, with a machine-readable code."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, JsonValue, ValidationError


class EnumCoreErrorCode(StrEnum):
    """Error codes shared by every node."""

    VALIDATION_ERROR = "ONEX_VALIDATION_ERROR"
    INVALID_TRANSITION = "ONEX_INVALID_TRANSITION"
    CIRCUIT_OPEN = "ONEX_CIRCUIT_OPEN"
    DEPENDENCY_UNAVAILABLE = "ONEX_DEPENDENCY_UNAVAILABLE"
    TIMEOUT = "ONEX_TIMEOUT"
    NOT_FOUND = "ONEX_NOT_FOUND"
    CONFLICT = "ONEX_CONFLICT"
    PERMISSION_DENIED = "ONEX_PERMISSION_DENIED"
    CONFIGURATION_ERROR = "ONEX_CONFIGURATION_ERROR"
    LIFECYCLE_ERROR = "ONEX_LIFECYCLE_ERROR"
    OPERATION_FAILED = "ONEX_OPERATION_FAILED"
    INTENT_UNROUTABLE = "ONEX_INTENT_UNROUTABLE"
    NOT_IMPLEMENTED = "ONEX_NOT_IMPLEMENTED"


class ModelErrorDetail(BaseModel):
    """The serialisable form of an `OnexError`, as carried by failure events."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: EnumCoreErrorCode
    message: str
    details: dict[str, JsonValue]


class OnexError(Exception):
    """A failure with a code from `EnumCoreErrorCode` and structured details."""

    def __init__(
        self,
        message: str,
        *,
        code: EnumCoreErrorCode,
        details: Mapping[str, JsonValue] | None = None,
    ) -> None:
        """Create the error; `details` must be JSON-serialisable."""
        super().__init__(message)
        self.message = message
        self.code = code
        self.details: dict[str, JsonValue] = dict(details or {})

    def __str__(self) -> str:
        """`[ONEX_CODE] message`."""
        return f"[{self.code.value}] {self.message}"

    def to_model(self) -> ModelErrorDetail:
        """The error as a model, for events and JSON output."""
        return ModelErrorDetail(code=self.code, message=self.message, details=self.details)


class ModelFieldError(BaseModel):
    """One field that failed validation; never carries the rejected value."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    field: str
    code: str
    message: str


def field_errors(error: ValidationError) -> list[ModelFieldError]:
    """Every field error of a Pydantic `ValidationError`, with dotted field paths."""
    return [
        ModelFieldError(field=".".join(str(part) for part in item["loc"]), code=item["type"], message=item["msg"])
        for item in error.errors(include_url=False, include_input=False)
    ]


def invalid_input(what: str, error: ValidationError, **details: JsonValue) -> OnexError:
    """`OnexError(VALIDATION_ERROR)` naming the first bad field of `what` and listing them all."""
    errors = field_errors(error)
    first = errors[0]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return OnexError(
        f"{what}: {first.field or '<root>'}: {first.message}{more}",
        code=EnumCoreErrorCode.VALIDATION_ERROR,
        details={**details, "field": first.field, "errors": [e.model_dump() for e in errors]},
    )
