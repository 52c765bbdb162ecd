"""The parser node: JSON, YAML and CSV text into validated contract instances.

JSON and YAML give one record, or a list of records with `many=True`; YAML is read
with `yaml.safe_load` only, so tags that build Python objects are refused. CSV rows
(`csv.DictReader`, header first) are records; an empty cell counts as absent, so the
contract's default applies. Malformed text is a VALIDATION_ERROR naming the format
and position; invalid records name the record, line (CSV) and field of every error.
"""

from __future__ import annotations

import csv
import io
import json
from enum import StrEnum
from typing import TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, JsonValue, SerializeAsAny, ValidationError

from ...core.errors import EnumCoreErrorCode, OnexError, field_errors
from ...core.metrics import monitor_performance
from ...core.nodes import NodeCompute

ContractT = TypeVar("ContractT", bound=BaseModel)

#: Record errors listed in an error's details; the rest are only counted.
MAX_REPORTED_ERRORS = 50


class EnumParseFormat(StrEnum):
    """Text formats the parser reads."""

    JSON = "json"
    YAML = "yaml"
    CSV = "csv"


class ModelParserInput(BaseModel):
    """Text, its format, and the contract every record must satisfy."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str = Field(description="The document to parse.")
    format: EnumParseFormat = Field(description="How `text` is written.")
    contract: type[BaseModel] = Field(description="Model each record is validated into.")
    many: bool = Field(
        default=False,
        description="JSON/YAML: the document is a list of records. CSV: any number of rows (else exactly one).",
    )
    csv_delimiter: str = Field(default=",", min_length=1, max_length=1, description="CSV field separator.")


class ModelParserOutput(BaseModel):
    """The validated records, in document order."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: EnumParseFormat = Field(description="The format that was parsed.")
    records: tuple[SerializeAsAny[BaseModel], ...] = Field(description="Instances of the input's contract.")


class NodeParserCompute(NodeCompute[ModelParserInput, ModelParserOutput]):
    """Parses JSON, YAML and CSV text into validated contract instances."""

    node_name = "parser"

    async def process(self, input_data: ModelParserInput) -> ModelParserOutput:
        """Parse and validate; see `parse`."""
        return await self.parse(input_data)

    @monitor_performance("parser.parse")
    async def parse(self, input_data: ModelParserInput) -> ModelParserOutput:
        """Every record of `input_data.text` as an instance of `input_data.contract`.

        Raises:
            OnexError: VALIDATION_ERROR for malformed text or invalid records.
        """
        records = _parse(input_data, input_data.contract)
        return ModelParserOutput(format=input_data.format, records=tuple(records))

    @monitor_performance("parser.parse")
    async def parse_one(self, text: str, fmt: EnumParseFormat, contract: type[ContractT]) -> ContractT:
        """The single record of `text`, typed as `contract`."""
        (record,) = _parse(ModelParserInput(text=text, format=fmt, contract=contract), contract)
        return record

    @monitor_performance("parser.parse")
    async def parse_many(self, text: str, fmt: EnumParseFormat, contract: type[ContractT]) -> list[ContractT]:
        """Every record of `text` (a JSON/YAML list, or CSV rows), typed as `contract`."""
        return _parse(ModelParserInput(text=text, format=fmt, contract=contract, many=True), contract)


def _parse(input_data: ModelParserInput, contract: type[ContractT]) -> list[ContractT]:
    if input_data.format is EnumParseFormat.CSV:
        rows = _read_csv(input_data.text, input_data.csv_delimiter)
        if not input_data.many and len(rows) != 1:
            raise OnexError(
                f"csv: expected exactly one row, found {len(rows)}",
                code=EnumCoreErrorCode.VALIDATION_ERROR,
                details={"format": "csv", "rows": len(rows)},
            )
        return _validate_records(contract, EnumParseFormat.CSV, rows)
    document = _load_json(input_data.text) if input_data.format is EnumParseFormat.JSON else _load_yaml(input_data.text)
    if not input_data.many:
        return _validate_records(contract, input_data.format, [(document, None)])
    if not isinstance(document, list):
        raise OnexError(
            f"{input_data.format}: expected a list of records, found {type(document).__name__}",
            code=EnumCoreErrorCode.VALIDATION_ERROR,
            details={"format": input_data.format.value},
        )
    return _validate_records(contract, input_data.format, [(item, None) for item in document])


def _load_json(text: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _syntax_error(EnumParseFormat.JSON, exc.msg, exc.lineno, exc.colno) from exc


def _load_yaml(text: str) -> object:
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "malformed YAML"
        if mark is None:
            raise _syntax_error(EnumParseFormat.YAML, problem, None, None) from exc
        raise _syntax_error(EnumParseFormat.YAML, problem, mark.line + 1, mark.column + 1) from exc
    except yaml.YAMLError as exc:
        raise _syntax_error(EnumParseFormat.YAML, str(exc), None, None) from exc


def _read_csv(text: str, delimiter: str) -> list[tuple[object, int | None]]:
    """Each row as a dict without its empty cells, with the line it ends on."""
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows: list[tuple[object, int | None]] = []
    try:
        header = reader.fieldnames or []
        if len(set(header)) != len(header):
            duplicates = sorted({name for name in header if header.count(name) > 1})
            raise _syntax_error(EnumParseFormat.CSV, f"duplicate header names {duplicates}", 1, None)
        for row in reader:
            if None in row or None in row.values():
                raise _syntax_error(
                    EnumParseFormat.CSV,
                    f"row has a different number of fields than the header's {len(header)}",
                    reader.line_num,
                    None,
                )
            rows.append(({name: value for name, value in row.items() if value != ""}, reader.line_num))
    except csv.Error as exc:  # raised before the bad row is counted: it starts on the next line
        raise _syntax_error(EnumParseFormat.CSV, str(exc), reader.line_num + 1, None) from exc
    return rows


def _validate_records(
    contract: type[ContractT], fmt: EnumParseFormat, records: list[tuple[object, int | None]]
) -> list[ContractT]:
    """Validate every record; report the errors of all of them at once."""
    valid: list[ContractT] = []
    errors: list[dict[str, JsonValue]] = []
    for index, (record, line) in enumerate(records):
        try:
            valid.append(contract.model_validate(record))
        except ValidationError as exc:
            errors += [{"record": index, "line": line, **error.model_dump()} for error in field_errors(exc)]
    if not errors:
        return valid
    first = errors[0]
    where = f"record {first['record']}" + (f" (line {first['line']})" if first["line"] is not None else "")
    field = f", field {first['field']!r}" if first["field"] else ""
    more = f" (and {len(errors) - 1} more errors)" if len(errors) > 1 else ""
    raise OnexError(
        f"{fmt}: {where}{field}: {first['message']}{more}",
        code=EnumCoreErrorCode.VALIDATION_ERROR,
        details={
            "format": fmt.value,
            "contract": contract.__name__,
            "record": first["record"],
            "line": first["line"],
            "field": first["field"],
            "error_count": len(errors),
            "errors": list(errors[:MAX_REPORTED_ERRORS]),
        },
    )


def _syntax_error(fmt: EnumParseFormat, problem: str, line: int | None, column: int | None) -> OnexError:
    """Malformed text: the format, the 1-based position when known, and the parser's complaint."""
    position = [f"{name} {value}" for name, value in (("line", line), ("column", column)) if value is not None]
    at = f" at {', '.join(position)}" if position else ""
    return OnexError(
        f"malformed {fmt}{at}: {problem}",
        code=EnumCoreErrorCode.VALIDATION_ERROR,
        details={"format": fmt.value, "line": line, "column": column, "problem": problem},
    )
