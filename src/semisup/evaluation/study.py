"""`semisup study run | report`: a study over seeds whose every finished run is one small committed file.

    semisup study run --seeds 0-5 --out metrics/study/study   # every registered method; params.yaml is the study's
    semisup study report metrics/study/study                  # table, per-seed figures, plot

`run` sets `seed` (Hydra: `profile=<params.yaml's profile> seed=k`), lets `dvc repro train@<arm> ...` bring every stage
those arms need up to date (curate per seed; `pretrain` once, it reads no seed), reads the test set once per trained
model and writes `<out>/<arm>-seed<k>.json`: the params that define the run, the git revision, the data's hash, the
metrics, the validation curve and the seconds. A study spans sessions and machines: finished results are skipped, and
`report` rebuilds everything from the files alone, never from DVC experiment refs.
"""
from __future__ import annotations

import hashlib
import json
import math
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..config import Params
from ..errors import ConfigError
from ..files import write_text
from .intervals import paired_bootstrap, paired_interval

BASELINE = "baseline"


def seed_range(text: str) -> list[int]:
    """"0-5" or "0,2,4" -> seeds; one clear line for anything else."""
    try:
        seeds = [s for part in text.split(",") for s in (
            range(int(part.split("-")[0]), int(part.split("-")[1]) + 1) if "-" in part else [int(part)])]
    except ValueError:
        raise ConfigError(f"--seeds: {text!r} is not a list of seeds; use e.g. 0-5 or 0,2,4") from None
    if not seeds or min(seeds) < 0:
        raise ConfigError(f"--seeds: {text!r} gives no seed >= 0; use e.g. 0-5")
    return seeds


def image_budgets(text: str) -> list[int]:
    """"12800,64000" -> [12800, 64000] (ascending, each once); one clear line for anything else."""
    try:
        budgets = sorted({int(part.replace("_", "")) for part in text.split(",") if part.strip()})
    except ValueError:
        raise ConfigError(f"--images: {text!r} is not a list of image counts; use e.g. 12800,64000") from None
    if not budgets or budgets[0] <= 0:
        raise ConfigError(f"--images: {text!r} gives no positive count; use e.g. 12800,64000")
    return budgets


def result_path(out: Path, arm: str, seed: int) -> Path:
    return out / f"{arm}-seed{seed}.json"


def compact_json(result: dict[str, Any]) -> str:
    """The result as indented JSON, with long lists of numbers (the per-photo test probabilities) on one line each, so
    a committed file stays readable and small."""
    long = {k: v for k, v in result.items() if isinstance(v, list) and len(v) > 50}
    text = json.dumps({k: (f"@@{k}@@" if k in long else v) for k, v in result.items()}, indent=1)
    for key, values in long.items():
        text = text.replace(f'"@@{key}@@"', json.dumps(values, separators=(",", ":")))
    return text + "\n"


def data_identity(params: Params, source: dict[str, Any]) -> str:
    """The photos' SHA-256 (from `data/source.json`); the stand-in has no file to hash, so it is named by a hash of the
    settings that generate it (`data.synthetic.*`), which keeps a plain-stand-in study apart from a busy one."""
    if "sha256" in source:
        return source["sha256"]
    if params.data.source == "synthetic":
        spec = json.dumps(asdict(params.data.synthetic), sort_keys=True)
        return "synthetic-" + hashlib.sha256(spec.encode()).hexdigest()
    return "unknown"


def machine(threads: int, cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU a run's seconds (and its last decimals) belong to: training is deterministic on one CPU model only."""
    names = [line.split(":", 1)[1].strip() for line in (cpuinfo.read_text(errors="replace").splitlines()
                                                        if cpuinfo.is_file() else []) if line.startswith("model name")]
    return ", ".join([*names[:1], platform.machine(), f"{threads} threads"])


def _git_revision() -> str:
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "src", "stages", "conf"],
                           capture_output=True, text=True).stdout.strip()
    return (rev or "unknown") + ("+changes" if dirty else "")


