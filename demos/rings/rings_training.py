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
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from rings_params import METHODS, RingsDataParams, RingsParams, RingsTrainParams
from semisup.methods.losses import (
    discriminator_loss,
    feature_matching_loss,
    generator_loss,
    supervised_loss,
    unsupervised_fake_loss,
    unsupervised_real_loss,
)

K = 2  # real classes: 0 = inner ring, 1 = outer ring

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


def plot_extent(d: RingsDataParams) -> float:
    """Half the side of the square that the figures and the D(x) snapshots cover."""
    return d.outer_radius + 4 * d.noise + 0.3


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
                real_maps[step] = torch.from_numpy(grid_maps(clf, plot_extent(p.data), snapshot_grid)[3])

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


def figure_seed_index(results: dict[str, TrainResult], p: RingsParams) -> int:
    """Index (into p.seeds) of the seed the single-seed figures show; see `RingsPlotParams.seed`."""
    if p.plot.seed != "median":
        return p.seeds.index(p.plot.seed)
    gain = np.asarray(results["sgan"].accuracy) - np.asarray(results["labeled_only"].accuracy)
    order = np.argsort(gain, kind="stable")
    return int(order[(len(order) - 1) // 2])
