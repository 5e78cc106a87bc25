"""Kaggle download -> manifest + val/test/pool/test1 folders: every input file accounted for, deterministically.

Pass 1 decodes every image once (in worker processes) to check it and hash its pixels; duplicates and splits are
decided on the small records alone; pass 2 copies bytes (re-encoding only the few odd files) into the split folders.
Memory holds one record per file and one batch of bytes, never the images.
"""
from __future__ import annotations

import csv
import os
import random
import shutil
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, fields, replace
from itertools import islice
from pathlib import Path
from typing import Iterable, Iterator

from tqdm import tqdm

from ..errors import PipelineError
from ..files import atomic_path
from .images import as_rgb_jpeg, inspect_image
from .sources import Entry, Refused, iter_entries, parse_name

SPLITS = ("val", "test", "pool", "test1")  # pool: labelled candidates for curation; test1: Kaggle's unlabelled photos
BATCH = 256


@dataclass(frozen=True)
class Record:
    """One row of data/manifest.csv: one input file and what became of it."""

    source_name: str
    sha256: str = ""
    pixel_sha256: str = ""
    label: str = ""  # cat | dog | "" (unlabelled or unknown)
    kaggle_id: str = ""
    width: int = 0
    height: int = 0
    split: str = ""  # val | test | pool | test1 | excluded
    output: str = ""  # file written, relative to the data folder
    reason: str = ""  # why excluded, or why re-encoded

    @property
    def key(self) -> tuple[str, int]:
        return (self.label, int(self.kaggle_id))


def scan(entries: Iterable[Entry], workers: int | None = None) -> list[Record]:
    """Decode every file once; unusable ones get their exclusion reason here."""
    workers = workers or min(8, os.cpu_count() or 1)
    records: list[Record] = []
    entries = iter(entries)
    with ProcessPoolExecutor(max_workers=workers) as pool, tqdm(desc="decode", unit="img") as bar:
        # Read each entry before advancing: an archive closes once the walk has left it.
        while batch := [(entry.name, *_read(entry)) for entry in islice(entries, BATCH)]:
            names, payloads, errors = zip(*batch)
            for name, check, error in zip(names, pool.map(inspect_image, payloads, chunksize=16), errors):
                record = _record(name, check)
                records.append(replace(record, split="excluded", reason=error) if error else record)
            bar.update(len(batch))
    return records


def _read(entry: Entry) -> tuple[bytes, str]:
    """The entry's bytes, or none and why (a broken symlink, a file without read permission, over a size limit)."""
    if entry.refused:
        return b"", entry.refused
    try:
        return entry.read(), ""
    except Refused as exc:
        return b"", exc.strerror
    except OSError as exc:
        return b"", f"cannot be read ({exc.strerror or type(exc).__name__})"


def _record(name: str, check) -> Record:
    identity = parse_name(name)
    rec = Record(name, check.sha256, check.pixel_sha256, width=check.width, height=check.height, reason=check.converted)
    if identity is None:
        return replace(rec, split="excluded", reason="not a Kaggle photo name (train/cat.N.jpg, train/dog.N.jpg, test1/N.jpg)")
    rec = replace(rec, label=identity.label or "", kaggle_id=str(identity.kaggle_id))
    if check.reason:
        return replace(rec, split="excluded", reason=check.reason)
    return rec


def assign_splits(
    records: list[Record], val_size: int, test_size: int, split_seed: int, reserved: set[tuple[str, int]]
) -> list[Record]:
    """Exclude duplicates and name clashes, then draw balanced val/test; `reserved` (curated) images stay in the pool."""
    records = _exclude_duplicates(records, reserved)
    by_class: dict[str, list[int]] = defaultdict(list)
    out = list(records)
    for index, rec in enumerate(out):
        if rec.split:
            continue
        if not rec.label:
            out[index] = replace(rec, split="test1", output=f"test1/{rec.pixel_sha256[:16]}.jpg")
        elif rec.key in reserved:
            out[index] = _labelled(rec, "pool")
        else:
            by_class[rec.label].append(index)
    per_val, per_test = val_size // 2, test_size // 2
    rng = random.Random(split_seed)
    for label in ("cat", "dog"):
        candidates = sorted(by_class[label], key=lambda i: out[i].key)
        if len(candidates) < per_val + per_test:
            raise PipelineError(
                f"data.val_size + data.test_size: {val_size} + {test_size} need {per_val + per_test} usable {label} photos "
                f"outside the curated list, but the source has {len(candidates)}; lower the sizes"
            )
        rng.shuffle(candidates)
        for rank, index in enumerate(candidates):
            split = "val" if rank < per_val else "test" if rank < per_val + per_test else "pool"
            out[index] = _labelled(out[index], split)
    return out


