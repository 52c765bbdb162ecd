"""QC-001..QC-004: ONEX naming and archetype purity, contracts and tests for everything, types, error handling.

All four read syntax trees (QC-003 also runs mypy). The rules, precisely:

QC-001 ONEX Standards
    * A node module is `archetypes/<effects|compute|reducers|orchestrators>/node_<name>_<archetype>.py`, its
      archetype the folder's, and defines `Node<Name><Archetype>` deriving (through any of the project's classes)
      from `Node<Archetype>` with `node_name = "<name>"`. Node classes live nowhere else but `core/`.
    * Public Pydantic models are named `Model*` (event envelopes, `OnexEnvelopeV1` and its subclasses, are named
      for their event), public enums `Enum*`.
    * Archetype purity: every module of a compute, reducer or orchestrator node (with a custom node's logic
      module) and every module of `features/` does no I/O: it imports no I/O library (sockets, HTTP clients,
      database and Kafka drivers, subprocesses, `os`, `shutil`, `tempfile`, logging...) and calls no `open()`,
      no `Path` I/O method and no asyncio connection or subprocess function. I/O belongs in effect nodes, which
      features reach through the container. Option `io_allowed` lists deliberate exceptions by node
      (`llm_compute: [httpx]`: the LLM node's one read-only inference call).

QC-002 Anti-YOLO Compliance
    * Every node declares its contracts (the archetype base's type arguments are models of the project) and has
      `tests/archetypes/test_node_<name>_<archetype>.py` with a test that uses the node class.
    * Every feature has contracts (its `FEATURE`'s request and response models are classes of its
      `contracts.py`) and `tests/features/test_<name>.py` with tests.
    * Nothing is left unwritten: a function whose body is (a docstring and) exactly
      `raise OnexError(..., code=...NOT_IMPLEMENTED)` (a custom node's method until its user writes it); a
      feature hook whose generated default raises `not_written(...)` (an `operation: custom` step) and that the
      feature's `logic.py` does not override; a function whose body is only `pass` or `...`, or only raises
      `NotImplementedError`, or is only a docstring while it declares a return value (methods of protocols,
      abstract methods and overloads excepted; a docstring-only hook returning None is a documented no-op).
    * No TODO, FIXME, XXX or HACK comment (read with `tokenize`) in src/, tests/ or quality/.

QC-003 Type Safety
    * `mypy --strict` with the project's configuration passes; each error is a finding.
    * Contract models (option `contract_modules`, see IV-001) use no `Any` in a field's type and forbid extra
      fields (`extra="forbid"`, set on the model or inherited from a model of the project). Option
      `lenient_models` names the models that parse foreign data and deliberately do not.

QC-004 Error Handling
    * No bare `except:`. An `except Exception`/`BaseException` (or `contextlib.suppress` of them) must re-raise
      (a bare `raise`, or a new error raised `from` the caught one), or carry `# noqa: BLE001 - <why>` on its
      line: a blind catch is a decision, and its reason is written down.
    * Inside an `except` block, `raise X(...)` chains: `raise X(...) from error` (or `from None`).
    * In src/, what is raised is an `OnexError` with a `code=`: built directly, by a subclass, or by a function or
      method annotated `-> OnexError` (`invalid_input`, `not_written`...). Exceptions: re-raising a caught error
      by name; `SystemExit` and the iteration protocol's `StopIteration`/`StopAsyncIteration`;
      `PydanticCustomError` (Pydantic's validation signal); `ValueError`/`AssertionError`/`TypeError` raised in a
      Pydantic validator (a `@field_validator`/`@model_validator` function, or one passed to
      `AfterValidator`/`BeforeValidator`/`WrapValidator`/`PlainValidator`); and a built-in exception that the same
      module catches and turns into an `OnexError` (an internal signal, e.g. a transform's `TypeError`).
"""

from __future__ import annotations

import ast
import io
import re
import subprocess
import sys
import tokenize
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from ..catalog import ARCHETYPE_BASES, Catalog, ClassInfo, base_name, call_keyword, catalog, child_nodes, pascal
from ..model import Finding, gate
from ..project import ARCHETYPE_PACKAGES, NodeInfo, Project
from .interfaces import contract_classes

