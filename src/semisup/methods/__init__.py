"""The registry of training methods: adding one is a module here (its class and its config section), one line below,
its defaults in `conf/config.yaml` and its item in `dvc.yaml` (a test names every list there that must have it). Everything else (the training stage, `evaluate`, the metrics, the
report, the CI review, the contract tests) loops over `names()`.

Entries are import paths, so listing the methods imports neither torch nor the methods themselves."""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..training.contract import Method

REGISTRY: dict[str, str] = {  # name (= config section, stage item, model file) -> "module:class"
    "baseline": "semisup.methods.baseline:Baseline",
    "gan": "semisup.methods.sgan:SemiSupervisedGan",
    "fixmatch": "semisup.methods.fixmatch:FixMatch",
    "simclr": "semisup.methods.simclr:Simclr",
    "simclr_fixmatch": "semisup.methods.simclr:SimclrFixMatch",
}
BASELINE = "baseline"  # what the gains are measured against
PRETRAINING = {"pretrain": "semisup.methods.simclr:SimclrPretraining"}  # a stage of its own, not a trained method


def names() -> tuple[str, ...]:
    """Every registered method, the supervised baseline first."""
    return tuple(REGISTRY)


def semi_supervised() -> tuple[str, ...]:
    """The methods whose gain over the baseline is reported."""
    return tuple(n for n in REGISTRY if n != BASELINE)


def method_class(name: str) -> type[Method]:
    """The class registered as `name`; one clear line for a name that is not registered."""
    if name not in REGISTRY and name not in PRETRAINING:
        raise ConfigError(f"method {name!r} is not registered; use one of {', '.join(REGISTRY)} "
                          "(src/semisup/methods/__init__.py lists them)")
    module, _, cls = {**REGISTRY, **PRETRAINING}[name].partition(":")
    return getattr(importlib.import_module(module), cls)


def section_names() -> tuple[str, ...]:
    """The params sections the methods and the pretraining own (no method module imported)."""
    return (*REGISTRY, *PRETRAINING)


def sections() -> dict[str, type]:
    """Each method's section of params.yaml and its config class (owned by the method's module), the pretraining's
    last: what `semisup.parameters` adds to the shared sections."""
    return {name: method_class(name).Config for name in section_names()}
