"""Generation: Copier's CLI copying and updating the suite's templates, against a trivial template.

Every figure runs `python -m copier` in a new process (cold: imports, git clone and render
included), as users run it, and alternates subject and baseline in the same run.

- `copier copy` of a library, from the suite's working tree at HEAD, against a trivial template
  (a copier.yml and three small files, one templated): budget 1.5x (DESIGN.md §6);
- `copier copy` of a feature (user_auth into a fresh copy of a library without features)
  against the same trivial template: budget 1.2x;
- `copier update` of a library with ten features (11 answers files, from a release v1 of the suite
  to a v2 with a small template change), in total and per answers file, against updating the
  trivial template from its v1 to its v2 (no budget in DESIGN.md §6: reported only).
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from tests.rendering import EXAMPLES, git, release, snapshot_suite

from .context import (
    BenchmarkError,
    alternate,
    clean_environ,
    commit_all,
    copy_project,
    init_repository,
    renamed_specs,
    render_feature_library,
    timed,
)
from .context import (
    run as run_command,
)
from .model import BenchContext, Comparison, Series

AREA = "generation"

#: Budgets of DESIGN.md §6: a cold CLI copy against a trivial template's.
LIBRARY_BUDGET = 1.5
FEATURE_BUDGET = 1.2

#: Features of the library the update benchmark updates (ten in a full run, three with --quick).
UPDATE_FEATURES = 10
UPDATE_FEATURES_QUICK = 3

#: The trivial template: a copier.yml and three small files, one of them templated.
TRIVIAL_FILES = {
    "copier.yml": "project_name:\n  type: str\n  default: Trivial\n",
    "{{_copier_conf.answers_file}}.jinja": "{{ _copier_answers|to_nice_yaml }}",
    "README.md.jinja": "# {{ project_name }}\n\nA trivial project.\n",
    "LICENSE": "Public domain.\n",
    "notes.txt": "Nothing to see here.\n",
}

#: The small template change between the v1 and v2 releases the update benchmarks update across.
V2_CHANGE = "\n<!-- v2: a small template change -->\n"


def copier(*args: str | Path) -> list[str | Path]:
    """The Copier CLI in a new process of this interpreter (which has Copier and its extension loader)."""
    return [sys.executable, "-m", "copier", *args]


def trivial_template(directory: Path) -> Path:
    """Write the trivial template into `directory`, a git repository tagged v1."""
    directory.mkdir(parents=True)
    for name, text in TRIVIAL_FILES.items():
        (directory / name).write_text(text, encoding="utf-8")
    init_repository(directory, "trivial template")
    git("tag", "v1", cwd=directory)
    return directory


def copy_command(template: Path, destination: Path, *options: str | Path) -> list[str | Path]:
    """`copier copy` of `template` at HEAD into `destination`, with defaults for what `options` leave out."""
    return copier("copy", "--trust", "--defaults", "--quiet", "--vcs-ref", "HEAD", *options, template, destination)


def update_command(answers_file: str) -> list[str | Path]:
    """`copier update` of the project in the working directory, for `answers_file`, to the latest release."""
    return copier("update", "--trust", "--defaults", "--quiet", "--answers-file", answers_file)


def timed_update(project: Path, answers_file: str) -> float:
    """Seconds `copier update` of `answers_file` takes in `project`; checks and commits the result (not timed)."""
    seconds = timed(update_command(answers_file), project, clean_environ())
    leftovers = sorted(str(path.relative_to(project)) for path in project.rglob("*.rej"))
    if leftovers:
        raise BenchmarkError(f"copier update of {answers_file} left conflicts in {project}: {', '.join(leftovers)}")
    commit_all(project, f"update {answers_file}")
    return seconds


def _dirty_note(ctx: BenchContext) -> str:
    """Say so when the suite's working tree has uncommitted changes: Copier then copies them into its clone."""
    if git("status", "--porcelain", cwd=ctx.suite).strip():
        return " The suite's working tree had uncommitted changes (Copier copies them into its clone)."
    return ""


