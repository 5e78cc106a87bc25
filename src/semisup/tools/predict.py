"""Use a trained classifier: predict cat or dog for photos, write a CSV, a Kaggle submission and a contact sheet.

    python -m semisup predict models/gan.pt data/raw/dogs-vs-cats.zip --out predictions.csv \\
        --kaggle submission.csv --sheet least_confident.png

PHOTOS are folders, zips (Kaggle's nested `dogs-vs-cats.zip` too, read in place) or single photos, walked in a fixed
order (arguments in the order given; folders sorted; zips in archive order). Each photo is checked with
`images.inspect_image` first; one that cannot be read is skipped with its reason (stderr and `<out stem>.skipped.csv`)
and never stops the run. The readable ones go, in batches, through the same DALI graph as evaluation
(`loaders.image_graph`: decode, squash-resize to the model's `image_size`, scale to [0, 1]; nvJPEG on a GPU,
libjpeg-turbo on the CPU), fed by an `external_source` that reads one batch at a time, so memory does not grow with
the number of photos. The CSV has one row per readable photo: `file,predicted,p_cat,p_dog`.

Use `predict_paths` from Python; `add_arguments` / `run` are the `predict` command of `python -m semisup`.
"""
from __future__ import annotations

import argparse
import csv
import heapq
import io
import re
import sys
import time
import zipfile
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import chain, islice
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np
import torch
from tqdm import tqdm

from ..artifacts import load_model
from ..errors import PipelineError
from ..files import atomic_path, check_writable
from ..data.images import as_rgb_jpeg, inspect_image
from ..data.loaders import IMAGE_SUFFIXES, image_graph, pipeline_kwargs
from ..device import placement
from ..data.sources import Entry, file_entries, iter_entries, parse_name

SAMPLE_NAMES = ("samplesubmission.csv", "sample_submission.csv")  # Kaggle's original and Redux editions
KAGGLE_FORMATS = ("label", "probability")
SKIPPED_COLUMNS = ("file", "reason")
DECIMALS = 6
_TEST_ID = re.compile(r"^(\d+)\.(jpe?g|png)$", re.IGNORECASE)


@dataclass(frozen=True)
class Prediction:
    """One readable photo: its name, the predicted class and the class probabilities (in `classes` order)."""

    file: str
    predicted: str
    probabilities: tuple[float, ...]
    classes: tuple[str, ...] = ("cat", "dog")
    data: bytes = field(default=b"", repr=False, compare=False)  # the bytes that were decoded (for a contact sheet)
    size: tuple[int, int] = field(default=(0, 0), compare=False)  # the photo's width and height before resizing

    @property
    def confidence(self) -> float:
        return max(self.probabilities)

    def probability(self, label: str) -> float:
        return self.probabilities[self.classes.index(label)]

    def csv_row(self) -> list[str]:
        """`file, predicted, p_<class>...` with probabilities rounded so that the written values sum to exactly 1."""
        rounded = [round(p, DECIMALS) for p in self.probabilities[:-1]]
        rounded.append(round(1.0 - sum(rounded), DECIMALS))
        return [self.file, self.predicted, *(f"{p:.{DECIMALS}f}" for p in rounded)]


@dataclass(frozen=True)
class Skipped:
    """A file among PHOTOS that was not predicted, and why."""

    file: str
    reason: str


def csv_header(classes: Sequence[str]) -> list[str]:
    return ["file", "predicted", *(f"p_{c}" for c in classes)]


def kaggle_id(name: str) -> int | None:
    """The id of a Kaggle test photo (`.../test1/123.jpg` -> 123): a file named by a number alone."""
    match = _TEST_ID.match(name.rsplit("/", 1)[-1])
    return int(match.group(1)) if match else None


# ------------------------------------------------------------------------------------------------------- the photos


