"""The two-rings demonstration: why a "bad" generator helps a semi-supervised GAN.

2-D points lie on two concentric rings (class 0 inside, class 1 outside); only a handful are labelled. A classifier
trained on the labelled points alone draws a boundary somewhere between them and cuts through both rings. The
semi-supervised GAN's classifier also has to tell the (unlabelled) real points from generated ones, with
D(x) = Z / (Z + 1) and Z = sum_k exp(l_k(x)) (see `semisup.methods.losses`). A generator from a connected latent space can
not cover two separate rings without also putting points in the gap between them: those "complement" points teach
the classifier that the gap is empty, and the class boundary settles there.

Everything runs on the CPU in seconds. All seeds are trained at once as an *ensemble*: every network holds one set
of weights per seed (batched matrix products), each seed draws its own data, labelled points, initial weights,
batches and noise from its own `torch.Generator`, and the optimised loss is the *sum* of the per-seed losses. Adam
works element by element, so each seed's weights follow exactly the updates they would get trained alone; the
ensemble only saves Python overhead (a seed's numbers do not depend on which other seeds run beside it, up to
floating-point rounding).

Methods (all use `semisup.methods.losses`, none re-implements a loss):

* ``labeled_only``: K = 2 logits, `supervised_loss` on the labelled points.
* ``sgan``: K = 2 logits, classifier loss `discriminator_loss` (labelled + unlabelled + generated); generator loss
  `generator_loss` (``train.generator_loss: standard``) or `feature_matching_loss` on the classifier's last hidden
  layer (``feature_matching``).
* ``kplus1`` (the article's first attempt): an explicit third "fake" logit trained with plain cross-entropy over
  K + 1 classes: labelled points to their class, generated points to the fake class, unlabelled points to "not fake",
  i.e. -log(1 - p_fake). With relative logits l_k - l_fake the last two terms are exactly
  `unsupervised_fake_loss` / `unsupervised_real_loss`, and the generator loss is `generator_loss` of the relative
  logits. It differs from ``sgan`` by the free fake logit (Salimans et al. fix it to 0) and by the supervised
  cross-entropy running over K + 1 classes. Predictions use the K real logits.
"""
from __future__ import annotations

import math
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F

from semisup.errors import ConfigError
from semisup.typed import build, read_params_file, require
from semisup.methods.losses import (
    discriminator_loss,
    feature_matching_loss,
    generator_loss,
    supervised_loss,
    unsupervised_fake_loss,
    unsupervised_real_loss,
)

K = 2  # real classes: 0 = inner ring, 1 = outer ring
METHODS = ("labeled_only", "sgan", "kplus1")

# ---------------------------------------------------------------------------------------------------------------
# Parameters
# ---------------------------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------------------------
# Seeds and data
# ---------------------------------------------------------------------------------------------------------------

_STREAMS = {"data": 0, "classifier": 1, "generator": 2, "train": 3}


def seed_generator(seed: int, stream: str) -> torch.Generator:
    """An independent random stream per (seed, purpose), so e.g. the data do not change when the model does."""
    state = np.random.SeedSequence([seed, _STREAMS[stream]]).generate_state(2, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(state) & 0x7FFF_FFFF_FFFF_FFFF)


