"""SV-001..SV-004: specs compile to contracts, workflows validate, code lints clean, tests pass.

The structural gates check that what the answers files say, the generated code
does: each feature's spec against its contracts and workflow (SV-001, SV-002),
the whole project against ruff (SV-003) and against its own tests (SV-004).
"""

from __future__ import annotations

import ast
import importlib
import json
import pkgutil
import re
import subprocess
import sys
import tempfile
import tomllib
import traceback
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml
from pydantic import BaseModel

from ..model import Finding, gate
from ..project import FeatureInfo, Project

__all__ = ["input_validation", "integration_testing", "output_validation", "process_validation"]

#: How a spec's `$ref` points at a contract, and how the JSON Schema document points at it.
SPEC_REF, SCHEMA_REF = "#/contracts/", "#/$defs/"


# --- helpers -------------------------------------------------------------------------------------


def _yaml_lines(text: str) -> dict[tuple[str | int, ...], int]:
    """1-based line of each key path of a YAML document: `("contracts", "UserAuthRequest")`, `("steps", 2)`."""
    lines: dict[tuple[str | int, ...], int] = {}

    def walk(node: yaml.Node, path: tuple[str | int, ...]) -> None:
        lines[path] = node.start_mark.line + 1
        if len(path) >= 3:  # noqa: PLR2004 - deep enough for contracts.<name>.<key> and steps[i].<key>
            return
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                lines[(*path, str(key.value))] = key.start_mark.line + 1
                walk(value, (*path, str(key.value)))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                walk(item, (*path, index))

    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return lines
    if root is not None:
        walk(root, ())
    return lines


def _error_line(exc: BaseException, path: Path) -> int | None:
    """The line of `path` where `exc` arose: a syntax error's line, else the deepest traceback frame in it."""
    if isinstance(exc, SyntaxError) and exc.filename and Path(exc.filename).resolve() == path.resolve():
        return exc.lineno
    frames = [frame for frame in traceback.extract_tb(exc.__traceback__) if Path(frame.filename) == path]
    return frames[-1].lineno if frames else None


def _import(project: Project, name: str, path: Path) -> tuple[ModuleType | None, Finding | None]:
    """Import module `name` of the package (`path` is its file); on failure, a finding that says why."""
    try:
        with project.import_path():
            return importlib.import_module(f"{project.package}.{name}"), None
    except Exception as exc:  # noqa: BLE001 - any import failure is the finding
        return None, _import_failure(project, exc, path)


def _import_failure(project: Project, exc: Exception, path: Path) -> Finding:
    return Finding(project.relative(path), _error_line(exc, path), f"does not import: {type(exc).__name__}: {exc}")


def _class_line(project: Project, path: Path, class_name: str) -> int | None:
    """The line of `class <class_name>` in `path`."""
    for statement in ast.walk(project.module(path)):
        if isinstance(statement, ast.ClassDef) and statement.name == class_name:
            return statement.lineno
    return None


