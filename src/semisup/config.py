"""Typed, validated parameters: `params.yaml` is read once, at the edge, into frozen dataclasses.

Every check names the key, the value and what is allowed, so a wrong `-S key=value` stops before any work starts.
"""
from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal


from .errors import ConfigError
from .typed import build, read_params_file, require

STRATEGIES = ("curated", "random", "representative")
SMALL_STEM_MAX_SIZE = 64  # the small-image stem keeps full resolution through layer1: 16x the cost per image


@dataclass(frozen=True)
class SyntheticConfig:
    per_class: int = 1000  # labelled stand-in images per class (names cat.0 .. cat.N-1, like Kaggle's)
    unlabeled: int = 1000  # stand-in `test1` images
    size: int = 64  # side of the generated images in pixels
    clutter: bool = True  # blotches, distractors and occlusion around the animal; false: a larger animal, plain background


@dataclass(frozen=True)
class DataConfig:
    source: str = "synthetic"  # Kaggle dogs-vs-cats.zip, train.zip (+ test1.zip beside it), a folder, or `synthetic`
    split_seed: int = 0  # draws val/test; kept apart from `seed` so a seed sweep is paired on one test set
    val_size: int = 200
    test_size: int = 200
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)


@dataclass(frozen=True)
class LabeledConfig:
    size: int = 100  # labelled images, half per class
    strategy: str = "random"  # curated | random | representative
    curated_file: str = "data/curation/curated.csv"
    on_missing: Literal["stop", "random"] = "stop"  # a curated image absent from the data: stop, or replace at random


@dataclass(frozen=True)
class LoaderConfig:
    eval_batch_size: int = 250  # validation/test batches; every image is counted exactly once
    num_threads: int = 2  # DALI CPU threads
    decode: Literal["every_epoch", "once"] = "every_epoch"  # once: unlabelled JPEGs -> uint8 tensors once (cache/)


@dataclass(frozen=True)
class ModelConfig:
    stem: Literal["imagenet", "small"] = "imagenet"  # small: 3x3 stride-1 first conv, no max-pool (image_size <= 64)


@dataclass(frozen=True)
class BaselineConfig:
    epochs: int = 200  # one full-batch step of the labelled set per epoch, as published
    lr: float = 0.001
    momentum: float = 0.9
    weight_decay: float = 0.0001
    checkpoint_every: int = 20  # epochs between checkpoints (an epoch here is one step)
    eval_every: int = 1  # validate every N steps (published: every step); selection sees only validated steps


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


@dataclass(frozen=True)
class SimclrConfig(BaselineConfig):
    """Fine-tuning the pretrained ResNet18 on the labelled set: the baseline's recipe and fields (one full-batch step
    per epoch), started from `models/pretrained.pt` instead of random weights, so the two differ by that alone when
    their sections match."""


@dataclass(frozen=True)
class TrainConfig:
    device: Literal["auto", "cpu", "cuda"] = "auto"
    amp: bool = False  # bf16 autocast on CUDA; ignored on the CPU
    deterministic: bool = True  # deterministic kernels (bit-identical CPU reruns)
    augment: bool = False  # random resized crop + flip of labelled and unlabelled images, in the DALI graph
    ema: float = 0.0  # decay of an EMA of the classifier used for validation, selection and test; 0 = off
    schedule: Literal["constant", "cosine"] = "constant"  # learning rate: constant, or cosine decay to 0 over the run
    warmup_steps: int = 0  # linear warm-up from 0 before the schedule
    recalibrate_bn: int = 0  # real images to recompute BatchNorm statistics on before each validation; 0 = off
    channels_last: bool = False  # NHWC memory format for both networks (tensor-core convolutions on a GPU)
    compile: bool = False  # torch.compile the networks of the training step


