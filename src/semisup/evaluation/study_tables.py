"""`semisup study report`: the study's tables and figures, rebuilt from the committed result files alone (never from
DVC experiment refs): per arm the seeds, test accuracy and the gain over its same-recipe baseline paired by seed; the
validation curves; the labels sweep.
"""
from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .intervals import paired_interval
from .results import read_result
from .study_run import BASELINE, budget_label


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
