"""The `representative` strategy (TypiClust on hand-crafted features): balanced, deterministic, typical picks."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from semisup.labels.curation import CLASSES, read_pool
from semisup.errors import PipelineError
from semisup.labels.representative import (
    EMBED_DIM,
    FEATURE_DIM,
    choose_representative,
    embed,
    extract_features,
    select_typical,
    typicality,
)

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
MINI_ZIP = SHARED_DATA / "dogs-vs-cats-mini.zip"

# Two looks per class, each a base pattern plus small per-photo noise; outliers are a look with a large odd patch.
LOOKS = {"cat": ("stripes", "disc"), "dog": ("checks", "gradient")}
PER_LOOK = 8
OUTLIERS = 2  # per class, ids 900, 901, ...


def _base(look: str) -> np.ndarray:
    y, x = np.mgrid[0:64, 0:64]
    img = np.zeros((64, 64, 3), dtype=np.float64)
    if look == "stripes":  # red and white vertical stripes
        on = (x // 8) % 2 == 0
        img[on] = (200, 40, 40)
        img[~on] = (230, 220, 210)
    elif look == "disc":  # yellow disc on blue
        img[:] = (30, 60, 170)
        img[(x - 32) ** 2 + (y - 32) ** 2 < 18**2] = (230, 200, 40)
    elif look == "checks":  # green and black checkerboard
        on = ((x // 16) + (y // 16)) % 2 == 0
        img[on] = (40, 160, 60)
        img[~on] = (20, 20, 20)
    else:  # smooth grey gradient, top to bottom
        img[:] = (60 + 2.5 * y)[..., None]
    return img


def _photo(look: str, seed: int, outlier: bool = False) -> Image.Image:
    rng = np.random.default_rng(seed)
    img = _base(look) + rng.normal(0, 8, (64, 64, 3)) + rng.normal(0, 6)
    if outlier:  # a third of the photo covered by an odd magenta, noisy patch
        img[:, :24] = (220, 0, 200) + rng.normal(0, 60, (64, 24, 3))
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def _synthetic_pool(folder: Path) -> dict[str, dict[int, str]]:
    """Write the pool (cat_<id>.jpg, dog_<id>.jpg); returns {label: {id: look or "outlier"}}."""
    folder.mkdir(parents=True, exist_ok=True)
    truth: dict[str, dict[int, str]] = {}
    for c, label in enumerate(CLASSES):
        truth[label] = {}
        for g, look in enumerate(LOOKS[label]):
            for i in range(PER_LOOK):
                kaggle_id = 100 * g + i
                _photo(look, seed=1000 * c + kaggle_id).save(folder / f"{label}_{kaggle_id}.jpg", quality=95)
                truth[label][kaggle_id] = look
        for i in range(OUTLIERS):
            kaggle_id = 900 + i
            _photo(LOOKS[label][i % 2], seed=1000 * c + kaggle_id, outlier=True).save(folder / f"{label}_{kaggle_id}.jpg")
            truth[label][kaggle_id] = "outlier"
    return truth


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pool")
    truth = _synthetic_pool(folder)
    return read_pool(folder), truth


def _keys(choices):
    return [(c.candidate.key, c.why) for c in choices]


def test_balanced_and_deterministic(synthetic):
    pool, _ = synthetic
    first = choose_representative(pool, 4, seed=0)
    assert _keys(first) == _keys(choose_representative(pool, 4, seed=0))
    for label in CLASSES:
        mine = [c.candidate for c in first if c.candidate.label == label]
        assert len(mine) == 2 and len(set(mine)) == 2
        assert all(c in pool[label] for c in mine)
    assert all(c.why.startswith("representative: cluster ") and "typicality" in c.why for c in first)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_one_typical_photo_per_look_never_an_outlier(synthetic, seed):
    pool, truth = synthetic
    choices = choose_representative(pool, 4, seed=seed)
    for label in CLASSES:
        looks = sorted(truth[label][c.candidate.kaggle_id] for c in choices if c.candidate.label == label)
        assert looks == sorted(LOOKS[label]), f"seed {seed}: {label} picks cover {looks}"


def test_clusters_of_outliers_are_passed_over(synthetic):
    pool, truth = synthetic
    choices = choose_representative(pool, 8, seed=0)  # 4 clusters per class: the outliers get clusters of their own
    for label in CLASSES:
        looks = sorted(truth[label][c.candidate.kaggle_id] for c in choices if c.candidate.label == label)
        assert looks == sorted(LOOKS[label] * 2), f"{label} picks cover {looks}"
    assert any("pick 2" in c.why for c in choices)


def test_odd_size_and_whole_class(synthetic):
    pool, _ = synthetic
    with pytest.raises(PipelineError, match="labeled.size: 5"):  # classes are balanced: odd sizes are refused
        choose_representative(pool, 5, seed=0)
    everything = choose_representative(pool, 2 * len(pool["cat"]), seed=0)
    assert {c.candidate for c in everything} == set(pool["cat"]) | set(pool["dog"])


def test_pool_too_small(synthetic):
    pool, _ = synthetic
    with pytest.raises(PipelineError, match="labeled.size"):
        choose_representative(pool, 2 * len(pool["cat"]) + 2, seed=0)
    with pytest.raises(PipelineError, match="cat photos"):
        choose_representative({"cat": pool["cat"][:3], "dog": pool["dog"]}, 10, seed=0)


def test_unreadable_photo_is_a_pipeline_error(tmp_path):
    folder = tmp_path / "pool"
    folder.mkdir()
    for label in CLASSES:
        for i in range(3):
            _photo(LOOKS[label][0], seed=i).save(folder / f"{label}_{i}.jpg")
    (folder / "dog_7.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(PipelineError, match="dog_7.jpg"):
        choose_representative(read_pool(folder), 4, seed=0)


def test_features_of_odd_photos(tmp_path):
    paths = []
    for i, img in enumerate([Image.new("L", (300, 120), 90), Image.new("RGBA", (20, 33), (1, 2, 3, 4)), _photo("disc", 0)]):
        paths.append(tmp_path / f"{i}.png")
        img.save(paths[-1])
    features = extract_features(paths, progress=False)
    assert features.shape == (3, FEATURE_DIM) and np.isfinite(features).all()
    assert np.array_equal(features, extract_features(paths, progress=False))
    points = embed(np.random.default_rng(0).normal(size=(100, FEATURE_DIM)))
    assert points.shape == (100, EMBED_DIM) and torch.isfinite(points).all()


def test_typicality_is_highest_at_the_centre():
    grid = [[float(x), float(y)] for x in range(5) for y in range(5)]  # k = 20 neighbours of 25 lattice points
    scores = typicality(torch.tensor(grid + [[9.0, 9.0]], dtype=torch.float64))
    assert int(scores.argmax()) == grid.index([2.0, 2.0])  # the centre
    assert int(scores.argmin()) == len(grid)  # the outlier
    assert typicality(torch.zeros(1, 2)).tolist() == [0.0]


def test_select_typical_takes_cluster_centres_not_outliers():
    rng = np.random.default_rng(1)
    centres = np.array([[0.0, 0.0], [20.0, 0.0], [0.0, 20.0]])
    points = np.vstack([c + rng.normal(0, 1, (50, 2)) for c in centres] + [[[40.0, 40.0]], [[-30.0, 10.0]]])
    points = torch.from_numpy(points)
    for seed in range(3):
        picks = select_typical(points, 3, torch.Generator().manual_seed(seed))
        chosen = points[[i for i, _ in picks]].numpy()
        nearest_centre = np.linalg.norm(chosen[:, None] - centres[None], axis=2)
        assert sorted(nearest_centre.argmin(axis=1).tolist()) == [0, 1, 2]  # one per blob
        assert nearest_centre.min(axis=1).max() < 1.0  # each close to its blob's centre (sd 1)


@pytest.fixture(scope="module")
def real_pool(tmp_path_factory):
    if not MINI_ZIP.is_file():
        pytest.skip(f"real photos absent: {MINI_ZIP} (the shared Dogs vs. Cats mini set) is not beside the project")
    folder = tmp_path_factory.mktemp("real") / "pool"
    folder.mkdir()
    with zipfile.ZipFile(MINI_ZIP) as outer, zipfile.ZipFile(io.BytesIO(outer.read("train.zip"))) as inner:
        for label in CLASSES:
            for n in range(150):
                (folder / f"{label}_{n}.jpg").write_bytes(inner.read(f"train/{label}.{n}.jpg"))
    return read_pool(folder)


def test_real_photos_balanced_and_deterministic(real_pool):
    first = choose_representative(real_pool, 20, seed=0)
    assert _keys(first) == _keys(choose_representative(real_pool, 20, seed=0))
    for label in CLASSES:
        mine = {c.candidate for c in first if c.candidate.label == label}
        assert len(mine) == 10 and mine <= set(real_pool[label])
    other = choose_representative(real_pool, 20, seed=1)
    assert sorted(c.candidate.label for c in other) == ["cat"] * 10 + ["dog"] * 10