def _closed(schema: Any) -> Any:
    """A spec schema as `contracts.schema.json` holds it: `$ref`s into `$defs`, objects closed."""
    if isinstance(schema, list):
        return [_closed(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: _closed(value) for key, value in schema.items()}
    if isinstance(out.get("$ref"), str):
        out["$ref"] = out["$ref"].replace(SPEC_REF, SCHEMA_REF)
    if out.get("type") == "object" and "properties" in out:
        out["additionalProperties"] = False
    return out


# --- SV-001 Input Validation ---------------------------------------------------------------------


@gate("SV-001")
def input_validation(project: Project) -> Iterator[Finding]:
    """SV-001: every answers file holds a valid spec, and each feature's contracts are what its spec says.

    Checked, for the whole project:

    - every answers file (`.copier-answers.yml`, `.copier/*.yml`) is a YAML mapping;
      each `.copier/feature-<name>.yml` has its feature package and each
      `.copier/node-<name>-<archetype>.yml` its node module;

    and for every feature package `features/<name>/`:

    - its answers file `.copier/feature-<name>.yml` exists and holds a spec of the
      core shape: `feature_name` is `<name>`; `contracts` maps each contract name to
      an object schema with `properties`; `input` and `output` name contracts;
      `steps` is a non-empty list of steps with a `name` and a `node`;
    - `contracts.py` imports, and each spec contract `<C>` compiles to its model
      class `Model<C>`: a Pydantic model whose fields (by their spec names) are the
      spec's properties in the spec's order, whose required fields are the spec's
      `required`, and whose JSON schema builds;
    - `contracts.schema.json` is the spec's contracts as one JSON Schema document:
      `$defs` holds exactly the spec's contracts, each equal to the spec's schema
      with `$ref`s pointing into `$defs` and every object closed
      (`additionalProperties: false`), as the feature template writes it.
    """
    yield from _answers_files(project)
    for feature in project.features:
        yield from _feature_spec(project, feature)


def _answers_files(project: Project) -> Iterator[Finding]:
    features = {feature.name for feature in project.features}
    nodes = {f"{node.name}-{node.archetype}" for node in project.nodes}
    for path in project.answers_files:
        where = project.relative(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            yield Finding(where, mark.line + 1 if mark else None, f"is not valid YAML: {exc}")
            continue
        if not isinstance(data, dict):
            yield Finding(where, None, "is not a YAML mapping of answers")
            continue
        kind, _, name = path.stem.partition("-")
        if path.parent.name == ".copier" and kind == "feature" and name not in features:
            yield Finding(where, None, f"answers feature {name!r}, which has no package features/{name}/")
        if path.parent.name == ".copier" and kind == "node" and name not in nodes:
            yield Finding(where, None, f"answers node {name!r}, which has no module node_{name.replace('-', '_')}.py")


def _feature_spec(project: Project, feature: FeatureInfo) -> Iterator[Finding]:
    answers = feature.answers_file
    if answers is None:
        yield Finding(
            project.relative(feature.path / "__init__.py"),
            None,
            f"feature {feature.name} has no answers file .copier/feature-{feature.name}.yml: its spec is lost, "
            "so `copier update` cannot regenerate it",
        )
        return
    spec, where = feature.spec, project.relative(answers)
    if not spec:
        return  # the answers-file check above says why
    lines = _yaml_lines(answers.read_text(encoding="utf-8"))
    shape = list(_spec_shape(spec, feature.name))
    for key, message in shape:
        yield Finding(where, lines.get(key) or lines.get(key[:1]), message)
    if shape:
        return
    contracts_path = feature.path / "contracts.py"
    module, failure = _import(project, f"features.{feature.name}.contracts", contracts_path)
    if module is None:
        yield failure or Finding(project.relative(contracts_path), None, "does not import")
        return
    for name, schema in spec["contracts"].items():
        for message in _contract_mismatches(module, name, schema):
            class_line = _class_line(project, contracts_path, f"Model{name}")
            yield Finding(project.relative(contracts_path), class_line or lines.get(("contracts", name)), message)
    yield from _schema_document(project, feature, spec["contracts"])


def _spec_shape(spec: Mapping[str, Any], name: str) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """(key path, why) for each way `spec` misses the core shape of a feature spec."""
    if spec.get("feature_name") != name:
        yield ("feature_name",), f"feature_name is {spec.get('feature_name')!r}, not the package's name {name!r}"
    contracts = spec.get("contracts")
    if not isinstance(contracts, dict) or not contracts:
        yield ("contracts",), "contracts must map each contract name to its JSON Schema"
        return
    for contract, schema in contracts.items():
        if not (
            isinstance(schema, dict) and schema.get("type") == "object" and isinstance(schema.get("properties"), dict)
        ):
            yield ("contracts", contract), f"contracts.{contract} must be an object schema with properties"
    for key in ("input", "output"):
        if spec.get(key) not in contracts:
            yield (key,), f"{key} is {spec.get(key)!r}, which names no contract (contracts: {', '.join(contracts)})"
    steps = spec.get("steps")
    if not isinstance(steps, list) or not steps:
        yield ("steps",), "steps must list the feature's steps"
        return
    for index, step in enumerate(steps):
        if not (isinstance(step, dict) and isinstance(step.get("name"), str) and isinstance(step.get("node"), str)):
            yield ("steps", index), f"steps[{index}] must have a name and a node"


def _contract_mismatches(module: ModuleType, name: str, schema: Mapping[str, Any]) -> Iterator[str]:
    """Why the model class of contract `name` in `module` is not what its spec `schema` says."""
    class_name = f"Model{name}"
    model = getattr(module, class_name, None)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        yield f"contract {name} has no model class {class_name} in contracts.py"
        return
    fields = {(info.alias or field): info for field, info in model.model_fields.items()}
    properties = list(schema["properties"])
    missing = [key for key in properties if key not in fields]
    extra = [key for key in fields if key not in schema["properties"]]
    if missing:
        yield f"{class_name} lacks the spec's properties {', '.join(missing)} of contracts.{name}"
    if extra:
        yield f"{class_name} has fields the spec's contracts.{name} does not: {', '.join(extra)}"
    if not missing and not extra and list(fields) != properties:
        yield f"{class_name} orders its fields {', '.join(fields)}; the spec orders them {', '.join(properties)}"
    required = {key for key, info in fields.items() if info.is_required()}
    spec_required = set(schema.get("required") or ())
    if not missing and not extra and required != spec_required:
        yield f"{class_name} requires {sorted(required)}, but contracts.{name}.required is {sorted(spec_required)}"
    try:
        model.model_json_schema()
    except Exception as exc:  # noqa: BLE001 - any failure to build the schema is the finding
        yield f"{class_name} does not compile to a JSON schema: {type(exc).__name__}: {exc}"


def _schema_document(project: Project, feature: FeatureInfo, contracts: Mapping[str, Any]) -> Iterator[Finding]:
    path = feature.path / "contracts.schema.json"
    where = project.relative(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        yield Finding(where, getattr(exc, "lineno", None), f"is not a readable JSON document: {exc}")
        return
    definitions = document.get("$defs") if isinstance(document, dict) else None
    if not isinstance(definitions, dict):
        yield Finding(where, None, "has no $defs: it should hold the feature's contracts")
        return
    if set(definitions) != set(contracts):
        yield Finding(where, None, f"$defs holds {sorted(definitions)}; the spec's contracts are {sorted(contracts)}")
    for name in sorted(set(definitions) & set(contracts)):
        if definitions[name] != _closed(contracts[name]):
            yield Finding(
                where,
                None,
                f"$defs.{name} differs from the spec's contracts.{name}: regenerate the feature "
                f"(`copier update -a .copier/feature-{feature.name}.yml`)",
            )


# --- SV-002 Process Validation -------------------------------------------------------------------


@gate("SV-002")
def process_validation(project: Project) -> Iterator[Finding]:
    """SV-002: every feature's workflow is a valid LlamaIndex workflow whose steps are the spec's, on library nodes.

    For every feature package:

    - it defines `FEATURE` (a `features.runtime.Feature`), whose workflow class
      builds and passes `Workflow.validate()` of llama-index-workflows: every
      step's signature is valid, every event a step returns is accepted by
      another step, every step is reachable from the start event and every path
      ends in a stop event;
    - every node a step reaches through the container (`await self.node(NodeX)`)
      is a node class the library discovers under `archetypes/`;
    - the workflow's steps are the spec's steps (by name), and they run in the
      spec's order: each step accepts an event the one before it returns;
    - each spec step's `node` names a node of the library, and that step's method
      calls that node's class first.
    """
    if not project.features:
        return
    registry, failure = _import(project, "core.registry", project.src / "core" / "registry.py")
    if failure is not None or registry is None:
        yield failure or Finding("", None, "core.registry does not import")
        return
    descriptors = registry.discover_nodes()
    classes = {descriptor.node_class: descriptor for descriptor in descriptors}
    names = {key: descriptor for descriptor in descriptors for key in (descriptor.name, descriptor.qualified_name)}
    for feature in project.features:
        yield from _feature_workflow(project, feature, classes, names)


def _feature_workflow(
    project: Project, feature: FeatureInfo, classes: Mapping[type, Any], names: Mapping[str, Any]
) -> Iterator[Finding]:
    init_path, workflow_path = feature.path / "__init__.py", feature.path / "workflow.py"
    package, failure = _import(project, f"features.{feature.name}", init_path)
    if failure is not None or package is None:
        yield failure or Finding(project.relative(init_path), None, "does not import")
        return
    definition = getattr(package, "FEATURE", None)
    workflow_class = getattr(definition, "workflow_class", None)
    if not isinstance(workflow_class, type):
        yield Finding(project.relative(init_path), None, f"{feature.name} defines no FEATURE with a workflow class")
        return
    where = project.relative(workflow_path)
    try:
        workflow = _build_workflow(project, workflow_class)
        workflow.validate()
    except Exception as exc:  # noqa: BLE001 - whatever makes the workflow invalid is the finding
        line = _error_line(exc, workflow_path) or _class_line(project, workflow_path, workflow_class.__name__)
        yield Finding(where, line, f"{workflow_class.__name__} is not a valid workflow: {type(exc).__name__}: {exc}")
        return
    methods = _step_methods(project, workflow_path, workflow_class.__name__)
    module = sys.modules[workflow_class.__module__]
    for step_name, method in methods.items():
        for call in _node_calls(method):
            node_class = getattr(module, call.id, None)
            if node_class not in classes:
                yield Finding(
                    where,
                    call.lineno,
                    f"step {step_name} reaches {call.id}, which is not a node class of the library's archetypes/",
                )
    yield from _steps_follow_spec(project, feature, workflow=workflow, methods=methods, names=names, module=module)


def _build_workflow(project: Project, workflow_class: type) -> Any:
    """An instance of `workflow_class` on a container with embedded settings (nothing is started)."""
    with project.import_path():
        container_module = importlib.import_module(f"{project.package}.core.container")
        settings_module = importlib.import_module(f"{project.package}.core.settings")
    settings = settings_module.ModelOnexSettings(bus_url="memory://")
    return workflow_class(container_module.OnexContainer(settings))


def _step_methods(project: Project, path: Path, class_name: str) -> dict[str, ast.AsyncFunctionDef | ast.FunctionDef]:
    """The `@step` methods of class `class_name` in `path`, by name, in source order."""
    for statement in project.module(path).body:
        if isinstance(statement, ast.ClassDef) and statement.name == class_name:
            return {
                item.name: item
                for item in statement.body
                if isinstance(item, ast.AsyncFunctionDef | ast.FunctionDef)
                and any(_decorator_name(decorator) == "step" for decorator in item.decorator_list)
            }
    return {}


def _decorator_name(decorator: ast.expr) -> str:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    if isinstance(target, ast.Attribute):
        return target.attr
    return target.id if isinstance(target, ast.Name) else ""


def _node_calls(method: ast.AST) -> list[ast.Name]:
    """The class names passed to `self.node(...)` in `method`, in source order."""
    found = [
        argument
        for node in ast.walk(method)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "node"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "self"
        and node.args
        and isinstance(argument := node.args[0], ast.Name)
    ]
    return sorted(found, key=lambda name: (name.lineno, name.col_offset))


def _steps_follow_spec(
    project: Project,
    feature: FeatureInfo,
    *,
    workflow: Any,
    methods: Mapping[str, ast.AsyncFunctionDef | ast.FunctionDef],
    names: Mapping[str, Any],
    module: ModuleType,
) -> Iterator[Finding]:
    steps = feature.spec.get("steps")
    if not isinstance(steps, list) or not all(isinstance(step, dict) for step in steps):
        return  # SV-001 reports the spec
    where = project.relative(feature.path / "workflow.py")
    answers = project.relative(feature.answers_file) if feature.answers_file else ""
    lines = _yaml_lines(feature.answers_file.read_text(encoding="utf-8")) if feature.answers_file else {}
    configs = workflow._step_configs()  # the step graph, as Workflow.validate() reads it
    spec_names = [str(step.get("name")) for step in steps]
    for name in configs:
        if name not in spec_names:
            yield Finding(where, getattr(methods.get(name), "lineno", None), f"step {name} is not a step of the spec")
    previous: str | None = None
    for index, step in enumerate(steps):
        name, node = str(step.get("name")), str(step.get("node"))
        if name not in configs:
            yield Finding(answers, lines.get(("steps", index)), f"spec step {name} is not a step of the workflow")
            previous = None
            continue
        if previous is not None and not set(configs[name].accepted_events) & set(configs[previous].return_types):
            yield Finding(
                where, methods[name].lineno if name in methods else None, f"step {name} does not follow step {previous}"
            )
        previous = name
        descriptor = names.get(node)
        if descriptor is None:
            yield Finding(
                answers, lines.get(("steps", index)), f"spec step {name} names node {node!r}, not a node of the library"
            )
            continue
        calls = _node_calls(methods[name]) if name in methods else []
        first = getattr(module, calls[0].id, None) if calls else None
        if first is not descriptor.node_class:
            reached = calls[0].id if calls else "no node"
            yield Finding(
                where,
                calls[0].lineno if calls else getattr(methods.get(name), "lineno", None),
                f"step {name} reaches {reached}, but the spec's step uses node {node} "
                f"({descriptor.node_class.__name__})",
            )


# --- SV-003 Output Validation --------------------------------------------------------------------


@gate("SV-003")
def output_validation(project: Project) -> Iterator[Finding]:
    """SV-003: the project's code imports, lints and formats clean.

    - `ruff check` (the project's configuration): each violation is a finding at
      its file and line, with ruff's code and message;
    - `ruff format --check`: each file ruff would reformat is a finding;
    - every module of the package imports (`__main__` aside, which runs the CLI).
    """
    ruff = [sys.executable, "-m", "ruff"]
    check = subprocess.Popen(  # noqa: S603 - runs ruff of this environment on the project
        [*ruff, "check", "--output-format", "json", "--exit-zero", "."],
        cwd=project.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    formatting = subprocess.run(  # noqa: S603 - runs ruff of this environment on the project
        [*ruff, "format", "--check", "--output-format", "json", "."],
        cwd=project.root,
        capture_output=True,
        text=True,
        check=False,
    )
    out, err = check.communicate()
    yield from _ruff_findings(project, "ruff check", out, err or f"exit {check.returncode}")
    if formatting.returncode in (0, 1):
        yield from _ruff_findings(project, "ruff format --check", formatting.stdout, "")
    else:
        yield Finding("", None, f"ruff format --check failed: {formatting.stderr.strip()}")
    yield from _imports(project)


#: How ruff before 0.16 (no JSON from the formatter without preview) names a file it would reformat.
_WOULD_REFORMAT = re.compile(r"^Would reformat: (?P<path>.+)$", re.MULTILINE)


def _ruff_findings(project: Project, command: str, out: str, err: str) -> Iterator[Finding]:
    """Ruff's JSON diagnostics as findings (`path:line CODE message`)."""
    try:
        violations = json.loads(out or "[]")
    except json.JSONDecodeError:
        reformat = list(_WOULD_REFORMAT.finditer(out))
        for match in reformat:
            yield Finding(Path(match["path"]).as_posix(), None, "not formatted: run `ruff format`")
        if not reformat:
            yield Finding("", None, f"{command} failed: {err.strip() or out.strip()}")
        return
    for violation in violations:
        location = violation.get("location") or {}
        code = violation.get("code") or "error"
        message = f"{code} {violation.get('message', '')}"
        if code == "unformatted":
            message = "not formatted: run `ruff format`"
        yield Finding(project.relative(Path(violation["filename"])), location.get("row"), message)


def _imports(project: Project) -> Iterator[Finding]:
    """Every module of the package imports; one that needs an optional extra not installed here is let be."""
    extras = _extra_modules(project)
    with project.import_path():
        package = importlib.import_module(project.package)
        modules = [info.name for info in pkgutil.walk_packages(package.__path__, f"{project.package}.")]
    for name in sorted(modules):
        if name.rsplit(".", 1)[-1] == "__main__":
            continue
        path = project.src / f"{name.removeprefix(f'{project.package}.').replace('.', '/')}.py"
        path = path if path.exists() else path.with_suffix("") / "__init__.py"
        try:
            with project.import_path():
                importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if (exc.name or "").split(".", 1)[0] not in extras:
                yield _import_failure(project, exc, path)
        except Exception as exc:  # noqa: BLE001 - any import failure is the finding
            yield _import_failure(project, exc, path)


def _extra_modules(project: Project) -> set[str]:
    """The import names of the optional extras' requirements (`dev` aside): `asyncpg`, `aiokafka`."""
    metadata = tomllib.loads((project.root / "pyproject.toml").read_text(encoding="utf-8")).get("project", {})
    return {
        match[0].lower().replace("-", "_")
        for extra, requirements in metadata.get("optional-dependencies", {}).items()
        if extra != "dev"
        for requirement in requirements
        if (match := re.match(r"[A-Za-z0-9._-]+", requirement))
    }


# --- SV-004 Integration Testing ------------------------------------------------------------------

#: `tests/x.py:12: AssertionError`: where a failing test stopped, in pytest's long traceback.
_CRASH = re.compile(r"^(?P<path>[^\s:]+\.py):(?P<line>\d+): (?P<error>\w+)", re.MULTILINE)


@gate("SV-004")
def integration_testing(project: Project) -> Iterator[Finding]:
    """SV-004: the project's tests pass, and every feature's workflow runs end to end in them.

    - `pytest` runs the project's test suite (its own configuration, the embedded
      backends); each failing or erroring test is a finding at the line where it
      failed (else its definition), with pytest's message;
    - every feature has `tests/features/test_<name>.py` with a test that runs the
      feature's workflow end to end (it calls `.run("<name>", ...)`, as a
      `FeatureRunner` does), and that test ran and passed.
    """
    with tempfile.TemporaryDirectory(prefix="quality-sv004-") as folder:
        report = Path(folder) / "junit.xml"
        result = subprocess.run(  # noqa: S603 - runs pytest of this environment on the project
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                f"--junitxml={report}",
                "-o",
                "junit_family=xunit1",
            ],
            cwd=project.root,
            capture_output=True,
            text=True,
            check=False,
        )
        if not report.exists():
            tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-5:])
            yield Finding("", None, f"pytest did not run (exit {result.returncode}): {tail}")
            return
        cases = list(ET.parse(report).getroot().iter("testcase"))  # noqa: S314 - pytest's own report, just written
    passed: set[tuple[str, str]] = set()
    for case in cases:
        outcome = next((child for child in case if child.tag in ("failure", "error", "skipped")), None)
        path, name = case.get("file", ""), case.get("name", "")
        if outcome is None:
            passed.add((path, name))
        elif outcome.tag != "skipped":
            yield _test_finding(path, case, outcome)
    if result.returncode not in (0, 1) and not any(case.find("error") is not None for case in cases):
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-5:])
        yield Finding("", None, f"pytest stopped (exit {result.returncode}): {tail}")
    yield from _end_to_end_tests(project, passed)


