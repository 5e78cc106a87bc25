"""The NVIDIA DALI graph every loader here runs, its pipeline settings, and the error that names a bad file.

One graph decodes, resizes and normalises: float32 CHW images in [0, 1], squashed to `image_size` x `image_size`
(no crop, antialiased). On a GPU the JPEGs are decoded by nvJPEG (`device="mixed"`) and never leave the GPU; on the
CPU the same graph runs with libjpeg-turbo (`device_id=None`), so tests exercise the real pipeline. DALI itself is
imported only when a pipeline is built. `decode_files` runs the graph once over a list of files (decode once).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch

from ..device import placement
from ..errors import PipelineError

AUG_NDIM = [1, 1, 0]  # roi_start (y, x), roi_end (y, x), mirror flag: per sample


def aug_types():
    """DALI dtypes of the fed crop boxes and flips (`sampling.augment_params`' arrays)."""
    from nvidia.dali import types

    return [types.FLOAT, types.FLOAT, types.INT32]


def dali_available() -> bool:
    """Whether NVIDIA DALI is installed (a lent GPU machine has PyTorch but no DALI until its wheels are carried)."""
    import importlib.util

    try:
        return importlib.util.find_spec("nvidia.dali") is not None
    except ModuleNotFoundError:  # no `nvidia` namespace at all
        return False


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


def dali_error(folder: Path, exc: Exception, suspects: Sequence[str | Path] = ()) -> PipelineError:
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
        raise dali_error(folder, exc, files[max(0, at - batch_size):at + 2 * batch_size]) from exc
    if at != len(files):
        raise RuntimeError(f"DALI decoded {at} images for {len(files)} files")
    return out
