"""The node sub-template: a custom node of each archetype, added to a library.

One library gets one node of each archetype (rendered once for the module). The
fast tests read what was rendered; the slow ones run the library's own ruff,
mypy and pytest, before and after the user's method is written, and update a
node from a newer suite release.
"""

from __future__ import annotations

import ast
import hashlib
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import copier
import pytest
import yaml
from copier.errors import UserMessageError

from extensions.custom_nodes import CustomNode, custom_node

from .project_env import ProjectEnv
from .rendering import SUITE_ROOT, git, render_library, render_node, snapshot_suite

PACKAGE = "onex_nodes"


@dataclass(frozen=True)
class Case:
    """One custom node the tests add, and what the user writes in it."""

    archetype: str
    name: str
    description: str
    #: Where the user's one method lives, and its name.
    owner: str
    method: str
    #: The tiny implementation the tests write (indented for a method).
    body: str
    #: (old, new) edits of the logic module that the implementation needs, e.g. imports.
    edits: tuple[tuple[str, str], ...] = ()

    @property
    def node(self) -> CustomNode:
        return custom_node(self.name, self.archetype, self.description)


CASES = [
    Case(
        "effect",
        "s3",
        "Stores and fetches objects in S3",
        "S3EffectLogic",
        "execute",
        "        return ModelS3Output(target=input_data.target)\n",
    ),
    Case(
        "compute",
        "tax_calculation",
        "computes the tax due on an invoice",
        "TaxCalculationComputeLogic",
        "compute",
        "        return ModelTaxCalculationOutput(value=input_data.value.upper())\n",
    ),
    Case(
        "reducer",
        "ledger",
        "",
        "LedgerReducerLogic",
        "reduce",
        "        state = ModelLedgerState(actions=input_data.state.actions + 1)\n"
        '        fields: dict[str, JsonValue] = {"actions": state.actions}\n'
        '        payload: dict[str, JsonValue] = {"level": "info", "event": input_data.action, "fields": fields}\n'
        '        intent = ModelIntent(intent_type="logger.log", target="ledger", payload=payload)\n'
        "        return ModelLedgerOutput(state=state, intents=(intent,))\n",
        (
            (
                "from pydantic import BaseModel, ConfigDict, Field\n",
                "from pydantic import BaseModel, ConfigDict, Field, JsonValue\n",
            ),
            ("from ...core.nodes import", "from ...core.intents import ModelIntent\nfrom ...core.nodes import"),
        ),
    ),
    Case(
        "orchestrator",
        "onboarding",
        "Onboards a new customer, step by step.",
        "OnboardingWorkflow",
        "orchestrate",
        "        logger = await self.node(NodeLoggerEffect)\n"
        '        await logger.log("info", "onboarding.started", subject=event.input.subject)\n'
        "        return OnboardingFinished(output=ModelOnboardingOutput(subject=event.input.subject))\n",
        (
            (
                "from ...core.workflow import OnexWorkflow\n",
                "from ...core.workflow import OnexWorkflow\n"
                "from ..effects.node_logger_effect import NodeLoggerEffect\n",
            ),
        ),
    ),
]
IDS = [case.archetype for case in CASES]

FUTURE = "from __future__ import annotations\n"

#: Names as long as a node name may be: every line must still fit and be formatted.
LONG_NAME = "abcdefghij_klmnopqrst_uvwxyz_abc"


def tree(root: Path) -> dict[str, str]:
    """Every file under `root` (relative path -> digest of its content)."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


@dataclass(frozen=True)
class NodeLibrary:
    """A library with one custom node per case, and its files as they were before the nodes."""

    root: Path
    before: dict[str, str]


@pytest.fixture(scope="module")
def node_library(tmp_path_factory: pytest.TempPathFactory) -> NodeLibrary:
    root = render_library(
        tmp_path_factory.mktemp("nodes") / "onex-nodes", project_name="ONEX Nodes", nodes=["logger", "workflow"]
    )
    before = tree(root)
    for case in CASES:
        render_node(root, archetype=case.archetype, node_name=case.name, node_description=case.description)
    return NodeLibrary(root, before)


def node_files(case: Case) -> tuple[str, str, str]:
    node = case.node
    logic, test = node.user_files(PACKAGE)
    return node.module_path(PACKAGE), logic, test


# ---------------------------------------------------------------- what the gates will look for


def is_not_written(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Whether `function`'s body is (a docstring and) exactly `raise OnexError(..., code=....NOT_IMPLEMENTED)`.

    This is the rule the QC-002 gate is to apply to a library's modules.
    """
    body = function.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    if len(body) != 1 or not isinstance(body[0], ast.Raise) or not isinstance(body[0].exc, ast.Call):
        return False
    call = body[0].exc
    named = isinstance(call.func, ast.Name) and call.func.id == "OnexError"
    return named and any(
        keyword.arg == "code" and isinstance(keyword.value, ast.Attribute) and keyword.value.attr == "NOT_IMPLEMENTED"
        for keyword in call.keywords
    )


