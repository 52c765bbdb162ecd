"""The logger effect: structured JSON logs through structlog, with secrets redacted.

Each node instance builds its own structlog pipeline (never `structlog.configure`):
level filter (`settings.log_level`), timestamp, redaction, JSON renderer, one
object per line to an injected stream, `settings.log_file` (appended) or stderr.
Values under keys containing one of `settings.log_redact_keys` (any case, at any
depth) and every pydantic secret are written as "***". Carries out `logger.log` intents.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Mapping
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, TextIO, cast

import structlog
from pydantic import BaseModel, ConfigDict, Field, JsonValue, Secret, SecretBytes, SecretStr, field_validator
from structlog.typing import EventDict, FilteringBoundLogger, WrappedLogger

from ...core.errors import EnumCoreErrorCode, OnexError
from ...core.intents import ModelIntent
from ...core.metrics import monitor_performance
from ...core.nodes import NodeEffect

if TYPE_CHECKING:
    from ...core.container import OnexContainer

#: What a redacted value is written as.
REDACTED = "***"
#: Fields every line carries, first and in this order; log calls may not pass them.
STANDARD_FIELDS = ("timestamp", "level", "logger", "event")
RESERVED_FIELDS = frozenset(STANDARD_FIELDS)
#: The logger name when none is given.
DEFAULT_LOGGER_NAME = "onex"


class EnumLogLevel(StrEnum):
    """Log levels, lowest first."""

    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"

    @property
    def number(self) -> int:
        """The `logging` level number."""
        return logging.getLevelNamesMapping()[self.name]


class ModelLoggerInput(BaseModel):
    """One log event."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    level: EnumLogLevel = Field(default=EnumLogLevel.INFO, description="Level (any case).")
    event: str = Field(min_length=1, description="What happened, e.g. `user.login`.")
    logger_name: str = Field(default=DEFAULT_LOGGER_NAME, min_length=1, description="Name of the logger.")
    fields: dict[str, JsonValue] = Field(default_factory=dict, description="Structured context of the event.")

    @field_validator("level", mode="before")
    @classmethod
    def _lower_level(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value


class ModelLoggerOutput(BaseModel):
    """Whether the event was written."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    written: bool = Field(description="False when the level is below `settings.log_level`.")
    level: EnumLogLevel = Field(description="The event's level.")


class Redactor:
    """Replaces secrets with "***": values of secret-named keys and pydantic secrets."""

    def __init__(self, secret_keys: tuple[str, ...]) -> None:
        """A key is secret when it contains one of `secret_keys` (any case, `-` same as `_`)."""
        self._secret_keys = tuple(_normalise_key(key) for key in secret_keys if key)

    def is_secret_key(self, key: object) -> bool:
        """Whether values under `key` are never written."""
        normalised = _normalise_key(str(key))
        return any(secret in normalised for secret in self._secret_keys)

    def redact(self, value: object) -> object:
        """`value` with every secret inside it replaced, at any depth."""
        if isinstance(value, SecretStr | SecretBytes | Secret):
            return REDACTED
        if isinstance(value, BaseModel):
            value = value.model_dump()
        if isinstance(value, Mapping):
            return {key: REDACTED if self.is_secret_key(key) else self.redact(item) for key, item in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self.redact(item) for item in value]
        return value

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
        """The structlog processor: redact, and put the standard fields first."""
        redacted = cast("dict[str, object]", self.redact(event_dict))
        ordered = {name: redacted.pop(name) for name in STANDARD_FIELDS if name in redacted}
        return ordered | redacted


def _normalise_key(key: str) -> str:
    return key.lower().replace("-", "_")


def _json_default(value: object) -> str:
    """JSON for what `json` does not know: dates in ISO 8601, the rest as text."""
    return value.isoformat() if isinstance(value, date) else str(value)


def parse_level(level: EnumLogLevel | str) -> EnumLogLevel:
    """`level` as an `EnumLogLevel` (any case).

    Raises:
        OnexError: VALIDATION_ERROR for an unknown level.
    """
    try:
        return EnumLogLevel(level.lower())
    except ValueError as exc:
        raise OnexError(
            f"unknown log level {level!r}; use one of {', '.join(EnumLogLevel)}",
            code=EnumCoreErrorCode.VALIDATION_ERROR,
            details={"level": str(level)},
        ) from exc


class NodeLoggerEffect(NodeEffect[ModelLoggerInput, ModelLoggerOutput]):
    """Structured JSON logs with secrets redacted."""

    node_name = "logger"
    health_critical = False
    handled_intents = frozenset({"logger.log"})

    def __init__(self, container: OnexContainer, *, stream: TextIO | None = None) -> None:
        """Log to `stream` if given, else to `settings.log_file`, else to stderr."""
        super().__init__(container)
        self._injected_stream = stream
        self._stream: TextIO | None = None
        self._opened_file: TextIO | None = None
        self._logger: FilteringBoundLogger | None = None
        self._min_level = EnumLogLevel.INFO

    async def on_initialize(self) -> None:
        """Check `settings.log_level`."""
        try:
            self._min_level = parse_level(self.settings.log_level)
        except OnexError as exc:
            raise OnexError(exc.message, code=EnumCoreErrorCode.CONFIGURATION_ERROR, details=exc.details) from exc

    async def on_startup(self) -> None:
        """Open the log file if one is configured, and build the structlog pipeline."""
        if self._injected_stream is not None:
            self._stream = self._injected_stream
        elif self.settings.log_file is not None:
            log_file = self.settings.log_file
            self._opened_file = await self.run_effect(lambda: asyncio.to_thread(_open_log_file, log_file))
            self._stream = self._opened_file
        else:
            self._stream = sys.stderr
        redactor = Redactor(self.settings.log_redact_keys)
        self._logger = cast(
            "FilteringBoundLogger",
            structlog.wrap_logger(
                structlog.WriteLogger(self._stream),
                processors=[
                    structlog.processors.add_log_level,
                    structlog.processors.TimeStamper(fmt="iso", utc=True),
                    redactor,
                    structlog.processors.JSONRenderer(default=_json_default),
                ],
                wrapper_class=structlog.make_filtering_bound_logger(self._min_level.number),
                context_class=dict,
                cache_logger_on_first_use=False,
            ),
        )

    async def on_shutdown(self) -> None:
        """Close the log file this node opened (an injected stream stays open)."""
        opened, self._opened_file = self._opened_file, None
        self._stream = self._logger = None
        if opened is not None:
            await asyncio.to_thread(opened.close)

    async def check_connectivity(self) -> None:
        """The stream is open."""
        if self._stream is None or self._stream.closed:
            raise OnexError("the log stream is closed", code=EnumCoreErrorCode.DEPENDENCY_UNAVAILABLE)

    async def process(self, input_data: ModelLoggerInput) -> ModelLoggerOutput:
        """Write the event if its level passes the filter."""
        written = await self._emit(input_data.level, input_data.event, input_data.logger_name, input_data.fields)
        return ModelLoggerOutput(written=written, level=input_data.level)

    async def log(
        self, level: EnumLogLevel | str, event: str, /, *, logger_name: str = DEFAULT_LOGGER_NAME, **fields: object
    ) -> bool:
        """Write one event with `fields` (any objects; secrets are redacted); False when filtered out."""
        return await self._emit(level, event, logger_name, fields)

    async def execute_intent(self, intent: ModelIntent) -> JsonValue:
        """Carry out `logger.log`: target = logger name, payload = {level, event, fields}."""
        if intent.intent_type != "logger.log":
            return await super().execute_intent(intent)
        level = intent.payload.get("level", EnumLogLevel.INFO.value)
        event = intent.payload.get("event")
        fields = intent.payload.get("fields", {})
        if not isinstance(level, str) or not isinstance(event, str) or not event or not isinstance(fields, dict):
            raise OnexError(
                "a logger.log intent needs payload.event (text); payload.level (text), payload.fields (object)",
                code=EnumCoreErrorCode.VALIDATION_ERROR,
                details={"logger": intent.target},
            )
        return {"written": await self._emit(level, event, intent.target, fields)}

    @monitor_performance("logger.log")
    async def _emit(
        self, level: EnumLogLevel | str, event: str, logger_name: str, fields: Mapping[str, object]
    ) -> bool:
        self.require_running()
        parsed = parse_level(level)
        reserved = sorted(RESERVED_FIELDS.intersection(fields))
        if reserved:
            raise OnexError(
                f"fields {reserved} are reserved for the log line itself",
                code=EnumCoreErrorCode.VALIDATION_ERROR,
                details={"reserved": list(reserved)},
            )
        if parsed.number < self._min_level.number:
            return False
        await self.check_connectivity()
        logger = self._require_logger().bind(logger=logger_name)
        await self.run_effect(lambda: self._write(logger, parsed, event, fields), retry=False)
        return True

    async def _write(
        self, logger: FilteringBoundLogger, level: EnumLogLevel, event: str, fields: Mapping[str, object]
    ) -> None:
        """Render and write in a worker thread (structlog's `alog`)."""
        try:
            await logger.alog(level.number, event, **fields)
        except OSError as exc:
            raise OnexError(f"writing the log failed: {exc}", code=EnumCoreErrorCode.DEPENDENCY_UNAVAILABLE) from exc
        except (TypeError, ValueError) as exc:
            raise OnexError(
                f"the event cannot be rendered as JSON: {exc}",
                code=EnumCoreErrorCode.VALIDATION_ERROR,
                details={"event": event},
            ) from exc

    def _require_logger(self) -> FilteringBoundLogger:
        return self.acquired(self._logger, "logger")


def _open_log_file(path: Path) -> TextIO:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("a", encoding="utf-8")
