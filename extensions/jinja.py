"""The Jinja extension that hands the functions of this package to the templates.

Copier loads this file through `copier_template_extensions.TemplateExtensionLoader`
as a lone module, so it loads its own package by path, under a name unique to
that path: during `copier update` the old and the new template are both loaded
in one process and must not share modules.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from collections.abc import Callable
from typing import Any

from copier.errors import UserMessageError
from jinja2 import Environment
from jinja2.ext import Extension

_PACKAGE_DIR = Path(__file__).resolve().parent


def _load_package() -> ModuleType:
    digest = hashlib.sha256(str(_PACKAGE_DIR).encode()).hexdigest()[:12]
    name = f"copier_onex_extensions_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(
        name, _PACKAGE_DIR / "__init__.py", submodule_search_locations=[str(_PACKAGE_DIR)]
    )
    if spec is None or spec.loader is None:  # pragma: no cover - the file is ours
        raise ImportError(f"cannot load {_PACKAGE_DIR}")
    package = importlib.util.module_from_spec(spec)
    sys.modules[name] = package
    spec.loader.exec_module(package)
    return package


def _submodule(name: str) -> Any:
    return importlib.import_module(f"{_load_package().__name__}.{name}")


def _check(module: str, function: str) -> Callable[..., str]:
    """`module.function` as a template global whose `AnswersError` becomes Copier's one-message error."""

    def run(**kwargs: Any) -> str:
        answers = _submodule("answers")
        try:
            return str(getattr(_submodule(module), function)(**kwargs))
        except answers.AnswersError as error:
            raise UserMessageError(str(error)) from error

    return run


def copier_operation() -> str:
    """`copy` or `update`: Copier sets it for templated settings, not for questions, so read it here."""
    from copier import _main  # noqa: PLC0415 - private, and only needed here

    return str(_main._operation.get("copy"))  # noqa: SLF001


class OnexExtension(Extension):
    """Filters and globals of copier-onex."""

    def __init__(self, environment: Environment) -> None:
        """Register the filters and globals on `environment`."""
        super().__init__(environment)
        naming, catalog, answers, project = (_submodule(n) for n in ("naming", "catalog", "answers", "project"))

        environment.filters.update(
            onex_package_name=naming.package_name,
            onex_distribution_name=naming.distribution_name,
            onex_pascal_case=naming.pascal_case,
            onex_env_prefix=naming.env_prefix,
        )
        environment.globals.update(
            onex_catalog=catalog.CATALOG,
            onex_node_names=catalog.node_names,
            onex_node_choices=catalog.node_choices,
            onex_excluded_node_files=catalog.excluded_node_files,
            onex_licenses=answers.LICENSES,
            onex_current_year=lambda: datetime.now(UTC).year,
            onex_answers_file=answers.answers_file,
            onex_copier_operation=copier_operation,
            onex_project_state=project.project_state,
            onex_check_library_answers=_check("answers", "check_library_answers"),
            onex_check_feature_spec=_check("spec", "check_feature_spec"),
            onex_check_node_answers=_check("custom_nodes", "check_node_answers"),
        )
