"""The report's figures (`semisup report`): accuracy per group and method, and accuracy against labelled photos."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .report_rows import GroupSummary


def plot(summaries: list[GroupSummary], path: Path, methods: tuple[str, ...], optional: tuple[str, ...]) -> None:
    """Mean test accuracy per group and method (`methods`, then those of `optional` some group ran), with ± std bars
    and a chance line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(5, 1.8 * len(summaries) + 2), 3.6))
    methods = methods + tuple(o for o in optional if any(o in s.accuracy for s in summaries))
    width = 0.8 / len(methods)
    for i, method in enumerate(methods):
        xs = [j + (i - (len(methods) - 1) / 2) * width for j in range(len(summaries))]
        ax.bar(xs, [s.accuracy.get(method, (0.0, 0.0))[0] for s in summaries], width,
               yerr=[s.accuracy.get(method, (0.0, 0.0))[1] for s in summaries], capsize=3, label=method)
    ax.axhline(50, color="grey", lw=0.8, ls="--", label="chance")
    ax.set_xticks(range(len(summaries)))
    ax.set_xticklabels([f"{Path(str(s.group[0])).name}\n{s.group[1]} px, {s.group[2]}\n{s.group[3]} {s.group[4]}, n={s.runs}" for s in summaries], fontsize=7)
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_labels(sweeps: dict[tuple[Any, ...], list[GroupSummary]], path: Path, methods: tuple[str, ...]) -> None:
    """Test accuracy against the number of labelled photos, one line per method (mean ± sd over seeds), one panel
    per data set: does labelling more photos beat any algorithm?"""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(sweeps), figsize=(5.2 * len(sweeps), 3.6), squeeze=False)
    for ax, ((source, size, profile, strategy, _recipe), members) in zip(axes[0], sweeps.items()):
        for i, method in enumerate(methods):
            points = [(s.group[4], *s.accuracy[method]) for s in members if method in s.accuracy]
            if points:
                ax.errorbar([p[0] for p in points], [p[1] for p in points], yerr=[p[2] for p in points], marker="o",
                            capsize=3, color=f"C{i}", label=method)
        ax.axhline(50, color="grey", lw=0.8, ls="--", label="chance")
        ax.set_xscale("log", base=2)
        ax.set_xticks([s.group[4] for s in members], [str(s.group[4]) for s in members])
        ax.set_xlabel("labelled photos")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"{Path(str(source)).name}, {size} px, {profile}, {strategy}", fontsize=9)
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
