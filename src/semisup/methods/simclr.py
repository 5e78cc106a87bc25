"""SimCLR (Chen et al. 2020) for few labels: the ResNet18 first learns from the unlabelled photos alone to tell each
photo's two augmented views from every other photo's (`SimclrPretraining`, its own stage, shared by every seed and
labelled set), then is fine-tuned on the labelled photos with the baseline's recipe (`Simclr`, a registered method).

The contrastive task needs no label, and what it learns (colour, texture and shape cues that survive crops and colour
jitter) is what the 100 labels alone cannot teach; the fine-tune then starts from those features instead of noise.
"""
from __future__ import annotations

from pathlib import Path
from dataclasses import dataclass
from typing import Any, Iterator

import torch
from torch import nn

from . import losses
from ..data.augment import contrastive_view
from ..config import BIG, LR_MAX, SEED_MAX, Params
from ..typed import require
from ..errors import PipelineError
from ..training.execution import Execution
from ..models import Classifier
from ..training.schedules import make_scheduler
from ..training.contract import LabeledData, Method, Rounds, Unlabeled
from .baseline import Baseline, BaselineConfig
from .fixmatch import FixMatch, decay_groups

@dataclass(frozen=True)
class PretrainConfig:
    """Self-supervised pretraining (SimCLR, Chen et al. 2020) of the ResNet18 on every unlabelled-to-be photo (the
    pool and Kaggle's test1, labels never read). Its own seed, and neither `seed` nor the labelled set: one run
    serves every seed and strategy (DVC's run cache)."""

    seed: int = 0
    epochs: int = 10  # rounds; the budget is epochs x steps_per_epoch steps
    steps_per_epoch: int = 100  # at most (fewer when the photos give fewer batches)
    batch_size: int = 256  # photos per step, two augmented views each; the other 2(N-1) views are the negatives
    lr: float = 0.3  # SGD, momentum, cosine decay after `warmup_steps`; kernels decayed, BatchNorm and biases not
    momentum: float = 0.9
    weight_decay: float = 0.0005
    warmup_steps: int = 10
    temperature: float = 0.2  # of the NT-Xent loss
    projection_dim: int = 128  # the projection head (512 -> 512 -> this), dropped after pretraining
    crop_min_scale: float = 0.2  # random resized crop: smallest share of the image kept
    jitter: float = 0.4  # brightness, contrast and saturation jitter strength (applied with probability 0.8)
    grayscale: float = 0.2  # probability of a grey view
    checkpoint_every: int = 1

    def check(self, section: str) -> None:
        require(0 <= self.seed <= SEED_MAX, f"{section}.seed", self.seed, f"use an integer from 0 to {SEED_MAX}")
        for key in ("epochs", "steps_per_epoch", "checkpoint_every"):
            require(0 < getattr(self, key) <= BIG, f"{section}.{key}", getattr(self, key), f"use an integer from 1 to {BIG}")
        require(2 <= self.batch_size <= 65536, f"{section}.batch_size", self.batch_size, "use an integer from 2 to 65536")
        require(0 < self.lr <= LR_MAX, f"{section}.lr", self.lr, f"use a number in (0, {LR_MAX}]")
        require(0 <= self.momentum < 1, f"{section}.momentum", self.momentum, "use 0 <= momentum < 1")
        require(self.weight_decay >= 0, f"{section}.weight_decay", self.weight_decay, "use a number >= 0")
        require(self.warmup_steps >= 0, f"{section}.warmup_steps", self.warmup_steps, "use an integer >= 0")
        require(0 < self.temperature <= 10, f"{section}.temperature", self.temperature, "use a number in (0, 10] (SimCLR: 0.1-0.5)")
        require(0 < self.projection_dim <= 4096, f"{section}.projection_dim", self.projection_dim,
                "use an integer from 1 to 4096")
        require(0 < self.crop_min_scale <= 1, f"{section}.crop_min_scale", self.crop_min_scale, "use a share in (0, 1]")
        require(0 <= self.jitter < 1, f"{section}.jitter", self.jitter, "use a strength in [0, 1)")
        require(0 <= self.grayscale <= 1, f"{section}.grayscale", self.grayscale, "use a probability in [0, 1]")


@dataclass(frozen=True)
class SimclrConfig(BaselineConfig):
    """Fine-tuning the pretrained ResNet18 on the labelled set: the baseline's recipe and fields (one full-batch step
    per epoch), started from `models/pretrained.pt` instead of random weights, so the two differ by that alone when
    their sections match."""


PRETRAINED = Path("models/pretrain.pt")  # what `stages/pretrain.py` writes


