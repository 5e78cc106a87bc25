"""What the loaders draw at random, drawn in Python from (seed, purpose, pass or epoch) alone: the order of the
unlabelled images and the crop boxes and flips. So a pass or an epoch replays exactly, and the CPU, the GPU, the DALI
graph and the decoded tensor all see the same draws.

Optional augmentation: a random resized crop (area 0.6-1 of the image, aspect 3/4-4/3 relative to the image) and a
horizontal flip. The graph that applies them (a resize over a relative ROI, then a mirror flag) is `dali_graph`'s;
the decode-once stream applies the same boxes with `decoded.crop_and_flip`.
"""
from __future__ import annotations

import math

import numpy as np

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
