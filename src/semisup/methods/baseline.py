"""The published supervised baseline: ResNet18 from scratch on the labelled images alone, one full-batch SGD step
per round (an "epoch" of 100 images), validated every `baseline.eval_every` steps."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import torch

from . import losses
from ..config import Params
from ..training.ema import make_ema
from ..training.execution import Execution
from ..models import Classifier
from ..training.schedules import make_scheduler
from ..training.contract import LabeledData, Rounds, Unlabeled
from .base import OneNetwork


class Baseline(OneNetwork):
    name = "baseline"

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
