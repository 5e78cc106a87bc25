"""What a method is to the one training loop (`semisup.training.loop.fit`).

A method owns its networks, optimisers, schedules and random streams, and knows one thing the loop does not: how to
take one step. The loop owns everything else, identically for every method: rounds of steps, the NaN guard,
validation of `judged()`, keeping the best validated networks, curves, checkpoints and resuming.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

from ..config import Params
from ..errors import ConfigError
from ..training.ema import evaluated
from ..training.execution import Execution
from ..training.loop import LabeledData


@dataclass(frozen=True)
class Rounds:
    """A method's budget in the loop's terms: `count` rounds of `steps` optimiser steps each (at most), validation
    after every `validate_every`-th round and the last, a checkpoint after every `checkpoint_every`-th and the last."""

    count: int
    steps: int
    validate_every: int = 1
    checkpoint_every: int = 1

    @property
    def total_steps(self) -> int:
        return self.count * self.steps


@dataclass(frozen=True)
class Unlabeled:
    """The unlabelled batches of round r (`batches(r)`: this rank's shard) and how many a round holds."""

    batches: Callable[[int], Iterable[torch.Tensor]]
    steps: int


class Method(ABC):
    """One training method. Subclasses set `name`, what data they need, and implement the abstract methods; they
    are built as `cls(params, exe, data, unlabeled, samples_dir=...)` (`samples_dir`: where a method that draws
    images, the GAN, puts them; None: nowhere)."""

    name: ClassVar[str]
    uses_unlabeled: ClassVar[bool] = False  # the stage builds an unlabelled stream and calibrates on unlabelled images
    augmented_labels: ClassVar[bool | None] = None  # None: `train.augment` decides; True: always (a weak view)
    rounds: Rounds
    images_per_step: int  # images one step reads, over all ranks (for images per second)

    @classmethod
    def stream_shape(cls, params: Params) -> tuple[int, bool, int]:
        """(batch size, augment, most batches per round) of the unlabelled stream, for methods that use one."""
        raise NotImplementedError(f"{cls.name} reads no unlabelled images")

    @classmethod
    def unlabeled_per_step(cls, params: Params) -> int:
        """Unlabelled images one optimiser step reads (one rank): the unit a budget of unlabelled images seen counts
        in, the same for every method. 0: a method that reads none."""
        return 0

    @classmethod
    def budget_overrides(cls, params: Params, images: int, validations: int) -> list[str]:
        """The overrides (`key=value`) of this method's own section that give it `images` unlabelled images seen,
        in `validations` validated rounds of equal length."""
        raise ConfigError(f"{cls.name} reads no unlabelled images while it trains: it has no budget in images seen")

    @abstractmethod
    def batches(self, round_: int) -> Iterable[Any]:
        """What `step` takes, for every step of round `round_` (1-based)."""

    @abstractmethod
    def step(self, batch: Any) -> dict[str, torch.Tensor]:
        """One optimiser step; the losses to log, detached and on the device (the loop averages them per round and
        reads them back once per validation, never per step)."""

    @abstractmethod
    def judged(self) -> nn.Module:
        """The network that validation, selection and the test see (the EMA when there is one)."""

    def kept(self) -> tuple[nn.Module, ...]:
        """Networks saved with the best validation: the judged classifier first (the GAN adds its generator)."""
        return (self.judged(),)

    def train(self) -> None:
        """Train mode for a round (validation left the judged network in eval mode)."""
        for module in self.modules():
            module.train()

    @abstractmethod
    def modules(self) -> tuple[nn.Module, ...]:
        """The networks this method trains."""

    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed run needs beyond the loop's own state."""

    @abstractmethod
    def load_state_dict(self, state: dict[str, Any]) -> None:
        ...

    def validated(self, round_: int, last: bool) -> Path | None:
        """Called after each validation (rank 0): a file drawn for this round to keep across resumes, or None."""
        return None

    def resumed(self, kept: Callable[[Path], None]) -> None:
        """Called on resume with a function that restores kept files into a folder."""

    def no_batch(self) -> str:
        return f"{self.name}: a round gave no batch"

    def describe(self, data: LabeledData, params: Params, exe: Execution) -> str:
        return (f"{self.name} on {exe.device} ({exe.ranks.world_size} rank(s)): {data.x_labeled.shape[0]} labelled, "
                f"{data.x_val.shape[0]} validation images, {params.image_size} px")


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