def _test_finding(path: str, case: ET.Element, outcome: ET.Element) -> Finding:
    """A failed test as a finding: where it failed inside `path`, else where it is defined."""
    text = outcome.text or ""
    crashes = [match for match in _CRASH.finditer(text) if path and match["path"].endswith(path)]
    if crashes:
        line: int | None = int(crashes[-1]["line"])
    else:  # xunit1 gives the 0-based line of the test's definition
        line = int(case.get("line", "0")) + 1 if case.get("line") else None
    what = "fails" if outcome.tag == "failure" else "errors"
    message = (outcome.get("message") or "").strip().splitlines()
    reason = message[0] if message else outcome.tag
    return Finding(path, line, f"test {case.get('name')} {what}: {reason}")


def _end_to_end_tests(project: Project, passed: set[tuple[str, str]]) -> Iterator[Finding]:
    passed_functions = {(path, name.split("[", 1)[0]) for path, name in passed}
    for feature in project.features:
        module = project.root / "tests" / "features" / f"test_{feature.name}.py"
        where = project.relative(module)
        if not module.is_file():
            yield Finding(where, None, f"feature {feature.name} has no test module that runs its workflow end to end")
            continue
        runs = _end_to_end_functions(project.module(module), feature.name)
        if not runs:
            yield Finding(where, None, f"no test runs {feature.name} end to end (`.run({feature.name!r}, ...)`)")
        elif not any((where, name.split("[", 1)[0]) in passed_functions for name in runs):
            yield Finding(
                where, None, f"no end-to-end test of {feature.name} passed ({', '.join(runs)}: failed or skipped)"
            )


def _end_to_end_functions(tree: ast.Module, feature: str) -> list[str]:
    """The test functions of `tree` that call `<something>.run("<feature>", ...)`."""
    found: list[str] = []
    for function in tree.body:
        if not isinstance(function, ast.AsyncFunctionDef | ast.FunctionDef) or not function.name.startswith("test"):
            continue
        if any(_runs_feature(node, feature) for node in ast.walk(function)):
            found.append(function.name)
    return found


def _runs_feature(node: ast.AST, feature: str) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "run"
        and bool(node.args)
        and isinstance(node.args[0], ast.Constant)
        and node.args[0].value == feature
    )
