"""The static gates QC-001..QC-004, IV-001..IV-003, CV-002, CV-003, KV-001 and KV-002: they pass on clean
libraries and bite.

Each plant copies `feature_library`, plants one violation where a user would write it (a feature's
`logic.py`, a node module, a spec, a page of docs) and runs the planted gate with the static gates
(`-m gates_matrix`: all 23): the planted gate fails with a finding that names the file and the
reason, and every other gate passes. Plants are written to pass ruff and mypy (a `noqa` where a user
would silence ruff), so that they show what the gates catch beyond the linters.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from .gates import (
    PLANT_SCOPES,
    assert_only_gate_fails,
    copy_library,
    describe,
    gate_result,
    gated_copy,
    run_gates,
    run_plant,
)
from .project_env import ProjectEnv
from .rendering import EXAMPLES, load_spec, render_feature, render_node
from .test_node_template import CASES, write_method

#: The gates of this file; QC-003 runs mypy, the others read files only.
MINE = ("IV-001", "IV-002", "IV-003", "CV-002", "CV-003", "QC-001", "QC-002", "QC-003", "QC-004", "KV-001", "KV-002")
STATIC = tuple(gate for gate in MINE if gate != "QC-003")

PACKAGE = Path("src/onex_demo")
FEATURES = PACKAGE / "features"
ARCHETYPES = PACKAGE / "archetypes"


def planted(env: ProjectEnv, feature_library: Path, tmp_path: Path, scope: str, *, mypy: bool = False) -> Path:
    """A copy of the feature library to plant into; with mypy's cache warm when a gate will run it."""
    destination = tmp_path / "onex-demo"
    if mypy or scope == "all":
        return gated_copy(env, feature_library, destination)
    return copy_library(feature_library, destination)


def edit(path: Path, old: str, new: str) -> None:
    """Replace the one occurrence of `old` in `path` with `new`."""
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} is not in {path} exactly once"
    path.write_text(text.replace(old, new), encoding="utf-8")


def tidy(env: ProjectEnv, library: Path, *paths: Path) -> None:
    """Sort the imports of `paths` and format them, as a user's editor or pre-commit does."""
    names = [str(path) for path in paths]
    env.run("python", "-m", "ruff", "check", "--quiet", "--fix", "--select", "I", *names, cwd=library)
    env.run("python", "-m", "ruff", "format", "--quiet", *names, cwd=library)


def write_logic(env: ProjectEnv, library: Path, feature: str, imports: str, body: str = "", *, after: str = "") -> Path:
    """Give the user's `logic.py` of `feature` some code: `imports`, `body` in its class, `after` the class."""
    logic = library / FEATURES / feature / "logic.py"
    head, _, tail = logic.read_text(encoding="utf-8").partition("\nclass ")
    text = f"{head}{imports}\n\nclass {tail.rstrip()}\n" + (f"\n{body}" if body else "") + after
    logic.write_text(text, encoding="utf-8")
    tidy(env, library, logic)
    return logic


def statuses(report: dict[str, Any]) -> dict[str, str]:
    return {result["id"]: result["status"] for result in report["gates"]}


# ---------------------------------------------------------------------------------------- clean libraries


@pytest.mark.parametrize("fixture", ["feature_library", "full_library", "trio_library"])
def test_the_static_gates_pass_on_clean_libraries(
    fixture: str, request: pytest.FixtureRequest, project_env: ProjectEnv, tmp_path: Path
) -> None:
    library = copy_library(request.getfixturevalue(fixture), tmp_path / "library")
    report = run_gates(project_env, library, *STATIC)
    assert statuses(report) == dict.fromkeys(STATIC, "pass"), describe(report)


