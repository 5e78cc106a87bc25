import pytest
import torch

from semisup.errors import ConfigError
from semisup.models import Classifier, Generator, to_unit_range, upsampling_schedule


@pytest.mark.parametrize("size, start, factors", [
    (224, 7, [2, 2, 4, 2]),  # the published 7 -> 14 -> 28 -> 112 -> 224
    (64, 4, [2, 2, 2, 2]),
    (32, 4, [2, 2, 2]),
    (128, 4, [2, 2, 4, 2]),
])
def test_upsampling_schedule(size, start, factors):
    assert upsampling_schedule(size) == (start, factors)


@pytest.mark.parametrize("size", [32, 64, 224])
def test_generator_output_shape_and_range(size):
    torch.manual_seed(0)
    out = Generator(size, latent_dim=100, width=8)(torch.randn(2, 100))
    assert out.shape == (2, 3, size, size)
    unit = to_unit_range(out)
    assert unit.min() >= 0 and unit.max() <= 1


def test_generator_init_is_dcgan():
    weights = torch.cat([m.weight.flatten() for m in Generator(64).modules() if isinstance(m, torch.nn.ConvTranspose2d)])
    assert abs(weights.std().item() - 0.02) < 0.002 and abs(weights.mean().item()) < 0.001


def test_bad_image_size_names_the_param():
    with pytest.raises(ConfigError, match="image_size"):
        upsampling_schedule(50)


def test_classifier_logits_and_features():
    model = Classifier().eval()
    x = torch.rand(3, 3, 64, 64)
    assert model(x).shape == (3, 2)
    assert model.features(x).shape == (3, 512)
    assert torch.allclose(model.net.fc(model.features(x)), model(x), atol=1e-5)
