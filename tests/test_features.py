"""The feature sub-template: what a feature adds to a library, and that the examples run end to end."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import copier
import pytest
import yaml

from extensions.catalog import CATALOG
from extensions.contracts import NAME_LIMIT, REF_PREFIX
from extensions.custom_nodes import MAX_NODE_NAME_LENGTH
from extensions.spec import build_feature

from .conftest import SPECS
from .project_env import ProjectEnv
from .rendering import EXAMPLES, SUITE_ROOT, git, load_spec, render_feature, render_library, render_node, snapshot_suite

EXAMPLE_NAMES = sorted(path.stem for path in EXAMPLES.glob("*.yml"))

#: What the feature sub-template owns, relative to the library (`{pkg}` and `{name}` filled in).
FEATURE_FILES = [
    ".copier/feature-{name}.yml",
    "docs/features/{name}.md",
    "src/{pkg}/features/{name}/__init__.py",
    "src/{pkg}/features/{name}/contracts.py",
    "src/{pkg}/features/{name}/contracts.schema.json",
    "src/{pkg}/features/{name}/events.py",
    "src/{pkg}/features/{name}/handlers.py",
    "src/{pkg}/features/{name}/hooks.py",
    "src/{pkg}/features/{name}/logic.py",
    "src/{pkg}/features/{name}/state.py",
    "src/{pkg}/features/{name}/workflow.py",
    "tests/features/test_{name}.py",
]


def _digest_tree(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_a_feature_adds_only_its_own_files(tmp_path: Path) -> None:
    library = render_library(
        tmp_path / "onex-lib",
        project_name="ONEX Lib",
        nodes=["database", "hashing", "session", "validation", "workflow"],
    )
    before = _digest_tree(library)
    render_feature(library, load_spec(EXAMPLES / "user_auth.yml"))
    after = _digest_tree(library)
    assert {name: digest for name, digest in after.items() if name in before} == before, "a library file changed"
    added = sorted(set(after) - set(before))
    assert added == sorted(path.format(pkg="onex_lib", name="user_auth") for path in FEATURE_FILES)


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_the_answers_file_keeps_the_whole_spec_in_its_order(name: str, feature_library: Path) -> None:
    spec = load_spec(EXAMPLES / f"{name}.yml")
    answers = yaml.safe_load((feature_library / f".copier/feature-{name}.yml").read_text(encoding="utf-8"))
    assert answers["kind"] == "feature"
    assert answers["package_name"] == "onex_demo"
    for key, value in spec.items():
        assert answers[key] == value, key
    for contract, schema in spec["contracts"].items():
        assert list(answers["contracts"][contract]["properties"]) == list(schema["properties"])


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_the_json_schema_is_the_specs_closed_schema(name: str, feature_library: Path) -> None:
    spec = load_spec(EXAMPLES / f"{name}.yml")
    path = feature_library / f"src/onex_demo/features/{name}/contracts.schema.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    assert set(document["$defs"]) == set(spec["contracts"])
    for contract, schema in spec["contracts"].items():
        shipped = document["$defs"][contract]
        assert shipped["additionalProperties"] is False
        assert shipped["properties"] == {key: {**value} for key, value in schema["properties"].items()}


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_the_docs_draw_every_step_and_event(name: str, feature_library: Path) -> None:
    spec = load_spec(EXAMPLES / f"{name}.yml")
    doc = (feature_library / f"docs/features/{name}.md").read_text(encoding="utf-8")
    assert "```mermaid" in doc
    for step in spec["steps"]:
        assert f'    step_{step["name"]}["{step["name"]}<br/>' in doc
    assert "subgraph orchestrator" in doc
    assert f"onex.cmd.onex_demo.{name}-requested.v1" in doc
    assert f"onex.evt.onex_demo.{name}-completed.v1" in doc


def test_features_carry_no_template_syntax(feature_library: Path) -> None:
    for path in feature_library.rglob("*"):
        if path.is_file() and "features" in path.parts:
            text = path.read_text(encoding="utf-8")
            assert "{{" not in text or path.suffix == ".md", path
            assert "{%" not in text, path


def test_two_features_may_name_their_contracts_alike(feature_library: Path) -> None:
    for name in ("user_auth", "login"):
        contracts = (feature_library / f"src/onex_demo/features/{name}/contracts.py").read_text(encoding="utf-8")
        assert "class ModelUserAuthRequest(ModelContract):" in contracts


def test_the_archetypes_of_the_examples_cover_all_four() -> None:
    archetypes = set()
    for name in EXAMPLE_NAMES:
        view = build_feature(package_name="onex_demo", **load_spec(EXAMPLES / f"{name}.yml"))
        archetypes |= {step.archetype for step in view.steps}
    archetypes.add("orchestrator")  # every feature runs on the workflow orchestrator
    assert archetypes == {"effect", "compute", "reducer", "orchestrator"}
    assert {"effect", "compute", "reducer"} <= archetypes - {"orchestrator"}


# ---------------------------------------------------------------- the generated project's own checks


@pytest.mark.slow
def test_ruff_is_clean_with_features(feature_library: Path, project_env: ProjectEnv) -> None:
    project_env.run("ruff", "check", "--no-cache", ".", cwd=feature_library)
    project_env.run("ruff", "format", "--no-cache", "--check", ".", cwd=feature_library)


@pytest.mark.slow
def test_mypy_strict_is_clean_with_features(feature_library: Path, project_env: ProjectEnv) -> None:
    cache = project_env.path.parent / "mypy-cache" / feature_library.name
    project_env.run("mypy", "--cache-dir", str(cache), cwd=feature_library)


@pytest.mark.slow
def test_generated_feature_tests_pass(feature_library: Path, project_env: ProjectEnv) -> None:
    result = project_env.run(
        "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/features", cwd=feature_library
    )
    assert " passed" in result.stdout


# ---------------------------------------------------------------- names at the limits

#: Values of these spec keys are settings, never names: they keep their value.
_SETTINGS = frozenset(
    {"node", "operation", "type", "format", "algorithm", "event", "description", "expect", "error_code"}
)

#: Of each example: the properties and the values (`into`) to stretch besides every contract, step and example name.
LONG_NAMES = {
    "user_auth": (("username", "session_id", "expires_at"), ("user",)),
    "metadata_stamping": (("namespace", "size_bytes", "namespace_count"), ("totals",)),
}


def stretch(name: str) -> str:
    """`name` lengthened to exactly `NAME_LIMIT` characters, in its own case."""
    if name[:1].isupper():
        return (name + "Stretched" * 6)[:NAME_LIMIT]
    return (name + "_stretched" * 6)[: NAME_LIMIT - 1] + "x"


def at_the_limits(example: str) -> dict[str, Any]:
    """The example's spec with its names as long as a spec may give them.

    The feature, every contract, step and example, and some properties and values are
    renamed, wherever the spec refers to them; the request gains an enum and a nested
    object, whose classes are named after the contract and the field.
    """
    spec = load_spec(EXAMPLES / f"{example}.yml")
    properties, values = LONG_NAMES[example]
    names = [*spec["contracts"], *properties, *values, *(item["name"] for item in spec["steps"] + spec["examples"])]
    renames = {name: stretch(name) for name in names}

    def rename(text: str) -> str:
        if text.startswith(REF_PREFIX):
            return REF_PREFIX + renames.get(text.removeprefix(REF_PREFIX), text.removeprefix(REF_PREFIX))
        if text.startswith("$") and not text.startswith("$$"):
            head, *path = text[1:].split(".")
            if head == "input":  # a path into the request names its properties
                path = [renames.get(part, part) for part in path]
            return "$" + ".".join([renames.get(head, head), *path])
        return renames.get(text, text)

    def walk(node: Any, config: bool = False) -> Any:
        if isinstance(node, dict):  # a step's config maps settings (kept) to values
            return {
                (key if config else renames.get(key, key)): (
                    item if key in _SETTINGS and isinstance(item, str) else walk(item, config=key == "config")
                )
                for key, item in node.items()
            }
        if isinstance(node, list):
            return [walk(item) for item in node]
        return rename(node) if isinstance(node, str) else node

    long = walk(spec)
    # Classes named after a contract and its field: an enum and a nested object, both optional.
    request = long["contracts"][long["input"]]["properties"]
    request[stretch("level")] = {"type": "string", "enum": ["low", "high"]}
    request[stretch("nested")] = {"type": "object", "properties": {"note": {"type": "string"}}}
    return {**long, "feature_name": stretch(spec["feature_name"])}


@pytest.mark.parametrize("example", sorted(LONG_NAMES))
def test_names_at_the_limits_are_good(example: str) -> None:
    feature = build_feature(package_name="onex_long", **at_the_limits(example))

    names = [feature.name, *feature.contracts.classes, *(step.name for step in feature.steps)]
    names += [example.name for example in feature.examples]
    assert {len(name) for name in names} == {NAME_LIMIT}
    assert any(len(name) == NAME_LIMIT for name, _, _ in feature.state_fields)
    assert any(len(name) == NAME_LIMIT for name in feature.result)


@pytest.mark.slow
def test_features_with_the_longest_names_are_lint_format_and_type_clean(
    tmp_path: Path, project_env: ProjectEnv
) -> None:
    library = render_library(tmp_path / "onex-long", project_name="ONEX Long")
    node = "n" * MAX_NODE_NAME_LENGTH
    render_node(library, archetype="compute", node_name=node, node_description="Shouts.")
    tests = []
    for example in sorted(LONG_NAMES):
        spec = at_the_limits(example)
        shout = {"operation": "custom", "into": stretch(f"shouted_{example}")}  # a step of the user's, last
        spec["steps"].append({"name": stretch("shout"), "node": f"{node}_compute", "config": shout})
        render_feature(library, spec)
        tests.append(f"tests/features/test_{spec['feature_name']}.py")
    project_env.run("ruff", "check", "--no-cache", ".", cwd=library)
    project_env.run("ruff", "format", "--no-cache", "--check", ".", cwd=library)
    project_env.run("mypy", "--cache-dir", str(project_env.path.parent / "mypy-cache" / library.name), cwd=library)
    result = project_env.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests, cwd=library)
    assert " passed" in result.stdout


@pytest.mark.slow
def test_the_examples_run_end_to_end_from_the_cli(
    feature_library: Path, project_env: ProjectEnv, tmp_path: Path
) -> None:
    env = {"PYTHONPATH": str(feature_library / "src")}

    def run(feature: str, request: object, expected: int) -> Any:
        result = project_env.run(
            "python",
            "-m",
            "onex_demo",
            "run",
            feature,
            "--input",
            json.dumps(request),
            cwd=tmp_path,
            env=env,
            check=False,
        )
        assert result.returncode == expected, result.stdout + result.stderr
        if expected == 2:
            return {"stderr": result.stderr}
        return json.loads(result.stdout)

    listed = project_env.run("python", "-m", "onex_demo", "features", cwd=tmp_path, env=env).stdout
    extra = [load_spec(path)["feature_name"] for path in SPECS.glob("*.yml")]
    assert [line.split()[0] for line in listed.splitlines()] == sorted(["login", *EXAMPLE_NAMES, *extra])

    ada = {"username": "ada", "email": "ada@example.com", "password": "correct-horse-battery"}
    registered = run("register_user", ada, 0)
    assert registered["event_type"] == "register_user.completed"
    assert registered["payload"] == {"username": "ada", "email": "ada@example.com"}
    taken = run("register_user", ada, 1)
    assert taken["payload"]["error"]["code"] == "ONEX_CONFLICT"

    session = run("user_auth", {"username": "ada", "password": "correct-horse-battery"}, 0)
    assert session["payload"]["username"] == "ada"
    assert len(session["payload"]["session_id"]) >= 32
    wrong = run("user_auth", {"username": "ada", "password": "not-her-password"}, 1)
    assert wrong["payload"]["error"]["code"] == "ONEX_PERMISSION_DENIED"
    invalid = run("user_auth", {"username": "ada"}, 2)
    assert "password" in str(invalid["stderr"])

    files = tmp_path / ".onex" / "files"
    files.mkdir(parents=True)
    (files / "hello.txt").write_text("Hello, ONEX.\n", encoding="utf-8")
    first = run("metadata_stamping", {"path": "hello.txt", "namespace": "docs"}, 0)
    second = run("metadata_stamping", {"path": "hello.txt", "namespace": "docs"}, 0)
    assert first["payload"]["digest"] == second["payload"]["digest"]
    assert len(first["payload"]["digest"]) == 64
    assert (first["payload"]["namespace_count"], second["payload"]["namespace_count"]) == (1, 2)
    assert second["payload"]["namespace_bytes"] == 2 * len(b"Hello, ONEX.\n")
    missing = run("metadata_stamping", {"path": "nope.txt", "namespace": "docs"}, 1)
    assert missing["payload"]["error"]["code"] == "ONEX_NOT_FOUND"
    assert run("no_such_feature", {}, 2)


#: Stamps ten files into one namespace from concurrent runs, and prints what each run and the store say.
CONCURRENT_STAMPS = """
import asyncio, json
from pathlib import Path
from onex_demo.core.container import OnexContainer
from onex_demo.features import discover_features
from onex_demo.features.runtime import FeatureRunner

