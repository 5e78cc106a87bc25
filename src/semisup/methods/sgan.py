"""The semi-supervised GAN (Salimans et al. 2016) as the published code ran it: the ResNet18 is the discriminator,
with K real-class logits and D(x) = Z / (Z + 1), Z = sum of exp(logits) (`semisup.methods.losses`), and a DCGAN generator.

Per step, as published: the classifier's passes over the labelled, unlabelled and generated-and-detached batches
(`gan.passes`), one classifier update; then one generator update through the updated classifier on the same
generated batch ("look real", or feature matching). A round is one pass over the unlabelled set (at most
`gan.max_steps_per_epoch` steps), validated at its end. The benchmark times exactly this step.
"""
from __future__ import annotations

import contextlib
from pathlib import Path
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Literal

import torch
from torch import nn
from torchvision.utils import save_image

from . import losses
from ..typed import require
from ..config import BIG, LR_MAX, Params
from ..training.ema import evaluated, make_ema
from ..training.execution import Execution
from ..files import atomic_path
from ..models import Classifier, Generator, to_unit_range
from ..training.schedules import make_scheduler
from ..training.contract import NOISE_STRIDE, LabeledData, Method, Rounds, Unlabeled
from .base import round_steps


@dataclass(frozen=True)
class GanConfig:
    epochs: int = 100  # one epoch = one pass over the unlabelled set
    lr: float = 0.002  # Adam, both networks
    beta1: float = 0.5
    beta2: float = 0.999
    batch_size: int = 64  # unlabelled and generated images per step
    latent_dim: int = 100
    generator_width: int = 64  # channels of the generator's last hidden layer (DCGAN ngf)
    grid_every: int = 5  # save a grid of generated images every N epochs
    max_steps_per_epoch: int = 0  # 0 = the whole unlabelled set; > 0 caps an epoch (quick runs)
    checkpoint_every: int = 1  # epochs between checkpoints
    generator_loss: Literal["standard", "feature_matching"] = "standard"  # feature matching: Salimans et al. §3.1
    passes: Literal["separate", "joint", "real_joint"] = "separate"  # how the classifier sees its three batches
    unsupervised_weight: float = 0.5  # weight of each unsupervised term (real, fake) beside the supervised one; published 0.5

    def check(self, section: str) -> None:
        require(self.checkpoint_every > 0, f"{section}.checkpoint_every", self.checkpoint_every, "use an integer > 0")
        require(0 < self.epochs <= BIG, f"{section}.epochs", self.epochs, f"use an integer from 1 to {BIG}")
        require(0 < self.lr <= LR_MAX, f"{section}.lr", self.lr, f"use a number in (0, {LR_MAX}] (published: 0.002)")
        require(0 <= self.beta1 < 1, f"{section}.beta1", self.beta1, "use 0 <= beta1 < 1")
        require(0 <= self.beta2 < 1, f"{section}.beta2", self.beta2, "use 0 <= beta2 < 1")
        require(0 < self.batch_size <= 65536, f"{section}.batch_size", self.batch_size, "use an integer from 1 to 65536")
        require(0 < self.latent_dim <= 4096, f"{section}.latent_dim", self.latent_dim, "use an integer from 1 to 4096")
        require(8 <= self.generator_width <= 1024, f"{section}.generator_width", self.generator_width,
                "use an integer from 8 to 1024")
        require(self.grid_every > 0, f"{section}.grid_every", self.grid_every, "use an integer > 0")
        require(0 <= self.unsupervised_weight <= 100, f"{section}.unsupervised_weight", self.unsupervised_weight,
                "use a weight from 0 (supervised only) to 100 (published: 0.5)")
        require(self.max_steps_per_epoch >= 0, f"{section}.max_steps_per_epoch", self.max_steps_per_epoch,
                "use 0 (whole set) or more")


@contextlib.contextmanager
def running_stats_frozen(module: nn.Module, frozen: bool = True) -> Iterator[None]:
    """BatchNorm layers keep normalising with the batch's own statistics but leave their running estimates (what
    evaluation uses) alone: momentum 0 for the duration."""
    layers = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)] if frozen else []
    saved = [m.momentum for m in layers]
    for m in layers:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, momentum in zip(layers, saved):
            m.momentum = momentum


