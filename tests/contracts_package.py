"""Render a feature's `contracts.py` from a spec's contracts and import it, without Copier.

The real template (`template/feature/.../contracts.py.jinja`) is rendered with the suite's
Jinja extension, loaded by path as Copier loads it, and written next to a copy of the
library's `core/contracts.py`, so the generated models are the ones a library gets.
"""

from __future__ import annotations

import copy
import hashlib
import importlib
import importlib.util
import json
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import jinja2.sandbox
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from pydantic import BaseModel

from extensions.spec import FeatureView, build_feature

from .rendering import SUITE_ROOT

CONTRACTS_TEMPLATE = "template/feature/src/{{package_name}}/features/{{feature_name}}/contracts.py.jinja"
CORE_CONTRACTS = SUITE_ROOT / "template" / "library" / "src" / "{{package_name}}" / "core" / "contracts.py"


def jinja_environment() -> jinja2.Environment:
    """A Jinja environment like Copier's, with the suite's `OnexExtension`."""
    loaded = importlib.util.spec_from_file_location(
        "copier_onex_jinja_for_tests", SUITE_ROOT / "extensions" / "jinja.py"
    )
    assert loaded is not None
    assert loaded.loader is not None
    module = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(module)
    return jinja2.sandbox.SandboxedEnvironment(
        loader=jinja2.FileSystemLoader(str(SUITE_ROOT)),
        extensions=[module.OnexExtension],
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )


def feature_of(contracts: dict[str, Any], contract: str, package_name: str = "onex_lib") -> FeatureView:
    """The view of a minimal spec around `contracts`, whose input and output are `contract`."""
    return build_feature(
        feature_name="drawn",
        feature_description="",
        input=contract,
        output=contract,
        contracts=copy.deepcopy(contracts),
        steps=[{"name": "validate_input", "node": "validation"}],
        package_name=package_name,
    )


@dataclass
class Compiled:
    """A spec's contracts as generated models and as the JSON Schema document the feature ships."""

    view: FeatureView
    module: Any
    document: dict[str, Any]
    source: str

    def model(self, contract: str) -> type[BaseModel]:
        """The generated class of a top-level contract."""
        model: type[BaseModel] = getattr(self.module, self.view.contracts.classes[contract])
        return model

    def validator(self, contract: str) -> Any:
        """The `jsonschema` validator of one contract, formats checked."""
        schema = {"$schema": self.document["$schema"], "$defs": self.document["$defs"], "$ref": f"#/$defs/{contract}"}
        return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


class ContractsPackage:
    """A package on `sys.path` laid out like a library: `core/contracts.py` and one feature per spec."""

    def __init__(self, root: Path) -> None:
        """Lay the package out under `root` (which the caller puts on `sys.path`)."""
        self.name = f"onex_contracts_{hashlib.sha256(str(root).encode()).hexdigest()[:8]}"
        self.root = root / self.name
        (self.root / "core").mkdir(parents=True)
        (self.root / "features").mkdir()
        for package in (self.root, self.root / "core", self.root / "features"):
            (package / "__init__.py").write_text("", encoding="utf-8")
        shutil.copy(CORE_CONTRACTS, self.root / "core" / "contracts.py")
        self.template = jinja_environment().get_template(CONTRACTS_TEMPLATE)
        self._cache: dict[str, Compiled] = {}

    def compile(self, contracts: dict[str, Any], contract: str) -> Compiled:
        """Render, write and import the contracts of a minimal spec around `contracts` (cached)."""
        key = json.dumps([contracts, contract], sort_keys=True)
        if key not in self._cache:
            view = feature_of(contracts, contract, package_name=self.name)
            source = self.template.render(feature=view)
            feature = f"f_{hashlib.sha256(source.encode()).hexdigest()[:16]}"
            folder = self.root / "features" / feature
            folder.mkdir(exist_ok=True)
            (folder / "__init__.py").write_text("", encoding="utf-8")
            (folder / "contracts.py").write_text(source, encoding="utf-8")
            module = importlib.import_module(f"{self.name}.features.{feature}.contracts")
            self._cache[key] = Compiled(view, module, json.loads(view.json_schema()), source)
        return self._cache[key]


@contextmanager
def contracts_package(root: Path) -> Iterator[ContractsPackage]:
    """A `ContractsPackage` under `root`, importable while the context lasts."""
    sys.path.insert(0, str(root))
    try:
        yield ContractsPackage(root)
    finally:
        sys.path.remove(str(root))