def ring_points(n_per_ring: int, d: RingsDataParams, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """`n_per_ring` points on each ring: uniform angle, Gaussian radius. Returns (x [2n, 2], y [2n]), inner first."""
    xs, ys = [], []
    for label, radius in enumerate((d.inner_radius, d.outer_radius)):
        angle = torch.rand(n_per_ring, generator=gen) * (2 * math.pi)
        r = radius + d.noise * torch.randn(n_per_ring, generator=gen)
        xs.append(torch.stack([r * torch.cos(angle), r * torch.sin(angle)], dim=1))
        ys.append(torch.full((n_per_ring,), label, dtype=torch.long))
    return torch.cat(xs), torch.cat(ys)


@dataclass(frozen=True)
class RingsData:
    """One seed's data: the training points (all usable unlabelled), which of them are labelled, and a test set."""

    seed: int
    x_train: torch.Tensor  # [2n, 2]
    y_train: torch.Tensor  # [2n] (only used for the labelled points and for plotting)
    labeled_index: torch.Tensor  # [2 * labeled_per_class] rows of x_train
    x_test: torch.Tensor
    y_test: torch.Tensor

    @property
    def x_labeled(self) -> torch.Tensor:
        return self.x_train[self.labeled_index]

    @property
    def y_labeled(self) -> torch.Tensor:
        return self.y_train[self.labeled_index]


def make_data(seed: int, d: RingsDataParams) -> RingsData:
    """Deterministic in (seed, d): training rings, `labeled_per_class` labelled points per ring, test rings."""
    gen = seed_generator(seed, "data")
    x, y = ring_points(d.unlabeled_per_ring, d, gen)
    n = d.unlabeled_per_ring
    picks = [c * n + torch.randperm(n, generator=gen)[: d.labeled_per_class] for c in range(K)]
    x_test, y_test = ring_points(d.test_per_ring, d, gen)
    return RingsData(seed, x, y, torch.cat(picks), x_test, y_test)


# ---------------------------------------------------------------------------------------------------------------
# Networks: one set of weights per seed
# ---------------------------------------------------------------------------------------------------------------


class EnsembleMLP(torch.nn.Module):
    """An MLP with LeakyReLU(0.2) hidden layers and one weight set per seed; input [S, N, in] -> [S, N, out].

    Seed s is initialised like `torch.nn.Linear` (uniform +-1/sqrt(fan_in)) from its own generator, so its weights
    do not depend on the other seeds. `forward` also returns the last hidden layer (feature matching uses it).
    """

    def __init__(self, sizes: list[int], seeds: list[int], stream: str):
        super().__init__()
        self.weights = torch.nn.ParameterList()
        self.biases = torch.nn.ParameterList()
        gens = [seed_generator(s, stream) for s in seeds]
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            bound = 1.0 / math.sqrt(fan_in)
            w = torch.stack([(torch.rand(fan_in, fan_out, generator=g) * 2 - 1) * bound for g in gens])
            b = torch.stack([(torch.rand(1, fan_out, generator=g) * 2 - 1) * bound for g in gens])
            self.weights.append(torch.nn.Parameter(w))
            self.biases.append(torch.nn.Parameter(b))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = x
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = torch.baddbmm(b, h, w)
            if i < last:
                h = F.leaky_relu(h, 0.2)
                features = h
        return h, features


def make_classifier(seeds: list[int], hidden: int, outputs: int) -> EnsembleMLP:
    return EnsembleMLP([2, hidden, hidden, outputs], seeds, "classifier")


def make_generator(seeds: list[int], hidden: int, latent_dim: int) -> EnsembleMLP:
    return EnsembleMLP([latent_dim, hidden, hidden, 2], seeds, "generator")


def _stack(data: list[RingsData], attr: str) -> torch.Tensor:
    return torch.stack([getattr(d, attr) for d in data])


def _flat(t: torch.Tensor) -> torch.Tensor:
    """[S, N, C] -> [S*N, C]. The losses average over examples; every seed has the same N, so S * loss(flat) equals
    the sum of the per-seed losses, which is what makes the ensemble train each seed as if alone."""
    return t.reshape(-1, t.shape[-1])


def _relative(logits: torch.Tensor) -> torch.Tensor:
    """K+1 logits -> K logits relative to the fake one: l_k - l_fake. Then Z/(Z+1) = 1 - p_fake."""
    return logits[..., :K] - logits[..., K:]


def accuracy(classifier: EnsembleMLP, x: torch.Tensor, y: torch.Tensor) -> list[float]:
    """Per-seed accuracy of argmax over the K real logits; x [S, N, 2], y [S, N]."""
    with torch.no_grad():
        logits = classifier(x)[0][..., :K]
        return (logits.argmax(-1) == y).float().mean(dim=1).tolist()


# ---------------------------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class TrainResult:
    method: str
    classifier: EnsembleMLP
    generator: EnsembleMLP | None
    accuracy: list[float]  # per seed, test set
    snapshots: dict[int, torch.Tensor]  # step -> generated points [S, n, 2] (GAN methods)
    seconds: float  # wall clock
    cpu_seconds: float  # CPU time of the training process (what a busy machine does not inflate)
    real_maps: dict[int, torch.Tensor] = field(default_factory=dict)  # step -> D(x) on the plot grid [S, g, g]


def _adam(module: torch.nn.Module, t: RingsTrainParams) -> torch.optim.Adam:
    return torch.optim.Adam(module.parameters(), lr=t.lr, betas=(t.beta1, t.beta2), foreach=True)


def train_labeled_only(data: list[RingsData], p: RingsParams) -> TrainResult:
    """K-logit classifier on the labelled points only (full batch, `train.steps` Adam steps)."""
    start, cpu_start = time.perf_counter(), time.process_time()
    seeds = [d.seed for d in data]
    clf = make_classifier(seeds, p.model.hidden, K)
    opt = _adam(clf, p.train)
    xl, yl = _stack(data, "x_labeled"), _stack(data, "y_labeled")
    for _ in range(p.train.steps):
        loss = supervised_loss(_flat(clf(xl)[0]), yl.reshape(-1)) * len(seeds)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    acc = accuracy(clf, _stack(data, "x_test"), _stack(data, "y_test"))
    return TrainResult("labeled_only", clf, None, acc, {}, time.perf_counter() - start,
                       time.process_time() - cpu_start)


def train_gan(data: list[RingsData], p: RingsParams, kplus1: bool = False, snapshot_steps: tuple[int, ...] = (),
              snapshot_points: int = 500, snapshot_grid: int = 0) -> TrainResult:
    """Semi-supervised GAN (``kplus1=False``: K logits, Salimans et al.) or the explicit K+1-class classifier.

    Per step: the classifier takes one Adam step on labelled + an unlabelled batch + a generated batch, then the
    generator one step against the updated classifier. ``snapshot_steps`` lists after how many steps (0 = before
    training) to keep generated points from fixed noise and, if ``snapshot_grid`` > 0, the classifier's D(x) on a
    ``snapshot_grid``-square grid over the plot area.
    """
    start, cpu_start = time.perf_counter(), time.process_time()
    t, m = p.train, p.model
    seeds = [d.seed for d in data]
    n_seeds = len(seeds)
    clf = make_classifier(seeds, m.hidden, K + 1 if kplus1 else K)
    gen = make_generator(seeds, m.hidden, m.latent_dim)
    opt_c, opt_g = _adam(clf, t), _adam(gen, t)
    rngs = [seed_generator(s, "train") for s in seeds]
    x_train = _stack(data, "x_train")
    xl, yl = _stack(data, "x_labeled"), _stack(data, "y_labeled").reshape(-1)
    n_lab, n_train, bs = xl.shape[1], x_train.shape[1], t.batch_size
    z_fixed = torch.stack([torch.randn(snapshot_points, m.latent_dim, generator=g) for g in rngs])
    snapshots: dict[int, torch.Tensor] = {}
    real_maps: dict[int, torch.Tensor] = {}

    def snap(step: int) -> None:
        if step in snapshot_steps:
            with torch.no_grad():
                snapshots[step] = gen(z_fixed)[0].clone()
            if snapshot_grid:
                real_maps[step] = torch.from_numpy(grid_maps(clf, _extent(p.data), snapshot_grid)[3])

    snap(0)
    for step in range(1, t.steps + 1):
        idx = torch.stack([torch.randint(0, n_train, (bs,), generator=g) for g in rngs])
        xu = torch.gather(x_train, 1, idx.unsqueeze(-1).expand(-1, -1, 2))
        z = torch.stack([torch.randn(bs, m.latent_dim, generator=g) for g in rngs])
        fake = gen(z)[0]

        # classifier step: one forward pass over [labelled | unlabelled | generated]
        logits, features = clf(torch.cat([xl, xu, fake.detach()], dim=1))
        l_lab, l_unl, l_fake = logits[:, :n_lab], logits[:, n_lab:n_lab + bs], logits[:, n_lab + bs:]
        if kplus1:
            # plain (K+1)-class cross-entropy; the real/fake terms written with the project's losses
            loss_c = (supervised_loss(_flat(l_lab), yl)
                      + unsupervised_real_loss(_flat(_relative(l_unl)))
                      + unsupervised_fake_loss(_flat(_relative(l_fake))))
        else:
            loss_c, _ = discriminator_loss(_flat(l_lab), yl, _flat(l_unl), _flat(l_fake), unsupervised_weight=1.0)
        opt_c.zero_grad(set_to_none=True)
        (loss_c * n_seeds).backward()
        opt_c.step()

        # generator step against the updated classifier (its weights frozen: no gradients computed for them)
        clf.requires_grad_(False)
        g_logits, g_features = clf(fake)
        if t.generator_loss == "feature_matching":
            real_features = features[:, n_lab:n_lab + bs].detach()
            loss_g = sum(feature_matching_loss(real_features[s], g_features[s]) for s in range(n_seeds))
        else:
            g_logits = _relative(g_logits) if kplus1 else g_logits
            loss_g = generator_loss(_flat(g_logits)) * n_seeds
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        clf.requires_grad_(True)
        snap(step)

    acc = accuracy(clf, _stack(data, "x_test"), _stack(data, "y_test"))
    return TrainResult("kplus1" if kplus1 else "sgan", clf, gen, acc, snapshots, time.perf_counter() - start,
                       time.process_time() - cpu_start, real_maps)


# ---------------------------------------------------------------------------------------------------------------
# The demo: all methods, all seeds, metrics
# ---------------------------------------------------------------------------------------------------------------


def summarize(values: list[float]) -> dict[str, float]:
    arr = np.asarray(values, dtype=float)
    return {"mean": round(float(arr.mean()), 4), "std": round(float(arr.std(ddof=1)) if arr.size > 1 else 0.0, 4),
            "min": round(float(arr.min()), 4), "max": round(float(arr.max()), 4)}


def train_method(name: str, data: list[RingsData], p: RingsParams) -> TrainResult:
    """One of METHODS on all seeds (module level, so a worker process can run it)."""
    torch.set_num_threads(1)
    if name == "labeled_only":
        return train_labeled_only(data, p)
    if name not in ("sgan", "kplus1"):
        raise ValueError(f"unknown method {name!r}; use one of {', '.join(METHODS)}")
    return train_gan(data, p, kplus1=name == "kplus1", snapshot_steps=p.plot.snapshots,
                     snapshot_points=p.plot.generated_points, snapshot_grid=p.plot.grid // 2)


def run_demo(p: RingsParams) -> tuple[dict[str, Any], list[RingsData], dict[str, TrainResult]]:
    """Train every method on every seed; returns (metrics, data per seed, results per method)."""
    torch.set_num_threads(1)  # tiny matrices: threads only add overhead, and keep results bit-identical
    data = [make_data(s, p.data) for s in p.seeds]
    if p.train.workers > 1:  # one process per method; each method's numbers are the same as in one process
        context = multiprocessing.get_context("spawn")  # no fork of a process that already runs torch
        with ProcessPoolExecutor(max_workers=p.train.workers, mp_context=context) as pool:
            futures = {name: pool.submit(train_method, name, data, p) for name in reversed(p.methods)}
            results = {name: futures[name].result() for name in p.methods}
    else:
        results = {name: train_method(name, data, p) for name in p.methods}
    metrics: dict[str, Any] = {
        "seeds": p.seeds,
        "labeled_per_class": p.data.labeled_per_class,
        "generator_loss": p.train.generator_loss,
        "test_points": 2 * p.data.test_per_ring,
    }
    for name, res in results.items():
        metrics[name] = {"accuracy": {**summarize(res.accuracy),
                                      "per_seed": {str(s): round(a, 4) for s, a in zip(p.seeds, res.accuracy)}},
                         "seconds": round(res.seconds, 2), "cpu_seconds": round(res.cpu_seconds, 2)}
    gap = [s - b for s, b in zip(results["sgan"].accuracy, results["labeled_only"].accuracy)]
    metrics["sgan_minus_labeled_only"] = {**summarize(gap), "seeds_sgan_better": int(sum(g > 0 for g in gap))}
    # share of points between the rings (> 2 noise widths off both), all seeds: generated at each snapshot step,
    # and the real training points for reference (what a generator that matched the data would give)
    metrics["in_gap"] = {name: {str(step): round(fraction_in_gap(points, p.data), 4)
                                for step, points in sorted(res.snapshots.items())}
                         for name, res in results.items() if res.snapshots}
    metrics["in_gap"]["real_data"] = round(fraction_in_gap(_stack(data, "x_train"), p.data), 4)
    metrics["figure_seed"] = p.seeds[figure_seed_index(results, p)]
    return metrics, data, results


def fraction_in_gap(points: torch.Tensor, d: RingsDataParams) -> float:
    """Share of generated points (all seeds) whose radius lies between the rings, more than 2 noise widths off each."""
    r = points.reshape(-1, 2).norm(dim=1)
    lo, hi = d.inner_radius + 2 * d.noise, d.outer_radius - 2 * d.noise
    return float(((r > lo) & (r < hi)).float().mean())


# ---------------------------------------------------------------------------------------------------------------
# Figures (matplotlib imported lazily; the training code does not need it)
# ---------------------------------------------------------------------------------------------------------------

_CLASS_COLORS = ("tab:blue", "tab:orange")
_REGION_COLORS = ("#c6dbef", "#fdd0a2")  # light versions of the class colours, for decision regions


def _extent(d: RingsDataParams) -> float:
    return d.outer_radius + 4 * d.noise + 0.3


def _scatter_data(ax: Any, data: RingsData, faint: bool = False) -> None:
    x, y = data.x_train, data.y_train
    for c in range(K):
        pts = x[y == c]
        ax.scatter(pts[:, 0], pts[:, 1], s=3, c=_CLASS_COLORS[c], alpha=0.25 if faint else 0.5, linewidths=0,
                   label=None if faint else f"unlabelled, ring {c}")
    xl, yl = data.x_labeled, data.y_labeled
    for c in range(K):
        pts = xl[yl == c]
        ax.scatter(pts[:, 0], pts[:, 1], s=120, marker="*", c=_CLASS_COLORS[c], edgecolors="black", linewidths=0.8,
                   zorder=5, label=None if faint else f"labelled, class {c}")


def _square(ax: Any, lim: float) -> None:
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])


