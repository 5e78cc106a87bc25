"""Decode once (`loader.decode: once`): the cached uint8 tensor gives the DALI stream's batches exactly, is decoded
only once, and its on-device crop + flip follows the same boxes."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from semisup.data.decoded import DecodedStream, crop_and_flip
from semisup.data.dali_graph import decode_files
from semisup.data.folders import unlabeled_files
from semisup.data.unlabeled_stream import UnlabeledStream
from test_loaders import CPU, batches_of, flipped, identity, unlabelled_dir  # noqa: F401 - the fixture

SIZE = 32


def test_full_box_is_identity_and_flip_mirrors():
    x = torch.rand(2, 3, 8, 8)
    full_start, full_end = torch.zeros(2, 2), torch.ones(2, 2)
    assert torch.allclose(crop_and_flip(x, full_start, full_end, torch.tensor([0, 0])), x, atol=1e-5)
    out = crop_and_flip(x, full_start, full_end, torch.tensor([0, 1]))
    assert torch.allclose(out[0], x[0], atol=1e-5) and torch.allclose(out[1], x[1].flip(-1), atol=1e-5)


def test_a_box_is_resampled_to_the_full_side():
    x = torch.rand(1, 3, 8, 8)
    start, end = torch.tensor([[0.0, 0.0]]), torch.tensor([[1.0, 0.5]])  # (y, x): the left half
    expected = F.interpolate(x[..., :4], size=(8, 8), mode="bilinear", align_corners=False)
    out = crop_and_flip(x, start, end, torch.tensor([0]))
    # the last column reads a little past the box (a crop of a larger image), where interpolate clamps to its edge
    assert torch.allclose(out[..., :7], expected[..., :7], atol=1e-5)


def test_decode_files_matches_the_float_pipeline(unlabelled_dir: Path):  # noqa: F811
    files = unlabeled_files(unlabelled_dir)
    as_bytes = decode_files(files, SIZE, CPU, batch_size=4)  # 11 files: a partial last batch, no padding
    assert as_bytes.shape == (11, 3, SIZE, SIZE) and as_bytes.dtype == torch.uint8
    assert [identity(x.float() / 255) for x in as_bytes] == list(range(11))


def test_stream_equals_the_dali_stream_and_decodes_once(unlabelled_dir: Path, tmp_path: Path):  # noqa: F811
    calls = []

    def counting(*args):
        calls.append(1)
        return decode_files(*args)

    dali = UnlabeledStream(unlabelled_dir, SIZE, 4, CPU, seed=3)
    cached = DecodedStream(unlabelled_dir, SIZE, 4, CPU, seed=3, cache_dir=tmp_path / "cache", decoder=counting)
    for epoch in (0, 1):
        a, b = batches_of(dali.epoch(epoch)), batches_of(cached.epoch(epoch))
        assert len(a) == len(b) == 2 and all(torch.equal(x, y) for x, y in zip(a, b))
    assert cached.cache_path.is_file() and len(calls) == 1
    again = DecodedStream(unlabelled_dir, SIZE, 4, CPU, seed=3, cache_dir=tmp_path / "cache", decoder=counting)
    batches_of(again.epoch(0))
    assert len(calls) == 1  # a later run reads the cache
    assert DecodedStream(unlabelled_dir, SIZE, 4, CPU, cache_dir=tmp_path / "cache").cache_path != cached.cache_path


def test_augmented_stream_crops_and_flips_like_the_dali_boxes(unlabelled_dir: Path, tmp_path: Path):  # noqa: F811
    cached = DecodedStream(unlabelled_dir, SIZE, 4, CPU, seed=5, augment=True, cache_dir=tmp_path / "cache")
    order = cached.sampler.epoch_order(0)
    _, _, flips = cached.sampler.epoch_augment(0)
    out = torch.cat(batches_of(cached.epoch(0)))
    assert [identity(x) for x in out] == [int(i) for i in order]
    assert [flipped(x) for x in out] == [bool(f) for f in flips]
    assert batches_of(cached.epoch(0))[0].equal(out[:4])  # reproducible per epoch


def test_a_cache_of_the_wrong_shape_is_refused(unlabelled_dir: Path, tmp_path: Path):  # noqa: F811
    cached = DecodedStream(unlabelled_dir, SIZE, 4, CPU, cache_dir=tmp_path / "cache")
    cached.cache_path.parent.mkdir(parents=True)
    torch.save(torch.zeros(2, 3, SIZE, SIZE, dtype=torch.uint8), cached.cache_path)
    with pytest.raises(RuntimeError, match="delete it"):
        cached.images()
