"""The `semisup predict` command: its arguments, one pass over the photos, and its outputs written as one unit.

The CSV, `<stem>.skipped.csv`, the contact sheet and the Kaggle submission are one set (`files.atomic_paths`): when
anything fails (a full disk on the second file, an id missing from the submission, Ctrl-C, SIGTERM) none of them is
replaced and the message says so; a fresh CSV never sits beside a stale list of skipped photos.
"""
from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path
from typing import Callable, Iterable, Sequence

import torch
from tqdm import tqdm

from ...artifacts import load_model
from ...errors import PipelineError, Terminated
from ...files import atomic_paths, check_writable, plural, printable
from ...labels.contact_sheet import write_png
from .kaggle import KAGGLE_FORMATS, TestPhotos
from .runner import Prediction, predict_paths, usable
from .sheet import Accuracy, LeastConfident, sheet_image
from .walk import PhotoWalk, Skipped

SKIPPED_COLUMNS = ("file", "reason")
SHOWN = 10  # names listed in a summary line; all of them are in the skipped list


def csv_header(classes: Sequence[str]) -> list[str]:
    return ["file", "predicted", *(f"p_{c}" for c in classes)]


def skipped_path(out: Path) -> Path:
    """`predictions.csv` -> `predictions.skipped.csv`, beside it."""
    return out.with_name(f"{out.stem}.skipped.csv")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", type=Path, metavar="MODEL",
                        help="a model file written by training (models/baseline.pt, models/simclr_fixmatch.pt, ...)")
    parser.add_argument("photos", nargs="+", metavar="PHOTOS",
                        help="folders, zips (Kaggle's dogs-vs-cats.zip, test1.zip, ...) or single photos")
    parser.add_argument("--out", type=Path, default=Path("predictions.csv"),
                        help="CSV of file,predicted,p_cat,p_dog (default: predictions.csv); unreadable photos and "
                             "files that are not photos go to <stem>.skipped.csv beside it")
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


def check_args(args: argparse.Namespace) -> None:
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
    check_writable(*{p.parent for p in (args.out, args.kaggle, args.sheet) if p is not None})  # before any photo


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


def _say(message: str) -> None:
    tqdm.write(printable(message), file=sys.stderr)


def _names(items: Sequence[Skipped]) -> str:
    shown = ", ".join(printable(s.file) for s in items[:SHOWN])
    return shown + (f" and {len(items) - SHOWN:,} more" if len(items) > SHOWN else "")


def _write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def run(args: argparse.Namespace) -> None:
    """The `predict` command: see `add_arguments`."""
    check_args(args)
    walk = PhotoWalk(args.photos)
    model, meta = load_model(args.model, torch.device("cpu"))
    _, classes = usable(meta)
    if args.kaggle is not None and "dog" not in classes:
        raise PipelineError(f"{args.model}: its classes {list(classes)} have no dog, so no Kaggle submission")
    if meta.get("data_source") == "synthetic":
        _say(f"warning: {args.model} was trained on the stand-in data (data.source: synthetic), not on photos of cats "
             "and dogs: its answers on photos mean nothing; train on real photos first (see the README's Real data)")
    outputs = [p for p in (args.out, skipped_path(args.out), args.sheet, args.kaggle) if p is not None]
    untouched = f"nothing was written; {', '.join(map(str, outputs))} left as they were"
    try:
        with atomic_paths() as stage:
            temporaries = dict(zip(outputs, map(stage, outputs)))  # all named at once: a failure message lists all
            lines = _predict(args, walk, model, meta, classes, temporaries.__getitem__)
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (`cli.run_stage` raises Terminated for it)
        stopped = isinstance(exc, Terminated)
        print(f"{'terminated (SIGTERM)' if stopped else 'interrupted'}; {untouched}", file=sys.stderr)
        sys.exit(128 + Terminated.signal_number if stopped else 130)
    except PipelineError as exc:
        if "left as they were" in str(exc) or "unchanged" in str(exc):
            raise
        raise PipelineError(f"{exc}; {untouched}") from None
    for line in lines:
        print(printable(line))


