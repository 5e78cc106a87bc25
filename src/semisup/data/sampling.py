"""What the loaders draw at random, drawn in Python from (seed, purpose, pass or epoch) alone: the order of the
unlabelled images and the crop boxes and flips. So a pass or an epoch replays exactly, and the CPU, the GPU, the DALI
graph and the decoded tensor all see the same draws.

Optional augmentation: a random resized crop (area 0.6-1 of the image, aspect 3/4-4/3 relative to the image) and a
horizontal flip. The graph that applies them (a resize over a relative ROI, then a mirror flag) is `dali_graph`'s;
the decode-once stream applies the same boxes with `decoded.crop_and_flip`.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import PipelineError
from .folders import unlabeled_files

AUG_AREA = (0.6, 1.0)  # fraction of the image kept by the random resized crop
AUG_ASPECT = (3 / 4, 4 / 3)  # aspect ratio of the crop box, relative to the image's own


def keyed_rng(*keys: int) -> np.random.Generator:
    """Independent stream per key tuple (unlike seed + epoch, seed 1 epoch 0 and seed 0 epoch 1 differ)."""
    return np.random.default_rng([int(k) for k in keys])


def augment_params(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`n` random-resized-crop boxes (relative (y, x) start and end) and horizontal flips.

    The box keeps a fraction AUG_AREA of the image's area with aspect AUG_ASPECT relative to the image, at a uniform
    position; sides over 1 are clipped (as torchvision's fallback does, the crop then keeps slightly less area).
    """
    area = rng.uniform(*AUG_AREA, size=n)
    log_aspect = rng.uniform(math.log(AUG_ASPECT[0]), math.log(AUG_ASPECT[1]), size=n)
    aspect = np.exp(log_aspect)
    w = np.minimum(np.sqrt(area * aspect), 1.0)
    h = np.minimum(np.sqrt(area / aspect), 1.0)
    x0 = rng.uniform(size=n) * (1.0 - w)
    y0 = rng.uniform(size=n) * (1.0 - h)
    flip = rng.integers(0, 2, size=n)
    start = np.stack([y0, x0], axis=1).astype(np.float32)
    end = np.stack([y0 + h, x0 + w], axis=1).astype(np.float32)
    return start, end, flip.astype(np.int32)


class EpochSampler:
    """The unlabelled files, and which of them each epoch of one shard serves, in which order, with which crops.

    Shared by `UnlabeledStream` (DALI decodes the files) and `DecodedStream` (indexes the decoded tensor), so both
    serve the same batches. `len()` is the number of batches per epoch (the last partial batch is dropped;
    `max_batches` > 0 caps it). Each of `num_shards` ranks reads its own `shard_id` slice of every epoch's
    permutation; all shards get the same number of batches. Only the files' paths are held, never their bytes.
    """

    def __init__(
        self,
        folder: str | Path | Sequence[str | Path],
        batch_size: int,
        seed: int = 0,
        *,
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
        self.batch_size, self.seed, self.shard_id, self.num_shards = batch_size, seed, shard_id, num_shards
        self.shard_size = len(self.files) // num_shards
        self.batches_per_epoch = self.shard_size // batch_size
        if max_batches > 0:
            self.batches_per_epoch = min(self.batches_per_epoch, max_batches)
        if self.batches_per_epoch == 0:
            raise PipelineError(
                f"{self.folder}: {len(self.files)} unlabelled images make no full batch of {batch_size} "
                f"per shard ({num_shards} shards); lower gan.batch_size or add unlabelled images"
            )

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
