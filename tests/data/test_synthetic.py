"""The stand-in data set: deterministic, laid out exactly like Kaggle's dogs-vs-cats.zip, and a real learning problem."""
from __future__ import annotations

import hashlib
import io
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from semisup.config import SyntheticConfig
from semisup.data.images import inspect_image
from semisup.data.sources import iter_entries, parse_name
from semisup.data.synthetic import JPEG_QUALITY, hidden_label, write_synthetic_zip

SMALL = SyntheticConfig(per_class=4, unlabeled=5, size=32)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_config_and_seed_give_identical_bytes(tmp_path):
    a = write_synthetic_zip(SMALL, 7, tmp_path / "a" / "dogs-vs-cats.zip")
    b = write_synthetic_zip(SMALL, 7, tmp_path / "b" / "dogs-vs-cats.zip")
    assert a == tmp_path / "a" / "dogs-vs-cats.zip"
    assert _sha(a) == _sha(b)
    assert not list(tmp_path.rglob("*.tmp"))  # written atomically, nothing left behind


def test_seed_and_config_change_the_data(tmp_path):
    base = _sha(write_synthetic_zip(SMALL, 7, tmp_path / "a.zip"))
    assert _sha(write_synthetic_zip(SMALL, 8, tmp_path / "b.zip")) != base
    bigger = SyntheticConfig(per_class=5, unlabeled=5, size=32)
    assert _sha(write_synthetic_zip(bigger, 7, tmp_path / "c.zip")) != base


def test_an_image_does_not_depend_on_how_many_are_drawn(tmp_path):
    small = zipfile.ZipFile(write_synthetic_zip(SMALL, 3, tmp_path / "a.zip"))
    big = zipfile.ZipFile(write_synthetic_zip(SyntheticConfig(per_class=6, unlabeled=9, size=32), 3, tmp_path / "b.zip"))
    for inner, member in (("train.zip", "train/dog.3.jpg"), ("test1.zip", "test1/5.jpg")):
        one = zipfile.ZipFile(io.BytesIO(small.read(inner))).read(member)
        two = zipfile.ZipFile(io.BytesIO(big.read(inner))).read(member)
        assert one == two


def test_layout_is_kaggles(tmp_path):
    path = write_synthetic_zip(SMALL, 0, tmp_path / "dogs-vs-cats.zip")
    with zipfile.ZipFile(path) as outer:
        assert outer.namelist() == ["sampleSubmission.csv", "test1.zip", "train.zip"]
        assert all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in outer.infolist())
        train = zipfile.ZipFile(io.BytesIO(outer.read("train.zip")))
        test1 = zipfile.ZipFile(io.BytesIO(outer.read("test1.zip")))
        submission = outer.read("sampleSubmission.csv").decode()
    expected_train = sorted(f"train/{c}.{i}.jpg" for c in ("cat", "dog") for i in range(4))
    assert train.namelist() == ["train/", *expected_train]
    assert test1.namelist() == ["test1/", *sorted(f"test1/{i}.jpg" for i in range(1, 6))]
    assert submission == "id,label\n1,0\n2,0\n3,0\n4,0\n5,0\n"


def test_the_ingestion_code_reads_every_image(tmp_path):
    path = write_synthetic_zip(SMALL, 0, tmp_path / "dogs-vs-cats.zip")
    names, labels, pixels = [], [], set()
    for entry in iter_entries(path):
        names.append(entry.name)
        identity = parse_name(entry.name)
        if identity is None:
            continue
        check = inspect_image(entry.read())
        assert check.reason is None and not check.converted, entry.name  # a plain RGB JPEG, used as it is
        assert (check.width, check.height) == (32, 32)
        labels.append(identity.label)
        pixels.add(check.pixel_sha256)
    assert names[0] == "dogs-vs-cats.zip/sampleSubmission.csv"
    assert "dogs-vs-cats.zip/test1.zip/test1/5.jpg" in names
    assert "dogs-vs-cats.zip/train.zip/train/cat.0.jpg" in names
    assert Counter(labels) == {"cat": 4, "dog": 4, None: 5}
    assert len(pixels) == 13  # no duplicate images


