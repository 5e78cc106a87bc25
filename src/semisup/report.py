"""Aggregate finished experiments: per data source, image size, profile and labelled strategy, test accuracy of each
method (mean ± std over seeds) and the GAN's gain with a 95% confidence interval paired by seed.

Rows come from `dvc.api.exp_show()` (one per experiment); rows from different data or image sizes are never pooled.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

METHODS = ("baseline", "gan")
GROUP_KEYS = ("data_source", "image_size", "profile", "strategy")
# Two-sided 95% Student t quantiles t(0.975, df) for df = 1..30; beyond that the normal 1.96 is within 2%.
T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)
PUBLISHED = (
    "| published (Kaggle, 224 px, GPU) | baseline | GAN | gain |\n| --- | --- | --- | --- |\n"
    "| curated 100 | 60.2% | 83.2% | +23.0 |\n| random 100 (average of draws) | – | – | about +10 |\n"
)


@dataclass(frozen=True)
class Run:
    name: str
    group: tuple[Any, ...]  # GROUP_KEYS values
    seed: int
    accuracy: dict[str, float]  # method -> test accuracy in [0, 1]


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float


@dataclass(frozen=True)
class GroupSummary:
    group: tuple[Any, ...]
    runs: int
    seeds: list[int]
    accuracy: dict[str, tuple[float, float]]  # method -> (mean, std) in percent
    gain: Interval | None  # GAN minus baseline, points; None with one run


def runs_from_exp_show(rows: list[dict[str, Any]]) -> list[Run]:
    """Experiment rows that finished both methods; the workspace and commits are left to `dvc metrics show`."""
    runs = []
    for row in rows:
        if row.get("typ") not in ("branch_commit", "branch_base"):
            continue
        acc = {m: row.get(f"metrics/{m}.json:test_accuracy") for m in METHODS}
        if not all(isinstance(v, (int, float)) for v in acc.values()):  # still running, failed, or no metrics ("!")
            continue
        meta = {k: row.get(f"metrics/baseline.json:{k}") for k in GROUP_KEYS}
        meta["image_size"] = int(meta["image_size"])
        runs.append(Run(row.get("Experiment") or row["rev"], tuple(meta[k] for k in GROUP_KEYS),
                        int(row["metrics/baseline.json:seed"]), {m: float(v) for m, v in acc.items()}))
    return runs


def paired_interval(differences: list[float]) -> Interval | None:
    """Mean of per-seed differences ± t(0.975, n-1) · s / sqrt(n)."""
    n = len(differences)
    if n < 2:
        return None
    mean = statistics.fmean(differences)
    t = T975[n - 2] if n - 1 <= len(T975) else 1.96
    half = t * statistics.stdev(differences) / math.sqrt(n)
    return Interval(mean, mean - half, mean + half)


def summarize(runs: list[Run]) -> list[GroupSummary]:
    groups: dict[tuple[Any, ...], list[Run]] = {}
    for run in runs:
        groups.setdefault(run.group, []).append(run)
    out = []
    for group, members in sorted(groups.items(), key=lambda kv: tuple(map(str, kv[0]))):
        members.sort(key=lambda r: r.seed)
        acc = {}
        for m in METHODS:
            values = [100 * r.accuracy[m] for r in members]
            acc[m] = (statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0)
        gains = [100 * (r.accuracy["gan"] - r.accuracy["baseline"]) for r in members]
        out.append(GroupSummary(group, len(members), [r.seed for r in members], acc, paired_interval(gains)))
    return out


def render_markdown(summaries: list[GroupSummary]) -> str:
    lines = [
        "| data source | size | profile | labelled set | runs (seeds) | baseline test acc. | GAN test acc. | gain, points (95% CI, paired by seed) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for s in summaries:
        source, size, profile, strategy = s.group
        cells = [f"{s.accuracy[m][0]:.1f} ± {s.accuracy[m][1]:.1f}%" for m in METHODS]
        if s.gain is None:
            gain = f"{s.accuracy['gan'][0] - s.accuracy['baseline'][0]:+.1f} (one draw: no interval)"
        else:
            gain = f"{s.gain.mean:+.1f} [{s.gain.low:+.1f}, {s.gain.high:+.1f}]"
        seeds = ",".join(map(str, s.seeds))
        lines.append(f"| {Path(str(source)).name} | {size} px | {profile} | {strategy} | {s.runs} ({seeds}) | "
                     f"{cells[0]} | {cells[1]} | {gain} |")
    return "\n".join(lines) + "\n"


def plot(summaries: list[GroupSummary], path: Path) -> None:
    """Mean test accuracy per group and method, with ± std bars and a chance line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(5, 1.8 * len(summaries) + 2), 3.6))
    width = 0.38
    for i, method in enumerate(METHODS):
        xs = [j + (i - 0.5) * width for j in range(len(summaries))]
        ax.bar(xs, [s.accuracy[method][0] for s in summaries], width, yerr=[s.accuracy[method][1] for s in summaries],
               capsize=3, label=method)
    ax.axhline(50, color="grey", lw=0.8, ls="--", label="chance")
    ax.set_xticks(range(len(summaries)))
    ax.set_xticklabels([f"{Path(str(s.group[0])).name}\n{s.group[1]} px, {s.group[3]}\nn={s.runs}" for s in summaries], fontsize=7)
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(runs: list[Run], markdown: Path, figure: Path) -> str:
    summaries = summarize(runs)
    text = ("# Experiments\n\nTest accuracy over finished DVC experiments, mean ± std over seeds; rows never mix data "
            "sources or image sizes.\n\n" + (render_markdown(summaries) if summaries else "No finished experiments yet.\n")
            + "\nThe published figures, for comparison:\n\n" + PUBLISHED)
    markdown.parent.mkdir(parents=True, exist_ok=True)
    markdown.write_text(text)
    if summaries:
        plot(summaries, figure)
    return text
