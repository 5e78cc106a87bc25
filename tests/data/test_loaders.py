"""DALI loaders, run for real on the CPU (device_id=None, libjpeg-turbo decoding) over small JPEG folders.

Each test image encodes its identity in its green channel (uniform over the image) and its orientation in red/blue:
the left half is red, the right half blue. So every output can be traced back to its file, and a horizontal flip
shows in the first column, whatever crop or resize happened.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from semisup.errors import PipelineError
from semisup.data.folders import CLASSES, labeled_files, unlabeled_files
from semisup.data.labeled_loader import LabeledLoader, iterate_labeled, load_labeled
from semisup.data.sampling import augment_params, keyed_rng
from semisup.data.unlabeled_stream import UnlabeledStream

CPU = torch.device("cpu")
SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
STEP = 16  # green levels between identities: JPEG keeps a flat green within a few levels


def green_of(index: int) -> int:
    return STEP * (index + 1)


def make_image(path: Path, size: tuple[int, int], green: int, *, mode: str = "RGB", fmt: str = "JPEG") -> None:
    """Left half red, right half blue, green everywhere = identity (a grayscale image is uniformly `green`)."""
    w, h = size
    if mode == "L":
        img = Image.new("L", size, green)
    else:
        arr = np.zeros((h, w, 3), np.uint8)
        arr[:, :, 1] = green
        arr[:, : w // 2, 0] = 220
        arr[:, w // 2 :, 2] = 220
        img = Image.fromarray(arr, "RGB")
    if fmt == "JPEG":
        img.save(path, format="JPEG", quality=95, subsampling=0)
    else:
        img.save(path, format=fmt)


def identity(x: torch.Tensor) -> int:
    """Index of the file an output image [3, S, S] came from, read from its mean green level."""
    g = float(x[1].mean()) * 255
    index = round(g / STEP) - 1
    assert abs(g - green_of(index)) < 6, f"green {g:.1f} is no identity level"
    return index


def flipped(x: torch.Tensor) -> bool:
    """True when the first column is blue (the right half of the original): mirrored horizontally."""
    return bool(x[2, :, 0].mean() > x[0, :, 0].mean())


# Labelled folder: 7 images (not a multiple of the batch size 3), varied sizes and aspect ratios, a grayscale JPEG,
# a PNG named .jpg and a .jpeg; names sort as strings (cat_10 before cat_2).
LABELLED = [  # (name, (w, h), mode, format)
    ("cat_0.jpg", (40, 30), "RGB", "JPEG"),
    ("cat_1.jpg", (24, 70), "RGB", "JPEG"),
    ("cat_10.jpg", (100, 100), "L", "JPEG"),
    ("cat_2.jpg", (64, 48), "RGB", "PNG"),
    ("dog_3.jpeg", (300, 120), "RGB", "JPEG"),
    ("dog_4.jpg", (33, 57), "RGB", "JPEG"),
    ("dog_5.jpg", (128, 96), "RGB", "JPEG"),
]


@pytest.fixture
def labelled_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "labeled"
    folder.mkdir()
    for i, (name, size, mode, fmt) in enumerate(LABELLED):
        make_image(folder / name, size, green_of(i), mode=mode, fmt=fmt)
    return folder


@pytest.fixture
def unlabelled_dir(tmp_path: Path) -> Path:
    """11 unlabelled images with label-free names (one PNG), plus a stray non-image file that is ignored."""
    folder = tmp_path / "unlabeled"
    folder.mkdir()
    for i in range(11):
        fmt, suffix = ("PNG", ".png") if i == 5 else ("JPEG", ".jpg")
        make_image(folder / f"{i:02d}3fa9c0d2e1b4{suffix}", (30 + 7 * i, 60 - 3 * i), green_of(i), fmt=fmt)
    (folder / "notes.txt").write_text("not an image")
    return folder


def batches_of(stream_epoch) -> list[torch.Tensor]:
    return [x.clone() for x in stream_epoch]


# ------------------------------------------------------------------------------------------------------- file lists


def test_labeled_files_sorted_with_labels_from_names(labelled_dir: Path) -> None:
    files, labels = labeled_files(labelled_dir)
    assert [p.name for p in files] == [name for name, *_ in LABELLED]
    assert labels == [0, 0, 0, 0, 1, 1, 1]
    assert CLASSES[0] == "cat" and CLASSES[1] == "dog"


@pytest.mark.parametrize("stray", ["3fa9c0d2e1b4a5f6.jpg", "bird_1.jpg", "cat.1.jpg", "dog_2.txt"])
def test_labeled_files_rejects_a_name_without_label(labelled_dir: Path, stray: str) -> None:
    make_image(labelled_dir / stray, (20, 20), 100)
    with pytest.raises(PipelineError, match=stray.replace(".", r"\.")):
        labeled_files(labelled_dir)


def test_missing_or_empty_folders_are_pipeline_errors(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="no such folder"):
        labeled_files(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(PipelineError, match="empty"):
        labeled_files(tmp_path / "empty")
    with pytest.raises(PipelineError, match="empty"):
        unlabeled_files(tmp_path / "empty")
    with pytest.raises(PipelineError, match="no such folder"):
        UnlabeledStream(tmp_path / "absent", 16, 2, CPU)


def test_unlabeled_files_sorted_images_only(unlabelled_dir: Path) -> None:
    files = unlabeled_files(unlabelled_dir)
    assert len(files) == 11
    assert files == sorted(files)
    assert all(p.suffix in (".jpg", ".png") for p in files)


# --------------------------------------------------------------------------------------------------------- labelled


def test_iterate_labeled_yields_every_image_once_in_file_order(labelled_dir: Path) -> None:
    batches = [(x.clone(), y.clone()) for x, y in iterate_labeled(labelled_dir, 16, 3, CPU)]
    assert [len(y) for _, y in batches] == [3, 3, 1]  # the last batch is partial: no wrap-around, no padding
    x = torch.cat([b[0] for b in batches])
    y = torch.cat([b[1] for b in batches])
    assert x.shape == (7, 3, 16, 16) and x.dtype == torch.float32 and x.device.type == "cpu"
    assert y.dtype == torch.int64 and y.tolist() == [0, 0, 0, 0, 1, 1, 1]
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    assert float(x.max()) > 0.8  # [0, 1], not [0, 1/255] or [0, 255]
    assert [identity(img) for img in x] == list(range(7))
    gray = x[2]  # the grayscale JPEG is decoded to three equal channels
    assert torch.allclose(gray[0], gray[1], atol=1 / 255) and torch.allclose(gray[1], gray[2], atol=1 / 255)
    assert not any(flipped(img) for i, img in enumerate(x) if i != 2)  # no augmentation by default


def test_labeled_loader_passes_repeat_exactly_even_after_an_early_break(labelled_dir: Path) -> None:
    loader = LabeledLoader(labelled_dir, 16, 3, CPU)
    assert len(loader) == 3
    first = torch.cat([x.clone() for x, _ in loader])
    for _ in loader:  # leave the second pass early: the next pass starts over from the first file
        break
    third = torch.cat([x.clone() for x, _ in loader])
    fourth = torch.cat([x.clone() for x, _ in loader])
    assert first.shape[0] == third.shape[0] == fourth.shape[0] == 7
    assert torch.equal(first, third) and torch.equal(first, fourth)


def test_batch_larger_than_the_set_is_one_batch(labelled_dir: Path) -> None:
    loader = LabeledLoader(labelled_dir, 8, 250, CPU)
    assert loader.batch_size == 7 and len(loader) == 1
    assert [len(y) for _, y in loader] == [7]


def test_load_labeled_is_one_cloned_batch(labelled_dir: Path, tmp_path: Path) -> None:
    x, y = load_labeled(labelled_dir, 16, CPU)
    assert x.shape == (7, 3, 16, 16) and y.tolist() == [0, 0, 0, 0, 1, 1, 1]
    kept = x.clone()
    # More DALI work of the same shape (which reuses output buffers) must not touch the returned batch.
    other = tmp_path / "other"
    other.mkdir()
    for i in range(7):
        make_image(other / f"dog_{i}.jpg", (20, 20), 250)
    loader = LabeledLoader(other, 16, 7, CPU, augment=True)
    for _ in range(2):
        for xb, _ in loader:
            assert xb.untyped_storage().data_ptr() != x.untyped_storage().data_ptr()
    assert torch.equal(x, kept)
    assert [identity(img) for img in x] == list(range(7))


def test_labeled_augment_is_seeded_per_pass_and_keeps_identity(tmp_path: Path) -> None:
    folder = tmp_path / "rgb"
    folder.mkdir()
    for i in range(5):
        make_image(folder / f"{CLASSES[i % 2]}_{i}.jpg", (48 + 9 * i, 40), green_of(i))
    files, _ = labeled_files(folder)
    order = [int(p.stem.split("_")[1]) for p in files]

    def passes(seed: int, n: int) -> list[torch.Tensor]:
        loader = LabeledLoader(folder, 16, 2, CPU, seed=seed, augment=True)
        return [torch.cat([x.clone() for x, _ in loader]) for _ in range(n)]

    a0, a1 = passes(seed=3, n=2)
    (b0,) = passes(seed=3, n=1)
    assert torch.equal(a0, b0)  # same seed, same pass: same crops and flips
    assert not torch.equal(a0, a1)  # the next pass draws new ones
    for p, x in enumerate((a0, a1)):
        assert [identity(img) for img in x] == order
        _, _, flips = augment_params(keyed_rng(3, 1, p), 6)  # 5 images padded to 3 batches of 2
        assert [flipped(img) for img in x] == [bool(f) for f in flips[:5]]
    plain = torch.cat([x for x, _ in LabeledLoader(folder, 16, 5, CPU)])
    assert not torch.equal(a0, plain)


# ------------------------------------------------------------------------------------------------------ unlabelled


def test_unlabeled_stream_shuffles_per_epoch_deterministically_without_labels(unlabelled_dir: Path) -> None:
    stream = UnlabeledStream(unlabelled_dir, 16, 3, CPU, seed=7)
    assert len(stream) == 3  # 11 images: 3 full batches of 3, the last 2 images dropped
    epochs = []
    for e in range(2):
        batches = []
        for x in stream.epoch(e):
            assert isinstance(x, torch.Tensor)  # x only: nothing that could carry a label
            assert x.shape == (3, 3, 16, 16) and x.dtype == torch.float32
            assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
            batches.append(x.clone())
        x = torch.cat(batches)
        ids = [identity(img) for img in x]
        names = [Path(stream.files[i]).name for i in stream.sampler.epoch_order(e)]
        assert ids == [int(name[:2]) for name in names]  # served in the epoch's permutation
        assert len(set(ids)) == 9
        assert not any(flipped(img) for img in x)
        epochs.append(x)
    assert not torch.equal(epochs[0], epochs[1])  # reshuffled every epoch

    # Replaying an epoch (a fresh stream jumping straight to it) gives exactly the same batches.
    again = UnlabeledStream(unlabelled_dir, 16, 3, CPU, seed=7)
    assert torch.equal(torch.cat(batches_of(again.epoch(1))), epochs[1])
    assert torch.equal(torch.cat(batches_of(again.epoch(0))), epochs[0])
    other_seed = UnlabeledStream(unlabelled_dir, 16, 3, CPU, seed=8)
    assert not np.array_equal(other_seed.sampler.epoch_order(0), stream.sampler.epoch_order(0))


def test_unlabeled_stream_iteration_walks_epochs_and_survives_an_early_break(unlabelled_dir: Path) -> None:
    stream = UnlabeledStream(unlabelled_dir, 16, 3, CPU, seed=1, max_batches=2)
    assert len(stream) == 2
    e0 = torch.cat(batches_of(iter(stream)))
    for _ in stream:  # epoch 1, left after one batch
        break
    e2 = torch.cat(batches_of(iter(stream)))
    assert e0.shape[0] == e2.shape[0] == 6
    want = [[int(Path(stream.files[i]).name[:2]) for i in stream.sampler.epoch_order(e)[:6]] for e in (0, 2)]
    assert [identity(img) for img in e0] == want[0]
    assert [identity(img) for img in e2] == want[1]


def test_unlabeled_augment_is_seeded_per_epoch(unlabelled_dir: Path) -> None:
    stream = UnlabeledStream(unlabelled_dir, 16, 4, CPU, seed=5, augment=True)
    e0, e1 = (torch.cat(batches_of(stream.epoch(e))) for e in (0, 1))
    replay = UnlabeledStream(unlabelled_dir, 16, 4, CPU, seed=5, augment=True)
    assert torch.equal(torch.cat(batches_of(replay.epoch(1))), e1)
    for e, x in enumerate((e0, e1)):
        names = [Path(stream.files[i]).name for i in stream.sampler.epoch_order(e)[:8]]
        assert [identity(img) for img in x] == [int(n[:2]) for n in names]
        _, _, flips = stream.sampler.epoch_augment(e)
        assert [flipped(img) for img in x] == [bool(f) for f in flips[:8]]


def test_unlabeled_shards_are_disjoint_and_equal_sized(unlabelled_dir: Path) -> None:
    shards = [UnlabeledStream(unlabelled_dir, 16, 2, CPU, seed=2, shard_id=k, num_shards=2) for k in range(2)]
    assert [len(s) for s in shards] == [2, 2]  # 11 files: 5 per shard, 2 batches of 2 each
    orders = [set(s.sampler.epoch_order(3).tolist()) for s in shards]
    assert len(orders[0]) == len(orders[1]) == 4 and not orders[0] & orders[1]
    x = torch.cat(batches_of(shards[1].epoch(3)))
    want = [int(Path(shards[1].files[i]).name[:2]) for i in shards[1].sampler.epoch_order(3)[:4]]
    assert [identity(img) for img in x] == want
    with pytest.raises(PipelineError, match="shard_id"):
        UnlabeledStream(unlabelled_dir, 16, 2, CPU, shard_id=2, num_shards=2)


def test_unlabeled_stream_needs_one_full_batch(unlabelled_dir: Path) -> None:
    with pytest.raises(PipelineError, match="no full batch"):
        UnlabeledStream(unlabelled_dir, 16, 12, CPU)


# ---------------------------------------------------------------------------------------------------------- errors


def test_undecodable_files_are_pipeline_errors(labelled_dir: Path, unlabelled_dir: Path) -> None:
    (labelled_dir / "dog_9.jpg").write_bytes(b"this is not a jpeg")
    with pytest.raises(PipelineError, match=r"dog_9\.jpg: not a decodable image"):
        list(iterate_labeled(labelled_dir, 16, 3, CPU))
    stream = UnlabeledStream(unlabelled_dir, 16, 3, CPU)
    x = next(iter(stream.epoch(0)))
    assert x.shape == (3, 3, 16, 16)
    bad = stream.files[stream.sampler.epoch_order(1)[0]]
    Path(bad).write_bytes(b"\xff\xd8 not really a jpeg")  # broken after listing
    with pytest.raises(PipelineError, match=f"{Path(bad).name}: not a decodable image"):
        list(stream.epoch(1))
    for path in stream.files:
        Path(path).unlink()  # deleted after listing
    with pytest.raises(PipelineError, match="cannot be read"):
        list(stream.epoch(0))
    with pytest.raises(PipelineError, match="cannot be read"):  # a failed pipeline is rebuilt, and fails again
        list(stream.epoch(0))


# ------------------------------------------------------------------------------------------------------ real photos


@pytest.mark.skipif(
    not (SHARED_DATA / "originals").is_dir(),
    reason=f"real photos not found at {SHARED_DATA / 'originals'} (the shared test data beside the project)",
)
def test_real_photos_decode_like_pillow(tmp_path: Path) -> None:
    originals = SHARED_DATA / "originals"
    picks = [originals / f"{c}.{n}.jpg" for c in CLASSES for n in (1, 2, 3)]
    picks = [p for p in picks if p.is_file()]
    if len(picks) < 4:
        pytest.skip(f"fewer than 4 of the expected photos (cat.1.jpg ...) in {originals}")
    folder = tmp_path / "labeled"
    folder.mkdir()
    sizes = set()
    for p in picks:
        shutil.copy(p, folder / p.name.replace(".", "_", 1))  # cat.1.jpg -> cat_1.jpg
        with Image.open(p) as img:
            sizes.add(img.size)
    assert len(sizes) > 1 and any(w != h for w, h in sizes)  # varied, non-square
    files, labels = labeled_files(folder)
    x, y = load_labeled(folder, 64, CPU)
    assert x.shape == (len(files), 3, 64, 64) and y.tolist() == labels
    for img, path in zip(x, files):
        with Image.open(path) as im:
            ref = ImageOps.exif_transpose(im).convert("RGB").resize((64, 64), Image.Resampling.BILINEAR)
        ref = torch.from_numpy(np.asarray(ref, dtype=np.float32) / 255).permute(2, 0, 1)
        diff = (img - ref).abs().mean()
        assert diff < 0.01, f"{path.name}: mean abs difference {diff:.4f} from Pillow's squash-resize"


# ------------------------------------------------------------------------------------------------------------- GPU


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (nvJPEG decoding, device='mixed')")
def test_gpu_loaders_match_the_cpu(labelled_dir: Path, unlabelled_dir: Path) -> None:
    cuda = torch.device("cuda")
    x_cpu, y_cpu = load_labeled(labelled_dir, 32, CPU)
    x_gpu, y_gpu = load_labeled(labelled_dir, 32, cuda)
    assert x_gpu.device.type == "cuda" and y_gpu.device.type == "cuda" and y_gpu.dtype == torch.int64
    assert torch.equal(y_gpu.cpu(), y_cpu)
    assert float((x_gpu.cpu() - x_cpu).abs().mean()) < 0.01  # nvJPEG vs libjpeg-turbo: close, not bit-equal
    batches = [(x.clone(), y.clone()) for x, y in iterate_labeled(labelled_dir, 16, 3, cuda)]
    assert [len(y) for _, y in batches] == [3, 3, 1]
    stream = UnlabeledStream(unlabelled_dir, 16, 4, cuda, seed=5, augment=True)
    cpu_stream = UnlabeledStream(unlabelled_dir, 16, 4, CPU, seed=5, augment=True)
    for e in range(2):
        x = torch.cat(batches_of(stream.epoch(e)))
        assert x.device.type == "cuda" and x.shape == (8, 3, 16, 16)
        x_ref = torch.cat(batches_of(cpu_stream.epoch(e)))
        assert float((x.cpu() - x_ref).abs().mean()) < 0.01  # same order, crops and flips on both devices
