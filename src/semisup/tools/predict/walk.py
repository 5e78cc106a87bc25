"""The photos under PHOTOS, in a fixed order, read lazily and checked before DALI sees them."""
from __future__ import annotations

import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Callable, Iterable, Iterator

from tqdm import tqdm

from ...data.images import as_rgb_jpeg, inspect_image
from ...data.folders import IMAGE_SUFFIXES
from ...data.sources import Entry, Refused, file_entries, iter_entries
from ...errors import PipelineError

SAMPLE_NAMES = ("samplesubmission.csv", "sample_submission.csv")  # Kaggle's original and Redux editions
PHOTO_SUFFIXES = ", ".join(IMAGE_SUFFIXES[:-1]) + " and " + IMAGE_SUFFIXES[-1]


@dataclass(frozen=True)
class Skipped:
    """A file among PHOTOS that was not predicted, and why."""

    file: str
    reason: str


class PhotoWalk:
    """The photos under PHOTOS (folders, zips, nested zips, single files), in a fixed order, read lazily.

    Iterating yields `sources.Entry` for every file named like a photo (*.jpg, *.jpeg, *.png; a single file given by
    itself always counts). Other files are not photos: a `sampleSubmission.csv` met on the way is kept in `samples`
    (for `--kaggle`); hidden files, macOS `__MACOSX/` copies and any other file are listed in `ignored` with the
    reason; a damaged inner zip or a member over a size limit is reported to `on_skip`.
    """

    def __init__(self, sources: Iterable[str | Path]):
        self.sources = [str(s) for s in sources]
        if not self.sources:
            raise PipelineError("PHOTOS: give at least one folder, zip or photo")
        for source in self.sources:
            if not Path(source).exists():
                raise PipelineError(f"PHOTOS: {source!r} does not exist; give folders, zips or photos")
            if Path(source).is_file() and source.lower().endswith(".zip") and not zipfile.is_zipfile(source):
                raise PipelineError(f"PHOTOS: {source!r} is not a readable zip archive")
        self.samples: list[tuple[str, bytes]] = []
        self.ignored: list[Skipped] = []
        self.on_skip: Callable[[Skipped], None] | None = None

    def _entries(self) -> Iterator[tuple[Entry, bool]]:
        for source in self.sources:
            path = Path(source)
            if path.is_dir():
                prefix = source.rstrip("/\\") or "/"
                for entry in iter_entries(path):
                    yield Entry(f"{prefix}/{entry.name}", entry.read, entry.refused), False
            else:
                explicit = path.suffix.lower() != ".zip"
                for entry in file_entries(path, source):
                    yield entry, explicit

    def _skip(self, item: Skipped) -> None:
        if self.on_skip is not None:
            self.on_skip(item)

    def __iter__(self) -> Iterator[Entry]:
        self.samples, self.ignored = [], []
        for entry, explicit in self._entries():
            base = entry.name.rsplit("/", 1)[-1]
            lower = base.lower()
            if explicit:
                yield entry
            elif lower in SAMPLE_NAMES:
                if entry.refused:
                    self._skip(Skipped(entry.name, entry.refused))
                else:
                    self.samples.append((entry.name, entry.read()))
            elif base.startswith(".") or "__MACOSX/" in entry.name:
                self.ignored.append(Skipped(entry.name, "ignored: a hidden file or a macOS copy, not a photo"))
            elif lower.endswith(IMAGE_SUFFIXES):
                yield entry
            elif lower.endswith(".zip"):  # only a zip that could not be opened reaches here as a file
                self._skip(Skipped(entry.name, entry.refused or "not a readable zip archive"))
            else:
                self.ignored.append(Skipped(entry.name, f"ignored: not a photo (only {PHOTO_SUFFIXES} are read)"))

    def count(self) -> int | None:
        """How many photos iterating will yield, when that is cheap to know (for the progress bar), else None."""
        total = 0
        for source in self.sources:
            path = Path(source)
            if path.is_dir():
                files = [p for p in path.rglob("*") if p.is_file() or p.is_symlink()]
                if any(p.suffix.lower() == ".zip" for p in files):
                    return None
                total += sum(_looks_like_photo(p.relative_to(path).as_posix()) for p in files)
            elif path.suffix.lower() != ".zip":
                total += 1
            else:
                with zipfile.ZipFile(path) as archive:
                    n = _count_zip(archive)
                if n is None:
                    return None
                total += n
        return total


def _looks_like_photo(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return base.lower().endswith(IMAGE_SUFFIXES) and not base.startswith(".") and "__MACOSX/" not in name


def _count_zip(archive: zipfile.ZipFile) -> int | None:
    total = 0
    for info in archive.infolist():
        if info.is_dir():
            continue
        if info.filename.lower().endswith(".zip"):
            if info.compress_type != zipfile.ZIP_STORED:
                return None  # counting would mean decompressing it twice
            try:
                with archive.open(info) as stream, zipfile.ZipFile(stream) as inner:
                    n = _count_zip(inner)
            except zipfile.BadZipFile:
                continue
            if n is None:
                return None
            total += n
        elif _looks_like_photo(info.filename):
            total += 1
    return total


# ------------------------------------------------------------------------------------------- reading and checking


@dataclass(frozen=True)
class Photo:
    """A readable photo: its name, the bytes DALI decodes and its size before resizing."""

    name: str
    data: bytes
    size: tuple[int, int] = (0, 0)


def _read(entry: Entry) -> tuple[bytes | None, str | None]:
    if entry.refused:
        return None, entry.refused
    try:
        return entry.read(), None
    except Refused as exc:
        return None, exc.strerror
    except Exception as exc:  # noqa: BLE001 - a damaged zip member, an unreadable file: report and go on
        return None, f"cannot be read ({type(exc).__name__}: {exc})"[:300]


def _check(data: bytes) -> tuple[tuple[bytes, tuple[int, int]] | None, str | None]:
    """The bytes DALI should decode (odd encodings re-encoded as RGB JPEG, as `prepare` does) and the photo's size,
    or why not."""
    check = inspect_image(data)
    if check.reason:
        return None, check.reason
    return ((as_rgb_jpeg(data) if check.converted else data), (check.width, check.height)), None


def batches(photos: Iterable[Entry], batch_size: int, pool: ThreadPoolExecutor,
            on_skip: Callable[[Skipped], None], bar: tqdm) -> Iterator[list[Photo]]:
    """Batches of at most `batch_size` checked photos; unreadable ones go to `on_skip`. Each entry is read before the
    walk moves on (an archive closes once the walk has left it); only one batch of bytes is held here."""
    entries = iter(photos)
    while True:
        chunk = []
        for entry in islice(entries, batch_size):
            data, reason = _read(entry)
            chunk.append((entry.name, data, reason))
        if not chunk:
            return
        checks = pool.map(_check, [data for _, data, reason in chunk if reason is None])
        batch = []
        for name, _, reason in chunk:
            checked = None
            if reason is None:
                checked, reason = next(checks)
            if reason is not None:
                on_skip(Skipped(name, reason))
                bar.update(1)
            else:
                batch.append(Photo(name, *checked))
        if batch:
            yield batch
