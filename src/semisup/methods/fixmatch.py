"""FixMatch (Sohn et al. 2020) on the same ResNet18, labelled set and unlabelled photos as the GAN.

Per step: a weakly augmented labelled batch (`labeled_batch` drawn from a fresh crop-and-flip of the labelled set),
`mu x labeled_batch` unlabelled images as a weak view (crop and flip from the DALI graph) and a strong view of the
same images (RandAugment + cutout, `semisup.data.augment`), one concatenated train-mode pass, and the loss
cross-entropy(labelled) + lambda_u x masked cross-entropy(strong view, confident weak-view pseudo-labels).
SGD with Nesterov momentum; the schedule, EMA and stem follow `train` and `model` like the other methods.
"""
from __future__ import annotations

from pathlib import Path
from dataclasses import dataclass
from typing import Any, Iterator

import torch
from torch import nn

from . import losses
from ..typed import require
from ..data.augment import strong_augmenter, strong_views
from ..config import BIG, LR_MAX, Params
from ..training.ema import make_ema
from ..training.execution import Execution
from ..models import Classifier
from ..training.schedules import make_scheduler
from ..training.contract import NOISE_STRIDE, LabeledData, Rounds, Unlabeled
from .base import OneNetwork, round_steps


@dataclass(frozen=True)
class FixMatchConfig:
    epochs: int = 100  # evaluation rounds; the budget is epochs x steps_per_epoch steps
    steps_per_epoch: int = 100
    lr: float = 0.03  # SGD with Nesterov momentum (Sohn et al. 2020)
    momentum: float = 0.9
    weight_decay: float = 0.0005
    labeled_batch: int = 64  # labelled images per step, drawn from the (weakly augmented) labelled set
    mu: int = 7  # unlabelled ratio: mu x labeled_batch unlabelled images per step
    threshold: float = 0.95  # confidence above which a weak view's prediction becomes a pseudo-label
    lambda_u: float = 1.0  # weight of the unlabelled loss
    rand_augment_ops: int = 2  # RandAugment (torchvision) for the strong view: ops per image
    rand_augment_magnitude: int = 10  # and their magnitude (0..30)
    checkpoint_every: int = 1

    def check(self, section: str) -> None:
        """Every key of this section (`fixmatch`, or `simclr_fixmatch`: the same recipe from the encoder)."""
        for key in ("epochs", "steps_per_epoch", "labeled_batch", "mu", "checkpoint_every"):
            require(0 < getattr(self, key) <= BIG, f"{section}.{key}", getattr(self, key), f"use an integer from 1 to {BIG}")
        require(0 < self.lr <= LR_MAX, f"{section}.lr", self.lr, f"use a number in (0, {LR_MAX}] (paper: 0.03)")
        require(0 <= self.momentum < 1, f"{section}.momentum", self.momentum, "use 0 <= momentum < 1")
        require(self.weight_decay >= 0, f"{section}.weight_decay", self.weight_decay, "use a number >= 0")
        require(0 < self.threshold <= 1, f"{section}.threshold", self.threshold, "use a confidence in (0, 1] (paper: 0.95)")
        require(self.lambda_u >= 0, f"{section}.lambda_u", self.lambda_u, "use a number >= 0")
        require(0 <= self.rand_augment_ops <= 14, f"{section}.rand_augment_ops", self.rand_augment_ops, "use 0..14 (paper: 2)")
        require(0 <= self.rand_augment_magnitude <= 30, f"{section}.rand_augment_magnitude", self.rand_augment_magnitude,
                "use 0..30 (torchvision's RandAugment scale)")


