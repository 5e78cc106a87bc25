"""Image loaders: NVIDIA DALI decodes, resizes and normalises JPEG folders and hands PyTorch float tensors.

Every loader yields float32 CHW images in [0, 1] (squashed to `image_size` x `image_size`, no crop, antialiased),
on the requested device. On a GPU the JPEGs are decoded by nvJPEG (`device="mixed"`) and never leave the GPU; on the
CPU the same graph runs with libjpeg-turbo (`device_id=None`), so tests exercise the real pipeline.

* `LabeledLoader` / `iterate_labeled`: one pass over a labelled folder (`cat_<id>.jpg`, `dog_<id>.jpg`) in file order,
  every image exactly once: the reader pads the last batch (`pad_last_batch=True`) and the iterator drops the padding
  (`LastBatchPolicy.PARTIAL`), so 1,000 images give 1,000 predictions, not a wrapped-around 1,024 or 1,536.
* `load_labeled`: the whole (small) labelled set as one batch, cloned out of DALI's reused output buffers.
* `UnlabeledStream`: shuffled batches of unlabelled images (x only, never a label) for the GAN. The order of epoch `e`
  is a permutation drawn from (`seed`, `e`) alone, so any epoch can be replayed exactly. The files are read by a
  Python callback (`fn.external_source`) that follows the permutation, so the pipeline is built once and keeps
  prefetching across epoch boundaries; memory does not grow with the number of files (only their paths are held).

Optional augmentation (`augment=True`): random resized crop (area 0.6-1 of the image, aspect 3/4-4/3 relative to the
image) and a horizontal flip, inside the DALI graph (`fn.resize` over a random relative ROI, then the mirror flag of
`fn.crop_mirror_normalize`). The crop boxes and flips are drawn in Python from (`seed`, epoch) and fed to the graph,
so they are identical on the CPU and the GPU and reproducible per epoch.
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch

from ..device import placement
from ..errors import PipelineError

CLASSES = ("cat", "dog")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
AUG_AREA = (0.6, 1.0)  # fraction of the image kept by the random resized crop
AUG_ASPECT = (3 / 4, 4 / 3)  # aspect ratio of the crop box, relative to the image's own

_LABELLED_NAME = re.compile(r"^(cat|dog)_[^/]+\.(jpe?g|png)$", re.IGNORECASE)
_OUTPUT_MAP = ["x", "y"]
_AUG_NDIM = [1, 1, 0]  # roi_start (y, x), roi_end (y, x), mirror flag: per sample


# ----------------------------------------------------------------------------------------------------------- file lists


def _list_folder(folder: str | Path, what: str) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise PipelineError(f"{folder}: no such folder of {what}; run the stage that writes it (`dvc repro`)")
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    if not files:
        raise PipelineError(f"{folder}: the folder of {what} is empty; run the stage that writes it (`dvc repro`)")
    return files


def labeled_files(folder: str | Path) -> tuple[list[Path], list[int]]:
    """Sorted image files of a labelled folder and their labels (0 = cat, 1 = dog) read from the name prefix."""
    files = _list_folder(folder, "labelled images")
    labels = []
    for path in files:
        match = _LABELLED_NAME.match(path.name)
        if match is None:
            raise PipelineError(
                f"{path}: a labelled folder holds only cat_<id>.jpg and dog_<id>.jpg (label from the name); "
                "remove or rename this file, or re-run the stage that wrote the folder"
            )
        labels.append(CLASSES.index(match.group(1).lower()))
    return files, labels


def unlabeled_files(folder: str | Path) -> list[Path]:
    """Sorted image files (*.jpg, *.jpeg, *.png) of an unlabelled folder; names carry no label and none is read."""
    folder = Path(folder)
    files = [p for p in _list_folder(folder, "unlabelled images") if p.suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        raise PipelineError(f"{folder}: no *.jpg, *.jpeg or *.png images in the unlabelled folder; run `dvc repro`")
    return files


# --------------------------------------------------------------------------------------------------------------- device


# ------------------------------------------------------------------------------------------------------- augmentation


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


def _aug_types():
    from nvidia.dali import types

    return [types.FLOAT, types.FLOAT, types.INT32]


def dali_available() -> bool:
    """Whether NVIDIA DALI is installed (a lent GPU machine has PyTorch but no DALI until its wheels are carried)."""
    import importlib.util

    try:
        return importlib.util.find_spec("nvidia.dali") is not None
    except ModuleNotFoundError:  # no `nvidia` namespace at all
        return False


def keyed_rng(*keys: int) -> np.random.Generator:
    """Independent stream per key tuple (unlike seed + epoch, seed 1 epoch 0 and seed 0 epoch 1 differ)."""
    return np.random.default_rng([int(k) for k in keys])


# ------------------------------------------------------------------------------------------------------- DALI graph


def image_graph(encoded, image_size: int, on_gpu: bool, roi_start=None, roi_end=None, mirror=None, *, as_uint8=False):
    """Encoded bytes -> float CHW in [0, 1]: decode (nvJPEG on GPU), squash-resize (optionally of a ROI), mirror.
    `as_uint8` keeps the resized bytes (CHW uint8, what `float / 255` turns into the float output exactly)."""
    from nvidia.dali import fn, types

    if on_gpu:  # nvJPEG (hardware decoder where present), with libjpeg-turbo's chroma upsampling: matches the CPU
        images = fn.decoders.image(encoded, device="mixed", output_type=types.RGB, jpeg_fancy_upsampling=True)
    else:
        images = fn.decoders.image(encoded, device="cpu", output_type=types.RGB)
    resize_args = {}
    if roi_start is not None:
        resize_args = dict(roi_start=roi_start, roi_end=roi_end, roi_relative=True)
    images = fn.resize(images, size=[image_size, image_size], mode="stretch", antialias=True, **resize_args)
    return fn.crop_mirror_normalize(
        images,
        dtype=types.UINT8 if as_uint8 else types.FLOAT,
        output_layout="CHW",
        mean=[0.0],
        std=[1.0 if as_uint8 else 255.0],  # [0, 255] -> [0, 1], no mean/std normalisation (as published)
        mirror=0 if mirror is None else mirror,
    )


def pipeline_kwargs(batch_size: int, num_threads: int, device_id: int | None, seed: int) -> dict:
    # DALI seeds must be non-negative 32-bit; nothing in our graphs draws from DALI's own RNG, but keep it fixed.
    return dict(
        batch_size=batch_size,
        num_threads=num_threads,
        device_id=device_id,
        seed=int(seed) % (2**31),
        prefetch_queue_depth=2,
    )


def _unreadable(paths: Sequence[str | Path]) -> str | None:
    """The first of `paths` that Pillow cannot decode completely, or None (used only to name a failure)."""
    from PIL import Image

    for path in paths:
        try:
            with Image.open(path) as img:
                img.load()
        except Exception:  # noqa: BLE001 - any failure names the file
            return str(path)
    return None


def _dali_error(folder: Path, exc: Exception, suspects: Sequence[str | Path] = ()) -> PipelineError:
    """A DALI failure as a PipelineError naming the file (DALI's own message names only the operator)."""
    if isinstance(exc, OSError) and getattr(exc, "filename", None):
        return PipelineError(f"{exc.filename}: cannot be read ({exc.strerror}); re-run the stage that writes {folder}")
    lines = [line.strip() for line in str(exc).splitlines()]
    after = lines[lines.index("encountered:") + 1 :] if "encountered:" in lines else lines
    cause = next((ln for ln in after if ln and "pipeline" not in ln.lower()), type(exc).__name__)[:200]
    bad = _unreadable(suspects)
    if bad is not None:
        return PipelineError(
            f"{bad}: not a decodable image ({cause}); remove it or re-run the stage that wrote {folder}"
        )
    return PipelineError(
        f"{folder}: DALI failed to read or decode an image ({cause}); check that every file there is a "
        "readable JPEG/PNG, or re-run the stage that wrote it"
    )


# ------------------------------------------------------------------------------------------------------- labelled


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
                    source=feed, num_outputs=3, batch=True, dtype=_aug_types(), ndim=_AUG_NDIM
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
            raise _dali_error(self.folder, exc, self.files) from exc
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


def decode_files(
    files: Sequence[str | Path],
    image_size: int,
    device: torch.device | str,
    num_threads: int = 2,
    batch_size: int = 256,
) -> torch.Tensor:
    """Every file once, in order, as one uint8 tensor [N, 3, S, S] on the CPU (decoded on the GPU when `device` is
    one): the input of `loader.decode: once`."""
    from nvidia.dali import fn, pipeline_def
    from nvidia.dali.plugin.base_iterator import LastBatchPolicy
    from nvidia.dali.plugin.pytorch import DALIGenericIterator

    files = [str(f) for f in files]
    _, device_id = placement(device)
    batch_size = max(1, min(batch_size, len(files)))

    @pipeline_def
    def decode():
        encoded, _ = fn.readers.file(files=files, labels=[0] * len(files), random_shuffle=False,
                                     pad_last_batch=True, name="reader")
        return image_graph(encoded, image_size, device_id is not None, as_uint8=True)

    pipe = decode(**pipeline_kwargs(batch_size, num_threads, device_id, 0))
    out = torch.empty(len(files), 3, image_size, image_size, dtype=torch.uint8)
    at = 0
    try:
        pipe.build()
        for batch in DALIGenericIterator(pipe, ["x"], reader_name="reader", last_batch_policy=LastBatchPolicy.PARTIAL):
            x = batch[0]["x"]
            out[at:at + x.shape[0]].copy_(x)
            at += x.shape[0]
    except (RuntimeError, OSError) as exc:
        folder = Path(files[0]).parent if files else Path(".")
        raise _dali_error(folder, exc, files[max(0, at - batch_size):at + 2 * batch_size]) from exc
    if at != len(files):
        raise RuntimeError(f"DALI decoded {at} images for {len(files)} files")
    return out


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


# ----------------------------------------------------------------------------------------------------------- unlabelled


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
            dtypes, ndim = dtypes + _aug_types(), ndim + _AUG_NDIM

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
                raise _dali_error(self.folder, exc, fed) from exc
            self._at = (e, b + 1) if b + 1 < self.batches_per_epoch else (e + 1, 0)
            yield out[0]["x"]

    def __iter__(self) -> Iterator[torch.Tensor]:
        return self.epoch(self._next_epoch)

    def close(self) -> None:
        """Free the DALI pipeline (its threads and buffers); the next epoch rebuilds it."""
        self._iter = self._feed = self._at = None
