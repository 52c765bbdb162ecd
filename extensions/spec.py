"""Feature specs: validation, and the view the feature sub-template renders.

A spec is the answers of the feature sub-template: `feature_name`,
`feature_description`, `input`, `output`, `contracts`, `steps` and optionally
`result` (where each output field comes from). `check_feature_spec` runs from a
hidden question before anything is written and fails with one message naming
the spec path of the first fault; `feature_view` is what the templates render.
The format is documented in the suite's `docs/feature-specs.md`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from .answers import AnswersError
from .catalog import ARCHETYPE_PACKAGES, ARCHETYPES, CATALOG_BY_NAME
from .contracts import (
    FORMAT_TYPES,
    REF_PREFIX,
    SCALAR_TYPES,
    ContractsView,
    SpecError,
    length_error,
    parse_contracts,
    property_schema,
    pydantic_path,
)
from .naming import identifier_error, pascal_case
from .project import ProjectState
from .pycode import Imports
from .steps import (
    EventBusPublish,
    Operation,
    StepView,
    event_name_error,
    mapping_expression,
    offered,
    parse_reference,
    value_name_error,
)

#: Names a feature cannot take: modules of the `features` package and of the library.
RESERVED_FEATURE_NAMES = frozenset({"runtime", "core", "archetypes", "schema", "features", "cli", "tests", "test"})

_QUALIFIED_NODE = re.compile(rf"^([a-z][a-z0-9_]*)_({'|'.join(ARCHETYPES)})$")

#: Kinds of reference -> the JSON Schema types a `$input` reference of that kind may point at.
_KIND_TYPES: dict[str, tuple[str, ...]] = {
    "text": ("string",),
    "secret": ("string",),
    "integer": ("integer",),
    "number": ("integer", "number"),
    "flag": ("boolean",),
    "record": ("object",),
}


class FeatureSpecError(AnswersError):
    """A feature spec that cannot produce a working feature."""


#: Error codes an example may expect (the library's `EnumCoreErrorCode` members).
ERROR_CODES = (
    "VALIDATION_ERROR",
    "INVALID_TRANSITION",
    "CIRCUIT_OPEN",
    "DEPENDENCY_UNAVAILABLE",
    "TIMEOUT",
    "NOT_FOUND",
    "CONFLICT",
    "PERMISSION_DENIED",
    "CONFIGURATION_ERROR",
    "LIFECYCLE_ERROR",
    "OPERATION_FAILED",
    "INTENT_UNROUTABLE",
    "NOT_IMPLEMENTED",
)


@dataclass(frozen=True)
class ExampleView:
    """One example of a spec: an input and the outcome the generated tests expect of it."""

    name: str
    input: dict[str, Any]
    expect: str
    error_code: str | None = None
    output: dict[str, Any] = field(default_factory=dict)


@dataclass
class FeatureView:
    """Everything the feature sub-template renders."""

    name: str
    description: str
    package_name: str
    contracts: ContractsView
    input: str
    output: str
    steps: list[StepView]
    result: dict[str, str]
    examples: list[ExampleView] = field(default_factory=list)
    state_fields: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def stem(self) -> str:
        """`UserAuth`: the prefix of the feature's classes."""
        return pascal_case(self.name)

    @property
    def input_class(self) -> str:
        """The request contract's class."""
        return self.contracts.classes[self.input]

    @property
    def output_class(self) -> str:
        """The response contract's class."""
        return self.contracts.classes[self.output]

    @property
    def topics(self) -> dict[str, str]:
        """The feature's topics, by event."""
        return {
            "requested": f"onex.cmd.{self.package_name}.{self.name}-requested.v1",
            "completed": f"onex.evt.{self.package_name}.{self.name}-completed.v1",
            "failed": f"onex.evt.{self.package_name}.{self.name}-failed.v1",
        }

    @property
    def custom_steps(self) -> list[StepView]:
        """Steps whose work is a hook in `logic.py`."""
        return [step for step in self.steps if step.operation == "custom"]

    def event_topic(self, event: str) -> str:
        """`onex.evt.<pkg>.<event>.v1`: the topic of an event a step publishes."""
        return f"onex.evt.{self.package_name}.{event}.v1"

    def published_topics(self) -> list[tuple[str, str]]:
        """(step, topic) of every event the steps publish."""
        return [
            (step.name, self.event_topic(step.config.event))
            for step in self.steps
            if isinstance(step.config, EventBusPublish)
        ]

    def json_schema(self) -> str:
        """The contracts as one JSON Schema document (draft 2020-12), closed like the models are."""

        def close(node: Any) -> Any:
            if isinstance(node, dict):
                out = {key: close(value) for key, value in node.items()}
                if isinstance(out.get("$ref"), str):
                    out["$ref"] = out["$ref"].replace(REF_PREFIX, "#/$defs/")
                if out.get("type") == "object" and "properties" in out:
                    out["additionalProperties"] = False
                return out
            if isinstance(node, list):
                return [close(item) for item in node]
            return node

        document = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": f"Contracts of the {self.name} feature",
            "$defs": {
                name: close(schema.model_dump(by_alias=True, exclude_none=True))
                for name, schema in self.contracts.schemas.items()
            },
        }
        return json.dumps(document, indent=2) + "\n"

    def contracts_imports(self) -> str:
        """The import block of `contracts.py`."""
        imports = Imports()
        imports.add("pydantic", "Field")
        if self.contracts.enums:
            imports.add("enum", "StrEnum")
        if self.contracts.uses("JsonValue"):
            imports.add("pydantic", "JsonValue")
        if self.contracts.uses("Annotated"):
            imports.add("typing", "Annotated")
        types = [name for name in (*SCALAR_TYPES.values(), *FORMAT_TYPES.values()) if self.contracts.uses(name)]
        imports.add("...core.contracts", "ModelContract", *types)
        return imports.render()

    def state_imports(self) -> str:
        """The import block of `state.py`."""
        imports = Imports()
        imports.add("pydantic", "Field")
        imports.add("..runtime", "ModelFeatureState")
        imports.add(".contracts", self.input_class)
        for step in self.steps:
            for type_ in step.produced.values():
                if type_.startswith("Model"):
                    imports.add(step.node_module, type_)
                if "JsonValue" in type_:
                    imports.add("pydantic", "JsonValue")
        return imports.render()

    def test_imports(self) -> str:
        """The import block of the feature's test module."""
        package = self.package_name
        feature = f"{package}.features.{self.name}"
        imports = Imports(first_party=package)
        imports.add("pytest")
        imports.add("pydantic", "ValidationError")
        imports.add(f"{package}.core.container", "OnexContainer")
        imports.add(f"{package}.core.errors", "EnumCoreErrorCode", "OnexError")
        imports.add(f"{package}.core.event_bus", "Envelope", "InMemoryEventBus")
        imports.add(f"{package}.features", "find_feature")
        imports.add(f"{package}.features.runtime", "FeatureRunner")
        imports.add(feature, "FEATURE")
        imports.add(f"{feature}.contracts", self.input_class)
        imports.add(f"{feature}.events", "COMPLETED_TOPIC", "FAILED_TOPIC", "REQUESTED_TOPIC")
        if any(example.expect == "completed" for example in self.examples):
            imports.add(f"{feature}.contracts", self.output_class)
        if any(example.expect != "invalid" for example in self.examples):
            imports.add(f"{package}.features.runtime", "ModelFeatureFailure")
        return imports.render()

    def workflow_imports(self) -> str:
        """The import block of `workflow.py`."""
        imports = Imports()
        imports.add("workflows", "Context", "step")
        imports.add("workflows.events", "StartEvent", "StopEvent", *(["Event"] if len(self.steps) > 1 else []))
        imports.add("uuid", "UUID")
        imports.add("...core.container", "OnexContainer")
        imports.add("...core.workflow", "OnexWorkflow")
        imports.add(".contracts", self.input_class)
        imports.add(".logic", f"{self.stem}Logic")
        imports.add(".state", f"Model{self.stem}State")
        for step in self.steps:
            for module, names in step_imports(step, self).items():
                imports.add(module, *names)
        return imports.render()

    def package_imports(self) -> str:
        """The import block of the feature's `__init__.py`."""
        imports = Imports()
        imports.add("..runtime", "Feature", "FeatureTopics")
        imports.add(".contracts", self.input_class, self.output_class)
        imports.add(".events", "COMPLETED_TOPIC", "FAILED_TOPIC", "REQUESTED_TOPIC")
        imports.add(".handlers", f"{self.stem}Handler")
        imports.add(".workflow", f"{self.stem}Workflow")
        return imports.render()

    def events_imports(self) -> str:
        """The import block of `events.py`."""
        imports = Imports()
        imports.add("pydantic", "Field")
        imports.add("...core.envelope", "OnexEnvelopeV1")
        imports.add("..runtime", "ModelFeatureFailure")
        imports.add(".contracts", self.input_class, self.output_class)
        return imports.render()

    def handlers_imports(self) -> str:
        """The import block of `handlers.py`."""
        imports = Imports()
        imports.add("uuid", "UUID", "uuid4")
        imports.add("...core.envelope", "OnexEnvelopeV1")
        imports.add("..runtime", "FeatureHandler", "ModelFeatureFailure")
        imports.add(".contracts", self.input_class, self.output_class)
        imports.add(".events", *(f"{self.stem}{event}" for event in ("Completed", "Failed", "Requested")))
        return imports.render()

    def result_mapping(self, indent: int) -> str:
        """The dict display of the response's values (the spec's `result`), its `{` at `indent`."""
        return mapping_expression(self.result, indent)

    def hooks_imports(self) -> str:
        """The import block of `hooks.py`."""
        imports = Imports()
        imports.add("..runtime", "FeatureHooks")
        imports.add(".contracts", self.output_class)
        imports.add(".state", f"Model{self.stem}State")
        if self.custom_steps:
            imports.add("pydantic", "JsonValue")
        for step in self.custom_steps:
            imports.add(step.node_module, step.node_class)
            imports.add("..runtime", "not_written")
        return imports.render()


