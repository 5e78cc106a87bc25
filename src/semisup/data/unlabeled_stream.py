"""Shuffled batches of unlabelled images (x only, never a label) through DALI, for the methods that read them.

The files are read by a Python callback (`fn.external_source`) that follows the epoch's permutation
(`sampling.EpochSampler`), so the pipeline is built once and keeps prefetching across epoch boundaries; memory does
not grow with the number of files (only their paths are held).
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch

from ..device import placement
from .dali_graph import AUG_NDIM, aug_types, dali_error, image_graph, pipeline_kwargs
from .sampling import EpochSampler


class _UnlabeledFeed:
    """DALI external source: global batch g is batch g % per_epoch of epoch first_epoch + g // per_epoch.

    Called by DALI in iteration order (BatchInfo.iteration counts from 0 for a freshly built pipeline, and the
    source never ends, so prefetching runs on across epoch boundaries). Returns the encoded bytes of the batch's
    files, plus crop boxes and flips when augmenting. Never a label.
    """

    def __init__(self, sampler: EpochSampler, augment: bool, first_epoch: int):
        self.sampler, self.augment, self.first_epoch = sampler, augment, first_epoch
        self.recent: list[str] = []
        self._epoch = None
        self._order = None
        self._params = None

    def __call__(self, info):
        s = self.sampler
        e, b = divmod(info.iteration, s.batches_per_epoch)
        epoch = self.first_epoch + e
        if epoch != self._epoch:
            self._epoch, self._order = epoch, s.epoch_order(epoch)
            if self.augment:
                self._params = s.epoch_augment(epoch)
        sl = slice(b * s.batch_size, (b + 1) * s.batch_size)
        paths = [s.files[i] for i in self._order[sl]]
        self.recent = (self.recent + paths)[-4 * s.batch_size :]  # the batches in flight, to name a bad file
        encoded = [np.fromfile(path, dtype=np.uint8) for path in paths]
        if not self.augment:
            return (encoded,)
        return (encoded, *(np.ascontiguousarray(p[sl]) for p in self._params))


class UnlabeledStream:
    """Shuffled batches of unlabelled images (x only) for the GAN; epoch `e` is a fixed permutation of (`seed`, e).

    `len()` is the number of batches per epoch (see `EpochSampler`, which `sampler` holds: the files, the order,
    the shards); `epoch(e)` yields that epoch's batches (float32 [batch_size, 3, S, S] in [0, 1] on `device`), and
    iterating the stream yields the next epoch (0, 1, 2, ... in turn). The tensors live in DALI's output buffers:
    clone what you keep. With `augment`, epoch e's crops and flips are drawn from (`seed`, e) and fed to the graph.

    The DALI pipeline is built on the first epoch and kept while epochs are consumed in order and in full; asking for
    another epoch, or leaving one early, rebuilds it (cheap on the CPU, about a second on a GPU).
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
        self.sampler = EpochSampler(folder, batch_size, seed, shard_id=shard_id, num_shards=num_shards,
                                    max_batches=max_batches)
        self.folder, self.files = self.sampler.folder, self.sampler.files
        self.image_size, self.batch_size, self.seed, self.augment = image_size, batch_size, seed, augment
        self.num_threads = num_threads
        self.device, self._device_id = placement(device)
        self._iter = None
        self._feed = None
        self._next_epoch = 0  # what plain iteration gives next
        self._at = None  # (epoch, batch) the built pipeline will yield next

    def __len__(self) -> int:
        return len(self.sampler)

    def _build(self, first_epoch: int) -> None:
        from nvidia.dali import fn, pipeline_def, types
        from nvidia.dali.plugin.pytorch import DALIGenericIterator

        self.close()
        feed = self._feed = _UnlabeledFeed(self.sampler, self.augment, first_epoch)
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
        batches = len(self)
        for b in range(batches):
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
            self._at = (e, b + 1) if b + 1 < batches else (e + 1, 0)
            yield out[0]["x"]

    def __iter__(self) -> Iterator[torch.Tensor]:
        return self.epoch(self._next_epoch)

    def close(self) -> None:
        """Free the DALI pipeline (its threads and buffers); the next epoch rebuilds it."""
        self._iter = self._feed = self._at = None
