"""The quality-gate framework of generated libraries, and the structural gates SV-001..SV-004.

A clean library with the example features passes all 23 gates; the runner picks,
reports and exits as its CLI says; each structural gate fails on its planted
violation with a finding that names the file and the reason.
"""

from __future__ import annotations

import ast
import importlib
import json
import re
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from .gates import (
    PLANT_SCOPES,
    assert_all_pass,
    assert_only_gate_fails,
    gate_result,
    gated_copy,
    run_gates,
    run_plant,
)
from .project_env import ProjectEnv
from .rendering import SUITE_ROOT

LIBRARY_TEMPLATE = SUITE_ROOT / "template" / "library"
GATES_YAML = LIBRARY_TEMPLATE / "quality" / "gates.yaml"

#: DESIGN.md §5: the 23 gates, with the ids, names and categories of the ONEX gate specification.
SPECIFIED_GATES = [
    ("SV-001", "Input Validation", "structural"),
    ("SV-002", "Process Validation", "structural"),
    ("SV-003", "Output Validation", "structural"),
    ("SV-004", "Integration Testing", "structural"),
    ("PV-001", "Context Synchronization", "process"),
    ("PV-002", "Coordination Validation", "process"),
    ("PV-003", "Result Consistency", "process"),
    ("IV-001", "Contract Completeness", "interface"),
    ("IV-002", "Contract Application", "interface"),
    ("IV-003", "Catalog Capture", "interface"),
    ("CV-001", "Context Inheritance", "coordination"),
    ("CV-002", "Node Coordination", "coordination"),
    ("CV-003", "Delegation Validation", "coordination"),
    ("QC-001", "ONEX Standards", "quality-compliance"),
    ("QC-002", "Anti-YOLO Compliance", "quality-compliance"),
    ("QC-003", "Type Safety", "quality-compliance"),
    ("QC-004", "Error Handling", "quality-compliance"),
    ("PF-001", "Performance Thresholds", "performance"),
    ("PF-002", "Resource Utilization", "performance"),
    ("KV-001", "Documentation", "knowledge"),
    ("KV-002", "Pattern Reuse", "knowledge"),
    ("FV-001", "Lifecycle Compliance", "framework"),
    ("FV-002", "Framework Integration", "framework"),
]
GATE_IDS = [gate_id for gate_id, _, _ in SPECIFIED_GATES]


