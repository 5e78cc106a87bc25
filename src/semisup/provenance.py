"""What a figure was measured on and how, said once: the model file, `metrics/provenance.json`, the study's result
files and the report all take data source, image size, labelled strategy and size, seed, profile and recipe from
`provenance(params, method)`, so no two of them can disagree or drift apart."""
from __future__ import annotations

from dataclasses import asdict
from typing import Any

from .config import ModelConfig, Params, TrainConfig

KEYS = ("profile", "data_source", "image_size", "strategy", "labeled", "seed", "recipe")

# Keys that set a run's length or bookkeeping, not its recipe.
BUDGET_KEYS = {"epochs", "steps_per_epoch", "max_steps_per_epoch", "checkpoint_every", "grid_every"}
RECIPE_TRAIN_KEYS = ("augment", "ema", "schedule", "warmup_steps", "recalibrate_bn")  # train.* that change the recipe


def recipe_label(params: dict[str, Any], method: str, defaults: Any) -> str:
    """What the method's run changed from the published recipe ("published" when nothing): the small stem,
    augmentation, EMA, schedule, and the method's own settings that differ from their defaults. Runs with the same
    label, data, size and steps are one arm of a comparison. `defaults`: the method's section at its defaults."""
    changes = []
    if params.get("model", {}).get("stem", ModelConfig.stem) != "imagenet":
        changes.append(f"stem={params['model']['stem']}")
    train = params.get("train", {})
    for key in RECIPE_TRAIN_KEYS:
        value = train.get(key, getattr(TrainConfig, key))
        if value != getattr(TrainConfig, key):
            changes.append(key if value is True else f"{key}={value}")
    for key, value in sorted(params.get(method, {}).items()):
        if key not in BUDGET_KEYS and value != getattr(defaults, key):
            changes.append(f"{key}={value}")
    return ", ".join(changes) or "published"


def provenance(params: Params, method: str) -> dict[str, Any]:
    """The facts that define one method's run, in the words every output uses (`KEYS`)."""
    return {"profile": params.profile, "data_source": params.data.source, "image_size": params.image_size,
            "strategy": params.labeled.strategy, "labeled": params.labeled.size, "seed": params.seed,
            "recipe": recipe_label(asdict(params), method, type(getattr(params, method))())}


def model_provenance(meta: dict[str, Any], defaults: Params) -> dict[str, Any]:
    """The same facts read back from a model file's metadata (files saved before `labeled` and `recipe` were
    stored get them from the params the file also holds; `defaults`: every section at its defaults)."""
    stored = meta["params"]
    derived = {"labeled": lambda: stored.get("labeled", {}).get("size"), "profile": lambda: stored.get("profile"),
               "recipe": lambda: recipe_label(stored, meta["method"], getattr(defaults, meta["method"]))}
    return {k: meta[k] if k in meta else derived[k]() for k in KEYS}