def test_the_catalog_document_is_written_current_and_valid(
    feature_library: Path, project_env: ProjectEnv, tmp_path: Path
) -> None:
    library = copy_library(feature_library, tmp_path / "onex-demo")
    written = project_env.run("python", "-m", "quality.catalog", cwd=library)
    assert "docs/asyncapi.yaml" in written.stdout
    assert project_env.run("python", "-m", "quality.catalog", "--check", cwd=library).returncode == 0
    document = yaml.safe_load((library / "docs" / "asyncapi.yaml").read_text(encoding="utf-8"))
    assert document["asyncapi"] == "3.0.0"
    requested = "onex.cmd.onex_demo.user_auth-requested.v1"
    assert document["channels"][requested]["messages"] == {
        "user_auth.UserAuthRequested": {"$ref": "#/components/messages/user_auth.UserAuthRequested"}
    }
    receive = document["operations"][f"receive.{requested}"]
    assert receive["action"] == "receive"
    assert receive["channel"] == {"$ref": f"#/channels/{requested}"}
    sent = {operation["channel"]["$ref"].removeprefix("#/channels/") for operation in document["operations"].values()}
    assert {
        "onex.evt.onex_demo.user_auth-completed.v1",
        "onex.evt.onex_demo.user-registered.v1",
        "onex.evt.onex_demo.workflow-started.v1",
    } <= sent
    payload = document["components"]["messages"]["register_user.UserRegistered"]["payload"]["allOf"][1]
    assert payload["properties"]["payload"] == {"$ref": "#/components/schemas/register_user.UserRegistered"}
    assert document["components"]["schemas"]["user_auth.UserAuthRequest"]["required"] == ["username", "password"]
    nodes = {node["name"]: node for node in document["x-onex-catalog"]["nodes"]}
    assert nodes["database"]["class"] == "NodeDatabaseEffect"
    assert nodes["database"]["input"] == "ModelDatabaseInput"
    assert document["x-onex-catalog"]["intents"]["database.upsert"] == ["NodeDatabaseEffect"]
    features = {feature["name"]: feature for feature in document["x-onex-catalog"]["features"]}
    assert [step["name"] for step in features["user_auth"]["steps"]] == [
        "validate_input",
        "fetch_user",
        "verify_password",
        "open_session",
    ]
    report = run_gates(project_env, library, "IV-003")
    assert statuses(report) == {"IV-003": "pass"}, describe(report)


# ---------------------------------------------------------------------------------------- QC-001..QC-004


@pytest.mark.parametrize("scope", PLANT_SCOPES)
def test_a_compute_node_that_imports_httpx_fails_qc_001(
    scope: str, feature_library: Path, project_env: ProjectEnv, tmp_path: Path
) -> None:
    library = planted(project_env, feature_library, tmp_path, scope)
    module = library / ARCHETYPES / "compute" / "node_hashing_compute.py"
    edit(module, "from argon2 import", "import httpx\nfrom argon2 import")
    edit(
        module,
        "\n\nclass NodeHashingCompute(",
        '\n\ndef _pepper() -> str:\n    """A pepper fetched from a secrets service."""\n'
        '    return httpx.get("http://127.0.0.1:9/pepper").text\n\n\nclass NodeHashingCompute(',
    )
    tidy(project_env, library, module)
    report = run_plant(project_env, library, "QC-001", scope)
    assert_only_gate_fails(
        report, "QC-001", path="archetypes/compute/node_hashing_compute.py", message="hashing_compute imports httpx"
    )


def render_custom_nodes(library: Path) -> None:
    for case in CASES:
        render_node(library, archetype=case.archetype, node_name=case.name, node_description=case.description)


@pytest.mark.parametrize("scope", PLANT_SCOPES)
def test_custom_nodes_fail_qc_002_naming_their_unwritten_methods_until_written(
    scope: str, feature_library: Path, project_env: ProjectEnv, tmp_path: Path
) -> None:
    library = planted(project_env, feature_library, tmp_path, scope)
    render_custom_nodes(library)
    gates = ["QC-002", "--runs", "static"]
    findings = assert_only_gate_fails(run_gates(project_env, library, *gates), "QC-002", message="is not written")
    named = {finding["message"].split(" ", 1)[0]: finding["path"] for finding in findings}
    assert named == {f"{case.owner}.{case.method}": case.node.user_files("onex_demo")[0] for case in CASES}
    for case in CASES:
        write_method(library / case.node.user_files("onex_demo")[0], case)
    report = run_gates(project_env, library, *([] if scope == "all" else gates))
    assert all(status == "pass" for status in statuses(report).values()), describe(report)


#: A feature whose one step is a hook the user writes (`operation: custom`).
SHOUT = {
    "feature_name": "shout",
    "feature_description": "Shout a word back.",
    "input": "ShoutRequest",
    "output": "ShoutResponse",
    "contracts": {
        "ShoutRequest": {
            "type": "object",
            "description": "A word to shout.",
            "properties": {"word": {"type": "string", "minLength": 1, "description": "The word."}},
            "required": ["word"],
        },
        "ShoutResponse": {
            "type": "object",
            "description": "The word, shouted.",
            "properties": {"loud": {"type": "string", "description": "The word in capitals."}},
            "required": ["loud"],
        },
    },
    "steps": [{"name": "shout", "node": "transformation", "config": {"operation": "custom", "into": "loud"}}],
    "examples": [{"name": "hey", "input": {"word": "hey"}, "expect": "completed", "output": {"loud": "HEY"}}],
}


