"""What most methods share beyond the contract (`semisup.training.contract`): one classifier with one optimiser
(`OneNetwork`), and a budget of unlabelled images turned into rounds of whole steps (`round_steps`)."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

from ..errors import ConfigError
from ..training.contract import Method
from ..training.ema import evaluated


class OneNetwork(Method):
    """A method that trains one classifier (`model`) with one optimiser, one schedule and an optional EMA: what the
    step ends with, and the state, for all of them. Subclasses set the four attributes in `__init__`."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    ema: AveragedModel | None

    def update(self, loss: torch.Tensor) -> None:
        """One optimiser step on `loss`, the schedule's step, and the EMA's."""
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.scheduler.step()
        if self.ema is not None:
            self.ema.update_parameters(self.model)

    def judged(self) -> nn.Module:
        return evaluated(self.model, self.ema)

    def modules(self) -> tuple[nn.Module, ...]:
        return (self.model,)

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "ema": None if self.ema is None else self.ema.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])


def round_steps(name: str, images: int, per_step: int, validations: int) -> int:
    """Optimiser steps per round for `images` unlabelled images seen over `validations` rounds; one clear line when
    the budget is not a whole number of equal rounds of whole batches."""
    if images <= 0 or per_step <= 0 or images % (per_step * validations):
        raise ConfigError(f"--images {images}: {name} reads {per_step} unlabelled images a step and validates "
                          f"{validations} times; use a multiple of {per_step * validations}")
    return images // (per_step * validations)