def _module(package: str, archetype: str, name: str) -> str:
    return f"...archetypes.{package}.node_{name}_{archetype}"


def step_imports(step: StepView, view: FeatureView) -> dict[str, set[str]]:
    """What the macro of `step` uses, by module."""
    uses: dict[str, set[str]] = {step.node_module: {step.node_class}}

    def add(module: str, *names: str) -> None:
        uses.setdefault(module, set()).update(names)

    database = _module("effects", "effect", "database")
    match step.macro:
        case "validation_validate":
            add(step.node_module, "ModelValidationInput")
            if step.config.rules:  # type: ignore[attr-defined]
                add(step.node_module, "ModelValidationRule", "EnumValidationRule")
            add(".contracts", view.input_class)
            add("...core.errors", "EnumCoreErrorCode", "OnexError")
        case "hashing_hash_password":
            if step.config.algorithm:  # type: ignore[attr-defined]
                add(step.node_module, "EnumPasswordAlgorithm")
        case "hashing_verify_password":
            add("...core.errors", "EnumCoreErrorCode", "OnexError")
        case "hashing_digest":
            add(step.node_module, "EnumDigestAlgorithm")
        case "database_get":
            add("...core.errors", "EnumCoreErrorCode", "OnexError")
        case "event_bus_publish":
            add(".contracts", view.contracts.classes[step.config.contract])  # type: ignore[attr-defined]
        case "logger_log":
            add(step.node_module, "EnumLogLevel", "ModelLoggerInput")
        case "api_request":
            add(step.node_module, "EnumHttpMethod", "ModelApiInput")
            add("...core.errors", "EnumCoreErrorCode", "OnexError")
        case "llm_generate":
            add(step.node_module, "ModelLlmInput")
        case "session_open":
            add(step.node_module, "EnumSessionAction", "ModelSessionInput")
            add("..runtime", "utc_now")
            add("secrets", "token_urlsafe")
        case "metrics_record":
            add(step.node_module, "ModelMetricsInput", "ModelMetricsItem", "ModelNamespaceMetrics")
            add(step.node_module, "metrics_state_from_rows", "metrics_state_query")
            add(database, "NodeDatabaseEffect")
            add("...core.retry", "CONFLICT_RETRY", "is_conflict")
            add("..runtime", "utc_now")
        case "state_transition":
            add(step.node_module, "ModelStateInput")
            add(step.node_module, "entity_state_from_rows", "entity_state_query")
            add(database, "NodeDatabaseEffect")
            add("..runtime", "utc_now")
    return uses


