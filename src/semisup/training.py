"""Training loops: the supervised baseline and the semi-supervised GAN, as the published code ran them by default.

Both keep the epoch with the best validation accuracy, save a checkpoint every epoch (resumed when the stage is rerun
with the same params and data) and log per-epoch curves with DVCLive. Losses stay on the device inside an epoch; they
are read back once per epoch (and every `LOG_EVERY` steps for the progress bar), never per step.

Beyond the published recipe, each a param that the `paper` profile leaves off: augmented labelled batches
(`LabeledData.augmented`), a learning-rate schedule counted in steps, an EMA of the classifier (what validation,
selection and the test see), the small-image stem, and for the GAN feature matching and the pass scheme.
"""
from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import math
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

import torch
from torch import nn
from torch.optim.swa_utils import update_bn
from torchvision.utils import save_image
from tqdm import tqdm

from . import losses
from .artifacts import refused_code
from .config import Params
from .ema import evaluated, make_ema
from .errors import PipelineError
from .evaluation import Evaluation, evaluate
from .execution import Execution, all_ranks_mean
from .files import atomic_path
from .models import Classifier, Generator, to_unit_range
from .schedules import make_scheduler
from .typed import dotted

if TYPE_CHECKING:  # DVCLive is needed by the stages that log, not to train (the GPU check runs without it)
    from dvclive import Live

LOG_EVERY = 10
NOISE_STRIDE = 7919  # rank r draws its random stream (noise, picks) from seed + k + r * NOISE_STRIDE