@pytest.mark.parametrize("size", [16, 64, 100])
def test_images_have_the_configured_size(tmp_path, size):
    path = write_synthetic_zip(SyntheticConfig(per_class=2, unlabeled=1, size=size), 1, tmp_path / "d.zip")
    with zipfile.ZipFile(path) as outer:
        for inner in ("train.zip", "test1.zip"):
            with zipfile.ZipFile(io.BytesIO(outer.read(inner))) as archive:
                for name in archive.namelist()[1:]:
                    with Image.open(io.BytesIO(archive.read(name))) as img:
                        assert (img.format, img.mode, img.size) == ("JPEG", "RGB", (size, size))
    assert 50 <= JPEG_QUALITY <= 100


def test_no_unlabelled_images(tmp_path):
    path = write_synthetic_zip(SyntheticConfig(per_class=2, unlabeled=0, size=16), 0, tmp_path / "d.zip")
    with zipfile.ZipFile(path) as outer:
        assert zipfile.ZipFile(io.BytesIO(outer.read("test1.zip"))).namelist() == ["test1/"]
        assert outer.read("sampleSubmission.csv") == b"id,label\n"


def test_generation_leaves_global_random_state_alone(tmp_path):
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    write_synthetic_zip(SMALL, 0, tmp_path / "d.zip")
    assert (np.random.get_state()[1] == before).all()


def test_hidden_test1_labels_are_roughly_balanced():
    labels = [hidden_label(0, i) for i in range(1, 1001)]
    assert set(labels) == {0, 1}
    assert 0.45 < np.mean(labels) < 0.55


# --- a real learning problem: learnable from 100 labels, but not trivially, with structure in unlabelled images ---


def _orientation_histograms(images: np.ndarray, bins: int = 8) -> np.ndarray:
    """Global histogram of edge orientations, weighted by edge strength: position- and colour-invariant shape cues."""
    grey = images.mean(-1)
    gy, gx = np.gradient(grey, axis=(1, 2))
    magnitude = np.hypot(gx, gy)
    which = np.minimum((np.mod(np.arctan2(gy, gx), np.pi) / np.pi * bins).astype(int), bins - 1)
    hist = np.stack([(magnitude * (which == k)).sum((1, 2)) for k in range(bins)], 1)
    return hist / hist.sum(1, keepdims=True)


def _nearest_centroid_accuracy(train: np.ndarray, y: np.ndarray, test: np.ndarray, y_test: np.ndarray) -> float:
    mean, std = train.mean(0), train.std(0) + 1e-6
    train, test = (train - mean) / std, (test - mean) / std
    centroids = np.stack([train[y == k].mean(0) for k in (0, 1)])
    predicted = ((test[:, None, :] - centroids[None]) ** 2).sum(-1).argmin(1)
    return float((predicted == y_test).mean())


@pytest.fixture(scope="module")
def learning_problem(tmp_path_factory):
    """250 images per class and 400 unlabelled at 32 px, read back through the real ingestion code."""
    path = write_synthetic_zip(SyntheticConfig(per_class=250, unlabeled=400, size=32), 0,
                               tmp_path_factory.mktemp("syn") / "dogs-vs-cats.zip")
    labelled = {"cat": {}, "dog": {}}
    unlabelled = {}
    for entry in iter_entries(path):
        identity = parse_name(entry.name)
        if identity is None:
            continue
        pixels = np.asarray(Image.open(io.BytesIO(entry.read())).convert("RGB"), dtype=np.float32)
        (labelled[identity.label] if identity.label else unlabelled)[identity.kaggle_id] = pixels
    return labelled, unlabelled


def _split(labelled):
    """100 labels (ids 200..249 of each class) to learn from, 400 held out (ids 0..199 of each class)."""
    def take(ids):
        x = np.stack([labelled[c][i] for c in ("cat", "dog") for i in ids])
        return x, np.repeat([0, 1], len(ids))

    return take(range(200, 250)) + take(range(200))


