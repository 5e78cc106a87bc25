"""Shuffled batches of unlabelled images (x only, never a label) through DALI, for the methods that read them.

The order of epoch `e` is a permutation drawn from (`seed`, `e`) alone, so any epoch can be replayed exactly. The
files are read by a Python callback (`fn.external_source`) that follows the permutation, so the pipeline is built
once and keeps prefetching across epoch boundaries; memory does not grow with the number of files (only their
paths are held).
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch

from ..device import placement
from ..errors import PipelineError
from .dali_graph import AUG_NDIM, aug_types, dali_error, image_graph, pipeline_kwargs
from .folders import unlabeled_files
from .sampling import augment_params, keyed_rng


class _UnlabeledFeed:
    """DALI external source: global batch g is batch g % per_epoch of epoch first_epoch + g // per_epoch.

    Called by DALI in iteration order (BatchInfo.iteration counts from 0 for a freshly built pipeline, and the
    source never ends, so prefetching runs on across epoch boundaries). Returns the encoded bytes of the batch's
    files, plus crop boxes and flips when augmenting. Never a label.
    """

    def __init__(self, stream: "UnlabeledStream", first_epoch: int):
        self.stream, self.first_epoch = stream, first_epoch
        self.recent: list[str] = []
        self._epoch = None
        self._order = None
        self._params = None

    def __call__(self, info):
        s = self.stream
        e, b = divmod(info.iteration, s.batches_per_epoch)
        epoch = self.first_epoch + e
        if epoch != self._epoch:
            self._epoch, self._order = epoch, s.epoch_order(epoch)
            if s.augment:
                self._params = s.epoch_augment(epoch)
        sl = slice(b * s.batch_size, (b + 1) * s.batch_size)
        paths = [s.files[i] for i in self._order[sl]]
        self.recent = (self.recent + paths)[-4 * s.batch_size :]  # the batches in flight, to name a bad file
        encoded = [np.fromfile(path, dtype=np.uint8) for path in paths]
        if not s.augment:
            return (encoded,)
        return (encoded, *(np.ascontiguousarray(p[sl]) for p in self._params))


class UnlabeledStream:
    """Shuffled batches of unlabelled images (x only) for the GAN; epoch `e` is a fixed permutation of (`seed`, e).

    `len()` is the number of batches per epoch (the last partial batch is dropped; `max_batches` > 0 caps it);
    `epoch(e)` yields that epoch's batches (float32 [batch_size, 3, S, S] in [0, 1] on `device`), and iterating the
    stream yields the next epoch (0, 1, 2, ... in turn). The tensors live in DALI's output buffers: clone what you keep.

    The DALI pipeline is built on the first epoch and kept while epochs are consumed in order and in full; asking for
    another epoch, or leaving one early, rebuilds it (cheap on the CPU, about a second on a GPU). Each of `num_shards`
    ranks reads its own `shard_id` slice of every epoch's permutation; all shards get the same number of batches.
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
        shard_id: int = 0,
        num_shards: int = 1,
        max_batches: int = 0,
    ):
        if batch_size < 1:
            raise PipelineError(f"batch_size: {batch_size} must be at least 1")
        if not 0 <= shard_id < num_shards:
            raise PipelineError(f"shard_id {shard_id} is outside 0..{num_shards - 1} (num_shards {num_shards})")
        folders = [Path(folder)] if isinstance(folder, (str, Path)) else [Path(f) for f in folder]
        self.folder = folders[0]  # where messages point; images come from every folder, in order
        self.files = [str(p) for f in folders for p in unlabeled_files(f)]
        self.image_size, self.batch_size, self.seed, self.augment = image_size, batch_size, seed, augment
        self.shard_id, self.num_shards, self.num_threads = shard_id, num_shards, num_threads
        self.device, self._device_id = placement(device)
        self.shard_size = len(self.files) // num_shards
        self.batches_per_epoch = self.shard_size // batch_size
        if max_batches > 0:
            self.batches_per_epoch = min(self.batches_per_epoch, max_batches)
        if self.batches_per_epoch == 0:
            raise PipelineError(
                f"{self.folder}: {len(self.files)} unlabelled images make no full batch of {batch_size} "
                f"per shard ({num_shards} shards); lower gan.batch_size or add unlabelled images"
            )
        self._iter = None
        self._feed = None
        self._next_epoch = 0  # what plain iteration gives next
        self._at = None  # (epoch, batch) the built pipeline will yield next

    def __len__(self) -> int:
        return self.batches_per_epoch

    def _served(self) -> slice:
        """Positions of the epoch's permutation this shard serves (its slice, cut to whole batches)."""
        start = self.shard_id * self.shard_size
        return slice(start, start + self.batches_per_epoch * self.batch_size)

    def epoch_order(self, epoch: int) -> np.ndarray:
        """Indices into `files` of the images this shard serves in `epoch`, in the order they are served.

        One permutation of all files per (seed, epoch), whatever the number of shards; shard k serves its k-th
        slice, so the shards of an epoch are disjoint."""
        return keyed_rng(self.seed, 0, epoch).permutation(len(self.files))[self._served()]

    def epoch_augment(self, epoch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Crop boxes (relative (y, x) start, end) and flips of the images `epoch_order(epoch)` serves."""
        params = augment_params(keyed_rng(self.seed, 2, epoch), len(self.files))  # per position of the permutation
        return tuple(p[self._served()] for p in params)

    def _build(self, first_epoch: int) -> None:
        from nvidia.dali import fn, pipeline_def, types
        from nvidia.dali.plugin.pytorch import DALIGenericIterator

        self.close()
        feed = self._feed = _UnlabeledFeed(self, first_epoch)
        on_gpu = self._device_id is not None
        dtypes, ndim = [types.UINT8], [1]  # encoded bytes: one 1-D uint8 array per file
        if self.augment:
            dtypes, ndim = dtypes + aug_types(), ndim + AUG_NDIM

        @pipeline_def
        def unlabelled():
            outs = fn.external_source(
                source=feed, num_outputs=len(ndim), batch=True, batch_info=True, dtype=dtypes, ndim=ndim
            )
            aug = dict(roi_start=outs[1], roi_end=outs[2], mirror=outs[3]) if self.augment else {}
            return image_graph(outs[0], self.image_size, on_gpu, **aug)

        pipe = unlabelled(**pipeline_kwargs(self.batch_size, self.num_threads, self._device_id, self.seed))
        pipe.build()
        # The source never ends: DALI's notion of an epoch is unused, the feed maps iterations to our epochs.
        self._iter = DALIGenericIterator(pipe, ["x"], auto_reset=False)
        self._at = (first_epoch, 0)

    def epoch(self, e: int) -> Iterator[torch.Tensor]:
        """The batches of epoch `e` (a generator: consume one epoch at a time)."""
        self._next_epoch = e + 1
        for b in range(self.batches_per_epoch):
            if b > 0 and self._at != (e, b):
                raise RuntimeError(f"UnlabeledStream: epoch {e} was interleaved with another; consume one at a time")
            try:
                if b == 0 and self._at != (e, 0):
                    self._build(e)  # the iterator prefetches on construction: read errors show here too
                out = next(self._iter)
            except (RuntimeError, OSError) as exc:
                fed = self._feed.recent if self._feed is not None else []
                self.close()
                raise dali_error(self.folder, exc, fed) from exc
            self._at = (e, b + 1) if b + 1 < self.batches_per_epoch else (e + 1, 0)
            yield out[0]["x"]

    def __iter__(self) -> Iterator[torch.Tensor]:
        return self.epoch(self._next_epoch)

    def close(self) -> None:
        """Free the DALI pipeline (its threads and buffers); the next epoch rebuilds it."""
        self._iter = self._feed = self._at = None
