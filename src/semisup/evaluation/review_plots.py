"""`dvc plots diff` drawn as PNG images for a pull-request comment (a comment cannot run Vega).

The data columns come from the plot definitions (`x:` and `y:` of dvc.yaml's `plots:`, else the fields DVC wrote into
the rendered spec), never from the axis titles, which are prose ("optimiser step", "predicted class"). A series with
no point to draw is left out, legend included, and a plot with none is not drawn at all: a blank frame with a full
legend is what reading the titles as columns produced. One colour per series (method or loss), solid for this
checkout, dashed for the base; confusion matrices print their counts; of image plots the latest per revision is kept.
"""
from __future__ import annotations

import json
import math
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Iterator

import yaml

HEAD = "workspace"  # how DVC names the checkout in a plots diff
META = {"rev", "filename", "field", "filename::field", "dvc_inferred_y_value"}  # row keys DVC adds; not data


def plot_definitions(dvc_yaml: Path = Path("dvc.yaml")) -> dict[str, dict[str, Any]]:
    """Title -> {"x": [fields], "y": [fields], "template": name} for every titled plot of dvc.yaml's `plots:`."""
    try:
        plots = yaml.safe_load(dvc_yaml.read_text()).get("plots") or []
    except (OSError, AttributeError, yaml.YAMLError):
        return {}
    found = {}
    for item in plots:
        if isinstance(item, dict):
            for title, spec in item.items():
                if isinstance(spec, dict):
                    found[title] = {"x": fields(spec.get("x")), "y": fields(spec.get("y")),
                                    "template": str(spec.get("template", ""))}
    return found


def fields(spec: Any) -> list[str]:
    """`step`, `[a, b]` or `{file: field | [fields]}` -> the field names, in order, once each."""
    if spec is None:
        return []
    if isinstance(spec, str):
        return [spec]
    if isinstance(spec, dict):
        return list(dict.fromkeys(f for value in spec.values() for f in fields(value)))
    return list(dict.fromkeys(f for value in spec for f in fields(value)))


def encoded_fields(content: Any) -> tuple[list[str], list[str]]:
    """The x and y fields DVC put into a rendered spec (any `encoding` in it, layers and facets included)."""
    xs: list[str] = []
    ys: list[str] = []
    for encoding in _encodings(content):
        for axis, into in (("x", xs), ("y", ys)):
            field = (encoding.get(axis) or {}).get("field") if isinstance(encoding.get(axis), dict) else None
            if isinstance(field, str) and not field.startswith("<") and field not in into:
                into.append(field)
    return xs, ys


