"""The Jinja extension that hands the functions of this package to the templates.

Copier loads this file through `copier_template_extensions.TemplateExtensionLoader`
as a lone module, so it loads its own package by path, under a name unique to
that path: during `copier update` the old and the new template are both loaded
in one process and must not share modules.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from copier.errors import UserMessageError
from copier_template_extensions import ContextHook
from jinja2 import Environment, pass_context
from jinja2.ext import Extension
from jinja2.runtime import Context

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
    from copier import _main

    return str(_main._operation.get("copy"))


@pass_context
def answers_path(context: Context) -> str:
    """This render's answers file (`extensions.answers.answers_file`), from the answers in `context`.

    A function of the context rather than an expression in copier.yml: Copier compiles
    `_answers_file` again for every path it renders, and a short template compiles fast.
    `copier update` without `-a` renders it before reading any answers: with no `kind`,
    the library's answers file is the one meant.
    """
    kind = context.get("kind") or "library"
    name = {"feature": context.get("feature_name"), "node": context.get("node_name")}.get(kind)
    archetype = context.get("archetype") if kind == "node" else ""
    return str(_submodule("answers").answers_file(kind, name or "", archetype or ""))


class OnexExtension(Extension):
    """Filters and globals of copier-onex."""

    def __init__(self, environment: Environment) -> None:
        """Register the filters and globals on `environment`."""
        super().__init__(environment)
        naming, catalog, answers, project, pycode, steps = (
            _submodule(n) for n in ("naming", "catalog", "answers", "project", "pycode", "steps")
        )

        environment.filters.update(
            onex_package_name=naming.package_name,
            onex_distribution_name=naming.distribution_name,
            onex_pascal_case=naming.pascal_case,
            onex_env_prefix=naming.env_prefix,
            onex_repr=pycode.literal,
            onex_block=pycode.block,
            onex_string=pycode.string,
            onex_docstring=pycode.docstring,
        )
        environment.globals.update(
            onex_catalog=catalog.CATALOG,
            onex_node_names=catalog.node_names,
            onex_node_choices=catalog.node_choices,
            onex_excluded_node_files=catalog.excluded_node_files,
            onex_licenses=answers.LICENSES,
            onex_current_year=lambda: datetime.now(UTC).year,
            onex_answers_path=answers_path,
            onex_call=pycode.call,
            onex_expression=lambda value: steps.expression(value, "value"),
            onex_copier_operation=copier_operation,
            onex_project_state=project.project_state,
            onex_check_kind=_check("answers", "check_kind"),
            onex_check_library_answers=_check("answers", "check_library_answers"),
            onex_check_feature_spec=_check("spec", "check_feature_spec"),
            onex_check_node_answers=_check("custom_nodes", "check_node_answers"),
        )
        # The node sub-template: a custom node's names and files, and where each archetype's nodes live.
        environment.globals.update(
            onex_custom_node=_submodule("custom_nodes").custom_node,
            onex_archetype_packages=catalog.ARCHETYPE_PACKAGES,
        )


#: The answers of the feature sub-template that make up a spec.
SPEC_KEYS = (
    "feature_name",
    "feature_description",
    "input",
    "output",
    "contracts",
    "steps",
    "result",
    "examples",
    "package_name",
)


class OnexContext(ContextHook):
    """Adds `feature`, the rendered view of a valid feature spec, to the context of feature templates."""

    def hook(self, context: dict[str, Any]) -> None:
        """Set `context["feature"]` when the answers make a valid spec (the spec check reports the rest)."""
        if context.get("kind") != "feature" or "feature" in context:
            return
        answers = {key: context.get(key) for key in SPEC_KEYS}
        context["feature"] = _feature_view(json.dumps(answers, default=str))


_views: dict[str, Any] = {}


def _feature_view(key: str) -> Any:
    """The feature view of the answers serialised in `key`, or None when they are not a valid spec (cached)."""
    if key not in _views:
        spec = _submodule("spec")
        try:
            _views[key] = spec.build_feature(**json.loads(key))
        except (spec.SpecError, TypeError, KeyError):
            _views[key] = None
    return _views[key]
