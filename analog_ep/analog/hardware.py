"""The whole hardware a device card implies, with where each value comes from
(``analog-ep devices show CARD``).

A card that cites a preset carries the preset's whole hardware (DESIGN section 7): the device
rule and its parameters, the periphery (converters, noise, noise and bound management, tiling),
the weight mapping and the pulse-update scheme, plus the write physics the cost model prices
(``write:``: the energy and width of one pulse, at the card's window midpoint; unknown keys
listed). :func:`card_hardware` resolves the first four the way a
run does (:func:`.cards.effective_periphery`, :func:`.cards.effective_mapping`,
:func:`.cards.effective_update`, with the ``analog.*`` keys of ``analog_cfg`` on top, none by
default) and labels every value with its origin:

* ``card``: the card file sets it;
* ``analog.KEY``: the config's ``analog.*`` key overrides it;
* ``default``: neither does; the value is analog-ep's default (for a rule parameter, the rule
  class's; for the periphery, the ideal periphery's; for updates,
  :data:`analog_ep.config.schema.UPDATE_DEFAULTS`; for the mapping, the legacy 0.5 x bound).

Each part also carries the card's citation for it (its ``sources:`` entry, else the card's
``source`` for the device part); the periphery's settle neuron (``settle_*``, with its
time constant) is its own part, ``neuron``, citing ``sources.neuron``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Optional

import yaml

from ..config.schema import PERIPHERY_KEYS, UPDATE_KEYS, AnalogConfig
from .cards import (WRITE_POLARITIES, DeviceCard, WritePhysics, card_g_mid_s, effective_mapping, effective_periphery,
                    effective_update, mapping_to_dict, write_to_dict)
from .rules import params_to_dict

NEURON_KEYS = ("settle_capacitance_f", "settle_g_leak_s")
"""The periphery's settle-neuron keys, shown as their own part (``neuron``) with their own citation
(the card's ``sources.neuron``)."""


def _file_keys(card: DeviceCard) -> Optional[dict]:
    """The card file's own top-level dict (what the file sets), or None when the card was not
    read from a file (a card rebuilt from a checkpoint)."""
    try:
        data = yaml.safe_load(Path(card.path).read_text())
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def card_hardware(card: DeviceCard, analog_cfg: Any = None) -> dict:
    """Every value of the hardware ``card`` implies, by part, each ``{"value", "from"}``, plus
    the part's citation. ``analog_cfg``: a run's :class:`AnalogConfig` (default: none set)."""
    a = analog_cfg if analog_cfg is not None else AnalogConfig()
    raw = _file_keys(card)
    origin_unknown = "card" if raw is None else None

    def section(name: str) -> dict:
        sec = (raw or {}).get(name)
        return sec if isinstance(sec, dict) else {}

    def origin(key: str, in_file: bool, analog_key: Optional[str] = None) -> str:
        if analog_key is not None and getattr(a, analog_key, None) is not None:
            return f"analog.{analog_key}"
        if origin_unknown:
            return origin_unknown
        return "card" if in_file else "default"

    cites = dict(card.sources or {})
    params = params_to_dict(card.params)
    rule = params.pop("rule")
    device = {"rule": rule, "implied_states": card.implied_states,
              "citation": cites.get("device", " ".join(card.source.split())),
              "values": {k: {"value": v, "from": origin(k, k in (raw or {}))} for k, v in params.items()}}

    periph = effective_periphery(card, a)
    psec = section("periphery")
    pvalues = {k: {"value": v, "from": origin(k, k in psec, k if k in PERIPHERY_KEYS else None)}
               for k, v in dataclasses.asdict(periph).items()}
    periphery = {"citation": cites.get("periphery", ""),
                 "values": {k: v for k, v in pvalues.items() if k not in NEURON_KEYS}}
    neuron = {"citation": cites.get("neuron", ""),
              "values": {**{k: pvalues[k] for k in NEURON_KEYS},
                         "tau_s": {"value": periph.settle_tau_s, "from": "C / G_leak (null: the default neuron's)"}}}

    mapping = effective_mapping(card, a)
    mdict = mapping_to_dict(mapping) or {}
    msec = section("mapping")
    mapping_out = {"citation": cites.get("mapping", ""), "resolved": mapping.source,
                   "values": {k: {"value": v, "from": _mapping_origin(k, msec, a, raw is None)}
                              for k, v in mdict.items()}}

    upd = effective_update(card, a)
    update = {"citation": cites.get("update", ""),
              "values": {k: {"value": getattr(upd, k),
                             "from": {"analog": f"analog.{k}", "card": "card"}.get(upd.sources.get(k), "default")}
                         for k in UPDATE_KEYS}}
    return {"name": card.name, "path": card.path, "rule": rule, "implied_states": card.implied_states,
            "source": " ".join(card.source.split()),
            "description": " ".join(card.description.split()), "device": device, "periphery": periphery,
            "neuron": neuron, "mapping": mapping_out, "update": update, "write": _write_part(card, cites)}


def _write_part(card: DeviceCard, cites: dict) -> dict:
    """The card's write physics: the keys it gives (all from the card), the energy and width of
    one pulse of each polarity at the window midpoint (None = unknown) and the missing keys."""
    phys = card.write if card.write is not None else WritePhysics()
    g = card_g_mid_s(card)
    per_pulse = {pol: {"energy_j": phys.energy_j(pol, g), "width_s": phys.width_s(pol)} for pol in WRITE_POLARITIES}
    return {"citation": cites.get("write", ""), "g_mid_us": g * 1e6,
            "values": {k: {"value": v, "from": "card"} for k, v in (write_to_dict(card.write) or {}).items()},
            "per_pulse": per_pulse, "missing": phys.missing()}


def _mapping_origin(key: str, msec: dict, a: Any, stored: bool) -> str:
    if getattr(a, "weight_range", None) is not None:
        return "analog.weight_range"
    k = "mapping" if key == "kind" else key
    if getattr(a, k, None) is not None:
        return f"analog.{k}"
    if stored or key in msec:
        return "card"
    return "default"


def format_hardware(hw: dict) -> str:
    """:func:`card_hardware` as aligned text: one block per part, one line per value."""
    lines = [f"{hw['name']}  ({hw['path']})"]
    if hw["source"]:
        lines.append(f"source: {hw['source']}")
    dev = hw["device"]
    lines.append(f"implied states: {dev['implied_states']}")

    def block(title: str, part: dict) -> None:
        lines.append("")
        lines.append(title)
        if part.get("citation"):
            lines.append(f"  from: {part['citation']}")
        if part.get("resolved"):
            lines.append(f"  in effect: {part['resolved']}")
        width = max((len(k) for k in part["values"]), default=0)
        for k, v in part["values"].items():
            lines.append(f"  {k:<{width}}  {_fmt(v['value']):<14} {v['from']}")

    block(f"device rule: {dev['rule']}", dev)
    block("periphery (every read: noise management, DAC, tiles, output noise, ADC, bound management)",
          hw["periphery"])
    block("settle neuron (analog.relaxation: settle; a virtual-ground integrator per node)", hw["neuron"])
    block("weight mapping", hw["mapping"])
    block("pulse updates", hw["update"])
    write = hw["write"]
    block(f"write physics (one pulse at the window midpoint {write['g_mid_us']:g} uS; E = V^2 G t unless quoted)",
          write)
    for pol, v in write["per_pulse"].items():
        energy = "unknown" if v["energy_j"] is None else f"{v['energy_j']:.4g} J"
        width = "unknown" if v["width_s"] is None else f"{v['width_s']:.4g} s"
        lines.append(f"  {pol} pulse: energy {energy}, width {width}")
    if write["missing"]:
        lines.append(f"  missing: {', '.join(write['missing'])} (write energy / latency reported as unknown)")
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


__all__ = ["card_hardware", "format_hardware"]
