"""Report a run: a progress line per gate, the table, `report.json` and a JUnit XML file.

The table is for people (every failure with its file, line and reason); `report.json`
is for tools; `junit.xml` is what CI systems show as test results (one test case per gate).
"""

from __future__ import annotations

import json
import re
import socket
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from .model import EnumGateStatus, GateResult, GateSpec

__all__ = ["Run", "format_duration", "progress_line", "render_list", "render_table", "write_json", "write_junit"]

#: Characters XML 1.0 cannot hold (control characters other than tab, newline and carriage return).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


@dataclass(frozen=True)
class Run:
    """One run of the gates: what ran, when, and for how long."""

    project: str
    started: datetime
    duration_ms: float
    results: Sequence[GateResult]

    @property
    def passed(self) -> bool:
        """No blocking gate failed or broke."""
        return not self.blocking_failures

    @property
    def blocking_failures(self) -> list[GateResult]:
        """The blocking gates that failed or broke."""
        return [result for result in self.results if result.spec.blocking and result.failed]

    def count(self, status: EnumGateStatus) -> int:
        """How many gates ended with `status`."""
        return sum(result.status is status for result in self.results)


def format_duration(ms: float) -> str:
    """`12 ms`, `1.5 s`, `1 min 5 s`: short and readable."""
    if ms < 1000:  # noqa: PLR2004 - a second
        return f"{ms:.0f} ms"
    seconds = ms / 1000
    if seconds < 60:  # noqa: PLR2004 - a minute
        return f"{seconds:.1f} s"
    return f"{int(seconds // 60)} min {seconds % 60:.0f} s"


def _status(result: GateResult) -> str:
    """The status as the table shows it: failures stand out in capitals."""
    quiet = result.status in (EnumGateStatus.PASSED, EnumGateStatus.SKIPPED)
    return result.status.value if quiet else result.status.value.upper()


def progress_line(result: GateResult, done: int, total: int, name_width: int) -> str:
    """`[ 7/23] QC-001 ONEX Standards  pass  12 ms`: one finished gate."""
    width = len(str(total))
    return (
        f"[{done:>{width}}/{total}] {result.spec.id} {result.spec.name:<{name_width}}  "
        f"{_status(result):<5}  {format_duration(result.duration_ms)}"
    )


def render_table(run: Run) -> str:
    """The run as a table: one row per gate, then each failure's findings (or the reason of a skip or error)."""
    headers = ("Gate", "Name", "Status", "Time", "Budget")
    rows = [
        (
            result.spec.id,
            result.spec.name,
            _status(result),
            format_duration(result.duration_ms),
            format_duration(result.spec.budget_ms) + ("  over" if result.duration_ms > result.spec.budget_ms else ""),
        )
        for result in run.results
    ]
    w_id, w_name, w_status, w_time = (max(len(row[i]) for row in [headers, *rows]) for i in range(4))

    def line(cells: tuple[str, str, str, str, str]) -> str:
        gate_id, name, status, duration, budget = cells
        return f"{gate_id:<{w_id}}  {name:<{w_name}}  {status:<{w_status}}  {duration:>{w_time}}  {budget}".rstrip()

    indent = " " * (w_id + 2)
    out = [line(headers), "-" * len(line(headers))]
    for result, row in zip(run.results, rows, strict=True):
        out.append(line(row))
        if result.reason:
            out.append(f"{indent}{result.reason}")
        out.extend(
            f"{indent}{finding.location()}  {finding.message}" if finding.location() else f"{indent}{finding.message}"
            for finding in result.findings
        )
    counts = ", ".join(
        f"{run.count(status)} {status.value}"
        for status in EnumGateStatus
        if run.count(status) or status is EnumGateStatus.PASSED
    )
    verdict = "passed" if run.passed else "FAILED: " + ", ".join(result.spec.id for result in run.blocking_failures)
    out.append("")
    out.append(f"{len(run.results)} gates in {format_duration(run.duration_ms)}: {counts}. {verdict}")
    return "\n".join(out)