def _encodings(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if isinstance(node.get("encoding"), dict):
            yield node["encoding"]
        for value in node.values():
            yield from _encodings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _encodings(value)


def columns(title: str, entry: dict[str, Any], definitions: dict[str, dict[str, Any]]) -> tuple[list[str], list[str]]:
    """The x and y data columns of one plot: its dvc.yaml definition, else the rendered spec's fields."""
    known = definitions.get(title, {})
    xs, ys = known.get("x", []), known.get("y", [])
    if not xs or not ys:
        ex, ey = encoded_fields(entry.get("content", {}))
        xs, ys = xs or ex, ys or ey
    return xs, ys


def series_name(row: dict[str, Any], y_field: str) -> str:
    """The method or loss a row belongs to: `baseline` from `baseline/plots/metrics/val_accuracy.tsv`, `fake_loss`
    from `fake_loss.tsv::fake_loss`, the y column itself when DVC names no file (a plot of one file)."""
    name = row.get("filename::field") or row.get("filename") or row.get("field")
    if not name:
        return y_field
    name = str(name).split("::")[-1]
    return name.split("/")[0] if "/" in name else Path(name).stem


def revision_label(rev: str, base_label: str) -> str:
    return "this PR" if rev == HEAD else base_label


def number(value: Any) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def curve_points(rows: list[dict[str, Any]], xs: list[str], ys: list[str]) -> dict[tuple[str, str], list]:
    """(series, revision) -> sorted (x, y) points; rows without a number on both axes are skipped, and so is a
    series left with none."""
    lines: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    for row in rows:
        x_field = next((f for f in xs if f in row), None)
        y_field = "dvc_inferred_y_value" if "dvc_inferred_y_value" in row else next((f for f in ys if f in row), None)
        if x_field is None or y_field is None:
            continue
        x, y = number(row[x_field]), number(row[y_field])
        if x is not None and y is not None:
            label = next((f for f in ys if f in row), y_field)
            lines[(series_name(row, label), row.get("rev", HEAD))].append((x, y))
    return {key: sorted(points) for key, points in lines.items() if points}


def draw_curves(title: str, lines: dict[tuple[str, str], list], labels: tuple[str, str], log: bool,
                base_label: str, path: Path) -> bool:
    """One line per (series, revision): colour = series, solid = this checkout, dashed = base."""
    if not lines:
        return False
    plt = pyplot()
    colours = {s: f"C{i % 10}" for i, s in enumerate(sorted({s for s, _ in lines}))}
    fig, ax = plt.subplots(figsize=(7.6, 3.6))
    for (series, rev), points in sorted(lines.items(), key=lambda kv: (kv[0][1] != HEAD, kv[0][0])):
        ax.plot([p[0] for p in points], [p[1] for p in points], color=colours[series], lw=1.6,
                ls="-" if rev == HEAD else "--", marker="." if len(points) == 1 else None,
                label=f"{series}, {revision_label(rev, base_label)}")
    if log and all(p[1] > 0 for points in lines.values() for p in points):
        ax.set_yscale("log")
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1], fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def confusion_counts(rows: list[dict[str, Any]], xs: list[str], ys: list[str]) -> dict[tuple[str, str], Counter]:
    """(method, revision) -> Counter of (actual, predicted): one row per test image."""
    counts: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for row in rows:
        x_field = next((f for f in xs if f in row), None)
        y_field = next((f for f in ys if f in row), None)
        if x_field and y_field:
            counts[(series_name(row, y_field), row.get("rev", HEAD))][(row[y_field], row[x_field])] += 1
    return counts


def draw_confusions(title: str, counts: dict[tuple[str, str], Counter], labels: tuple[str, str], base_label: str,
                    path: Path) -> bool:
    """A count table per (method, revision), the counts written in each cell."""
    if not counts:
        return False
    plt = pyplot()
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
        ax.set_xlabel(labels[0], fontsize=7)
        ax.set_ylabel(labels[1], fontsize=7)
        ax.set_title(f"{method}, {revision_label(rev, base_label)}", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "plot"


def is_confusion(entry: dict[str, Any], template: str) -> bool:
    """DVC's confusion templates (and the project's `confusion_counts`) count rows per cell."""
    spec = json.dumps(entry.get("content", {}))
    return "confusion" in template or ('"count"' in spec and ('"facet"' in spec or '"rect"' in spec))


def render_plots(data: dict[str, list[dict[str, Any]]], base_label: str, folder: Path,
                 definitions: dict[str, dict[str, Any]]) -> list[tuple[str, Path]]:
    """(title, PNG) for every plot of the diff that has something to draw; the PNGs go to `folder`."""
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
            rows = [r for r in anchors.get("<DVC_METRIC_DATA>", []) if isinstance(r, dict)]
            xs, ys = columns(title, entry, definitions)
            labels = (str(anchors.get("<DVC_METRIC_X_LABEL>") or (xs or ["x"])[0]),
                      str(anchors.get("<DVC_METRIC_Y_LABEL>") or (ys or ["y"])[0]))
            template = definitions.get(title, {}).get("template", "")
            path = folder / f"{slug(title)}.png"
            if is_confusion(entry, template):
                drawn = draw_confusions(title, confusion_counts(rows, xs, ys), labels, base_label, path)
            else:
                log = template.endswith("_log") or '"log"' in json.dumps(entry.get("content", {}))
                drawn = draw_curves(title, curve_points(rows, xs, ys), labels, log, base_label, path)
            if drawn:
                figures.append((title, path))
    for (parent, rev), (title, blob) in sorted(latest_image.items()):
        path = folder / f"{slug(parent)}-{slug(rev)}.png"
        path.write_bytes(blob)
        figures.append((f"{title} ({revision_label(rev, base_label)}, the latest)", path))
    return figures