@pytest.mark.parametrize("scope", PLANT_SCOPES)
def test_a_custom_hook_fails_qc_002_until_logic_py_writes_it(
    scope: str, feature_library: Path, project_env: ProjectEnv, tmp_path: Path
) -> None:
    library = planted(project_env, feature_library, tmp_path, scope)
    render_feature(library, SHOUT)
    gates = ["QC-002", "--runs", "static"]
    report = run_gates(project_env, library, *gates)
    assert_only_gate_fails(report, "QC-002", path="features/shout/logic.py", message="does not write the 'shout' hook")
    write_logic(
        project_env,
        library,
        "shout",
        "from pydantic import JsonValue\n\n"
        "from ...archetypes.compute.node_transformation_compute import NodeTransformationCompute\n"
        "from .state import ModelShoutState\n",
        "    async def shout(self, state: ModelShoutState, node: NodeTransformationCompute) -> JsonValue:\n"
        '        """The word in capitals."""\n'
        '        return state.text("request.word").upper()\n',
    )
    report = run_gates(project_env, library, *([] if scope == "all" else gates))
    assert all(status == "pass" for status in statuses(report).values()), describe(report)


@pytest.mark.parametrize("scope", PLANT_SCOPES)
def test_a_contract_field_typed_any_fails_qc_003(
    scope: str, feature_library: Path, project_env: ProjectEnv, tmp_path: Path
) -> None:
    library = planted(project_env, feature_library, tmp_path, scope, mypy=True)
    module = library / ARCHETYPES / "compute" / "node_parser_compute.py"
    edit(module, "from typing import TypeVar", "from typing import Any, TypeVar")
    edit(
        module,
        '    model_config = ConfigDict(frozen=True, extra="forbid")\n\n    text: str',
        '    model_config = ConfigDict(frozen=True, extra="forbid")\n\n'
        '    hints: Any = Field(default=None, description="Parser hints.")\n    text: str',
    )
    tidy(project_env, library, module)
    report = run_plant(project_env, library, "QC-003", scope)
    assert_only_gate_fails(
        report, "QC-003", path="node_parser_compute.py", message="ModelParserInput.hints is typed with Any"
    )


@pytest.mark.parametrize("scope", PLANT_SCOPES)
def test_a_bare_except_fails_qc_004_even_when_ruff_is_told_to_ignore_it(
    scope: str, feature_library: Path, project_env: ProjectEnv, tmp_path: Path
) -> None:
    library = planted(project_env, feature_library, tmp_path, scope)
    write_logic(
        project_env,
        library,
        "user_auth",
        "from .state import ModelUserAuthState\n",
        "    async def after_fetch_user(self, state: ModelUserAuthState) -> None:\n"
        '        """Keep going without an email address rather than fail."""\n'
        "        try:\n"
        '            email = state.text("user.email")\n'
        "        except:  # noqa: E722\n"
        '            email = ""\n'
        '        state.user = {**(state.user or {}), "email": email}\n',
    )
    report = run_plant(project_env, library, "QC-004", scope)
    assert_only_gate_fails(report, "QC-004", path="features/user_auth/logic.py", message="bare `except:`")


# ---------------------------------------------------------------------------------------- IV-001..IV-003


@pytest.mark.parametrize("scope", PLANT_SCOPES)
def test_a_node_contract_field_without_description_fails_iv_001(
    scope: str, feature_library: Path, project_env: ProjectEnv, tmp_path: Path
) -> None:
    library = planted(project_env, feature_library, tmp_path, scope)
    edit(
        library / ARCHETYPES / "reducers" / "node_metrics_reducer.py",
        '    model_config = ConfigDict(frozen=True, extra="forbid")\n\n    namespace: str',
        '    model_config = ConfigDict(frozen=True, extra="forbid")\n\n    unit: str | None = None\n    namespace: str',
    )
    report = run_plant(project_env, library, "IV-001", scope)
    assert_only_gate_fails(report, "IV-001", path="node_metrics_reducer.py", message=".unit is not described")


