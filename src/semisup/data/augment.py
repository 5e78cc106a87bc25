"""FixMatch's strong view: torchvision's RandAugment (and a cutout) on top of the weak view DALI already made; and
SimCLR's two views of a batch, drawn per image on the batch's own device.

The weak view (random resized crop + flip) comes out of the DALI graph; RandAugment draws its ops per image, so it
runs image by image on the batch's own device (GPU or CPU) with torch's RNG, seeded by the run.
"""
from __future__ import annotations

import math

import torch
from torchvision.transforms import v2


def strong_augmenter(ops: int, magnitude: int) -> v2.Transform:
    """RandAugment(ops, magnitude) on uint8 images, then one cutout (erase a random square of up to half the side)."""
    return v2.Compose([
        v2.RandAugment(num_ops=ops, magnitude=magnitude),
        v2.ToDtype(torch.float32, scale=True),
        v2.RandomErasing(p=1.0, scale=(0.02, 0.25), ratio=(1.0, 1.0), value=0.5),
    ])


def strong_views(weak: torch.Tensor, augmenter: v2.Transform) -> torch.Tensor:
    """[B, 3, S, S] in [0, 1] -> a strongly augmented copy, each image with its own draw of ops."""
    as_bytes = (weak.clamp(0, 1) * 255).round().to(torch.uint8)
    return torch.stack([augmenter(image) for image in as_bytes])


def contrastive_view(x: torch.Tensor, generator: torch.Generator, min_scale: float, jitter: float,
                     grayscale: float) -> torch.Tensor:
    """One SimCLR view of a batch [B, 3, S, S] in [0, 1], each image with its own draws from `generator`: a random
    resized crop (scale min_scale..1, aspect 3/4..4/3) and flip in one resample, then with probability 0.8 brightness,
    contrast and saturation jitter of strength `jitter`, and with probability `grayscale` a grey image."""
    from .decoded import crop_and_flip

    n, dev = x.shape[0], x.device

    def uniform(low: float, high: float, *shape: int) -> torch.Tensor:
        return torch.rand(n, *shape, device=dev, generator=generator) * (high - low) + low

    scale, log_ratio = uniform(min_scale, 1.0), uniform(math.log(3 / 4), math.log(4 / 3))
    h = (scale / log_ratio.exp()).sqrt().clamp(max=1.0)
    w = (scale * log_ratio.exp()).sqrt().clamp(max=1.0)
    start = torch.stack([uniform(0, 1) * (1 - h), uniform(0, 1) * (1 - w)], 1)
    view = crop_and_flip(x, start, start + torch.stack([h, w], 1), uniform(0, 1) < 0.5)
    on = (uniform(0, 1, 1, 1, 1) < 0.8).to(x.dtype)
    brightness, contrast, saturation = (1 + on * uniform(-jitter, jitter, 1, 1, 1) for _ in range(3))
    view = view * brightness
    mean = view.mean(dim=(1, 2, 3), keepdim=True)
    view = (view - mean) * contrast + mean
    grey = (0.299 * view[:, :1] + 0.587 * view[:, 1:2] + 0.114 * view[:, 2:]).expand_as(view)
    view = (view - grey) * saturation + grey
    grey = (0.299 * view[:, :1] + 0.587 * view[:, 1:2] + 0.114 * view[:, 2:]).expand_as(view)
    view = torch.where(uniform(0, 1, 1, 1, 1) < grayscale, grey, view)
    return view.clamp(0, 1)