__all__ = ["anti_yolo", "error_handling", "is_not_written", "onex_standards", "type_safety"]

# ---------------------------------------------------------------------------- QC-001 ONEX Standards

#: Modules whose import means I/O (a dotted name counts when it or a parent package is listed).
IO_MODULES = frozenset(
    {
        "aio_pika", "aiofiles", "aiohttp", "aiokafka", "aiosqlite", "asyncpg", "boto3", "botocore",
        "confluent_kafka", "dbm", "ftplib", "glob", "grpc", "http", "httpx", "imaplib", "kafka",
        "motor", "multiprocessing", "nats", "os", "paramiko", "pika", "poplib", "psycopg", "psycopg2",
        "pymongo", "redis", "requests", "select", "selectors", "shelve", "shutil", "smtplib", "socket",
        "sqlalchemy", "sqlite3", "ssl", "subprocess", "telnetlib", "tempfile", "urllib.request",
        "urllib3", "websockets", "xmlrpc",
    }
)  # fmt: skip
#: Calls that do I/O whatever the module imports: builtins, and methods of `Path` and `asyncio`.
IO_BUILTINS = frozenset({"open", "input"})
IO_METHODS = frozenset(
    {
        "read_text", "write_text", "read_bytes", "write_bytes", "unlink", "mkdir", "rmdir", "touch", "iterdir",
        "symlink_to", "hardlink_to", "open_connection", "open_unix_connection", "start_server",
        "start_unix_server", "create_subprocess_exec", "create_subprocess_shell",
    }
)  # fmt: skip
#: A node's name and a module name's shape.
SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
#: Envelopes are named for their event, not `Model*`.
ENVELOPE = "OnexEnvelopeV1"


@gate("QC-001")
def onex_standards(project: Project) -> Iterator[Finding]:
    """Naming of nodes, models, enums and node files; no I/O outside effect nodes."""
    built = catalog(project)
    yield from _misplaced_node_modules(project)
    for node in project.nodes:
        yield from _node_naming(project, built, node)
    yield from _stray_node_classes(project, built)
    yield from _model_and_enum_names(project, built)
    yield from _archetype_purity(project, built)


def _misplaced_node_modules(project: Project) -> Iterator[Finding]:
    archetypes = project.src / "archetypes"
    for path in sorted(archetypes.rglob("node_*.py")):
        if path.parent.parent != archetypes or path.parent.name not in ARCHETYPE_PACKAGES:
            folders = ", ".join(f"archetypes/{folder}/" for folder in ARCHETYPE_PACKAGES)
            yield Finding(
                project.relative(path),
                None,
                f"node module outside the archetype folders: move it into one of {folders}",
            )


def _node_naming(project: Project, built: Catalog, node: NodeInfo) -> Iterator[Finding]:
    where = project.relative(node.path)
    folder = node.path.parent.name
    if node.path.stem != f"node_{node.name}_{node.archetype}" or not SNAKE.match(node.name):
        other = next((a for a in ARCHETYPE_BASES if node.path.stem.endswith(f"_{a}") and a != node.archetype), None)
        why = (
            f"a {other} node does not belong in archetypes/{folder}/"
            if other
            else f"a module in archetypes/{folder}/ is named node_<name>_{node.archetype}.py (snake_case name)"
        )
        yield Finding(where, None, f"{node.path.name}: {why}")
        return
    expected = f"Node{pascal(node.name)}{node.archetype.capitalize()}"
    nodes = [info for info in built.defined_in(node.path) if built.is_node(info.name)]
    info = next((candidate for candidate in nodes if candidate.name == expected), None)
    if info is None:
        found = ", ".join(candidate.name for candidate in nodes) or "none"
        yield Finding(where, None, f"defines no node class {expected} (node classes found: {found})")
        return
    base = ARCHETYPE_BASES[node.archetype]
    ancestors = built.ancestors(info.name)
    wrong = sorted(other for other in ARCHETYPE_BASES.values() if other in ancestors and other != base)
    if base not in ancestors or wrong:
        got = ", ".join(wrong) or "no archetype base"
        yield Finding(where, info.line, f"{expected} derives from {got}: a {node.archetype} node derives from {base}")
    declared = _class_attribute(built, info, "node_name")
    if declared != node.name:
        yield Finding(
            where,
            info.line,
            f'{expected}.node_name is {declared!r}: it must be "{node.name}", the name in its module\'s name',
        )


