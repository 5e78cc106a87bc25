"""Help a person choose the hand-curated labelled images (`data/curation/curated.csv`) by eye.

The 100 labelled images are the only labels the models see, so they are picked by a person, not by a script. This
module shows the candidates and records the choices; the judging stays human.

    # 1. Contact sheets (PNG), a choices file to fill in, and a click-to-pick web page for one class, from Kaggle
    #    id --first up (use one folder per class: each gets its own index.html):
    python -m semisup.labels.review sheets --source data/raw/dogs-vs-cats.zip --label cat --out /tmp/review/cat \\
        --first 0 --count 200 --per-sheet 30 --thumb 160 --curated data/curation/curated.csv
    # 2a. Either fill in /tmp/review/cat/choices_cat.csv (pick = y, setting = indoor|outdoor, a short note;
    #     n drops an already-curated photo) ...
    # 2b. ... or open /tmp/review/cat/index.html, click photos, choose indoor/outdoor, press "Download CSV".
    # 3. Merge the choices into the curated list and see the per-class balance:
    python -m semisup.labels.review apply --choices /tmp/review/cat/choices_cat.csv ~/Downloads/picks_cat.csv \\
        --curated data/curation/curated.csv
    # A sheet of what is curated (for the README or a second look):
    python -m semisup.labels.review sheet-of --curated data/curation/curated.csv --source data/raw/dogs-vs-cats.zip \\
        --label dog --out docs/curation/curated_dogs.png

Nothing is written under the data source; sheets go wherever `--out` says (keep them out of the repository).
"""
from __future__ import annotations

import argparse
import base64
import csv
import heapq
import html
import io
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from PIL import Image

from ..cli import run_stage
from .contact_sheet import Tile, render, save_png, thumbnail
from .curated_list import COLUMNS, SETTINGS, CuratedItem, read_curated, write_curated
from ..errors import PipelineError
from ..files import plural
from ..data.sources import iter_entries, parse_name

LABELS = ("cat", "dog")
CHOICE_COLUMNS = ("kaggle_name", "label", "pick", "setting", "note")
PICK_YES = ("y", "yes", "x", "1")
PICK_NO = ("", "n", "no", "0", "-")  # blank = not picked; n/no/0/- on a curated image removes it from the list
SETTING_ALIASES = {"indoor": "indoor", "in": "indoor", "i": "indoor", "outdoor": "outdoor", "out": "outdoor", "o": "outdoor"}
WEB_THUMB = 128  # px; the web page embeds its own small JPEGs so it stays one self-contained file


@dataclass(frozen=True)
class Candidate:
    """One photo shown to the reviewer: where it sits (sheet, number) and its pixels."""

    kaggle_id: int
    kaggle_name: str
    data: bytes
    sheet: int = 1
    number: int = 1


# ---------------------------------------------------------------- reading photos


def load_photos(source: str | Path, label: str, accept: Callable[[int], bool], limit: int | None = None) -> list[tuple[int, bytes]]:
    """The `limit` smallest accepted ids of one class, read in one pass over the source (zip, nested zip or folder).

    Only photos that can still make the cut are read, so memory stays bounded by `limit` even on the full download.
    """
    if not Path(source).exists():
        raise PipelineError(f"--source {str(source)!r} does not exist; point it at Kaggle's dogs-vs-cats.zip, train.zip "
                            "or a folder of cat.N.jpg / dog.N.jpg files")
    heap: list[tuple[int, bytes]] = []  # (-id, bytes): a max-heap on id
    seen: set[int] = set()
    for entry in iter_entries(source):
        identity = parse_name(entry.name)
        if identity is None or identity.label != label or identity.kaggle_id in seen or not accept(identity.kaggle_id):
            continue
        if entry.refused:  # over a size limit (a zip bomb?): never read
            print(f"skipped {entry.name}: {entry.refused}", file=sys.stderr)
            continue
        if limit is not None and len(heap) >= limit and identity.kaggle_id > -heap[0][0]:
            continue
        seen.add(identity.kaggle_id)
        heapq.heappush(heap, (-identity.kaggle_id, entry.read()))  # read before the iterator moves on
        if limit is not None and len(heap) > limit:
            heapq.heappop(heap)
    return sorted((-neg, data) for neg, data in heap)