@dataclass(frozen=True)
class Params:
    profile: str = "demo"
    seed: int = 0  # labelled-set draw, weight init, batch order, noise
    image_size: int = 32  # side in pixels of what the classifier sees
    data: DataConfig = field(default_factory=DataConfig)
    labeled: LabeledConfig = field(default_factory=LabeledConfig)
    loader: LoaderConfig = field(default_factory=LoaderConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    baseline: BaselineConfig = field(default_factory=BaselineConfig)
    gan: GanConfig = field(default_factory=GanConfig)
    fixmatch: FixMatchConfig = field(default_factory=FixMatchConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    simclr: SimclrConfig = field(default_factory=SimclrConfig)
    simclr_fixmatch: FixMatchConfig = field(default_factory=FixMatchConfig)  # FixMatch from the SimCLR encoder
    train: TrainConfig = field(default_factory=TrainConfig)

    @property
    def is_synthetic(self) -> bool:
        return self.data.source == "synthetic"


def load_params(path: str | Path = "params.yaml") -> Params:
    return params_from_dict(read_params_file(path, "the project root (where dvc.yaml is)"))


def params_from_dict(raw: dict[str, Any], data_present: bool = True) -> Params:
    """Typed, validated params; `data_present=False` checks every value but not that data.source exists yet (params
    may be composed before the photos are downloaded)."""
    params = build(Params, raw)
    _validate(params, data_present)
    return params


SEED_MAX = 2**32 - 1  # torch, numpy and DALI all take it (torch.manual_seed refuses 2**64 and above)
THREADS_MAX = 256
LR_MAX = 10.0  # no optimiser here trains above it
BIG = 10**7  # upper bound of counts (epochs, steps, images) that no run here comes near
SYNTHETIC_MAX = 100_000  # stand-in images per class (or unlabelled): 8x Kaggle's 12,500, drawn in minutes, not days


def _finite(p: Params) -> None:
    """Every float param is a finite number (`gan.lr=inf` or `nan` would fail an epoch later)."""
    def walk(node: Any, prefix: str) -> None:
        for key, value in node.items():
            if isinstance(value, dict):
                walk(value, f"{prefix}{key}.")
            elif isinstance(value, float) and not math.isfinite(value):
                require(False, f"{prefix}{key}", value, "use a finite number")

    walk(asdict(p), "")


def _validate(p: Params, data_present: bool = True) -> None:
    _finite(p)
    require(0 <= p.seed <= SEED_MAX, "seed", p.seed, f"use an integer from 0 to {SEED_MAX}")
    require(32 <= p.image_size <= 1024 and p.image_size % 8 == 0, "image_size", p.image_size,
             "use a multiple of 8 from 32 to 1024 (the generator doubles its side per layer; paper: 224)")
    d = p.data
    require(0 <= d.split_seed <= SEED_MAX, "data.split_seed", d.split_seed, f"use an integer from 0 to {SEED_MAX}")
    for key, value in (("data.val_size", d.val_size), ("data.test_size", d.test_size)):
        require(0 < value <= BIG and value % 2 == 0, key, value,
                f"use a positive even number up to {BIG} (both classes get half)")
    if data_present and d.source != "synthetic" and not Path(d.source).exists():
        raise ConfigError(
            f"data.source: {d.source!r} does not exist. Put Kaggle's download there "
            "(`kaggle competitions download -c dogs-vs-cats -p data/raw`, then data.source: data/raw/dogs-vs-cats.zip), "
            "point it at train.zip, an extracted folder, or use `synthetic` for the stand-in data"
        )
    s = d.synthetic
    require(2 <= s.per_class <= SYNTHETIC_MAX, "data.synthetic.per_class", s.per_class,
            f"use an integer from 2 to {SYNTHETIC_MAX} (Kaggle's download has 12,500 per class)")
    require(0 <= s.unlabeled <= SYNTHETIC_MAX, "data.synthetic.unlabeled", s.unlabeled,
            f"use an integer from 0 to {SYNTHETIC_MAX}")
    require(16 <= s.size <= 512, "data.synthetic.size", s.size, "use 16..512")
    lab = p.labeled
    require(0 < lab.size <= BIG and lab.size % 2 == 0, "labeled.size", lab.size,
            f"use a positive even number up to {BIG} (classes are balanced)")
    if d.source == "synthetic":
        needed = (d.val_size + d.test_size) // 2 + p.labeled.size // 2
        require(
            needed <= s.per_class, "data.val_size + data.test_size + labeled.size", needed * 2,
            f"the stand-in data has {2 * s.per_class} labelled images (data.synthetic.per_class={s.per_class}); "
            "lower the sizes or raise data.synthetic.per_class",
        )
    require(lab.strategy in STRATEGIES, "labeled.strategy", lab.strategy, f"use one of {', '.join(STRATEGIES)}")
    require(0 < p.loader.eval_batch_size <= 65536, "loader.eval_batch_size", p.loader.eval_batch_size,
            "use an integer from 1 to 65536")
    require(0 < p.loader.num_threads <= THREADS_MAX, "loader.num_threads", p.loader.num_threads,
            f"use an integer from 1 to {THREADS_MAX} (DALI's CPU threads; the cores here: {os.cpu_count()})")
    for name in ("baseline", "simclr"):  # the same supervised recipe, from random or pretrained weights
        b = getattr(p, name)
        require(0 < b.epochs <= BIG, f"{name}.epochs", b.epochs, f"use an integer from 1 to {BIG}")
        require(0 < b.lr <= LR_MAX, f"{name}.lr", b.lr, f"use a number in (0, {LR_MAX}] (published baseline: 0.001)")
        require(0 <= b.momentum < 1, f"{name}.momentum", b.momentum, "use 0 <= momentum < 1")
        require(b.weight_decay >= 0, f"{name}.weight_decay", b.weight_decay, "use a number >= 0")
        require(b.checkpoint_every > 0, f"{name}.checkpoint_every", b.checkpoint_every, "use an integer > 0")
        require(b.eval_every > 0, f"{name}.eval_every", b.eval_every, "use an integer > 0")
    r = p.pretrain
    require(0 <= r.seed <= SEED_MAX, "pretrain.seed", r.seed, f"use an integer from 0 to {SEED_MAX}")
    for key in ("epochs", "steps_per_epoch", "checkpoint_every"):
        require(0 < getattr(r, key) <= BIG, f"pretrain.{key}", getattr(r, key), f"use an integer from 1 to {BIG}")
    require(2 <= r.batch_size <= 65536, "pretrain.batch_size", r.batch_size, "use an integer from 2 to 65536")
    require(0 < r.lr <= LR_MAX, "pretrain.lr", r.lr, f"use a number in (0, {LR_MAX}]")
    require(0 <= r.momentum < 1, "pretrain.momentum", r.momentum, "use 0 <= momentum < 1")
    require(r.weight_decay >= 0, "pretrain.weight_decay", r.weight_decay, "use a number >= 0")
    require(r.warmup_steps >= 0, "pretrain.warmup_steps", r.warmup_steps, "use an integer >= 0")
    require(0 < r.temperature <= 10, "pretrain.temperature", r.temperature, "use a number in (0, 10] (SimCLR: 0.1-0.5)")
    require(0 < r.projection_dim <= 4096, "pretrain.projection_dim", r.projection_dim, "use an integer from 1 to 4096")
    require(0 < r.crop_min_scale <= 1, "pretrain.crop_min_scale", r.crop_min_scale, "use a share in (0, 1]")
    require(0 <= r.jitter < 1, "pretrain.jitter", r.jitter, "use a strength in [0, 1)")
    require(0 <= r.grayscale <= 1, "pretrain.grayscale", r.grayscale, "use a probability in [0, 1]")
    g = p.gan
    require(g.checkpoint_every > 0, "gan.checkpoint_every", g.checkpoint_every, "use an integer > 0")
    require(0 < g.epochs <= BIG, "gan.epochs", g.epochs, f"use an integer from 1 to {BIG}")
    require(0 < g.lr <= LR_MAX, "gan.lr", g.lr, f"use a number in (0, {LR_MAX}] (published: 0.002)")
    require(0 <= g.beta1 < 1, "gan.beta1", g.beta1, "use 0 <= beta1 < 1")
    require(0 <= g.beta2 < 1, "gan.beta2", g.beta2, "use 0 <= beta2 < 1")
    require(0 < g.batch_size <= 65536, "gan.batch_size", g.batch_size, "use an integer from 1 to 65536")
    require(0 < g.latent_dim <= 4096, "gan.latent_dim", g.latent_dim, "use an integer from 1 to 4096")
    require(8 <= g.generator_width <= 1024, "gan.generator_width", g.generator_width, "use an integer from 8 to 1024")
    require(g.grid_every > 0, "gan.grid_every", g.grid_every, "use an integer > 0")
    require(0 <= g.unsupervised_weight <= 100, "gan.unsupervised_weight", g.unsupervised_weight,
            "use a weight from 0 (supervised only) to 100 (published: 0.5)")
    require(g.max_steps_per_epoch >= 0, "gan.max_steps_per_epoch", g.max_steps_per_epoch, "use 0 (whole set) or more")
    for name in ("fixmatch", "simclr_fixmatch"):  # the same recipe, from random or pretrained weights
        f = getattr(p, name)
        for key in ("epochs", "steps_per_epoch", "labeled_batch", "mu", "checkpoint_every"):
            require(0 < getattr(f, key) <= BIG, f"{name}.{key}", getattr(f, key), f"use an integer from 1 to {BIG}")
        require(0 < f.lr <= LR_MAX, f"{name}.lr", f.lr, f"use a number in (0, {LR_MAX}] (paper: 0.03)")
        require(0 <= f.momentum < 1, f"{name}.momentum", f.momentum, "use 0 <= momentum < 1")
        require(f.weight_decay >= 0, f"{name}.weight_decay", f.weight_decay, "use a number >= 0")
        require(0 < f.threshold <= 1, f"{name}.threshold", f.threshold, "use a confidence in (0, 1] (paper: 0.95)")
        require(f.lambda_u >= 0, f"{name}.lambda_u", f.lambda_u, "use a number >= 0")
        require(0 <= f.rand_augment_ops <= 14, f"{name}.rand_augment_ops", f.rand_augment_ops, "use 0..14 (paper: 2)")
        require(0 <= f.rand_augment_magnitude <= 30, f"{name}.rand_augment_magnitude", f.rand_augment_magnitude,
                "use 0..30 (torchvision's RandAugment scale)")
    t = p.train
    require(0 <= t.ema < 1, "train.ema", t.ema, "use 0 (off) or a decay below 1, e.g. 0.999")
    require(t.warmup_steps >= 0, "train.warmup_steps", t.warmup_steps, "use an integer >= 0")
    require(t.recalibrate_bn >= 0, "train.recalibrate_bn", t.recalibrate_bn, "use 0 (off) or a number of images, e.g. 1024")
    require(p.model.stem == "imagenet" or p.image_size <= SMALL_STEM_MAX_SIZE, "model.stem", p.model.stem,
            f"the small stem is for image_size <= {SMALL_STEM_MAX_SIZE} (here {p.image_size}); use imagenet")
