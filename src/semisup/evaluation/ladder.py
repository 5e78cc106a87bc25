"""The budget ladder (`semisup study run --images ...`): test accuracy against the unlabelled images a method saw.

Each `*-ladder` folder under `metrics/study/` is one recipe on one machine: the baseline once (it sees no unlabelled
photo: the flat reference) and every method that reads unlabelled photos at each budget, paired with that baseline by
seed. Gains carry two intervals: the t-interval over seeds, and the paired bootstrap over seeds and test photos.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .intervals import Interval, paired_bootstrap, paired_interval

LADDER_SUFFIX = "-ladder"
ARTICLE_IMAGES = 455_000  # 13 epochs x ~35,000 unlabelled photos: where the article saw the GAN ~10 points ahead


@dataclass(frozen=True)
class Rung:
    """One method at one budget, over its seeds, against the baseline of the same folder."""

    method: str
    images: int  # unlabelled images seen per run (the same for every seed)
    passes: float  # over the unlabelled set the run drew from
    seeds: list[int]
    accuracy: list[float]  # per seed, percent
    gain: Interval | None  # t-interval over seeds, points
    boot: Interval | None  # paired bootstrap over seeds and test photos, points
    minutes: float  # CPU-minutes of training per run (mean)


def ladder_folders(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and p.name.endswith(LADDER_SUFFIX)
                  and any(p.glob("*-seed*.json"))) if root.is_dir() else []


def method_of(label: str) -> str:
    """`gan@64000 (study x=1)` -> `gan`."""
    return label.partition(" (")[0].partition("@")[0]


def correct(result: dict[str, Any]) -> list[bool] | None:
    """Per test photo, whether the model got it right (from the stored probabilities of class 1), or None for a
    result that stored none."""
    probabilities, labels = result.get("test_probabilities"), result.get("test_labels")
    if not probabilities or not labels or len(probabilities) != len(labels):
        return None
    return [(p > 0.5) == bool(y) for p, y in zip(probabilities, labels)]


def rungs(results: dict[str, dict[int, dict[str, Any]]], baseline: str = "baseline") -> list[Rung]:
    """Every (method, budget) of one ladder folder, the baseline first, then by method and budget."""
    base = results.get(baseline, {})
    out = []
    for label, runs in results.items():
        seeds = sorted(runs)
        acc = [100 * runs[s]["test_accuracy"] for s in seeds]
        images = int(statistics.fmean(runs[s].get("unlabeled_images", 0) for s in seeds))
        pool = max(runs[seeds[0]].get("unlabeled_pool", 0), 1)
        paired = [s for s in seeds if s in base] if label != baseline else []
        gain = paired_interval([100 * (runs[s]["test_accuracy"] - base[s]["test_accuracy"]) for s in paired])
        per_photo = [(correct(runs[s]), correct(base[s])) for s in paired]
        boot = None
        if paired and all(a is not None and b is not None and len(a) == len(b) for a, b in per_photo):
            boot = paired_bootstrap([a for a, _ in per_photo], [b for _, b in per_photo])
        out.append(Rung(method_of(label), images, images / pool, seeds, acc, gain, boot,
                        statistics.fmean(runs[s]["train_seconds"] for s in seeds) / 60))
    return sorted(out, key=lambda r: (r.method != method_of(baseline), r.method, r.images))


def interval_text(interval: Interval | None, n: int) -> str:
    if interval is None:
        return "one draw: no interval" if n == 1 else "–"
    return f"{interval.mean:+.1f} [{interval.low:+.1f}, {interval.high:+.1f}]"


def render_ladder(results: dict[str, dict[int, dict[str, Any]]], folder: Path) -> str:
    """One row per method and budget: images seen, passes, seeds, test accuracy, the gain over the baseline with
    both intervals, CPU-minutes per run."""
    rows = rungs(results)
    any_result = next(iter(next(iter(results.values())).values()))
    lines = [f"Ladder `{folder.as_posix()}/` (profile `{any_result['profile']}`, {any_result['image_size']} px, "
             f"{any_result['labeled']} {any_result['strategy']} labelled photos, {any_result['val_images']} validation "
             f"photos for selection, {any_result['test_images']} test photos read once per model; "
             f"{'; '.join(sorted({r['machine'] for runs in results.values() for r in runs.values()}))}):", "",
             "| method | unlabelled images seen | passes | seeds | test acc. mean ± sd | per seed | minus baseline, "
             "points (95% t over seeds) | (95% bootstrap, seeds × test photos) | CPU-min per run |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        sd = statistics.stdev(r.accuracy) if len(r.accuracy) > 1 else 0.0
        reference = r.method == "baseline"
        lines.append(f"| {r.method} | {r.images:,} | {r.passes:.2f} | {len(r.seeds)} ({','.join(map(str, r.seeds))}) | "
                     f"{statistics.fmean(r.accuracy):.1f} ± {sd:.1f}% | {' '.join(f'{a:.1f}' for a in r.accuracy)} | "
                     + ("reference | reference" if reference else
                        f"{interval_text(r.gain, len(r.seeds))} | {interval_text(r.boot, len(r.seeds))}")
                     + f" | {r.minutes:.1f} |")
    return "\n".join(lines) + "\n"


def plot_ladder(ladders: dict[Path, dict[str, dict[int, dict[str, Any]]]], path: Path) -> None:
    """One panel per ladder folder: test accuracy against unlabelled images seen (log x), one line per method with
    the bootstrap interval of its gain drawn around the baseline's mean plus the gain, the baseline flat."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(ladders), figsize=(5.4 * len(ladders), 3.9), squeeze=False, sharey=True)
    for ax, (folder, results) in zip(axes[0], ladders.items()):
        rows = rungs(results)
        base = [r for r in rows if r.method == "baseline"]
        reference = statistics.fmean(base[0].accuracy) if base else None
        methods = list(dict.fromkeys(r.method for r in rows if r.method != "baseline"))
        for i, method in enumerate(methods):
            points = [r for r in rows if r.method == method]
            ys = [statistics.fmean(r.accuracy) for r in points]
            errors = [(0.0, 0.0) if r.boot is None else (r.boot.mean - r.boot.low, r.boot.high - r.boot.mean)
                      for r in points]
            ax.errorbar([r.images for r in points], ys, yerr=[list(e) for e in zip(*errors)], marker="o",
                        capsize=3, color=f"C{i + 1}", label=f"{method} (n={'/'.join(str(len(r.seeds)) for r in points)})")
        if reference is not None:
            ax.axhline(reference, color="C0", ls="--", label=f"baseline, no unlabelled photos (n={len(base[0].seeds)})")
        ax.axhline(50, color="grey", lw=0.8, ls=":", label="chance")
        ax.axvline(ARTICLE_IMAGES, color="grey", lw=0.8, ls="-.", label="the article's +10 points (~13 epochs)")
        ax.set_xscale("log")
        ax.set_xlim(5e3, 1e6)
        ax.set_xlabel("unlabelled images seen per run (log)")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(folder.name, fontsize=9)
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle("Test accuracy against unlabelled images seen\n(bars: 95% paired bootstrap of the gain over seeds and "
                 "test photos)", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def ladder_sections(root: Path = Path("metrics/study")) -> str:
    """Every committed ladder under `root`: its table, and one figure for all of them (`<root>/ladder.png`)."""
    from .study_tables import load_results

    folders = ladder_folders(root)
    if not folders:
        return ""
    ladders = {folder: load_results(folder) for folder in folders}
    figure = root / "ladder.png"
    plot_ladder(ladders, figure)
    return ("\n".join(render_ladder(results, folder) for folder, results in ladders.items())
            + f"\n![Test accuracy against unlabelled images seen]({figure.relative_to(root.parent).as_posix()})\n")
