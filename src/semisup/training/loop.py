"""The one training loop (`fit`) every method runs, and what it keeps: the best validated networks, curves and a
checkpoint per round (`checkpoint.py`). A method (`contract.Method`) only says how to take one step.

Losses stay on the device inside a round; they are read back once per validation, never per step. Beyond the
published recipe, each a param that the `paper` profile leaves off: augmented labelled batches
(`LabeledData.augmented`), a learning-rate schedule counted in steps, an EMA of the classifier (what validation,
selection and the test see) and BatchNorm statistics recalibrated before validation.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.optim.swa_utils import update_bn
from tqdm import tqdm

from ..config import Params
from ..errors import PipelineError
from ..scoring import Evaluation, evaluate
from .checkpoint import Checkpoint
from .contract import LabeledData, Method
from .execution import Execution, all_ranks_mean

if TYPE_CHECKING:  # DVCLive is needed by the stages that log, not to train (the GPU check runs without it)
    from dvclive import Live

LOG_EVERY = 10


@dataclass
class TrainResult:
    states: dict[str, dict[str, torch.Tensor]]  # each kept network at the best validation (`Method.kept_names`)
    best_epoch: int  # the round (1-based) of the best validation
    val_accuracy: float
    val_loss: float
    epochs_run: int
    train_seconds: float
    images_per_second: float
    history: list[dict[str, float]] = field(default_factory=list)
    steps: int = 0  # classifier optimiser steps taken: the budget that runs are compared at
    best_step: int = 0  # the optimiser step of the best validation (what the curves' x counts)

    def summary(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k not in ("states", "history")}

    @property
    def classifier_state(self) -> dict[str, torch.Tensor]:
        return self.states["classifier"]


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
    """Keeps the earliest round with the highest validation accuracy (validation only, never test), with its
    optimiser step."""

    def __init__(self) -> None:
        self.accuracy, self.loss, self.epoch, self.step, self.states = -1.0, math.inf, 0, 0, None

    def update(self, accuracy: float, loss: float, epoch: int, step: int, *models: torch.nn.Module) -> bool:
        if accuracy <= self.accuracy:
            return False
        self.accuracy, self.loss, self.epoch, self.step = accuracy, loss, epoch, step
        self.states = [copy.deepcopy(m.state_dict()) for m in models]
        return True

    def state(self) -> dict[str, Any]:
        return {"accuracy": self.accuracy, "loss": self.loss, "epoch": self.epoch, "step": self.step,
                "states": self.states}

    def restore(self, state: dict[str, Any]) -> None:
        self.accuracy, self.loss, self.epoch, self.states = state["accuracy"], state["loss"], state["epoch"], state["states"]
        self.step = state.get("step", 0)


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


def fit(method: Method, data: LabeledData | None, params: Params, exe: Execution, checkpoint: Checkpoint,
        live: Live | None) -> TrainResult:
    """The one training loop, for every method: `method.rounds.count` rounds of `method.step` over
    `method.batches(round)`, the losses averaged per round (on the device) and checked for NaN; after every
    `validate_every`-th round and the last, validation of `method.judged()` (rank 0), the best validated networks
    kept (validation only, never test) and a row of curves whose x is the optimiser step (`validate_every` 0: no
    validation, a row per round, the last state kept); a checkpoint after every `checkpoint_every`-th round and the
    last, from which a rerun with the same params and data resumes."""
    plan, main = method.rounds, exe.ranks.is_main
    best, start, history, seconds, images, steps = Best(), 1, [], 0.0, 0, 0
    if (state := checkpoint.load(exe.device)) is not None:
        method.load_state_dict(state["method"])
        best.restore(state["best"])
        torch.set_rng_state(state["rng"])
        start, history, seconds = state["round"] + 1, state["history"], state["seconds"]
        images, steps = state["images"], state["steps"]
        replay(live, history)
        print(f"resuming {method.name} at round {start} (step {steps})")
        if main:
            method.resumed(checkpoint.restore_kept)
    bar = tqdm(total=plan.total_steps, initial=steps, desc=method.name, unit="step", disable=not main)
    for round_ in range(start, plan.count + 1):
        method.train()
        sums: dict[str, torch.Tensor] = {}
        taken, began = 0, time.perf_counter()
        for batch in method.batches(round_):
            for key, value in method.step(batch).items():
                sums[key] = sums[key] + value if key in sums else value
            taken += 1
            if taken % LOG_EVERY == 0:
                bar.update(LOG_EVERY)
        if taken == 0:
            raise PipelineError(method.no_batch())
        bar.update(taken % LOG_EVERY)
        steps, images = steps + taken, images + taken * method.images_per_step
        seconds += time.perf_counter() - began
        last = round_ == plan.count
        validating = plan.validate_every > 0 and (round_ % plan.validate_every == 0 or last)
        if validating or plan.validate_every == 0:  # a method without validation logs its losses every round
            means = {k: (all_ranks_mean(v, exe.ranks) / taken).item() for k, v in sums.items()}
            check_finite(means, round_, checkpoint)
            if main:
                row = {"epoch": round_, "step": steps, **means}
                if validating:
                    val = validate(method.judged(), data, params, exe.amp)
                    check_finite({"val_loss": val.loss}, round_, checkpoint)
                    best.update(val.accuracy, val.loss, round_, steps, *method.kept())
                    row.update(val_accuracy=val.accuracy, val_loss=val.loss)
                    bar.set_postfix(val_acc=f"{val.accuracy:.3f}", best=best.epoch, img_s=f"{images / seconds:.0f}")
                history.append(row)
                log_row(live, row)
                if plan.steps > 1:  # a line per validation where rounds are long (not per step of the baseline)
                    bar.write(f"{method.name} round {round_}/{plan.count}: " + " ".join(
                        f"{k}={v:.4f}" for k, v in row.items() if k not in ("epoch", "step"))
                        + (f" (best round {best.epoch})" if validating else ""))
                if (drawn := method.validated(round_, last)) is not None:
                    checkpoint.keep(drawn)
        if round_ % plan.checkpoint_every == 0 or last:
            checkpoint.save({"method": method.state_dict(), "best": best.state(), "rng": torch.get_rng_state(),
                             "round": round_, "history": history, "seconds": seconds, "images": images,
                             "steps": steps})
    bar.close()
    if plan.validate_every == 0:  # nothing to select on: the last state
        best.epoch, best.step, best.states = plan.count, steps, [copy.deepcopy(m.state_dict()) for m in method.kept()]
    states = dict(zip(method.kept_names, best.states or [{}]))
    return TrainResult(states, best.epoch, best.accuracy, best.loss, plan.count, seconds,
                       images / max(seconds, 1e-9),
                       history=history, steps=steps, best_step=best.step)


def replay(live: Live | None, history: list[dict[str, float]]) -> None:
    """DVC deletes a stage's outputs before rerunning it, so a resumed run rewrites the curves it already has."""
    for row in history:
        log_row(live, row)


def log_row(live: Live | None, row: dict[str, float]) -> None:
    """One row of curves at x = the optimiser step, so every method shares one axis (rank 0 only: other ranks have
    no `live`)."""
    if live is None:
        return
    live.step = int(row["step"])
    for key, value in row.items():
        if key not in ("epoch", "step"):
            live.log_metric(key, value)
    live.next_step()
