"""The checks of the 23 gates, one module per concept; importing this package registers them all.

A module that fails to import does not stop the others: its gates have no check,
so the runner reports them as errors, with the reason recorded in `IMPORT_ERRORS`.
"""

import importlib
import traceback

from ..model import REGISTRY

__all__ = ["IMPORT_ERRORS", "MODULES", "REGISTRY"]

#: The modules that hold the checks, each registering its gates with `@gate`.
MODULES = (
    "structure",
    "process",
    "interfaces",
    "propagation",
    "topology",
    "standards",
    "performance",
    "knowledge",
    "lifecycle",
    "framework",
)

#: Why a module of `MODULES` failed to import, by module name.
IMPORT_ERRORS: dict[str, str] = {}

for _module in MODULES:
    try:
        importlib.import_module(f"{__name__}.{_module}")
    except Exception as _exc:  # noqa: BLE001 - a broken gate module is reported by the runner, not fatal
        _where = traceback.extract_tb(_exc.__traceback__)[-1]
        IMPORT_ERRORS[_module] = f"{type(_exc).__name__}: {_exc} ({_where.filename.rsplit('/', 1)[-1]}:{_where.lineno})"