def _check(command: list[str]) -> None:
    print("$ " + " ".join(command), flush=True)
    done = subprocess.run(command)
    if done.returncode != 0:
        raise ConfigError(f"`{' '.join(command)}` failed (exit {done.returncode}); see its output above")


def measure(arm: str, seed: int, wall: float, overrides: tuple[str, ...] = (), budget: int | None = None) -> dict[str, Any]:
    """One trained model read once on the test set, with what defines and describes its run: the unlabelled images
    it saw (its optimiser steps x the unlabelled images a step reads) and the budget it was given, and each test
    photo's predicted probability of class 1 (with the labels), so intervals can resample test photos too."""
    import torch

    from ..artifacts import load_model
    from ..config import load_params
    from ..scoring import evaluate
    from ..provenance import model_provenance
    from ..data.loaders import load_labeled
    from ..device import resolve_device
    from ..methods import method_class

    params = load_params()
    device = resolve_device(params.train.device)
    model, meta = load_model(Path(f"models/{arm}.pt"), device)
    x_test, y_test = load_labeled(Path("data/test"), meta["image_size"], device, num_threads=params.loader.num_threads)
    test = evaluate(model, x_test, y_test, params.loader.eval_batch_size, params.train.amp)
    source = json.loads(Path("data/source.json").read_text()) if Path("data/source.json").is_file() else {}
    train = meta["train"]
    cls = method_class(meta["method"])
    facts = model_provenance(meta)  # profile, data source, size, strategy, labels, seed, recipe: from the model
    if facts["seed"] != seed:
        raise ConfigError(f"models/{arm}.pt was trained with seed {facts['seed']}, not {seed}; run the study again")
    result = {
        "arm": arm, **facts, "overrides": list(overrides), "data_sha256": data_identity(params, source),
        **({"synthetic": asdict(params.data.synthetic)} if params.data.source == "synthetic" else {}),
        "val_images": params.data.val_size,
        "test_images": test.count, "test_accuracy": round(test.accuracy, 6), "test_loss": round(test.loss, 6),
        "val_accuracy": train["val_accuracy"], "best_step": train.get("best_step", train["best_epoch"]),
        "steps": train["steps"], "budget": budget, "unlabeled_images": train["steps"] * cls.unlabeled_per_step(params),
        "unlabeled_pool": unlabeled_pool(Path("data/unlabeled")),
        "train_seconds": round(train["train_seconds"], 1), "wall_seconds": round(wall, 1),
        "git_revision": _git_revision(), "machine": machine(torch.get_num_threads()),
        "params": {k: v for k, v in asdict(params).items() if k in ("model", "train", "loader", arm)},
        "curve": [[row["step"], round(row["val_accuracy"], 4)] for row in dvclive_curve(arm)],
        "test_labels": y_test.cpu().tolist(),
        "test_probabilities": [round(p, 6) for p in test.probabilities[:, 1].tolist()],
    }
    pretrained = getattr(cls, "pretrained", None)  # a method that starts from an encoder
    if pretrained is not None:  # the pretraining's steps and seconds belong to the run's cost
        pre = torch.load(Path(pretrained), weights_only=True)
        result["pretrain"] = {"steps": pre["train"]["steps"], "seconds": round(pre["train"]["train_seconds"], 1),
                              "images": pre["train"]["steps"] * pre["params"]["pretrain"]["batch_size"],
                              "params": pre["params"]["pretrain"]}
    return result


