"""The validation node: checks a payload against a contract model and declarative rules.

The payload (a dict of JSON values) is validated by the contract's own Pydantic
validators, then by `ModelValidationRule`s (required, lengths, pattern, choices,
bounds, field equality). Every violation of both is reported with its dotted
field path, not just the first; a valid payload comes back normalised (coerced,
defaults filled) as the contract dumps it to JSON.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError, model_validator

from ...core.errors import EnumCoreErrorCode, OnexError, field_errors
from ...core.metrics import monitor_performance
from ...core.nodes import NodeCompute

ContractT = TypeVar("ContractT", bound=BaseModel)

_MISSING = object()


class EnumValidationRule(StrEnum):
    """What a declarative rule checks."""

    REQUIRED = "required"
    MIN_LENGTH = "min_length"
    MAX_LENGTH = "max_length"
    PATTERN = "pattern"
    ONE_OF = "one_of"
    MINIMUM = "minimum"
    MAXIMUM = "maximum"
    EQUALS_FIELD = "equals_field"


class EnumViolationSource(StrEnum):
    """Who found a violation."""

    CONTRACT = "contract"
    RULE = "rule"


class ModelValidationRule(BaseModel):
    """One declarative rule on one field; its `value` must suit its `rule`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    field: str = Field(min_length=1, description="Dotted path of the field, e.g. `address.zip` or `items.0.sku`.")
    rule: EnumValidationRule = Field(description="What to check.")
    value: JsonValue = Field(
        default=None,
        description=(
            "The rule's argument: a length (min/max_length), a regular expression searched in the text (pattern), "
            "a list of allowed values (one_of), a number (minimum/maximum), a field path (equals_field); "
            "none for required."
        ),
    )
    message: str | None = Field(default=None, description="Message reported instead of the default one.")

    @model_validator(mode="after")
    def _check_value(self) -> ModelValidationRule:
        rule, value = self.rule, self.value
        if rule in (EnumValidationRule.MIN_LENGTH, EnumValidationRule.MAX_LENGTH):
            if not (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
                raise ValueError(f"{rule} needs a non-negative integer value")
        elif rule in (EnumValidationRule.MINIMUM, EnumValidationRule.MAXIMUM):
            if not _is_number(value):
                raise ValueError(f"{rule} needs a number value")
        elif rule is EnumValidationRule.ONE_OF:
            if not isinstance(value, list) or not value:
                raise ValueError("one_of needs a non-empty list of allowed values")
        elif rule is EnumValidationRule.PATTERN:
            if not isinstance(value, str):
                raise ValueError("pattern needs a regular expression string")
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"pattern is not a valid regular expression: {exc}") from exc
        elif rule is EnumValidationRule.EQUALS_FIELD:
            if not isinstance(value, str) or not value:
                raise ValueError("equals_field needs the dotted path of the other field")
        elif value is not None:
            raise ValueError("required takes no value")
        return self


class ModelValidationViolation(BaseModel):
    """One thing wrong with the payload. Messages never repeat the offending value."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    field: str = Field(description="Dotted path of the field; empty for the payload as a whole.")
    code: str = Field(description="Pydantic's error type (e.g. `string_too_short`) or the rule name.")
    message: str = Field(description="What is wrong, for people.")
    source: EnumViolationSource = Field(description="Whether the contract or a rule found it.")


class ModelValidationInput(BaseModel):
    """A payload, the contract it must satisfy, and extra rules."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    payload: dict[str, JsonValue] = Field(description="The data to check, as JSON values.")
    contract: type[BaseModel] | None = Field(default=None, description="Model the payload must validate into.")
    rules: tuple[ModelValidationRule, ...] = Field(default=(), description="Rules checked after the contract.")