def plot_data(data: RingsData, p: RingsParams, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.2, 4.2))
    _scatter_data(ax, data)
    _square(ax, _extent(p.data))
    ax.set_title(f"two rings, {p.data.labeled_per_class} labelled points per class (seed {data.seed})", fontsize=9)
    ax.legend(fontsize=7, loc="upper right", markerscale=1.0, framealpha=0.9)
    fig.tight_layout()
    fig.savefig(path, dpi=p.plot.dpi)
    plt.close(fig)


def plot_generated(data: RingsData, result: TrainResult, index: int, p: RingsParams, path: Path) -> None:
    import matplotlib.pyplot as plt

    steps = sorted(result.snapshots)
    fig, axes = plt.subplots(1, len(steps), figsize=(2.6 * len(steps), 2.9), squeeze=False)
    lim = _extent(p.data)
    for ax, step in zip(axes[0], steps):
        if step in result.real_maps:  # grey where the classifier calls a point generated (D < 0.5)
            d_map = result.real_maps[step][index].numpy()
            axis = np.linspace(-lim, lim, d_map.shape[0])
            ax.contourf(axis, axis, d_map, levels=[0, 0.5, 1], colors=["#d9d9d9", "white"])
        _scatter_data(ax, data, faint=True)
        pts = result.snapshots[step][index]
        ax.scatter(pts[:, 0], pts[:, 1], s=3, c="red", linewidths=0, label="generated")
        share = fraction_in_gap(pts, p.data)
        ax.set_title(f"step {step}: {100 * share:.0f}% in the gap", fontsize=9)
        _square(ax, lim)
    axes[0][0].legend(fontsize=7, loc="upper right", markerscale=3)
    fig.suptitle(f"generated points (red) over the rings, SGAN, seed {data.seed}; grey: D(x) < 0.5", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=p.plot.dpi)
    plt.close(fig)


