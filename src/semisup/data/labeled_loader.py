"""The labelled folders (`cat_<id>.jpg`, `dog_<id>.jpg`) through DALI, in file order, every image exactly once.

The reader pads the last batch (`pad_last_batch=True`) and the iterator drops the padding (`LastBatchPolicy.PARTIAL`),
so 1,000 images give 1,000 predictions, not a wrapped-around 1,024 or 1,536. `load_labeled` gives the whole (small)
set as one batch, cloned out of DALI's reused output buffers.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch

from ..device import placement
from ..errors import PipelineError
from .dali_graph import AUG_NDIM, aug_types, dali_error, image_graph, pipeline_kwargs
from .folders import labeled_files
from .sampling import augment_params, keyed_rng

_OUTPUT_MAP = ["x", "y"]


class _AugFeed:
    """Per-batch crop boxes and flips for a reader in file order: batch k of the reader's stream is batch k % n of
    pass k // n (the reader pads every pass to whole batches, so it runs in lockstep with this callback)."""

    def __init__(self, seed: int, n_padded: int, batch_size: int, first_pass: int = 0):
        self.seed, self.n_padded, self.batch_size = seed, n_padded, batch_size
        self.calls = first_pass * (n_padded // batch_size)
        self._pass = -1
        self._params = None

    def __call__(self):
        k = self.calls
        self.calls += 1
        batches = self.n_padded // self.batch_size
        pass_idx, b = divmod(k, batches)
        if pass_idx != self._pass:
            self._pass, self._params = pass_idx, augment_params(keyed_rng(self.seed, 1, pass_idx), self.n_padded)
        sl = slice(b * self.batch_size, (b + 1) * self.batch_size)
        return tuple(np.ascontiguousarray(p[sl]) for p in self._params)


class LabeledLoader:
    """Passes over a labelled folder in file order; each pass yields every image exactly once as (x, y) batches.

    x: float32 [B, 3, S, S] in [0, 1], y: int64 [B] (0 = cat, 1 = dog), both on `device`; the last batch holds the
    remainder (no wrap-around, no padding). The pipeline is built once and each iteration of the loader is one pass;
    a pass left early makes the next one rebuild it (DALI cannot reset a reader mid-epoch). The tensors live in
    DALI's output buffers, overwritten by the next batch: clone what you keep. With `augment`, pass p is augmented
    with boxes and flips drawn from (`seed`, p).
    """

    def __init__(
        self,
        folder: str | Path | Sequence[str | Path],
        image_size: int,
        batch_size: int,
        device: torch.device | str,
        num_threads: int = 2,
        seed: int = 0,
        *,
        augment: bool = False,
    ):
        if batch_size < 1:
            raise PipelineError(f"batch_size: {batch_size} must be at least 1")
        self.folder = Path(folder)
        self.files, self.labels = labeled_files(self.folder)
        # A batch never exceeds the set: the reader pads the last batch by decoding the last file again, so a
        # batch of 250 over 100 files would decode 150 padding images.
        self.batch_size = min(batch_size, len(self.files))
        self.image_size, self.num_threads, self.seed, self.augment = image_size, num_threads, seed, augment
        self.device, self._device_id = placement(device)
        self._iter = None
        self._passes = 0  # passes started
        self._clean = False  # the last pass ran to its end, so the reader stands at the start of the next

    def __len__(self) -> int:
        return -(-len(self.files) // self.batch_size)

    def _build(self, first_pass: int) -> None:
        from nvidia.dali import fn, pipeline_def
        from nvidia.dali.plugin.base_iterator import LastBatchPolicy
        from nvidia.dali.plugin.pytorch import DALIGenericIterator

        self._iter = None
        on_gpu = self._device_id is not None
        n_padded = len(self) * self.batch_size
        feed = _AugFeed(self.seed, n_padded, self.batch_size, first_pass) if self.augment else None

        @pipeline_def
        def labelled():
            encoded, labels = fn.readers.file(
                files=[str(p) for p in self.files],
                labels=self.labels,
                random_shuffle=False,
                pad_last_batch=True,  # pad the last batch by repeating the last file; the iterator drops the pads
                name="reader",
            )
            aug = {}
            if feed is not None:
                roi_start, roi_end, mirror = fn.external_source(
                    source=feed, num_outputs=3, batch=True, dtype=aug_types(), ndim=AUG_NDIM
                )
                aug = dict(roi_start=roi_start, roi_end=roi_end, mirror=mirror)
            images = image_graph(encoded, self.image_size, on_gpu, **aug)
            if on_gpu:
                labels = labels.gpu()
            return images, labels

        pipe = labelled(**pipeline_kwargs(self.batch_size, self.num_threads, self._device_id, self.seed))
        pipe.build()
        self._iter = DALIGenericIterator(
            pipe,
            _OUTPUT_MAP,
            reader_name="reader",  # epoch size and padding come from the reader
            last_batch_policy=LastBatchPolicy.PARTIAL,  # the last batch holds only the remaining real images
            auto_reset=False,
        )

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        pass_idx = self._passes
        self._passes += 1
        seen = 0
        try:
            if self._iter is None or not self._clean:
                self._build(pass_idx)  # the iterator prefetches on construction: read errors show here too
            else:
                self._iter.reset()
            self._clean = False
            for out in self._iter:
                x, y = out[0]["x"], out[0]["y"]
                seen += x.shape[0]
                yield x, y.reshape(-1).to(torch.int64)
        except (RuntimeError, OSError) as exc:
            self._iter = None  # a failed pipeline is not reused
            raise dali_error(self.folder, exc, self.files) from exc
        self._clean = True
        if seen != len(self.files):  # the contract: every image exactly once
            raise RuntimeError(f"{self.folder}: DALI yielded {seen} images for {len(self.files)} files")


def iterate_labeled(
    folder: str | Path,
    image_size: int,
    batch_size: int,
    device: torch.device | str,
    num_threads: int = 2,
    seed: int = 0,
    *,
    augment: bool = False,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """One pass over a labelled folder in file order, every image exactly once (see LabeledLoader)."""
    return iter(LabeledLoader(folder, image_size, batch_size, device, num_threads, seed, augment=augment))


def load_labeled(
    folder: str | Path,
    image_size: int,
    device: torch.device | str,
    num_threads: int = 2,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The whole (small) labelled set as one batch (x [N, 3, S, S] in [0, 1], y [N]), cloned out of DALI's buffers."""
    files, _ = labeled_files(folder)
    batches = [
        (x.clone(), y.clone())
        for x, y in iterate_labeled(folder, image_size, len(files), device, num_threads)
    ]
    (x, y), = batches
    return x, y