def decay_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Weight decay on convolution and linear kernels only, as FixMatch's reference code does; BatchNorm's scales
    and shifts and the biases are not decayed."""
    kernels = [p for p in model.parameters() if p.ndim > 1]
    others = [p for p in model.parameters() if p.ndim <= 1]
    return [{"params": kernels, "weight_decay": weight_decay}, {"params": others, "weight_decay": 0.0}]


def labeled_indices(n: int, batch: int, generator: torch.Generator) -> torch.Tensor:
    """`batch` distinct labelled images per step when the set is large enough, otherwise drawn with replacement."""
    if batch <= n:  # drawn on the generator's device: no host-device copy inside the step
        return torch.randperm(n, generator=generator, device=generator.device)[:batch]
    return torch.randint(n, (batch,), generator=generator, device=generator.device)


class FixMatch(OneNetwork):
    """`unlabeled` yields weakly augmented batches of mu x labeled_batch images (this rank's shard under torchrun;
    each rank also draws its own labelled batch)."""

    name = "fixmatch"
    Config = FixMatchConfig
    uses_unlabeled = True
    augmented_labels = True  # the labelled batch is a weak view too

    def __init__(self, params: Params, exe: Execution, data: LabeledData, unlabeled: Unlabeled,
                 samples_dir: Path | None = None):
        cfg, t = getattr(params, self.name), params.train  # `simclr_fixmatch` has a section of its own
        self.cfg, self.exe, self.data, self.unlabeled = cfg, exe, data, unlabeled
        self.rounds = Rounds(cfg.epochs, unlabeled.steps, 1, cfg.checkpoint_every)
        self.images_per_step = cfg.mu * cfg.labeled_batch * exe.ranks.world_size
        torch.manual_seed(params.seed)
        self.model = exe.place(self.initial_model(params))
        self._train = exe.trainable(self.model)
        self.optimizer = torch.optim.SGD(decay_groups(self.model, cfg.weight_decay), lr=cfg.lr,
                                         momentum=cfg.momentum, nesterov=cfg.momentum > 0)
        schedule = "fixmatch_cosine" if t.schedule == "cosine" else t.schedule
        self.scheduler = make_scheduler(self.optimizer, self.rounds.total_steps, schedule, t.warmup_steps)
        self.ema = make_ema(self.model, t.ema)
        self.strong = strong_augmenter(cfg.rand_augment_ops, cfg.rand_augment_magnitude)
        self.picks = torch.Generator(device=data.y_labeled.device)
        self.picks.manual_seed(params.seed + 2 + NOISE_STRIDE * exe.ranks.rank)

    def initial_model(self, params: Params) -> Classifier:
        """ResNet18 from scratch (random weights drawn from `seed`)."""
        return Classifier(stem=params.model.stem)

    @classmethod
    def unlabeled_per_step(cls, params: Params) -> int:
        cfg = getattr(params, cls.name)
        return cfg.mu * cfg.labeled_batch

    @classmethod
    def budget_overrides(cls, params: Params, images: int, validations: int) -> list[str]:
        steps = round_steps(cls.name, images, cls.unlabeled_per_step(params), validations)
        return [f"{cls.name}.epochs={validations}", f"{cls.name}.steps_per_epoch={steps}"]

    @classmethod
    def stream_shape(cls, params: Params) -> tuple[int, bool, int]:
        cfg = getattr(params, cls.name)
        return cfg.mu * cfg.labeled_batch, True, cfg.steps_per_epoch

    def batches(self, round_: int) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        for weak in self.unlabeled.batches(round_):
            x_all, y_all = self.data.batch()
            idx = labeled_indices(y_all.shape[0], self.cfg.labeled_batch, self.picks)
            yield x_all[idx], y_all[idx], weak.clone()  # DALI reuses its buffer for the next batch

    def step(self, batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        x_labeled, y_labeled, weak = batch
        images = self.exe.images(torch.cat([x_labeled, weak, strong_views(weak, self.strong)]))
        with self.exe.autocast():
            logits = self._train(images).float()
        logits_labeled, logits_weak, logits_strong = logits.split([x_labeled.shape[0], weak.shape[0], weak.shape[0]])
        supervised = losses.supervised_loss(logits_labeled, y_labeled)
        unlabeled_loss, mask_rate = losses.fixmatch_unlabeled_loss(logits_strong, logits_weak, self.cfg.threshold)
        loss = supervised + self.cfg.lambda_u * unlabeled_loss
        self.update(loss)
        return {"supervised_loss": supervised.detach(), "unlabeled_loss": unlabeled_loss.detach(),
                "mask_rate": mask_rate.detach()}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "picks": self.picks.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.picks.set_state(state["picks"])

    def no_batch(self) -> str:
        return (f"the unlabelled set gives no full batch: add unlabelled images or lower {self.name}.mu or "
                f"{self.name}.labeled_batch")

    def describe(self, data: LabeledData, params: Params, exe: Execution) -> str:
        cfg = getattr(params, self.name)
        return (f"{self.name} on {exe.device} ({exe.ranks.world_size} rank(s)): {data.x_labeled.shape[0]} labelled "
                f"({cfg.labeled_batch} per step), {self.unlabeled.steps} steps of {cfg.mu * cfg.labeled_batch} "
                f"unlabelled per rank and round, {data.x_val.shape[0]} validation, {params.image_size} px")