def _labelled(rec: Record, split: str) -> Record:
    return replace(rec, split=split, output=f"{split}/{rec.label}_{rec.kaggle_id}.jpg")


def _exclude_duplicates(records: list[Record], reserved: set[tuple[str, int]]) -> list[Record]:
    """Keep one image per pixel hash (labelled before unlabelled, curated first), so duplicates never straddle splits."""
    groups: dict[str, list[int]] = defaultdict(list)
    for index, rec in enumerate(records):
        if not rec.split:
            groups[rec.pixel_sha256].append(index)
    out = list(records)
    for members in groups.values():
        members.sort(key=lambda i: (out[i].label == "", not (out[i].label and out[i].key in reserved), out[i].source_name))
        keeper = out[members[0]]
        labels = {out[i].label for i in members if out[i].label}
        if len(labels) > 1:
            for i in members:
                out[i] = replace(out[i], split="excluded", reason=f"same pixels under both labels ({', '.join(sorted(labels))})")
            continue
        for i in members[1:]:
            out[i] = replace(out[i], split="excluded", reason=f"duplicate of {keeper.source_name}")
    seen: dict[tuple[str, int], str] = {}
    for index, rec in enumerate(out):
        if rec.split or not rec.label:
            continue
        if rec.key in seen:
            out[index] = replace(rec, split="excluded", reason=f"same Kaggle name as {seen[rec.key]} but different pixels")
        else:
            seen[rec.key] = rec.source_name
    return out


def write_splits(entries: Iterator[Entry], records: list[Record], data_dir: Path) -> None:
    """Pass 2: copy each kept file's bytes into its split folder (re-encode only where `reason` says so)."""
    for split in SPLITS:
        target = data_dir / split
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
    wanted = {rec.source_name: rec for rec in records if rec.output}
    for entry in tqdm(entries, total=len(records), desc="write", unit="file"):
        rec = wanted.get(entry.name)
        if rec is None:
            continue
        data = entry.read()
        (data_dir / rec.output).write_bytes(as_rgb_jpeg(data) if rec.reason else data)


def write_manifest(records: list[Record], path: Path) -> None:
    with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=[f.name for f in fields(Record)], lineterminator="\n")
        writer.writeheader()
        for rec in records:
            writer.writerow(asdict(rec))


def read_manifest(path: Path) -> list[Record]:
    with path.open(newline="", encoding="utf-8") as handle:
        return [Record(**{**row, "width": int(row["width"]), "height": int(row["height"])}) for row in csv.DictReader(handle)]


def summarize(records: list[Record]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for rec in records:
        counts[rec.split] += 1
    return dict(sorted(counts.items()))


def prepare(source: str | Path, data_dir: Path, val_size: int, test_size: int, split_seed: int,
            reserved: set[tuple[str, int]]) -> list[Record]:
    """The whole `prepare` step for a source path (the stand-in data is written to a zip first by the stage)."""
    records = scan(iter_entries(source))
    if not records:
        raise PipelineError(f"data.source: {str(source)!r} holds no files")
    data_dir.mkdir(parents=True, exist_ok=True)
    manifest = data_dir / "manifest.csv"
    excluded = sum(r.split == "excluded" for r in records)
    try:
        if not any(r.label and not r.split for r in records):
            raise PipelineError(
                f"data.source: {str(source)!r}: no photo named like Kaggle's `train/cat.N.jpg` or `train/dog.N.jpg` "
                f"among its {len(records)} files ({excluded} excluded, {len(records) - excluded} unlabelled); point "
                "it at Kaggle's download or a folder laid out like it")
        records = assign_splits(records, val_size, test_size, split_seed, reserved)
    except PipelineError as exc:  # say why, file by file: the manifest is written even when nothing else is
        write_manifest(records, manifest)
        raise PipelineError(f"{exc}. Every input file and why it was left out: {manifest}") from None
    write_splits(iter_entries(source), records, data_dir)
    write_manifest(records, manifest)
    return records