def _class_attribute(built: Catalog, info: ClassInfo, name: str) -> str | None:
    """The string literal `name` is set to in the class or the first project base that sets it."""
    for current in built.lineage(info):
        for item in current.node.body:
            value = _assigned_value(item, name)
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                return value.value
    return None


def _assigned_value(statement: ast.stmt, name: str) -> ast.expr | None:
    if isinstance(statement, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in statement.targets):
        return statement.value
    if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name) and statement.target.id == name:
        return statement.value
    return None


def _stray_node_classes(project: Project, built: Catalog) -> Iterator[Finding]:
    """Node classes outside `archetypes/` and `core/` (features are KV-002's)."""
    allowed = (project.src / "archetypes", project.src / "core", project.src / "features")
    for infos in built.classes.values():
        for info in infos:
            if built.is_node(info.name) and not any(folder in info.path.parents for folder in allowed):
                yield Finding(
                    project.relative(info.path),
                    info.line,
                    f"node class {info.name} outside archetypes/: a node lives in "
                    "archetypes/<folder>/node_<name>_<archetype>.py",
                )


def _model_and_enum_names(project: Project, built: Catalog) -> Iterator[Finding]:
    for infos in built.classes.values():
        for info in infos:
            if info.name.startswith("_"):
                continue
            where = project.relative(info.path)
            if built.is_enum(info.name) and not info.name.startswith("Enum"):
                yield Finding(
                    where, info.line, f"enum {info.name} should be named Enum{info.name}: ONEX enums are Enum*"
                )
            elif (
                built.is_model(info.name)
                and not info.name.startswith("Model")
                and info.name != ENVELOPE
                and ENVELOPE not in built.ancestors(info.name)
            ):
                yield Finding(
                    where,
                    info.line,
                    f"Pydantic model {info.name} should be named Model{info.name}: ONEX models are Model*",
                )


def _pure_modules(project: Project) -> Iterator[tuple[Path, str]]:
    """Every module that must do no I/O, with whose it is (`hashing_compute`, `feature user_auth`)."""
    for node in project.nodes:
        if node.archetype == "effect":
            continue
        owner = f"{node.name}_{node.archetype}"
        yield node.path, owner
        if node.logic_path is not None:
            yield node.logic_path, owner
    for feature in project.features:
        for path in sorted(feature.path.rglob("*.py")):
            yield path, f"feature {feature.name}"


def _archetype_purity(project: Project, built: Catalog) -> Iterator[Finding]:
    allowed = _io_allowed(project.options("QC-001"))
    for path, owner in _pure_modules(project):
        exempt = allowed.get(owner, frozenset())
        where = project.relative(path)
        role = owner if owner.startswith("feature ") else f"the {owner.rsplit('_', 1)[1]} node {owner}"
        for line, module in _imports(built.walk(path)):
            if _is_io_module(module) and module.split(".")[0] not in exempt:
                yield Finding(
                    where, line, f"{role} imports {module}: I/O belongs in effect nodes, reached through the container"
                )
        for call in built.calls_in(path):
            name = _io_call(call)
            if name:
                yield Finding(where, call.lineno, f"{role} calls {name}(): I/O belongs in effect nodes")


def _io_allowed(options: Mapping[str, object]) -> dict[str, frozenset[str]]:
    raw = options.get("io_allowed") or {}
    if not isinstance(raw, Mapping):
        raise TypeError("QC-001 option io_allowed must map <name>_<archetype> to a list of module names")
    return {str(owner): frozenset(str(module) for module in modules or []) for owner, modules in raw.items()}


def _imports(nodes: Iterable[ast.AST]) -> Iterator[tuple[int, str]]:
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            yield node.lineno, node.module
            for alias in node.names:
                yield node.lineno, f"{node.module}.{alias.name}"