@dataclass
class LabeledData:
    """What both methods see: the fixed labelled batch and the validation set, as tensors on the device."""

    x_labeled: torch.Tensor
    y_labeled: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    augmented: Callable[[], tuple[torch.Tensor, torch.Tensor]] | None = None  # a fresh augmented labelled batch
    x_calibration: torch.Tensor | None = None  # real images for BatchNorm statistics (`train.recalibrate_bn`)

    def batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The labelled batch for one step: a new augmentation of the whole set, or the fixed decoded set."""
        return (self.x_labeled, self.y_labeled) if self.augmented is None else self.augmented()


@dataclass
class TrainResult:
    classifier_state: dict[str, torch.Tensor]
    best_epoch: int  # 1-based
    val_accuracy: float
    val_loss: float
    epochs_run: int
    train_seconds: float
    images_per_second: float
    generator_state: dict[str, torch.Tensor] | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    steps: int = 0  # classifier optimiser steps taken: the budget that runs are compared at

    def summary(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k not in ("classifier_state", "generator_state", "history")}


def stage_params(stage: str, dvc_yaml: Path = Path("dvc.yaml")) -> list[str] | None:
    """The params a stage declares in dvc.yaml (`model`, `gan`, `data.source`, ...), or None when it is not there."""
    import yaml

    try:
        spec = yaml.safe_load(dvc_yaml.read_text())["stages"][stage]["params"]
    except (OSError, KeyError, TypeError, yaml.YAMLError):
        return None
    return [p for p in spec if isinstance(p, str)]


def fingerprint(params: Params, method: str, labeled_csv: Path, dvc_yaml: Path = Path("dvc.yaml")) -> str:
    """Identifies a run for resuming: every param the method's stage declares in dvc.yaml (all params when the
    stage is not found, so nothing it reads is ever left out) plus the labelled set it was given."""
    values = asdict(params)
    keys = stage_params(f"train_{method}", dvc_yaml) or sorted(values)
    relevant = {key: dotted(values, key) for key in keys}
    blob = json.dumps(relevant, sort_keys=True, default=str) + hashlib.sha256(labeled_csv.read_bytes()).hexdigest()
    return hashlib.sha256(blob.encode()).hexdigest()


class Checkpoint:
    """Last-epoch state in a file outside DVC's outputs (so DVC never deletes it and keeps its run cache).

    Written atomically (`files.atomic_path`), read with `weights_only=True` (tensors and plain values only: a
    crafted file cannot run code), and a file that cannot be read (a power cut, a full disk) is moved aside with one
    line and training starts fresh. `hold()` locks it for one run at a time."""

    def __init__(self, path: Path, key: str, writer: bool = True):
        self.path, self.key, self.writer = path, key, writer  # every rank reads; only rank 0 writes
        self._lock = None

    def hold(self) -> None:
        """An exclusive lock on this checkpoint for this run (the writer rank): a second run of the same method in
        the same folder (a hand run beside `dvc repro`) stops at once, naming the first, instead of resuming from
        and overwriting its checkpoint. The lock ends with the process, however it ends."""
        import fcntl

        if not self.writer or self._lock is not None:
            return
        lock = self.path.with_name(self.path.name + ".lock")
        lock.parent.mkdir(parents=True, exist_ok=True)
        handle = lock.open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise PipelineError(f"{self.path}: {holder} is training this method in this folder; wait for it to end "
                                "or stop it, then rerun (two runs would resume from and overwrite one checkpoint)")
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} (`{' '.join(sys.argv)}`, started {time.strftime('%Y-%m-%d %H:%M:%S')})\n")
        handle.flush()
        self._lock = handle

    def load(self, device: torch.device) -> dict[str, Any] | None:
        if not self.path.is_file():
            return None
        try:
            state = torch.load(self.path, map_location=device, weights_only=True)
            if not isinstance(state, dict):
                raise ValueError("not a dict")
        except Exception as exc:  # noqa: BLE001 - truncated, corrupt or unsafe: never resume from it
            why = "holds objects other than tensors and plain values" if refused_code(exc) \
                else f"cannot be read ({type(exc).__name__})"
            if self.writer:  # other ranks read the same file and start fresh alike
                aside = self.path.with_name(f"{self.path.name}.unreadable-{time.strftime('%Y%m%d-%H%M%S')}")
                self.path.replace(aside)
                print(f"{self.path}: {why}; moved aside to {aside.name}, starting fresh")
            return None
        if state.get("key") != self.key:
            print(f"{self.path}: params or data changed since this checkpoint; starting fresh")
            return None
        return state

    def save(self, state: dict[str, Any]) -> None:
        if not self.writer:
            return
        with atomic_path(self.path) as tmp:  # an interrupt or a full disk never leaves half a checkpoint
            torch.save({**state, "key": self.key}, tmp)

    @property
    def kept(self) -> Path:
        """Copies of outputs drawn during the run (the GAN's grids), restored on resume."""
        return self.path.with_name(f"{self.path.stem}-kept")

    def keep(self, output: Path) -> None:
        if self.writer:
            self.kept.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(output, self.kept / output.name)

    def restore_kept(self, into: Path) -> None:
        if self.kept.is_dir():
            into.mkdir(parents=True, exist_ok=True)
            for saved in sorted(self.kept.iterdir()):
                if not (into / saved.name).exists():
                    shutil.copyfile(saved, into / saved.name)

    def remove(self) -> None:
        if self.writer:
            self.path.unlink(missing_ok=True)
            shutil.rmtree(self.kept, ignore_errors=True)
        if self._lock is not None:
            self._lock.close()  # closing releases the lock
            self._lock = None


EXPLODED = 1e4  # a cross-entropy-type loss this large means logits of that size: the run is blowing up


def check_finite(values: dict[str, float], epoch: int, checkpoint: Checkpoint) -> None:
    """Stop on a NaN or infinite loss (training or validation), saying exactly what is kept; warn when a loss has
    exploded without becoming infinite (an lr of 1000 trains to chance with losses near 1e8)."""
    bad = [k for k, v in values.items() if not math.isfinite(v)]
    if bad:
        kept = (f"{checkpoint.path} keeps the state saved before this epoch, but rerunning with the same params "
                "resumes from it and diverges again" if checkpoint.path.is_file() else "no checkpoint was kept")
        raise PipelineError(f"epoch {epoch}: {', '.join(bad)} is NaN or infinite: training diverged and no model "
                            f"was written; {kept}. Lower the learning rate or change the seed, then rerun (changed "
                            "params start fresh)")
    big = {k: v for k, v in values.items() if abs(v) > EXPLODED}
    if big:
        print("warning: epoch {}: {} exploded (over {:.0e}): the learning rate is probably too high; the run goes on, "
              "but expect chance accuracy".format(epoch, ", ".join(f"{k}={v:.3g}" for k, v in big.items()), EXPLODED))


class Best:
    """Keeps the earliest epoch with the highest validation accuracy (validation only, never test)."""

    def __init__(self) -> None:
        self.accuracy, self.loss, self.epoch, self.states = -1.0, math.inf, 0, None

    def update(self, accuracy: float, loss: float, epoch: int, *models: torch.nn.Module) -> bool:
        if accuracy <= self.accuracy:
            return False
        self.accuracy, self.loss, self.epoch = accuracy, loss, epoch
        self.states = [copy.deepcopy(m.state_dict()) for m in models]
        return True

    def state(self) -> dict[str, Any]:
        return {"accuracy": self.accuracy, "loss": self.loss, "epoch": self.epoch, "states": self.states}

    def restore(self, state: dict[str, Any]) -> None:
        self.accuracy, self.loss, self.epoch, self.states = state["accuracy"], state["loss"], state["epoch"], state["states"]


def calibration_batches(x: torch.Tensor, batch_size: int) -> tuple[torch.Tensor, ...]:
    """Batches of near-equal size (at most `batch_size`, differing by at most one image): `update_bn` averages
    batches with equal weight, so a 24-image remainder must not count as much as a full batch of 250."""
    return x.tensor_split(max(1, math.ceil(x.shape[0] / batch_size)))


@torch.no_grad()
def validate(judged: nn.Module, data: LabeledData, params: Params, amp: bool) -> Evaluation:
    """Validation of the network that selection and the test see. With `train.recalibrate_bn`, its BatchNorm running
    statistics are first recomputed from real images (torch's `update_bn`, as for averaged weights): the running
    estimates trail weights that moved since, and in the published loop they also fold in generated images."""
    if params.train.recalibrate_bn > 0 and data.x_calibration is not None:
        update_bn(calibration_batches(data.x_calibration, params.loader.eval_batch_size), judged)
    return evaluate(judged, data.x_val, data.y_val, params.loader.eval_batch_size, amp)


def _labeled_share(x: torch.Tensor, y: torch.Tensor, exe: Execution) -> tuple[torch.Tensor, torch.Tensor]:
    """This rank's slice of the labelled batch: with gradients averaged over ranks, the slices add up to one
    full-batch step (BatchNorm sees each rank's slice)."""
    r = exe.ranks
    return (x, y) if not r.distributed else (x[r.rank::r.world_size], y[r.rank::r.world_size])


def train_baseline(params: Params, data: LabeledData, device: torch.device, checkpoint: Checkpoint, live: Live | None,
                   exe: Execution | None = None) -> TrainResult:
    """Supervised ResNet18 on the labelled batch alone: one full-batch SGD step per epoch, as published."""
    cfg, t = params.baseline, params.train
    exe = exe or Execution.from_config(t, device)
    torch.manual_seed(params.seed)
    model = exe.place(Classifier(stem=params.model.stem))
    step_model = exe.trainable(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    scheduler = make_scheduler(optimizer, cfg.epochs, t.schedule, t.warmup_steps)
    ema = make_ema(model, t.ema)
    best, start, history, seconds, steps = Best(), 1, [], 0.0, 0
    if (state := checkpoint.load(device)) is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if ema is not None:
            ema.load_state_dict(state["ema"])
        best.restore(state["best"])
        start, history, seconds, steps = state["epoch"] + 1, state["history"], state["seconds"], state["epoch"]
        torch.set_rng_state(state["rng"])
        replay(live, history)
        print(f"resuming the baseline at epoch {start}")
    main = exe.ranks.is_main
    bar = tqdm(range(start, cfg.epochs + 1), desc="baseline", unit="epoch", initial=start - 1, total=cfg.epochs,
               disable=not main)
    for epoch in bar:
        began = time.perf_counter()
        model.train()
        x, y = _labeled_share(*data.batch(), exe)
        with exe.autocast():
            loss = losses.supervised_loss(step_model(exe.images(x)).float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        if ema is not None:
            ema.update_parameters(model)
        seconds += time.perf_counter() - began
        steps += 1
        if epoch % cfg.eval_every == 0 or epoch == cfg.epochs:
            train_loss = all_ranks_mean(loss.detach(), exe.ranks).item()
            check_finite({"train_loss": train_loss}, epoch, checkpoint)
            if main:
                judged = evaluated(model, ema)
                val = validate(judged, data, params, exe.amp)
                check_finite({"val_loss": val.loss}, epoch, checkpoint)
                row = {"epoch": epoch, "train_loss": train_loss, "val_accuracy": val.accuracy, "val_loss": val.loss}
                best.update(val.accuracy, val.loss, epoch, judged)
                history.append(row)
                log_row(live, row)
                bar.set_postfix(loss=f"{train_loss:.3f}", val_acc=f"{val.accuracy:.3f}", best=best.epoch)
        if epoch % cfg.checkpoint_every == 0 or epoch == cfg.epochs:
            checkpoint.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                             "scheduler": scheduler.state_dict(), "ema": None if ema is None else ema.state_dict(),
                             "best": best.state(), "epoch": epoch, "history": history, "seconds": seconds,
                             "rng": torch.get_rng_state()})
    images = steps * data.x_labeled.shape[0]
    return TrainResult(best.states[0] if best.states else {}, best.epoch, best.accuracy, best.loss, cfg.epochs,
                       seconds, images / max(seconds, 1e-9), history=history, steps=steps)


@contextlib.contextmanager
def running_stats_frozen(module: nn.Module, frozen: bool = True) -> Iterator[None]:
    """BatchNorm layers keep normalising with the batch's own statistics but leave their running estimates (what
    evaluation uses) alone: momentum 0 for the duration."""
    layers = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)] if frozen else []
    saved = [m.momentum for m in layers]
    for m in layers:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, momentum in zip(layers, saved):
            m.momentum = momentum


