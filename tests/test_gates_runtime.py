"""The runtime gates PV-001..PV-003, CV-001, PF-001, PF-002 and FV-001: they pass on clean libraries and bite.

Each plant copies `feature_library`, plants one violation where a user would
write it (a feature's `logic.py`, a node module, a workflow step) and runs the
gates: the planted gate fails with a finding that names the file and the
reason, while the other runtime gates and the static gates pass (`-m
gates_matrix`: all 23 gates). Every plant keeps the library's own tests green:
the gates catch what those tests do not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from .gates import PLANT_SCOPES, assert_only_gate_fails, copy_library, describe, gate_result, run_gates
from .project_env import ProjectEnv

#: The gates of this file: they import and run the library.
MINE = ("PV-001", "PV-002", "PV-003", "CV-001", "PF-001", "PF-002", "FV-001")
#: Those that run feature requests, and skip a library without features.
NEED_FEATURES = ("PV-001", "PV-002", "PV-003", "CV-001", "PF-001")

FEATURES = Path("src/onex_demo/features")


def run_plant_gates(env: ProjectEnv, library: Path, scope: str) -> dict[str, Any]:
    """The gates a runtime plant runs: every runtime and static gate, or all 23 for the matrix."""
    return run_gates(env, library, *(["--runs", "runtime", "--runs", "static"] if scope == "static" else []))


def planted(feature_library: Path, tmp_path: Path) -> Path:
    """A copy of the feature library to plant into."""
    return copy_library(feature_library, tmp_path / "onex-demo")


def edit(path: Path, old: str, new: str) -> None:
    """Replace the one occurrence of `old` in `path` with `new`."""
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} is not in {path} exactly once"
    path.write_text(text.replace(old, new), encoding="utf-8")


def statuses(report: dict[str, Any]) -> dict[str, str]:
    return {result["id"]: result["status"] for result in report["gates"]}


def test_the_runtime_gates_pass_on_a_library_with_features(
    feature_library: Path, project_env: ProjectEnv, tmp_path: Path
) -> None:
    report = run_gates(project_env, planted(feature_library, tmp_path), *MINE)
    assert statuses(report) == dict.fromkeys(MINE, "pass"), describe(report)


@pytest.mark.parametrize("fixture", ["full_library", "trio_library"])
def test_a_library_without_features_skips_the_gates_that_run_features(
    fixture: str, request: pytest.FixtureRequest, project_env: ProjectEnv, tmp_path: Path
) -> None:
    library = copy_library(request.getfixturevalue(fixture), tmp_path / "library")
    report = run_gates(project_env, library, *MINE)
    assert statuses(report) == {gate: "skip" if gate in NEED_FEATURES else "pass" for gate in MINE}, describe(report)
    why = "no workflow orchestrator" if fixture == "trio_library" else "no features"
    assert all(why in gate_result(report, gate)["reason"] for gate in NEED_FEATURES), describe(report)


@pytest.mark.parametrize("scope", PLANT_SCOPES)
def test_state_stored_under_a_string_key_fails_pv_001(
    scope: str, feature_library: Path, project_env: ProjectEnv, tmp_path: Path
) -> None:
    library = planted(feature_library, tmp_path)
    workflow = library / FEATURES / "register_user" / "workflow.py"
    edit(
        workflow,
        "            await self.logic.after_hash_password(state)\n        return HashPasswordDone()\n",
        "            await self.logic.after_hash_password(state)\n"
        '        await ctx.store.set("password_hash", await ctx.store.get("password_hash"))\n'
        "        return HashPasswordDone()\n",
    )
    report = run_plant_gates(project_env, library, scope)
    findings = assert_only_gate_fails(report, "PV-001", path="register_user/workflow.py", message="ctx.store.set")
    assert any("string key" in finding["message"] and finding["line"] for finding in findings), describe(report)


#: A logic.py that keeps the registration in progress in a class attribute, shared by every run.
SHARED_STATE_LOGIC = '''"""Your code for the register_user feature."""

from __future__ import annotations

from typing import ClassVar

from .contracts import ModelRegisterUserResponse
from .hooks import RegisterUserHooks
from .state import ModelRegisterUserState


class RegisterUserLogic(RegisterUserHooks):
    """The register_user hooks, remembering the registration in progress."""

    current: ClassVar[list[ModelRegisterUserState]] = []

    async def after_validate_input(self, state: ModelRegisterUserState) -> None:
        """Remember the registration in progress."""
        RegisterUserLogic.current.append(state)

    async def respond(self, state: ModelRegisterUserState) -> ModelRegisterUserResponse:
        """The response to the registration in progress."""
        return await super().respond(RegisterUserLogic.current[-1])
'''


@pytest.mark.parametrize("scope", PLANT_SCOPES)
def test_runs_sharing_state_fail_pv_002(
    scope: str, feature_library: Path, project_env: ProjectEnv, tmp_path: Path
) -> None:
    library = planted(feature_library, tmp_path)
    (library / FEATURES / "register_user" / "logic.py").write_text(SHARED_STATE_LOGIC, encoding="utf-8")
    report = run_plant_gates(project_env, library, scope)
    findings = assert_only_gate_fails(report, "PV-002", path="features/register_user", message="carrying data of")
    assert all("register_user" in finding["message"] for finding in findings if finding["path"]), describe(report)


#: A logic.py that fails unknown users itself, with the lookup's duration in the message.
TIMED_FAILURE_LOGIC = '''"""Your code for the user_auth feature."""

from __future__ import annotations

import time

from ...archetypes.effects.node_database_effect import NodeDatabaseEffect
from ...core.errors import EnumCoreErrorCode, OnexError
from .hooks import UserAuthHooks
from .state import ModelUserAuthState


class UserAuthLogic(UserAuthHooks):
    """The user_auth hooks, failing unknown users early."""

    async def after_validate_input(self, state: ModelUserAuthState) -> None:
        """Refuse a user who does not exist, saying how long the lookup took."""
        started = time.perf_counter_ns()
        database = await self.container.start_node(NodeDatabaseEffect)
        if await database.get_record("users", state.text("request.username")) is None:
            raise OnexError(
                f"unknown user (looked up in {time.perf_counter_ns() - started} ns)",
                code=EnumCoreErrorCode.PERMISSION_DENIED,
            )
'''


@pytest.mark.parametrize("scope", PLANT_SCOPES)
def test_an_outcome_that_changes_from_run_to_run_fails_pv_003(
    scope: str, feature_library: Path, project_env: ProjectEnv, tmp_path: Path
) -> None:
    library = planted(feature_library, tmp_path)
    (library / FEATURES / "user_auth" / "logic.py").write_text(TIMED_FAILURE_LOGIC, encoding="utf-8")
    report = run_plant_gates(project_env, library, scope)
    findings = assert_only_gate_fails(report, "PV-003", path="features/user_auth", message="unknown_user")
    assert any("payload.error.message" in finding["message"] for finding in findings), describe(report)


#: A logic.py that announces the user a second time in an envelope built from scratch (no causation).
FRESH_ENVELOPE_LOGIC = '''"""Your code for the register_user feature."""

from __future__ import annotations

from uuid import uuid4

from ...archetypes.effects.node_event_bus_effect import NodeEventBusEffect
from ...core.envelope import OnexEnvelopeV1
from .contracts import ModelUserRegistered
from .hooks import RegisterUserHooks
from .state import ModelRegisterUserState


class RegisterUserLogic(RegisterUserHooks):
    """The register_user hooks, announcing registrations once more."""

    async def after_log_registration(self, state: ModelRegisterUserState) -> None:
        """Announce the user in a new envelope."""
        bus = await self.container.start_node(NodeEventBusEffect)
        event = OnexEnvelopeV1[ModelUserRegistered](
            correlation_id=state.correlation_id or uuid4(),
            event_type="register_user.user-registered",
            source_node="register_user",
            payload=ModelUserRegistered(username=state.text("request.username"), email=state.text("request.email")),
        )
        await bus.publish("onex.evt.onex_demo.user-registered.v1", event)
'''


@pytest.mark.parametrize("scope", PLANT_SCOPES)
def test_an_event_that_does_not_derive_from_the_request_fails_cv_001(
    scope: str, feature_library: Path, project_env: ProjectEnv, tmp_path: Path
) -> None:
    library = planted(feature_library, tmp_path)
    (library / FEATURES / "register_user" / "logic.py").write_text(FRESH_ENVELOPE_LOGIC, encoding="utf-8")
    report = run_plant_gates(project_env, library, scope)
    findings = assert_only_gate_fails(report, "CV-001", path="features/register_user", message="no causation id")
    assert any("from register_user" in finding["message"] for finding in findings), describe(report)


#: A logic.py whose hook sleeps over the default latency budget of 250 ms.
SLOW_LOGIC = '''"""Your code for the user_auth feature."""

from __future__ import annotations

import asyncio

from .hooks import UserAuthHooks
from .state import ModelUserAuthState


class UserAuthLogic(UserAuthHooks):
    """The user_auth hooks, slowed down."""

    async def after_validate_input(self, state: ModelUserAuthState) -> None:
        """Wait for a slow dependency."""
        await asyncio.sleep(0.5)
'''


def test_a_feature_without_examples_runs_a_minimal_request_from_its_contract(
    feature_library: Path, project_env: ProjectEnv, tmp_path: Path
) -> None:
    library = planted(feature_library, tmp_path)
    answers = library / ".copier" / "feature-register_user.yml"
    spec = yaml.safe_load(answers.read_text(encoding="utf-8"))
    del spec["examples"]
    answers.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    (library / FEATURES / "register_user" / "logic.py").write_text(FRESH_ENVELOPE_LOGIC, encoding="utf-8")
    report = run_gates(project_env, library, "CV-001")
    messages = [finding["message"] for finding in gate_result(report, "CV-001")["findings"]]
    assert any(message.startswith("register_user minimal request: ") for message in messages), describe(report)


@pytest.mark.parametrize("scope", PLANT_SCOPES)
def test_a_workflow_over_its_latency_budget_fails_pf_001(
    scope: str, feature_library: Path, project_env: ProjectEnv, tmp_path: Path
) -> None:
    library = planted(feature_library, tmp_path)
    (library / FEATURES / "user_auth" / "logic.py").write_text(SLOW_LOGIC, encoding="utf-8")
    report = run_plant_gates(project_env, library, scope)
    findings = assert_only_gate_fails(report, "PF-001", path="user_auth/workflow.py", message="exceeds its budget")
    assert any("budget of 250 ms" in finding["message"] for finding in findings), describe(report)


@pytest.mark.parametrize("scope", PLANT_SCOPES)
def test_an_unbounded_queue_in_a_node_fails_pf_002(
    scope: str, feature_library: Path, project_env: ProjectEnv, tmp_path: Path
) -> None:
    library = planted(feature_library, tmp_path)
    edit(
        library / "src/onex_demo/archetypes/effects/node_file_effect.py",
        "        self._root: Path | None = None\n",
        "        self._root: Path | None = None\n        self._written: asyncio.Queue[Path] = asyncio.Queue()\n",
    )
    report = run_plant_gates(project_env, library, scope)
    findings = assert_only_gate_fails(report, "PF-002", path="node_file_effect.py", message="asyncio.Queue()")
    assert all(finding["line"] for finding in findings), describe(report)


@pytest.mark.parametrize("scope", PLANT_SCOPES)
def test_a_node_that_leaves_a_task_running_fails_fv_001(
    scope: str, feature_library: Path, project_env: ProjectEnv, tmp_path: Path
) -> None:
    library = planted(feature_library, tmp_path)
    edit(
        library / "src/onex_demo/archetypes/effects/node_file_effect.py",
        "        self._root = await self.run_effect(lambda: asyncio.to_thread(_prepare_root, root))\n",
        "        self._root = await self.run_effect(lambda: asyncio.to_thread(_prepare_root, root))\n"
        "        self._watcher = asyncio.get_running_loop().create_task(asyncio.sleep(3600))\n",
    )
    report = run_plant_gates(project_env, library, scope)
    findings = assert_only_gate_fails(report, "FV-001", path="node_file_effect.py", message="NodeFileEffect")
    leaked = [finding for finding in findings if "still pending" in finding["message"]]
    assert any("created at src/onex_demo/archetypes/effects/node_file_effect.py:" in f["message"] for f in leaked)


def test_a_container_that_starts_a_node_once_per_task_fails_fv_001(
    feature_library: Path, project_env: ProjectEnv, tmp_path: Path
) -> None:
    library = planted(feature_library, tmp_path)
    edit(
        library / "src/onex_demo/core/container.py",
        "        async with self._starting.setdefault(node_class, asyncio.Lock()):\n"
        "            if node not in self._started:\n"
        "                await node.startup()\n"
        "                self._started.append(node)\n",
        "        if node not in self._started:\n"
        "            await node.startup()\n"
        "            self._started.append(node)\n",
    )
    report = run_gates(project_env, library, "FV-001")
    messages = {finding["path"]: finding["message"] for finding in gate_result(report, "FV-001")["findings"]}
    assert "NodeDatabaseEffect" in messages.get("src/onex_demo/core/container.py", ""), describe(report)
    assert "ResourceWarning" in messages.get("src/onex_demo/archetypes/effects/node_database_effect.py", "")


def test_pf_002_measures_import_time_and_memory_against_its_options(
    feature_library: Path, project_env: ProjectEnv, tmp_path: Path
) -> None:
    library = planted(feature_library, tmp_path)
    gates_yaml = library / "quality" / "gates.yaml"
    entries = yaml.safe_load(gates_yaml.read_text(encoding="utf-8"))
    for entry in entries:
        if entry["id"] == "PF-002":
            entry["options"] = {**entry["options"], "import_ms": 1, "import_rss_mib": 1, "run_peak_mib": 0.001}
    gates_yaml.write_text(yaml.safe_dump(entries, sort_keys=False), encoding="utf-8")
    report = run_gates(project_env, library, "PF-002")
    messages = [finding["message"] for finding in gate_result(report, "PF-002")["findings"]]
    assert any("slowest packages: " in message and "over the budget of 1 ms" in message for message in messages)
    assert any("MiB after importing" in message for message in messages), messages
    assert any(message.startswith("register_user example ada_registers allocates") for message in messages), messages