def unwritten_methods(source: str) -> list[str]:
    """`Class.method` of every method in `source` that is still not written."""
    return [
        f"{cls.name}.{function.name}"
        for cls in ast.parse(source).body
        if isinstance(cls, ast.ClassDef)
        for function in cls.body
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef) and is_not_written(function)
    ]


def write_method(logic: Path, case: Case) -> None:
    """Do what the user does: replace the `raise` of the unwritten method with `case.body`."""
    source = logic.read_text()
    (cls,) = (c for c in ast.parse(source).body if isinstance(c, ast.ClassDef) and c.name == case.owner)
    (method,) = (f for f in cls.body if isinstance(f, ast.AsyncFunctionDef | ast.FunctionDef) and f.name == case.method)
    raise_statement = method.body[-1]
    assert raise_statement.end_lineno is not None
    lines = source.splitlines(keepends=True)
    lines[raise_statement.lineno - 1 : raise_statement.end_lineno] = [case.body]
    source = "".join(lines)
    if "OnexError" not in case.body:
        # The placeholder was the only user of the errors import (`ruff check --fix` drops it too).
        source = source.replace("from ...core.errors import EnumCoreErrorCode, OnexError\n", "", 1)
    for old, new in case.edits:
        assert source.count(old) == 1, old
        source = source.replace(old, new)
    logic.write_text(source)


def test_the_rule_tells_an_unwritten_method_from_a_written_one() -> None:
    source = '''
class Logic:
    async def todo(self) -> int:
        """Docstring."""
        raise OnexError("not yet", code=EnumCoreErrorCode.NOT_IMPLEMENTED)

    async def done(self) -> int:
        return 1

    def refuses(self) -> int:
        raise OnexError("bad", code=EnumCoreErrorCode.VALIDATION_ERROR)

    def guarded(self, x: int) -> int:
        if x:
            return x
        raise OnexError("not yet", code=EnumCoreErrorCode.NOT_IMPLEMENTED)
'''
    assert unwritten_methods(source) == ["Logic.todo"]


# ---------------------------------------------------------------- rendering


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_a_node_renders_its_module_its_logic_its_test_and_its_answers(node_library: NodeLibrary, case: Case) -> None:
    for relative in node_files(case):
        assert (node_library.root / relative).is_file(), relative
    answers = yaml.safe_load((node_library.root / ".copier" / f"node-{case.name}-{case.archetype}.yml").read_text())
    assert {key: value for key, value in answers.items() if not key.startswith("_")} == {
        "kind": "node",
        "archetype": case.archetype,
        "node_name": case.name,
        "node_description": case.description,
        "package_name": PACKAGE,
    }


def test_adding_nodes_adds_their_files_and_changes_no_other(node_library: NodeLibrary) -> None:
    after = tree(node_library.root)
    added = set(after) - set(node_library.before)
    expected = {path for case in CASES for path in node_files(case)}
    expected |= {f".copier/node-{case.name}-{case.archetype}.yml" for case in CASES}
    assert added == expected
    assert {path: after[path] for path in node_library.before} == node_library.before


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_the_node_class_is_named_the_onex_way_and_extends_the_users_code(node_library: NodeLibrary, case: Case) -> None:
    module = ast.parse((node_library.root / node_files(case)[0]).read_text())
    (cls,) = (c for c in module.body if isinstance(c, ast.ClassDef) and c.name == case.node.class_name)
    assert ast.get_docstring(cls) == case.node.docstring
    assert any(isinstance(s, ast.Assign) and ast.unparse(s) == f"node_name = {case.name!r}" for s in cls.body), (
        "node_name"
    )
    base = ast.unparse(cls.bases[0])
    if case.archetype == "orchestrator":
        assert base == f"NodeOrchestrator[Model{case.node.stem}Input, Model{case.node.stem}Output]"
    else:
        assert base == case.node.logic_class
    assert [f.name for f in cls.body if isinstance(f, ast.AsyncFunctionDef)] == ["process"]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_the_users_one_method_is_there_and_detectably_not_written(node_library: NodeLibrary, case: Case) -> None:
    logic = (node_library.root / node_files(case)[1]).read_text()
    assert unwritten_methods(logic) == [f"{case.owner}.{case.method}"]
    assert f'f"{case.owner}.{case.method} is not written yet: write it in {{__file__}}"' in logic