def classifier_passes(classifier: nn.Module, x_labeled: torch.Tensor, x_unlabeled: torch.Tensor, fake: torch.Tensor,
                      scheme: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Logits of the labelled, unlabelled and generated batches. In train mode BatchNorm normalises each pass with
    its own batch statistics and folds them into the running statistics that evaluation uses: `separate` is the
    published three passes (half of the running-statistics updates then come from generated images: the classifier's
    pass over them and the generator's pass through the classifier), `joint` one pass
    over all three (every batch normalised alike), `real_joint` one pass over the real images and one over the
    generated that leaves the running statistics alone, so evaluation normalises with real images' statistics."""
    if scheme == "separate":
        return classifier(x_labeled), classifier(x_unlabeled), classifier(fake)
    sizes = [x_labeled.shape[0], x_unlabeled.shape[0], fake.shape[0]]
    if scheme == "joint":
        return tuple(classifier(torch.cat([x_labeled, x_unlabeled, fake])).split(sizes))
    if scheme == "real_joint":
        lab, unl = classifier(torch.cat([x_labeled, x_unlabeled])).split(sizes[:2])
        with running_stats_frozen(classifier):
            return lab, unl, classifier(fake)
    raise ValueError(f"gan.passes: {scheme!r} is not a pass scheme; use separate, joint or real_joint")


class GanStep:
    """The networks, optimisers and noise of the semi-supervised GAN, and one training step of it (`step(...)`).

    Per step, as published: the classifier's passes over the labelled, unlabelled and generated-and-detached batches
    (`gan.passes`), one classifier update; then one generator update through the updated classifier on the same
    generated batch ("look real", or feature matching). Losses come back as detached device tensors: nothing in the
    step waits for the device. The benchmark times exactly this step.
    """

    def __init__(self, params: Params, exe: Execution, total_steps: int):
        cfg, t = params.gan, params.train
        self.cfg, self.exe = cfg, exe
        torch.manual_seed(params.seed)
        self.classifier = exe.place(Classifier(stem=params.model.stem))
        self.generator = exe.place(Generator(params.image_size, cfg.latent_dim, cfg.generator_width))
        self._d = exe.trainable(self.classifier)  # the classifier update: gradients averaged over ranks
        self._g = exe.trainable(self.generator)
        # The generator update reads the classifier without syncing its (unused) gradients across ranks.
        self._d_for_g = self._d if not exe.ranks.distributed else (
            torch.compile(self.classifier) if exe.compile else self.classifier)
        betas = (cfg.beta1, cfg.beta2)
        self.opt_d = torch.optim.Adam(self.classifier.parameters(), lr=cfg.lr, betas=betas)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=cfg.lr, betas=betas)
        self.sched_d = make_scheduler(self.opt_d, total_steps, t.schedule, t.warmup_steps)
        self.sched_g = make_scheduler(self.opt_g, total_steps, t.schedule, t.warmup_steps)
        self.ema = make_ema(self.classifier, t.ema)
        self.noise = torch.Generator(device=exe.device).manual_seed(params.seed + 1 + NOISE_STRIDE * exe.ranks.rank)
        self.fixed_z = torch.randn(64, cfg.latent_dim, device=exe.device, generator=self.noise)  # for the grids

    def step(self, x_labeled: torch.Tensor, y_labeled: torch.Tensor, x_unlabeled: torch.Tensor) -> dict[str, torch.Tensor]:
        cfg, exe = self.cfg, self.exe
        x_labeled, x_unlabeled = exe.images(x_labeled), exe.images(x_unlabeled)
        z = torch.randn(x_unlabeled.shape[0], cfg.latent_dim, device=exe.device, generator=self.noise)
        with exe.autocast():
            fake = exe.images(to_unit_range(self._g(z)))
            logits = classifier_passes(self._d, x_labeled, x_unlabeled, fake.detach(), cfg.passes)
            loss_d, parts = losses.discriminator_loss(logits[0].float(), y_labeled, logits[1].float(), logits[2].float())
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        self.sched_d.step()
        if self.ema is not None:
            self.ema.update_parameters(self.classifier)
        with exe.autocast(), running_stats_frozen(self.classifier, cfg.passes == "real_joint"):
            if cfg.generator_loss == "feature_matching":  # one pass: real and generated features share BatchNorm statistics
                real_features, fake_features = self._d_for_g(torch.cat([x_unlabeled, fake]), features=True).float().chunk(2)
                loss_g = losses.feature_matching_loss(real_features.detach(), fake_features)
            else:
                loss_g = losses.generator_loss(self._d_for_g(fake).float())
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        self.sched_g.step()
        return {k: v.detach() for k, v in {**parts, "generator": loss_g, "discriminator": loss_d}.items()}

    def state_dict(self) -> dict[str, Any]:
        return {"classifier": self.classifier.state_dict(), "generator": self.generator.state_dict(),
                "opt_d": self.opt_d.state_dict(), "opt_g": self.opt_g.state_dict(),
                "sched_d": self.sched_d.state_dict(), "sched_g": self.sched_g.state_dict(),
                "ema": None if self.ema is None else self.ema.state_dict(), "noise": self.noise.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.classifier.load_state_dict(state["classifier"])
        self.generator.load_state_dict(state["generator"])
        for name in ("opt_d", "opt_g", "sched_d", "sched_g"):
            getattr(self, name).load_state_dict(state[name])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        self.noise.set_state(state["noise"])  # rank 0's stream: a resumed multi-rank run is not bit-identical


def train_gan(
    params: Params,
    data: LabeledData,
    unlabeled: Callable[[int], Iterable[torch.Tensor]],
    steps_per_epoch: int,
    device: torch.device,
    checkpoint: Checkpoint,
    live: Live | None,
    samples_dir: Path,
    exe: Execution | None = None,
) -> TrainResult:
    """Semi-supervised GAN (Salimans et al. 2016) as the published loop (`GanStep`), one epoch per pass over the
    unlabelled set: validation, selection, curves, grids and checkpoints per epoch. `unlabeled(epoch)` yields image
    batches (this rank's shard under torchrun)."""
    cfg = params.gan
    exe = exe or Execution.from_config(params.train, device)
    gan = GanStep(params, exe, cfg.epochs * steps_per_epoch)
    best, start, history, seconds, images_seen, total = Best(), 1, [], 0.0, 0, 0
    if (state := checkpoint.load(device)) is not None:
        gan.load_state_dict(state)
        best.restore(state["best"])
        torch.set_rng_state(state["rng"])
        start, history, seconds = state["epoch"] + 1, state["history"], state["seconds"]
        images_seen, total = state["images"], state["steps"]
        replay(live, history)
        print(f"resuming the GAN at epoch {start}")
        if exe.ranks.is_main:
            checkpoint.restore_kept(samples_dir)  # DVC deleted the stage's outputs, grids included, before rerunning
    main = exe.ranks.is_main
    if main:
        samples_dir.mkdir(parents=True, exist_ok=True)
    for epoch in range(start, cfg.epochs + 1):
        gan.classifier.train()
        gan.generator.train()
        sums = {k: torch.zeros((), device=device) for k in ("supervised", "real", "fake", "generator")}
        steps, began = 0, time.perf_counter()
        bar = tqdm(unlabeled(epoch), total=steps_per_epoch, desc=f"gan {epoch}/{cfg.epochs}", unit="step", leave=False,
                   disable=not main)
        for x_unlabeled in bar:
            out = gan.step(*data.batch(), x_unlabeled)
            for k in sums:
                sums[k] += out[k]
            steps += 1
            images_seen += x_unlabeled.shape[0] * exe.ranks.world_size
            if steps % LOG_EVERY == 0 and main:
                bar.set_postfix(d=f"{out['discriminator'].item():.3f}", g=f"{out['generator'].item():.3f}",
                                img_s=f"{steps * x_unlabeled.shape[0] * exe.ranks.world_size / (time.perf_counter() - began):.0f}")
        if steps == 0:
            raise PipelineError("the unlabelled set gives no full batch: add unlabelled images or lower gan.batch_size")
        total += steps
        seconds += time.perf_counter() - began
        means = {f"{k}_loss": (all_ranks_mean(v, exe.ranks) / steps).item() for k, v in sums.items()}
        check_finite(means, epoch, checkpoint)
        if main:
            judged = evaluated(gan.classifier, gan.ema)
            val = validate(judged, data, params, exe.amp)
            check_finite({"val_loss": val.loss}, epoch, checkpoint)
            best.update(val.accuracy, val.loss, epoch, judged, gan.generator)
            row = {"epoch": epoch, **means, "val_accuracy": val.accuracy, "val_loss": val.loss}
            history.append(row)
            log_row(live, row)
            print(f"gan epoch {epoch}/{cfg.epochs}: " + " ".join(f"{k}={v:.4f}" for k, v in row.items() if k != "epoch")
                  + f" (best epoch {best.epoch})")
            if epoch % cfg.grid_every == 0 or epoch == cfg.epochs:
                grid = samples_dir / f"epoch_{epoch:03d}.png"
                _save_grid(gan.generator, gan.fixed_z, grid)
                checkpoint.keep(grid)
        if epoch % cfg.checkpoint_every == 0 or epoch == cfg.epochs:
            checkpoint.save({**gan.state_dict(), "best": best.state(), "rng": torch.get_rng_state(), "epoch": epoch,
                             "history": history, "seconds": seconds, "images": images_seen, "steps": total})
    states = best.states or [{}, None]
    return TrainResult(states[0], best.epoch, best.accuracy, best.loss, len(history), seconds,
                       images_seen / max(seconds, 1e-9), generator_state=states[1], history=history, steps=total)


@torch.no_grad()
def _save_grid(generator: Generator, z: torch.Tensor, path: Path) -> None:
    was_training = generator.training
    generator.eval()
    with atomic_path(path) as tmp:
        save_image(to_unit_range(generator(z)).float(), tmp, nrow=8, format="png")
    generator.train(was_training)


def replay(live: Live | None, history: list[dict[str, float]]) -> None:
    """DVC deletes a stage's outputs before rerunning it, so a resumed run rewrites the curves it already has."""
    for row in history:
        log_row(live, row)


def log_row(live: Live | None, row: dict[str, float]) -> None:
    """One row of curves (rank 0 only: other ranks have no `live`)."""
    if live is None:
        return
    for key, value in row.items():
        if key != "epoch":
            live.log_metric(key, value)
    live.next_step()