# ---------------------------------------------------------------- validation


def _resolve_node(path: str, raw: object, project: ProjectState | None) -> tuple[str, str, bool]:
    """(name, archetype, is_custom) of the node a step names."""
    if not isinstance(raw, str) or not raw:
        raise SpecError(path, "name a node of the catalog (e.g. database) or a custom node (e.g. s3_effect)")
    if raw in CATALOG_BY_NAME:
        node = CATALOG_BY_NAME[raw]
        return node.name, node.archetype, False
    match = _QUALIFIED_NODE.match(raw)
    if match:
        name, archetype = match.groups()
        catalog = CATALOG_BY_NAME.get(name)
        if catalog is not None:
            if catalog.archetype != archetype:
                raise SpecError(path, f"{name!r} is the catalog's {catalog.archetype} node, not a {archetype} node")
            return name, archetype, False
        if project is not None and project.custom_nodes.get(name) != archetype:
            known = ", ".join(f"{n}_{a}" for n, a in project.custom_nodes.items()) or "none"
            raise SpecError(
                path, f"no custom node {raw!r} in this library (custom nodes: {known}); add it with kind=node"
            )
        return name, archetype, True
    known = ", ".join(CATALOG_BY_NAME)
    raise SpecError(path, f"unknown node {raw!r}; catalog nodes: {known}; custom nodes are named <name>_<archetype>")


