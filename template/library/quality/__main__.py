"""`python -m quality`: run the quality gates and report them.

    python -m quality                      # all 23 gates
    python -m quality QC-001 SV-003        # the gates named
    python -m quality --category structural --runs static
    python -m quality --list               # what each gate checks

Gate ids, `--category` and `--runs` each pick gates; a gate runs when any of them
picks it, and all gates run when none is given. Progress goes to stderr, one line per
finished gate; the table goes to stdout; `report.json` and `junit.xml` go to
`--report-dir`. Exit code: 0 when no blocking gate fails, 1 when one does, 2 for a
usage error (an unknown gate id, say).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import yaml

from .gates import IMPORT_ERRORS, REGISTRY
from .model import CATEGORIES, EnumGateRuns, GateResult, load_specs
from .project import Project
from .report import Run, progress_line, render_list, render_table, write_json, write_junit
from .runner import UnknownGateError, run_gates, select

#: The project root: `quality/` lives in it.
ROOT = Path(__file__).resolve().parent.parent


def _say(text: str, stream: TextIO | None = None) -> None:
    """Write `text` and a newline to `stream` (stdout by default) at once."""
    out = stream or sys.stdout
    out.write(f"{text}\n")
    out.flush()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m quality",
        description="Run the library's quality gates (quality/gates.yaml) and report them.",
    )
    parser.add_argument("ids", nargs="*", metavar="GATE_ID", help="gates to run, e.g. QC-001 SV-003 (default: all)")
    parser.add_argument(
        "--category", action="append", default=[], choices=CATEGORIES, help="run this category's gates (repeatable)"
    )
    parser.add_argument(
        "--runs",
        action="append",
        default=[],
        choices=[runs.value for runs in EnumGateRuns],
        help="run the gates that run this way: static, tool or runtime (repeatable)",
    )
    parser.add_argument(
        "--report-dir",
        type=Path,
        default=Path("build/gates"),
        help="where report.json and junit.xml go, relative to the project root (default: build/gates)",
    )
    parser.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="gates run at once (default: the number of CPUs)"
    )
    parser.add_argument("--list", action="store_true", help="list the selected gates and what they check, then exit")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the gates the command line selects; return the exit code."""
    args = _parser().parse_args(argv)
    try:
        specs = load_specs()
    except (OSError, TypeError, ValueError, yaml.YAMLError) as exc:
        _say(f"quality: cannot read the gate specification: {exc}", sys.stderr)
        return 2
    unspecified = sorted(set(REGISTRY) - {spec.id for spec in specs})
    if unspecified:
        _say(f"quality: checks registered for gates not in gates.yaml: {', '.join(unspecified)}", sys.stderr)
        return 2
    try:
        selected = select(specs, [gate_id.upper() for gate_id in args.ids], args.category, args.runs)
    except UnknownGateError as exc:
        _say(f"quality: {exc}", sys.stderr)
        return 2
    if args.list:
        _say(render_list(selected))
        return 0
    if not selected:
        _say("quality: no gate matches the selection", sys.stderr)
        return 2

    project = Project(ROOT, specs)
    name_width = max(len(spec.name) for spec in selected)
    finished = 0

    def progress(result: GateResult) -> None:
        nonlocal finished
        finished += 1
        _say(progress_line(result, finished, len(selected), name_width), sys.stderr)

    started = datetime.now(UTC)
    start = time.perf_counter()
    broken = "; ".join(f"quality/gates/{module}.py does not import: {error}" for module, error in IMPORT_ERRORS.items())
    project.parse_all()  # before the gates' threads: CPython's parser is not safe in two threads at once
    results = run_gates(selected, project, jobs=args.jobs, on_result=progress, why_unregistered=broken)
    run = Run(project.name, started, round((time.perf_counter() - start) * 1000, 1), results)

    report_dir = args.report_dir if args.report_dir.is_absolute() else ROOT / args.report_dir
    _say(render_table(run))
    json_path = write_json(run, report_dir / "report.json")
    junit_path = write_junit(run, report_dir / "junit.xml")
    _say(f"Reports: {project.relative(json_path)}, {project.relative(junit_path)}")
    return 0 if run.passed else 1


if __name__ == "__main__":
    sys.exit(main())
