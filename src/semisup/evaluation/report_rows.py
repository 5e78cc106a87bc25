"""The report's records: one finished experiment (`Run`) and a group's summary over seeds (`GroupSummary`).

Their own module because the tables (`report`) and the figures (`report_plots`) both read them, and the figures
should not import the module that calls them."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .intervals import Interval


@dataclass(frozen=True)
class Run:
    name: str
    group: tuple[Any, ...]  # report.GROUP_KEYS values, then the GAN's recipe (never pooled across recipes)
    seed: int
    accuracy: dict[str, float]  # method -> test accuracy in [0, 1]
    recipe: dict[str, str] = field(default_factory=dict)  # method -> changes from the published recipe
    steps: dict[str, int | None] = field(default_factory=dict)  # method -> optimiser steps (None: not recorded)


@dataclass(frozen=True)
class GroupSummary:
    group: tuple[Any, ...]
    runs: int
    seeds: list[int]
    accuracy: dict[str, tuple[float, float]]  # method -> (mean, std) in percent
    gain: Interval | None  # GAN minus baseline, points; None with one run
