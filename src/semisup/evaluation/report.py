"""Aggregate finished experiments: per data source, image size, profile and labelled strategy, test accuracy of each
method (mean ± std over seeds) and the GAN's gain with a 95% confidence interval paired by seed; and an ablation table:
per recipe arm (method + what it changed from the published recipe + its step budget), the paired difference to the
faithful GAN.

Rows come from `dvc.api.exp_show()` (one per experiment); rows from different data or image sizes are never pooled.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import PipelineError
from ..files import write_text
from ..methods import REGISTRY
from ..typed import dotted
from .intervals import Interval, paired_interval
from .report_plots import plot, plot_labels
from .report_rows import GroupSummary, Run

METHODS = ("baseline", "gan")  # every counted run has these two
OPTIONAL = tuple(m for m in REGISTRY if m not in METHODS)  # shown when the experiment ran it (older commits did not)
GROUP_KEYS = ("data_source", "image_size", "profile", "strategy", "labeled")
PUBLISHED = (
    "| published (Kaggle, 224 px, GPU) | baseline | GAN | gain |\n| --- | --- | --- | --- |\n"
    "| curated 100 | 60.2% | 83.2% | +23.0 |\n| random 100 (average of draws) | – | – | about +10 |\n"
)


def runs_from_exp_show(rows: list[dict[str, Any]]) -> list[Run]:
    """Experiment rows that finished both methods; the workspace and commits are left to `dvc metrics show`."""
    from ..parameters import default_params
    from ..provenance import recipe_label

    defaults, runs = default_params(), []
    for row in rows:
        if row.get("typ") not in ("branch_commit", "branch_base"):
            continue
        acc = {m: row.get(f"metrics/{m}.json:test_accuracy") for m in METHODS}
        if not all(isinstance(v, (int, float)) for v in acc.values()):  # still running, failed, or no metrics ("!")
            continue
        for m in OPTIONAL:
            if isinstance(value := row.get(f"metrics/{m}.json:test_accuracy"), (int, float)):
                acc[m] = value
        params = params_of(row)
        # Runs since the metrics files became numbers-only take these from their params; older ones from the metrics.
        meta = {k: row.get(f"metrics/baseline.json:{k}", dotted(params, PARAM_KEYS[k])) for k in GROUP_KEYS}
        meta["image_size"] = int(meta["image_size"])
        meta["labeled"] = int(meta["labeled"] or LABELED_BEFORE_RECORDED)
        recipe = {m: row.get(f"metrics/{m}.json:recipe")
                  or (recipe_label(params, m, getattr(defaults, m)) if params else "published") for m in acc}  # runs older than the recipe label: the published one
        steps = {m: _int_or_none(row.get(f"metrics/{m}.json:steps")) for m in acc}
        seed = row.get("metrics/baseline.json:seed", dotted(params, "seed"))
        runs.append(Run(row.get("Experiment") or row["rev"], tuple(meta[k] for k in GROUP_KEYS) + (recipe["gan"],),
                        int(seed), {m: float(v) for m, v in acc.items()}, recipe, steps))
    return runs


PARAM_KEYS = {"data_source": "data.source", "image_size": "image_size", "profile": "profile",
              "strategy": "labeled.strategy", "labeled": "labeled.size"}
LABELED_BEFORE_RECORDED = 100  # experiments from before `labeled.size` was a param used 100 labels


def param_defaults() -> dict[str, Any]:
    """Every param's dotted name (`seed`, `data.source`, `gan.lr`, ...) and default value, from the typed defaults."""
    from dataclasses import asdict

    from ..parameters import default_params

    def walk(node: dict[str, Any], prefix: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in node.items():
            out.update(walk(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
        return out

    return walk(asdict(default_params()), "")


def params_of(row: dict[str, Any]) -> dict[str, Any]:
    """The experiment's params.yaml as a nested dict, from exp_show's flat columns: `params.yaml:a.b`, or plain `a.b`
    where no metric shares the name (exp_show drops the file prefix of a name that is unique)."""
    defaults = param_defaults()
    nested: dict[str, Any] = {}
    for key, value in row.items():
        if not isinstance(key, str):
            continue
        name = key.split(":", 1)[1] if key.startswith("params.yaml:") else key
        if name in defaults:
            default = defaults[name]
            if isinstance(default, bool) and value in ("True", "False"):
                value = value == "True"  # exp_show reports booleans as strings
            elif isinstance(default, int) and not isinstance(default, bool) and isinstance(value, float) \
                    and value.is_integer():
                value = int(value)  # and every number as a float: 16.0 is the int param 16
            *parents, leaf = name.split(".")
            node = nested
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = value
    return nested


def _int_or_none(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) else None


def summarize(runs: list[Run]) -> list[GroupSummary]:
    groups: dict[tuple[Any, ...], list[Run]] = {}
    for run in runs:
        groups.setdefault(run.group, []).append(run)
    out = []
    for group, members in sorted(groups.items(), key=lambda kv: tuple(map(str, kv[0]))):
        members.sort(key=lambda r: r.seed)
        acc = {}
        for m in METHODS + tuple(o for o in OPTIONAL if all(o in r.accuracy for r in members)):
            values = [100 * r.accuracy[m] for r in members]
            acc[m] = (statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0)
        gains = [100 * (r.accuracy["gan"] - r.accuracy["baseline"]) for r in members]
        out.append(GroupSummary(group, len(members), [r.seed for r in members], acc, paired_interval(gains)))
    return out


def render_markdown(summaries: list[GroupSummary]) -> str:
    methods = METHODS + OPTIONAL
    lines = [
        "| data source | size | profile | GAN recipe | labelled set | runs (seeds) | "
        + "".join(f"{m} test acc. | " for m in methods) + "GAN gain, points (95% CI, paired by seed) |",
        "| --- " * (7 + len(methods)) + "|",
    ]
    for s in summaries:
        source, size, profile, strategy, labeled, recipe = s.group
        cells = [f"{s.accuracy[m][0]:.1f} ± {s.accuracy[m][1]:.1f}%" if m in s.accuracy else "–" for m in methods]
        if s.gain is None:
            gain = f"{s.accuracy['gan'][0] - s.accuracy['baseline'][0]:+.1f} (one draw: no interval)"
        else:
            gain = f"{s.gain.mean:+.1f} [{s.gain.low:+.1f}, {s.gain.high:+.1f}]"
        seeds = ",".join(map(str, s.seeds))
        lines.append(f"| {Path(str(source)).name} | {size} px | {profile} | {recipe} | {strategy}, {labeled} | {s.runs} ({seeds}) | "
                     + " | ".join(cells) + f" | {gain} |")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Arm:
    data: tuple[Any, ...]  # (data source, image size, labelled strategy, labelled photos)
    method: str
    recipe: str
    steps: int | None
    accuracy: dict[int, float]  # seed -> test accuracy in percent
    difference: Interval | None  # minus the faithful GAN, paired by seed; None without >= 2 shared seeds
    shared_seeds: int


def ablation(runs: list[Run]) -> list[Arm]:
    """Every (method, recipe, steps) arm per data source, size and labelled strategy, with the paired difference to
    the faithful GAN (recipe "published") of the same data at the same step budget as the arm's GAN runs. A run met
    in several experiments (a stage DVC restored unchanged) counts once per seed."""
    arms: dict[tuple[Any, ...], dict[int, float]] = {}
    for run in runs:
        source, size, _profile, strategy, labeled, _recipe = run.group
        for method, acc in run.accuracy.items():
            key = ((source, size, strategy, labeled), method, run.recipe.get(method, "published"), run.steps.get(method))
            arms.setdefault(key, {}).setdefault(run.seed, 100 * acc)
    out = []
    for (data, method, recipe, steps), by_seed in arms.items():
        gan_steps = steps if method == "gan" else _gan_budget(arms, data)
        reference = arms.get((data, "gan", "published", gan_steps), {})
        shared = sorted(set(by_seed) & set(reference))
        diff = paired_interval([by_seed[s] - reference[s] for s in shared])
        out.append(Arm(data, method, recipe, steps, by_seed, diff, len(shared)))
    order = {m: i for i, m in enumerate(METHODS + OPTIONAL)}
    return sorted(out, key=lambda a: (tuple(map(str, a.data)), order.get(a.method, 9), a.recipe != "published",
                                      -statistics.fmean(a.accuracy.values())))


def _gan_budget(arms: dict, data: tuple[Any, ...]) -> int | None:
    """The step budget of the faithful GAN runs on this data (the most-run one when there are several)."""
    budgets = [(len(seeds), steps) for (d, m, r, steps), seeds in arms.items() if d == data and m == "gan" and r == "published"]
    return max(budgets, key=lambda b: (b[0], b[1] or 0))[1] if budgets else None


def arm_name(recipe: str, improved: str | None) -> str:
    """An arm relative to the `improved` profile's recipe for its method: "improved", "improved − X" (X back at its
    published value), "improved, X instead of Y"; "published" and other recipes as they are."""
    if recipe == "published" or improved is None:
        return recipe
    if recipe == improved:
        return "improved"
    ours, theirs = _items(recipe), _items(improved)
    removed = {k: v for k, v in theirs.items() if k not in ours}
    changed = {k: (ours[k], v) for k, v in theirs.items() if k in ours and ours[k] != v}
    added = {k: v for k, v in ours.items() if k not in theirs}
    if len(removed) + len(changed) + len(added) > 3:
        return recipe
    parts = [f"− {k}" + (f"={v}" if v is not True else "") for k, v in removed.items()]
    parts += [f"{k}={new} instead of {old}" for k, (new, old) in changed.items()]
    parts += [f"+ {k}" + (f"={v}" if v is not True else "") for k, v in added.items()]
    return "improved " + ", ".join(parts)


def _items(recipe: str) -> dict[str, Any]:
    return dict((p.split("=", 1) + [True])[:2] for p in recipe.split(", ") if p)


def improved_recipes(conf_dir: Path = Path("conf")) -> dict[str, str]:
    """Per method, the recipe label of the `improved` profile as conf/ composes it (empty without conf/)."""
    if not (conf_dir / "profile" / "improved.yaml").is_file():
        return {}
    import tempfile
    from dataclasses import asdict

    import yaml

    from ..parameters import default_params, params_from_dict
    from ..params import compose
    from ..provenance import recipe_label

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "params.yaml"
        compose(out, conf_dir, ["profile=improved"])
        params = asdict(params_from_dict(yaml.safe_load(out.read_text())))
    defaults = default_params()
    return {m: recipe_label(params, m, getattr(defaults, m)) for m in METHODS + OPTIONAL}


def render_ablation(arms: list[Arm], improved: dict[str, str] | None = None) -> str:
    improved = improved or {}
    lines = [
        "| data source | size | labelled set | method | arm | steps | runs (seeds) | "
        "test acc. | minus faithful GAN, points (95% CI, paired) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for a in arms:
        source, size, strategy, labeled = a.data
        values = list(a.accuracy.values())
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        if a.method == "gan" and a.recipe == "published":
            diff = "reference"
        elif a.difference is None:
            diff = f"– ({a.shared_seeds} shared seed{'s' if a.shared_seeds != 1 else ''}: no interval)"
        else:
            diff = f"{a.difference.mean:+.1f} [{a.difference.low:+.1f}, {a.difference.high:+.1f}]"
        seeds = ",".join(map(str, sorted(a.accuracy)))
        lines.append(f"| {Path(str(source)).name} | {size} px | {strategy}, {labeled} | {a.method} | "
                     f"{arm_name(a.recipe, improved.get(a.method))} | "
                     f"{a.steps if a.steps is not None else '–'} | {len(values)} ({seeds}) | "
                     f"{statistics.fmean(values):.1f} ± {std:.1f}% | {diff} |")
    return "\n".join(lines) + "\n"


def label_sweeps(summaries: list[GroupSummary]) -> dict[tuple[Any, ...], list[GroupSummary]]:
    """Groups that differ only in the number of labelled photos (a `-S labeled.size=50,100,200,400` sweep), keyed by
    everything else (data, size, profile, strategy, recipe); only those with at least two sizes."""
    sweeps: dict[tuple[Any, ...], list[GroupSummary]] = {}
    for s in summaries:
        sweeps.setdefault(s.group[:4] + s.group[5:], []).append(s)
    return {k: sorted(v, key=lambda s: s.group[4]) for k, v in sweeps.items() if len({s.group[4] for s in v}) > 1}


def render_labels(sweeps: dict[tuple[Any, ...], list[GroupSummary]]) -> str:
    methods = METHODS + OPTIONAL
    lines = ["| data source | size | profile | labelled set | labelled photos | runs | "
             + " | ".join(methods) + " |", "| --- " * (6 + len(methods)) + "|"]
    for (source, size, profile, strategy, _recipe), members in sweeps.items():
        for s in members:
            cells = [f"{s.accuracy[m][0]:.1f} ± {s.accuracy[m][1]:.1f}%" if m in s.accuracy else "–" for m in methods]
            lines.append(f"| {Path(str(source)).name} | {size} px | {profile} | {strategy} | {s.group[4]} | {s.runs} | "
                         + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_report(runs: list[Run], markdown: Path, figure: Path, improved: dict[str, str] | None = None) -> str:
    """`improved`: the improved profile's recipe per method (`improved_recipes()`), to name arms relative to it."""
    from .ladder import ladder_sections
    from .study_tables import study_sections

    summaries = summarize(runs)
    study = study_sections(markdown.parent / "study")
    ladder = ladder_sections(markdown.parent / "study")
    text = ("# Experiments\n\n"
            + ("## The semi-supervised study (committed per-run results)\n\nBuilt from the result files under "
               "`metrics/study/` alone (`semisup study report`), so it is the same on every clone. Test accuracy, mean "
               "± sd over seeds; gains paired by seed with their 95% t-interval; selection on validation only, the "
               "test set read once per model.\n\n" + study + "\n" if study else "")
            + ("## The budget ladder: accuracy against unlabelled images seen\n\nEach method that reads unlabelled "
               "photos is given the same number of them at each rung (its optimiser steps × the unlabelled images a "
               "step reads), beside the baseline of the same recipe, seeds and machine, which sees none.\n\n"
               + ladder + "\n" if ladder else "")
            + "## Local DVC experiments\n\nTest accuracy over the finished DVC experiments of this clone, mean ± std "
            "over seeds; rows never mix data sources or image sizes.\n\n"
            + (render_markdown(summaries) if summaries else "No finished experiments in this clone.\n")
            + "\nThe published figures, for comparison:\n\n" + PUBLISHED)
    if summaries:
        text += ("\n### Ablation\n\nEach arm is a method with what it changed from the published recipe (named "
                 "relative to the `improved` profile: \"improved − X\" is improved with X back at its published value), "
                 "at its step budget; the difference to the faithful GAN (published recipe, same data, size and GAN "
                 "budget) is paired by seed. Selection used validation only; each model read the test set once.\n\n"
                 + render_ablation(ablation(runs), improved))
    sweeps = label_sweeps(summaries)
    labels_figure = figure.with_name(figure.stem + "-labels.png")
    if sweeps:
        text += ("\n### How many labels?\n\nTest accuracy against the number of labelled photos (experiments that "
                 "differ in `labeled.size` alone), mean ± sd over seeds:\n\n" + render_labels(sweeps)
                 + f"\n![Accuracy against labelled photos]({labels_figure.name})\n")
    write_text(markdown, text)
    if summaries:
        plot(summaries, figure, METHODS, OPTIONAL)
    if sweeps:
        plot_labels(sweeps, labels_figure, METHODS + OPTIONAL)
    return text


# ------------------------------------------------------------------------------------------------------- command


def git_commits(folder: Path = Path(".")) -> int:
    """How many commits HEAD has; outside a git repository (DVC keeps experiments in git refs) one line."""
    import subprocess

    try:
        done = subprocess.run(["git", "rev-list", "--count", "HEAD"], cwd=folder, capture_output=True, text=True)
    except OSError as exc:
        raise PipelineError(f"semisup report: git cannot run ({exc.strerror}); install git") from None
    if done.returncode != 0:
        why = (done.stderr.strip().splitlines() or ["no commits"])[-1].removeprefix("fatal: ")
        raise PipelineError(f"semisup report: {folder.resolve()} is not a git repository with commits ({why}); run it "
                            "in the project's clone, where DVC keeps the experiments") from None
    return int(done.stdout)


def add_arguments(parser) -> None:
    """`semisup report` takes no arguments: it reads every commit's experiments and writes metrics/report.*."""


def run(args=None) -> None:
    """Collect the experiments of every commit (a sweep queued before the latest commit still counts) into
    metrics/report.md and metrics/report.png, and print the Markdown."""
    import dvc.api

    runs = runs_from_exp_show(dvc.api.exp_show(num=git_commits()))
    print(write_report(runs, Path("metrics/report.md"), Path("metrics/report.png"), improved_recipes()))