def unlabeled_pool(folder: Path) -> int:
    """How many unlabelled photos the training stages could draw from (what one pass over them is)."""
    return sum(1 for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else 0


def dvclive_curve(arm: str) -> list[dict[str, float]]:
    """The validation curve DVCLive wrote for this arm's run: (step, val_accuracy) rows."""
    path = Path(f"dvclive/{arm}/plots/metrics/val_accuracy.tsv")
    if not path.is_file():
        return []
    rows = [line.split("\t") for line in path.read_text().splitlines()[1:] if line.strip()]
    return [{"step": int(float(r[0])), "val_accuracy": float(r[1])} for r in rows]


VALIDATIONS = 20  # validated rounds of a budgeted run, whatever its length (the study's 200 steps: every 10)


def budget_label(arm: str, budget: int | None) -> str:
    """An arm's name in result files and tables: `gan`, or `gan@64000` for a run given 64,000 unlabelled images."""
    return arm if budget is None else f"{arm}@{budget}"


def run_study(seeds: list[int], arms: list[str], out: Path, profile: str, force: bool = False,
              overrides: tuple[str, ...] = (), budgets: Sequence[int] = ()) -> None:
    """Per seed: params.yaml for `profile`, the seed and `overrides` (Hydra's `key=value`), `dvc repro` of the arms'
    training stages, then each model read once on the test set into `<out>/<arm>-seed<k>.json`. With `budgets`
    (unlabelled images seen), each arm that reads unlabelled images runs once per budget (its own section's steps
    set by its method class, `VALIDATIONS` validated rounds) into `<out>/<arm>@<images>-seed<k>.json`; the others
    (the baseline) run once, the flat reference every budget is paired with."""
    from ..config import load_params
    from ..methods import method_class, names

    unknown = [a for a in arms if a not in names()]
    if unknown:
        raise ConfigError(f"--arms: {', '.join(unknown)} not registered; use some of {', '.join(names())}")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"--out {out}: cannot hold the results ({e.strerror}); give a folder") from None
    for seed in seeds:
        base = [f"profile={profile}", f"seed={seed}", *overrides]
        _check([sys.executable, "-m", "semisup", "params", *base])
        params = load_params()
        budgeted = [a for a in arms if budgets and method_class(a).unlabeled_per_step(params) > 0]
        plan: list[tuple[int | None, list[str], list[str]]] = [(None, [a for a in arms if a not in budgeted], [])]
        plan += [(b, budgeted, [o for a in budgeted for o in method_class(a).budget_overrides(params, b, VALIDATIONS)])
                 for b in budgets]  # every budget's overrides are checked before the first run starts
        for budget, group, extra in plan:
            todo = [a for a in group if force or not result_path(out, budget_label(a, budget), seed).is_file()]
            if not todo:
                if group:
                    print(f"seed {seed}: {', '.join(budget_label(a, budget) for a in group)} already measured in {out}")
                continue
            began = time.perf_counter()
            if extra:
                _check([sys.executable, "-m", "semisup", "params", *base, *extra])
            _check(["dvc", "repro", *[f"train@{a}" for a in todo]])
            wall = time.perf_counter() - began
            for arm in todo:
                result = measure(arm, seed, wall / len(todo), overrides, budget)
                label = budget_label(arm, budget)
                write_text(result_path(out, label, seed), compact_json(result))
                print(f"{label} seed {seed}: test accuracy {result['test_accuracy']:.4f} ({result['test_images']} "
                      f"photos, {result['unlabeled_images']} unlabelled images seen, {result['train_seconds']:.0f} s)")
                if budget is not None and result["unlabeled_images"] != budget:
                    print(f"warning: {label} seed {seed} saw {result['unlabeled_images']} unlabelled images, not "
                          f"{budget}: a round is capped at one pass over the unlabelled set; the result says so")
        if budgets:  # leave params.yaml as the study's own profile and seed, not the last budget's
            _check([sys.executable, "-m", "semisup", "params", *base])


# -------------------------------------------------------------------------------------------------- the report


