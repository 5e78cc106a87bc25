"""Decode once (`loader.decode: once`): the unlabelled JPEGs become one uint8 tensor [N, 3, S, S] at `image_size`.

The published loop decodes every JPEG again every epoch. Here the first run that asks decodes the folder once with
DALI (nvJPEG on a GPU) and saves the tensor in `cache/`, keyed on the file names, their sizes and `image_size`;
every later epoch and every later run on the same files index that tensor. It lives on the GPU when it fits in
free memory (35,000 images at 224 px: 5.3 GB), otherwise in host memory. The batches, their order (a permutation
per (seed, epoch)) and the shards are those of `UnlabeledStream`: both follow one `sampling.EpochSampler`. The
random crop + flip is one batched affine resample on the device with the same boxes and flips, applied to the
already resized image (so a crop is upsampled from `image_size` pixels rather than from the original photo:
slightly softer than the DALI path).
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Callable, Iterator, Sequence

import torch
import torch.nn.functional as F

from ..device import placement
from ..files import atomic_path
from .dali_graph import decode_files
from .sampling import EpochSampler, augment_params, keyed_rng

Decoder = Callable[[Sequence[str], int, torch.device, int], torch.Tensor]  # (files, size, device, threads) -> uint8

GPU_HEADROOM = 2.0  # keep the tensor on the GPU only if free memory is at least this many times its size


def crop_and_flip(x: torch.Tensor, start: torch.Tensor, end: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
    """Random resized crop + horizontal flip of a batch in one `grid_sample`: box b spans relative (y, x) from
    `start[b]` to `end[b]` and is resampled to the full side, mirrored where `flip[b]` is 1."""
    n = x.shape[0]
    sy, sx = (end - start).unbind(1)  # half-extents in [-1, 1] coordinates
    cy, cx = (start + end - 1).unbind(1)  # centres in [-1, 1] coordinates
    sx = torch.where(flip.bool(), -sx, sx)
    zeros = torch.zeros_like(sx)
    theta = torch.stack([torch.stack([sx, zeros, cx], 1), torch.stack([zeros, sy, cy], 1)], 1).to(x.dtype)
    grid = F.affine_grid(theta, [n, x.shape[1], x.shape[2], x.shape[3]], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def labeled_passes(x: torch.Tensor, y: torch.Tensor, seed: int) -> Callable[[], tuple[torch.Tensor, torch.Tensor]]:
    """A fresh crop + flip of the whole decoded labelled set per call: pass p uses the boxes and flips that
    `LabeledLoader(augment=True)` draws for its pass p, applied to the tensor instead of inside DALI."""
    passes = iter(range(2**62))

    def next_pass() -> tuple[torch.Tensor, torch.Tensor]:
        params = augment_params(keyed_rng(seed, 1, next(passes)), len(x))
        start, end, flip = (torch.from_numpy(p).to(x.device) for p in params)
        return crop_and_flip(x, start, end, flip), y

    return next_pass


class DecodedStream:
    """`UnlabeledStream`'s batches over the decoded tensor: the same sampler (files, order, shards, crops and flips),
    no JPEG decoding after the first. `decoder` decodes the folder the first time (DALI's `decode_files`;
    `tvdecode.decode_files` where DALI is absent)."""

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
        cache_dir: str | Path = "cache",
        decoder: Decoder = decode_files,
    ):
        self.sampler = EpochSampler(folder, batch_size, seed, shard_id=shard_id, num_shards=num_shards,
                                    max_batches=max_batches)
        self.folder, self.files = self.sampler.folder, self.sampler.files
        self.image_size, self.batch_size, self.seed, self.augment = image_size, batch_size, seed, augment
        self.num_threads = num_threads
        self.device, _ = placement(device)
        self.cache_dir = Path(cache_dir)
        self.decoder = decoder
        self._images: torch.Tensor | None = None
        self._next_epoch = 0  # what plain iteration gives next

    def __len__(self) -> int:
        return len(self.sampler)

    @property
    def cache_path(self) -> Path:
        digest = hashlib.sha256(f"{self.image_size}\n".encode())
        if self.decoder is not decode_files:  # another decoder's pixels never pass for DALI's
            digest.update(f"{self.decoder.__module__}.{self.decoder.__name__}\n".encode())
        for name in self.files:
            digest.update(f"{os.path.basename(name)}\t{os.stat(name).st_size}\n".encode())
        return self.cache_dir / f"unlabeled-{self.image_size}px-{digest.hexdigest()[:16]}.pt"

    def images(self) -> torch.Tensor:
        """The decoded set (decoded and saved on first use; loaded from cache/ afterwards)."""
        if self._images is None:
            images = self._load_or_decode()
            if self.device.type == "cuda":
                free, _ = torch.cuda.mem_get_info(self.device)
                images = images.to(self.device) if free > GPU_HEADROOM * images.nbytes else images.pin_memory()
            self._images = images
        return self._images

    def _load_or_decode(self) -> torch.Tensor:
        path = self.cache_path
        distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
        if not path.is_file() and (not distributed or torch.distributed.get_rank() == 0):
            images = self.decoder(self.files, self.image_size, self.device, self.num_threads)
            with atomic_path(path) as tmp:  # a reader never sees half a file
                torch.save(images, tmp)
        if distributed:
            torch.distributed.barrier()  # rank 0 has written the cache
        images = torch.load(path, map_location="cpu", weights_only=True)
        expected = (len(self.files), 3, self.image_size, self.image_size)
        if tuple(images.shape) != expected or images.dtype != torch.uint8:
            raise RuntimeError(f"{path}: holds {tuple(images.shape)} {images.dtype}, expected {expected} uint8; delete it")
        return images

    def epoch(self, e: int) -> Iterator[torch.Tensor]:
        """The batches of epoch `e`, as `UnlabeledStream.epoch(e)` gives them."""
        self._next_epoch = e + 1
        images = self.images()
        order = torch.from_numpy(self.sampler.epoch_order(e)).to(images.device)  # one copy per epoch, not per step
        if self.augment:
            start, end, flip = (torch.from_numpy(p).to(self.device) for p in self.sampler.epoch_augment(e))
        for b in range(len(self)):
            sl = slice(b * self.batch_size, (b + 1) * self.batch_size)
            x = images[order[sl]].to(self.device, non_blocking=True).float().mul_(1 / 255)  # as DALI scales
            yield crop_and_flip(x, start[sl], end[sl], flip[sl]) if self.augment else x

    def __iter__(self) -> Iterator[torch.Tensor]:
        return self.epoch(self._next_epoch)

    def close(self) -> None:
        self._images = None
