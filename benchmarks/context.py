"""What the areas share: the prepared library and environment, and how to time a command.

The context is prepared once per run: a library with the three example features, rendered
in-process from the suite's working tree (as the tests render it), committed to a fresh git
repository, and the tests' shared environment for its requirements (`tests/project_env.py`).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from copier.errors import DirtyLocalWarning

from tests.project_env import prepare_env, requirements_of
from tests.rendering import EXAMPLES, SUITE_ROOT, git, load_spec, render_feature, render_library

from .model import BenchContext, Series

#: Variables a parent virtual environment or nox session sets, which would send a child's installs
#: and tools to the parent's environment (nox sets UV_PYTHON and UV_PROJECT_ENVIRONMENT).
INHERITED_ENV_VARIABLES = ("VIRTUAL_ENV", "UV_PYTHON", "UV_PROJECT_ENVIRONMENT", "PYTHONPATH", "CONDA_PREFIX")

#: The example features every library of the benchmarks carries.
EXAMPLE_SPECS = tuple(sorted(EXAMPLES.glob("*.yml")))


class BenchmarkError(RuntimeError):
    """A command a benchmark times failed: the benchmark cannot report a figure."""


def clean_environ(bin_dir: Path | None = None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without what ties children to its virtual environment.

    With `bin_dir`, that folder goes first on PATH and VIRTUAL_ENV names its environment.
    """
    environ = {key: value for key, value in os.environ.items() if key not in INHERITED_ENV_VARIABLES}
    own_bin = str(Path(sys.prefix) / "bin")
    environ["PATH"] = os.pathsep.join(part for part in environ.get("PATH", "").split(os.pathsep) if part != own_bin)
    if bin_dir is not None:
        environ["PATH"] = f"{bin_dir}{os.pathsep}{environ['PATH']}"
        environ["VIRTUAL_ENV"] = str(bin_dir.parent)
    environ.update(extra or {})
    return environ


def run(args: Sequence[str | Path], cwd: Path, env: Mapping[str, str] | None = None, ok: Sequence[int] = (0,)) -> str:
    """Run `args` in `cwd`; return its output, or raise BenchmarkError with it when the exit code is not in `ok`."""
    result = subprocess.run([str(arg) for arg in args], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if result.returncode not in ok:
        command = " ".join(str(arg) for arg in args)
        raise BenchmarkError(
            f"`{command}` exited {result.returncode} in {cwd}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result.stdout


def timed(
    args: Sequence[str | Path], cwd: Path, env: Mapping[str, str] | None = None, ok: Sequence[int] = (0,)
) -> float:
    """Seconds `args` takes to run in `cwd` (wall clock); BenchmarkError when it fails."""
    start = time.perf_counter()
    run(args, cwd, env, ok)
    return time.perf_counter() - start


def timed_call(action: Callable[[], object]) -> float:
    """Seconds `action()` takes (wall clock)."""
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def alternate(
    ctx: BenchContext,
    label: str,
    subject: tuple[str, Callable[[int], float]],
    baseline: tuple[str, Callable[[int], float]],
) -> tuple[Series, Series]:
    """Time `subject` and `baseline` `ctx.repeats` times each, alternating, and log every run.

    Each is a (name, measure) pair; `measure(i)` runs repeat `i` (0-based) and returns its seconds.
    Alternating spreads the machine's load changes over both series alike.
    """
    samples: dict[str, list[float]] = {subject[0]: [], baseline[0]: []}
    for index in range(ctx.repeats):
        for name, measure in (subject, baseline):
            seconds = measure(index)
            samples[name].append(seconds)
            ctx.log(f"{label}: {name} run {index + 1}/{ctx.repeats}: {seconds:.2f} s")
    return Series(subject[0], tuple(samples[subject[0]])), Series(baseline[0], tuple(samples[baseline[0]]))


def commit_all(repository: Path, message: str) -> None:
    """Commit everything in `repository` (a git repository) with a fixed identity."""
    git("add", "--all", cwd=repository)
    git("commit", "--quiet", "--allow-empty", "--no-verify", "--message", message, cwd=repository)


def init_repository(directory: Path, message: str) -> Path:
    """Make `directory` a git repository on `main` with everything committed, as a user's project is."""
    git("init", "--quiet", "--initial-branch=main", cwd=directory)
    commit_all(directory, message)
    return directory


def renamed_specs(count: int) -> list[dict[str, object]]:
    """`count` feature specs: the examples in turn, renamed `<example>_01`, `<example>_02`, ..."""
    examples = [load_spec(path) for path in EXAMPLE_SPECS]
    return [
        {
            **examples[index % len(examples)],
            "feature_name": f"{examples[index % len(examples)]['feature_name']}_{index + 1:02d}",
        }
        for index in range(count)
    ]


def render_feature_library(
    destination: Path, specs: Sequence[Mapping[str, object]], src: str | Path = SUITE_ROOT, vcs_ref: str | None = "HEAD"
) -> Path:
    """A library named "ONEX Demo" with the features of `specs`, rendered in-process and committed."""
    with warnings.catch_warnings():
        # Copier warns when it renders uncommitted changes of the suite's working tree: that is what we measure.
        warnings.simplefilter("ignore", DirtyLocalWarning)
        render_library(destination, src, vcs_ref, project_name="ONEX Demo")
        for spec in specs:
            render_feature(destination, dict(spec), src, vcs_ref)
    return init_repository(destination, "ONEX Demo, as generated")


def copy_project(source: Path, destination: Path) -> Path:
    """A copy of the project `source` (its git repository included) at `destination`."""
    shutil.copytree(source, destination, symlinks=True)
    return destination


def nox_command() -> list[str]:
    """How to start nox: from this environment, from noxw.py's `.tools/`, or from PATH."""
    if importlib.util.find_spec("nox") is not None:
        return [sys.executable, "-m", "nox"]
    for candidate in (SUITE_ROOT / ".tools" / "bin" / "nox", shutil.which("nox")):
        if candidate and Path(candidate).is_file():
            return [str(candidate)]
    raise FileNotFoundError("nox is not installed here, in .tools/ (python3 noxw.py makes it) or on PATH")


def prepare_context(
    work: Path, repeats: int, quick: bool, log: Callable[[str], None], suite: Path = SUITE_ROOT
) -> BenchContext:
    """Render the library every area measures on and prepare its environment (built once, then reused)."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    log(f"rendering a library with the {len(EXAMPLE_SPECS)} example features into {work / 'onex-demo'}")
    library = render_feature_library(work / "onex-demo", [load_spec(path) for path in EXAMPLE_SPECS], suite)
    log("preparing its environment (runtime, dev and kafka requirements; cached in build/test-envs/)")
    env = prepare_env(requirements_of(library, extras=["kafka"]))
    return BenchContext(
        suite=suite,
        library=library,
        python=env.bin / "python",
        work=work,
        repeats=repeats,
        quick=quick,
        log=log,
    )
