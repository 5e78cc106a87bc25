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
from .typed import require

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
    """The sections every stage shares. Each registered method's own section (`gan`, `fixmatch`, ...) and the
    pretraining's is added from the class that owns it (`semisup.parameters.params_type`), so a method's config
    lives in its module."""

    profile: str = "demo"
    seed: int = 0  # labelled-set draw, weight init, batch order, noise
    image_size: int = 32  # side in pixels of what the classifier sees
    data: DataConfig = field(default_factory=DataConfig)
    labeled: LabeledConfig = field(default_factory=LabeledConfig)
    loader: LoaderConfig = field(default_factory=LoaderConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    @property
    def is_synthetic(self) -> bool:
        return self.data.source == "synthetic"


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


def validate_core(p: Params, data_present: bool = True) -> None:
    """Checks of the shared sections (every float of every section finite); each method section checks itself."""
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
    t = p.train
    require(0 <= t.ema < 1, "train.ema", t.ema, "use 0 (off) or a decay below 1, e.g. 0.999")
    require(t.warmup_steps >= 0, "train.warmup_steps", t.warmup_steps, "use an integer >= 0")
    require(t.recalibrate_bn >= 0, "train.recalibrate_bn", t.recalibrate_bn, "use 0 (off) or a number of images, e.g. 1024")
    require(p.model.stem == "imagenet" or p.image_size <= SMALL_STEM_MAX_SIZE, "model.stem", p.model.stem,
            f"the small stem is for image_size <= {SMALL_STEM_MAX_SIZE} (here {p.image_size}); use imagenet")
