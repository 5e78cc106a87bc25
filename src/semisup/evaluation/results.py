"""The study's result files (`<arm>-seed<k>.json`, `<arm>@<images>-seed<k>.json`), checked at the door.

A result file is committed and read back by `semisup study report`: a wrong value (NaN or 1e308 accuracy, an arm
that is a number, a seed that differs from the file's name, overrides that are one string) would otherwise crash
the statistics or enter a mean silently. `read_result` builds the file into the frozen `Result` with the typed
machinery the params use (`typed.build`: unknown keys refused, every type checked, a key without a default required),
then checks ranges and the name; any problem is one `ConfigError` line naming the file, the key and what is allowed.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..typed import build, require, text_of

NAME = re.compile(r"^(?P<arm>.+?)(?:@(?P<images>\d+))?-seed(?P<seed>\d+)\.json$")
REMEDY = "remove it or measure it again with --force"


@dataclass(frozen=True)
class Pretraining:
    """The encoder a fine-tuned arm started from: its cost belongs to the run's."""

    steps: int
    seconds: float
    params: dict[str, Any] = field(default_factory=dict)
    images: int = 0  # photos it saw (steps x batch; each in two views)


@dataclass(frozen=True)
class Result:
    """One trained model measured once on the test set (what `study.measure` writes)."""

    arm: str
    seed: int
    profile: str
    data_source: str
    data_sha256: str
    image_size: int
    strategy: str
    labeled: int
    val_images: int
    test_images: int
    test_accuracy: float
    steps: int
    train_seconds: float
    machine: str
    curve: tuple[tuple[int, float], ...]  # (step, validation accuracy)
    overrides: tuple[str, ...] = ()  # the `--set` KEY=VALUE of the run (absent in results from before --set)
    recipe: str = ""
    test_loss: float = 0.0
    val_accuracy: float = 0.0
    best_step: int = 0
    wall_seconds: float = 0.0
    git_revision: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    synthetic: dict[str, Any] = field(default_factory=dict)
    pretrain: Pretraining = field(default_factory=lambda: Pretraining(0, 0.0, {}))
    test_probabilities: tuple[float, ...] = ()  # P(the second class) per test photo, in test order
    test_labels: tuple[int, ...] = ()  # each test photo's class index, in the same order
    unlabeled_images: int = 0  # what the run saw: its optimiser steps x the unlabelled images a step reads
    unlabeled_pool: int = 0  # the unlabelled photos it drew from (one pass)
    budget: int | None = None  # what `--images` asked for (None: no budget)


def read_result(path: Path) -> dict[str, Any]:
    """The parsed result file, after every check; a bad file is one line naming it, the key and what is allowed."""
    path = Path(path)
    match = NAME.match(path.name)
    if match is None:
        raise ConfigError(f"{path}: not named like a study result (<arm>-seed<k>.json or <arm>@<images>-seed<k>.json)")
    try:
        raw = json.loads(text_of(path), object_pairs_hook=_unique)
    except ValueError as exc:  # JSONDecodeError, or a key given twice
        raise ConfigError(f"{path}: not a study result ({exc}); {REMEDY}") from None
    result = build(Result, raw, prefix=f"{path}: ")
    _check(result, raw, f"{path}: ")
    _check_name(result, raw, match, f"{path}: ")
    return raw


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    twice = next((k for k in keys if keys.count(k) > 1), None)
    if twice is not None:
        raise ValueError(f"key {twice!r} is given twice")
    return dict(pairs)


def _finite(value: float, low: float, high: float) -> bool:
    return math.isfinite(value) and low <= value <= high


def _check(r: Result, raw: dict[str, Any], at: str) -> None:
    require(_finite(r.test_accuracy, 0, 1), at + "test_accuracy", raw["test_accuracy"], "use a finite number from 0 to 1")
    for key in ("seed", "steps", "image_size", "labeled", "val_images", "test_images", "best_step", "unlabeled_images",
                "unlabeled_pool"):
        require(getattr(r, key) >= 0, at + key, getattr(r, key), "use an integer >= 0")
    for key in ("train_seconds", "wall_seconds"):
        require(_finite(getattr(r, key), 0, math.inf), at + key, raw.get(key), "use a finite number >= 0")
    require(math.isfinite(r.test_loss), at + "test_loss", raw.get("test_loss"), "use a finite number")
    require(_finite(r.val_accuracy, 0, 1), at + "val_accuracy", raw.get("val_accuracy"), "use a finite number from 0 to 1")
    for i, (step, accuracy) in enumerate(r.curve):
        require(step >= 0 and _finite(accuracy, 0, 1), f"{at}curve[{i}]", [step, accuracy],
                "use [step >= 0, accuracy from 0 to 1]")
    p = r.pretrain
    require(p.steps >= 0 and _finite(p.seconds, 0, math.inf), at + "pretrain", raw.get("pretrain"),
            "use steps >= 0 and finite seconds >= 0")
    require(r.budget is None or r.budget >= 0, at + "budget", r.budget, "use an integer >= 0 or null")
    if "test_probabilities" in raw:
        probs = r.test_probabilities
        if len(probs) != r.test_images:
            raise ConfigError(f"{at}test_probabilities: {len(probs)} values; use one per test photo (test_images: "
                              f"{r.test_images})")
        bad = next((i for i, v in enumerate(probs) if not _finite(v, 0, 1)), None)
        require(bad is None, f"{at}test_probabilities[{bad}]", probs[bad] if bad is not None else None,
                "use a finite probability from 0 to 1")
    if "test_labels" in raw:
        require(len(r.test_labels) == len(r.test_probabilities), at + "test_labels", f"{len(r.test_labels)} values",
                "use one class index per test probability")
        bad = next((i for i, v in enumerate(r.test_labels) if v not in (0, 1)), None)
        require(bad is None, f"{at}test_labels[{bad}]", r.test_labels[bad] if bad is not None else None,
                "use a class index, 0 or 1")


def _check_name(r: Result, raw: dict[str, Any], match: re.Match, at: str) -> None:
    """The name says which arm, seed (and pool size) the file is: a file whose content says another would overwrite
    that run's result in the report."""
    require(r.seed == int(match["seed"]), at + "seed", r.seed, f"the file is named for seed {match['seed']}")
    require(r.arm == match["arm"], at + "arm", r.arm, f"the file is named for arm {match['arm']!r}")
    images = None if match["images"] is None else int(match["images"])
    require(r.budget == images, at + "budget", r.budget,
            f"the file is named for {'no budget' if images is None else f'{images} images'}")
