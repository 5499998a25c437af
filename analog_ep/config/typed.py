"""Typed building of the config dataclasses and the device cards: one key/type checker, one
deep merge.

Pure data: no torch. :func:`build` turns a nested mapping into a frozen dataclass, refusing
unknown keys (naming the valid ones, and the closest one where asked) and converting each value
with :func:`check`; both config files (:mod:`analog_ep.config.loader`) and device cards
(:mod:`analog_ep.analog.cards`) go through them, and both layer mappings with :func:`merge`.
Every error is one :class:`ConfigError` line naming the dotted key (and the file).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from typing import Any, Callable, Literal, Optional, Union, get_args, get_origin

from ..errors import ConfigError


def merge(base: dict, over: dict) -> dict:
    """Deep merge: ``base`` with ``over`` on top, mapping by mapping (a mapping replaces a
    non-mapping value, e.g. ``periphery: {...}`` over a card's ``periphery: null``). Neither
    argument is modified; the result shares no mapping with ``over``."""
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict):
            out[k] = merge(out[k] if isinstance(out.get(k), dict) else {}, v)
        else:
            out[k] = v
    return out


def closest(key: str, valid: list[str]) -> Optional[str]:
    """The valid key closest to a misspelt one (difflib ratio >= 0.75), or None."""
    match = difflib.get_close_matches(key, valid, n=1, cutoff=0.75)
    return match[0] if match else None


def type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        inner = " | ".join(type_name(a) for a in args)
        return f"{inner} or null" if len(args) < len(get_args(tp)) else inner
    if origin is list:
        (arg,) = get_args(tp)
        return f"list of {type_name(arg)}"
    if origin is dict or tp is dict:
        return "mapping"
    if tp is tuple:
        return "list of numbers"
    return getattr(tp, "__name__", str(tp))


def check(value: Any, tp: Any, key: str, where: str) -> Any:
    """Return ``value`` converted to ``tp`` or raise ConfigError naming ``key``."""
    origin = get_origin(tp)
    bad = ConfigError(
        f"{where}{key}: expected {type_name(tp)}, got {value!r} ({type(value).__name__})"
    )
    if origin is Literal:
        if value not in get_args(tp):
            valid = ", ".join(str(a) for a in get_args(tp))
            raise ConfigError(f"{where}{key}: invalid value {value!r}; valid: {valid}")
        return value
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return check(value, a, key, where)
            except ConfigError as e:
                errors.append(e)
        # a single Literal alternative lists its valid values; otherwise name the whole type
        literal = len(errors) == 1 and get_origin(next(a for a in args if a is not type(None))) is Literal
        raise errors[0] if literal else bad
    if origin is list:
        (arg,) = get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise bad
        return [check(v, arg, f"{key}[{i}]", where) for i, v in enumerate(value)]
    if origin is dict or tp is dict:  # a free-form mapping (RunConfig.device: checked by the card)
        if value is None:  # an empty YAML section (``device:``)
            return {}
        if not isinstance(value, dict):
            raise ConfigError(f"{where}{key}: expected a mapping of keys such as {{dw_min_std: 0.3}}, "
                              f"got {value!r} ({type(value).__name__})")
        return _plain_mapping(value, key, where)
    if tp is bool:
        if not isinstance(value, bool):
            raise bad
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
        return value
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                raise bad from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        if not math.isfinite(value):
            raise ConfigError(f"{where}{key}: must be a finite number, got {value!r}")
        return float(value)
    if tp is tuple:  # a list of numbers (device cards)
        if not isinstance(value, (list, tuple)):
            raise bad
        return tuple(check(v, float, f"{key}[{i}]", where) for i, v in enumerate(value))
    if tp is str:
        if not isinstance(value, str):
            raise bad
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}{key}: expected a mapping of keys, got {value!r}")
        return build(tp, value, f"{key}.", where, suggest=True)
    raise bad  # pragma: no cover - schema uses only the types above


def _plain_mapping(value: dict, key: str, where: str) -> dict:
    """A deep copy of ``value`` whose (nested) mappings all have string keys."""
    out = {}
    for k, v in value.items():
        if not isinstance(k, str):
            raise ConfigError(f"{where}{key}: keys must be names, got {k!r} ({type(k).__name__})")
        out[k] = _plain_mapping(v, f"{key}.{k}", where) if isinstance(v, dict) else \
            (list(v) if isinstance(v, (list, tuple)) else v)
    return out


def flatten(data: dict, prefix: str = "") -> dict:
    """The leaves of a nested mapping by dotted name (``{"device.periphery.out_bits": 8}``); an
    empty mapping is a leaf."""
    out = {}
    for k, v in data.items():
        if isinstance(v, dict) and v:
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[prefix + k] = v
    return out


def leaf_keys(data: dict, prefix: str) -> list[str]:
    """Dotted names of the leaves of a nested mapping (``device.periphery.out_bits``)."""
    return list(flatten(data, prefix))


def build(cls: type, data: dict, prefix: str = "", where: str = "", *, valid_extra: tuple = (),
          context: str = "", suggest: bool = False, hint: Callable[[str], str] | None = None) -> Any:
    """Instantiate dataclass ``cls`` from ``data`` with type checks (:func:`check`); errors name
    ``where`` + ``prefix`` + key.

    An unknown key lists the valid ones (``valid_extra`` first, e.g. a card's metadata keys);
    ``context`` follows "unknown key" (`` for rule soft_bounds``), ``hint(key)`` adds a
    parenthesis (which other class owns the key), ``suggest`` names the closest valid key. A
    :class:`ConfigError` from the dataclass's own value checks gets ``where`` and ``prefix``.
    """
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    suggest = suggest or getattr(cls, "suggest_keys", False)  # a section that always names the closest key
    kwargs = {}
    for k, v in data.items():
        if k not in names:
            valid_names = [*valid_extra, *names]
            valid = ", ".join(prefix + n for n in valid_names)
            extra = hint(k) if hint is not None else ""
            close = closest(str(k), valid_names) if suggest else None
            mean = f"; did you mean {prefix}{close}?" if close else ";"
            raise ConfigError(f"{where}{prefix}{k}: unknown key{context}{extra}{mean} valid keys: {valid}")
        kwargs[k] = check(v, hints[k], prefix + k, where)
    try:
        return cls(**kwargs)
    except ConfigError as e:  # value checks of the dataclass: add the file and section
        raise ConfigError(f"{where}{prefix}{e}") from None


__all__ = ["build", "check", "closest", "flatten", "leaf_keys", "merge", "type_name"]
