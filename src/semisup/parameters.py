"""params.yaml, read once at the edge into one frozen, validated object: the shared sections (`semisup.config`) plus
every registered method's own section, whose class and checks live in the method's module (`methods.sections()`).
"""
from __future__ import annotations

import functools
from dataclasses import field, make_dataclass
from pathlib import Path
from typing import Any

from .config import Params, validate_core
from .methods import section_names, sections
from .typed import build, read_params_file


@functools.cache
def params_type() -> type[Params]:
    """`Params` with one field per method section, typed by the method's own config class (built once: a class)."""
    typed = make_dataclass("Params", [(name, cls, field(default_factory=cls)) for name, cls in sections().items()],
                           bases=(Params,), frozen=True)
    typed.__module__ = __name__
    return typed


def default_params() -> Params:
    return params_type()()


def params_from_dict(raw: dict[str, Any], data_present: bool = True) -> Params:
    """Typed, validated params; `data_present=False` checks every value but not that data.source exists yet (params
    may be composed before the photos are downloaded)."""
    params = build(params_type(), raw)
    validate_core(params, data_present)
    for name in sections():
        getattr(params, name).check(name)
    return params


def load_params(path: str | Path = "params.yaml") -> Params:
    return params_from_dict(read_params_file(path, "the project root (where dvc.yaml is)"))


def load_shared_params(path: str | Path = "params.yaml") -> Params:
    """The shared sections only, for the stages before training (source, prepare, curate): they read no method's
    section, so they neither import the methods nor re-run when a method's code changes. Method sections are left
    to the training stages, which validate them; any other unknown key still stops here."""
    raw = read_params_file(path, "the project root (where dvc.yaml is)")  # a mapping, or one line why not
    params = build(Params, {k: v for k, v in raw.items() if k not in section_names()})
    validate_core(params)
    return params
