"""The contact sheet of the least confident photos, and the accuracy where the file names give the class."""
from __future__ import annotations

import heapq
from pathlib import Path
from typing import Sequence

from ...data.sources import parse_name
from ...files import plural, printable
from ...labels.contact_sheet import Tile, marks, render, save_png
from .runner import Prediction


class LeastConfident:
    """The `count` least confident predictions seen so far (ties: the earlier photo first); memory bounded by count."""

    def __init__(self, count: int):
        self.count = count
        self._heap: list[tuple[float, int, Prediction]] = []  # (-confidence, -index, prediction): a max-heap on key
        self._seen = 0

    def add(self, prediction: Prediction) -> None:
        item = (-prediction.confidence, -self._seen, prediction)
        self._seen += 1
        if len(self._heap) < self.count:
            heapq.heappush(self._heap, item)
        elif item[:2] > self._heap[0][:2]:
            heapq.heapreplace(self._heap, item)

    def ordered(self) -> list[Prediction]:
        return [p for _, _, p in sorted(self._heap, key=lambda t: (-t[0], -t[1]))]


def true_label(file: str) -> str | None:
    """The class a photo's name gives (`cat.12.jpg`, `dog_7.jpg`, Kaggle's and the labelled folders' names), or None."""
    identity = parse_name(file)
    return None if identity is None else identity.label


class Accuracy:
    """Right answers among the photos whose names give their class (Kaggle's train/ names, the labelled folders)."""

    def __init__(self, classes: Sequence[str]):
        self.classes = set(classes)
        self.right = self.known = 0

    def add(self, prediction: Prediction) -> None:
        truth = true_label(prediction.file)
        if truth in self.classes:
            self.known += 1
            self.right += truth == prediction.predicted

    def line(self) -> str | None:
        if not self.known:
            return None
        return (f"accuracy where the file name gives the class: {self.right:,} of {plural(self.known, 'photo')} right "
                f"({self.right / self.known:.1%})")


def sheet_image(predictions: Sequence[Prediction], thumb: int = 128):
    """A grid of the photos captioned `<rank> <mark> <class> <confidence>` over the file name. Where the name gives
    the true class, the frame is green for a right answer and red for a wrong one, and the caption has ✓ or ✗."""
    right_mark, wrong_mark = marks()
    tiles = []
    for rank, p in enumerate(predictions, start=1):
        truth = true_label(p.file)
        frame, mark = None, ""
        if truth is not None:
            frame, mark = ("green", right_mark + " ") if truth == p.predicted else ("red", wrong_mark + " ")
        base = printable(p.file.rsplit("/", 1)[-1])
        tiles.append(Tile(p.data, (f"{rank}  {mark}{p.predicted} {p.confidence:.1%}", base), frame))
    return render(tiles, thumb)


def write_sheet(path: Path, predictions: Sequence[Prediction], thumb: int = 128) -> None:
    """The sheet as a PNG, replacing `path` in one step."""
    save_png(sheet_image(predictions, thumb), path)