def bench_copies(ctx: BenchContext, trivial: Path) -> list[Comparison]:
    """`copier copy` of a library and of a feature, each against the trivial template."""
    runs = ctx.work / "generation" / "copies"
    runs.mkdir(parents=True)
    env = clean_environ()
    bare = render_feature_library(ctx.work / "generation" / "bare-library", [], ctx.suite)

    def library_copy(index: int) -> float:
        return timed(copy_command(ctx.suite, runs / f"library-{index}", "--data", "project_name=ONEX Demo"), runs, env)

    def feature_copy(index: int) -> float:
        destination = shutil.copytree(bare, runs / f"feature-{index}", symlinks=True)
        spec = EXAMPLES / "user_auth.yml"
        return timed(copy_command(ctx.suite, destination, "--data", "kind=feature", "--data-file", spec), runs, env)

    def trivial_copy(prefix: str) -> tuple[str, Callable[[int], float]]:
        return "trivial template", lambda index: timed(copy_command(trivial, runs / f"{prefix}-{index}"), runs, env)

    dirty = _dirty_note(ctx)
    library, library_base = alternate(ctx, "copy library", ("library", library_copy), trivial_copy("trivial-a"))
    feature, feature_base = alternate(ctx, "copy feature", ("user_auth", feature_copy), trivial_copy("trivial-b"))
    return [
        Comparison(
            AREA,
            "copier copy: library (CLI, cold)",
            library,
            library_base,
            LIBRARY_BUDGET,
            note=f"All 15 catalog nodes, from the suite's working tree at HEAD.{dirty}",
        ),
        Comparison(
            AREA,
            "copier copy: feature user_auth (CLI, cold)",
            feature,
            feature_base,
            FEATURE_BUDGET,
            note=f"Into a copy of a library without features.{dirty}",
        ),
    ]


def _change_templates(snapshot: Path) -> None:
    """The v2 change: a line more in the library's README and in every feature's docs page."""
    for relative in ("template/library/README.md.jinja", "template/feature/docs/features/{{feature_name}}.md.jinja"):
        path = snapshot / relative
        path.write_text(path.read_text(encoding="utf-8") + V2_CHANGE, encoding="utf-8")


def bench_update(ctx: BenchContext) -> list[Comparison]:
    """`copier update` of a library with ten features, file by file, against the trivial template's update."""
    root = ctx.work / "generation" / "update"
    count = UPDATE_FEATURES_QUICK if ctx.quick else UPDATE_FEATURES
    ctx.log(f"update: rendering release v1 of a library with {count} features")
    suite = snapshot_suite(root / "suite.git", "v1")
    specs = renamed_specs(count)
    v1_library = render_feature_library(root / "v1-library", specs, f"file://{suite}", vcs_ref="v1")
    trivial = trivial_template(root / "trivial.git")
    v1_trivial = root / "v1-trivial"
    run_command(
        copier("copy", "--trust", "--defaults", "--quiet", "--vcs-ref", "v1", f"file://{trivial}", v1_trivial), root
    )
    init_repository(v1_trivial, "trivial project, as generated")
    _change_templates(suite)
    release(suite, "v2", "copier-onex v2: a small template change")
    (trivial / "notes.txt").write_text(TRIVIAL_FILES["notes.txt"] + V2_CHANGE, encoding="utf-8")
    release(trivial, "v2", "trivial v2")

    answers_files = [".copier-answers.yml", *(f".copier/feature-{spec['feature_name']}.yml" for spec in specs)]
    per_file: dict[str, list[float]] = {name: [] for name in answers_files}

    def update_library(index: int) -> float:
        project = copy_project(v1_library, root / f"library-{index}")
        total = 0.0
        for name in answers_files:
            seconds = timed_update(project, name)
            per_file[name].append(seconds)
            total += seconds
        readme = (project / "README.md").read_text(encoding="utf-8")
        if V2_CHANGE.strip() not in readme:
            raise BenchmarkError(f"copier update did not bring v2's change into {project / 'README.md'}")
        return total

    def update_trivial(index: int) -> float:
        return timed_update(copy_project(v1_trivial, root / f"trivial-{index}"), ".copier-answers.yml")

    total, baseline = alternate(
        ctx, "update", (f"library + {count} features", update_library), ("trivial template", update_trivial)
    )
    files = len(answers_files)
    mean_file = Series("per answers file", tuple(sample / files for sample in total.samples))
    library_file = Series("library answers file", tuple(per_file[".copier-answers.yml"]))
    feature_means = [sum(per_file[name][index] for name in answers_files[1:]) / count for index in range(ctx.repeats)]
    note = (
        "No budget in DESIGN.md §6. From a file:// release v1 of the suite to v2 (one line more in the library's "
        "README and each feature's docs); each answers file updated and committed in turn."
    )
    return [
        Comparison(
            AREA,
            f"copier update: library + {count} features, total ({files} answers files)",
            total,
            note=note,
            extra={"answers_files": float(files)},
        ),
        Comparison(
            AREA,
            "copier update: per answers file (mean)",
            mean_file,
            baseline,
            note=note,
            extra={
                "library_file_median_s": library_file.median,
                "feature_file_median_s": Series("feature", tuple(feature_means)).median,
            },
        ),
    ]


def run(ctx: BenchContext) -> Sequence[Comparison]:
    """The generation figures: copies of a library and of a feature, and an update of a library with features."""
    trivial = trivial_template(ctx.work / "generation" / "trivial-template")
    return [*bench_copies(ctx, trivial), *bench_update(ctx)]