@pytest.fixture(scope="module")
def library(feature_library: Path, project_env: ProjectEnv, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of `feature_library` to run gates on (runs write build/gates/ into it)."""
    return gated_copy(project_env, feature_library, tmp_path_factory.mktemp("gates") / "onex-demo")


@pytest.fixture
def copy(feature_library: Path, project_env: ProjectEnv, tmp_path: Path) -> Path:
    """A fresh copy of `feature_library` for one planted violation."""
    return gated_copy(project_env, feature_library, tmp_path / "onex-demo")


def quality(env: ProjectEnv, project: Path, *args: str) -> tuple[int, str, str]:
    """Run `python -m quality *args` in `project`: exit code, stdout, stderr."""
    result = env.run("python", "-m", "quality", *args, cwd=project, check=False)
    return result.returncode, result.stdout, result.stderr


def replace_once(path: Path, old: str, new: str) -> None:
    """Replace the one occurrence of `old` in `path`."""
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} is not once in {path}"
    path.write_text(text.replace(old, new), encoding="utf-8")


# --- the specification ---------------------------------------------------------------------------


def test_gates_yaml_specifies_the_23_gates_of_the_design() -> None:
    entries = yaml.safe_load(GATES_YAML.read_text(encoding="utf-8"))
    assert [(entry["id"], entry["name"], entry["category"]) for entry in entries] == SPECIFIED_GATES
    for entry in entries:
        assert set(entry) == {"id", "name", "category", "checks", "blocking", "budget_ms", "runs", "options"}, entry
        assert entry["checks"].strip(), entry["id"]
        assert entry["runs"] in ("static", "tool", "runtime"), entry["id"]
        assert entry["budget_ms"] > 0, entry["id"]
        assert isinstance(entry["blocking"], bool), entry["id"]
        assert isinstance(entry["options"], dict), entry["id"]
    static = [entry for entry in entries if entry["runs"] == "static"]
    assert static, "the static gates are what pre-commit and the plant tests run"
    assert all(entry["budget_ms"] == 200 for entry in static), "the ONEX target is 200 ms per gate"


def test_every_category_has_a_nox_session_tagged_with_it() -> None:
    categories = {entry["category"] for entry in yaml.safe_load(GATES_YAML.read_text(encoding="utf-8"))}
    tree = ast.parse((LIBRARY_TEMPLATE / "noxfile.py").read_text(encoding="utf-8"))
    declared = [
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign)
        and any(getattr(target, "id", "") == "GATE_CATEGORIES" for target in node.targets)
    ]
    assert len(declared) == 1
    assert set(declared[0]) == categories


# --- the runner, in-process (the framework's modules are plain Python in the template) -------------


@pytest.fixture(scope="module")
def framework() -> Iterator[dict[str, ModuleType]]:
    """quality.model, quality.runner and quality.report, imported from the library template."""
    sys.path.insert(0, str(LIBRARY_TEMPLATE))
    try:
        yield {name: importlib.import_module(f"quality.{name}") for name in ("model", "runner", "report")}
    finally:
        sys.path.remove(str(LIBRARY_TEMPLATE))
        for name in [name for name in sys.modules if name == "quality" or name.startswith("quality.")]:
            del sys.modules[name]


def _spec(model: ModuleType, gate_id: str, *, blocking: bool = True) -> Any:
    return model.GateSpec(gate_id, f"Gate {gate_id}", "structural", "checks", blocking, 200, model.EnumGateRuns.STATIC)


def test_the_runner_reports_passes_failures_skips_and_broken_checks(framework: dict[str, ModuleType]) -> None:
    model, runner = framework["model"], framework["runner"]
    finding = model.Finding("src/x.py", 3, "x is wrong")

    def skipped(_: object) -> Iterator[Any]:
        raise model.GateSkipped("nothing to check")

    def broken(_: object) -> Iterator[Any]:
        raise KeyError("boom")

    checks = {
        "ZZ-001": lambda _: iter(()),
        "ZZ-002": lambda _: iter([finding]),
        "ZZ-003": skipped,
        "ZZ-004": broken,
        "ZZ-005": lambda _: iter(["not a finding"]),
    }
    model.REGISTRY.update(checks)
    try:
        specs = [_spec(model, gate_id) for gate_id in [*checks, "ZZ-006"]]
        finished: list[str] = []
        results = runner.run_gates(specs, None, jobs=3, on_result=lambda result: finished.append(result.spec.id))
    finally:
        for gate_id in checks:
            del model.REGISTRY[gate_id]
    assert [result.spec.id for result in results] == [spec.id for spec in specs], "results come in spec order"
    assert sorted(finished) == sorted(spec.id for spec in specs), "each finished gate is reported once"
    statuses = {result.spec.id: (result.status.value, result.reason, result.findings) for result in results}
    assert statuses["ZZ-001"] == ("pass", "", ())
    assert statuses["ZZ-002"] == ("fail", "", (finding,))
    assert statuses["ZZ-003"] == ("skip", "nothing to check", ())
    assert statuses["ZZ-004"][0] == "error"
    assert "KeyError: 'boom'" in statuses["ZZ-004"][1]
    assert "test_gates.py:" in statuses["ZZ-004"][1], "the reason says where the check broke"
    assert statuses["ZZ-005"][0] == "error"
    assert statuses["ZZ-006"] == ("error", "no check is registered for ZZ-006", ())


def test_performance_gates_run_last_and_alone(framework: dict[str, ModuleType]) -> None:
    model, runner = framework["model"], framework["runner"]
    lock = threading.Lock()
    running: list[str] = []
    seen: dict[str, list[str]] = {}

    def check(gate_id: str) -> Any:
        def run(_: object) -> Iterator[Any]:
            with lock:
                running.append(gate_id)
                seen[gate_id] = list(running)
            time.sleep(0.02)  # long enough for the pools to overlap gates, if they would
            with lock:
                running.remove(gate_id)
            return iter(())

        return run

    specs = [_spec(model, f"ZZ-00{index}") for index in range(1, 5)]
    specs[1] = model.GateSpec("ZZ-002", "Timed", "performance", "checks", True, 200, model.EnumGateRuns.RUNTIME)
    model.REGISTRY.update({spec.id: check(spec.id) for spec in specs})
    order: list[str] = []
    try:
        runner.run_gates(specs, None, jobs=4, on_result=lambda result: order.append(result.spec.id))
    finally:
        for spec in specs:
            del model.REGISTRY[spec.id]
    assert order[-1] == "ZZ-002"
    assert seen["ZZ-002"] == ["ZZ-002"]


def test_gates_are_picked_by_id_category_or_way_of_running(framework: dict[str, ModuleType]) -> None:
    model, runner = framework["model"], framework["runner"]
    specs = model.load_specs(GATES_YAML)
    assert [spec.id for spec in runner.select(specs)] == GATE_IDS
    assert [spec.id for spec in runner.select(specs, ["QC-001", "SV-003"])] == ["SV-003", "QC-001"]
    picked = [spec.id for spec in runner.select(specs, ["SV-004"], ["knowledge"])]
    assert picked == ["SV-004", "KV-001", "KV-002"]
    static = {spec.id for spec in specs if spec.runs.value == "static"}
    assert {spec.id for spec in runner.select(specs, runs=["static"])} == static
    with pytest.raises(runner.UnknownGateError, match=r"QC-009, XX-1 \(known: "):
        runner.select(specs, ["QC-001", "QC-009", "XX-1"])


def test_junit_counts_and_marks_every_outcome(framework: dict[str, ModuleType], tmp_path: Path) -> None:
    model, report = framework["model"], framework["report"]
    status = model.EnumGateStatus
    results = [
        model.GateResult(_spec(model, "ZZ-001"), status.PASSED, 1.0),
        model.GateResult(
            _spec(model, "ZZ-002", blocking=False),
            status.FAILED,
            2.0,
            findings=(model.Finding("a.py", 1, "bad <thing> & \x1b[31mred"), model.Finding("", None, "no file")),
        ),
        model.GateResult(_spec(model, "ZZ-003"), status.SKIPPED, 0.5, "not here"),
        model.GateResult(_spec(model, "ZZ-004"), status.ERROR, 0.1, "KeyError: 'boom'"),
    ]
    run = report.Run("demo", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), 12.5, results)
    assert not run.passed, "a blocking gate broke"
    assert [result.spec.id for result in run.blocking_failures] == ["ZZ-004"]
    root = ET.parse(report.write_junit(run, tmp_path / "junit.xml")).getroot()  # noqa: S314 - written by the test
    suite = root.find("testsuite")
    assert suite is not None
    assert {key: suite.get(key) for key in ("tests", "failures", "errors", "skipped")} == {
        "tests": "4",
        "failures": "1",
        "errors": "1",
        "skipped": "1",
    }
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert list(cases) == ["ZZ-001 Gate ZZ-001", "ZZ-002 Gate ZZ-002", "ZZ-003 Gate ZZ-003", "ZZ-004 Gate ZZ-004"]
    assert len(cases["ZZ-001 Gate ZZ-001"]) == 0
    failure = cases["ZZ-002 Gate ZZ-002"].find("failure")
    assert failure is not None
    assert failure.get("message") == "2 findings (advisory)"
    assert failure.text == "a.py:1: bad <thing> & ?[31mred\nno file"
    skipped = cases["ZZ-003 Gate ZZ-003"].find("skipped")
    assert skipped is not None
    assert skipped.get("message") == "not here"
    error = cases["ZZ-004 Gate ZZ-004"].find("error")
    assert error is not None
    assert error.get("message") == "KeyError: 'boom'"
    document = json.loads(report.write_json(run, tmp_path / "report.json").read_text(encoding="utf-8"))
    assert document["passed"] is False
    assert document["gates"][1]["findings"] == [
        {"path": "a.py", "line": 1, "message": "bad <thing> & \x1b[31mred"},
        {"path": "", "line": None, "message": "no file"},
    ]


# --- the CLI on a rendered library ---------------------------------------------------------------


def test_a_clean_library_passes_all_23_gates(library: Path, project_env: ProjectEnv) -> None:
    report = run_gates(project_env, library)
    assert [gate["id"] for gate in report["gates"]] == GATE_IDS
    assert_all_pass(report)
    assert report["project"] == "onex-demo"
    assert report["passed"] is True


def test_named_gates_run_alone(library: Path, project_env: ProjectEnv) -> None:
    report = run_gates(project_env, library, "SV-002", "sv-001")
    assert [gate["id"] for gate in report["gates"]] == ["SV-001", "SV-002"]
    assert_all_pass(report)


def test_an_unknown_gate_is_a_usage_error_that_names_it(library: Path, project_env: ProjectEnv) -> None:
    code, out, err = quality(project_env, library, "SV-001", "QC-009")
    assert code == 2
    assert not out
    assert err.count("\n") == 1, err
    assert "unknown gate id QC-009" in err
    assert "SV-001" in err, "the message lists the known gates"


def test_list_shows_what_every_gate_checks(library: Path, project_env: ProjectEnv) -> None:
    code, out, _ = quality(project_env, library, "--list")
    assert code == 0
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == GATE_IDS
    assert "quality-compliance" in lines[GATE_IDS.index("QC-001")]
    assert "ONEX Standards" in lines[GATE_IDS.index("QC-001")]


def plant_unformatted_lint(library: Path) -> None:
    """SV-003: an unused import and a function ruff would reformat, in a feature's logic."""
    logic = library / "src/onex_demo/features/user_auth/logic.py"
    logic.write_text(
        logic.read_text(encoding="utf-8")
        + "\n\nimport itertools\ndef _planted(a: int,b: int) -> int:\n    return a+b\n",
        encoding="utf-8",
    )


def test_the_table_progress_and_reports_of_a_failing_run(copy: Path, project_env: ProjectEnv) -> None:
    plant_unformatted_lint(copy)
    code, out, err = quality(project_env, copy, "SV-003", "SV-001")
    assert code == 1
    progress = err.splitlines()
    assert len(progress) == 2
    assert all(re.match(r"^\[\d/2\] SV-00[13] \S.* (pass|FAIL) +\d+(\.\d)? m?s$", line) for line in progress), err
    table = out.splitlines()
    assert re.match(r"^Gate +Name +Status +Time +Budget$", table[0])
    assert set(table[1]) == {"-"}
    assert re.match(r"^SV-001 +Input Validation +pass +\d", table[2])
    assert re.match(r"^SV-003 +Output Validation +FAIL +\d", table[3])
    findings = table[4 : table.index("")]
    assert findings, out
    assert all(line.startswith(" " * 8) for line in findings), "findings are indented under their gate"
    assert any(
        re.search(r"src/onex_demo/features/user_auth/logic\.py:\d+  F401 `itertools`", line) for line in findings
    )
    assert any("logic.py:" in line and "not formatted" in line for line in findings), out
    assert "2 gates in" in out
    assert "FAILED: SV-003" in out

    report = json.loads((copy / "build/gates/report.json").read_text(encoding="utf-8"))
    assert set(report) == {"project", "started", "duration_ms", "passed", "gates"}
    assert [gate["id"] for gate in report["gates"]] == ["SV-001", "SV-003"]
    sv003 = gate_result(report, "SV-003")
    assert set(sv003) == {
        "id", "name", "category", "blocking", "status", "duration_ms", "budget_ms", "reason", "findings"
    }  # fmt: skip
    assert sv003["status"] == "fail"
    assert sv003["duration_ms"] > 0

    junit = ET.parse(copy / "build/gates/junit.xml").getroot()  # noqa: S314 - written by the gates just run
    suite = junit.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("2", "1", "0")
    case = next(case for case in suite.iter("testcase") if case.get("name") == "SV-003 Output Validation")
    assert case.get("classname") == "quality.structural"
    failure = case.find("failure")
    assert failure is not None
    assert failure.text is not None
    assert "src/onex_demo/features/user_auth/logic.py:" in failure.text
    assert "F401" in failure.text


def test_a_failing_gate_that_does_not_block_lets_the_run_pass(copy: Path, project_env: ProjectEnv) -> None:
    plant_unformatted_lint(copy)
    spec = copy / "quality/gates.yaml"
    text = spec.read_text(encoding="utf-8")
    start = text.index("- id: SV-003")
    at = text.index("blocking: true", start)
    spec.write_text(text[:at] + "blocking: false" + text[at + len("blocking: true") :], encoding="utf-8")
    report = run_gates(project_env, copy, "SV-003")  # asserts exit 0 for a passed report
    assert report["passed"] is True
    assert gate_result(report, "SV-003")["status"] == "fail"


# --- SV-001..SV-004 on planted violations --------------------------------------------------------


@pytest.mark.parametrize("scope", PLANT_SCOPES)
def test_a_contract_that_drifted_from_its_spec_fails_sv_001(scope: str, copy: Path, project_env: ProjectEnv) -> None:
    replace_once(
        copy / ".copier/feature-user_auth.yml",
        "    required:\n    - username\n    - password\n",
        "    required:\n    - username\n",
    )
    report = run_plant(project_env, copy, "SV-001", scope)
    assert_only_gate_fails(
        report,
        "SV-001",
        path="features/user_auth/contracts.py",
        message="ModelUserAuthRequest requires ['password', 'username'], but contracts.UserAuthRequest.required",
    )
    assert_only_gate_fails(report, "SV-001", path="features/user_auth/contracts.schema.json", message="differs")


def test_a_feature_without_its_answers_file_fails_sv_001(copy: Path, project_env: ProjectEnv) -> None:
    (copy / ".copier/feature-register_user.yml").unlink()
    report = run_gates(project_env, copy, "SV-001")
    assert_only_gate_fails(report, "SV-001", path="features/register_user/__init__.py", message="no answers file")


@pytest.mark.parametrize("scope", PLANT_SCOPES)
def test_a_step_on_another_node_than_its_spec_says_fails_sv_002(
    scope: str, copy: Path, project_env: ProjectEnv
) -> None:
    answers = copy / ".copier/feature-register_user.yml"
    replace_once(answers, "node: hashing", "node: file")
    report = run_plant(project_env, copy, "SV-002", scope)
    assert_only_gate_fails(
        report,
        "SV-002",
        path="features/register_user/workflow.py",
        message="step hash_password reaches NodeHashingCompute, but the spec's step uses node file (NodeFileEffect)",
    )


def test_a_workflow_step_nothing_triggers_fails_workflow_validation(copy: Path, project_env: ProjectEnv) -> None:
    workflow = copy / "src/onex_demo/features/user_auth/workflow.py"
    replace_once(
        workflow,
        "\n\nclass UserAuthWorkflow(OnexWorkflow):",
        '\n\nclass Orphan(Event):\n    """Nothing sends this."""\n\n\nclass UserAuthWorkflow(OnexWorkflow):',
    )
    workflow.write_text(
        workflow.read_text(encoding="utf-8")
        + '\n    @step\n    async def orphan(self, ev: Orphan) -> StopEvent:\n        """Never runs."""\n'
        + "        return StopEvent(result=None)\n",
        encoding="utf-8",
    )
    report = run_gates(project_env, copy, "SV-002")
    findings = assert_only_gate_fails(
        report, "SV-002", path="features/user_auth/workflow.py", message="UserAuthWorkflow is not a valid workflow"
    )
    assert any("consumed but never produced: Orphan" in finding["message"] for finding in findings), findings


@pytest.mark.parametrize("scope", PLANT_SCOPES)
def test_code_ruff_refuses_fails_sv_003(scope: str, copy: Path, project_env: ProjectEnv) -> None:
    plant_unformatted_lint(copy)
    report = run_plant(project_env, copy, "SV-003", scope)
    assert_only_gate_fails(report, "SV-003", path="features/user_auth/logic.py", message="F401 `itertools`")
    assert_only_gate_fails(report, "SV-003", path="features/user_auth/logic.py", message="not formatted")


@pytest.mark.parametrize("scope", PLANT_SCOPES)
def test_a_failing_test_fails_sv_004(scope: str, copy: Path, project_env: ProjectEnv) -> None:
    (copy / "tests/test_planted.py").write_text(
        'def test_planted() -> None:\n    value = "one"\n    assert value == "two"\n', encoding="utf-8"
    )
    report = run_plant(project_env, copy, "SV-004", scope)
    findings = assert_only_gate_fails(report, "SV-004", path="tests/test_planted.py", message="test_planted fails")
    planted = next(finding for finding in findings if finding["path"] == "tests/test_planted.py")
    assert planted["line"] == 3, "the finding points at the failing assertion"
    assert "two" in planted["message"]


def test_a_feature_whose_end_to_end_tests_do_not_run_fails_sv_004(copy: Path, project_env: ProjectEnv) -> None:
    replace_once(
        copy / "tests/features/test_user_auth.py",
        "\n\n@pytest.fixture\n",
        '\n\npytestmark = pytest.mark.skip(reason="planted")\n\n\n@pytest.fixture\n',
    )
    report = run_gates(project_env, copy, "SV-004")
    assert_only_gate_fails(
        report, "SV-004", path="tests/features/test_user_auth.py", message="no end-to-end test of user_auth passed"
    )