def load_results(*folders: Path, plain: str | None = None) -> dict[str, dict[int, dict[str, Any]]]:
    """arm -> seed -> result, from every `<arm>-seed<k>.json` in `folders`. The `plain` variant (by default the first
    folder's) names its arms plainly; another's arms are named `arm (variant)`, e.g. `gan (study_paper)`. Results
    measured on other data (archive, size, labelled set, validation or test photos) are refused: one table never
    mixes them."""
    results: dict[str, dict[int, dict[str, Any]]] = {}
    first: dict[str, Any] | None = None
    for folder in folders:
        for path in sorted(folder.glob("*-seed*.json")):
            r = read_result(path)
            first = first or r
            differs = [k for k in SAME_DATA if r.get(k) != first.get(k)]
            if differs:
                raise ConfigError(f"{path}: measured on other data than {folders[0]} ({', '.join(differs)} differ); "
                                  "report them separately")
            arm = budget_label(r["arm"], r.get("budget"))
            label = arm if variant(r) == (plain or variant(first)) else f"{arm} ({variant(r)})"
            results.setdefault(label, {})[int(r["seed"])] = r
    if not results:
        raise ConfigError(f"{', '.join(map(str, folders))}: no study results (<arm>-seed<k>.json); run "
                          "`semisup study run` first")
    return results


SAME_DATA = ("data_sha256", "image_size", "labeled", "strategy", "val_images", "test_images")
REQUIRED = ("arm", "seed", "profile", "data_source", *SAME_DATA, "test_accuracy", "steps", "train_seconds", "machine",
            "curve")


def read_result(path: Path) -> dict[str, Any]:
    """One result file, checked once here so that a damaged or foreign file is named instead of failing later."""
    try:
        result = json.loads(path.read_text(errors="replace"))
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path}: not a study result ({e}); remove it or measure it again with --force") from None
    missing = [k for k in REQUIRED if k not in result] if isinstance(result, dict) else list(REQUIRED)
    if not missing and not (isinstance(result["seed"], int) and isinstance(result["test_accuracy"], (int, float))):
        missing = ["integer seed or numeric test_accuracy"]
    if missing:
        raise ConfigError(f"{path}: not a study result (no {', '.join(missing[:3])}); remove it or measure it again "
                          "with --force")
    return result


def variant(result: dict[str, Any]) -> str:
    """The profile and the `--set` overrides a result was run with: `study`, `study simclr.lr=0.003`. The labelled
    size is left out: a table holds one size, and the labels curve follows one recipe across sizes by this name."""
    return " ".join([result["profile"], *(o for o in result.get("overrides", []) if not o.startswith("labeled.size="))])


def baseline_of(label: str, results: dict[str, Any] | None = None) -> str:
    """The same-recipe baseline an arm is paired with: `baseline`, or `baseline (paper)` for `gan (paper)`; a variant
    that ran no baseline of its own (a recipe change of one arm) is paired with the plain baseline."""
    own = BASELINE + (label[label.index(" ("):] if " (" in label else "")
    return own if results is None or own in results else BASELINE


def data_text(result: dict[str, Any]) -> str:
    """The data a result was measured on, in words: the archive and its hash, or the stand-in and its settings."""
    if result["data_source"] != "synthetic":
        return f"`{Path(result['data_source']).name}` (SHA-256 {result['data_sha256'][:12]}…)"
    spec = result.get("synthetic")
    if not spec:
        return "the stand-in (`synthetic`: generated pictures, not photos)"
    kind = "busy" if spec["clutter"] else "plain"
    return (f"the {kind} stand-in (`synthetic`: generated pictures, not photos; {spec['per_class']} per class and "
            f"{spec['unlabeled']} unlabelled at {spec['size']} px)")