async def main() -> None:
    files = Path(".onex/files")
    files.mkdir(parents=True)
    for n in range(10):
        (files / f"f{n}.txt").write_text("x" * (n + 1))
    async with OnexContainer() as container:
        runner = FeatureRunner(container, discover_features())
        runs = [runner.run("metadata_stamping", {"path": f"f{n}.txt", "namespace": "docs"}) for n in range(10)]
        outcomes = await asyncio.gather(*runs)
    print(json.dumps([envelope.model_dump(mode="json")["payload"] for envelope in outcomes]))

asyncio.run(main())
"""


@pytest.mark.slow
def test_concurrent_runs_folding_one_namespace_all_count(
    feature_library: Path, project_env: ProjectEnv, tmp_path: Path
) -> None:
    """Ten stamps at once into one namespace: the metrics fold's conditional write retries on CONFLICT."""
    result = project_env.run(
        "python", "-c", CONCURRENT_STAMPS, cwd=tmp_path, env={"PYTHONPATH": str(feature_library / "src")}
    )
    payloads = json.loads(result.stdout)
    assert [payload.get("error") for payload in payloads] == [None] * 10
    assert sorted(payload["namespace_count"] for payload in payloads) == list(range(1, 11))
    assert max(payload["namespace_bytes"] for payload in payloads) == sum(range(1, 11))


