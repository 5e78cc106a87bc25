"""Learning-rate schedules counted in optimiser steps, so a run's budget is a number of steps, not of epochs."""
from __future__ import annotations

import math

import torch
from torch.optim.lr_scheduler import LambdaLR


def lr_factor(step: int, total_steps: int, schedule: str, warmup_steps: int) -> float:
    """Multiplier of the base learning rate before optimiser step `step` (0-based): a linear warm-up from 1/warmup to
    1 over `warmup_steps`, then constant, a cosine decay reaching 0 at `total_steps`, or FixMatch's own cosine,
    cos(7 pi k / 16 K), which ends at 0.2 of the base rate (Sohn et al. 2020; `train.schedule: cosine` for FixMatch)."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    span = max(total_steps - warmup_steps, 1)
    progress = min((step - warmup_steps) / span, 1.0)
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    if schedule == "fixmatch_cosine":
        return math.cos(7 * math.pi * progress / 16)
    raise ValueError(f"train.schedule: {schedule!r} is not a schedule; use constant or cosine")


def make_scheduler(optimizer: torch.optim.Optimizer, total_steps: int, schedule: str, warmup_steps: int) -> LambdaLR:
    """torch's LambdaLR over `lr_factor`; call `.step()` after every optimiser step (its state is checkpointed)."""
    return LambdaLR(optimizer, lambda step: lr_factor(step, total_steps, schedule, warmup_steps))