@pytest.mark.parametrize("scope", PLANT_SCOPES)
def test_a_model_that_no_longer_says_what_its_snapshot_says_fails_iv_001(
    scope: str, feature_library: Path, project_env: ProjectEnv, tmp_path: Path
) -> None:
    library = planted(project_env, feature_library, tmp_path, scope)
    edit(
        library / FEATURES / "user_auth" / "contracts.py",
        'pattern="^[a-z0-9_]+$", description="The login name."',
        'pattern="^[a-z0-9_.]+$", description="The login name."',
    )
    report = run_plant(project_env, library, "IV-001", scope)
    assert_only_gate_fails(
        report,
        "IV-001",
        path="features/user_auth/contracts.schema.json",
        message="$defs.UserAuthRequest.properties.username.pattern is '^[a-z0-9_]+$'",
    )


@pytest.mark.parametrize("scope", PLANT_SCOPES)
def test_a_spec_contract_no_step_uses_fails_iv_002(
    scope: str, feature_library: Path, project_env: ProjectEnv, tmp_path: Path
) -> None:
    library = planted(project_env, feature_library, tmp_path, scope)
    spec = load_spec(EXAMPLES / "user_auth.yml")
    spec["feature_name"] = "audited_login"
    spec["contracts"]["AuditNote"] = {
        "type": "object",
        "description": "A note for the auditors.",
        "properties": {"text": {"type": "string", "description": "What happened."}},
        "required": ["text"],
    }
    render_feature(library, spec)
    report = run_plant(project_env, library, "IV-002", scope)
    assert_only_gate_fails(
        report, "IV-002", path="features/audited_login/contracts.py", message="ModelAuditNote is a dead contract"
    )


@pytest.mark.parametrize("scope", PLANT_SCOPES)
def test_a_catalog_document_the_code_moved_away_from_fails_iv_003(
    scope: str, feature_library: Path, project_env: ProjectEnv, tmp_path: Path
) -> None:
    library = planted(project_env, feature_library, tmp_path, scope)
    project_env.run("python", "-m", "quality.catalog", cwd=library)
    edit(
        library / ARCHETYPES / "effects" / "node_file_effect.py",
        '    """Reads, writes, lists and deletes files inside',
        '    """Reads, writes, lists, watches and deletes files inside',
    )
    report = run_plant(project_env, library, "IV-003", scope)
    assert_only_gate_fails(
        report, "IV-003", path="docs/asyncapi.yaml", message="x-onex-catalog.nodes.file.summary changed"
    )
    assert "python -m quality.catalog" in gate_result(report, "IV-003")["findings"][0]["message"]


# ---------------------------------------------------------------------------------------- CV-002, CV-003


@pytest.mark.parametrize("scope", PLANT_SCOPES)
def test_a_publish_on_a_topic_nothing_declares_fails_cv_002(
    scope: str, feature_library: Path, project_env: ProjectEnv, tmp_path: Path
) -> None:
    library = planted(project_env, feature_library, tmp_path, scope)
    write_logic(
        project_env,
        library,
        "register_user",
        "from ...archetypes.effects.node_event_bus_effect import NodeEventBusEffect\n"
        "from .contracts import ModelUserRegistered\n"
        "from .state import ModelRegisterUserState\n",
        "    async def after_announce(self, state: ModelRegisterUserState) -> None:\n"
        '        """Tell the audit service too."""\n'
        "        bus = await self.container.start_node(NodeEventBusEffect)\n"
        "        payload = ModelUserRegistered.model_validate(\n"
        '            {"username": state.text("request.username"), "email": state.text("request.email")}\n'
        "        )\n"
        '        envelope = state.envelope("register_user.audited", payload)\n'
        '        await bus.publish("onex.evt.onex_demo.user-audited.v1", envelope)\n',
    )
    report = run_plant(project_env, library, "CV-002", scope)
    assert_only_gate_fails(
        report,
        "CV-002",
        path="features/register_user/logic.py",
        message="publishes on onex.evt.onex_demo.user-audited.v1, which nothing declares",
    )


@pytest.mark.parametrize("scope", PLANT_SCOPES)
def test_a_subscription_nothing_produces_fails_cv_002(
    scope: str, feature_library: Path, project_env: ProjectEnv, tmp_path: Path
) -> None:
    library = planted(project_env, feature_library, tmp_path, scope)
    write_logic(
        project_env,
        library,
        "metadata_stamping",
        "from ...core.container import OnexContainer\nfrom ...core.event_bus import EnvelopeHandler\n",
        after="\n\ndef watch_audits(container: OnexContainer, handler: EnvelopeHandler) -> None:\n"
        '    """Hand every recorded audit to `handler`."""\n'
        '    container.event_bus.subscribe("onex.evt.onex_demo.audit-recorded.v1", handler, group="audit")\n',
    )
    report = run_plant(project_env, library, "CV-002", scope)
    assert_only_gate_fails(
        report,
        "CV-002",
        path="features/metadata_stamping/logic.py",
        message="subscribes to onex.evt.onex_demo.audit-recorded.v1, which nothing in the library produces",
    )