def test_logic_py_survives_an_update_that_changes_its_template(tmp_path: Path) -> None:
    """The user's logic.py is created once: a template change to it never reaches an existing feature."""
    v1 = snapshot_suite(tmp_path / "v1" / "suite.git", "v1.0.0")
    url = f"file://{v1}"
    library = render_library(tmp_path / "onex-lib", src=url, vcs_ref=None, project_name="ONEX Lib")
    render_feature(library, load_spec(EXAMPLES / "user_auth.yml"), src=url, vcs_ref=None)
    logic = library / "src/onex_lib/features/user_auth/logic.py"
    mine = logic.read_text(encoding="utf-8") + "\n# my own line\n"
    logic.write_text(mine, encoding="utf-8")
    git("init", "--quiet", cwd=library)
    git("add", "--all", cwd=library)
    git("commit", "--quiet", "--message", "mine", cwd=library)

    template = v1 / "template/feature/src/{{package_name}}/features/{{feature_name}}/logic.py.jinja"
    template.write_text(template.read_text(encoding="utf-8") + "# a template change\n", encoding="utf-8")
    hooks = v1 / "template/feature/src/{{package_name}}/features/{{feature_name}}/hooks.py.jinja"
    hooks.write_text(hooks.read_text(encoding="utf-8") + "# a hooks change\n", encoding="utf-8")
    git("commit", "--quiet", "--all", "--message", "v2", cwd=v1)
    git("tag", "v2.0.0", cwd=v1)

    copier.run_update(
        library, answers_file=".copier/feature-user_auth.yml", defaults=True, unsafe=True, quiet=True, overwrite=True
    )
    assert logic.read_text(encoding="utf-8") == mine
    assert (
        (library / "src/onex_lib/features/user_auth/hooks.py")
        .read_text(encoding="utf-8")
        .endswith("# a hooks change\n")
    )