def test_rendered_node_files_carry_no_template_syntax(node_library: NodeLibrary) -> None:
    for case in CASES:
        for relative in node_files(case):
            text = (node_library.root / relative).read_text()
            assert "{{" not in text, relative
            assert "{%" not in text, relative
            assert text.endswith("\n"), relative
            assert not text.endswith("\n\n"), relative


# ---------------------------------------------------------------- refusals


#: One of each kind of refusal (tests/test_custom_nodes.py has them all): each costs a render.
BAD_ANSWERS: list[tuple[dict[str, str], str]] = [
    ({"node_name": "class"}, "node_name 'class' is a Python keyword"),
    ({"node_name": "hashing", "archetype": "compute"}, "taken by the catalog's hashing compute"),
    ({"node_name": "s3", "archetype": "reducer"}, "'s3' is taken by this library's custom effect node"),
    ({"node_name": "fine", "node_description": 'say """hi"""'}, "may not contain backslashes or"),
]


@pytest.mark.parametrize(("answers", "message"), BAD_ANSWERS, ids=[m for _, m in BAD_ANSWERS])
def test_bad_answers_are_refused_and_nothing_is_written(
    node_library: NodeLibrary, answers: dict[str, str], message: str
) -> None:
    before = tree(node_library.root)
    with pytest.raises(UserMessageError, match="Invalid answers") as error:
        render_node(node_library.root, **{"archetype": "effect", **answers})
    assert message in str(error.value)
    assert tree(node_library.root) == before


def test_an_unknown_archetype_is_refused_before_anything_is_written(node_library: NodeLibrary) -> None:
    before = tree(node_library.root)
    with pytest.raises(
        UserMessageError, match="archetype 'plugin' is not one of effect, compute, reducer, orchestrator"
    ):
        render_node(node_library.root, archetype="plugin", node_name="fine")
    assert tree(node_library.root) == before


@pytest.mark.parametrize("exists", [True, False], ids=["empty folder", "no folder"])
def test_a_node_needs_a_library(tmp_path: Path, exists: bool) -> None:
    destination = tmp_path / "not-a-library"
    if exists:
        destination.mkdir()
    with pytest.raises(UserMessageError, match="is not an ONEX library") as error:
        render_node(destination, archetype="effect", node_name="s3")
    assert "generate the library first" in str(error.value)
    if exists:
        assert list(destination.iterdir()) == []
    else:
        assert not destination.exists()


