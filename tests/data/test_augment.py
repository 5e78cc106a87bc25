"""FixMatch's strong view: per-image RandAugment + cutout, shape and range kept, reproducible under a seed."""
import torch

from semisup.data.augment import strong_augmenter, strong_views


def test_strong_views_keep_shape_and_range_and_are_seeded():
    weak = torch.rand(6, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    augment = strong_augmenter(2, 10)
    torch.manual_seed(1)
    a = strong_views(weak, augment)
    torch.manual_seed(1)
    b = strong_views(weak, augment)
    assert a.shape == weak.shape and a.dtype == torch.float32
    assert 0 <= a.min() and a.max() <= 1
    assert torch.equal(a, b)
    assert not torch.allclose(a, weak, atol=0.05)


def test_each_image_gets_its_own_draw():
    same = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0)).repeat(8, 1, 1, 1)
    torch.manual_seed(0)
    out = strong_views(same, strong_augmenter(2, 10))
    assert len({tuple(img.flatten()[:64].tolist()) for img in out}) > 1