#: A feature whose one step is a custom compute node, called from the feature's `logic.py`.
SHOUTING = {
    "feature_name": "shouting",
    "feature_description": "Shout a word through a custom compute node.",
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
            "properties": {"shouted": {"type": "string", "description": "The word in capitals."}},
            "required": ["shouted"],
        },
    },
    "steps": [{"name": "shout", "node": "shout_compute", "config": {"operation": "custom", "into": "shouted"}}],
    "examples": [{"name": "hello", "input": {"word": "hello"}, "expect": "completed", "output": {"shouted": "HELLO"}}],
}

NODE_LOGIC = '''"""The shout compute: capitals."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from ...core.nodes import NodeCompute


class ModelShoutInput(BaseModel):
    """What to shout."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    value: str = Field(description="The value to shout.")


class ModelShoutOutput(BaseModel):
    """What was shouted."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    value: str = Field(description="The value in capitals.")


class ShoutComputeLogic(NodeCompute[ModelShoutInput, ModelShoutOutput]):
    """Capitals."""

    def compute(self, input_data: ModelShoutInput) -> ModelShoutOutput:
        """The value in capitals."""
        return ModelShoutOutput(value=input_data.value.upper())
'''

FEATURE_LOGIC = '''"""My shouting hooks."""

from __future__ import annotations

from pydantic import JsonValue

from ...archetypes.compute.node_shout_compute import ModelShoutInput, NodeShoutCompute
from .hooks import ShoutingHooks
from .state import ModelShoutingState


class ShoutingLogic(ShoutingHooks):
    """The shout step calls the custom node."""

    async def shout(self, state: ModelShoutingState, node: NodeShoutCompute) -> JsonValue:
        """Shout the request's word."""
        output = await node.process(ModelShoutInput(value=state.text("request.word")))
        return output.value
'''