def _is_io_module(module: str) -> bool:
    parts = module.split(".")
    return any(".".join(parts[:length]) in IO_MODULES for length in range(1, len(parts) + 1))


def _io_call(call: ast.Call) -> str:
    if isinstance(call.func, ast.Name) and call.func.id in IO_BUILTINS:
        return call.func.id
    if isinstance(call.func, ast.Attribute) and call.func.attr in IO_METHODS:
        return f"{ast.unparse(call.func.value)}.{call.func.attr}"
    return ""


# ---------------------------------------------------------------------------- QC-002 Anti-YOLO Compliance

#: Comments that mark unfinished work.
UNFINISHED = re.compile(r"\b(TODO|FIXME|XXX|HACK)\b")


@gate("QC-002")
def anti_yolo(project: Project) -> Iterator[Finding]:
    """Every node and feature has a contract and a test; nothing unwritten, stubbed or left TODO."""
    built = catalog(project)
    for node in project.nodes:
        yield from _node_contract_and_test(project, built, node)
    for feature in project.features:
        yield from _feature_contract_and_test(project, built, feature.name, feature.path)
        yield from _unwritten_hooks(project, built, feature.name, feature.path)
    for path in project.python_files():
        yield from _unwritten_methods(project, path)
    for path in _generated_python(project):
        yield from _stubs(project, built, path)
        yield from _unfinished_comments(project, path)


def _generated_python(project: Project) -> list[Path]:
    quality = sorted((project.root / "quality").rglob("*.py")) if (project.root / "quality").is_dir() else []
    return project.python_files(tests=True) + [path for path in quality if "__pycache__" not in path.parts]


def _node_contract_and_test(project: Project, built: Catalog, node: NodeInfo) -> Iterator[Finding]:
    where = project.relative(node.path)
    info = built.find(node.class_name, node.path) if node.class_name else None
    if info is None:
        return  # QC-001 names the missing class
    contract = built.contract_of(info)
    missing = [name for name in contract or ("", "") if not (name and built.is_model(name))]
    if contract is None or missing:
        stem = pascal(node.name)
        yield Finding(
            where,
            info.line,
            f"{info.name} has no contract: derive it from {ARCHETYPE_BASES[node.archetype]}"
            f"[Model{stem}Input, Model{stem}Output] with both Pydantic models defined"
            + (f" (not models: {', '.join(name or '<none>' for name in missing)})" if contract else ""),
        )
    test_name = f"tests/archetypes/test_node_{node.name}_{node.archetype}.py"
    if node.test_path is None:
        yield Finding(where, None, f"{info.name} has no test: write {test_name}")
        return
    nodes = built.walk(node.test_path)
    tests = [f for f in built.functions_in(node.test_path) if f.name.startswith("test_")]
    used = {n.id for n in nodes if isinstance(n, ast.Name)} | {
        n.asname or n.name for n in nodes if isinstance(n, ast.alias)
    }
    if not tests or info.name not in used:
        why = "has no test function" if not tests else f"never uses {info.name}"
        yield Finding(project.relative(node.test_path), None, f"{test_name} {why}: test the node it is named for")


def _feature_contract_and_test(project: Project, built: Catalog, name: str, folder: Path) -> Iterator[Finding]:
    contracts = folder / "contracts.py"
    wiring = built.wiring(name)
    where = project.relative(folder / "__init__.py")
    if not contracts.is_file() or wiring is None:
        yield Finding(
            where, None, f"feature {name} has no contracts: contracts.py and FEATURE = Feature(...) with its models"
        )
    else:
        for role in ("request_model", "response_model"):
            model = wiring.names.get(role, "")
            if not (model and built.find(model, contracts) and built.is_model(model)):
                yield Finding(
                    where,
                    wiring.line,
                    f"feature {name}: FEATURE's {role} {model or '<none>'} is not a model of contracts.py",
                )
    test = project.root / "tests" / "features" / f"test_{name}.py"
    if not test.is_file():
        yield Finding(where, None, f"feature {name} has no test: tests/features/test_{name}.py")
    elif not any(f.name.startswith("test_") for f in built.functions_in(test)):
        yield Finding(project.relative(test), None, f"tests/features/test_{name}.py has no test function")


