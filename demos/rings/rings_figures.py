"""The two-rings demonstration's figures: the data, the generated points during training, and the decision
boundaries (one seed, then every seed). matplotlib is imported only here, when the figures are drawn."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rings_params import RingsParams
from rings_training import (
    K,
    EnsembleMLP,
    RingsData,
    TrainResult,
    figure_seed_index,
    fraction_in_gap,
    grid_maps,
    plot_extent,
)

_CLASS_COLORS = ("tab:blue", "tab:orange")
_REGION_COLORS = ("#c6dbef", "#fdd0a2")  # light versions of the class colours, for decision regions


def _scatter_data(ax: Any, data: RingsData, faint: bool = False) -> None:
    x, y = data.x_train, data.y_train
    for c in range(K):
        pts = x[y == c]
        ax.scatter(pts[:, 0], pts[:, 1], s=3, c=_CLASS_COLORS[c], alpha=0.25 if faint else 0.5, linewidths=0,
                   label=None if faint else f"unlabelled, ring {c}")
    xl, yl = data.x_labeled, data.y_labeled
    for c in range(K):
        pts = xl[yl == c]
        ax.scatter(pts[:, 0], pts[:, 1], s=120, marker="*", c=_CLASS_COLORS[c], edgecolors="black", linewidths=0.8,
                   zorder=5, label=None if faint else f"labelled, class {c}")


def _square(ax: Any, lim: float) -> None:
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])


def plot_data(data: RingsData, p: RingsParams, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.2, 4.2))
    _scatter_data(ax, data)
    _square(ax, plot_extent(p.data))
    ax.set_title(f"two rings, {p.data.labeled_per_class} labelled points per class (seed {data.seed})", fontsize=9)
    ax.legend(fontsize=7, loc="upper right", markerscale=1.0, framealpha=0.9)
    fig.tight_layout()
    fig.savefig(path, dpi=p.plot.dpi)
    plt.close(fig)


def plot_generated(data: RingsData, result: TrainResult, index: int, p: RingsParams, path: Path) -> None:
    import matplotlib.pyplot as plt

    steps = sorted(result.snapshots)
    fig, axes = plt.subplots(1, len(steps), figsize=(2.6 * len(steps), 2.9), squeeze=False)
    lim = plot_extent(p.data)
    for ax, step in zip(axes[0], steps):
        if step in result.real_maps:  # grey where the classifier calls a point generated (D < 0.5)
            d_map = result.real_maps[step][index].numpy()
            axis = np.linspace(-lim, lim, d_map.shape[0])
            ax.contourf(axis, axis, d_map, levels=[0, 0.5, 1], colors=["#d9d9d9", "white"])
        _scatter_data(ax, data, faint=True)
        pts = result.snapshots[step][index]
        ax.scatter(pts[:, 0], pts[:, 1], s=3, c="red", linewidths=0, label="generated")
        share = fraction_in_gap(pts, p.data)
        ax.set_title(f"step {step}: {100 * share:.0f}% in the gap", fontsize=9)
        _square(ax, lim)
    axes[0][0].legend(fontsize=7, loc="upper right", markerscale=3)
    fig.suptitle(f"generated points (red) over the rings, SGAN, seed {data.seed}; grey: D(x) < 0.5", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=p.plot.dpi)
    plt.close(fig)


def decision_map(classifier: EnsembleMLP, index: int, lim: float, n: int) -> tuple[np.ndarray, ...]:
    """`grid_maps` for one seed of an ensemble: (x, y, P(class 1), D(x)), each [n, n]."""
    gx, gy, p1, d_real = grid_maps(classifier, lim, n)
    return gx, gy, p1[index], d_real[index]


_TITLES = {"labeled_only": "labelled only", "sgan": "SGAN (K logits)", "kplus1": "explicit K+1 classes"}


def plot_boundaries(data: RingsData, results: dict[str, TrainResult], index: int, p: RingsParams,
                    path: Path) -> None:
    import matplotlib.pyplot as plt

    names = list(results)
    fig, axes = plt.subplots(1, len(names), figsize=(3.4 * len(names), 3.6), squeeze=False)
    lim = plot_extent(p.data)
    for ax, name in zip(axes[0], names):
        res = results[name]
        gx, gy, p1, d_real = decision_map(res.classifier, index, lim, p.plot.grid)
        ax.contourf(gx, gy, p1, levels=[0, 0.5, 1], colors=list(_REGION_COLORS))
        ax.contour(gx, gy, p1, levels=[0.5], colors="black", linewidths=1.5)
        if res.generator is not None:  # where the classifier believes the data are: D(x) = 0.5
            ax.contour(gx, gy, d_real, levels=[0.5], colors="green", linewidths=0.8, linestyles="dashed")
        _scatter_data(ax, data, faint=True)
        ax.set_title(f"{_TITLES[name]}: test acc {100 * res.accuracy[index]:.0f}%", fontsize=9)
        _square(ax, lim)
    fig.suptitle(f"decision boundary (black); dashed green: D(x)=0.5; seed {data.seed}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=p.plot.dpi)
    plt.close(fig)


def plot_all_seeds(data: list[RingsData], results: dict[str, TrainResult], p: RingsParams, path: Path) -> None:
    """Every method (rows) on every seed (columns): the boundary, the labelled points and the test accuracy."""
    import matplotlib.pyplot as plt

    names = list(results)
    fig, axes = plt.subplots(len(names), len(data), figsize=(1.25 * len(data) + 0.4, 1.45 * len(names) + 0.4),
                             squeeze=False, layout="constrained")
    lim = plot_extent(p.data)
    n = max(40, p.plot.grid // 2)
    for row, name in enumerate(names):
        res = results[name]
        for col, d in enumerate(data):
            ax = axes[row][col]
            gx, gy, p1, _ = decision_map(res.classifier, col, lim, n)
            ax.contourf(gx, gy, p1, levels=[0, 0.5, 1], colors=list(_REGION_COLORS))
            ax.contour(gx, gy, p1, levels=[0.5], colors="black", linewidths=0.8)
            ring = d.x_train[:: max(1, len(d.x_train) // 300)]
            ax.scatter(ring[:, 0], ring[:, 1], s=0.5, c="grey", linewidths=0)
            xl, yl = d.x_labeled, d.y_labeled
            ax.scatter(xl[:, 0], xl[:, 1], s=25, marker="*", c=[_CLASS_COLORS[int(c)] for c in yl],
                       edgecolors="black", linewidths=0.4, zorder=5)
            ax.set_title(f"{100 * res.accuracy[col]:.0f}%", fontsize=7, pad=2)
            _square(ax, lim)
            if col == 0:
                ax.set_ylabel(_TITLES[name], fontsize=7)
            if row == len(names) - 1:
                ax.set_xlabel(f"seed {d.seed}", fontsize=7)
    fig.suptitle("decision boundaries and test accuracy, every seed", fontsize=9)
    fig.savefig(path, dpi=p.plot.dpi)
    plt.close(fig)


def write_figures(data: list[RingsData], results: dict[str, TrainResult], p: RingsParams, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    out.mkdir(parents=True, exist_ok=True)
    index = figure_seed_index(results, p)
    paths = [out / "data.png", out / "generated.png", out / "boundaries.png", out / "boundaries_all_seeds.png"]
    plot_data(data[index], p, paths[0])
    plot_generated(data[index], results["sgan"], index, p, paths[1])
    plot_boundaries(data[index], results, index, p, paths[2])
    plot_all_seeds(data, results, p, paths[3])
    return paths
