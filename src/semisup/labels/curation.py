"""Choose the labelled set from the pool: `curated` (a committed hand-made list), `random`, or `representative`.

The rest of the pool loses its labels and joins Kaggle's unlabelled `test1` photos as the unlabelled set.
"""
from __future__ import annotations

import csv
import hashlib
import os
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

from .curated_list import read_curated
from ..errors import PipelineError
from ..files import atomic_path

CLASSES = ("cat", "dog")


@dataclass(frozen=True)
class Candidate:
    """A labelled photo in the pool, `cat_123.jpg` -> ("cat", 123)."""

    path: Path
    label: str
    kaggle_id: int

    @property
    def key(self) -> tuple[str, int]:
        return (self.label, self.kaggle_id)

    @property
    def kaggle_name(self) -> str:
        return f"{self.label}.{self.kaggle_id}.jpg"


@dataclass(frozen=True)
class Choice:
    candidate: Candidate
    why: str  # recorded in data/labeled.csv


def read_pool(folder: Path) -> dict[str, list[Candidate]]:
    if not folder.is_dir():
        raise PipelineError(f"{folder}: the labelled pool is missing; run `dvc repro prepare` first")
    pool: dict[str, list[Candidate]] = {label: [] for label in CLASSES}
    for path in sorted(folder.iterdir()):
        label, _, rest = path.stem.partition("_")
        if label not in CLASSES or not rest.isdigit():
            raise PipelineError(f"{path}: pool files must be named cat_<id>.jpg or dog_<id>.jpg; rerun `dvc repro prepare`")
        pool[label].append(Candidate(path, label, int(rest)))
    for label in CLASSES:
        pool[label].sort(key=lambda c: c.kaggle_id)
    return pool


def _check_size(pool: dict[str, list[Candidate]], size: int) -> int:
    if size <= 0 or size % 2:
        raise PipelineError(f"labeled.size: {size} is not allowed; use a positive even number (classes are balanced)")
    per_class = size // 2
    for label in CLASSES:
        if len(pool[label]) < per_class:
            raise PipelineError(
                f"labeled.size: {size} needs {per_class} {label} photos but the pool has {len(pool[label])}; "
                "lower labeled.size or data.val_size/data.test_size"
            )
    return per_class


def choose_random(pool: dict[str, list[Candidate]], size: int, seed: int) -> list[Choice]:
    per_class = _check_size(pool, size)
    rng = random.Random(seed)
    return [Choice(c, f"random (seed {seed})") for label in CLASSES for c in rng.sample(pool[label], per_class)]


def choose_curated(pool: dict[str, list[Candidate]], size: int, seed: int, curated_file: Path, on_missing: str) -> list[Choice]:
    """Take the listed photos; a listed photo that is not in the pool stops the stage, or is replaced at random."""
    per_class = _check_size(pool, size)
    items = read_curated(curated_file)
    index = {c.key: c for label in CLASSES for c in pool[label]}
    rng = random.Random(seed)
    choices: list[Choice] = []
    for label in CLASSES:
        listed = [i for i in items if i.label == label]
        if len(listed) > per_class:  # a longer list than needed: a seeded subset, so seeds still vary the draw
            listed = sorted(rng.sample(listed, per_class), key=lambda i: i.kaggle_id)
        missing = [i.kaggle_name for i in listed if i.key not in index]
        if missing and on_missing == "stop":
            raise PipelineError(
                f"{curated_file}: {len(missing)} curated {label} photo(s) are not in the data (absent from the source, "
                f"or excluded: see data/manifest.csv): {', '.join(missing[:10])}. Fix the list, or set "
                "labeled.on_missing=random to replace them with random photos (recorded in data/labeled.csv)"
            )
        chosen = [Choice(index[i.key], f"curated ({i.setting}) {i.note}".strip()) for i in listed if i.key in index]
        taken = {c.candidate.key for c in chosen}
        spare = [c for c in pool[label] if c.key not in taken]
        shortfall = per_class - len(chosen)
        if shortfall > 0 and on_missing == "stop":
            raise PipelineError(
                f"{curated_file}: lists {len(chosen)} {label} photos but labeled.size={size} needs {per_class}; "
                "add photos (semisup review) or set labeled.on_missing=random"
            )
        reasons = iter(missing + ["list too short"] * shortfall)
        chosen += [Choice(c, f"random replacement for {next(reasons)} (seed {seed})") for c in rng.sample(spare, shortfall)]
        choices += chosen
    return choices


def unlabeled_name(path: Path) -> str:
    """A name that carries no label: the first 16 hex digits of the file's SHA-256."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16] + ".jpg"


def _place(src: Path, dst: Path) -> None:
    """Hard-link when possible (DVC's cache links make copies unnecessary), else copy."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def write_labeled_sets(choices: list[Choice], pool: dict[str, list[Candidate]], test1: Path, data_dir: Path) -> dict[str, int]:
    labeled, unlabeled = data_dir / "labeled", data_dir / "unlabeled"
    for folder in (labeled, unlabeled):
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
    chosen = {c.candidate.key for c in choices}
    for choice in sorted(choices, key=lambda c: c.candidate.key):
        _place(choice.candidate.path, labeled / choice.candidate.path.name)
    extra = sorted(test1.glob("*.jpg")) if test1.is_dir() else []
    rest = [c.path for label in CLASSES for c in pool[label] if c.key not in chosen]
    for path in rest + extra:
        _place(path, unlabeled / (path.name if path.parent == test1 else unlabeled_name(path)))
    with atomic_path(data_dir / "labeled.csv") as tmp, tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(("file", "kaggle_name", "label", "why"))
        for choice in sorted(choices, key=lambda c: c.candidate.key):
            c = choice.candidate
            writer.writerow((f"labeled/{c.path.name}", c.kaggle_name, c.label, choice.why))
    return {"labeled": len(choices), "unlabeled": len(list(unlabeled.iterdir())), "from_pool": len(rest), "from_test1": len(extra)}
