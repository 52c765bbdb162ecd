"""`python -m benchmarks`: run the benchmark areas and write build/bench/results.json and results.md.

    python -m benchmarks                       # every area, 3 repeats
    python -m benchmarks --quick               # 1 repeat, smaller workloads
    python -m benchmarks --only generation gates --repeats 5

Progress goes to stderr, one line per timed run. A figure over its budget is reported, not an
error: the exit code is 0 unless an area crashed (1; the other areas still run and are written)
or the context could not be prepared (2).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import importlib.metadata
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from tests.rendering import SUITE_ROOT

from .context import clean_environ, nox_command, prepare_context, run
from .model import Area, BenchContext
from .report import AreaOutcome, this_machine, write_results

#: The areas, in the order they run: each is the module `benchmarks.<area>` with `run(ctx)`.
AREAS = ("generation", "gates", "runtime", "buses", "serve")


def _say(text: str) -> None:
    sys.stderr.write(f"{text}\n")
    sys.stderr.flush()


def load_area(area: str) -> Area | str:
    """The `run` function of `benchmarks.<area>`, or why there is none (the module is missing)."""
    name = f"{__package__ or 'benchmarks'}.{area}"
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:  # the module exists but one of its own imports is missing: a crash
            raise
        return f"no module {name}"
    function = getattr(module, "run", None)
    if not callable(function):
        return f"{name} has no run(ctx) function"
    area_function: Area = function
    return area_function


def run_area(area: str, ctx: BenchContext, loader: Callable[[str], Area | str] = load_area) -> AreaOutcome:
    """Run one area; a missing module is `not run`, any exception `crashed` (with its traceback logged)."""
    area_ctx = dataclasses.replace(ctx, log=lambda text: ctx.log(f"[{area}] {text}"))
    start = time.perf_counter()
    try:
        function = loader(area)
        if isinstance(function, str):
            area_ctx.log(f"not run: {function}")
            return AreaOutcome(area, "not run", reason=function)
        comparisons = tuple(function(area_ctx))
    except Exception as exc:  # noqa: BLE001 - one area's crash must not lose the others' figures
        area_ctx.log(f"crashed:\n{traceback.format_exc()}")
        return AreaOutcome(area, "crashed", reason=f"{type(exc).__name__}: {exc}", seconds=time.perf_counter() - start)
    seconds = time.perf_counter() - start
    area_ctx.log(f"done in {seconds:.0f} s: {len(comparisons)} figures")
    return AreaOutcome(area, "ok", comparisons, seconds=seconds)


def run_areas(
    areas: Sequence[str], ctx: BenchContext, loader: Callable[[str], Area | str] = load_area
) -> list[AreaOutcome]:
    """Run `areas` in order; each outcome says whether it ran, crashed or was missing."""
    return [run_area(area, ctx, loader) for area in areas]


def _version(distribution: str, python: Path | None = None) -> str:
    """The installed version of `distribution`, here or in the environment of `python`."""
    if python is None:
        try:
            return importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"
    code = f"import importlib.metadata as m; print(m.version({distribution!r}))"
    try:
        return run([python, "-c", code], Path.cwd(), clean_environ()).strip()
    except Exception:  # noqa: BLE001 - a version we cannot read is reported as such
        return "not installed"


def _nox_version() -> str:
    """The version of the nox the gates area runs (`nox --version` prints it to stderr)."""
    try:
        result = subprocess.run(
            [*nox_command(), "--version"], capture_output=True, text=True, check=False, env=clean_environ()
        )
    except (OSError, FileNotFoundError):
        return "not installed"
    return (result.stdout.strip() or result.stderr.strip()) or "unknown"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description="Run the suite's benchmarks against their baselines."
    )
    parser.add_argument("--quick", action="store_true", help="one repeat and smaller workloads: a smoke run")
    parser.add_argument(
        "--only", nargs="+", choices=AREAS, metavar="AREA", help=f"run these areas only ({', '.join(AREAS)})"
    )
    parser.add_argument("--repeats", type=int, help="runs of each measurement (default: 3; 1 with --quick)")
    parser.add_argument(
        "--output", type=Path, default=SUITE_ROOT / "build" / "bench", help="where the results go (build/bench)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Prepare the context, run the areas, write the results; return the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    repeats = args.repeats if args.repeats is not None else (1 if args.quick else 3)
    if repeats < 1:
        parser.error("--repeats must be at least 1")
    areas = [area for area in AREAS if args.only is None or area in args.only]
    output: Path = args.output.resolve()
    try:
        ctx = prepare_context(output / "work", repeats, args.quick, _say)
    except Exception:  # noqa: BLE001 - said plainly, with the traceback, instead of a bare crash
        _say(f"benchmarks: cannot prepare the library to measure on:\n{traceback.format_exc()}")
        return 2
    outcomes = run_areas(areas, ctx)
    versions = {
        "copier": _version("copier"),
        "nox": _nox_version(),
        "llama-index-workflows": _version("llama-index-workflows", ctx.python),
    }
    json_path, markdown_path = write_results(output, outcomes, this_machine(versions))
    _say(markdown_path.read_text(encoding="utf-8"))
    _say(f"results: {json_path} and {markdown_path}")
    return 1 if any(outcome.status == "crashed" for outcome in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
