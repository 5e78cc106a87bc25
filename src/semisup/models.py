"""The article's two networks: torchvision's ResNet18 (K = 2 logits, not pretrained) and a DCGAN-style generator."""
from __future__ import annotations

import torch
import torchvision
from torch import nn

from .errors import ConfigError


class Classifier(nn.Module):
    """ResNet18 classifier/discriminator; `features` exposes the penultimate layer (for feature matching).

    `stem="small"` swaps the ImageNet stem (7x7 stride-2 conv + max-pool, which leaves 1x1 maps at layer4 for a
    32-px input) for a 3x3 stride-1 conv without max-pool, as ResNets for CIFAR do; the rest is unchanged.
    """

    def __init__(self, num_classes: int = 2, stem: str = "imagenet"):
        super().__init__()
        if stem not in ("imagenet", "small"):
            raise ConfigError(f"model.stem: {stem!r} is not a stem; use imagenet or small")
        self.stem = stem
        self.net = torchvision.models.resnet18(weights=None, num_classes=num_classes)
        if stem == "small":
            self.net.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
            nn.init.kaiming_normal_(self.net.conv1.weight, mode="fan_out", nonlinearity="relu")
            self.net.maxpool = nn.Identity()

    def features(self, x: torch.Tensor) -> torch.Tensor:
        n = self.net
        x = n.maxpool(n.relu(n.bn1(n.conv1(x))))
        x = n.layer4(n.layer3(n.layer2(n.layer1(x))))
        return torch.flatten(n.avgpool(x), 1)

    def forward(self, x: torch.Tensor, features: bool = False) -> torch.Tensor:
        """Logits, or with `features=True` the penultimate features (a forward argument, so wrappers such as DDP
        and torch.compile see it as one call)."""
        return self.features(x) if features else self.net(x)


def upsampling_schedule(image_size: int) -> tuple[int, list[int]]:
    """Start side and per-layer upsampling factors: image_size = start * 2^n with start >= 4; at most four layers, so
    224 becomes the published 7 -> 14 -> 28 -> 112 -> 224 (one x4 layer) and 64 the DCGAN 4 -> 8 -> 16 -> 32 -> 64."""
    if image_size % 8 or image_size < 32:
        raise ConfigError(f"image_size: {image_size} is not allowed; the generator needs a multiple of 8, at least 32")
    start, doublings = image_size, 0
    while start % 2 == 0 and start // 2 >= 4:
        start, doublings = start // 2, doublings + 1
    factors = [2] * doublings
    while len(factors) > 4:  # merge middle layers, as the published 224-px generator does (28 -> 112)
        factors = factors[:2] + [factors[2] * factors[3]] + factors[4:]
    return start, factors


class Generator(nn.Module):
    """DCGAN generator: z -> (start x start) -> ... -> image_size, BatchNorm + ReLU, tanh output in [-1, 1]."""

    def __init__(self, image_size: int, latent_dim: int = 100, width: int = 64):
        super().__init__()
        start, factors = upsampling_schedule(image_size)
        self.latent_dim = latent_dim
        channels = [width * 2 ** (len(factors) - 1 - i) for i in range(len(factors))] + [3]
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim, channels[0], start, 1, 0, bias=False),
            nn.BatchNorm2d(channels[0]),
            nn.ReLU(True),
        ]
        for i, factor in enumerate(factors):
            last = i == len(factors) - 1
            conv = (nn.ConvTranspose2d(channels[i], channels[i + 1], 4, 2, 1, bias=False) if factor == 2
                    else nn.ConvTranspose2d(channels[i], channels[i + 1], 4, 4, 0, bias=False))
            layers += [conv, nn.Tanh()] if last else [conv, nn.BatchNorm2d(channels[i + 1]), nn.ReLU(True)]
        self.net = nn.Sequential(*layers)
        self.apply(_dcgan_init)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(z.shape[0], self.latent_dim, 1, 1))


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """Generator output (tanh, [-1, 1]) -> the classifier's [0, 1], as the published code does."""
    return (images + 1) / 2


def _dcgan_init(module: nn.Module) -> None:
    """Weights ~ N(0, 0.02); BatchNorm scale ~ N(1, 0.02), bias 0 (Radford et al. 2016)."""
    if isinstance(module, (nn.ConvTranspose2d, nn.Conv2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)