def grid_maps(classifier: EnsembleMLP, lim: float, n: int) -> tuple[np.ndarray, ...]:
    """On an n x n grid over [-lim, lim]^2: (x, y, P(class 1) [S, n, n], D(x) = Z/(Z+1) [S, n, n]), every seed.

    P(class 1) is the softmax over the K real classes; for a K+1 classifier D = 1 - p_fake (relative logits)."""
    axis = torch.linspace(-lim, lim, n)
    gx, gy = torch.meshgrid(axis, axis, indexing="xy")
    grid = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)
    n_seeds = classifier.weights[0].shape[0]
    with torch.no_grad():
        logits = classifier(grid.expand(n_seeds, -1, -1).contiguous())[0]
        real = _relative(logits) if logits.shape[-1] > K else logits
        p1 = real.softmax(dim=-1)[..., 1]
        d_real = torch.sigmoid(torch.logsumexp(real, dim=-1))  # Z / (Z + 1)
    return gx.numpy(), gy.numpy(), p1.reshape(n_seeds, n, n).numpy(), d_real.reshape(n_seeds, n, n).numpy()


def decision_map(classifier: EnsembleMLP, index: int, lim: float, n: int) -> tuple[np.ndarray, ...]:
    """`grid_maps` for one seed of an ensemble: (x, y, P(class 1), D(x)), each [n, n]."""
    gx, gy, p1, d_real = grid_maps(classifier, lim, n)
    return gx, gy, p1[index], d_real[index]


