"""The `representative` labelled-set strategy: the most typical photos of each class, chosen automatically.

For users who cannot curate the labelled set by hand. It follows TypiClust (G. Hacohen, A. Dekel and D. Weinshall,
"Active Learning on a Budget: Opposite Strategies Suit High and Low Budgets", ICML 2022, arXiv:2202.02794): with a
tiny budget, label *typical* examples that also cover the data, not uncertain ones. Per class:

1. embed every photo of the pool (below);
2. cluster the class into `size/2` clusters with k-means (k-means++ init from `seed`, a few restarts, Lloyd steps);
3. from each cluster take its most typical photo, typicality(x) = 1 / (mean distance to x's k nearest neighbours
   within the cluster + 1e-5), k = min(20, cluster size - 1). As in TypiClust, clusters smaller than
   `MIN_CLUSTER_SIZE` (a handful of outliers) are passed over: the next pick goes to the cluster with the fewest
   picks so far, the largest first, so every photo chosen is typical of a dense region.

Labels are known in the pool, so clustering is done within each class: the result is exactly class-balanced.

The embedding. TypiClust uses a self-supervised embedding (SimCLR / DINO); none can be downloaded here and training
one would cost more than the whole pipeline, so the embedding is hand-crafted, offline and deterministic. Each photo
is decoded (JPEG draft mode, then resized to 64x64 px, aspect ignored) into three groups of features:

* colour layout: the 8x8 mean RGB image (192 values): overall composition, background, lighting;
* colour histogram: a joint HSV histogram, 8 hue x 3 saturation x 3 value bins, square-rooted (72 values);
* gradient orientations (HOG-like): 9 unsigned orientation bins, magnitude-weighted with linear interpolation
  between bins, over a 4x4 grid of 16x16 cells, L2-normalised, clipped at 0.2 and renormalised (144 values):
  edges and texture (fur, grass, bars), coarse shape.

Each feature is standardised over the whole pool (both classes), each group is scaled by 1/sqrt(its size) so the
three groups weigh the same, and PCA (SVD of the covariance, `torch.linalg.svd`, component signs fixed) keeps
`EMBED_DIM` = 32 dimensions; distances are Euclidean in that space.

Limits: these features describe colour, layout and texture, not content. "Typical" here means a common kind of photo
of the class (say, a light-coloured cat indoors against a plain background), not a canonical cat; clusters group
photos by look, and breeds or poses that look alike in colour and texture merge. A self-supervised embedding would
give semantic clusters and is what the paper measures; this is a cheap, reproducible stand-in that passes over
unusual-looking photos and spreads the picks over the pool's looks. It has not been shown to beat `random` on accuracy.
Cost (2 busy CPU cores): one decode per photo, about 1.5 ms at 128 px and 2.7 ms for 500 px originals, so roughly
one to two minutes for Kaggle's 25,000; 408 floats per photo in memory (photos are never held); embedding and
clustering 23,000 photos per class take about 6 s per class.
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from .curation import CLASSES, Candidate, Choice, _check_size
from ..errors import PipelineError

SIDE = 64  # photos are squashed to SIDE x SIDE before the features are taken
LAYOUT = 8  # colour layout: LAYOUT x LAYOUT mean RGB
HSV_BINS = (8, 3, 3)  # hue, saturation, value
HOG_CELLS = 4  # HOG_CELLS x HOG_CELLS cells
HOG_BINS = 9  # unsigned orientations over 180 degrees
HOG_CLIP = 0.2
EMBED_DIM = 32
K_NN = 20  # neighbours for typicality, as in TypiClust
MIN_CLUSTER_SIZE = 5  # smaller clusters are picked from last, as in TypiClust
KMEANS_RESTARTS = 4
KMEANS_MAX_ITER = 100

GROUPS = (
    ("layout", LAYOUT * LAYOUT * 3),
    ("hsv", int(np.prod(HSV_BINS))),
    ("hog", HOG_CELLS * HOG_CELLS * HOG_BINS),
)
FEATURE_DIM = sum(size for _, size in GROUPS)


def choose_representative(pool: dict[str, list[Candidate]], size: int, seed: int) -> list[Choice]:
    """`size/2` typical photos per class, one per k-means cluster of the class (TypiClust); deterministic per seed."""
    per_class = _check_size(pool, size)
    if per_class == 0:
        return []
    candidates = [c for label in CLASSES for c in pool[label]]
    features = extract_features([c.path for c in candidates])
    embedding = embed(features)
    generator = torch.Generator().manual_seed(seed)
    choices: list[Choice] = []
    start = 0
    for label in CLASSES:
        members = pool[label]
        points = embedding[start:start + len(members)]
        start += len(members)
        for index, why in select_typical(points, per_class, generator):
            choices.append(Choice(members[index], f"representative: {why} (seed {seed})"))
    return choices


@contextmanager
def _single_thread() -> Iterator[None]:
    """Torch on one thread: these tensors are small, so threads only add overhead (seconds when the cores are busy),
    and one thread makes the rounding, hence the choice, independent of the thread count."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# --- features ---------------------------------------------------------------------------------------------------