def _operation(path: str, node: str, is_custom: bool, config: object) -> Operation:
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise SpecError(path, "a step's config is a mapping of settings")
    operations = offered(()) if is_custom else CATALOG_BY_NAME[node].step_operations()
    name = config.get("operation")
    if name is None:
        defaults = [op for op in operations if op != "custom"]
        if not defaults:
            raise SpecError(f"{path}.operation", f"node {node!r} has no built-in operation; use operation: custom")
        name = defaults[0]
        config = {**config, "operation": name}
    if name not in operations:
        raise SpecError(
            f"{path}.operation", f"{name!r} is not an operation of {node!r} (offered: {', '.join(operations)})"
        )
    try:
        return operations[name].model_validate(config)
    except ValidationError as error:
        raise pydantic_path(path, error) from None


def _check_reference(
    path: str, value: object, kind: str, contracts: ContractsView, input_name: str, produced: Mapping[str, str]
) -> None:
    reference = parse_reference(value)
    if reference is None:
        return
    if reference.head == "input":
        schema = property_schema(contracts, input_name, list(reference.path)) if reference.path else None
        if reference.path and schema is None:
            raise SpecError(
                path, f"{value!r}: the input contract {input_name} has no property {'.'.join(reference.path)!r}"
            )
        if schema is not None and kind in _KIND_TYPES and schema.type and schema.type not in _KIND_TYPES[kind]:
            raise SpecError(
                path, f"{value!r} is a {schema.type}, but this setting needs {' or '.join(_KIND_TYPES[kind])}"
            )
        return
    if reference.head not in produced:
        known = ", ".join(["input", *produced]) or "input"
        raise SpecError(
            path, f"{value!r} refers to {reference.head!r}, which no earlier step produces (known: {known})"
        )


def _named_item(path: str, item: object, keys: tuple[str, ...], what: str, taken: set[str]) -> dict[str, Any]:
    """A list item of the spec (a step, an example) that is a mapping of `keys` with a new snake_case `name`."""
    if not isinstance(item, dict):
        raise SpecError(path, f"a {what} is a mapping with {', '.join(keys)}")
    unknown = sorted(set(item) - set(keys))
    if unknown:
        raise SpecError(f"{path}.{unknown[0]}", f"unsupported key (a {what} has {', '.join(keys)})")
    name = item.get("name")
    error = (
        identifier_error(name, what=f"{what} name") or length_error(name, f"{what} name")
        if isinstance(name, str)
        else f"{what} name is missing"
    )
    if error:
        raise SpecError(f"{path}.name", error)
    if name in taken:
        raise SpecError(f"{path}.name", f"{name!r} names an earlier {what} too; {what} names must be unique")
    taken.add(str(name))
    return item


