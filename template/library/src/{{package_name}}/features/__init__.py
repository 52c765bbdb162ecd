"""The library's features: one subpackage each, generated from its spec by the feature sub-template.

No file lists the features: every subpackage whose `__init__` defines `FEATURE`
is one, found by `discover_features()`. `runtime` holds what they build on.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from typing import Any

from ..core.errors import EnumCoreErrorCode, OnexError
from .runtime import Feature

__all__ = ["Feature", "discover_features", "find_feature"]


@cache
def discover_features() -> tuple[Feature[Any, Any], ...]:
    """Every feature of the library, sorted by name."""
    found: list[Feature[Any, Any]] = []
    for module_info in pkgutil.iter_modules(__path__, f"{__name__}."):
        if not module_info.ispkg:
            continue
        feature = getattr(importlib.import_module(module_info.name), "FEATURE", None)
        if isinstance(feature, Feature):
            found.append(feature)
    return tuple(sorted(found, key=lambda feature: feature.name))


def find_feature(name: str) -> Feature[Any, Any]:
    """The feature called `name`."""
    for feature in discover_features():
        if feature.name == name:
            return feature
    known = ", ".join(feature.name for feature in discover_features()) or "none yet"
    raise OnexError(
        f"no feature named {name!r}; features: {known}",
        code=EnumCoreErrorCode.NOT_FOUND,
        details={"feature": name},
    )
