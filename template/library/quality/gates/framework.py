"""FV-002 Framework Integration: the pre-commit hooks are set up right; the project is in sync with its template.

The gate has four parts (`PARTS`), each yielding findings:

- The pre-commit config. `pre-commit validate-config` accepts it, and it holds every
  hook of `options.hooks`. Every repository is `local` and every Python hook pins its
  dependencies (`name==version`), so hooks install from PyPI alone, without GitHub.
  The type-check hook installs every dependency `pyproject.toml` declares, so mypy
  sees them all (`options.tools_not_imported` are left out: tools the code never imports).
- The answers files. `.copier-answers.yml` and `.copier/*.yml` are YAML mappings
  naming the template (`_src_path`) and the version it was rendered from (`_commit`),
  which `copier update` needs. Every feature has its answers file.
- What an unfinished `copier update` leaves: `.rej` files and conflict markers
  (`quality.leftovers`, the code of the `copier-leftovers` hook too).
- Template updates. No answers file is behind its template's latest release
  (`copier check-update`, through `quality.template_sync`): each one behind is named,
  with its version, the latest, and the fix, `nox -s update`. Checking clones the
  template, once per template version the files were rendered from, several at once.
  A template that cannot be reached (offline, moved, no access) fails the check too:
  a blocking gate that cannot look must not pass. Where the template is out of reach
  on purpose (an offline CI), set `check_updates: false` in the gate's options; a
  check that takes longer than `check_timeout_seconds` counts as out of reach. A file
  not rendered from a tagged release of a git template (from uncommitted template
  changes, say) has nothing to compare against and passes; `python -m
  quality.template_sync check` names it.

It does not run the hooks: ruff, mypy and the static gates are gates of their own; the
end-of-file and trailing-whitespace hooks rewrite files, which a gate never does; and
hook environments install from PyPI. pre-commit runs them at every commit and in CI.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from ..leftovers import find_leftovers
from ..model import Finding, gate, load_yaml
from ..project import Project
from ..template_sync import CHECK_TIMEOUT, LIBRARY_ANSWERS, EnumSyncState, SyncError, behind

__all__ = [
    "PARTS",
    "answers_files",
    "framework_integration",
    "pre_commit_config",
    "template_updates",
    "update_leftovers",
]

CONFIG = ".pre-commit-config.yaml"

#: What Copier writes in every answers file and `copier update` reads back: key, what it is, how to get it.
ANSWERS_KEYS = {
    "_src_path": ("the template it was rendered from", "render it again with `copier copy`"),
    "_commit": (
        "the template version it was rendered from",
        "render from a git repository of the template (a tagged release), not a plain folder",
    ),
}

#: A pinned requirement: `name==version`, with extras and an environment marker at most.
_PINNED = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9._, -]+\])?\s*==\s*[A-Za-z0-9.+!_-]+\s*(;.*)?$")

#: The distribution name at the start of a requirement.
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _invalid_yaml(relative: str, exc: yaml.YAMLError) -> Finding:
    """The finding for a file that is not valid YAML, at the line the parser stopped on."""
    mark = getattr(exc, "problem_mark", None)
    problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
    return Finding(relative, mark.line + 1 if mark else None, f"not valid YAML: {problem}")


def _normalized(requirement: str) -> str:
    """The PEP 503 name of `requirement`'s distribution ("" when it names none)."""
    match = _NAME.match(requirement)
    return re.sub(r"[-_.]+", "-", match.group(1)).lower() if match else ""


def _strings(value: object) -> list[str]:
    """`value` as a list of strings (a YAML list of scalars); [] for anything else."""
    return [str(item) for item in value] if isinstance(value, list) else []


def _validate_config(project: Project) -> Iterator[Finding]:
    """pre-commit's own verdict on the config."""
    result = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-m", "pre_commit", "validate-config", CONFIG],
        cwd=project.root,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode == 0:
        return
    output = (result.stdout + result.stderr).strip()
    if "No module named pre_commit" in output:
        yield Finding("", None, "pre-commit is not installed here: install the project's `dev` extra")
    else:
        yield Finding(CONFIG, None, f"pre-commit validate-config rejects it: {output}")


def _declared_dependencies(project: Project) -> set[str]:
    """The normalized names of every dependency in pyproject.toml, optional ones included."""
    data = tomllib.loads((project.root / "pyproject.toml").read_text(encoding="utf-8")).get("project", {})
    requirements = list(data.get("dependencies", []))
    for extra in data.get("optional-dependencies", {}).values():
        requirements.extend(extra)
    return {_normalized(requirement) for requirement in requirements} - {""}