def is_not_written(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Whether `function`'s body is (a docstring and) exactly `raise OnexError(..., code=....NOT_IMPLEMENTED)`."""
    body = _without_docstring(function.body)
    if len(body) != 1 or not isinstance(body[0], ast.Raise) or not isinstance(body[0].exc, ast.Call):
        return False
    call = body[0].exc
    code = call_keyword(call, "code")
    return base_name(call.func) == "OnexError" and isinstance(code, ast.Attribute) and code.attr == "NOT_IMPLEMENTED"


def _without_docstring(body: list[ast.stmt]) -> list[ast.stmt]:
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        return body[1:] if isinstance(body[0].value.value, str) else body
    return body


def _unwritten_methods(project: Project, path: Path) -> Iterator[Finding]:
    tree = project.module(path)
    node = next((node for node in project.nodes if path in (node.path, node.logic_path)), None)
    of_node = f" (node {node.class_name})" if node is not None and node.class_name else ""
    for owner, function in _functions_with_owner(tree):
        if is_not_written(function):
            name = f"{owner}.{function.name}" if owner else function.name
            yield Finding(
                project.relative(path),
                function.lineno,
                f"{name}{of_node} is not written: its body still raises NOT_IMPLEMENTED; write it in {path.name}",
            )


def _functions_with_owner(tree: ast.Module) -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    for statement in tree.body:
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef):
            yield "", statement
        elif isinstance(statement, ast.ClassDef):
            for item in statement.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    yield statement.name, item