def render(results: dict[str, dict[int, dict[str, Any]]], folders: Sequence[Path]) -> str:
    """The study's table: per arm the seeds, test accuracy mean ± sd and per seed, and the gain over the baseline
    paired by seed with its 95% t-interval; then the seconds, each encoder's pretraining counted once."""
    any_result = next(iter(next(iter(results.values())).values()))
    lines = [
        f"Data: {data_text(any_result)}, "
        f"{any_result['image_size']} px, {any_result['labeled']} {any_result['strategy']} labelled photos, "
        f"{any_result['val_images']} validation (selection) and {any_result['test_images']} test photos (read once "
        f"per model); profile `{any_result['profile']}` (other profiles named in brackets); results in "
        + ", ".join(f"`{folder.as_posix()}/`" for folder in folders) + ".",
        "",
        "| arm | steps | runs (seeds) | test acc. mean ± sd | per seed | minus baseline, points (95% CI, paired) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for arm in sorted(results, key=arm_order):
        runs, base = results[arm], results.get(baseline_of(arm, results), {})
        seeds = sorted(runs)
        acc = [100 * runs[s]["test_accuracy"] for s in seeds]
        sd = statistics.stdev(acc) if len(acc) > 1 else 0.0
        steps = sorted({runs[s]["steps"] for s in seeds})
        step_text = "/".join(map(str, steps))
        if "pretrain" in runs[seeds[0]]:
            step_text += f" (+{runs[seeds[0]]['pretrain']['steps']} pretraining, shared)"
        if arm == baseline_of(arm):
            gain = "reference"
        else:
            paired = [s for s in seeds if s in base]
            diffs = [100 * (runs[s]["test_accuracy"] - base[s]["test_accuracy"]) for s in paired]
            interval = paired_interval(diffs)
            gain = (f"{interval.mean:+.1f} [{interval.low:+.1f}, {interval.high:+.1f}] over {len(diffs)} seeds"
                    if interval else (f"{diffs[0]:+.1f} (one draw: no interval)" if diffs else "no paired baseline"))
        lines.append(f"| {arm} | {step_text} | {len(seeds)} ({','.join(map(str, seeds))}) | "
                     f"{statistics.fmean(acc):.1f} ± {sd:.1f}% | {' '.join(f'{a:.1f}' for a in acc)} | {gain} |")
    seconds = {arm: statistics.fmean(r["train_seconds"] for r in runs.values()) for arm, runs in results.items()}
    lines += ["", "Training seconds per run (mean): " + ", ".join(f"{a} {s:.0f} s" for a, s in sorted(seconds.items()))
              + pretraining_text(results)
              + f" ({'; '.join(sorted({r['machine'] for runs in results.values() for r in runs.values()}))}).", ""]
    return "\n".join(lines)


def split_label(label: str) -> tuple[str, str]:
    """`simclr (study pretrain.epochs=80)` -> (`simclr`, `(study pretrain.epochs=80)`); a plain arm's variant is ``."""
    method, _, rest = label.partition(" (")
    return method, f"({rest}" if rest else ""


def arm_order(label: str) -> tuple[str, bool, str]:
    """The first profile's arms first, then each variant's arms together, each with its baseline first."""
    return split_label(label)[1], label != baseline_of(label), label


def pretraining_text(results: dict[str, dict[int, dict[str, Any]]]) -> str:
    """Each encoder's pretraining once (it is shared by every seed and arm that starts from it), named by its steps
    and, for a variant, by the variant: `; SimCLR pretraining 4000 steps 3180 s, 8000 steps 3501 s (...)`."""
    encoders: dict[tuple[str, int], float] = {}
    for label, runs in sorted(results.items(), key=lambda item: arm_order(item[0])):
        for r in runs.values():
            if "pretrain" in r:
                encoders.setdefault((split_label(label)[1], r["pretrain"]["steps"]), r["pretrain"]["seconds"])
    parts = [f"{steps} steps {seconds:.0f} s" + (f" {name}" if name else "")
             for (name, steps), seconds in encoders.items()]
    return "; SimCLR pretraining, once per encoder: " + ", ".join(parts) if parts else ""


def plot_curves(results: dict[str, dict[int, dict[str, Any]]], path: Path) -> None:
    """Validation accuracy against the optimiser step, mean over seeds with its range, one line per arm: one colour
    per method, one line style per profile or variant, the legend beside the axes so it hides no curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = sorted(results, key=arm_order)
    styles = line_styles(labels)
    fig, ax = plt.subplots(figsize=(9, 4))
    for arm in labels:
        curves = [dict(map(tuple, r["curve"])) for r in results[arm].values() if r["curve"]]
        steps = sorted(set.intersection(*(set(c) for c in curves))) if curves else []
        if not steps:
            continue
        per_step = [[100 * c[s] for c in curves] for s in steps]
        colour, style = styles[arm]
        ax.plot(steps, [statistics.fmean(v) for v in per_step], label=f"{arm} (n={len(curves)})", color=colour, ls=style)
        ax.fill_between(steps, [min(v) for v in per_step], [max(v) for v in per_step], color=colour, alpha=0.08)
    ax.axhline(50, color="grey", lw=0.8, ls="--", label="chance")
    ax.set_xlabel("optimiser step (fine-tune / training)")
    ax.set_ylabel("validation accuracy (%)")
    ax.set_title("Validation accuracy per step: mean over seeds, band = min..max")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def line_styles(labels: list[str]) -> dict[str, tuple[Any, str]]:
    """label -> (colour, line style): one colour per method, one line style per profile or variant, in arm order."""
    from matplotlib import colormaps

    parts = {label: split_label(label) for label in sorted(labels, key=arm_order)}
    methods = list(dict.fromkeys(method for method, _ in parts.values()))
    variants = list(dict.fromkeys(name for _, name in parts.values()))
    colours, dashes = colormaps["tab10"].colors, ["-", "--", ":", "-."]
    return {label: (colours[methods.index(method) % len(colours)], dashes[variants.index(name) % len(dashes)])
            for label, (method, name) in parts.items()}


def study_sections(root: Path = Path("metrics/study")) -> str:
    """Every committed study under `root`, one table per data set (folders measured on the same photos, size and
    labels are one table; the alphabetically first folder's variant on that data, whatever the labels, names its arms
    plainly, so one recipe has one name across a labels sweep), for the report."""
    folders = sorted(p for p in root.iterdir() if p.is_dir() and any(p.glob("*-seed*.json"))
                     and not p.name.endswith("-ladder")) if root.is_dir() else []  # ladders: `evaluation.ladder`
    firsts = {f: read_result(next(iter(sorted(f.glob("*-seed*.json"))))) for f in folders}
    folders.sort(key=lambda f: firsts[f].get("data_source") == "synthetic")  # photos first, the stand-in after them
    groups: dict[tuple, list[Path]] = {}
    for folder in folders:
        groups.setdefault(tuple(firsts[folder].get(k) for k in SAME_DATA), []).append(folder)
    parts = []
    by_labels: dict[tuple, dict[int, dict[str, dict[int, dict[str, Any]]]]] = {}  # other data -> labels -> results
    plains: dict[tuple, str] = {}
    for key, group in groups.items():
        other = tuple(v for k, v in zip(SAME_DATA, key) if k != "labeled")
        plain = plains.setdefault(other, variant(firsts[group[0]]))  # groups come in folder order: the first folder
        results = load_results(*group, plain=plain)
        parts.append(render(results, group))
        figure = root / f"{group[0].name}.png"
        if figure.is_file():
            parts.append(f"![Validation accuracy per step, {group[0].name}]({figure.relative_to(root.parent).as_posix()})\n")
        labels = dict(zip(SAME_DATA, key))["labeled"]
        by_labels.setdefault(other, {})[labels] = results
    for sweep in (s for s in by_labels.values() if len(s) > 1):
        figure = root / "labels.png"
        plot_labels(sweep, figure)
        any_result = next(iter(next(iter(next(iter(sweep.values())).values())).values()))
        parts += [f"How many labels? Test accuracy against the number of labelled photos ({data_text(any_result)}, "
                  "the same recipe; mean ± sd over the n seeds each size was run with):\n", render_labels(sweep),
                  f"![Test accuracy against labelled photos]({figure.relative_to(root.parent).as_posix()})\n"]
    return "\n".join(parts)


def swept_arms(sweep: dict[int, dict[str, dict[int, dict[str, Any]]]]) -> list[str]:
    """The arms measured at two labelled sizes or more (a single size is no curve)."""
    sizes = [a for results in sweep.values() for a in results]
    return sorted({a for a in sizes if sizes.count(a) > 1}, key=arm_order)


def render_labels(sweep: dict[int, dict[str, dict[int, dict[str, Any]]]]) -> str:
    arms = swept_arms(sweep)
    lines = ["| labelled photos | " + " | ".join(arms) + " |", "| --- " * (1 + len(arms)) + "|"]
    for labels, results in sorted(sweep.items()):
        cells = []
        for arm in arms:
            acc = [100 * r["test_accuracy"] for r in results.get(arm, {}).values()]
            cells.append(f"{statistics.fmean(acc):.1f} ± {statistics.stdev(acc) if len(acc) > 1 else 0.0:.1f}% "
                         f"(n={len(acc)})" if acc else "–")
        lines.append(f"| {labels} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_labels(sweep: dict[int, dict[str, dict[int, dict[str, Any]]]], path: Path) -> None:
    """Test accuracy against labelled photos, one line per arm: mean ± sd over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.8))
    arms = swept_arms(sweep)
    styles = line_styles(arms)
    for arm in arms:
        colour, style = styles[arm]
        points = [(n, [100 * r["test_accuracy"] for r in sweep[n][arm].values()]) for n in sorted(sweep)
                  if arm in sweep[n]]
        ax.errorbar([n for n, _ in points], [statistics.fmean(a) for _, a in points],
                    yerr=[statistics.stdev(a) if len(a) > 1 else 0.0 for _, a in points], marker="o", capsize=3,
                    color=colour, ls=style, label=arm)
    ax.axhline(50, color="grey", lw=0.8, ls="--", label="chance")
    ax.set_xscale("log", base=2)
    ax.set_xticks(sorted(sweep), [str(n) for n in sorted(sweep)])
    ax.set_xlabel("labelled photos")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("Test accuracy against labelled photos (mean ± sd over seeds)", fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    run = sub.add_parser("run", help="train and measure each arm for each seed (skips measured ones)")
    run.add_argument("--seeds", default="0-5", help="e.g. 0-5 or 0,2,4 (default 0-5)")
    run.add_argument("--arms", default=None, help="registered methods, comma-separated (default: every one)")
    run.add_argument("--out", type=Path, default=None, help="result folder (default metrics/study/<profile>)")
    run.add_argument("--force", action="store_true", help="measure again even where a result exists")
    run.add_argument("--images", default=None, metavar="N[,N...]",
                     help="budgets in unlabelled images seen, e.g. 12800,64000: each arm that reads unlabelled images "
                          "runs once per budget (the baseline once); default folder metrics/study/<profile>-ladder")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="a param for every run, e.g. --set labeled.size=200 (default folder then "
                          "metrics/study/<profile>-labeled.size=200)")
    report = sub.add_parser("report", help="the table and the curve plot from the result files")
    report.add_argument("folders", type=Path, nargs="+",
                        help="result folders, e.g. metrics/study/study (more: other profiles' arms on the same data)")
    report.add_argument("--markdown", type=Path, default=None, help="also write the table here (default: print)")
    report.add_argument("--figure", type=Path, default=None, help="also draw the curves here (PNG)")


def run(args) -> None:
    if args.action == "run":
        from ..typed import read_params_file

        profile = read_params_file("params.yaml", "the project root (where dvc.yaml is)").get("profile", "demo")
        bad = [o for o in args.overrides if "=" not in o or o.startswith(("profile=", "seed="))]
        if bad:
            raise ConfigError(f"--set {bad[0]}: use KEY=VALUE for a param other than profile and seed (those come "
                              "from params.yaml and --seeds)")
        budgets = image_budgets(args.images) if args.images else []
        out = args.out or Path("metrics/study") / "-".join([str(profile), *args.overrides, *(["ladder"] if budgets else [])])
        from ..methods import names

        arms = [a.strip() for a in args.arms.split(",") if a.strip()] if args.arms is not None else list(names())
        run_study(seed_range(args.seeds), arms, out, str(profile), args.force, tuple(args.overrides), budgets)
        return
    results = load_results(*args.folders)
    text = render(results, args.folders)
    if args.markdown:
        write_text(args.markdown, text)
    if args.figure:
        plot_curves(results, args.figure)
    print(text)
    if any(math.isnan(r["test_accuracy"]) for runs in results.values() for r in runs.values()):
        print("warning: some runs have no test accuracy")