def _hook_findings(project: Project, repos: list[Any]) -> Iterator[Finding]:
    """Hooks that need GitHub, unpinned dependencies, missing hooks, and what the type checker cannot see."""
    options = project.options("FV-002")
    hooks: dict[str, Mapping[str, Any]] = {}
    for repo in repos:
        if not isinstance(repo, dict):
            continue
        if repo.get("repo") != "local":
            yield Finding(
                CONFIG,
                None,
                f"repository {repo.get('repo')!r} is fetched with git: make its hooks `repo: local` "
                "with pinned `additional_dependencies` from PyPI, so they install without GitHub",
            )
        for hook in repo.get("hooks", []):
            if not isinstance(hook, dict):
                continue
            hooks[str(hook.get("id"))] = hook
            loose = [dep for dep in _strings(hook.get("additional_dependencies")) if not _PINNED.match(dep)]
            if loose:
                yield Finding(
                    CONFIG,
                    None,
                    f"hook {hook.get('id')} installs unpinned {', '.join(loose)}: pin each as name==version",
                )
    missing = [hook_id for hook_id in _strings(options.get("hooks")) if hook_id not in hooks]
    if missing:
        yield Finding(CONFIG, None, f"hooks missing: {', '.join(missing)}")
    type_checker = str(options.get("type_check_hook", ""))
    if type_checker in hooks:
        installed = {_normalized(dep) for dep in _strings(hooks[type_checker].get("additional_dependencies"))}
        not_imported = {_normalized(tool) for tool in _strings(options.get("tools_not_imported"))}
        unseen = sorted(_declared_dependencies(project) - installed - not_imported)
        if unseen:
            yield Finding(
                CONFIG,
                None,
                f"the {type_checker} hook does not install {', '.join(unseen)} (declared in pyproject.toml): "
                "add each, pinned, to its additional_dependencies, or it type-checks without them",
            )


def pre_commit_config(project: Project) -> Iterator[Finding]:
    """The pre-commit config exists, is valid, and sets the hooks up to work offline and see every dependency."""
    path = project.root / CONFIG
    if not path.is_file():
        yield Finding(CONFIG, None, "missing: the project's pre-commit hooks are configured there")
        return
    try:
        config = load_yaml(path)
    except yaml.YAMLError as exc:
        yield _invalid_yaml(CONFIG, exc)
        return
    yield from _validate_config(project)
    repos = config.get("repos") if isinstance(config, dict) else None
    yield from _hook_findings(project, repos if isinstance(repos, list) else [])


def _answers_findings(project: Project, path: Path) -> Iterator[Finding]:
    """One answers file is a YAML mapping with the keys `copier update` reads."""
    relative = project.relative(path)
    try:
        data = load_yaml(path)
    except yaml.YAMLError as exc:
        yield _invalid_yaml(relative, exc)
        return
    if not isinstance(data, dict):
        yield Finding(relative, None, "is not a YAML mapping of answers")
        return
    for key, (what, remedy) in ANSWERS_KEYS.items():
        value = data.get(key)
        if not isinstance(value, str) or not value.strip():
            yield Finding(relative, None, f"has no {key} ({what}): `copier update` cannot replay it; {remedy}")


def answers_files(project: Project) -> Iterator[Finding]:
    """The library and each feature or node keep well-formed answers files, so `copier update` can replay them."""
    if not (project.root / LIBRARY_ANSWERS).is_file():
        yield Finding(LIBRARY_ANSWERS, None, "missing: without it `copier update` cannot update the library")
    for path in project.answers_files:
        yield from _answers_findings(project, path)
    for feature in project.features:
        if feature.answers_file is None:
            yield Finding(
                project.relative(feature.path),
                None,
                f"feature {feature.name} has no answers file .copier/feature-{feature.name}.yml: "
                "it was not generated from a spec, or its answers were lost, so `copier update` cannot replay it",
            )


def update_leftovers(project: Project) -> Iterable[Finding]:
    """`.rej` files and conflict markers left by `copier update`."""
    return find_leftovers(project.root)


def template_updates(project: Project) -> Iterator[Finding]:
    """Answers files behind their template's latest release, and templates that cannot be reached to tell."""
    options = project.options("FV-002")
    if options.get("check_updates", True) is False:
        return
    timeout = options.get("check_timeout_seconds", CHECK_TIMEOUT)
    try:
        statuses = behind(project.root, timeout=float(timeout) if isinstance(timeout, int | float) else CHECK_TIMEOUT)
    except SyncError as exc:
        yield Finding("", None, str(exc))
        return
    for status in statuses:
        if status.state is EnumSyncState.BEHIND:
            yield Finding(
                status.path,
                None,
                f"{status.label} is at template version {status.current}, and {status.latest} is out: "
                "run `nox -s update` (then resolve any conflict it lists, and commit)",
            )
        elif status.state is EnumSyncState.UNREACHABLE:
            yield Finding(
                status.path,
                None,
                f"cannot check {status.label} for template updates: {status.detail}; where the template is "
                "out of reach on purpose (offline CI), set `check_updates: false` in FV-002's options",
            )


#: The parts of the gate, in report order; each yields findings.
PARTS: tuple[Callable[[Project], Iterable[Finding]], ...] = (
    pre_commit_config,
    answers_files,
    update_leftovers,
    template_updates,
)


@gate("FV-002")
def framework_integration(project: Project) -> Iterator[Finding]:
    """The pre-commit hooks are set up right and the project is in sync with its template.

    The parts run at once: two wait on subprocesses (pre-commit, Copier's clones of the template).
    """
    with ThreadPoolExecutor(max_workers=len(PARTS), thread_name_prefix="fv-002") as pool:
        for findings in pool.map(lambda part: list(part(project)), PARTS):
            yield from findings
