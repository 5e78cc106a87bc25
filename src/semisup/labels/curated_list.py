"""The committed, human-readable list of hand-curated labelled images (`data/curation/curated.csv`).

One row per image: `kaggle_name,label,setting,note`, e.g. `cat.123.jpg,cat,indoor,one cat on a sofa`. The Kaggle name
is the key: the same list applies to the mini set, the 128-px set and the full download (same numbers).
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from ..errors import PipelineError
from ..files import write_text
from ..data.sources import parse_name

COLUMNS = ("kaggle_name", "label", "setting", "note")
SETTINGS = ("indoor", "outdoor")


@dataclass(frozen=True)
class CuratedItem:
    kaggle_name: str  # cat.123.jpg
    label: str  # cat | dog
    setting: str  # indoor | outdoor
    note: str = ""

    @property
    def kaggle_id(self) -> int:
        identity = parse_name(self.kaggle_name)
        assert identity is not None
        return identity.kaggle_id

    @property
    def key(self) -> tuple[str, int]:
        return (self.label, self.kaggle_id)


def read_curated(path: str | Path) -> list[CuratedItem]:
    """Parse and validate the list; any bad line stops with its line number and what to fix."""
    path = Path(path)
    if not path.is_file():
        raise PipelineError(f"labeled.curated_file: {str(path)!r} does not exist; create it with `semisup review`")
    reader = csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline=""))
    rows, end = [], 0
    for row in reader:  # number rows by the line they start on, even when a quoted note spans lines
        rows.append((end + 1, row))
        end = reader.line_num
    if not rows or tuple(c.strip() for c in rows[0][1]) != COLUMNS:
        raise PipelineError(f"{path}:1: the header must be {','.join(COLUMNS)}")
    items: list[CuratedItem] = []
    seen: dict[tuple[str, int], int] = {}
    for number, row in rows[1:]:
        if not row or all(not c.strip() for c in row) or row[0].lstrip().startswith("#"):
            continue
        where = f"{path}:{number}"
        if len(row) < 3 or len(row) > 4:
            raise PipelineError(f"{where}: expected {len(COLUMNS)} comma-separated fields ({','.join(COLUMNS)}), got {len(row)}")
        name, label, setting = (c.strip() for c in row[:3])
        note = row[3].strip() if len(row) == 4 else ""
        identity = parse_name(name)
        if identity is None or identity.label is None:
            raise PipelineError(f"{where}: {name!r} is not a Kaggle labelled name like cat.123.jpg or dog.45.jpg")
        if label != identity.label:
            raise PipelineError(f"{where}: label {label!r} does not match the file name {name!r}")
        if setting not in SETTINGS:
            raise PipelineError(f"{where}: setting {setting!r} must be one of {', '.join(SETTINGS)}")
        item = CuratedItem(name, label, setting, note)
        if item.key in seen:
            raise PipelineError(f"{where}: {name!r} is listed twice (first on line {seen[item.key]})")
        seen[item.key] = number
        items.append(item)
    return items


def format_curated(items: list[CuratedItem]) -> str:
    """Stable text: sorted by label then id, so edits show as small diffs in review."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for item in sorted(items, key=lambda i: (i.label, i.kaggle_id)):
        writer.writerow((item.kaggle_name, item.label, item.setting, item.note))
    return out.getvalue()


def write_curated(path: str | Path, items: list[CuratedItem]) -> None:
    write_text(path, format_curated(items))
