"""Checked photos -> class probabilities: the evaluation's DALI graph fed one batch at a time, then the model."""
from __future__ import annotations

import sys
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping

import numpy as np
import torch
from tqdm import tqdm

from ...artifacts import check_metadata
from ...data.dali_graph import image_graph, pipeline_kwargs
from ...device import placement
from ...errors import PipelineError
from ...files import printable
from .walk import Photo, PhotoWalk, Skipped, batches

DECIMALS = 6


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
        """`file, predicted, p_<class>...` with probabilities rounded so that the written values sum to exactly 1; a
        file name that is not valid UTF-8 is written with `\\xNN` escapes (`files.printable`)."""
        rounded = [round(p, DECIMALS) for p in self.probabilities[:-1]]
        rounded.append(round(1.0 - sum(rounded), DECIMALS))
        return [printable(self.file), self.predicted, *(f"{p:.{DECIMALS}f}" for p in rounded)]


class _Feed:
    """DALI external source: the next batch of encoded photos; remembers what is in flight to name the outputs."""

    def __init__(self, source: Iterator[list[Photo]]):
        self.source = source
        self.in_flight: deque[list[Photo]] = deque()

    def __call__(self):
        batch = next(self.source)  # StopIteration ends the pipeline's epoch
        self.in_flight.append(batch)
        return [np.frombuffer(p.data, dtype=np.uint8) for p in batch]


class Runner:
    """Encoded photos -> class probabilities: the evaluation graph (`dali_graph.image_graph`) fed by `_Feed`, then
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

    def run(self, source: Iterator[list[Photo]]) -> Iterator[tuple[Photo, list[float] | None, str | None]]:
        """(photo, probabilities, None) for each photo in order, or (photo, None, reason) where DALI failed."""
        source = iter(source)
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

    def _one(self, photo: Photo) -> tuple[Photo, list[float] | None, str | None]:
        try:
            out = next(self._iterator(_Feed(iter([[photo]])), 1))
        except (RuntimeError, OSError) as exc:
            return photo, None, f"DALI cannot decode it ({_cause(exc)})"
        return photo, self._classify(out[0]["x"])[0], None


def _cause(exc: Exception) -> str:
    lines = [line.strip() for line in str(exc).splitlines()]
    after = lines[lines.index("encountered:") + 1:] if "encountered:" in lines else lines
    return next((ln for ln in after if ln and "pipeline" not in ln.lower()), type(exc).__name__)[:200]


def usable(meta: Mapping) -> tuple[int, tuple[str, ...]]:
    """The image size and classes of `meta` (what `artifacts.load_model` returns, already checked there; checked
    again for metadata built by hand)."""
    checked = check_metadata({**meta, "classifier": {}}, "the model's metadata")
    return checked.image_size, checked.classes


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
    image_size, classes = usable(meta)
    torch_device, device_id = placement(device)
    walk = photos if isinstance(photos, PhotoWalk) else PhotoWalk(photos)
    report = on_skip or (lambda skipped: None)
    walk.on_skip = report
    was_training = model.training
    model.to(torch_device).eval()
    runner = Runner(model, image_size, device_id, batch_size, num_threads)
    total = walk.count() if progress else None
    try:
        with ThreadPoolExecutor(max_workers=num_threads) as pool, \
                tqdm(total=total, desc="predict", unit="photo", disable=not progress, file=sys.stderr) as bar:
            for photo, probs, reason in runner.run(batches(walk, batch_size, pool, report, bar)):
                bar.update(1)
                if reason is not None:
                    report(Skipped(photo.name, reason))
                    continue
                best = max(range(len(probs)), key=probs.__getitem__)
                yield Prediction(photo.name, classes[best], tuple(probs), classes, photo.data, photo.size)
    finally:
        model.train(was_training)
