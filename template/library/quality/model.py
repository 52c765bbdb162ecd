"""What a gate is: its specification, its findings, its result, and the registry of checks.

A gate's specification (`GateSpec`) comes from `quality/gates.yaml`; its check is a
function registered under the gate's id with `@gate("QC-001")`. A check takes the
`Project` and yields `Finding`s: no findings is a pass. A check that does not apply
raises `GateSkipped` with the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

if TYPE_CHECKING:
    from .project import Project

__all__ = [
    "CATEGORIES",
    "REGISTRY",
    "SPEC_FILE",
    "Check",
    "EnumGateRuns",
    "EnumGateStatus",
    "Finding",
    "GateResult",
    "GateSkipped",
    "GateSpec",
    "gate",
    "load_specs",
]

#: The specification of every gate, next to this module.
SPEC_FILE = Path(__file__).with_name("gates.yaml")

#: The gate categories, in report order; each one is also a nox tag (`nox -t structural`).
CATEGORIES = (
    "structural",
    "process",
    "interface",
    "coordination",
    "quality-compliance",
    "performance",
    "knowledge",
    "framework",
)


class EnumGateRuns(StrEnum):
    """How a gate does its work."""

    STATIC = "static"  # reads files and their syntax trees
    TOOL = "tool"  # runs a tool (ruff, mypy, pytest, pre-commit) in a subprocess
    RUNTIME = "runtime"  # imports and runs the library


class EnumGateStatus(StrEnum):
    """The outcome of one gate."""

    PASSED = "pass"
    FAILED = "fail"
    SKIPPED = "skip"
    ERROR = "error"


@dataclass(frozen=True)
class Finding:
    """One reason a gate fails.

    Attributes:
        path: Project-relative POSIX path, or "" when the finding is not about a file.
        line: 1-based line number, when known.
        message: Why it fails: specific and actionable.
    """

    path: str
    line: int | None
    message: str

    def location(self) -> str:
        """`src/pkg/x.py:12`, `src/pkg/x.py`, or "" for a finding about no file."""
        if not self.path:
            return ""
        return f"{self.path}:{self.line}" if self.line is not None else self.path


class GateSkipped(Exception):  # noqa: N818 - raised to skip, like pytest's Skipped
    """Raised by a check that does not apply to this project; the message says why."""


@dataclass(frozen=True)
class GateSpec:
    """One gate as `gates.yaml` specifies it.

    Attributes:
        id: The ONEX gate id (`QC-001`).
        name: The ONEX gate name (`ONEX Standards`).
        category: One of `CATEGORIES`; also the gate's nox tag.
        checks: What the gate checks in this library.
        blocking: A failure fails the run (exit code 1); otherwise it is only reported.
        budget_ms: The time the gate should take; the report shows each gate's time against it.
        runs: How the gate does its work.
        options: Settings the gate's check reads (`Project.options`).
    """

    id: str
    name: str
    category: str
    checks: str
    blocking: bool
    budget_ms: float
    runs: EnumGateRuns
    options: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class GateResult:
    """What running one gate gave."""

    spec: GateSpec
    status: EnumGateStatus
    duration_ms: float
    reason: str = ""
    findings: tuple[Finding, ...] = ()

    @property
    def failed(self) -> bool:
        """A failure or an error: the gate did not pass."""
        return self.status in (EnumGateStatus.FAILED, EnumGateStatus.ERROR)


#: A gate's check: reads the project, yields what is wrong with it.
Check = Callable[["Project"], Iterable[Finding]]

#: Every registered check by gate id, filled by `@gate` when `quality.gates` is imported.
REGISTRY: dict[str, Check] = {}


def gate(gate_id: str) -> Callable[[Check], Check]:
    """Register the decorated function as the check of gate `gate_id`.

    Args:
        gate_id: The gate's id in `gates.yaml` (`QC-001`).

    Returns:
        A decorator that registers the check and returns it unchanged.
    """

    def register(check: Check) -> Check:
        if gate_id in REGISTRY:
            known = REGISTRY[gate_id].__qualname__
            raise ValueError(f"gate {gate_id} has two checks: {known} and {check.__qualname__}")
        REGISTRY[gate_id] = check
        return check

    return register


#: libyaml's safe loader when PyYAML has it (about ten times faster), else the pure-Python one.
_YAML_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(path: Path) -> object:
    """The YAML document in `path`, read with a safe loader.

    Raises:
        OSError: It cannot be read.
        yaml.YAMLError: It is not valid YAML.
    """
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)  # noqa: S506 - a safe loader


def load_specs(path: Path = SPEC_FILE) -> list[GateSpec]:
    """The gates of `path`, in specification order.

    Raises:
        TypeError: The file is not a list of gates.
        ValueError: An entry misses a key, repeats an id or names an unknown category or way of running.
    """
    entries = load_yaml(path)
    if not isinstance(entries, list):
        raise TypeError(f"{path.name} must be a list of gates")
    specs: list[GateSpec] = []
    for entry in entries:
        try:
            spec = GateSpec(
                id=str(entry["id"]),
                name=str(entry["name"]),
                category=str(entry["category"]),
                checks=" ".join(str(entry["checks"]).split()),
                blocking=bool(entry["blocking"]),
                budget_ms=float(entry["budget_ms"]),
                runs=EnumGateRuns(entry["runs"]),
                options=dict(entry.get("options") or {}),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path.name}: bad gate entry {entry!r}: {exc}") from exc
        if spec.category not in CATEGORIES:
            raise ValueError(f"{path.name}: gate {spec.id} has unknown category {spec.category!r}")
        if any(known.id == spec.id for known in specs):
            raise ValueError(f"{path.name}: gate {spec.id} is specified twice")
        specs.append(spec)
    return specs
