"""Decoding without DALI: torchvision's JPEG decoder (nvJPEG on a GPU, libjpeg-turbo on the CPU).

The pipeline decodes with DALI. This is for a machine that has PyTorch but no DALI, such as a lent GPU before DALI's
wheels are carried to it (`semisup gpu-check`). It keeps the contract of `dali_graph.decode_files`: every file
once, in order, as uint8 [N, 3, S, S] on the CPU, squashed to S x S with an antialiased bilinear resize. The pixels
are close to DALI's but not bit-equal (other resampling code), so whatever uses it says so.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import PipelineError

NAME = "torchvision"  # how results decoded here are labelled


def _decode_batch(raw: list[torch.Tensor], device: torch.device) -> list[torch.Tensor]:
    from torchvision.io import ImageReadMode, decode_image, decode_jpeg

    with warnings.catch_warnings():  # torchvision >= 0.29 points at TorchCodec; the decoder itself is unchanged
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        if device.type == "cuda":
            return decode_jpeg(raw, mode=ImageReadMode.RGB, device=device)
        return [decode_image(r, mode=ImageReadMode.RGB) for r in raw]


def _decode_each(raw: list[torch.Tensor], paths: Sequence[str | Path], device: torch.device) -> list[torch.Tensor]:
    """One at a time, on the CPU when the GPU decoder refuses a file (a PNG, a progressive JPEG it cannot read):
    a file nothing can decode is named."""
    images = []
    for r, path in zip(raw, paths):
        try:
            images.append(_decode_batch([r], device)[0])
        except RuntimeError:
            try:
                images.append(_decode_batch([r], torch.device("cpu"))[0])
            except RuntimeError as exc:
                cause = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
                raise PipelineError(f"{path}: not a decodable image ({cause}); remove it or re-run the stage that "
                                    "wrote its folder") from None
    return images


def resize_square(image: torch.Tensor, image_size: int) -> torch.Tensor:
    """uint8 [3, H, W] -> uint8 [3, S, S]: squashed (no crop), antialiased bilinear, rounded as DALI rounds."""
    x = F.interpolate(image.unsqueeze(0).float(), size=(image_size, image_size), mode="bilinear",
                      align_corners=False, antialias=True)
    return x.round_().clamp_(0, 255).to(torch.uint8)[0]


def decode_files(
    files: Sequence[str | Path],
    image_size: int,
    device: torch.device | str,
    num_threads: int = 2,
    batch_size: int = 64,
) -> torch.Tensor:
    """Every file once, in order, as one uint8 tensor [N, 3, S, S] on the CPU (decoded by nvJPEG when `device` is a
    GPU). `num_threads` is accepted for the same signature as DALI's `decode_files`; torchvision uses its own."""
    device = torch.device(device)
    out = torch.empty(len(files), 3, image_size, image_size, dtype=torch.uint8)
    for at in range(0, len(files), batch_size):
        paths = list(files[at:at + batch_size])
        raw = []
        for path in paths:
            try:
                raw.append(torch.from_numpy(np.fromfile(path, dtype=np.uint8)))
            except OSError as exc:
                raise PipelineError(f"{path}: cannot be read ({exc.strerror}); re-run the stage that "
                                    "wrote it") from None
        try:
            images = _decode_batch(raw, device)
        except RuntimeError:
            images = _decode_each(raw, paths, device)
        resized = torch.stack([resize_square(image.to(device), image_size) for image in images])
        out[at:at + len(paths)] = resized.cpu()  # one copy per batch, not one device sync per image
    return out