def extract_features(paths: list[Path], progress: bool = True) -> np.ndarray:
    """(len(paths), FEATURE_DIM) float32, one decode per photo, in the order given."""
    out = np.empty((len(paths), FEATURE_DIM), dtype=np.float32)
    for row, path in enumerate(tqdm(paths, desc="representative: features", unit="img", disable=not progress)):
        out[row] = photo_features(load_small(path))
    return out


def load_small(path: Path) -> Image.Image:
    """The photo as SIDE x SIDE RGB (aspect squashed, like the training images)."""
    try:
        with Image.open(path) as img:
            img.draft("RGB", (SIDE, SIDE))  # JPEG: decode at 1/2, 1/4 or 1/8 scale, never below SIDE
            return img.convert("RGB").resize((SIDE, SIDE), Image.Resampling.BILINEAR)
    except (OSError, SyntaxError, ValueError) as exc:
        raise PipelineError(f"{path}: cannot read this pool photo ({exc}); rerun `dvc repro prepare`") from exc


def photo_features(img: Image.Image) -> np.ndarray:
    rgb = np.asarray(img, dtype=np.float32) / 255.0  # (SIDE, SIDE, 3)
    return np.concatenate([_layout(rgb), _hsv_histogram(img), _hog(rgb)]).astype(np.float32)


def _layout(rgb: np.ndarray) -> np.ndarray:
    step = SIDE // LAYOUT
    return rgb.reshape(LAYOUT, step, LAYOUT, step, 3).mean(axis=(1, 3)).ravel()