_TITLES = {"labeled_only": "labelled only", "sgan": "SGAN (K logits)", "kplus1": "explicit K+1 classes"}


def plot_boundaries(data: RingsData, results: dict[str, TrainResult], index: int, p: RingsParams,
                    path: Path) -> None:
    import matplotlib.pyplot as plt

    names = list(results)
    fig, axes = plt.subplots(1, len(names), figsize=(3.4 * len(names), 3.6), squeeze=False)
    lim = _extent(p.data)
    for ax, name in zip(axes[0], names):
        res = results[name]
        gx, gy, p1, d_real = decision_map(res.classifier, index, lim, p.plot.grid)
        ax.contourf(gx, gy, p1, levels=[0, 0.5, 1], colors=list(_REGION_COLORS))
        ax.contour(gx, gy, p1, levels=[0.5], colors="black", linewidths=1.5)
        if res.generator is not None:  # where the classifier believes the data are: D(x) = 0.5
            ax.contour(gx, gy, d_real, levels=[0.5], colors="green", linewidths=0.8, linestyles="dashed")
        _scatter_data(ax, data, faint=True)
        ax.set_title(f"{_TITLES[name]}: test acc {100 * res.accuracy[index]:.0f}%", fontsize=9)
        _square(ax, lim)
    fig.suptitle(f"decision boundary (black); dashed green: D(x)=0.5; seed {data.seed}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=p.plot.dpi)
    plt.close(fig)


def plot_all_seeds(data: list[RingsData], results: dict[str, TrainResult], p: RingsParams, path: Path) -> None:
    """Every method (rows) on every seed (columns): the boundary, the labelled points and the test accuracy."""
    import matplotlib.pyplot as plt

    names = list(results)
    fig, axes = plt.subplots(len(names), len(data), figsize=(1.25 * len(data) + 0.4, 1.45 * len(names) + 0.4),
                             squeeze=False, layout="constrained")
    lim = _extent(p.data)
    n = max(40, p.plot.grid // 2)
    for row, name in enumerate(names):
        res = results[name]
        for col, d in enumerate(data):
            ax = axes[row][col]
            gx, gy, p1, _ = decision_map(res.classifier, col, lim, n)
            ax.contourf(gx, gy, p1, levels=[0, 0.5, 1], colors=list(_REGION_COLORS))
            ax.contour(gx, gy, p1, levels=[0.5], colors="black", linewidths=0.8)
            ring = d.x_train[:: max(1, len(d.x_train) // 300)]
            ax.scatter(ring[:, 0], ring[:, 1], s=0.5, c="grey", linewidths=0)
            xl, yl = d.x_labeled, d.y_labeled
            ax.scatter(xl[:, 0], xl[:, 1], s=25, marker="*", c=[_CLASS_COLORS[int(c)] for c in yl],
                       edgecolors="black", linewidths=0.4, zorder=5)
            ax.set_title(f"{100 * res.accuracy[col]:.0f}%", fontsize=7, pad=2)
            _square(ax, lim)
            if col == 0:
                ax.set_ylabel(_TITLES[name], fontsize=7)
            if row == len(names) - 1:
                ax.set_xlabel(f"seed {d.seed}", fontsize=7)
    fig.suptitle("decision boundaries and test accuracy, every seed", fontsize=9)
    fig.savefig(path, dpi=p.plot.dpi)
    plt.close(fig)


def figure_seed_index(results: dict[str, TrainResult], p: RingsParams) -> int:
    """Index (into p.seeds) of the seed the single-seed figures show; see `RingsPlotParams.seed`."""
    if p.plot.seed != "median":
        return p.seeds.index(p.plot.seed)
    gain = np.asarray(results["sgan"].accuracy) - np.asarray(results["labeled_only"].accuracy)
    order = np.argsort(gain, kind="stable")
    return int(order[(len(order) - 1) // 2])


def write_figures(data: list[RingsData], results: dict[str, TrainResult], p: RingsParams, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    out.mkdir(parents=True, exist_ok=True)
    index = figure_seed_index(results, p)
    paths = [out / "data.png", out / "generated.png", out / "boundaries.png", out / "boundaries_all_seeds.png"]
    plot_data(data[index], p, paths[0])
    plot_generated(data[index], results["sgan"], index, p, paths[1])
    plot_boundaries(data[index], results, index, p, paths[2])
    plot_all_seeds(data, results, p, paths[3])
    return paths
