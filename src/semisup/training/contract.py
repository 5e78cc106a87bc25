"""The contract between the one training loop (`semisup.training.loop.fit`) and a method (`semisup.methods`): what
the loop hands a method (the labelled data, the unlabelled batches), what a method tells the loop (its rounds) and
what it must do (`Method`). Both sides import this module and nothing of each other.

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

from ..config import Params
from ..errors import ConfigError
from .execution import Execution

NOISE_STRIDE = 7919  # rank r draws its random stream (noise, picks) from seed + k + r * NOISE_STRIDE


@dataclass
class LabeledData:
    """What every method sees: the fixed labelled batch and the validation set, as tensors on the device."""

    x_labeled: torch.Tensor
    y_labeled: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    augmented: Callable[[], tuple[torch.Tensor, torch.Tensor]] | None = None  # a fresh augmented labelled batch
    x_calibration: torch.Tensor | None = None  # real images for BatchNorm statistics (`train.recalibrate_bn`)

    def batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The labelled batch for one step: a new augmentation of the whole set, or the fixed decoded set."""
        return (self.x_labeled, self.y_labeled) if self.augmented is None else self.augmented()


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
    Config: ClassVar[type]  # the frozen dataclass of this method's section of params.yaml, with `check(section)`
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

    kept_names: ClassVar[tuple[str, ...]] = ("classifier",)  # what `kept()` returns, by the names the model file uses

    def kept(self) -> tuple[nn.Module, ...]:
        """Networks saved with the best validation, in the order of `kept_names`: the judged classifier first."""
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
