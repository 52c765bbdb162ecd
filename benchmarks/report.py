"""The results of a run: `results.json` for machines, `results.md` (a Markdown table) for people."""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .model import Comparison, Series

#: Between the two ends of a range (an en dash).
RANGE = "\u2013"

#: What an area's outcome can be.
STATUSES = ("ok", "not run", "crashed")


@dataclass(frozen=True)
class AreaOutcome:
    """What one area gave: its comparisons, or why it did not run or where it crashed."""

    area: str
    status: str
    comparisons: tuple[Comparison, ...] = ()
    reason: str = ""
    seconds: float = 0.0

    def __post_init__(self) -> None:
        """Refuse an unknown status."""
        if self.status not in STATUSES:
            raise ValueError(f"unknown area status {self.status!r}: expected one of {', '.join(STATUSES)}")

    def to_json(self) -> dict[str, Any]:
        """The outcome as results.json stores it (its comparisons are listed apart)."""
        return {"area": self.area, "status": self.status, "reason": self.reason, "seconds": round(self.seconds, 2)}


@dataclass(frozen=True)
class Machine:
    """The machine a run measured on."""

    cpu: str
    cores: int
    ram_gib: float
    os: str
    python: str
    versions: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The machine as results.json stores it."""
        return {
            "cpu": self.cpu,
            "cores": self.cores,
            "ram_gib": self.ram_gib,
            "os": self.os,
            "python": self.python,
            "versions": dict(self.versions),
        }

    def line(self) -> str:
        """One line for people: `Intel Xeon, 2 cores, 23.4 GiB RAM, Linux-6.1-x86_64, Python 3.11.2; copier 9.19.1`."""
        versions = ", ".join(f"{name} {version}" for name, version in sorted(self.versions.items()))
        text = f"{self.cpu}, {self.cores} cores, {self.ram_gib:.1f} GiB RAM, {self.os}, Python {self.python}"
        return f"{text}; {versions}" if versions else text


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def _ram_gib() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        return 0.0


def this_machine(versions: Mapping[str, str]) -> Machine:
    """The machine this process runs on, with the tool `versions` the run used."""
    return Machine(
        cpu=_cpu_model(),
        cores=os.cpu_count() or 1,
        ram_gib=round(_ram_gib(), 1),
        os=platform.platform(),
        python=platform.python_version(),
        versions=versions,
    )


def _number(value: float) -> str:
    """A value with three significant digits, without an exponent for the values benchmarks see."""
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:#.3g}"


def format_series(series: Series | None) -> str:
    """`12.3 s (11.9-13.0)` with an en dash: the median and the range; an em dash without a series."""
    if series is None:
        return "—"
    median = f"{_number(series.median)} {series.unit}"
    if len(series.samples) == 1:
        return median
    return f"{median} ({_number(series.min)}{RANGE}{_number(series.max)})"


def verdict(comparison: Comparison) -> str:
    """✓ within budget, ✗ over it, — when the figure has no budget or no baseline."""
    within = comparison.within_budget
    return "—" if within is None else ("✓" if within else "✗")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(comparisons: Sequence[Comparison]) -> str:
    """The comparisons as a Markdown table, one row each."""
    rows = [
        f"| area | figure | subject median (min{RANGE}max) | baseline median (min{RANGE}max) "
        "| ratio | budget | verdict | note |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for item in comparisons:
        ratio = "—" if item.ratio is None else f"{item.ratio:.2f}x"
        budget = "—" if item.budget is None else f"≤ {item.budget:g}x"
        cells = [
            item.area,
            item.name,
            format_series(item.subject),
            format_series(item.baseline),
            ratio,
            budget,
            verdict(item),
            item.note,
        ]
        rows.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return "\n".join(rows)


def render_markdown(outcomes: Sequence[AreaOutcome], machine: Machine, date: datetime) -> str:
    """results.md: the table of every comparison, the areas that did not give any, and the machine."""
    comparisons = [item for outcome in outcomes for item in outcome.comparisons]
    lines = [
        f"# Benchmarks, {date:%Y-%m-%d %H:%M} UTC",
        "",
        f"Machine: {machine.line()}.",
        "",
        "Ratios are subject / baseline on medians (baseline / subject for throughputs): how many times worse.",
        "",
        markdown_table(comparisons),
    ]
    missing = [outcome for outcome in outcomes if outcome.status != "ok"]
    if missing:
        lines += ["", "Areas without figures:", ""]
        lines += [f"- {outcome.area}: {outcome.status}: {outcome.reason.splitlines()[0]}" for outcome in missing]
    return "\n".join(lines) + "\n"


def results_json(outcomes: Sequence[AreaOutcome], machine: Machine, date: datetime) -> dict[str, Any]:
    """results.json: the machine, the date, each area's outcome and every comparison."""
    return {
        "date": date.isoformat(),
        "machine": machine.to_json(),
        "areas": [outcome.to_json() for outcome in outcomes],
        "comparisons": [item.to_json() for outcome in outcomes for item in outcome.comparisons],
    }


def write_results(
    output: Path, outcomes: Sequence[AreaOutcome], machine: Machine, date: datetime | None = None
) -> tuple[Path, Path]:
    """Write results.json and results.md into `output`; return their paths."""
    when = date or datetime.now(UTC)
    output.mkdir(parents=True, exist_ok=True)
    json_path, markdown_path = output / "results.json", output / "results.md"
    json_path.write_text(json.dumps(results_json(outcomes, machine, when), indent=2) + "\n", encoding="utf-8")
    markdown_path.write_text(render_markdown(outcomes, machine, when), encoding="utf-8")
    return json_path, markdown_path
