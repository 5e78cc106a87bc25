"""Build frozen dataclasses from parsed YAML, checking every key and type; messages name the key and what is allowed.

Shared by the pipeline's params (`config.py`) and the two-rings demo's (`demos/rings/ssl_rings.py`).
"""
from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal

from pathlib import Path

import yaml

from .errors import ConfigError


def read_params_file(path: str | Path, where: str) -> dict[str, Any]:
    """The parsed YAML mapping of a params file; `where` tells the user where to run from when it is missing."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such params file; run from {where}")
    try:
        return yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None


def build(cls: type, raw: Any, prefix: str = "") -> Any:
    """`cls(**raw)` with nested dataclasses built recursively and every value checked against its annotation."""
    return _build(cls, raw, prefix)


def _build(cls: type, raw: Any, prefix: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'params'}: expected a mapping, got {raw!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(raw) - set(names))
    if unknown:
        raise ConfigError(f"{prefix}{unknown[0]}: unknown key; allowed here: {', '.join(sorted(names))}")
    return cls(**{name: _coerce(hints[name], raw[name], prefix + name) for name in names if name in raw})


def _coerce(hint: Any, value: Any, key: str) -> Any:
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, key + ".")
    origin = typing.get_origin(hint)
    if origin is Literal:
        allowed = typing.get_args(hint)
        if value not in allowed:
            raise ConfigError(f"{key}: {value!r} is not allowed; use one of {', '.join(map(str, allowed))}")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: {value!r} is not a list")
        return tuple(_coerce(typing.get_args(hint)[0], v, f"{key}[{i}]") for i, v in enumerate(value))
    if origin in (typing.Union, types.UnionType):  # int | str: checked by _validate
        if isinstance(value, bool) or not isinstance(value, typing.get_args(hint)):
            kinds = " or ".join({int: "an integer", str: "a string"}.get(a, a.__name__) for a in typing.get_args(hint))
            raise ConfigError(f"{key}: {value!r} is not allowed; use {kinds}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: {value!r} is not a boolean; use true or false")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: {value!r} is not an integer")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: {value!r} is not a number")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: {value!r} is not a string")
        return value
    raise TypeError(f"{key}: unsupported parameter type {hint!r}")  # pragma: no cover - programming error


def dotted(tree: dict[str, Any], key: str) -> Any:
    """`tree["a"]["b"]` for key "a.b" (params as nested dicts); None where the path does not exist."""
    node: Any = tree
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def require(ok: bool, key: str, value: Any, allowed: str) -> None:
    if not ok:
        raise ConfigError(f"{key}: {value!r} is not allowed; {allowed}")