def _steps(
    raw: object, contracts: ContractsView, input_name: str, project: ProjectState | None
) -> tuple[list[StepView], dict[str, str]]:
    if not isinstance(raw, list) or not raw:
        raise SpecError("steps", "give at least one step, as a list")
    steps: list[StepView] = []
    produced: dict[str, str] = {}
    names: set[str] = set()
    for index, raw_item in enumerate(raw):
        path = f"steps.{index}"
        item = _named_item(path, raw_item, ("name", "node", "config", "description"), "step", names)
        name = str(item["name"])
        node, archetype, is_custom = _resolve_node(f"{path}.node", item.get("node"), project)
        config = _operation(f"{path}.config", node, is_custom, item.get("config"))
        for setting, value, kind in config.references():
            _check_reference(f"{path}.config.{setting}", value, kind, contracts, input_name, produced)
        if isinstance(config, EventBusPublish):
            if config.contract not in contracts.classes:
                raise SpecError(f"{path}.config.contract", f"{config.contract!r} names no contract of this spec")
            error = event_name_error(config.event) or length_error(config.event, "event name")
            if error:
                raise SpecError(f"{path}.config.event", error)
        for value_name, type_ in config.produced().items():
            error = value_name_error(value_name) or length_error(value_name, "value name")
            if error:
                raise SpecError(f"{path}.config.into", error)
            if value_name in produced:
                raise SpecError(f"{path}.config.into", f"{value_name!r} is produced by an earlier step already")
            produced[value_name] = type_
        if project is not None:
            _check_library_has(f"{path}.node", project, node, archetype, is_custom, config)
        description = item.get("description")
        steps.append(
            StepView(
                name=name,
                node=node,
                archetype=archetype,
                node_class=f"Node{pascal_case(node)}{pascal_case(archetype)}",
                node_module=_module(ARCHETYPE_PACKAGES[archetype], archetype, node),  # type: ignore[index]
                operation=str(getattr(config, "operation", "custom")),
                config=config,
                description=str(description) if description else _default_description(name, node, archetype),
                produced=config.produced(),
                event_class=f"{pascal_case(name)}Done",
                is_custom_node=is_custom,
            )
        )
    return steps, produced


def _default_description(step: str, node: str, archetype: str) -> str:
    return f"{step.replace('_', ' ').capitalize()} ({node} {archetype})."


def _check_library_has(
    path: str, project: ProjectState, node: str, archetype: str, is_custom: bool, config: Operation
) -> None:
    if not is_custom and node not in project.library_nodes:
        raise SpecError(
            path,
            f"this library was generated without the {node!r} node (its nodes: {', '.join(project.library_nodes)})",
        )
    if config.needs_database and "database" not in project.library_nodes:
        raise SpecError(
            path, f"the {node!r} step persists its intents through the database node, which this library lacks"
        )