def _raises_not_written(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    body = _without_docstring(function.body)
    return (
        len(body) == 1
        and isinstance(body[0], ast.Raise)
        and isinstance(body[0].exc, ast.Call)
        and base_name(body[0].exc.func) == "not_written"
    )


def _unwritten_hooks(project: Project, built: Catalog, name: str, folder: Path) -> Iterator[Finding]:
    """Hooks of `hooks.py` whose default raises `not_written(...)` must be overridden by a class of `logic.py`."""
    hooks, logic = folder / "hooks.py", folder / "logic.py"
    if not hooks.is_file():
        return
    for hooks_class in built.defined_in(hooks):
        required = [item for item in hooks_class.node.body if isinstance(item, ast.AsyncFunctionDef | ast.FunctionDef)]
        required = [item for item in required if _raises_not_written(item)]
        if not required:
            continue
        subclasses = [info for info in built.defined_in(logic) if hooks_class.name in built.ancestors(info.name)]
        written = {
            item.name
            for info in subclasses
            for item in info.node.body
            if isinstance(item, ast.AsyncFunctionDef | ast.FunctionDef) and not _raises_not_written(item)
        }
        for hook in required:
            if hook.name not in written:
                owner = subclasses[0].name if subclasses else f"the {hooks_class.name} subclass"
                yield Finding(
                    project.relative(logic if logic.is_file() else hooks),
                    subclasses[0].line if subclasses else None,
                    f"{owner} does not write the {hook.name!r} hook of feature {name} (its step has operation: "
                    f"custom): override `{hook.name}` in logic.py",
                )


def _stubs(project: Project, built: Catalog, path: Path) -> Iterator[Finding]:
    protocols = {
        id(item)
        for cls in built.walk(path)
        if isinstance(cls, ast.ClassDef) and "Protocol" in {base_name(b) for b in cls.bases}
        for item in cls.body
    }
    for function in built.functions_in(path):
        if id(function) in protocols or _is_abstract_or_overload(function):
            continue
        why = _stub_reason(function)
        if why:
            yield Finding(
                project.relative(path), function.lineno, f"{function.name} is a stub ({why}): write it or remove it"
            )


def _is_abstract_or_overload(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    names = {base_name(d.func if isinstance(d, ast.Call) else d) for d in function.decorator_list}
    return bool(names & {"abstractmethod", "overload", "abstractproperty"})


def _stub_reason(function: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    body = _without_docstring(function.body)
    raised = body[0].exc if len(body) == 1 and isinstance(body[0], ast.Raise) else None
    if (
        raised is not None
        and base_name(raised.func if isinstance(raised, ast.Call) else raised) == "NotImplementedError"
    ):
        return "it only raises NotImplementedError"
    placeholders = [
        s for s in body if isinstance(s, ast.Pass) or (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
    ]
    if len(placeholders) != len(body):
        return ""
    if body:
        return "its body is only pass or ..."
    returns = function.returns
    declares_value = returns is not None and not (isinstance(returns, ast.Constant) and returns.value is None)
    return "it is only a docstring but returns a value" if declares_value else ""


def _unfinished_comments(project: Project, path: Path) -> Iterator[Finding]:
    text = path.read_text(encoding="utf-8")
    if not UNFINISHED.search(text):
        return  # no such word anywhere: no need to tokenize the file to find its comments
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError, UnicodeDecodeError):
        return
    for token in tokens:
        if token.type == tokenize.COMMENT:
            match = UNFINISHED.search(token.string)
            if match:
                yield Finding(
                    project.relative(path),
                    token.start[0],
                    f"{match.group(1)} comment: finish the work or track it outside the code ({token.string.strip()})",
                )


# ---------------------------------------------------------------------------- QC-003 Type Safety

#: One line of mypy's output: `path:line: error: message  [code]`.
MYPY_LINE = re.compile(r"^(?P<path>[^:\n]+?):(?P<line>\d+)(?::\d+)?: (?P<severity>error|note): (?P<message>.*)$")


@gate("QC-003")
def type_safety(project: Project) -> Iterator[Finding]:
    """Mypy --strict passes; contract models use no Any and forbid extra fields."""
    built = catalog(project)
    options = project.options("QC-003")
    lenient = {str(name) for name in _string_list(options.get("lenient_models"))}
    for info in contract_classes(project, built):
        yield from _no_any(project, info)
        if info.name not in lenient:
            extra = _effective_extra(built, info)
            if extra != "forbid":
                yield Finding(
                    project.relative(info.path),
                    info.line,
                    f"contract {info.name} does not forbid extra fields (extra={extra or 'ignore, the default'}): "
                    f'set model_config = ConfigDict(extra="forbid")',
                )
    yield from _mypy(project)


def _string_list(value: object) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise TypeError(f"expected a list of names, got {value!r}")
    return [str(item) for item in value]


def _no_any(project: Project, info: ClassInfo) -> Iterator[Finding]:
    for item in info.node.body:
        if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
            uses_any = any(
                (isinstance(n, ast.Name) and n.id == "Any") or (isinstance(n, ast.Attribute) and n.attr == "Any")
                for n in ast.walk(item.annotation)
            )
            if uses_any:
                yield Finding(
                    project.relative(info.path),
                    item.lineno,
                    f"{info.name}.{item.target.id} is typed with Any: give the contract field a precise type "
                    "(JsonValue for free-form JSON)",
                )


def _effective_extra(built: Catalog, info: ClassInfo) -> str | None:
    """The `extra` setting the model has: its own, else the first base of the project's that sets one."""
    for current in built.lineage(info):
        own = _own_extra(current.node)
        if own is not None:
            return own
    return None


def _own_extra(node: ast.ClassDef) -> str | None:
    value = next((keyword.value for keyword in node.keywords if keyword.arg == "extra"), None)
    for item in node.body:
        config = _assigned_value(item, "model_config")
        if isinstance(config, ast.Call):
            value = call_keyword(config, "extra") or value
    if value is None:
        return None
    if isinstance(value, ast.Constant):
        return str(value.value)
    return base_name(value).lower() or ast.unparse(value)


def _mypy(project: Project) -> Iterator[Finding]:
    command = [sys.executable, "-m", "mypy", "--strict", "--no-pretty", "--no-error-summary", "--no-color-output"]
    if not _mypy_files_configured(project):
        command.extend(str(path) for path in ("src", "tests", "quality") if (project.root / path).is_dir())
    # The command is this interpreter's mypy on the project: nothing in it comes from outside.
    result = subprocess.run(command, cwd=project.root, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode not in (0, 1):
        raise RuntimeError(f"mypy could not run (exit {result.returncode}): {(result.stderr or result.stdout)[-2000:]}")
    findings = list(_mypy_findings(project, result.stdout))
    if result.returncode == 1 and not findings:
        findings.append(Finding("", None, f"mypy failed: {result.stdout[-2000:]}"))
    yield from findings


def _mypy_files_configured(project: Project) -> bool:
    pyproject = tomllib.loads((project.root / "pyproject.toml").read_text(encoding="utf-8"))
    return bool(pyproject.get("tool", {}).get("mypy", {}).get("files"))


def _mypy_findings(project: Project, output: str) -> Iterator[Finding]:
    for line in output.splitlines():
        match = MYPY_LINE.match(line)
        if match and match["severity"] == "error":
            path = project.relative(project.root / match["path"])
            yield Finding(path, int(match["line"]), f"mypy: {match['message'].strip()}")


# ---------------------------------------------------------------------------- QC-004 Error Handling

#: Exceptions whose `except` catches everything.
BLIND = frozenset({"Exception", "BaseException"})
#: Raised by design, never a failure: process exit and the iteration protocol.
PROTOCOL_EXCEPTIONS = frozenset({"SystemExit", "StopIteration", "StopAsyncIteration"})
#: What a Pydantic validator raises to reject a value.
VALIDATOR_EXCEPTIONS = frozenset({"ValueError", "AssertionError", "TypeError"})
VALIDATOR_DECORATORS = frozenset({"field_validator", "model_validator", "validator", "root_validator"})
VALIDATOR_WRAPPERS = frozenset({"AfterValidator", "BeforeValidator", "WrapValidator", "PlainValidator"})
#: `
WAIVER = re.compile(r"#\s*noqa:[^#]*\bBLE001\b\s*[-:]\s*\S")


@gate("QC-004")
def error_handling(project: Project) -> Iterator[Finding]:
    """No bare or blind except; exceptions chained; failures raise OnexError with a code."""
    built = catalog(project)
    onex_errors = _factories(built, "OnexError")
    validation_errors = _factories(built, "PydanticCustomError")
    quality = project.root / "quality"
    extra = sorted(quality.rglob("*.py")) if quality.is_dir() else []
    for path in [*project.python_files(), *(p for p in extra if "__pycache__" not in p.parts)]:
        lines = path.read_text(encoding="utf-8").splitlines()
        yield from _handlers(project, built, path, lines)
        if project.src in path.parents:
            yield from _raised_types(project, built, path, onex_errors, validation_errors)


def _handlers(project: Project, built: Catalog, path: Path, lines: list[str]) -> Iterator[Finding]:
    where = project.relative(path)
    for handler in (node for node in built.walk(path) if isinstance(node, ast.ExceptHandler)):
        caught = _caught_names(handler.type)
        if handler.type is None:
            yield Finding(where, handler.lineno, "bare `except:`: catch the exceptions you mean, and re-raise the rest")
        elif caught & BLIND and not _reraises(handler) and not WAIVER.search(lines[handler.lineno - 1]):
            yield Finding(
                where,
                handler.lineno,
                f"blind `except {ast.unparse(handler.type)}` without re-raise: catch what you mean, re-raise, or "
                "justify it with `# noqa: BLE001 - <why>`",
            )
        for raised in _own_raises(handler.body):
            if raised.exc is not None and raised.cause is None and not _is_name_of(raised.exc, handler.name):
                yield Finding(
                    where,
                    raised.lineno,
                    f"`raise {ast.unparse(raised.exc)[:60]}` inside `except` is not chained: "
                    f"add `from {handler.name or 'error'}` (or `from None`)",
                )
    for call in built.calls_in(path):
        if base_name(call.func) == "suppress" and any(_caught_names(arg) & BLIND for arg in call.args):
            yield Finding(where, call.lineno, "blind `suppress(...)` of every exception: suppress what you mean")


def _caught_names(expr: ast.expr | None) -> set[str]:
    if expr is None:
        return set()
    if isinstance(expr, ast.Tuple):
        return {base_name(item) for item in expr.elts}
    return {base_name(expr)}


def _own_raises(body: Iterable[ast.stmt]) -> Iterator[ast.Raise]:
    """The `raise` statements of a block, leaving out nested functions, classes and nested handlers' own ones."""
    todo: list[ast.AST] = list(body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef | ast.ExceptHandler):
            continue
        if isinstance(node, ast.Raise):
            yield node
        todo.extend(child_nodes(node))


def _reraises(handler: ast.ExceptHandler) -> bool:
    """A bare `raise`, re-raising the caught error, or raising a new one `from` it."""
    for raised in _own_raises(handler.body):
        if raised.exc is None or _is_name_of(raised.exc, handler.name) or _is_name_of(raised.cause, handler.name):
            return True
    return False


def _is_name_of(expr: ast.expr | None, name: str | None) -> bool:
    return name is not None and isinstance(expr, ast.Name) and expr.id == name


def _factories(built: Catalog, root: str) -> frozenset[str]:
    """Exception class `root`, its subclasses in the project, and functions or methods annotated to return one."""
    classes = {root} | {name for name in built.classes if root in built.ancestors(name)}
    factories = set(classes)
    for path in built.project.python_files():
        for function in built.functions_in(path):
            if function.returns is not None and _annotation_name(function.returns) in classes:
                factories.add(function.name)
    return frozenset(factories)


def _annotation_name(annotation: ast.expr) -> str:
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        return annotation.value.strip()
    return base_name(annotation)


def _raised_types(
    project: Project, built: Catalog, path: Path, onex_errors: frozenset[str], validation_errors: frozenset[str]
) -> Iterator[Finding]:
    where = project.relative(path)
    validators = _validator_functions(built, path)
    allowed = _translated_exceptions(built, path, onex_errors) | PROTOCOL_EXCEPTIONS | validation_errors
    scopes: list[tuple[list[ast.stmt], frozenset[str]]] = [(project.module(path).body, allowed)]
    for function in built.functions_in(path):
        in_validator = function.name in validators
        scopes.append((function.body, allowed | VALIDATOR_EXCEPTIONS if in_validator else allowed))
    for body, permitted in scopes:
        for raised in _own_raises(body):
            why = _raise_problem(raised, onex_errors, permitted)
            if why:
                yield Finding(where, raised.lineno, why)


def _raise_problem(raised: ast.Raise, onex_errors: frozenset[str], permitted: frozenset[str]) -> str:
    exc = raised.exc
    if exc is None or (isinstance(exc, ast.Name) and not exc.id[:1].isupper()):
        return ""  # a bare re-raise, or re-raising an error held in a variable
    name = base_name(exc.func if isinstance(exc, ast.Call) else exc)
    if name in onex_errors:
        if name == "OnexError" and isinstance(exc, ast.Call) and call_keyword(exc, "code") is None:
            return "OnexError raised without code=: give every failure a code from EnumCoreErrorCode"
        return ""
    if name in permitted:
        return ""
    return (
        f"raises {name or ast.unparse(exc)[:40]}: failures raise OnexError with a code from EnumCoreErrorCode "
        "(chained with `from` when caused by another error)"
    )


def _validator_functions(built: Catalog, path: Path) -> set[str]:
    """Functions that Pydantic calls as validators: decorated, or passed to `*Validator(...)` in this module."""
    found = {
        function.name
        for function in built.functions_in(path)
        if {base_name(d.func if isinstance(d, ast.Call) else d) for d in function.decorator_list} & VALIDATOR_DECORATORS
    }
    for call in built.calls_in(path):
        if base_name(call.func) in VALIDATOR_WRAPPERS:
            found.update(base_name(arg) for arg in call.args if base_name(arg))
    return found


def _translated_exceptions(built: Catalog, path: Path, onex_errors: frozenset[str]) -> frozenset[str]:
    """Exception types this module catches and turns into an `OnexError` (raised `from` the caught error)."""
    translated: set[str] = set()
    for handler in (node for node in built.walk(path) if isinstance(node, ast.ExceptHandler)):
        for raised in _own_raises(handler.body):
            exc = raised.exc
            name = base_name(exc.func if isinstance(exc, ast.Call) else exc) if exc is not None else ""
            if name in onex_errors and raised.cause is not None:
                translated |= _caught_names(handler.type) - BLIND
    return frozenset(translated)