class PhotoWalk:
    """The photos under PHOTOS (folders, zips, nested zips, single files), in a fixed order, read lazily.

    Iterating yields `sources.Entry` for every file named like a photo (*.jpg, *.jpeg, *.png; a single file given by
    itself always counts). Other files are not photos: a `sampleSubmission.csv` met on the way is kept in `samples`
    (for `--kaggle`), hidden files and macOS `__MACOSX/` copies are counted in `ignored`, a damaged inner zip is
    reported to `on_skip`, anything else is counted in `ignored` too.
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
        self.ignored: list[str] = []
        self.on_skip: Callable[[Skipped], None] | None = None

    def _entries(self) -> Iterator[tuple[Entry, bool]]:
        for source in self.sources:
            path = Path(source)
            if path.is_dir():
                prefix = source.rstrip("/\\") or "/"
                for entry in iter_entries(path):
                    yield Entry(f"{prefix}/{entry.name}", entry.read), False
            else:
                explicit = path.suffix.lower() != ".zip"
                for entry in file_entries(path, source):
                    yield entry, explicit

    def __iter__(self) -> Iterator[Entry]:
        self.samples, self.ignored = [], []
        for entry, explicit in self._entries():
            base = entry.name.rsplit("/", 1)[-1]
            lower = base.lower()
            if explicit:
                yield entry
            elif lower in SAMPLE_NAMES:
                self.samples.append((entry.name, entry.read()))
            elif base.startswith(".") or "__MACOSX/" in entry.name:
                self.ignored.append(entry.name)
            elif lower.endswith(IMAGE_SUFFIXES):
                yield entry
            elif lower.endswith(".zip"):  # only a zip that could not be opened reaches here as a file
                if self.on_skip is not None:
                    self.on_skip(Skipped(entry.name, "not a readable zip archive"))
            else:
                self.ignored.append(entry.name)

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
class _Photo:
    name: str
    data: bytes
    size: tuple[int, int] = (0, 0)


def _read(entry: Entry) -> tuple[bytes | None, str | None]:
    try:
        return entry.read(), None
    except Exception as exc:  # noqa: BLE001 - a damaged zip member, an unreadable file: report and go on
        return None, f"cannot be read ({type(exc).__name__}: {exc})"[:300]


def _check(data: bytes) -> tuple[tuple[bytes, tuple[int, int]] | None, str | None]:
    """The bytes DALI should decode (odd encodings re-encoded as RGB JPEG, as `prepare` does) and the photo's size,
    or why not."""
    check = inspect_image(data)
    if check.reason:
        return None, check.reason
    return ((as_rgb_jpeg(data) if check.converted else data), (check.width, check.height)), None


def _batches(photos: Iterable[Entry], batch_size: int, pool: ThreadPoolExecutor,
             on_skip: Callable[[Skipped], None], bar: tqdm) -> Iterator[list[_Photo]]:
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
                batch.append(_Photo(name, *checked))
        if batch:
            yield batch


# ---------------------------------------------------------------------------------------------------- DALI + model


class _Feed:
    """DALI external source: the next batch of encoded photos; remembers what is in flight to name the outputs."""

    def __init__(self, batches: Iterator[list[_Photo]]):
        self.batches = batches
        self.in_flight: deque[list[_Photo]] = deque()

    def __call__(self):
        batch = next(self.batches)  # StopIteration ends the pipeline's epoch
        self.in_flight.append(batch)
        return [np.frombuffer(p.data, dtype=np.uint8) for p in batch]


class _Runner:
    """Encoded photos -> class probabilities: the evaluation graph (`loaders.image_graph`) fed by `_Feed`, then
    the model. A batch that DALI fails on (rare: `inspect_image` already decoded it with Pillow) is redone photo by
    photo, so only the photo DALI cannot decode is skipped."""

    def __init__(self, model: torch.nn.Module, image_size: int, device_id: int | None, batch_size: int, num_threads: int):
        self.model, self.image_size, self.device_id = model, image_size, device_id
        self.batch_size, self.num_threads = batch_size, num_threads

    def _iterator(self, feed: _Feed, batch_size: int):
        from nvidia.dali import fn, pipeline_def, types
        from nvidia.dali.plugin.pytorch import DALIGenericIterator

        on_gpu = self.device_id is not None

        @pipeline_def
        def photos():
            encoded = fn.external_source(source=feed, batch=True, dtype=types.UINT8, ndim=1)
            return image_graph(encoded, self.image_size, on_gpu)

        pipe = photos(**pipeline_kwargs(batch_size, self.num_threads, self.device_id, 0))
        pipe.build()
        return DALIGenericIterator(pipe, ["x"], auto_reset=False)  # prefetches: decode errors may show here

    @torch.inference_mode()
    def _classify(self, x: torch.Tensor) -> list[list[float]]:
        return self.model(x).double().softmax(dim=1).cpu().tolist()  # in float64: sums to 1 within 1e-15

    def run(self, batches: Iterator[list[_Photo]]) -> Iterator[tuple[_Photo, list[float] | None, str | None]]:
        """(photo, probabilities, None) for each photo in order, or (photo, None, reason) where DALI failed."""
        source = iter(batches)
        while True:
            first = next(source, None)
            if first is None:
                return
            feed = _Feed(chain([first], source))
            failure = None
            try:
                it = self._iterator(feed, self.batch_size)
            except (RuntimeError, OSError) as exc:
                failure = exc
            while failure is None:
                try:
                    out = next(it)
                except StopIteration:
                    return
                except (RuntimeError, OSError) as exc:
                    failure = exc
                    break
                batch = feed.in_flight.popleft()
                probs = self._classify(out[0]["x"])
                if len(probs) != len(batch):
                    raise RuntimeError(f"DALI returned {len(probs)} images for a batch of {len(batch)}")
                for photo, p in zip(batch, probs):
                    yield photo, p, None
            it = None  # drop the failed pipeline
            for photo in [p for batch in feed.in_flight for p in batch]:
                yield self._one(photo)
            # the rest of the source continues in a fresh pipeline

    def _one(self, photo: _Photo) -> tuple[_Photo, list[float] | None, str | None]:
        try:
            out = next(self._iterator(_Feed(iter([[photo]])), 1))
        except (RuntimeError, OSError) as exc:
            return photo, None, f"DALI cannot decode it ({_cause(exc)})"
        return photo, self._classify(out[0]["x"])[0], None


def _cause(exc: Exception) -> str:
    lines = [line.strip() for line in str(exc).splitlines()]
    after = lines[lines.index("encountered:") + 1:] if "encountered:" in lines else lines
    return next((ln for ln in after if ln and "pipeline" not in ln.lower()), type(exc).__name__)[:200]


def _check_meta(meta: Mapping) -> tuple[int, tuple[str, ...]]:
    classes = tuple(meta.get("classes") or ())
    size = meta.get("image_size")
    if not isinstance(size, int) or size < 8 or len(classes) < 2:
        raise PipelineError("the model file lacks a usable image_size or classes; re-train it with `dvc repro`")
    if [float(v) for v in meta.get("value_range", [0.0, 1.0])] != [0.0, 1.0]:
        raise PipelineError(f"the model expects pixel values in {meta['value_range']}, but the loaders give [0, 1]")
    return size, classes


def predict_paths(
    model: torch.nn.Module,
    meta: Mapping,
    photos: Iterable[str | Path] | PhotoWalk,
    device: torch.device | str = "auto",
    batch_size: int = 64,
    *,
    num_threads: int = 2,
    on_skip: Callable[[Skipped], None] | None = None,
    progress: bool = False,
) -> Iterator[Prediction]:
    """Predictions for every readable photo under `photos` (paths of folders, zips or photos, or a `PhotoWalk`), in
    walk order, streamed batch by batch. `model` and `meta` are what `artifacts.load_model` returns. Unreadable photos
    are passed to `on_skip` (default: dropped) and never stop the iteration. Device "auto", "cpu", "cuda" or a
    torch.device: DALI decodes on that GPU (nvJPEG) or on the CPU."""
    if batch_size < 1:
        raise PipelineError(f"--batch-size: {batch_size} must be at least 1")
    image_size, classes = _check_meta(meta)
    torch_device, device_id = placement(device)
    walk = photos if isinstance(photos, PhotoWalk) else PhotoWalk(photos)
    report = on_skip or (lambda skipped: None)
    walk.on_skip = report
    was_training = model.training
    model.to(torch_device).eval()
    runner = _Runner(model, image_size, device_id, batch_size, num_threads)
    total = walk.count() if progress else None
    try:
        with ThreadPoolExecutor(max_workers=num_threads) as pool, \
                tqdm(total=total, desc="predict", unit="photo", disable=not progress, file=sys.stderr) as bar:
            for photo, probs, reason in runner.run(_batches(walk, batch_size, pool, report, bar)):
                bar.update(1)
                if reason is not None:
                    report(Skipped(photo.name, reason))
                    continue
                best = max(range(len(probs)), key=probs.__getitem__)
                yield Prediction(photo.name, classes[best], tuple(probs), classes, photo.data, photo.size)
    finally:
        model.train(was_training)


# ---------------------------------------------------------------------------------------------------------- Kaggle


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


def write_kaggle(path: Path, rows: Sequence[tuple[int, str]]) -> None:
    _atomic_csv(path, ["id", "label"], rows)


# ---------------------------------------------------------------------------------------------------- contact sheet


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


def write_sheet(path: Path, predictions: Sequence[Prediction], thumb: int = 128) -> None:
    """A PNG grid of the photos captioned `<rank> <class> <confidence> <name>` (reuses review.render_sheet). Where
    the name gives the true class, the frame is green for a right answer and red for a wrong one, and the caption
    starts with ✓ or ✗."""
    from ..labels.review import Candidate, render_sheet, save_png

    candidates, right, wrong = [], set(), set()
    for rank, p in enumerate(predictions, start=1):
        base = p.file.rsplit("/", 1)[-1]
        base = base if len(base) <= 14 else base[:6] + "…" + base[-7:]
        mark = ""
        if (truth := true_label(p.file)) is not None:
            mark = "✓ " if truth == p.predicted else "✗ "
            (right if truth == p.predicted else wrong).add(str(rank))
        candidates.append(Candidate(rank, f"{mark}{p.predicted} {p.confidence:.1%} {base}", p.data, 1, rank))
    save_png(render_sheet(candidates, thumb, frames={"green": right, "red": wrong}, frame_key="number"), path)


def size_warning(image_size: int, sizes: Sequence[tuple[int, int]]) -> str | None:
    """A warning when the photos are far from the model's image size: much larger (the model sees a small fraction
    of their detail; one trained at a larger `image_size` would see more) or much smaller (they are upscaled)."""
    sides = sorted(min(s) for s in sizes if min(s) > 0)
    if not sides:
        return None
    median = sides[len(sides) // 2]
    if median >= 4 * image_size:
        return (f"the model sees {image_size}-px images but the photos' median short side is {median} px: it works "
                f"from a {image_size / median:.0%}-scale copy; a model trained at a larger image_size would see more")
    if 2 * median <= image_size:
        return (f"the photos' median short side is {median} px, under half the model's {image_size}-px input: they "
                "are upscaled, and the model never saw such blurry images in training")
    return None


# ------------------------------------------------------------------------------------------------------ command line


def _atomic_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence]) -> None:
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def skipped_path(out: Path) -> Path:
    """`predictions.csv` -> `predictions.skipped.csv`, beside it."""
    return out.with_name(f"{out.stem}.skipped.csv")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", type=Path, metavar="MODEL", help="a model file written by training (models/baseline.pt, models/gan.pt)")
    parser.add_argument("photos", nargs="+", metavar="PHOTOS",
                        help="folders, zips (Kaggle's dogs-vs-cats.zip, test1.zip, ...) or single photos")
    parser.add_argument("--out", type=Path, default=Path("predictions.csv"),
                        help="CSV of file,predicted,p_cat,p_dog (default: predictions.csv); unreadable photos go to "
                             "<stem>.skipped.csv beside it")
    parser.add_argument("--batch-size", type=int, default=64, help="photos per batch (default: 64)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="auto: the GPU when there is one (nvJPEG decoding), else the CPU")
    parser.add_argument("--num-threads", type=int, default=2, help="DALI and photo-checking threads (default: 2)")
    parser.add_argument("--kaggle", type=Path, metavar="SUBMISSION",
                        help="also write Kaggle's id,label submission for the test1 photos")
    parser.add_argument("--kaggle-format", choices=KAGGLE_FORMATS, default="label",
                        help="label: 1 = dog, 0 = cat (original competition); probability: P(dog) (Redux edition)")
    parser.add_argument("--sample-submission", type=Path,
                        help="Kaggle's sampleSubmission.csv, when it is not inside PHOTOS (sets the id order)")
    parser.add_argument("--sheet", type=Path, metavar="PNG",
                        help="also write a contact sheet of the least confident photos")
    parser.add_argument("--sheet-count", type=int, default=48, help="photos on the sheet (default: 48)")


def _check_args(args: argparse.Namespace) -> None:
    if args.batch_size < 1:
        raise PipelineError(f"--batch-size: {args.batch_size} must be at least 1")
    if args.num_threads < 1:
        raise PipelineError(f"--num-threads: {args.num_threads} must be at least 1")
    if args.sheet_count < 1:
        raise PipelineError(f"--sheet-count: {args.sheet_count} must be at least 1")
    if args.sample_submission is not None:
        if args.kaggle is None:
            raise PipelineError("--sample-submission is used only with --kaggle SUBMISSION")
        if not args.sample_submission.is_file():
            raise PipelineError(f"--sample-submission: {str(args.sample_submission)!r} does not exist")
    if args.device == "cuda" and not torch.cuda.is_available():
        raise PipelineError("--device cuda: no CUDA GPU is usable here; use --device auto or cpu")
    outputs = [p.resolve() for p in (args.out, skipped_path(args.out), args.kaggle, args.sheet) if p is not None]
    if len(set(outputs)) != len(outputs):
        raise PipelineError("--out, --kaggle and --sheet must name different files")
    for flag, path in (("--out", args.out), ("--kaggle", args.kaggle), ("--sheet", args.sheet)):
        if path is not None and path.is_dir():
            raise PipelineError(f"{flag}: {path} is a folder; name a file (e.g. {path / 'predictions.csv'})")
        if path is not None:
            check_writable(path.parent)  # before any photo is read, not after all of them are predicted


def _say(message: str) -> None:
    tqdm.write(message, file=sys.stderr)


def run(args: argparse.Namespace) -> None:
    """The `predict` command: see `add_arguments`."""
    _check_args(args)
    walk = PhotoWalk(args.photos)
    model, meta = load_model(args.model, torch.device("cpu"))
    _check_meta(meta)
    classes = tuple(meta["classes"])
    if args.kaggle is not None and "dog" not in classes:
        raise PipelineError(f"{args.model}: its classes {list(classes)} have no dog, so no Kaggle submission")
    if meta.get("data_source") == "synthetic":
        _say(f"warning: {args.model} was trained on the stand-in data (data.source: synthetic), not on photos of cats "
             "and dogs: its answers on photos mean nothing; train on real photos first (see the README's Real data)")
    sizes: list[tuple[int, int]] = []

    out = args.out
    skipped: list[Skipped] = []
    test_ids: dict[int, tuple[float, str]] = {}
    skipped_ids: dict[int, str] = {}
    conflicts: list[str] = []  # two different photos with the same Kaggle id
    sheet = LeastConfident(args.sheet_count) if args.sheet else None
    counts = dict.fromkeys(classes, 0)

    def on_skip(item: Skipped) -> None:
        skipped.append(item)
        _say(f"skipped {item.file}: {item.reason}")
        if (i := kaggle_id(item.file)) is not None:
            skipped_ids[i] = item.reason

    start = time.perf_counter()
    try:
        with atomic_path(out) as tmp, tmp.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(csv_header(classes))
            for prediction in predict_paths(model, meta, walk, args.device, args.batch_size,
                                            num_threads=args.num_threads, on_skip=on_skip, progress=True):
                writer.writerow(prediction.csv_row())
                counts[prediction.predicted] += 1
                sizes.append(prediction.size)
                if sheet is not None:
                    sheet.add(prediction)
                if args.kaggle is not None and (i := kaggle_id(prediction.file)) is not None:
                    p_dog = prediction.probability("dog")
                    if i in test_ids and abs(test_ids[i][0] - p_dog) > 1e-6:
                        conflicts.append(f"{test_ids[i][1]} and {prediction.file}")
                    test_ids.setdefault(i, (p_dog, prediction.file))
    except KeyboardInterrupt:
        print(f"interrupted; {out} was not written", file=sys.stderr)
        sys.exit(130)
    seconds = time.perf_counter() - start
    _atomic_csv(skipped_path(out), SKIPPED_COLUMNS, ((s.file, s.reason) for s in skipped))

    predicted = sum(counts.values())
    by_class = ", ".join(f"{c} {n}" for c, n in counts.items())
    rate = f", {predicted / seconds:.0f} photos/s" if seconds > 0 else ""
    print(f"wrote {out}: {predicted} photos ({by_class}) in {seconds:.1f} s{rate}")
    if skipped:
        print(f"skipped {len(skipped)} unreadable photos, listed in {skipped_path(out)}")
    if walk.ignored:
        print(f"ignored {len(walk.ignored)} files that are not photos (e.g. {walk.ignored[0]})")
    if (warning := size_warning(meta["image_size"], sizes)) is not None:
        _say(f"warning: {warning}")
    if predicted == 0:
        raise PipelineError(f"no readable photo among PHOTOS ({len(skipped)} skipped); nothing to predict")
    if sheet is not None:
        write_sheet(args.sheet, sheet.ordered())
        print(f"wrote {args.sheet}: the {len(sheet.ordered())} least confident photos")
    if args.kaggle is not None:
        if conflicts:
            raise PipelineError(f"{args.kaggle} not written: {len(conflicts)} Kaggle ids belong to two different photos "
                                f"(e.g. {conflicts[0]}); give each test photo once")
        _write_submission(args, walk, {i: p for i, (p, _) in test_ids.items()}, skipped_ids)


def _write_submission(args: argparse.Namespace, walk: PhotoWalk, p_dog: dict[int, float], skipped_ids: dict[int, str]) -> None:
    if args.sample_submission is not None:
        sample_name, sample = str(args.sample_submission), args.sample_submission.read_bytes()
    elif walk.samples:
        sample_name, sample = walk.samples[0]
    else:
        sample_name, sample = None, None
    if sample is None:
        if not p_dog:
            raise PipelineError("--kaggle: none of PHOTOS is a Kaggle test photo (test1/N.jpg); nothing to submit")
        order = sorted(p_dog)
        _say(f"no sampleSubmission.csv among PHOTOS and no --sample-submission: ids in ascending order ({len(order)})")
        sample_name = "the predicted test photos"
    else:
        order = read_sample_submission(sample_name, sample)
    rows = kaggle_rows(p_dog, order, args.kaggle_format, skipped_ids, sample_name)
    extra = len(set(p_dog) - set(order))
    if extra:
        _say(f"{extra} predicted test photos are not in {sample_name} and are left out of the submission")
    write_kaggle(args.kaggle, rows)
    print(f"wrote {args.kaggle}: {len(rows)} ids in the order of {sample_name} ({args.kaggle_format} format)")