def _kaggle_name(label: str, kaggle_id: int) -> str:
    return f"{label}.{kaggle_id}.jpg"


def render_sheet(candidates: Sequence[Candidate], thumb: int, columns: int | None = None,
                 picked: frozenset[str] | set[str] = frozenset(), frames: dict[str, set[str]] | None = None,
                 frame_key: str = "kaggle_name") -> Image.Image:
    """A grid of thumbnails, each captioned `<number> <kaggle name>`. `frames` maps a colour to the candidates (by
    `frame_key`) framed in it; `picked` (already-curated ones) is the green frame of the review tool."""
    frames = frames if frames is not None else {"green": set(picked)}
    tiles = [Tile(c.data, (f"{c.number}  {c.kaggle_name}",),
                  next((colour for colour, keys in frames.items() if str(getattr(c, frame_key)) in keys), None))
             for c in candidates]
    return render(tiles, thumb, columns)


def make_sheets(source: str | Path, label: str, out: Path, first: int = 0, count: int = 200, per_sheet: int = 48,
                thumb: int = 128, curated: str | Path | None = None) -> list[Path]:
    """Contact sheets, `choices_<label>.csv` and `index.html` for `count` photos of one class from id `first` up."""
    _check_label(label, "--label")
    if count < 1 or per_sheet < 1 or thumb < 16 or first < 0:
        raise PipelineError("--count and --per-sheet must be >= 1, --thumb >= 16 and --first >= 0")
    photos = load_photos(source, label, lambda kaggle_id: kaggle_id >= first, limit=count)
    if not photos:
        raise PipelineError(f"--source {str(source)!r} holds no {label} photos with id >= {first}; "
                            f"expected names like train/{label}.{first}.jpg")
    known = {item.kaggle_name: item for item in read_curated(curated)} if curated else {}
    candidates = [Candidate(kaggle_id, _kaggle_name(label, kaggle_id), data, slot // per_sheet + 1, slot % per_sheet + 1)
                  for slot, (kaggle_id, data) in enumerate(photos)]
    out.mkdir(parents=True, exist_ok=True)
    pages: list[Path] = []
    for start in range(0, len(candidates), per_sheet):
        chunk = candidates[start:start + per_sheet]
        page = out / f"sheet_{label}_{chunk[0].sheet:02d}.png"
        save_png(render_sheet(chunk, thumb, picked=set(known)), page)
        pages.append(page)
    _write_choices(out / f"choices_{label}.csv", label, candidates, known)
    (out / "index.html").write_text(_web_page(label, candidates, known), encoding="utf-8")
    return pages


def _write_choices(path: Path, label: str, candidates: Sequence[Candidate], known: dict[str, CuratedItem]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(CHOICE_COLUMNS)
        for cand in candidates:
            item = known.get(cand.kaggle_name)
            writer.writerow((cand.kaggle_name, label, "y" if item else "", item.setting if item else "", item.note if item else ""))


# ---------------------------------------------------------------- the click-to-pick web page

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Curate {label}s</title>
<style>
body {{ font-family: sans-serif; margin: 1em; }}
#bar {{ position: sticky; top: 0; background: #fff; padding: .5em 0; border-bottom: 1px solid #ccc; z-index: 1; }}
.grid {{ display: flex; flex-wrap: wrap; gap: 8px; }}
figure {{ margin: 0; padding: 4px; border: 3px solid transparent; width: {thumb}px; font-size: 12px; }}
figure.picked {{ border-color: #0a0; background: #efe; }}
figure img {{ cursor: pointer; display: block; width: {thumb}px; height: {thumb}px; object-fit: contain; }}
figure input.note {{ width: 100%; box-sizing: border-box; }}
</style></head><body>
<div id="bar"><b>Curate {label}s</b> &mdash; click a photo to pick or unpick it, choose indoor/outdoor, add a short note,
then <button id="download">Download CSV</button> and run
<code>python -m semisup.labels.review apply --choices picks_{label}.csv --curated data/curation/curated.csv</code>.
<span id="counts"></span><br><small>Rules: exactly one animal, no people (no hands either), no cages/bars or text
over the photo, not heavily cropped, clearly recognisable; half indoor, half outdoor. Unpicking a green (already
curated) photo here does not remove it: write <code>n</code> in its pick column in choices_{label}.csv instead.</small></div>
{sections}
<script>
const figures = [...document.querySelectorAll("figure")];
function counts() {{
  const picked = figures.filter(f => f.classList.contains("picked"));
  const n = s => picked.filter(f => setting(f) === s).length;
  document.getElementById("counts").textContent =
    ` picked ${{picked.length}} (indoor ${{n("indoor")}}, outdoor ${{n("outdoor")}}, no setting ${{n("")}})`;
}}
function setting(f) {{ const r = f.querySelector("input[type=radio]:checked"); return r ? r.value : ""; }}
function field(s) {{ return /[",\\n\\r]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s; }}
figures.forEach(f => {{
  f.querySelector("img").addEventListener("click", () => {{ f.classList.toggle("picked"); counts(); }});
  f.querySelectorAll("input[type=radio]").forEach(r => r.addEventListener("change", () => {{ f.classList.add("picked"); counts(); }}));
}});
document.getElementById("download").addEventListener("click", () => {{
  const picked = figures.filter(f => f.classList.contains("picked"));
  const missing = picked.filter(f => !setting(f)).map(f => f.dataset.name);
  if (missing.length) {{ alert("Choose indoor or outdoor for: " + missing.join(", ")); return; }}
  const lines = ["{header}"].concat(picked.map(f =>
    [f.dataset.name, f.dataset.label, setting(f), f.querySelector("input.note").value.trim()].map(field).join(",")));
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([lines.join("\\n") + "\\n"], {{type: "text/csv"}}));
  link.download = "picks_{label}.csv";
  document.body.appendChild(link); link.click(); link.remove();
}});
counts();
</script></body></html>
"""


def _web_page(label: str, candidates: Sequence[Candidate], known: dict[str, CuratedItem]) -> str:
    """One self-contained HTML file: thumbnails as base64 JPEGs, plain JS, nothing fetched from the network."""
    sections: list[str] = []
    for sheet in sorted({c.sheet for c in candidates}):
        figures = [_figure(c, known.get(c.kaggle_name)) for c in candidates if c.sheet == sheet]
        sections.append(f'<h3>Sheet {sheet} (sheet_{label}_{sheet:02d}.png)</h3>\n<div class="grid">\n' + "\n".join(figures) + "\n</div>")
    return _PAGE.format(label=label, thumb=WEB_THUMB, sections="\n".join(sections), header=",".join(COLUMNS))


def _figure(cand: Candidate, item: CuratedItem | None) -> str:
    buffer = io.BytesIO()
    thumbnail(cand.data, WEB_THUMB).save(buffer, format="JPEG", quality=80)
    src = "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
    name = html.escape(cand.kaggle_name)
    radios = "".join(
        f'<label><input type="radio" name="s-{name}" value="{s}"{" checked" if item and item.setting == s else ""}>{s}</label> '
        for s in SETTINGS)
    note = html.escape(item.note if item else "")
    picked = ' class="picked"' if item else ""
    return (f'<figure data-name="{name}" data-label="{html.escape(cand.kaggle_name.split(".")[0])}"'
            f'{picked}><img src="{src}" alt="{name}" title="click to pick or unpick">'
            f'<figcaption>{cand.number} &middot; {name}</figcaption>{radios}'
            f'<input class="note" placeholder="note" value="{note}"></figure>')


# ---------------------------------------------------------------- applying choices


def read_choices(path: str | Path) -> tuple[list[CuratedItem], list[str]]:
    """Picked items and names explicitly dropped (pick n/no/0/-) from a filled-in choices file or a web-page CSV."""
    path = Path(path)
    if not path.is_file():
        raise PipelineError(f"--choices: {str(path)!r} does not exist; make one with `python -m semisup.labels.review sheets`")
    rows = list(csv.reader(path.read_text(encoding="utf-8-sig").splitlines()))
    header = tuple(c.strip().lower() for c in rows[0]) if rows else ()
    if header == COLUMNS:  # downloaded from the web page: every row is a pick
        return read_curated(path), []
    if header != CHOICE_COLUMNS:
        raise PipelineError(f"{path}:1: the header must be {','.join(CHOICE_COLUMNS)} (a choices file) "
                            f"or {','.join(COLUMNS)} (a CSV downloaded from index.html)")
    picked: list[CuratedItem] = []
    dropped: list[str] = []
    seen: dict[str, int] = {}
    for number, row in enumerate(rows[1:], start=2):
        if not row or all(not c.strip() for c in row) or row[0].lstrip().startswith("#"):
            continue
        where = f"{path}:{number}"
        if len(row) < 3 or len(row) > len(CHOICE_COLUMNS):
            raise PipelineError(f"{where}: expected {len(CHOICE_COLUMNS)} comma-separated fields ({','.join(CHOICE_COLUMNS)}), "
                                f"got {len(row)}; put quotes around a note that contains a comma")
        name, label, pick, setting, note = (list(c.strip() for c in row) + ["", ""])[:5]
        identity = parse_name(name)
        if identity is None or identity.label is None:
            raise PipelineError(f"{where}: {name!r} is not a Kaggle labelled name like cat.123.jpg or dog.45.jpg")
        if label and label != identity.label:
            raise PipelineError(f"{where}: label {label!r} does not match the file name {name!r}")
        if name in seen:
            raise PipelineError(f"{where}: {name!r} is listed twice (first on line {seen[name]})")
        seen[name] = number
        pick = pick.lower()
        if pick in PICK_NO:
            if pick:
                dropped.append(name)
            continue
        if pick not in PICK_YES:
            raise PipelineError(f"{where}: pick {pick!r} is not understood; write y (picked), n (drop if curated) or leave it empty")
        if setting.lower() not in SETTING_ALIASES:
            raise PipelineError(f"{where}: {name} is picked, so its setting must be indoor or outdoor (got {setting!r})")
        picked.append(CuratedItem(name, identity.label, SETTING_ALIASES[setting.lower()], note))
    return picked, dropped


def apply_choices(choices: Sequence[str | Path], curated: str | Path, size: int = 100) -> tuple[list[CuratedItem], list[str]]:
    """Merge choices into the curated list (later files win) and return the new list and balance warnings."""
    curated = Path(curated)
    items = {item.kaggle_name: item for item in read_curated(curated)} if curated.exists() else {}
    for path in choices:
        picked, dropped = read_choices(path)
        for name in dropped:
            items.pop(name, None)
        items.update((item.kaggle_name, item) for item in picked)
    merged = list(items.values())
    write_curated(curated, merged)
    return merged, balance_warnings(merged, size)


def summarize(items: Sequence[CuratedItem]) -> dict[str, dict[str, int]]:
    return {label: {s: sum(1 for i in items if i.label == label and i.setting == s) for s in SETTINGS} for label in LABELS}


def balance_warnings(items: Sequence[CuratedItem], size: int) -> list[str]:
    """The published protocol wants size/2 per class and, within a class, as many indoor as outdoor photos."""
    warnings = []
    for label, by_setting in summarize(items).items():
        total = sum(by_setting.values())
        if total != size // 2:
            warnings.append(f"{label}: {total} curated, labeled.size {size} needs {size // 2}")
        if abs(by_setting["indoor"] - by_setting["outdoor"]) > total % 2:
            warnings.append(f"{label}: indoor {by_setting['indoor']} vs outdoor {by_setting['outdoor']} is unbalanced")
    return warnings


# ---------------------------------------------------------------- a sheet of the curated list


def sheet_of(curated: str | Path, source: str | Path, label: str, out: Path, thumb: int = 128,
             columns: int | None = None, max_kb: int = 0) -> int:
    """One sheet of every curated photo of a class, in id order, so the list can be checked (or shown) at a glance."""
    _check_label(label, "--label")
    items = sorted((i for i in read_curated(curated) if i.label == label), key=lambda i: i.kaggle_id)
    wanted = {i.kaggle_id for i in items}
    if not wanted:
        raise PipelineError(f"{curated}: no {label} rows to show")
    photos = dict(load_photos(source, label, wanted.__contains__))
    missing = [i.kaggle_name for i in items if i.kaggle_id not in photos]
    if missing:
        raise PipelineError(f"--source {str(source)!r} lacks {len(missing)} curated {label} photos "
                            f"(e.g. {', '.join(missing[:3])}); point --source at the download the list was made from")
    candidates = [Candidate(i.kaggle_id, i.kaggle_name, photos[i.kaggle_id], 1, n) for n, i in enumerate(items, start=1)]
    save_png(render_sheet(candidates, thumb, columns), out, max_kb)
    return len(candidates)


# ---------------------------------------------------------------- command line


def _check_label(label: str, flag: str) -> None:
    if label not in LABELS:
        raise PipelineError(f"{flag} {label!r}: use cat or dog")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m semisup.labels.review", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The review tool's actions (also `semisup review ...`)."""
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    s = sub.add_parser("sheets", help="contact sheets, a choices file and a click-to-pick web page for one class")
    s.add_argument("--source", required=True, help="Kaggle zip, train.zip or a folder")
    s.add_argument("--label", required=True, choices=LABELS)
    s.add_argument("--out", required=True, type=Path, help="folder for the sheets (keep it outside the repository)")
    s.add_argument("--first", type=int, default=0, help="smallest Kaggle id to show")
    s.add_argument("--count", type=int, default=200, help="how many candidates")
    s.add_argument("--per-sheet", type=int, default=48)
    s.add_argument("--thumb", type=int, default=128, help="thumbnail side in pixels")
    s.add_argument("--curated", help="show the images already in this curated list as picked")
    a = sub.add_parser("apply", help="merge filled-in choices files or downloaded CSVs into the curated list")
    a.add_argument("--choices", required=True, nargs="+", help="choices_<label>.csv files and/or picks_<label>.csv downloads")
    a.add_argument("--curated", required=True, help="the curated list to update, e.g. data/curation/curated.csv")
    a.add_argument("--size", type=int, default=100, help="labeled.size the list is meant for (half per class)")
    o = sub.add_parser("sheet-of", help="one PNG sheet of the curated photos of a class")
    o.add_argument("--curated", required=True)
    o.add_argument("--source", required=True)
    o.add_argument("--label", required=True, choices=LABELS)
    o.add_argument("--out", required=True, type=Path, help="the PNG file to write")
    o.add_argument("--thumb", type=int, default=128)
    o.add_argument("--columns", type=int, default=None)
    o.add_argument("--max-kb", type=int, default=0, help="shrink the PNG until it is at most this size (0: no limit)")


def run(args: argparse.Namespace) -> None:
    if args.action == "sheets":
        pages = make_sheets(args.source, args.label, args.out, args.first, args.count, args.per_sheet, args.thumb, args.curated)
        print(f"wrote {plural(len(pages), 'sheet')}, choices_{args.label}.csv and index.html to {args.out}")
    elif args.action == "apply":
        items, warnings = apply_choices(args.choices, args.curated, args.size)
        print(f"{args.curated}: {plural(len(items), 'image')}")
        for label, by_setting in summarize(items).items():
            print(f"  {label}: {sum(by_setting.values())} (indoor {by_setting['indoor']}, outdoor {by_setting['outdoor']})")
        for warning in warnings:
            print(f"warning: {warning}", file=sys.stderr)
    else:
        n = sheet_of(args.curated, args.source, args.label, args.out, args.thumb, args.columns, args.max_kb)
        print(f"wrote {args.out} ({plural(n, args.label)})")


def main(argv: Sequence[str] | None = None) -> None:
    run_stage(lambda: run(build_parser().parse_args(argv)))


if __name__ == "__main__":
    main()