def _hsv_histogram(img: Image.Image) -> np.ndarray:
    hsv = np.asarray(img.convert("HSV"), dtype=np.int64).reshape(-1, 3)
    nh, ns, nv = HSV_BINS
    index = (hsv[:, 0] * nh // 256) * ns * nv + (hsv[:, 1] * ns // 256) * nv + hsv[:, 2] * nv // 256
    hist = np.bincount(index, minlength=nh * ns * nv).astype(np.float64)
    return np.sqrt(hist / hist.sum())


def _hog(rgb: np.ndarray) -> np.ndarray:
    gray = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    gx = np.zeros_like(gray)
    gy = np.zeros_like(gray)
    gx[:, 1:-1] = gray[:, 2:] - gray[:, :-2]
    gy[1:-1, :] = gray[2:, :] - gray[:-2, :]
    magnitude = np.hypot(gx, gy).ravel()
    angle = np.mod(np.arctan2(gy, gx), np.pi).ravel()  # unsigned, [0, pi)
    position = angle / (np.pi / HOG_BINS) - 0.5
    low = np.floor(position)
    upper_weight = position - low
    low_bin = np.mod(low, HOG_BINS).astype(np.int64)
    high_bin = np.mod(low_bin + 1, HOG_BINS)
    step = SIDE // HOG_CELLS
    rows, cols = np.divmod(np.arange(SIDE * SIDE), SIDE)
    cell = (rows // step) * HOG_CELLS + cols // step
    size = HOG_CELLS * HOG_CELLS * HOG_BINS
    hist = np.bincount(cell * HOG_BINS + low_bin, weights=magnitude * (1 - upper_weight), minlength=size)
    hist += np.bincount(cell * HOG_BINS + high_bin, weights=magnitude * upper_weight, minlength=size)
    for _ in range(2):  # normalise, clip the strongest edges, renormalise (as SIFT / HOG do)
        hist = hist / (np.linalg.norm(hist) + 1e-6)
        hist = np.minimum(hist, HOG_CLIP)
    return hist / (np.linalg.norm(hist) + 1e-6)


@_single_thread()
def embed(features: np.ndarray, dim: int = EMBED_DIM) -> torch.Tensor:
    """Standardise, weigh the feature groups equally, project on the first `dim` principal components (float64)."""
    x = torch.from_numpy(np.asarray(features, dtype=np.float64))
    x = x - x.mean(dim=0)
    std = x.std(dim=0) if len(x) > 1 else torch.ones(x.shape[1], dtype=x.dtype)
    x = x / torch.where(std > 1e-8, std, torch.ones_like(std))
    weights, start = torch.empty(x.shape[1], dtype=x.dtype), 0
    for _, size in GROUPS:
        weights[start:start + size] = size ** -0.5
        start += size
    x = x * weights
    dim = max(1, min(dim, x.shape[1], len(x) - 1))
    components = torch.linalg.svd(x.T @ x).U[:, :dim]  # covariance is symmetric PSD: U holds its eigenvectors
    largest = components.abs().argmax(dim=0)
    signs = torch.sign(components[largest, torch.arange(dim)])
    components = components * torch.where(signs == 0, torch.ones_like(signs), signs)
    return x @ components


# --- clustering and typicality -----------------------------------------------------------------------------------

@_single_thread()
def kmeans(points: torch.Tensor, k: int, generator: torch.Generator, restarts: int = KMEANS_RESTARTS) -> torch.Tensor:
    """Cluster labels (n,) of the best of `restarts` seeded k-means++ runs (lowest within-cluster sum of squares)."""
    best_labels, best_inertia = None, float("inf")
    for _ in range(restarts):
        centres = _kmeans_pp(points, k, generator)
        labels = torch.full((len(points),), -1, dtype=torch.long)
        for _ in range(KMEANS_MAX_ITER):
            new_labels = torch.cdist(points, centres).argmin(dim=1)
            if torch.equal(new_labels, labels):
                break
            labels = new_labels
            centres = _update_centres(points, labels, centres)
        inertia = float(((points - centres[labels]) ** 2).sum())
        if inertia < best_inertia - 1e-9:
            best_labels, best_inertia = labels, inertia
    return best_labels


def _kmeans_pp(points: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    n = len(points)
    chosen = [int(torch.randint(n, (1,), generator=generator))]
    nearest = ((points - points[chosen[0]]) ** 2).sum(dim=1)
    for _ in range(1, k):
        weights = nearest.clone()
        weights[chosen] = 0
        if float(weights.sum()) <= 0:  # duplicates only: any photo not yet taken
            weights = torch.ones(n, dtype=points.dtype)
            weights[chosen] = 0
        chosen.append(int(torch.multinomial(weights, 1, generator=generator)))
        nearest = torch.minimum(nearest, ((points - points[chosen[-1]]) ** 2).sum(dim=1))
    return points[chosen].clone()


def _update_centres(points: torch.Tensor, labels: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    k = len(centres)
    sums = torch.zeros_like(centres).index_add_(0, labels, points)
    counts = torch.bincount(labels, minlength=k).to(points.dtype)
    new = sums / counts.clamp(min=1).unsqueeze(1)
    empty = (counts == 0).nonzero().flatten().tolist()
    if empty:  # an empty cluster restarts at the photos farthest from their centres
        spread = ((points - new[labels]) ** 2).sum(dim=1)
        for cluster, index in zip(empty, spread.argsort(descending=True, stable=True).tolist()):
            new[cluster] = points[index]
    return new


@_single_thread()
def typicality(points: torch.Tensor, k_nn: int = K_NN, chunk: int = 1024) -> torch.Tensor:
    """1 / (mean Euclidean distance to the k = min(k_nn, n-1) nearest neighbours + 1e-5); 0 for a lone point."""
    n = len(points)
    k = min(k_nn, n - 1)
    if k < 1:
        return torch.zeros(n, dtype=points.dtype)
    out = torch.empty(n, dtype=points.dtype)
    for start in range(0, n, chunk):  # bounded memory: chunk x n distances at a time
        distances = torch.cdist(points[start:start + chunk], points)
        nearest = distances.topk(k + 1, dim=1, largest=False).values[:, 1:]  # drop the point itself
        out[start:start + chunk] = 1.0 / (nearest.mean(dim=1) + 1e-5)
    return out


@_single_thread()
def select_typical(points: torch.Tensor, count: int, generator: torch.Generator) -> list[tuple[int, str]]:
    """`count` (index, why) pairs: k-means into `count` clusters, then the most typical photo of each (TypiClust)."""
    n = len(points)
    if count >= n:
        return [(i, f"whole class taken ({n} photos)") for i in range(n)]
    labels = kmeans(points, count, generator)
    sizes = torch.bincount(labels, minlength=count)
    order = sorted(range(count), key=lambda c: (-int(sizes[c]), c))  # clusters numbered by size, largest first
    members = {c: (labels == c).nonzero().flatten() for c in order}
    scores = {c: typicality(points[members[c]]) for c in order if len(members[c])}
    ranked = {c: scores[c].argsort(descending=True, stable=True).tolist() for c in scores}
    picks: dict[int, int] = {c: 0 for c in scores}
    chosen: list[tuple[int, str]] = []
    while len(chosen) < count:
        open_ = [c for c in scores if picks[c] < len(ranked[c])]
        dense = [c for c in open_ if len(members[c]) >= MIN_CLUSTER_SIZE] or open_
        cluster = min(dense, key=lambda c: (picks[c], order.index(c)))  # fewest picks, then largest
        local = ranked[cluster][picks[cluster]]
        picks[cluster] += 1
        extra = f", pick {picks[cluster]}" if picks[cluster] > 1 else ""
        why = (
            f"cluster {order.index(cluster) + 1}/{count} ({len(members[cluster])} photos{extra}), "
            f"typicality {float(scores[cluster][local]):.3g}"
        )
        chosen.append((int(members[cluster][local]), why))
    return chosen
