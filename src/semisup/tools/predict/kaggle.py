"""Kaggle's submission (`id,label`) from the predictions of the `test1/N.jpg` photos, in the sample file's order."""
from __future__ import annotations

import csv
import io
import re
from typing import Mapping, Sequence

from ...errors import PipelineError
from ...files import plural
from .runner import DECIMALS, Prediction
from .walk import Skipped

KAGGLE_FORMATS = ("label", "probability")
_TEST_ID = re.compile(r"^(\d+)\.(jpe?g|png)$", re.IGNORECASE)


def kaggle_id(name: str) -> int | None:
    """The id of a Kaggle test photo (`.../test1/123.jpg` -> 123): a file named by a number alone."""
    match = _TEST_ID.match(name.rsplit("/", 1)[-1])
    return int(match.group(1)) if match else None


def read_sample_submission(name: str, data: bytes) -> list[int]:
    """The ids of Kaggle's sampleSubmission.csv (`id,label`), in its order."""
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig", errors="replace"))))
    if not rows or [c.strip().lower() for c in rows[0][:2]] != ["id", "label"]:
        raise PipelineError(f"{name}: not a Kaggle sample submission (the header must be id,label)")
    ids, seen = [], set()
    for number, row in enumerate(rows[1:], start=2):
        if not row or not row[0].strip():
            continue
        try:
            value = int(row[0])
        except ValueError:
            raise PipelineError(f"{name}:{number}: id {row[0]!r} is not a number") from None
        if value in seen:
            raise PipelineError(f"{name}:{number}: id {value} is listed twice")
        seen.add(value)
        ids.append(value)
    if not ids:
        raise PipelineError(f"{name}: the sample submission lists no ids")
    return ids


def kaggle_rows(p_dog: Mapping[int, float], order: Sequence[int], fmt: str = "label",
                skipped: Mapping[int, str] | None = None, sample_name: str = "sampleSubmission.csv") -> list[tuple[int, str]]:
    """(id, label) in `order`: label 1 = dog, 0 = cat (`label`), or the probability of dog (`probability`, Redux).
    An id of `order` without a prediction is an error naming how many and which (and why, if it was skipped)."""
    if fmt not in KAGGLE_FORMATS:
        raise PipelineError(f"--kaggle-format {fmt!r}: use label or probability")
    missing = [i for i in order if i not in p_dog]
    if missing:
        skipped = skipped or {}
        shown = ", ".join(f"{i} ({skipped[i]})" if i in skipped else str(i) for i in missing[:10])
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        why = (f"; {sum(i in skipped for i in missing)} of them were skipped as unreadable"
               if any(i in skipped for i in missing) else "; are the test1 photos among PHOTOS?")
        raise PipelineError(f"{len(missing)} of the {len(order)} ids of {sample_name} have no prediction: "
                            f"{shown}{more}{why}")
    if fmt == "label":
        return [(i, "1" if p_dog[i] > 0.5 else "0") for i in order]
    return [(i, f"{p_dog[i]:.{DECIMALS}f}") for i in order]


class TestPhotos:
    """P(dog) of each Kaggle test photo seen, the ids that were skipped, and ids met twice on different photos."""

    def __init__(self) -> None:
        self.p_dog: dict[int, tuple[float, str]] = {}
        self.skipped: dict[int, str] = {}
        self.conflicts: list[str] = []

    def add(self, prediction: Prediction) -> None:
        if (i := kaggle_id(prediction.file)) is None:
            return
        p_dog = prediction.probability("dog")
        if i in self.p_dog and abs(self.p_dog[i][0] - p_dog) > 1e-6:
            self.conflicts.append(f"{self.p_dog[i][1]} and {prediction.file}")
        self.p_dog.setdefault(i, (p_dog, prediction.file))

    def skip(self, item: Skipped) -> None:
        if (i := kaggle_id(item.file)) is not None:
            self.skipped[i] = item.reason

    def submission(self, target: str, sample: tuple[str, bytes] | None,
                   fmt: str) -> tuple[list[tuple[int, str]], list[str], str]:
        """The rows in the sample's order (ascending ids without one), warnings for the user and what set the order;
        an error names what is missing."""
        if self.conflicts:
            raise PipelineError(f"{target}: {plural(len(self.conflicts), 'Kaggle id')} belong to two different "
                                f"photos (e.g. {self.conflicts[0]}); give each test photo once")
        p_dog = {i: p for i, (p, _) in self.p_dog.items()}
        notes = []
        if sample is None:
            if not p_dog:
                raise PipelineError("--kaggle: none of PHOTOS is a Kaggle test photo (test1/N.jpg); nothing to submit")
            order, sample_name = sorted(p_dog), "the predicted test photos"
            notes.append(f"no sampleSubmission.csv among PHOTOS and no --sample-submission: ids in ascending order "
                         f"({len(order)})")
        else:
            sample_name = sample[0]
            order = read_sample_submission(*sample)
        rows = kaggle_rows(p_dog, order, fmt, self.skipped, sample_name)
        if extra := len(set(p_dog) - set(order)):
            notes.append(f"{plural(extra, 'predicted test photo')} not in {sample_name} "
                         f"{'is' if extra == 1 else 'are'} left out of the submission")
        return rows, notes, sample_name
