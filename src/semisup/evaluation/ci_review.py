"""Markdown for a pull-request review comment: the pull request's own comparison against BASE.

    semisup ci-review origin/main --out review.md   # then `cml comment create --publish review.md`
    python stages/ci_review.py origin/main --out review.md   # the same, as CI runs it

Three parts, all base vs this checkout: `dvc metrics diff`, `dvc params diff`, and `dvc plots diff` drawn as PNG
images beside the review (CML uploads the images a comment links to; a comment cannot run Vega). Each curve plot has
one colour per series (method or loss) and a solid line for this checkout, dashed for the base; confusion matrices
print their counts; of image plots (the GAN's grids) the latest of each revision is shown.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import tempfile
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from ..errors import PipelineError
from ..files import write_text

HEAD = "workspace"  # how DVC names the checkout in a plots diff


def git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], capture_output=True, text=True)


def ensure_base(base: str) -> str | None:
    """The base commit, fetched if a shallow clone lacks it; None (with the reason) when it cannot be had."""
    if git("rev-parse", "--verify", "--quiet", f"{base}^{{commit}}").returncode == 0:
        return None
    remote_ref = base.split("/", 1)[1] if base.startswith("origin/") else base
    fetched = git("fetch", "--depth=1", "origin", remote_ref)
    if fetched.returncode == 0 and git("rev-parse", "--verify", "--quiet", "FETCH_HEAD").returncode == 0:
        return None
    return (f"The base `{base}` is not in this clone and could not be fetched "
            f"({fetched.stderr.strip().splitlines()[-1] if fetched.stderr.strip() else 'no remote'}); "
            "fetch it first (e.g. `git fetch --depth=1 origin main`).")


def dvc_md(*args: str) -> str:
    """A Markdown table, or "" when it has no rows (DVC prints just the header when nothing changed)."""
    done = subprocess.run(["dvc", *args, "--md"], capture_output=True, text=True)
    if done.returncode != 0:
        raise PipelineError(f"`dvc {' '.join(args)}` failed: {done.stderr.strip()}")
    table = done.stdout.strip()
    return table if len(table.splitlines()) > 2 else ""


# ---------------------------------------------------------------------------------------------------- plots diff


def plots_diff(base: str) -> dict[str, list[dict[str, Any]]]:
    """`dvc plots diff BASE --json --split`: per plot title, its entries (Vega data or image files)."""
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(["dvc", "plots", "diff", base, "--json", "--split", "-o", tmp],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise PipelineError(f"`dvc plots diff {base}` failed: {done.stderr.strip()}")
        data = json.loads(done.stdout or "{}").get("data", {})
        for entries in data.values():  # image files live in the temporary folder: read them before it goes
            for entry in entries:
                if entry.get("type") == "image" and Path(entry["url"]).is_file():
                    entry["bytes"] = Path(entry["url"]).read_bytes()
    return data


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "plot"


def series_name(row: dict[str, Any]) -> str:
    """The method or loss a row belongs to: `baseline` from `baseline/plots/metrics/val_accuracy.tsv`,
    `fake_loss` from `fake_loss.tsv::fake_loss`."""
    name = row.get("filename::field") or row.get("filename") or row.get("field") or "value"
    name = str(name).split("::")[-1]
    return name.split("/")[0] if "/" in name else Path(name).stem


def revision_label(rev: str, base: str) -> str:
    return "this PR" if rev == HEAD else f"base ({rev})"


def draw_curves(title: str, anchors: dict[str, Any], base: str, path: Path) -> bool:
    """One line per (series, revision): colour = series, solid = this checkout, dashed = base."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x_key, y_key = anchors.get("<DVC_METRIC_X_LABEL>", "step"), anchors.get("<DVC_METRIC_Y_LABEL>", "y")
    lines: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    for row in anchors.get("<DVC_METRIC_DATA>", []):
        y = row.get("dvc_inferred_y_value", row.get(y_key))
        try:
            lines[(series_name(row), row.get("rev", HEAD))].append((float(row[x_key]), float(y)))
        except (KeyError, TypeError, ValueError):
            continue  # a row without a number on both axes: nothing to draw
    if not lines:
        return False
    colours = {s: f"C{i % 10}" for i, s in enumerate(sorted({s for s, _ in lines}))}
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for (series, rev), points in sorted(lines.items(), key=lambda kv: (kv[0][1] != HEAD, kv[0][0])):
        points.sort()
        ax.plot([p[0] for p in points], [p[1] for p in points], color=colours[series],
                ls="-" if rev == HEAD else "--", label=f"{series}, {revision_label(rev, base)}")
    ax.set_xlabel("optimiser step" if x_key == "step" else x_key)
    ax.set_ylabel(y_key if y_key != "y" else "value")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def draw_confusions(title: str, anchors: dict[str, Any], base: str, path: Path) -> bool:
    """A 2-D count table per (method, revision), the counts written in each cell."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x_key, y_key = anchors.get("<DVC_METRIC_X_LABEL>", "predicted"), anchors.get("<DVC_METRIC_Y_LABEL>", "actual")
    counts: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for row in anchors.get("<DVC_METRIC_DATA>", []):
        if x_key in row and y_key in row:
            counts[(series_name(row), row.get("rev", HEAD))][(row[y_key], row[x_key])] += 1
    if not counts:
        return False
    methods = sorted({m for m, _ in counts})
    revs = sorted({r for _, r in counts}, key=lambda r: r != HEAD)
    classes = sorted({c for table in counts.values() for pair in table for c in pair})
    fig, axes = plt.subplots(len(methods), len(revs), figsize=(2.4 * len(revs) + 0.6, 2.1 * len(methods) + 0.5),
                             squeeze=False)
    for (i, method), (j, rev) in ((im, jr) for im in enumerate(methods) for jr in enumerate(revs)):
        ax = axes[i][j]
        grid = [[counts[(method, rev)][(a, p)] for p in classes] for a in classes]
        top = max(1, max(map(max, grid)))
        ax.imshow(grid, cmap="Blues", vmin=0, vmax=top)
        for r, row in enumerate(grid):
            for c, n in enumerate(row):
                ax.text(c, r, str(n), ha="center", va="center", fontsize=9, color="white" if n > top / 2 else "black")
        ax.set_xticks(range(len(classes)), classes, fontsize=7)
        ax.set_yticks(range(len(classes)), classes, fontsize=7)
        ax.set_xlabel(x_key, fontsize=7)
        ax.set_ylabel(y_key, fontsize=7)
        ax.set_title(f"{method}, {revision_label(rev, base)}", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def render_plots(data: dict[str, list[dict[str, Any]]], base: str, folder: Path) -> list[tuple[str, Path]]:
    """(title, PNG) for every plot in the diff; the PNGs go to `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    figures: list[tuple[str, Path]] = []
    latest_image: dict[tuple[str, str], tuple[str, bytes]] = {}
    for title, entries in data.items():
        for entry in entries:
            if entry.get("type") == "image":
                rev = (entry.get("revisions") or [HEAD])[0]
                parent = str(Path(title).parent)
                if "bytes" in entry and title >= latest_image.get((parent, rev), ("", b""))[0]:
                    latest_image[(parent, rev)] = (title, entry["bytes"])
                continue
            anchors = entry.get("anchor_definitions", {})
            path = folder / f"{slug(title)}.png"
            spec = json.dumps(entry.get("content", {}))
            confusion = '"facet"' in spec and '"count"' in spec  # DVC's confusion templates count rows per cell
            if (draw_confusions if confusion else draw_curves)(title, anchors, base, path):
                figures.append((title, path))
    for (parent, rev), (title, blob) in sorted(latest_image.items()):
        path = folder / f"{slug(parent)}-{slug(rev)}.png"
        path.write_bytes(blob)
        figures.append((f"{title} ({revision_label(rev, base)}, the latest)", path))
    return figures


# ------------------------------------------------------------------------------------------------------- command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("base", help="commit or branch to compare with, e.g. origin/main or HEAD~1")
    parser.add_argument("--out", type=Path, default=Path("review.md"),
                        help="the Markdown file; its plots go to <out stem>-plots/ beside it")


def run(args: argparse.Namespace) -> None:
    parts = [f"## Metrics and params vs `{args.base}`\n"]
    problem = ensure_base(args.base)
    if problem:
        parts.append(problem)
    else:
        metrics = dvc_md("metrics", "diff", args.base)
        parts.append(metrics or f"No metric changed, or `{args.base}` has no metrics files yet (nothing to compare).")
        params = dvc_md("params", "diff", args.base)
        parts += ["\n### Params\n", params or "No param changed."]
        folder = args.out.parent / f"{args.out.stem}-plots"
        shutil.rmtree(folder, ignore_errors=True)  # last run's images would otherwise be published again
        figures = render_plots(plots_diff(args.base), args.base, folder)
        parts.append(f"\n### Plots (solid: this PR, dashed: `{args.base}`)\n")
        parts += [f"**{title}**\n\n![{title}]({path.relative_to(args.out.parent).as_posix()})\n" for title, path in figures]
        if not figures:
            parts.append("No plots to compare.")
    write_text(args.out, "\n".join(parts) + "\n")
    print(args.out.read_text())