def _result(
    raw: object, contracts: ContractsView, output: str, input_name: str, produced: dict[str, str]
) -> dict[str, str]:
    """Output field (spec name) -> reference or literal, explicit ones first, the rest by name."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise SpecError(
            "result", "map fields of the output contract to references, e.g. {session_id: $session.session_id}"
        )
    properties = contracts.schemas[output].properties or {}
    required = set(contracts.schemas[output].required or [])
    result: dict[str, str] = {}
    for key, value in raw.items():
        if key not in properties:
            raise SpecError(f"result.{key}", f"the output contract {output} has no property {key!r}")
        _check_reference(f"result.{key}", value, "value", contracts, input_name, produced)
        result[key] = value
    input_properties = contracts.schemas[input_name].properties or {}
    for key in properties:
        if key in result:
            continue
        if key in produced:
            result[key] = f"${key}"
        elif key in input_properties:
            result[key] = f"$input.{key}"
        elif key in required:
            raise SpecError(
                f"result.{key}",
                "required, but no step produces a value of that name and the input has no such property; "
                f"map it in result (e.g. result: {{{key}: $<value>.<field>}})",
            )
    return {key: result[key] for key in properties if key in result}


def _examples(raw: object, contracts: ContractsView, output: str) -> list[ExampleView]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise SpecError("examples", "a list of examples, each with name, input and expect")
    examples: list[ExampleView] = []
    names: set[str] = set()
    for index, raw_item in enumerate(raw):
        path = f"examples.{index}"
        item = _named_item(path, raw_item, ("name", "input", "expect", "error_code", "output"), "example", names)
        name = str(item["name"])
        if not isinstance(item.get("input"), dict):
            raise SpecError(f"{path}.input", "the request, as a mapping of the input contract's properties")
        expect = item.get("expect")
        if expect not in ("completed", "failed", "invalid"):
            raise SpecError(
                f"{path}.expect", "one of completed, failed (the run fails) or invalid (refused before it runs)"
            )
        code = item.get("error_code")
        if code is not None and (expect == "completed" or code not in ERROR_CODES):
            raise SpecError(f"{path}.error_code", f"an error code of a failed example, one of {', '.join(ERROR_CODES)}")
        expected_output = item.get("output") or {}
        properties = contracts.schemas[output].properties or {}
        if not isinstance(expected_output, dict) or (expect != "completed" and expected_output):
            raise SpecError(f"{path}.output", "a mapping of output properties, for a completed example only")
        for key in expected_output:
            if key not in properties:
                raise SpecError(f"{path}.output.{key}", f"the output contract {output} has no property {key!r}")
        examples.append(ExampleView(name, item["input"], str(expect), code, expected_output))
    return examples


def _contract_name(key: str, value: object, view: ContractsView) -> str:
    """`input` or `output`: the name of a contract of the spec."""
    if not isinstance(value, str) or value not in view.classes:
        raise SpecError(key, f"{value!r} names no contract of this spec (contracts: {', '.join(view.classes)})")
    return value


def build_feature(
    *,
    feature_name: object,
    feature_description: object,
    input: object,
    output: object,
    contracts: object,
    steps: object,
    result: object = None,
    examples: object = None,
    package_name: str = "",
    project: ProjectState | None = None,
) -> FeatureView:
    """Validate a spec and return what the templates render.

    `project` is the library the feature is added to (at `copier copy`); None skips
    the checks that need it (during `copier update`).

    Raises:
        SpecError: at the spec path of the first fault.
    """
    if project is not None and not project.is_library:
        raise SpecError(
            "destination",
            f"{project.root} holds no ONEX library (no .copier-answers.yml of the library); "
            "generate the library first, then add features to it",
        )
    if not package_name:
        raise SpecError("package_name", "unknown: add features to a library generated by this suite")
    if not isinstance(feature_name, str):
        raise SpecError("feature_name", "missing: give the feature a snake_case name")
    error = identifier_error(feature_name, what="feature_name") or length_error(feature_name, "feature_name")
    if error:
        raise SpecError("feature_name", error.removeprefix("feature_name "))
    if feature_name in RESERVED_FEATURE_NAMES:
        raise SpecError("feature_name", f"{feature_name!r} is reserved by the library; choose another name")
    if project is not None and feature_name in project.features:
        raise SpecError(
            "feature_name",
            f"the library already has a feature {feature_name!r}; change it with "
            f"`copier update -a .copier/feature-{feature_name}.yml`, or choose another name",
        )
    if not isinstance(feature_description, str):
        raise SpecError("feature_description", "must be text")
    view = parse_contracts(contracts)
    input_name, output_name = _contract_name("input", input, view), _contract_name("output", output, view)
    if project is not None and "workflow" not in project.library_nodes:
        raise SpecError("steps", "features run on the workflow orchestrator, which this library was generated without")
    step_views, produced = _steps(steps, view, input_name, project)
    mapping = _result(result, view, output_name, input_name, produced)
    feature = FeatureView(
        name=feature_name,
        description=feature_description.strip() or f"The {feature_name} feature.",
        package_name=package_name,
        contracts=view,
        input=input_name,
        output=output_name,
        steps=step_views,
        result=mapping,
        examples=_examples(examples, view, output_name),
    )
    feature.state_fields = [(name, type_, step.name) for step in step_views for name, type_ in step.produced.items()]
    _check_class_names(feature)
    return feature


def _check_class_names(feature: FeatureView) -> None:
    """A contract's class must not take a name the feature's other modules import or define beside it."""
    taken = {"ModelContract", "ModelFeatureState", "ModelFeatureFailure", f"Model{feature.stem}State"}
    for step in feature.steps:
        taken.update(step.produced.values())
        for module, names in step_imports(step, feature).items():
            if module != ".contracts":
                taken.update(names)
    for contract, class_name in feature.contracts.classes.items():
        if class_name in taken:
            raise SpecError(
                f"contracts.{contract}", f"generates the class {class_name}, which the feature's code uses already"
            )


def check_feature_spec(**answers: Any) -> str:
    """Raise `FeatureSpecError` with one message naming the fault's spec path; "" when the spec is good."""
    try:
        build_feature(**answers)
    except SpecError as error:
        raise FeatureSpecError(f"Invalid feature spec: {error}") from None
    return ""