@pytest.mark.parametrize("scope", PLANT_SCOPES)
def test_an_intent_no_effect_executes_fails_cv_003(
    scope: str, feature_library: Path, project_env: ProjectEnv, tmp_path: Path
) -> None:
    library = planted(project_env, feature_library, tmp_path, scope)
    module = library / ARCHETYPES / "reducers" / "node_cache_reducer.py"
    module.write_text(
        module.read_text(encoding="utf-8")
        + '\n\ndef _flush_intent(namespace: str) -> ModelIntent:\n    """Drop a whole namespace at once."""\n'
        '    return ModelIntent(intent_type="cache.flush", target=CACHE_TABLE, payload={"namespace": namespace})\n',
        encoding="utf-8",
    )
    report = run_plant(project_env, library, "CV-003", scope)
    assert_only_gate_fails(
        report,
        "CV-003",
        path="node_cache_reducer.py",
        message="emits intent cache.flush, which no effect node executes",
    )


@pytest.mark.parametrize("scope", PLANT_SCOPES)
def test_a_feature_that_builds_a_node_itself_fails_cv_003(
    scope: str, feature_library: Path, project_env: ProjectEnv, tmp_path: Path
) -> None:
    library = planted(project_env, feature_library, tmp_path, scope)
    write_logic(
        project_env,
        library,
        "user_auth",
        "from ...archetypes.compute.node_hashing_compute import NodeHashingCompute\n",
        "    def hashing_node_name(self) -> str:\n"
        '        """The name of the hashing node, for diagnostics."""\n'
        "        return NodeHashingCompute(self.container).node_name\n",
    )
    report = run_plant(project_env, library, "CV-003", scope)
    assert_only_gate_fails(
        report, "CV-003", path="features/user_auth/logic.py", message="builds NodeHashingCompute itself"
    )


# ---------------------------------------------------------------------------------------- KV-001, KV-002


@pytest.mark.parametrize("scope", PLANT_SCOPES)
def test_a_feature_page_whose_diagram_misses_a_step_fails_kv_001(
    scope: str, feature_library: Path, project_env: ProjectEnv, tmp_path: Path
) -> None:
    library = planted(project_env, feature_library, tmp_path, scope)
    page = library / "docs" / "features" / "user_auth.md"
    edit(page, '        step_verify_password["verify_password<br/>hashing · compute"]\n', "")
    edit(
        page,
        "    step_fetch_user --> step_verify_password\n    step_verify_password --> step_open_session\n",
        "    step_fetch_user --> step_open_session\n",
    )
    report = run_plant(project_env, library, "KV-001", scope)
    assert_only_gate_fails(report, "KV-001", path="docs/features/user_auth.md", message="but workflow.py has")


@pytest.mark.parametrize("scope", PLANT_SCOPES)
def test_a_feature_that_defines_its_own_node_class_fails_kv_002(
    scope: str, feature_library: Path, project_env: ProjectEnv, tmp_path: Path
) -> None:
    library = planted(project_env, feature_library, tmp_path, scope)
    write_logic(
        project_env,
        library,
        "metadata_stamping",
        "from ...core.errors import EnumCoreErrorCode, OnexError\n"
        "from ...core.nodes import NodeCompute\n"
        "from .contracts import ModelStampRequest, ModelStampResponse\n",
        after="\n\nclass NodeStampCompute(NodeCompute[ModelStampRequest, ModelStampResponse]):\n"
        '    """Stamps metadata without the catalog."""\n\n'
        '    node_name = "stamp"\n\n'
        "    async def process(self, input_data: ModelStampRequest) -> ModelStampResponse:\n"
        '        """Refuse: this node is only declared."""\n'
        '        raise OnexError(f"cannot stamp {input_data.path}", code=EnumCoreErrorCode.OPERATION_FAILED)\n',
    )
    report = run_plant(project_env, library, "KV-002", scope)
    assert_only_gate_fails(
        report,
        "KV-002",
        path="features/metadata_stamping/logic.py",
        message="defines its own node class NodeStampCompute",
    )
