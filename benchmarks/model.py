"""What a benchmark measures: timed series, and comparisons of a subject against its baseline.

Every figure the suite reports is a ratio against a baseline measured in the same run
(these machines are noisy), with the median, min and max of several runs.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Series:
    """Repeated measurements of one thing, in `unit` ("s" per run, or "ops/s" for throughput)."""

    name: str
    samples: tuple[float, ...]
    unit: str = "s"

    @property
    def median(self) -> float:
        """The median sample."""
        return statistics.median(self.samples)

    @property
    def min(self) -> float:
        """The smallest sample."""
        return min(self.samples)

    @property
    def max(self) -> float:
        """The largest sample."""
        return max(self.samples)

    def percentile(self, q: float) -> float:
        """The `q`-th percentile (0-100), nearest rank."""
        ordered = sorted(self.samples)
        rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
        return ordered[rank]

    def to_json(self) -> dict[str, Any]:
        """The series as results.json stores it."""
        return {
            "name": self.name,
            "unit": self.unit,
            "median": self.median,
            "min": self.min,
            "max": self.max,
            "p95": self.percentile(95),
            "samples": list(self.samples),
        }


@dataclass(frozen=True)
class Comparison:
    """One reported figure: `subject` against `baseline`, and the budget of DESIGN.md §6 if it has one.

    The ratio is how many times worse the subject is than its baseline: for times (unit "s")
    subject / baseline, for throughputs (unit "ops/s") baseline / subject. A budget is the
    largest ratio allowed; `None` where DESIGN.md sets none (the figure is reported only).
    """

    area: str
    name: str
    subject: Series
    baseline: Series | None = None
    budget: float | None = None
    note: str = ""
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        """How many times worse than the baseline, on medians; None without a baseline."""
        if self.baseline is None:
            return None
        if self.subject.unit == "ops/s":
            return self.baseline.median / self.subject.median
        return self.subject.median / self.baseline.median

    @property
    def within_budget(self) -> bool | None:
        """Whether the ratio is within the budget; None when there is no budget or no baseline."""
        ratio = self.ratio
        return None if ratio is None or self.budget is None else ratio <= self.budget

    def to_json(self) -> dict[str, Any]:
        """The comparison as results.json stores it."""
        return {
            "area": self.area,
            "name": self.name,
            "subject": self.subject.to_json(),
            "baseline": self.baseline.to_json() if self.baseline else None,
            "ratio": self.ratio,
            "budget": self.budget,
            "within_budget": self.within_budget,
            "note": self.note,
            "extra": self.extra,
        }


@dataclass(frozen=True)
class BenchContext:
    """What every benchmark area gets: a prepared library and the environment to run it in.

    `library` is a rendered library with the three example features (a git repository,
    committed); `python` is an interpreter whose environment has the library's runtime, `dev`
    and `kafka` requirements (not the library itself: put `library / "src"` on PYTHONPATH).
    `work` is a scratch folder for the area's own renders. `repeats` is how many times each
    measurement runs (1 with --quick); `quick` asks areas to shrink their workloads too.
    """

    suite: Path
    library: Path
    python: Path
    work: Path
    repeats: int
    quick: bool
    log: Callable[[str], None]


#: A benchmark area: measures and returns its comparisons.
Area = Callable[[BenchContext], Sequence[Comparison]]