def test_shape_is_learnable_from_100_labels_but_not_solved(learning_problem):
    # Measured (seed 0, 32 px): ~0.78 for this classifier; a small CNN trained on the same 100 labels gets ~0.65-0.7.
    train, y, test, y_test = _split(learning_problem[0])
    accuracy = _nearest_centroid_accuracy(_orientation_histograms(train), y, _orientation_histograms(test), y_test)
    assert 0.65 < accuracy < 0.92


def test_no_shortcut_in_raw_pixels(learning_problem):
    # colour, position and background carry no class information: raw pixels are at chance (measured ~0.5)
    train, y, test, y_test = _split(learning_problem[0])
    accuracy = _nearest_centroid_accuracy(train.reshape(len(train), -1), y, test.reshape(len(test), -1), y_test)
    assert accuracy < 0.6


def test_unlabelled_images_cluster_by_class(learning_problem):
    # 2-means on the unlabelled images alone, no labels at all, recovers the hidden classes well above chance (~0.78)
    unlabelled = learning_problem[1]
    ids = sorted(unlabelled)
    hidden = np.array([hidden_label(0, i) for i in ids])
    features = _orientation_histograms(np.stack([unlabelled[i] for i in ids]))
    features = (features - features.mean(0)) / features.std(0)
    rng = np.random.default_rng(0)
    best_inertia, best = np.inf, None
    for _ in range(10):
        centres = features[rng.choice(len(features), 2, replace=False)]
        for _ in range(30):
            assign = ((features[:, None] - centres[None]) ** 2).sum(-1).argmin(1)
            if len(set(assign.tolist())) < 2:
                break
            centres = np.stack([features[assign == k].mean(0) for k in (0, 1)])
        inertia = ((features - centres[assign]) ** 2).sum()
        if inertia < best_inertia:
            best_inertia, best = inertia, assign
    agreement = float((best == hidden).mean())
    assert max(agreement, 1 - agreement) > 0.65


def test_without_clutter_the_animal_is_alone_and_larger_on_a_plain_background():
    """`clutter: false` drops the gradient, blotches, distractors, occlusion and light direction: the flattest corner
    of every image (the animal cannot reach all four) is then flat but for pixel noise, unlike the cluttered image of
    the same draw; and the animal covers more of the picture (60-85% of the side, not 36-56%)."""
    from semisup.data.synthetic import render_image

    def flattest_corner(img):  # the smallest spread of 3x3-block means over the four 12x12 corners (noise averages out)
        a = np.asarray(img, dtype=np.float64).mean(-1)
        corners = (a[:12, :12], a[:12, -12:], a[-12:, :12], a[-12:, -12:])
        return min(float(c.reshape(4, 3, 4, 3).mean((1, 3)).std()) for c in corners)

    def animal_share(img):  # plain only: pixels far from the background colour (the median of the 4x4 corners)
        a = np.asarray(img, dtype=np.float64)
        corners = np.concatenate([a[:4, :4], a[:4, -4:], a[-4:, :4], a[-4:, -4:]]).reshape(-1, 3)
        return float((np.linalg.norm(a - np.median(corners, 0), axis=-1) > 40).mean())

    plain = [render_image(0, 1, k % 2, k, 64, clutter=False) for k in range(30)]
    busy = [render_image(0, 1, k % 2, k, 64, clutter=True) for k in range(30)]
    assert max(flattest_corner(i) for i in plain) < 2.0  # measured 1.5 (noise only)
    assert np.median([flattest_corner(i) for i in busy]) > 1.5 * np.median([flattest_corner(i) for i in plain])
    # measured 0.31; an animal 36-56% of the side (the cluttered size) would cover about (0.46 / 0.725)^2 as much
    assert np.mean([animal_share(i) for i in plain]) > 0.22
    assert render_image(0, 1, 0, 3, 32, clutter=False).tobytes() == render_image(0, 1, 0, 3, 32, clutter=False).tobytes()