def test_the_cli_refuses_a_bad_name_with_one_message(node_library: NodeLibrary) -> None:
    before = tree(node_library.root)
    copier_cli = Path(sys.executable).parent / "copier"
    result = subprocess.run(
        [
            str(copier_cli),
            "copy",
            "--trust",
            "--defaults",
            "--vcs-ref",
            "HEAD",
            "--quiet",
            "-d",
            "kind=node",
            "-d",
            "archetype=effect",
            "-d",
            "node_name=lambda",
            str(SUITE_ROOT),
            str(node_library.root),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "node_name 'lambda' is a Python keyword" in result.stderr
    assert "Traceback" not in result.stderr
    assert tree(node_library.root) == before


# ---------------------------------------------------------------- the library's own checks


def node_tests(cases: list[Case]) -> list[str]:
    return [node_files(case)[2] for case in cases]


@pytest.fixture
def working_copy(node_library: NodeLibrary, tmp_path: Path) -> Path:
    """A copy of the node library that a test may change."""
    project = tmp_path / node_library.root.name
    shutil.copytree(node_library.root, project)
    return project


@pytest.mark.slow
def test_nodes_pass_ruff_mypy_and_fail_their_tests_until_written_then_pass(
    working_copy: Path, project_env: ProjectEnv, tmp_path: Path
) -> None:
    project = working_copy
    cache = project_env.path.parent / "mypy-cache" / project.name

    def lint_and_type_check() -> None:
        project_env.run("ruff", "check", "--no-cache", ".", cwd=project)
        project_env.run("ruff", "format", "--no-cache", "--check", ".", cwd=project)
        project_env.run("mypy", "--cache-dir", str(cache), cwd=project)

    # As rendered: clean code that does not pretend to work.
    lint_and_type_check()
    unwritten = project_env.run(
        "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", *node_tests(CASES), cwd=project, check=False
    )
    assert unwritten.returncode == 1, unwritten.stdout
    for case in CASES:
        assert f"[ONEX_NOT_IMPLEMENTED] {case.owner}.{case.method} is not written yet: write it in" in unwritten.stdout
    assert " passed" not in unwritten.stdout, "every test of an unwritten node fails"

    # Written: the whole library passes.
    for case in CASES:
        write_method(project / node_files(case)[1], case)
        assert unwritten_methods((project / node_files(case)[1]).read_text()) == []
    lint_and_type_check()
    project_env.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=project)

    listed = project_env.run("python", "-m", PACKAGE, "nodes", cwd=tmp_path, env={"PYTHONPATH": str(project / "src")})
    lines = {line.split()[0]: line.split(None, 3) for line in listed.stdout.splitlines()}
    for case in CASES:
        assert lines[case.name] == [case.name, case.archetype, case.node.class_name, case.node.docstring]


@pytest.mark.slow
def test_nodes_with_the_longest_names_are_lint_and_format_clean(tmp_path: Path, project_env: ProjectEnv) -> None:
    library = render_library(tmp_path / "long", project_name="ONEX Nodes", nodes=["logger"])
    paths: list[str] = []
    for case in CASES:
        name = LONG_NAME[:-1] + case.archetype[0]
        render_node(library, archetype=case.archetype, node_name=name, node_description="x" * 100)
        node = custom_node(name, case.archetype)
        paths += [node.module_path(PACKAGE), *node.user_files(PACKAGE)]
    project_env.run("ruff", "check", "--no-cache", *paths, cwd=library)
    project_env.run("ruff", "format", "--no-cache", "--check", *paths, cwd=library)


# ---------------------------------------------------------------- updates


@pytest.mark.slow
def test_an_update_rewrites_the_node_module_and_never_the_users_files(tmp_path: Path) -> None:
    suite = snapshot_suite(tmp_path / "copier-onex.git", "v1.0.0")
    url = f"file://{suite}"
    project = render_library(tmp_path / "lib", src=url, vcs_ref=None, project_name="ONEX Nodes", nodes=["logger"])
    (case,) = (c for c in CASES if c.archetype == "effect")
    render_node(project, src=url, vcs_ref=None, archetype="effect", node_name="s3", node_description=case.description)
    module, logic, test = (project / relative for relative in node_files(case))
    write_method(logic, case)
    test.write_text(test.read_text() + "\n\n# The user's own tests go here.\n")
    users = {path: path.read_text() for path in (logic, test)}
    git("init", "--quiet", "--initial-branch=main", cwd=project)
    git("add", "--all", cwd=project)
    git("commit", "--quiet", "--message", "library with the s3 effect, written", cwd=project)

    # Release 2.0.0 changes every file of the effect skeleton.
    for name in ("node", "logic", "test"):
        skeleton = suite / "archetypes" / "effect" / f"{name}.py.jinja"
        text = skeleton.read_text()
        assert text.count(FUTURE) == 1
        skeleton.write_text(text.replace(FUTURE, "# Release 2.0.0.\n" + FUTURE))
    git("commit", "--quiet", "--all", "--message", "v2", cwd=suite)
    git("tag", "v2.0.0", cwd=suite)

    copier.run_update(
        project, answers_file=".copier/node-s3-effect.yml", defaults=True, unsafe=True, quiet=True, overwrite=True
    )

    assert "# Release 2.0.0.\n" + FUTURE in module.read_text()
    assert {path: path.read_text() for path in users} == users
    answers = yaml.safe_load((project / ".copier" / "node-s3-effect.yml").read_text())
    assert answers["_commit"] == "v2.0.0"
    status = git("status", "--porcelain", "--untracked-files=all", cwd=project)
    assert ".rej" not in status
    assert sorted(line.split()[-1] for line in status.splitlines()) == [
        ".copier/node-s3-effect.yml",
        "src/onex_nodes/archetypes/effects/node_s3_effect.py",
    ]