@pytest.mark.slow
def test_a_feature_runs_a_custom_node_once_its_hooks_are_written(tmp_path: Path, project_env: ProjectEnv) -> None:
    library = render_library(tmp_path / "onex-shout", project_name="ONEX Shout", nodes=["logger", "workflow"])
    render_node(library, archetype="compute", node_name="shout", node_description="Shouts.")
    render_feature(library, SHOUTING)
    env = {"PYTHONPATH": str(library / "src")}
    pending = project_env.run(
        "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/features", cwd=library, check=False
    )
    assert pending.returncode == 1
    assert "write the 'shout' hook in features/shouting/logic.py" in pending.stdout

    (library / "src/onex_shout/archetypes/compute/shout_compute_logic.py").write_text(NODE_LOGIC, encoding="utf-8")
    (library / "src/onex_shout/features/shouting/logic.py").write_text(FEATURE_LOGIC, encoding="utf-8")
    (library / "tests/archetypes/test_node_shout_compute.py").unlink()  # the node's own example test is the user's
    project_env.run("ruff", "check", "--no-cache", ".", cwd=library)
    project_env.run("mypy", "--cache-dir", str(project_env.path.parent / "mypy-cache" / library.name), cwd=library)
    project_env.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=library)
    result = project_env.run(
        "python", "-m", "onex_shout", "run", "shouting", "--input", '{"word": "onex"}', cwd=tmp_path, env=env
    )
    assert json.loads(result.stdout)["payload"] == {"shouted": "ONEX"}


def test_every_operation_of_the_catalog_has_its_macro() -> None:
    macros = set(re.findall(r"\{% macro (\w+)\(", (SUITE_ROOT / "template/macros/steps.jinja").read_text()))
    wanted = {
        "custom" if operation == "custom" else f"{node.name}_{operation}"
        for node in CATALOG
        for operation in node.step_operations()
    }
    assert wanted == macros
