"""The registry of training methods: adding one is a module here, a config section named like it, one line below
and one item in `dvc.yaml`'s list of methods. Everything else (the training stage, `evaluate`, the metrics, the
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


def names() -> tuple[str, ...]:
    """Every registered method, the supervised baseline first."""
    return tuple(REGISTRY)


def semi_supervised() -> tuple[str, ...]:
    """The methods whose gain over the baseline is reported."""
    return tuple(n for n in REGISTRY if n != BASELINE)


def method_class(name: str) -> type[Method]:
    """The class registered as `name`; one clear line for a name that is not registered."""
    if name not in REGISTRY:
        raise ConfigError(f"method {name!r} is not registered; use one of {', '.join(REGISTRY)} "
                          "(src/semisup/methods/__init__.py lists them)")
    module, _, cls = REGISTRY[name].partition(":")
    return getattr(importlib.import_module(module), cls)
