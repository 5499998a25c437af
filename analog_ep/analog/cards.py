"""Device cards: YAML files naming an update rule, its parameters, a citation and optionally a
``periphery:`` section.

The shipped cards live in ``analog_ep/analog/cards/`` (found with :mod:`importlib.resources`, so
they work after a non-editable install; the repository's top-level ``devices/`` links there).
A card looks like::

    # implied states: 201
    source: "citation of the measurement or model"
    rule: soft_bounds           # constant_step, linear_step, soft_bounds, exp_step, pow_step,
                                # piecewise_step, neurosim
    dw_min: 0.01                # any parameter of the rule's class in analog_ep.analog.devices
    periphery:                  # optional: analog_ep.analog.periphery.PeripheryParams
      out_bits: 8
      out_bound: 10.0

Every error is one :class:`ConfigError` line naming the file and the key, the bad value and what
would be valid.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Optional, Union

import yaml

from ..config.loader import _check
from ..errors import ConfigError
from .devices import RULES, DeviceParams, implied_states, params_to_dict
from .periphery import PeripheryParams

META_KEYS = ("source", "rule", "description", "periphery")
"""Card keys that are not device parameters."""


@dataclass(frozen=True)
class DeviceCard:
    """A loaded device card."""

    name: str
    """Card name (file name without ``.yaml``)."""
    path: str
    """Where the card was read from."""
    source: str
    """Citation of the measurement or model the parameters come from."""
    description: str
    """Free-text description (may be empty)."""
    params: DeviceParams
    """The device parameters (an instance of the rule's class)."""
    periphery: Optional[PeripheryParams] = None
    """The card's periphery section, or None when it has none."""

    @property
    def rule(self) -> str:
        return self.params.rule

    @property
    def implied_states(self) -> int:
        """Number of conductance states (:func:`analog_ep.analog.devices.implied_states`)."""
        return implied_states(self.params)

    def to_dict(self) -> dict:
        """Plain dict in card layout (``source``, ``rule``, parameters, ``periphery``)."""
        out: dict[str, Any] = {"source": self.source}
        if self.description:
            out["description"] = self.description
        out.update(params_to_dict(self.params))
        if self.periphery is not None:
            out["periphery"] = dataclasses.asdict(self.periphery)
        return out


def _cards_dir():
    return resources.files("analog_ep.analog").joinpath("cards")


def list_devices() -> list[str]:
    """Names of the shipped device cards, sorted."""
    return sorted(p.name[:-5] for p in _cards_dir().iterdir() if p.name.endswith(".yaml"))


# --------------------------------------------------------------------------------------------
# typed building


def _build(cls: type, data: dict, where: str, prefix: str, valid_extra: tuple = (),
           context: str = "") -> Any:
    """Instantiate dataclass ``cls`` from ``data`` with type checks; errors name ``prefix+key``."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for k, v in data.items():
        if k not in names:
            valid = ", ".join(prefix + n for n in (*valid_extra, *names))
            hint = ""
            owners = [r for r, c in RULES.items() if k in {f.name for f in dataclasses.fields(c)}]
            if owners and context:
                hint = f" ({k} belongs to rule {' / '.join(owners)})"
            raise ConfigError(f"{where}{prefix}{k}: unknown key{context}{hint}; valid keys: {valid}")
        kwargs[k] = _check(v, hints[k], prefix + k, where)
    try:
        return cls(**kwargs)
    except ConfigError as e:  # value checks of the dataclass: add the file and section
        raise ConfigError(f"{where}{prefix}{e}") from None


def params_from_dict(data: dict, where: str = "") -> tuple[DeviceParams, Optional[PeripheryParams]]:
    """Device parameters (and periphery, if present) from a card-layout dict.

    ``where`` prefixes every error (e.g. ``"devices/x.yaml: "``).
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{where}top level must be a mapping of keys, got {type(data).__name__}")
    if "rule" not in data:
        raise ConfigError(f"{where}rule: missing; valid rules: {', '.join(RULES)}")
    rule = data["rule"]
    if not isinstance(rule, str) or rule not in RULES:
        raise ConfigError(f"{where}rule: unknown update rule {rule!r}; valid: {', '.join(RULES)}")
    for k in ("source", "description"):
        if k in data and not isinstance(data[k], str):
            raise ConfigError(f"{where}{k}: expected a string, got {data[k]!r}")
    periphery = None
    if data.get("periphery") is not None:
        if not isinstance(data["periphery"], dict):
            raise ConfigError(f"{where}periphery: expected a mapping of keys, got {data['periphery']!r}")
        periphery = _build(PeripheryParams, data["periphery"], where, "periphery.")
    body = {k: v for k, v in data.items() if k not in META_KEYS}
    params = _build(RULES[rule], body, where, "", META_KEYS, f" for rule {rule}")
    return params, periphery


def _read(text: str, where: str) -> dict:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        line = getattr(getattr(e, "problem_mark", None), "line", None)
        at = f" at line {line + 1}" if line is not None else ""
        raise ConfigError(f"{where}invalid YAML{at}; fix the syntax") from e
    if data is None:
        raise ConfigError(f"{where}empty device card; it needs at least 'rule:' and 'source:'")
    return data


def load_device(name_or_path: Union[str, Path]) -> DeviceCard:
    """Load a device card: a shipped name (``memristor``, ``memristor.yaml``) or a YAML path.

    A missing card raises :class:`ConfigError` naming the path and listing the shipped cards.
    """
    target = str(name_or_path)
    path = Path(target).expanduser()
    if path.is_file():
        where = f"{path}: "
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"{where}cannot read device card ({e.__class__.__name__}: {e})") from e
        name, shown = path.stem, str(path)
    else:
        stem = target[:-5] if target.endswith(".yaml") else target
        if "/" in target or "\\" in target or stem not in list_devices():
            raise ConfigError(f"{target}: device card not found; pass a path to a YAML card or one "
                              f"of the shipped devices: {', '.join(list_devices())}")
        card = _cards_dir().joinpath(stem + ".yaml")
        name, shown = stem, str(card)
        where = f"{shown}: "
        text = card.read_text()
    data = _read(text, where)
    params, periphery = params_from_dict(data, where)
    return DeviceCard(name=name, path=shown, source=data.get("source", ""),
                      description=data.get("description", ""), params=params, periphery=periphery)


__all__ = ["DeviceCard", "META_KEYS", "list_devices", "load_device", "params_from_dict"]