def classifier_passes(classifier: nn.Module, x_labeled: torch.Tensor, x_unlabeled: torch.Tensor, fake: torch.Tensor,
                      scheme: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Logits of the labelled, unlabelled and generated batches. In train mode BatchNorm normalises each pass with
    its own batch statistics and folds them into the running statistics that evaluation uses: `separate` is the
    published three passes (half of the running-statistics updates then come from generated images: the classifier's
    pass over them and the generator's pass through the classifier), `joint` one pass
    over all three (every batch normalised alike), `real_joint` one pass over the real images and one over the
    generated that leaves the running statistics alone, so evaluation normalises with real images' statistics."""
    if scheme == "separate":
        return classifier(x_labeled), classifier(x_unlabeled), classifier(fake)
    sizes = [x_labeled.shape[0], x_unlabeled.shape[0], fake.shape[0]]
    if scheme == "joint":
        return tuple(classifier(torch.cat([x_labeled, x_unlabeled, fake])).split(sizes))
    if scheme == "real_joint":
        lab, unl = classifier(torch.cat([x_labeled, x_unlabeled])).split(sizes[:2])
        with running_stats_frozen(classifier):
            return lab, unl, classifier(fake)
    raise ValueError(f"gan.passes: {scheme!r} is not a pass scheme; use separate, joint or real_joint")


class SemiSupervisedGan(Method):
    """The networks, optimisers and noise of the semi-supervised GAN, and one step of it. `samples_dir` receives a
    grid of generated images every `gan.grid_every` rounds and at the end (None: no grids)."""

    name = "gan"
    Config = GanConfig
    uses_unlabeled = True

    def __init__(self, params: Params, exe: Execution, data: LabeledData, unlabeled: Unlabeled,
                 samples_dir: Path | None = None):
        cfg, t = params.gan, params.train
        self.cfg, self.exe, self.data, self.unlabeled, self.samples_dir = cfg, exe, data, unlabeled, samples_dir
        self.rounds = Rounds(cfg.epochs, unlabeled.steps, 1, cfg.checkpoint_every)
        self.images_per_step = cfg.batch_size * exe.ranks.world_size
        torch.manual_seed(params.seed)
        self.classifier = exe.place(Classifier(stem=params.model.stem))
        self.generator = exe.place(Generator(params.image_size, cfg.latent_dim, cfg.generator_width))
        self._d = exe.trainable(self.classifier)  # the classifier update: gradients averaged over ranks
        self._g = exe.trainable(self.generator)
        # The generator update reads the classifier without syncing its (unused) gradients across ranks.
        self._d_for_g = self._d if not exe.ranks.distributed else exe.compiled(self.classifier)
        betas = (cfg.beta1, cfg.beta2)
        self.opt_d = torch.optim.Adam(self.classifier.parameters(), lr=cfg.lr, betas=betas)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=cfg.lr, betas=betas)
        total = self.rounds.total_steps
        self.sched_d = make_scheduler(self.opt_d, total, t.schedule, t.warmup_steps)
        self.sched_g = make_scheduler(self.opt_g, total, t.schedule, t.warmup_steps)
        self.ema = make_ema(self.classifier, t.ema)
        self.noise = torch.Generator(device=exe.device).manual_seed(params.seed + 1 + NOISE_STRIDE * exe.ranks.rank)
        self.fixed_z = torch.randn(64, cfg.latent_dim, device=exe.device, generator=self.noise)  # for the grids

    @classmethod
    def stream_shape(cls, params: Params) -> tuple[int, bool, int]:
        return params.gan.batch_size, params.train.augment, params.gan.max_steps_per_epoch

    @classmethod
    def unlabeled_per_step(cls, params: Params) -> int:
        return params.gan.batch_size

    @classmethod
    def budget_overrides(cls, params: Params, images: int, validations: int) -> list[str]:
        steps = round_steps(cls.name, images, cls.unlabeled_per_step(params), validations)
        return [f"gan.epochs={validations}", f"gan.max_steps_per_epoch={steps}"]

    def batches(self, round_: int) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        for x_unlabeled in self.unlabeled.batches(round_):
            yield (*self.data.batch(), x_unlabeled)

    def step(self, batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        cfg, exe = self.cfg, self.exe
        x_labeled, y_labeled, x_unlabeled = batch
        x_labeled, x_unlabeled = exe.images(x_labeled), exe.images(x_unlabeled)
        z = torch.randn(x_unlabeled.shape[0], cfg.latent_dim, device=exe.device, generator=self.noise)
        with exe.autocast():
            fake = exe.images(to_unit_range(self._g(z)))
            logits = classifier_passes(self._d, x_labeled, x_unlabeled, fake.detach(), cfg.passes)
            loss_d, parts = losses.discriminator_loss(logits[0].float(), y_labeled, logits[1].float(), logits[2].float(),
                                                      cfg.unsupervised_weight)
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        self.sched_d.step()
        if self.ema is not None:
            self.ema.update_parameters(self.classifier)
        with exe.autocast(), running_stats_frozen(self.classifier, cfg.passes == "real_joint"):
            if cfg.generator_loss == "feature_matching":  # one pass: real and generated features share BatchNorm statistics
                real_features, fake_features = self._d_for_g(torch.cat([x_unlabeled, fake]), features=True).float().chunk(2)
                loss_g = losses.feature_matching_loss(real_features.detach(), fake_features)
            else:
                loss_g = losses.generator_loss(self._d_for_g(fake).float())
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        self.sched_g.step()
        return {f"{k}_loss": v.detach() for k, v in {**parts, "generator": loss_g}.items()}

    def judged(self) -> nn.Module:
        return evaluated(self.classifier, self.ema)

    kept_names = ("classifier", "generator")

    def kept(self) -> tuple[nn.Module, ...]:
        return self.judged(), self.generator

    def modules(self) -> tuple[nn.Module, ...]:
        return self.classifier, self.generator

    def state_dict(self) -> dict[str, Any]:
        return {"classifier": self.classifier.state_dict(), "generator": self.generator.state_dict(),
                "opt_d": self.opt_d.state_dict(), "opt_g": self.opt_g.state_dict(),
                "sched_d": self.sched_d.state_dict(), "sched_g": self.sched_g.state_dict(),
                "ema": None if self.ema is None else self.ema.state_dict(), "noise": self.noise.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.classifier.load_state_dict(state["classifier"])
        self.generator.load_state_dict(state["generator"])
        for name in ("opt_d", "opt_g", "sched_d", "sched_g"):
            getattr(self, name).load_state_dict(state[name])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        self.noise.set_state(state["noise"])  # rank 0's stream: a resumed multi-rank run is not bit-identical

    def validated(self, round_: int, last: bool) -> Path | None:
        if self.samples_dir is None or not (round_ % self.cfg.grid_every == 0 or last):
            return None
        grid = self.samples_dir / f"epoch_{round_:03d}.png"
        save_grid(self.generator, self.fixed_z, grid)
        return grid

    def resumed(self, kept: Callable[[Path], None]) -> None:
        if self.samples_dir is not None:  # DVC deleted the stage's outputs, grids included, before rerunning
            kept(self.samples_dir)

    def no_batch(self) -> str:
        return "the unlabelled set gives no full batch: add unlabelled images or lower gan.batch_size"

    def describe(self, data: LabeledData, params: Params, exe: Execution) -> str:
        return (f"gan on {exe.device} ({exe.ranks.world_size} rank(s)): {data.x_labeled.shape[0]} labelled, "
                f"{self.unlabeled.steps} steps of {params.gan.batch_size} unlabelled per rank and round, "
                f"{data.x_val.shape[0]} validation, {params.image_size} px")


@torch.no_grad()
def save_grid(generator: Generator, z: torch.Tensor, path: Path) -> None:
    """An 8-wide grid of the generator's images for fixed noise, written atomically."""
    was_training = generator.training
    generator.eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        save_image(to_unit_range(generator(z)).float(), tmp, nrow=8, format="png")
    generator.train(was_training)