class ModelValidationOutput(BaseModel):
    """Every violation found, and the normalised payload when there are none."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    valid: bool = Field(description="Whether no violation was found.")
    violations: tuple[ModelValidationViolation, ...] = Field(description="Contract violations, then rule ones.")
    normalized: dict[str, JsonValue] | None = Field(
        description="The contract's JSON dump of the payload (the payload itself without a contract); None if invalid."
    )


class NodeValidationCompute(NodeCompute[ModelValidationInput, ModelValidationOutput]):
    """Checks a payload against a contract and declarative rules, listing every violation."""

    node_name = "validation"

    async def process(self, input_data: ModelValidationInput) -> ModelValidationOutput:
        """Validate `input_data.payload`; see `validate`."""
        return await self.validate(input_data)

    @monitor_performance("validation.validate")
    async def validate(self, input_data: ModelValidationInput) -> ModelValidationOutput:
        """Check the payload; invalid data is a result (`valid=False`), not an error."""
        result, _ = _validate(input_data)
        return result

    @monitor_performance("validation.ensure_valid")
    async def ensure_valid(
        self,
        payload: dict[str, JsonValue],
        contract: type[ContractT],
        rules: tuple[ModelValidationRule, ...] = (),
    ) -> ContractT:
        """The payload as a `contract` instance; `OnexError(VALIDATION_ERROR)` listing every violation otherwise."""
        result, instance = _validate(ModelValidationInput(payload=payload, contract=contract, rules=rules))
        if result.valid and isinstance(instance, contract):
            return instance
        first = result.violations[0]
        more = len(result.violations) - 1
        raise OnexError(
            f"{contract.__name__} is invalid: {first.field or 'payload'}: {first.message}"
            + (f" (and {more} more)" if more else ""),
            code=EnumCoreErrorCode.VALIDATION_ERROR,
            details={
                "contract": contract.__name__,
                "violations": [v.model_dump(mode="json") for v in result.violations],
            },
        )


def _validate(input_data: ModelValidationInput) -> tuple[ModelValidationOutput, BaseModel | None]:
    """Contract first, then the rules, on the normalised payload when the contract accepted it."""
    violations, instance = _check_contract(input_data.payload, input_data.contract)
    checked = input_data.payload if instance is None else _dump(instance)
    contract_failures = {v.field for v in violations}
    violations += [
        violation
        for rule in input_data.rules
        if rule.field not in contract_failures  # one bad value is reported once
        for violation in _check_rule(checked, rule)
    ]
    valid = not violations
    output = ModelValidationOutput(valid=valid, violations=tuple(violations), normalized=checked if valid else None)
    return output, instance


def _check_contract(
    payload: dict[str, JsonValue], contract: type[BaseModel] | None
) -> tuple[list[ModelValidationViolation], BaseModel | None]:
    if contract is None:
        return [], None
    try:
        return [], contract.model_validate(payload)
    except ValidationError as exc:
        violations = [
            ModelValidationViolation(**error.model_dump(), source=EnumViolationSource.CONTRACT)
            for error in field_errors(exc)
        ]
        return violations, None


def _dump(instance: BaseModel) -> dict[str, JsonValue]:
    """The instance as JSON values, keyed as the payload was (by alias)."""
    dumped: dict[str, JsonValue] = instance.model_dump(mode="json", by_alias=True)
    return dumped


def _check_rule(payload: dict[str, JsonValue], rule: ModelValidationRule) -> list[ModelValidationViolation]:
    value = _lookup(payload, rule.field)
    if rule.rule is EnumValidationRule.REQUIRED:
        problem = "is required" if value is _MISSING or value is None or value == "" else None
    elif value is _MISSING or value is None:
        return []  # only `required` cares about absent values
    else:
        problem = _rule_problem(payload, rule, value)
    if problem is None:
        return []
    return [
        ModelValidationViolation(
            field=rule.field, code=rule.rule.value, message=rule.message or problem, source=EnumViolationSource.RULE
        )
    ]


def _rule_problem(payload: dict[str, JsonValue], rule: ModelValidationRule, value: object) -> str | None:
    """What is wrong with the present `value` under `rule`, or None."""
    match rule.rule, rule.value:
        case EnumValidationRule.MIN_LENGTH | EnumValidationRule.MAX_LENGTH, int(limit):
            return _length_problem(rule.rule, value, limit)
        case EnumValidationRule.PATTERN, str(pattern):
            return _pattern_problem(value, pattern)
        case EnumValidationRule.ONE_OF, list(choices):
            return None if value in choices else f"must be one of {choices}"
        case EnumValidationRule.MINIMUM | EnumValidationRule.MAXIMUM, int(limit) | float(limit):
            return _bound_problem(rule.rule, value, limit)
        case EnumValidationRule.EQUALS_FIELD, str(other):
            return None if value == _lookup(payload, other) else f"must equal {other}"
    return None


def _length_problem(kind: EnumValidationRule, value: object, limit: int) -> str | None:
    if not isinstance(value, str | list | dict):
        return "must be a string, list or object"
    if kind is EnumValidationRule.MIN_LENGTH and len(value) < limit:
        return f"must have a length of at least {limit}"
    if kind is EnumValidationRule.MAX_LENGTH and len(value) > limit:
        return f"must have a length of at most {limit}"
    return None


def _pattern_problem(value: object, pattern: str) -> str | None:
    if not isinstance(value, str):
        return "must be a string"
    return None if re.search(pattern, value) else f"must match the pattern {pattern!r}"


def _bound_problem(kind: EnumValidationRule, value: object, limit: float) -> str | None:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "must be a number"
    if kind is EnumValidationRule.MINIMUM and value < limit:
        return f"must be at least {limit}"
    if kind is EnumValidationRule.MAXIMUM and value > limit:
        return f"must be at most {limit}"
    return None


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _lookup(payload: dict[str, JsonValue], path: str) -> object:
    """The value at dotted `path` (digits index lists), or `_MISSING`."""
    current: object = payload
    for part in path.split("."):
        if isinstance(current, dict):
            current = current.get(part, _MISSING)
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return _MISSING
    return current
