"""One prepared virtual environment shared by every rendered project of a test run.

Rendered libraries are not installed: their tools run from this environment
with `src/` on the path (the generated pytest and mypy configs say so), so a
render costs seconds, not an install. The environment is keyed by the
project's requirements and kept in build/test-envs/ across runs; uv makes a
cold build take well under a minute.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import sys
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from uv import find_uv_bin

from .rendering import SUITE_ROOT

ENVS = SUITE_ROOT / "build" / "test-envs"


def requirements_of(project: Path, *, extras: Sequence[str] = ()) -> list[str]:
    """The runtime and `dev` requirements a rendered project declares, and those of `extras` (`postgres`)."""
    data = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    optional = data["optional-dependencies"]
    return sorted({*data["dependencies"], *optional["dev"], *(item for extra in extras for item in optional[extra])})


@dataclass(frozen=True)
class ProjectEnv:
    """A virtual environment with a rendered project's requirements."""

    path: Path

    @property
    def bin(self) -> Path:
        """The folder of its executables."""
        return self.path / "bin"

    def run(
        self, *args: str, cwd: Path, check: bool = True, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run one of its tools in `cwd`; on failure the assertion shows the output."""
        environ = {**os.environ, "PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}", "VIRTUAL_ENV": str(self.path)}
        environ.pop("PYTHONPATH", None)
        environ.update(env or {})
        result = subprocess.run(args, cwd=cwd, env=environ, capture_output=True, text=True, check=False)
        if check:
            assert result.returncode == 0, f"{' '.join(args)} failed in {cwd}:\n{result.stdout}\n{result.stderr}"
        return result


def prepare_env(requirements: list[str]) -> ProjectEnv:
    """The shared environment for `requirements`, built once (safe across processes)."""
    key = hashlib.sha256("\n".join([sys.version, *requirements]).encode()).hexdigest()[:16]
    env = ProjectEnv(ENVS / key)
    ready = env.path / ".ready"
    ENVS.mkdir(parents=True, exist_ok=True)
    with (ENVS / f"{key}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not ready.exists():
            uv = find_uv_bin()
            subprocess.run([uv, "venv", "--quiet", "--clear", "--python", sys.executable, str(env.path)], check=True)
            subprocess.run(
                [uv, "pip", "install", "--quiet", "--python", str(env.bin / "python"), *requirements], check=True
            )
            ready.touch()
    return env
