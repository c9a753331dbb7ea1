"""The machinery behind :mod:`fedforget.config`: field checks (metadata on dataclass
fields), conversion of plain YAML data into frozen dataclasses with messages that name the
field, the value and what is allowed, and ``--set`` overrides. Depends on nothing of
fedforget but its errors.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

import yaml

from fedforget.util.errors import ConfigError

T = TypeVar("T")


def _check(pred: Any, allowed: str) -> dict[str, Any]:
    """Field metadata: a predicate on the parsed value and the human description."""
    return {"check": pred, "allowed": allowed}


def _article(kind: str) -> str:
    return "an" if kind[0] in "aeiou" else "a"


def _pos(kind: str = "float") -> dict[str, Any]:
    return _check(lambda v: v > 0, f"{_article(kind)} {kind} > 0")


def _nonneg(kind: str = "int") -> dict[str, Any]:
    return _check(lambda v: v >= 0, f"{_article(kind)} {kind} >= 0")


def _unit_open() -> dict[str, Any]:
    return _check(lambda v: 0 < v < 1, "a float in (0, 1)")


def _unit_closed() -> dict[str, Any]:
    return _check(lambda v: 0 <= v <= 1, "a float in [0, 1]")


# Per-class validators run after a dataclass is built (fedforget.config registers them).
VALIDATORS: dict[type, Any] = {}


def _to_plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, tuple | list):
        return [_to_plain(v) for v in obj]
    return obj


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin is tuple:
        return f"a list of {_type_name(get_args(tp)[0])}"
    if dataclasses.is_dataclass(tp):
        return f"a mapping ({tp.__name__})"
    return {int: "an int", float: "a float", bool: "a bool", str: "a string"}.get(tp, str(tp))


def _convert(tp: Any, value: Any, where: str) -> Any:
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        errors = []
        for arg in get_args(tp):
            if arg is type(None) and value is None:
                return None
            try:
                return _convert(arg, value, where)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(f"{where} must be one of several types, got {value!r}")
    if origin is Literal:
        if value not in get_args(tp):
            raise ConfigError(f"{where} must be {_type_name(tp)}, got {value!r}")
        return value
    if origin is tuple:
        (inner, _ellipsis) = get_args(tp)
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where} must be {_type_name(tp)}, got {value!r}")
        return tuple(_convert(inner, v, f"{where}[{i}]") for i, v in enumerate(value))
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where)  # type: ignore[arg-type]
    ok = False
    if tp is bool:
        ok = isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif tp is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if ok:
            value = float(value)
    elif tp is str:
        ok = isinstance(value, str)
    if not ok:
        raise ConfigError(f"{where} must be {_type_name(tp)}, got {value!r}")
    return value


def from_dict(cls: type[T], data: Any, where: str = "") -> T:
    """Build the dataclass ``cls`` from a plain mapping, validating every field."""
    label = where or "config"
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{label} must be {_type_name(cls)}, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        prefix = f"{where}." if where else ""
        raise ConfigError(
            f"unknown key {prefix}{unknown[0]!s}; allowed keys{' in ' + where if where else ''}: "
            + ", ".join(sorted(fields))
        )
    kwargs = {}
    for name, f in fields.items():
        if name not in data:
            continue
        path = f"{where}.{name}" if where else name
        value = _convert(hints[name], data[name], path)
        check = f.metadata.get("check")
        if check is not None and not check(value):
            raise ConfigError(f"{path} must be {f.metadata['allowed']}, got {data[name]!r}")
        kwargs[name] = value
    obj = cls(**kwargs)
    validator = VALIDATORS.get(cls)
    if validator is not None:
        validator(obj, label)
    return obj


def _parse_scalar(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def apply_overrides(data: dict[str, Any], overrides: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Apply ``a.b=c`` overrides (values parsed as YAML) to a plain config mapping."""
    data = json.loads(json.dumps(data))  # deep copy of plain data
    for ov in overrides:
        if "=" not in ov:
            raise ConfigError(f"override {ov!r} must look like section.field=value")
        key, raw = ov.split("=", 1)
        parts = key.strip().split(".")
        node = data
        for p in parts[:-1]:
            nxt = node.setdefault(p, {})
            if not isinstance(nxt, dict):
                raise ConfigError(f"override {key!r}: {p!r} is not a section")
            node = nxt
        node[parts[-1]] = _parse_scalar(raw)
    return data
