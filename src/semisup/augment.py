"""FixMatch's strong view: torchvision's RandAugment (and a cutout) on top of the weak view DALI already made.

The weak view (random resized crop + flip) comes out of the DALI graph; RandAugment draws its ops per image, so it
runs image by image on the batch's own device (GPU or CPU) with torch's RNG, seeded by the run.
"""
from __future__ import annotations

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