def render_list(specs: Sequence[GateSpec]) -> str:
    """The gates as `--list` shows them: id, category, how it runs, blocking, name and what it checks."""
    name_width = max(len(spec.name) for spec in specs)
    category_width = max(len(spec.category) for spec in specs)
    return "\n".join(
        f"{spec.id}  {spec.category:<{category_width}}  {spec.runs.value:<7}  "
        f"{'blocking' if spec.blocking else 'advisory'}  {spec.name:<{name_width}}  {spec.checks}"
        for spec in specs
    )


def _as_json(run: Run) -> dict[str, Any]:
    return {
        "project": run.project,
        "started": run.started.isoformat(),
        "duration_ms": run.duration_ms,
        "passed": run.passed,
        "gates": [
            {
                "id": result.spec.id,
                "name": result.spec.name,
                "category": result.spec.category,
                "blocking": result.spec.blocking,
                "status": result.status.value,
                "duration_ms": result.duration_ms,
                "budget_ms": result.spec.budget_ms,
                "reason": result.reason,
                "findings": [
                    {"path": finding.path, "line": finding.line, "message": finding.message}
                    for finding in result.findings
                ],
            }
            for result in run.results
        ],
    }


def write_json(run: Run, path: Path) -> Path:
    """Write the run to `path` (`build/gates/report.json`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_as_json(run), indent=2) + "\n", encoding="utf-8")
    return path


def _xml_text(text: str) -> str:
    return _NOT_XML.sub("?", text)


def write_junit(run: Run, path: Path) -> Path:
    """Write the run as JUnit XML to `path`: one test case per gate, in one test suite.

    A failed gate is a `<failure>` whose text lists its findings, a broken check an
    `<error>`, a skipped gate `<skipped>`; advisory (non-blocking) gates say so in their
    failure message.
    """
    seconds = f"{run.duration_ms / 1000:.3f}"
    counts = {
        "tests": str(len(run.results)),
        "failures": str(run.count(EnumGateStatus.FAILED)),
        "errors": str(run.count(EnumGateStatus.ERROR)),
        "skipped": str(run.count(EnumGateStatus.SKIPPED)),
        "time": seconds,
    }
    suites = ET.Element("testsuites", {"name": f"{run.project} quality gates", **counts})
    suite = ET.SubElement(
        suites,
        "testsuite",
        {
            "name": f"{run.project} quality gates",
            **counts,
            "timestamp": run.started.replace(tzinfo=None, microsecond=0).isoformat(),
            "hostname": socket.gethostname(),
        },
    )
    for result in run.results:
        case = ET.SubElement(
            suite,
            "testcase",
            {
                "classname": f"quality.{result.spec.category}",
                "name": f"{result.spec.id} {result.spec.name}",
                "time": f"{result.duration_ms / 1000:.3f}",
            },
        )
        advisory = "" if result.spec.blocking else " (advisory)"
        if result.status is EnumGateStatus.FAILED:
            findings = "\n".join(
                f"{finding.location()}: {finding.message}" if finding.location() else finding.message
                for finding in result.findings
            )
            plural = "s" if len(result.findings) > 1 else ""
            failure = ET.SubElement(
                case,
                "failure",
                {"type": "GateFailed", "message": _xml_text(f"{len(result.findings)} finding{plural}{advisory}")},
            )
            failure.text = _xml_text(findings)
        elif result.status is EnumGateStatus.ERROR:
            error = ET.SubElement(case, "error", {"type": "GateError", "message": _xml_text(result.reason + advisory)})
            error.text = _xml_text(result.reason)
        elif result.status is EnumGateStatus.SKIPPED:
            ET.SubElement(case, "skipped", {"message": _xml_text(result.reason)})
    ET.indent(suites)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(suites).write(path, encoding="utf-8", xml_declaration=True)
    return path