class SimclrPretraining(Method):
    """The encoder and its projection head, one NT-Xent step per batch of unlabelled photos. No labels, so no
    validation: the loop keeps the last state (`Rounds.validate_every = 0`)."""

    name = "pretrain"
    Config = PretrainConfig
    uses_unlabeled = True

    def __init__(self, params: Params, exe: Execution, data: LabeledData | None, unlabeled: Unlabeled,
                 samples_dir: Path | None = None):
        cfg = self.cfg = params.pretrain
        self.exe, self.unlabeled = exe, unlabeled
        self.rounds = Rounds(cfg.epochs, unlabeled.steps, 0, cfg.checkpoint_every)
        self.images_per_step = cfg.batch_size * exe.ranks.world_size
        torch.manual_seed(cfg.seed)
        self.encoder = exe.place(Classifier(stem=params.model.stem))
        self.head = exe.place(nn.Sequential(nn.Linear(512, 512), nn.ReLU(inplace=True),
                                            nn.Linear(512, cfg.projection_dim)))
        self._encoder, self._head = exe.trainable(self.encoder), exe.trainable(self.head)
        groups = decay_groups(self.encoder, cfg.weight_decay) + decay_groups(self.head, cfg.weight_decay)
        self.optimizer = torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum)
        self.scheduler = make_scheduler(self.optimizer, self.rounds.total_steps, "cosine", cfg.warmup_steps)
        self.views = torch.Generator(device=exe.device).manual_seed(cfg.seed + 3 + 7919 * exe.ranks.rank)

    @classmethod
    def stream_shape(cls, params: Params) -> tuple[int, bool, int]:
        return params.pretrain.batch_size, False, params.pretrain.steps_per_epoch  # views are drawn in the step

    def batches(self, round_: int) -> Iterator[torch.Tensor]:
        yield from self.unlabeled.batches(round_)

    def step(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        cfg, exe = self.cfg, self.exe
        x = batch.clone()  # DALI reuses its buffer
        views = [contrastive_view(x, self.views, cfg.crop_min_scale, cfg.jitter, cfg.grayscale) for _ in range(2)]
        with exe.autocast():
            z = self._head(self._encoder(exe.images(torch.cat(views)), features=True)).float()
        loss = losses.nt_xent_loss(*z.chunk(2), cfg.temperature)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.scheduler.step()
        return {"contrastive_loss": loss.detach()}

    def judged(self) -> nn.Module:
        return self.encoder

    def modules(self) -> tuple[nn.Module, ...]:
        return self.encoder, self.head

    def state_dict(self) -> dict[str, Any]:
        return {"encoder": self.encoder.state_dict(), "head": self.head.state_dict(),
                "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "views": self.views.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.encoder.load_state_dict(state["encoder"])
        self.head.load_state_dict(state["head"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.views.set_state(state["views"])

    def no_batch(self) -> str:
        return "the unlabelled photos give no full batch: lower pretrain.batch_size"

    def describe(self, data: LabeledData | None, params: Params, exe: Execution) -> str:
        return (f"SimCLR pretraining on {exe.device} ({exe.ranks.world_size} rank(s)): {self.unlabeled.steps} steps "
                f"of {params.pretrain.batch_size} unlabelled photos (two views each) per round, {self.rounds.count} "
                f"rounds, {params.image_size} px")


def pretrained_classifier(params: Params, path: Path = PRETRAINED) -> Classifier:
    """The ResNet18 with the SimCLR-pretrained encoder from `path` and a final layer drawn from the current torch
    seed; one clear line when the file is missing or was pretrained at another size or stem."""
    model = Classifier(stem=params.model.stem)
    if not path.is_file():
        raise PipelineError(f"{path}: no pretrained encoder; run `dvc repro pretrain` (or the whole pipeline) first")
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if blob.get("image_size") != params.image_size or blob.get("stem") != params.model.stem:
        raise PipelineError(f"{path}: pretrained at {blob.get('image_size')} px with the {blob.get('stem')} stem, "
                            f"but this run is {params.image_size} px with the {params.model.stem} stem; run "
                            "`dvc repro pretrain` with these params")
    encoder = {k: v for k, v in blob["classifier"].items() if not k.startswith("net.fc.")}
    missing, unexpected = model.load_state_dict(encoder, strict=False)
    if unexpected or any(not k.startswith("net.fc.") for k in missing):
        raise PipelineError(f"{path}: does not fit the ResNet18 (missing {missing}, extra {unexpected})")
    return model


class Simclr(Baseline):
    """The baseline's supervised fine-tune (its recipe from the `simclr` section), from the pretrained encoder; the
    final layer starts from random weights drawn from `seed`."""

    name = "simclr"
    Config = SimclrConfig
    pretrained: Path = PRETRAINED

    def initial_model(self, params: Params) -> Classifier:
        return pretrained_classifier(params, self.pretrained)


class SimclrFixMatch(FixMatch):
    """FixMatch (its recipe from the `simclr_fixmatch` section) started from the pretrained encoder instead of noise:
    the unlabelled photos are used twice, first to learn features without labels, then as pseudo-labelled examples.
    From scratch, FixMatch's confident pseudo-labels come from a network near chance and teach it its own mistakes;
    from the SimCLR encoder they come from a network that already separates the photos (SimCLRv2's argument for
    using the unlabelled data again after fine-tuning)."""

    name = "simclr_fixmatch"
    pretrained: Path = PRETRAINED

    def initial_model(self, params: Params) -> Classifier:
        return pretrained_classifier(params, self.pretrained)
