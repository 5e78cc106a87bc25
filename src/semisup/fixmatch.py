"""FixMatch (Sohn et al. 2020) on the same ResNet18, labelled set and unlabelled photos as the GAN.

Per step: a weakly augmented labelled batch (`labeled_batch` drawn from a fresh crop-and-flip of the labelled set),
`mu x labeled_batch` unlabelled images as a weak view (crop and flip from the DALI graph) and a strong view of the
same images (RandAugment + cutout, `semisup.augment`), one concatenated train-mode pass, and the loss
cross-entropy(labelled) + lambda_u x masked cross-entropy(strong view, confident weak-view pseudo-labels).
SGD with Nesterov momentum; the schedule, EMA and stem follow `train` and `model` like the other methods.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Callable, Iterable

import torch
from tqdm import tqdm

from . import losses
from .augment import strong_augmenter, strong_views
from .config import Params
from .ema import evaluated, make_ema
from .errors import PipelineError
from .execution import Execution, all_ranks_mean
from .models import Classifier
from .schedules import make_scheduler
from .training import (LOG_EVERY, NOISE_STRIDE, Best, Checkpoint, LabeledData, TrainResult, check_finite, log_row,
                       replay, validate)

if TYPE_CHECKING:  # DVCLive is needed by the stages that log, not to train (the GPU check runs without it)
    from dvclive import Live


def decay_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """Weight decay on convolution and linear kernels only, as FixMatch's reference code does; BatchNorm's scales
    and shifts and the biases are not decayed."""
    kernels = [p for p in model.parameters() if p.ndim > 1]
    others = [p for p in model.parameters() if p.ndim <= 1]
    return [{"params": kernels, "weight_decay": weight_decay}, {"params": others, "weight_decay": 0.0}]


def labeled_indices(n: int, batch: int, generator: torch.Generator) -> torch.Tensor:
    """`batch` distinct labelled images per step when the set is large enough, otherwise drawn with replacement."""
    if batch <= n:  # drawn on the generator's device: no host-device copy inside the step
        return torch.randperm(n, generator=generator, device=generator.device)[:batch]
    return torch.randint(n, (batch,), generator=generator, device=generator.device)


def train_fixmatch(
    params: Params,
    data: LabeledData,
    unlabeled: Callable[[int], Iterable[torch.Tensor]],
    steps_per_epoch: int,
    device: torch.device,
    checkpoint: Checkpoint,
    live: Live | None,
    exe: Execution | None = None,
) -> TrainResult:
    """`unlabeled(epoch)` yields weakly augmented unlabelled batches of mu x labeled_batch images (this rank's shard
    under torchrun; each rank also draws its own labelled batch)."""
    cfg, t = params.fixmatch, params.train
    exe = exe or Execution.from_config(t, device)
    torch.manual_seed(params.seed)
    model = exe.place(Classifier(stem=params.model.stem))
    step_model = exe.trainable(model)
    optimizer = torch.optim.SGD(decay_groups(model, cfg.weight_decay), lr=cfg.lr, momentum=cfg.momentum,
                                nesterov=cfg.momentum > 0)
    schedule = "fixmatch_cosine" if t.schedule == "cosine" else t.schedule
    scheduler = make_scheduler(optimizer, cfg.epochs * steps_per_epoch, schedule, t.warmup_steps)
    ema = make_ema(model, t.ema)
    strong = strong_augmenter(cfg.rand_augment_ops, cfg.rand_augment_magnitude)
    picks = torch.Generator(device=data.y_labeled.device)
    picks.manual_seed(params.seed + 2 + NOISE_STRIDE * exe.ranks.rank)
    best, start, history, seconds, images_seen, total = Best(), 1, [], 0.0, 0, 0
    if (state := checkpoint.load(device)) is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if ema is not None:
            ema.load_state_dict(state["ema"])
        best.restore(state["best"])
        picks.set_state(state["picks"])
        torch.set_rng_state(state["rng"])
        start, history, seconds = state["epoch"] + 1, state["history"], state["seconds"]
        images_seen, total = state["images"], state["steps"]
        replay(live, history)
        print(f"resuming FixMatch at epoch {start}")
    main = exe.ranks.is_main
    for epoch in range(start, cfg.epochs + 1):
        model.train()
        sums = {k: torch.zeros((), device=device) for k in ("supervised", "unlabeled", "mask_rate")}
        steps, began = 0, time.perf_counter()
        bar = tqdm(unlabeled(epoch), total=steps_per_epoch, desc=f"fixmatch {epoch}/{cfg.epochs}", unit="step",
                   leave=False, disable=not main)
        for weak in bar:
            x_all, y_all = data.batch()
            idx = labeled_indices(y_all.shape[0], cfg.labeled_batch, picks)
            x_labeled, y_labeled = x_all[idx], y_all[idx]
            weak = weak.clone()  # DALI reuses its buffer for the next batch
            batch = exe.images(torch.cat([x_labeled, weak, strong_views(weak, strong)]))
            with exe.autocast():
                logits = step_model(batch).float()
            logits_labeled, logits_weak, logits_strong = logits.split([x_labeled.shape[0], weak.shape[0], weak.shape[0]])
            supervised = losses.supervised_loss(logits_labeled, y_labeled)
            unlabeled_loss, mask_rate = losses.fixmatch_unlabeled_loss(logits_strong, logits_weak, cfg.threshold)
            loss = supervised + cfg.lambda_u * unlabeled_loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            if ema is not None:
                ema.update_parameters(model)
            for k, v in (("supervised", supervised), ("unlabeled", unlabeled_loss), ("mask_rate", mask_rate)):
                sums[k] += v.detach()
            steps += 1
            images_seen += weak.shape[0] * exe.ranks.world_size
            if steps % LOG_EVERY == 0 and main:
                bar.set_postfix(loss=f"{loss.item():.3f}", mask=f"{mask_rate.item():.2f}",
                                img_s=f"{images_seen / max(seconds + time.perf_counter() - began, 1e-9):.0f}")
        if steps == 0:
            raise PipelineError("the unlabelled set gives no full batch: add unlabelled images or lower fixmatch.mu "
                                "or fixmatch.labeled_batch")
        total += steps
        seconds += time.perf_counter() - began
        means = {("mask_rate" if k == "mask_rate" else f"{k}_loss"): (all_ranks_mean(v, exe.ranks) / steps).item()
                 for k, v in sums.items()}
        check_finite(means, epoch, checkpoint)
        if main:
            judged = evaluated(model, ema)
            val = validate(judged, data, params, exe.amp)
            check_finite({"val_loss": val.loss}, epoch, checkpoint)
            best.update(val.accuracy, val.loss, epoch, judged)
            row = {"epoch": epoch, **means, "val_accuracy": val.accuracy, "val_loss": val.loss}
            history.append(row)
            log_row(live, row)
            print(f"fixmatch epoch {epoch}/{cfg.epochs}: "
                  + " ".join(f"{k}={v:.4f}" for k, v in row.items() if k != "epoch") + f" (best epoch {best.epoch})")
        if epoch % cfg.checkpoint_every == 0 or epoch == cfg.epochs:
            checkpoint.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                             "scheduler": scheduler.state_dict(), "ema": None if ema is None else ema.state_dict(),
                             "best": best.state(), "picks": picks.get_state(), "rng": torch.get_rng_state(),
                             "epoch": epoch, "history": history, "seconds": seconds, "images": images_seen,
                             "steps": total})
    return TrainResult(best.states[0] if best.states else {}, best.epoch, best.accuracy, best.loss, len(history), seconds,
                       images_seen / max(seconds, 1e-9), history=history, steps=total)
