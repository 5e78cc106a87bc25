"""Which images a split folder holds, in sorted order, and (labelled folders) the label each file's name carries.

Every loader lists its folder here, so all of them see the same files in the same order and fail with the same
message when a stage has not written the folder yet."""
from __future__ import annotations

import re
from pathlib import Path

from ..errors import PipelineError

CLASSES = ("cat", "dog")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")

_LABELLED_NAME = re.compile(r"^(cat|dog)_[^/]+\.(jpe?g|png)$", re.IGNORECASE)


def _list_folder(folder: str | Path, what: str) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise PipelineError(f"{folder}: no such folder of {what}; run the stage that writes it (`dvc repro`)")
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    if not files:
        raise PipelineError(f"{folder}: the folder of {what} is empty; run the stage that writes it (`dvc repro`)")
    return files


def labeled_files(folder: str | Path) -> tuple[list[Path], list[int]]:
    """Sorted image files of a labelled folder and their labels (0 = cat, 1 = dog) read from the name prefix."""
    files = _list_folder(folder, "labelled images")
    labels = []
    for path in files:
        match = _LABELLED_NAME.match(path.name)
        if match is None:
            raise PipelineError(
                f"{path}: a labelled folder holds only cat_<id>.jpg and dog_<id>.jpg (label from the name); "
                "remove or rename this file, or re-run the stage that wrote the folder"
            )
        labels.append(CLASSES.index(match.group(1).lower()))
    return files, labels


def unlabeled_files(folder: str | Path) -> list[Path]:
    """Sorted image files (*.jpg, *.jpeg, *.png) of an unlabelled folder; names carry no label and none is read."""
    folder = Path(folder)
    files = [p for p in _list_folder(folder, "unlabelled images") if p.suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        raise PipelineError(f"{folder}: no *.jpg, *.jpeg or *.png images in the unlabelled folder; run `dvc repro`")
    return files
