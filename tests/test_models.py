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


def test_small_stem_keeps_resolution_and_is_still_resnet18():
    small, imagenet = Classifier(stem="small").eval(), Classifier().eval()
    x = torch.rand(2, 3, 32, 32)
    n = small.net
    assert n.layer4(n.layer3(n.layer2(n.layer1(n.maxpool(n.relu(n.bn1(n.conv1(x)))))))).shape[-1] == 4  # 32 / 8
    m = imagenet.net
    assert m.layer4(m.layer3(m.layer2(m.layer1(m.maxpool(m.relu(m.bn1(m.conv1(x)))))))).shape[-1] == 1  # 32 / 32
    assert small(x).shape == (2, 2) and small.features(x).shape == (2, 512)
    assert small.net.conv1.kernel_size == (3, 3) and small.net.conv1.stride == (1, 1)
    n_small = sum(p.numel() for p in small.parameters())
    n_big = sum(p.numel() for p in imagenet.parameters())
    assert n_big - n_small == 64 * 3 * (49 - 9)  # only the first convolution differs


def test_unknown_stem_is_a_config_error():
    import pytest

    from semisup.errors import ConfigError

    with pytest.raises(ConfigError, match="model.stem"):
        Classifier(stem="tiny")
