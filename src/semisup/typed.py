"""Build frozen dataclasses from parsed YAML or JSON, checking every key and type; messages name the key and what is
allowed.

Shared by the pipeline's params (`config.py`), the two-rings demo's (`demos/rings/rings_params.py`), the model file's
metadata (`artifacts.py`) and the study's result files (`evaluation/results.py`). A field without a default is
required.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal

from pathlib import Path

import yaml

from .errors import ConfigError


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (plain YAML keeps the last one silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if not isinstance(key, typing.Hashable):
                break  # YAML's own "found unhashable key" says it
            if key in seen:
                raise ConfigError(f"line {line}: key {key!r} is given twice (first on line {seen[key]}); keep one")
            seen[key] = line
        return super().construct_mapping(node, deep)


def text_of(path: Path) -> str:
    """The file's text as UTF-8; unreadable or other bytes are one line naming the file and the first bad byte."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
                          "save it as UTF-8") from None


def read_params_file(path: str | Path, where: str) -> dict[str, Any]:
    """The parsed YAML mapping of a params file; `where` tells the user where to run from when it is missing."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such params file; run from {where}")
    text = text_of(path)
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader) or {}  # noqa: S506 - a SafeLoader subclass
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise ConfigError(f"{path}: not valid YAML: {getattr(exc, 'problem', None) or exc}{where}") from None


def build(cls: type, raw: Any, prefix: str = "") -> Any:
    """`cls(**raw)` with nested dataclasses built recursively and every value checked against its annotation."""
    return _build(cls, raw, prefix)


def _build(cls: type, raw: Any, prefix: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{prefix.rstrip('.: ') or 'params'}: expected a mapping, got {_short(raw)}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(raw) - set(names), key=str)
    if unknown:
        raise ConfigError(f"{prefix}{unknown[0]}: unknown key; allowed here: {', '.join(sorted(names))}")
    for f in dataclasses.fields(cls):
        if f.name not in raw and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{prefix}{f.name}: missing; use {_kind(hints[f.name])}")
    return cls(**{name: _coerce(hints[name], raw[name], prefix + name) for name in names if name in raw})


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _kind(hint: Any) -> str:
    """What a value of this annotation looks like, for a message."""
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint) or hint is dict or origin is dict:
        return "a mapping"
    if origin is Literal:
        return "one of " + ", ".join(map(str, typing.get_args(hint)))
    if origin is tuple:
        return "a list"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_kind(a) for a in typing.get_args(hint))
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false",
            type(None): "null"}.get(hint, getattr(hint, "__name__", str(hint)))


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
        args = typing.get_args(hint)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: {_short(value)} is not a list")
        if len(args) > 1 and args[1] is not Ellipsis:  # tuple[int, float]: a fixed-length pair
            if len(value) != len(args):
                raise ConfigError(f"{key}: {_short(value)} is not allowed; use a list of {len(args)} "
                                  f"({', '.join(_kind(a) for a in args)})")
            return tuple(_coerce(a, v, f"{key}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
        return tuple(_coerce(args[0], v, f"{key}[{i}]") for i, v in enumerate(value))
    if origin in (typing.Union, types.UnionType):  # int | str: checked by _validate; X | None: null or an X
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return _coerce(inner[0], value, key)
        if isinstance(value, bool) or not isinstance(value, tuple(inner)):
            raise ConfigError(f"{key}: {_short(value)} is not allowed; use {_kind(hint)}")
        return value
    if hint is dict or origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: {_short(value)} is not a mapping")
        return value
    if hint is Any:
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
