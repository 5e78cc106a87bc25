"""The two-rings demonstration's parameters (demos/rings/params.yaml): typed, frozen, and checked once with one-line
errors that name the key, before any training starts."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from semisup.errors import ConfigError
from semisup.typed import build, read_params_file, require

METHODS = ("labeled_only", "sgan", "kplus1")


@dataclass(frozen=True)
class RingsDataParams:
    inner_radius: float = 1.0
    outer_radius: float = 2.0
    noise: float = 0.1  # standard deviation of the radius
    unlabeled_per_ring: int = 500  # training points per ring (the labelled ones are drawn from these)
    test_per_ring: int = 500  # fresh points per ring for the test accuracy
    labeled_per_class: int = 2


@dataclass(frozen=True)
class RingsModelParams:
    hidden: int = 64  # width of the two hidden layers of classifier and generator
    latent_dim: int = 2  # generator noise dimension


@dataclass(frozen=True)
class RingsTrainParams:
    steps: int = 3000  # optimizer steps, every method
    lr: float = 0.003  # Adam, both networks
    beta1: float = 0.5
    beta2: float = 0.999
    batch_size: int = 64  # unlabelled and generated points per step
    generator_loss: Literal["standard", "feature_matching"] = "standard"
    kplus1: bool = True  # also train the explicit K+1-class classifier
    # processes, one method each; 1 = all in this process. Results do not depend on it. > 1 starts workers with
    # `spawn`, so a calling script needs the `if __name__ == "__main__":` guard (demos/rings/rings.py has it)
    workers: int = 1


@dataclass(frozen=True)
class RingsPlotParams:
    # which seed data.png, generated.png and boundaries.png show: one of the trained seeds, or `median`: the seed
    # whose SGAN gain over labelled-only is the median one (the lower middle for an even count), a typical case
    seed: int | str = "median"
    snapshots: tuple[int, ...] = (0, 250, 1000, 3000)  # steps at which generated points are drawn
    generated_points: int = 500
    grid: int = 120  # resolution of the decision maps
    dpi: int = 80


@dataclass(frozen=True)
class RingsParams:
    num_seeds: int = 10  # seeds first_seed .. first_seed + num_seeds - 1, all reported (no picking)
    first_seed: int = 0
    data: RingsDataParams = field(default_factory=RingsDataParams)
    model: RingsModelParams = field(default_factory=RingsModelParams)
    train: RingsTrainParams = field(default_factory=RingsTrainParams)
    plot: RingsPlotParams = field(default_factory=RingsPlotParams)

    @property
    def seeds(self) -> list[int]:
        return list(range(self.first_seed, self.first_seed + self.num_seeds))

    @property
    def methods(self) -> list[str]:
        return ["labeled_only", "sgan"] + (["kplus1"] if self.train.kplus1 else [])


def load_rings_params(path: str | Path) -> RingsParams:
    raw = read_params_file(path, "demos/rings (where its dvc.yaml is)")
    try:
        return rings_params_from_dict(raw)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def rings_params_from_dict(raw: dict[str, Any]) -> RingsParams:
    params = build(RingsParams, raw)
    _validate(params)
    return params


def _validate(p: RingsParams) -> None:
    require(1 <= p.num_seeds <= 100, "num_seeds", p.num_seeds, "use 1..100 (the demo reports >= 5)")
    require(p.first_seed >= 0, "first_seed", p.first_seed, "use an integer >= 0")
    d = p.data
    require(d.inner_radius > 0, "data.inner_radius", d.inner_radius, "use a number > 0")
    require(d.outer_radius > d.inner_radius, "data.outer_radius", d.outer_radius,
             f"use a number > data.inner_radius ({d.inner_radius})")
    require(d.noise >= 0, "data.noise", d.noise, "use a number >= 0")
    require(d.unlabeled_per_ring >= 1, "data.unlabeled_per_ring", d.unlabeled_per_ring, "use an integer >= 1")
    require(d.test_per_ring >= 1, "data.test_per_ring", d.test_per_ring, "use an integer >= 1")
    require(1 <= d.labeled_per_class <= d.unlabeled_per_ring, "data.labeled_per_class", d.labeled_per_class,
             f"use 1..data.unlabeled_per_ring ({d.unlabeled_per_ring})")
    m = p.model
    require(m.hidden >= 1, "model.hidden", m.hidden, "use an integer >= 1")
    require(m.latent_dim >= 1, "model.latent_dim", m.latent_dim, "use an integer >= 1")
    t = p.train
    require(t.steps >= 1, "train.steps", t.steps, "use an integer >= 1")
    require(t.lr > 0, "train.lr", t.lr, "use a number > 0")
    require(0 <= t.beta1 < 1, "train.beta1", t.beta1, "use 0 <= beta1 < 1")
    require(0 <= t.beta2 < 1, "train.beta2", t.beta2, "use 0 <= beta2 < 1")
    require(t.batch_size >= 1, "train.batch_size", t.batch_size, "use an integer >= 1")
    require(1 <= t.workers <= 8, "train.workers", t.workers, "use 1..8")
    pl = p.plot
    require(pl.seed == "median" or pl.seed in p.seeds, "plot.seed", pl.seed,
             f"use median or one of the trained seeds {p.first_seed}..{p.first_seed + p.num_seeds - 1}")
    for i, s in enumerate(pl.snapshots):
        require(0 <= s <= t.steps, f"plot.snapshots[{i}]", s, f"use steps in 0..train.steps ({t.steps})")
    require(pl.generated_points >= 1, "plot.generated_points", pl.generated_points, "use an integer >= 1")
    require(10 <= pl.grid <= 1000, "plot.grid", pl.grid, "use 10..1000")
    require(20 <= pl.dpi <= 300, "plot.dpi", pl.dpi, "use 20..300")
