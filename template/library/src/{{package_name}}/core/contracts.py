"""The base class and field types of feature contracts, with JSON Schema's meaning.

Features' `contracts.py` are generated from JSON Schema. Their models accept
exactly what the schema accepts (the suite proves it against the `jsonschema`
library): strings are never numbers, integers never booleans, `2.0` is an
integer, formats are checked as JSON Schema's format checker checks them, and
an absent optional property is absent, never `null`. Values leave a contract
the way they came in: by their spec names (aliases), without absent fields.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Annotated, Any
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    SecretStr,
    SerializerFunctionWrapHandler,
    Strict,
    field_validator,
    model_serializer,
)
from pydantic_core import PydanticCustomError

__all__ = [
    "Boolean",
    "Date",
    "DateTime",
    "Email",
    "Integer",
    "ModelContract",
    "Number",
    "Password",
    "Text",
    "Uri",
    "Uuid",
]


def _type_error(expected: str) -> PydanticCustomError:
    return PydanticCustomError("json_type", "expected {expected}", {"expected": expected})


def _integer(value: object) -> object:
    """JSON Schema integers: whole numbers, `2.0` included; never booleans or strings."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _type_error("an integer")
    if isinstance(value, float):
        if not value.is_integer():
            raise _type_error("an integer")
        return int(value)
    return value


def _number(value: object) -> object:
    """JSON Schema numbers: ints and floats, never booleans or strings."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _type_error("a number")
    return value


def _uuid(value: object) -> object:
    """The `uuid` format: 32 hex digits with dashes at positions 8, 13, 18 and 23."""
    if isinstance(value, UUID):
        return value
    if not isinstance(value, str):
        raise _type_error("a UUID string")
    try:
        parsed = UUID(value)
    except ValueError:
        raise _type_error("a UUID") from None
    if any(value[position] != "-" for position in (8, 13, 18, 23)):  # UUID() took 32 hex digits, so these exist
        raise _type_error("a UUID with dashes")
    return parsed


_RFC3339 = re.compile(
    r"^(\d{4})-(0[1-9]|1[0-2])-(\d{2})T([01]\d|2[0-3]):([0-5]\d):([0-5]\d)(\.\d+)?(Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)$",
    re.ASCII,
)


def _date_time(value: object) -> object:
    """The `date-time` format: RFC 3339, with a time zone."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value
    if not isinstance(value, str):
        raise _type_error("an RFC 3339 date-time string")
    match = _RFC3339.match(value.upper())
    if match is None:
        raise _type_error("an RFC 3339 date-time")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    if not int(year) or not 1 <= int(day) <= calendar.monthrange(int(year), int(month))[1]:
        raise _type_error("a real calendar date")
    zone = UTC
    if offset != "Z":
        sign = -1 if offset[0] == "-" else 1
        zone = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])))
    micro = int((fraction or ".0")[1:7].ljust(6, "0"))
    return datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tzinfo=zone)


_FULL_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)


def _date(value: object) -> object:
    """The `date` format: `YYYY-MM-DD`, a real calendar day."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _FULL_DATE.fullmatch(value):
        raise _type_error("a YYYY-MM-DD date")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _type_error("a real calendar date") from None


def _password(value: object) -> object:
    """The `password` format: a string, kept as a `SecretStr` so that it never shows in logs or reprs."""
    if not isinstance(value, str | SecretStr):
        raise _type_error("a string")
    return value


def _email(value: str) -> str:
    """The `email` format, as JSON Schema's checker reads it: an `@` somewhere."""
    if "@" not in value:
        raise _type_error("an email address")
    return value


_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S*")


def _uri(value: str) -> str:
    """The `uri` format: an absolute URI (a scheme, then no whitespace)."""
    if not _URI.fullmatch(value):
        raise _type_error("an absolute URI")
    return value


Text = Annotated[str, Strict()]
Integer = Annotated[int, BeforeValidator(_integer)]
Number = Annotated[float, BeforeValidator(_number)]
Boolean = Annotated[bool, Strict()]
Uuid = Annotated[UUID, BeforeValidator(_uuid)]
DateTime = Annotated[datetime, BeforeValidator(_date_time)]
Date = Annotated[date, BeforeValidator(_date)]
Email = Annotated[str, Strict(), AfterValidator(_email)]
Uri = Annotated[str, Strict(), AfterValidator(_uri)]
#: Shown as `**********`, but sent on the wire as written: a request must carry its password.
Password = Annotated[
    SecretStr, BeforeValidator(_password), PlainSerializer(SecretStr.get_secret_value, when_used="json")
]


class ModelContract(BaseModel):
    """Base of every feature contract: frozen, no unknown fields, no `null`, spec names on the wire."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        # Spec names only: a field's Python name (`from_` for `from`) is no property of the schema.
        validate_by_name=False,
        validate_by_alias=True,
        serialize_by_alias=True,
        regex_engine="python-re",
    )

    @field_validator("*", mode="before")
    @classmethod
    def _no_null(cls, value: Any) -> Any:
        """JSON Schema types here never include null: an absent property is left out, not `null`."""
        if value is None:
            raise PydanticCustomError("null", "null is not allowed; leave the property out instead")
        return value

    @model_serializer(mode="wrap")
    def _drop_absent(self, handler: SerializerFunctionWrapHandler) -> Any:
        """Absent optional properties stay absent when dumped."""
        dumped = handler(self)
        if isinstance(dumped, dict):
            return {key: value for key, value in dumped.items() if value is not None}
        return dumped
