"""The published supervised baseline: ResNet18 from scratch on the labelled images alone, one full-batch SGD step
per round (an "epoch" of 100 images), validated every `baseline.eval_every` steps."""
from __future__ import annotations

from pathlib import Path
from dataclasses import dataclass
from typing import Iterator

import torch

from . import losses
from ..typed import require
from ..config import BIG, LR_MAX, Params
from ..training.ema import make_ema
from ..training.execution import Execution
from ..models import Classifier
from ..training.schedules import make_scheduler
from ..training.contract import LabeledData, Rounds, Unlabeled
from .base import OneNetwork


@dataclass(frozen=True)
class BaselineConfig:
    epochs: int = 200  # one full-batch step of the labelled set per epoch, as published
    lr: float = 0.001
    momentum: float = 0.9
    weight_decay: float = 0.0001
    checkpoint_every: int = 20  # epochs between checkpoints (an epoch here is one step)
    eval_every: int = 1  # validate every N steps (published: every step); selection sees only validated steps

    def check(self, section: str) -> None:
        """Every key of this section (`baseline`, or `simclr`, which shares the recipe) in its range."""
        require(0 < self.epochs <= BIG, f"{section}.epochs", self.epochs, f"use an integer from 1 to {BIG}")
        require(0 < self.lr <= LR_MAX, f"{section}.lr", self.lr, f"use a number in (0, {LR_MAX}] (published baseline: 0.001)")
        require(0 <= self.momentum < 1, f"{section}.momentum", self.momentum, "use 0 <= momentum < 1")
        require(self.weight_decay >= 0, f"{section}.weight_decay", self.weight_decay, "use a number >= 0")
        require(self.checkpoint_every > 0, f"{section}.checkpoint_every", self.checkpoint_every, "use an integer > 0")
        require(self.eval_every > 0, f"{section}.eval_every", self.eval_every, "use an integer > 0")


class Baseline(OneNetwork):
    name = "baseline"
    Config = BaselineConfig

    def __init__(self, params: Params, exe: Execution, data: LabeledData, unlabeled: Unlabeled | None = None,
                 samples_dir: Path | None = None):
        cfg, t = getattr(params, self.name), params.train  # `simclr` fine-tunes with the same recipe
        self.exe, self.data = exe, data
        self.rounds = Rounds(cfg.epochs, 1, cfg.eval_every, cfg.checkpoint_every)
        self.images_per_step = data.x_labeled.shape[0]
        torch.manual_seed(params.seed)
        self.model = exe.place(self.initial_model(params))
        self._train = exe.trainable(self.model)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                                         weight_decay=cfg.weight_decay)
        self.scheduler = make_scheduler(self.optimizer, cfg.epochs, t.schedule, t.warmup_steps)
        self.ema = make_ema(self.model, t.ema)

    def initial_model(self, params: Params) -> Classifier:
        """ResNet18 from scratch (random weights drawn from `seed`)."""
        return Classifier(stem=params.model.stem)

    def batches(self, round_: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The whole labelled set (a fresh augmentation where asked); under torchrun this rank's slice, so the
        slices add up to one full-batch step (gradients are averaged over ranks)."""
        x, y = self.data.batch()
        r = self.exe.ranks
        yield (x, y) if not r.distributed else (x[r.rank::r.world_size], y[r.rank::r.world_size])

    def step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        x, y = batch
        with self.exe.autocast():
            loss = losses.supervised_loss(self._train(self.exe.images(x)).float(), y)
        self.update(loss)
        return {"train_loss": loss.detach()}
