#!/usr/bin/env python3
"""Run nox from a private tools environment, creating it on first use.

    python3 noxw.py -s demo     # generate a library and run it
    python3 noxw.py -s tests    # the suite's tests

The environment lives in `.tools/` and holds the pinned nox and uv below;
it is rebuilt when the pins change. Only Python 3.11+ and git are needed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

PINS = ("nox==2026.10.20", "uv==0.13.9")
ROOT = Path(__file__).resolve().parent
TOOLS = ROOT / ".tools"
BIN = TOOLS / ("Scripts" if os.name == "nt" else "bin")
STAMP = TOOLS / "pins.txt"


def ensure_tools() -> Path:
    """The nox executable of an up-to-date tools environment."""
    wanted = "\n".join(PINS)
    if STAMP.exists() and STAMP.read_text() == wanted:
        return BIN / "nox"
    if sys.version_info < (3, 11):
        sys.exit(f"noxw: Python 3.11+ is needed, this is {sys.version.split()[0]}")
    sys.stderr.write(f"noxw: preparing {TOOLS} ({', '.join(PINS)})\n")
    try:
        venv.create(TOOLS, with_pip=True, clear=True)
    except (OSError, subprocess.CalledProcessError) as error:
        sys.exit(f"noxw: cannot create a virtual environment ({error}); on Debian/Ubuntu: apt install python3-venv")
    pip = [str(BIN / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, *PINS], check=True)
    STAMP.write_text(wanted)
    return BIN / "nox"


def main() -> None:
    """Replace this process with nox, passing the arguments through."""
    nox = ensure_tools()
    os.chdir(ROOT)
    os.execv(nox, [str(nox), *sys.argv[1:]])


if __name__ == "__main__":
    main()