def _predict(args: argparse.Namespace, walk: PhotoWalk, model: torch.nn.Module, meta: dict, classes: tuple[str, ...],
             temporary: Callable[[Path], Path]) -> list[str]:
    """Predict every photo into the temporaries of the outputs; the lines to print once they are in place."""
    out, skipped_csv = args.out, skipped_path(args.out)
    skipped: list[Skipped] = []
    tests = TestPhotos()
    sheet = LeastConfident(args.sheet_count) if args.sheet else None
    accuracy, counts, sizes, odd_names = Accuracy(classes), dict.fromkeys(classes, 0), [], []

    def on_skip(item: Skipped) -> None:
        skipped.append(item)
        _say(f"skipped {item.file}: {item.reason}")
        tests.skip(item)

    start = time.perf_counter()
    with temporary(out).open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(csv_header(classes))
        for prediction in predict_paths(model, meta, walk, args.device, args.batch_size,
                                        num_threads=args.num_threads, on_skip=on_skip, progress=True):
            row = prediction.csv_row()
            writer.writerow(row)
            if row[0] != prediction.file:
                odd_names.append(row[0])
            _tally(prediction, counts, sizes, accuracy, sheet, tests)
    seconds = time.perf_counter() - start
    _write_csv(temporary(skipped_csv), SKIPPED_COLUMNS, ((printable(s.file), s.reason) for s in skipped + walk.ignored))

    predicted = sum(counts.values())
    if predicted == 0:
        raise PipelineError(f"no readable photo among PHOTOS ({plural(len(skipped), 'file')} skipped, "
                            f"{len(walk.ignored):,} not photos); nothing to predict")
    by_class = ", ".join(f"{c} {n:,}" for c, n in counts.items())
    rate = f", {predicted / seconds:.0f} photos/s" if seconds > 0 else ""
    lines = [f"wrote {out}: {plural(predicted, 'photo')} ({by_class}) in {seconds:.1f} s{rate}"]
    if (line := accuracy.line()) is not None:
        lines.append(line)
    if skipped:
        lines.append(f"skipped {plural(len(skipped), 'unreadable photo')}: {_names(skipped)}; listed with the "
                     f"reasons in {skipped_csv}")
    if walk.ignored:
        n = len(walk.ignored)
        lines.append(f"ignored {plural(n, 'file')} that {'is not a photo' if n == 1 else 'are not photos'}: "
                     f"{_names(walk.ignored)}; listed in {skipped_csv}")
    if odd_names:
        _say(f"warning: {plural(len(odd_names), 'file name')} {'is' if len(odd_names) == 1 else 'are'} not valid "
             f"UTF-8 and {'is' if len(odd_names) == 1 else 'are'} written with \\xNN escapes in {out} (e.g. "
             f"{odd_names[0]})")
    if (warning := size_warning(meta["image_size"], sizes)) is not None:
        _say(f"warning: {warning}")
    if sheet is not None:
        write_png(sheet_image(sheet.ordered()), temporary(args.sheet))
        lines.append(f"wrote {args.sheet}: the {plural(len(sheet.ordered()), 'least confident photo')}")
    if args.kaggle is not None:
        lines.append(_submission(args, walk, tests, temporary(args.kaggle)))
    return lines


def _tally(prediction: Prediction, counts: dict[str, int], sizes: list[tuple[int, int]], accuracy: Accuracy,
           sheet: LeastConfident | None, tests: TestPhotos) -> None:
    counts[prediction.predicted] += 1
    sizes.append(prediction.size)
    accuracy.add(prediction)
    if sheet is not None:
        sheet.add(prediction)
    if "dog" in prediction.classes:
        tests.add(prediction)


def _submission(args: argparse.Namespace, walk: PhotoWalk, tests: TestPhotos, target: Path) -> str:
    if args.sample_submission is not None:
        sample = (str(args.sample_submission), args.sample_submission.read_bytes())
    else:
        sample = walk.samples[0] if walk.samples else None
    rows, warnings, order = tests.submission(str(args.kaggle), sample, args.kaggle_format)
    for warning in warnings:
        _say(warning)
    _write_csv(target, ["id", "label"], rows)
    return f"wrote {args.kaggle}: {plural(len(rows), 'id')} in the order of {order} ({args.kaggle_format} format)"
