"""Device cards: YAML files naming an update rule, its parameters, a citation and optionally a
``periphery:`` section.

The shipped cards live in ``analog_ep/analog/cards/`` (found with :mod:`importlib.resources`, so
they work after a non-editable install; the repository's top-level ``devices/`` links there).
A card looks like::

    # implied states: 201
    source: "citation of the measurement or model"
    rule: soft_bounds           # constant_step, linear_step, soft_bounds, exp_step, pow_step,
                                # piecewise_step, neurosim
    dw_min: 0.01                # any parameter of the rule's class in analog_ep.analog.rules
    periphery:                  # optional: analog_ep.analog.periphery.PeripheryParams
      out_bits: 8
      out_bound: 10.0
    mapping:                    # optional: how weights map onto the devices (WeightMapping)
      kind: omega               # identity (aihwkit's default) or omega (aihwkit's weight scaling)
      omega: 0.6                # kind omega: each layer's max |W| in device units, in (0, 1],
                                # or a list with one value per synapse
    update:                     # optional: how pulses are sent (aihwkit's UpdateParameters)
      pulse_scheme: bitstream   # keys: analog_ep.config.schema.UPDATE_KEYS, all optional
      pulse_accumulation: per_vector
      bl: 31
      bl_management: true
    write:                      # optional: the electrical cost of one pulse (WritePhysics)
      v_set: 3.2                # V, potentiation (weight increase); v_reset for depression
      t_set_s: 3.0e-4           # s, pulse width; t_reset_s
      # e_set_j / e_reset_j: J per pulse where a paper quotes energy (then used as is)
    sources:                    # optional: a citation per part (SOURCE_SECTIONS)
      write: "Table II of ..."

Every error is one :class:`ConfigError` line naming the file and the key, the bad value and what
would be valid (with the closest valid key for a misspelt one).

A run resolves its card with :func:`resolve_card` (the card plus the ``device.*`` overrides of
the config, validated like a card file), its periphery with :func:`effective_periphery` (the
card's periphery with the ``analog.*`` shortcuts on top), its weight mapping with
:func:`effective_mapping` (the card's ``mapping:`` with ``analog.mapping`` / ``analog.omega`` /
``analog.weight_range`` on top) and its pulse updates with :func:`effective_update` (the
card's ``update:`` section under the non-null ``analog.*`` keys); :func:`card_from_dict`
rebuilds the resolved card from what a checkpoint stores (:meth:`DeviceCard.to_dict`).
"""

from __future__ import annotations

import copy
import difflib
import dataclasses
import typing
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Optional, Union

import yaml

from ..config.schema import PERIPHERY_KEYS, UPDATE_KEYS, AnalogConfig, UpdateSettings, resolve_update
from ..config.loader import MAPPING_KINDS, check_analog_mapping, check_mapping_values
from ..config.typed import build, leaf_keys, merge
from ..errors import ConfigError
from .rules import RULES, DeviceParams, implied_states, params_to_dict
from .periphery import PeripheryParams

META_KEYS = ("source", "rule", "description", "periphery", "mapping", "update", "sources", "write")
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
    mapping: Optional["WeightMapping"] = None
    """The card's weight-mapping section (:func:`mapping_from_dict`), or None when it has none
    (then the legacy mapping applies: :func:`effective_mapping`)."""
    update: Optional[dict] = None
    """The card's ``update:`` section (the keys it sets, validated; :func:`update_from_dict`), or
    None when it has none: how the preset sends pulses (aihwkit's ``PresetUpdateParameters``)."""
    sources: Optional[dict] = None
    """Where each part of the card's hardware comes from (:data:`SOURCE_SECTIONS` -> citation),
    or None: shown by ``analog-ep devices show``."""
    write: Optional["WritePhysics"] = None
    """The card's ``write:`` section (:func:`write_from_dict`): the electrical cost of one
    programming pulse, priced by :mod:`analog_ep.hardware`; None when the card has none (write
    energy and latency are then unknown, :func:`write_warning`)."""

    @property
    def rule(self) -> str:
        return self.params.rule

    @property
    def implied_states(self) -> int:
        """Number of conductance states (:func:`analog_ep.analog.rules.implied_states`)."""
        return implied_states(self.params)

    def to_dict(self) -> dict:
        """Plain dict in card layout (``source``, ``rule``, every parameter, ``periphery``,
        ``mapping``):
        every value the card holds, defaults included, so :func:`card_from_dict` rebuilds the
        same card. ``periphery`` is the complete section (null only for the values that mean
        "ideal": no converter bits or bound), or null when the card has none."""
        out: dict[str, Any] = {"source": self.source}
        if self.description:
            out["description"] = self.description
        out.update(params_to_dict(self.params))
        out["periphery"] = dataclasses.asdict(self.periphery) if self.periphery is not None else None
        out["mapping"] = mapping_to_dict(self.mapping)
        out["update"] = dict(self.update) if self.update is not None else None
        if self.sources:
            out["sources"] = dict(self.sources)
        out["write"] = write_to_dict(self.write)
        return out


def _cards_dir():
    return resources.files("analog_ep.analog").joinpath("cards")


def list_devices() -> list[str]:
    """Names of the shipped device cards, sorted."""
    return sorted(p.name[:-5] for p in _cards_dir().iterdir() if p.name.endswith(".yaml"))


# --------------------------------------------------------------------------------------------
# typed building


def _owners(key: str) -> str:
    """`` (KEY belongs to rule A / B)`` for a parameter of other rules, else empty."""
    owners = [r for r, c in RULES.items() if key in {f.name for f in dataclasses.fields(c)}]
    return f" ({key} belongs to rule {' / '.join(owners)})" if owners else ""


def _build(cls: type, data: dict, where: str, prefix: str, valid_extra: tuple = (), context: str = "") -> Any:
    """:func:`analog_ep.config.typed.build` with the card's habits: the closest valid key, and
    for a rule's parameters the rules that own a misplaced one."""
    return build(cls, data, prefix, where, valid_extra=valid_extra, context=context, suggest=True,
                 hint=_owners if context else None)


def params_from_dict(data: dict, where: str = "", prefix: str = "",
                     meta_keys: tuple = META_KEYS) -> tuple[DeviceParams, Optional[PeripheryParams]]:
    """Device parameters (and periphery, if present) from a card-layout dict.

    ``where`` prefixes every error (e.g. ``"devices/x.yaml: "``), ``prefix`` every key named in
    one (``"device."`` for the overrides of :func:`resolve_card`); ``meta_keys`` are the
    non-parameter keys listed as valid.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{where}top level must be a mapping of keys, got {type(data).__name__}")
    if "rule" not in data:
        raise ConfigError(f"{where}{prefix}rule: missing; valid rules: {', '.join(RULES)}")
    rule = data["rule"]
    if not isinstance(rule, str) or rule not in RULES:
        raise ConfigError(f"{where}{prefix}rule: unknown update rule {rule!r}; valid: {', '.join(RULES)}")
    for k in ("source", "description"):
        if k in data and not isinstance(data[k], str):
            raise ConfigError(f"{where}{prefix}{k}: expected a string, got {data[k]!r}")
    periphery = None
    if data.get("periphery") is not None:
        if not isinstance(data["periphery"], dict):
            raise ConfigError(f"{where}{prefix}periphery: expected a mapping of keys, got {data['periphery']!r}")
        periphery = _build(PeripheryParams, data["periphery"], where, f"{prefix}periphery.")
    body = {k: v for k, v in data.items() if k not in META_KEYS}
    params = _build(RULES[rule], body, where, prefix, meta_keys, f" for rule {rule}")
    return params, periphery


@dataclass(frozen=True)
class _CardUpdate:
    """The keys of a card's ``update:`` section, typed as the same-named ``analog.*`` keys
    (:class:`analog_ep.config.schema.AnalogConfig`); null = not set."""

    pulse_scheme: Optional[str] = None
    pulse_accumulation: Optional[str] = None
    bl: Optional[int] = None
    update_management: Optional[bool] = None
    bl_management: Optional[bool] = None
    rounding: Optional[str] = None


_HINTS = typing.get_type_hints(AnalogConfig)
_CardUpdate.__annotations__ = {k: _HINTS[k] for k in UPDATE_KEYS}  # one type per key: the analog.* twin's


SOURCE_SECTIONS = ("device", "periphery", "neuron", "mapping", "update", "write")
"""The parts of a card's hardware a ``sources:`` entry may cite: the device rule's parameters, the
``periphery:`` section's reads and its settle neuron (``neuron``: ``periphery.settle_*``), and
the ``mapping:``, ``update:`` and ``write:`` sections."""


def sources_from_dict(data: dict, where: str = "") -> Optional[dict]:
    """The card's optional ``sources:`` mapping (part -> citation string, parts in
    :data:`SOURCE_SECTIONS`), validated; None when absent."""
    section = data.get("sources") if isinstance(data, dict) else None
    if section is None:
        return None
    if not isinstance(section, dict):
        raise ConfigError(f"{where}sources: expected a mapping such as {{periphery: 'citation'}}, got {section!r}")
    for k, v in section.items():
        if k not in SOURCE_SECTIONS:
            close = difflib.get_close_matches(str(k), SOURCE_SECTIONS, n=1)
            hint = f"did you mean sources.{close[0]}? " if close else ""
            raise ConfigError(f"{where}sources.{k}: unknown part; {hint}valid: {', '.join(SOURCE_SECTIONS)}")
        if not isinstance(v, str) or not v.strip():
            raise ConfigError(f"{where}sources.{k}: expected a citation string, got {v!r}")
    return {k: " ".join(v.split()) for k, v in section.items()}


def update_from_dict(data: dict, where: str = "", prefix: str = "") -> Optional[dict]:
    """The card's ``update:`` section (``data["update"]``) as a dict of the keys it sets, or None.

    Keys: :data:`analog_ep.config.schema.UPDATE_KEYS` (a misspelt one names the closest), each
    typed and valued as its ``analog.*`` twin; ``pulse_accumulation: per_vector`` needs
    ``pulse_scheme: bitstream`` in the same section (rounded counts have no trains)."""
    section = data.get("update") if isinstance(data, dict) else None
    if section is None:
        return None
    key = f"{prefix}update"
    if not isinstance(section, dict):
        raise ConfigError(f"{where}{key}: expected a mapping of keys such as {{bl: 31}}, got {section!r}")
    typed = _build(_CardUpdate, section, where, f"{key}.")
    out = {k: getattr(typed, k) for k in UPDATE_KEYS if getattr(typed, k) is not None}
    if "bl" in out and out["bl"] < 1:
        raise ConfigError(f"{where}{key}.bl: must be >= 1 (pulse slots per update; aihwkit's default is 31), "
                          f"got {out['bl']!r}")
    if out.get("pulse_accumulation") == "per_vector" and out.get("pulse_scheme", "rounded") != "bitstream":
        raise ConfigError(f"{where}{key}.pulse_accumulation: per_vector applies each example's pulse trains, and "
                          f"pulse_scheme {out.get('pulse_scheme', 'rounded')} has no trains (rounded counts); add "
                          f"{key}.pulse_scheme: bitstream or use pulse_accumulation: net")
    return out


WRITE_POLARITIES = ("set", "reset")
"""Pulse polarities of a ``write:`` section: ``set`` = potentiation (an up pulse, weight increase;
the counts' ``set_pulses``), ``reset`` = depression (a down pulse; ``reset_pulses``)."""


@dataclass(frozen=True)
class WritePhysics:
    """A card's ``write:`` section: what one programming pulse costs (DESIGN section 7b).

    Energy of one pulse on a device of conductance G (NeuroSim's resistive write, hardware_costs.md
    §3.1 [code: DNN_NeuroSim_V2.1 ProcessingUnit.cpp::GetWriteUpdateEstimation; MLP_NeuroSim_V3.0
    Cell.cpp]: ``E = V_w^2 / R t_w n`` for n pulses)::

        E_pulse = e_set_j                      if the card quotes an energy per pulse
                = v_set^2 * G * t_set_s        otherwise (same for reset)

    The pulse width is the write time of one pulse slot (row-by-row or parallel update latency,
    :mod:`analog_ep.hardware.cost`). Voltages are magnitudes (the polarity is the pulse's role,
    not its sign). A key the card does not give is unknown: its energy or latency is reported as
    None, never 0 (:meth:`missing`, :func:`write_warning`). ``ideal: true`` declares an
    idealized device (the ``ideal`` card): writes cost nothing and take no time.
    """

    v_set: Optional[float] = None
    """Write voltage magnitude (V) of a potentiation (SET, weight increase) pulse."""
    v_reset: Optional[float] = None
    """Write voltage magnitude (V) of a depression (RESET, weight decrease) pulse."""
    t_set_s: Optional[float] = None
    """Pulse width (s) of a potentiation pulse."""
    t_reset_s: Optional[float] = None
    """Pulse width (s) of a depression pulse."""
    e_set_j: Optional[float] = None
    """Energy (J) per potentiation pulse where a paper quotes one (used instead of V^2 G t)."""
    e_reset_j: Optional[float] = None
    """Energy (J) per depression pulse where a paper quotes one."""
    ideal: bool = False
    """An idealized device (ablation): pulses cost no energy and no time; no other key allowed."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name != "ideal" and v is not None and not v > 0:
                raise ConfigError(f"{f.name}: must be > 0 (a physical pulse; leave the key out where it is "
                                  f"unknown), got {v!r}")
        if self.ideal:
            given = [f.name for f in dataclasses.fields(self) if f.name != "ideal" and getattr(self, f.name) is not None]
            if given:
                raise ConfigError(f"ideal: an ideal device writes at no cost, so {', '.join(given)} cannot be given "
                                  f"with it, got True; remove ideal or the pulse keys")

    def width_s(self, polarity: str) -> Optional[float]:
        """Pulse width (s) of ``polarity`` (:data:`WRITE_POLARITIES`), None when unknown."""
        return 0.0 if self.ideal else getattr(self, f"t_{polarity}_s")

    def energy_j(self, polarity: str, g_s: Optional[float]) -> Optional[float]:
        """Energy (J) of one ``polarity`` pulse on a device of conductance ``g_s`` (siemens):
        the quoted ``e_*_j``, else ``v^2 g t``; None when unknown (or ``g_s`` is None)."""
        if self.ideal:
            return 0.0
        quoted = getattr(self, f"e_{polarity}_j")
        if quoted is not None:
            return quoted
        v, t = getattr(self, f"v_{polarity}"), getattr(self, f"t_{polarity}_s")
        if v is None or t is None or g_s is None:
            return None
        return v * v * g_s * t

    def missing(self) -> list[str]:
        """The keys whose absence leaves a pulse's energy or width unknown (empty: fully known)."""
        if self.ideal:
            return []
        out = []
        for pol in WRITE_POLARITIES:
            if getattr(self, f"e_{pol}_j") is None:
                for key in (f"v_{pol}", f"t_{pol}_s"):
                    if getattr(self, key) is None:
                        out.append(key if key.startswith("t_") else f"{key} (or e_{pol}_j)")
            elif getattr(self, f"t_{pol}_s") is None:
                out.append(f"t_{pol}_s")
        return out


def write_from_dict(data: dict, where: str = "", prefix: str = "") -> Optional[WritePhysics]:
    """The card's ``write:`` section (``data["write"]``) as :class:`WritePhysics`, or None when
    absent or null. Unknown keys name the closest one; zero or negative values are refused."""
    section = data.get("write") if isinstance(data, dict) else None
    if section is None:
        return None
    if not isinstance(section, dict):
        raise ConfigError(f"{where}{prefix}write: expected a mapping of keys such as {{v_set: 2.0, t_set_s: 1.0e-8}}, "
                          f"got {section!r}")
    return _build(WritePhysics, section, where, f"{prefix}write.")


def write_to_dict(write: Optional[WritePhysics]) -> Optional[dict]:
    """The card's ``write:`` section of ``write`` (the keys it gives), None when the card has none:
    :func:`write_from_dict` rebuilds the same physics."""
    if write is None:
        return None
    return {f.name: getattr(write, f.name) for f in dataclasses.fields(write)
            if getattr(write, f.name) not in (None, False)}


def write_warning(card: "DeviceCard") -> Optional[str]:
    """One line naming ``card`` and the ``write:`` keys it lacks (its write energy or latency is
    then reported as unknown, null, never 0), or None when its write physics is complete."""
    phys = WritePhysics() if card.write is None else card.write
    missing = phys.missing()
    if not missing:
        return None
    what = "has no write: section" if card.write is None else "has an incomplete write: section"
    energy = any(phys.energy_j(pol, 1.0) is None for pol in WRITE_POLARITIES)
    latency = any(phys.width_s(pol) is None for pol in WRITE_POLARITIES)
    unknown = " and ".join(w for w, u in (("energy", energy), ("latency", latency)) if u)
    return (f"device card {card.name} {what} (missing {', '.join(missing)}): its write {unknown} "
            f"{'are' if energy and latency else 'is'} reported as unknown (null); add the keys to the card or "
            f"--set device.write.{missing[0].split()[0]}=VALUE")


def card_g_mid_s(card: "DeviceCard") -> float:
    """Midpoint of the card's conductance window, (g_min_us + g_max_us) / 2, in siemens: the
    conductance a write or read is priced at when the counts carry no mean conductance."""
    return 0.5 * (card.params.g_min_us + card.params.g_max_us) * 1e-6


def effective_update(card: Optional["DeviceCard"], analog_cfg: Any) -> UpdateSettings:
    """The pulse-update settings a run uses (:class:`analog_ep.config.schema.UpdateSettings`):
    today's defaults (:data:`analog_ep.config.schema.UPDATE_DEFAULTS`) < the card's ``update:``
    section < every non-null ``analog.KEY``. Cross-field checks against the training config:
    :func:`analog_ep.config.loader.check_update`."""
    return resolve_update(card.update if card is not None else None, analog_cfg)


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
                      description=data.get("description", ""), params=params, periphery=periphery,
                      mapping=mapping_from_dict(data.get("mapping"), where),
                      update=update_from_dict(data, where), sources=sources_from_dict(data, where),
                      write=write_from_dict(data, where))


def card_from_dict(data: dict, name: str, path: str) -> DeviceCard:
    """Rebuild a card from :meth:`DeviceCard.to_dict` output (what a checkpoint or results file
    stores), validated exactly like a card file; errors name ``device card NAME (PATH)``."""
    where = f"device card {name} ({path}): "
    params, periphery = params_from_dict(data, where)
    return DeviceCard(name=name, path=str(path), source=data.get("source", ""),
                      description=data.get("description", ""), params=params, periphery=periphery,
                      mapping=mapping_from_dict(data.get("mapping"), where),
                      update=update_from_dict(data, where), sources=sources_from_dict(data, where),
                      write=write_from_dict(data, where))


def resolve_card(name_or_path: Union[str, Path], overrides: Optional[dict] = None) -> DeviceCard:
    """The card in effect: :func:`load_device` plus the config's ``device.*`` overrides.

    ``overrides`` (``RunConfig.device``, e.g. ``{"dw_min_std": 0.3, "periphery": {"out_bits":
    6}}``) are deep-merged onto the card (``periphery`` and ``mapping`` key by key; a periphery given to a card
    without one starts from the ideal defaults; ``periphery: null`` removes the card's) and the
    result is validated exactly like a card file, with errors naming the override:
    ``device.dw_min_std: must be >= 0, got -1.0``, ``device.n_state: unknown key for rule
    soft_bounds; did you mean device.n_states? valid keys: ...``.

    ``rule`` is refused (the card's parameters belong to its rule, so another rule needs its own
    card: copy the YAML, change ``rule:`` and the parameters, pass ``--device PATH``), as are the
    metadata keys ``source`` and ``description``. The resolved card keeps the card's name, path,
    source and description; its ``params`` / ``periphery`` hold the overridden values.
    """
    card = load_device(name_or_path)
    if not overrides:
        return card
    if not isinstance(overrides, dict):
        raise ConfigError(f"device: expected a mapping of card keys such as {{dw_min_std: 0.3}}, got {overrides!r}")
    if "rule" in overrides:
        raise ConfigError(f"device.rule: the update rule of a card cannot be overridden (the parameters of "
                          f"{card.name} belong to rule {card.rule}), got {overrides['rule']!r}; copy "
                          f"{card.path} to a new YAML file, change rule: and its parameters, and pass --device PATH")
    for k in ("source", "description", "sources"):
        if k in overrides:
            raise ConfigError(f"device.{k}: is card metadata, not a device parameter; remove the override "
                              f"(or edit a copy of {card.path} and pass --device PATH)")
    merged = merge(card.to_dict(), copy.deepcopy(overrides))
    try:
        params, periphery = params_from_dict(merged, "", "device.", ("periphery", "mapping", "write"))
        mapping = mapping_from_dict(merged.get("mapping"), "", "device.")
        update = update_from_dict(merged, "", "device.")
        write = write_from_dict(merged, "", "device.")
    except ConfigError as e:
        msg = str(e)
        named = msg.split(":", 1)[0]
        leaves = leaf_keys(overrides, "device.")
        if named not in leaves and not any(named.startswith(k + ".") for k in leaves):
            # a card value that the overrides made impossible (w_min vs an overridden w_max)
            msg += f" (card {card.name} with the overrides {', '.join(leaves)})"
        raise ConfigError(msg) from None
    return dataclasses.replace(card, params=params, periphery=periphery, mapping=mapping, update=update, write=write)


def effective_periphery(card: DeviceCard, analog_cfg: Any) -> PeripheryParams:
    """The periphery a run reads through: the card's (ideal :class:`PeripheryParams` when it has
    none) with the non-null ``analog.*`` shortcuts on top (the keys and their precedence:
    :data:`analog_ep.config.schema.PERIPHERY_KEYS`). Pass the resolved card
    (:func:`resolve_card`). Errors name ``analog.KEY``.
    """
    base = dataclasses.asdict(card.periphery) if card.periphery is not None else {}
    set_keys = []
    for key in PERIPHERY_KEYS:
        value = getattr(analog_cfg, key, None)
        if value is not None:
            base[key] = value
            set_keys.append(key)
    for bits, bound in (("inp_bits", "inp_bound"), ("out_bits", "out_bound")):
        if bits in set_keys and base.get(bound) is None:
            raise ConfigError(f"analog.{bits}: needs a converter full scale, and card {card.name} has no "
                              f"periphery.{bound}, got {base[bits]!r}; add --set analog.{bound}=VALUE "
                              f"(or --set device.periphery.{bound}=VALUE)")
    try:
        return PeripheryParams(**base)
    except ConfigError as e:
        raise ConfigError(f"analog.{e}") from None


def settle_constant_source(card: DeviceCard, analog_cfg: Any, key: str, device_overrides: dict | None = None) -> str:
    """Where the settle neuron's ``key`` (``settle_capacitance_f`` / ``settle_g_leak_s``) of a run's
    effective periphery (:func:`effective_periphery`) comes from: ``analog.KEY``, a ``--set
    device.periphery.KEY`` (``device_overrides``: the config's ``device:``, applied by
    :func:`resolve_card`), the card's ``periphery.KEY`` (its name and file), or the default neuron."""
    if getattr(analog_cfg, key, None) is not None:
        return f"analog.{key}"
    if key in ((device_overrides or {}).get("periphery") or {}):
        return f"device.periphery.{key}"
    if card.periphery is not None and getattr(card.periphery, key) is not None:
        return f"card {card.name}'s periphery.{key} ({card.path})"
    return f"the default neuron's {key} (no card or analog value)"


def check_settle_step(card: DeviceCard, periph: PeripheryParams, analog_cfg: Any,
                      device_overrides: dict | None = None) -> None:
    """A given ``analog.settle_dt_s`` at most the settle neuron's time constant ``tau = C /
    G_leak`` of the effective periphery (the card's neuron under the ``analog.*`` overrides); the
    refusal names where C and G_leak came from (:func:`settle_constant_source`). The solvers
    check their measured stability bounds per phase."""
    dt = getattr(analog_cfg, "settle_dt_s", None)
    tau = periph.settle_tau_s
    if dt is not None and dt > tau * (1 + 1e-12):
        src = ", ".join(f"{name} from {settle_constant_source(card, analog_cfg, key, device_overrides)}"
                        for name, key in (("C", "settle_capacitance_f"), ("G_leak", "settle_g_leak_s")))
        raise ConfigError(f"analog.settle_dt_s: {dt!r} s is above the settle's largest step dt <= tau = C / G_leak = "
                          f"{tau:.4g} s ({src}; a step longer than the node's time constant); lower it or set null "
                          f"(chosen from the time constant and the phase's stability bound)")


# --------------------------------------------------------------------------------------------
# weight mapping (the card's ``mapping:`` section and the analog.mapping / analog.omega keys)


LEGACY_WEIGHT_RANGE = 0.5
"""The mapping of runs made before named mappings existed, and of every run whose card has no
``mapping:`` section and whose config sets none of ``analog.weight_range`` / ``analog.mapping`` /
``analog.omega``: omega = 0.5 x the device's smaller bound (the old default of
``analog.weight_range``)."""


@dataclass(frozen=True)
class WeightMapping:
    """How a layer's weights ``W`` (network units) are programmed into the devices' relative
    units ``w_dev`` and read back: ``W = w_scale * w_dev`` with one digital scale ``w_scale``
    per synapse (layer), applied to every read's output and dividing every update (aihwkit
    1.2.0, ``simulator/parameters/mapping.py`` ``MappingParameter.weight_scaling_omega`` and
    ``simulator/tiles/periphery.py`` ``TileWithPeriphery.apply_weight_scaling``).

    * ``identity`` (aihwkit's default, ``weight_scaling_omega = 0``): ``w_scale = 1``, the devices
      hold the weights as they are (device units = network units). A weight beyond a device's
      bounds is clipped when it is programmed (to that device's own ``[w_min, w_max]``, its
      device-to-device draw, as aihwkit's pulsed devices clip in ``set_weights``), then rounded to
      its levels if the card has ``n_states``; the clipped value is what the network reads
      and learns from.
    * ``omega``: each synapse's initial ``max |W|`` maps onto ``omega`` device units, ``w_scale =
      max |W| / omega`` (1 for an all-zero weight), the factor aihwkit keeps as the tile's
      digital mapping scale ``alpha`` (layer-wise, ``weight_scaling_columnwise = False``).
      ``omega`` is one value for every synapse or a list with one per synapse in
      ``model.all_synapses()`` order. An omega beyond a device's bound clips as identity does.
    """

    kind: str = "identity"
    """``identity`` or ``omega`` (:data:`MAPPING_KINDS`)."""
    omega: Optional[Union[float, tuple]] = None
    """``omega``: device units of each synapse's initial max |W| (a float, or a tuple with one
    per synapse); None for ``identity``."""
    source: str = dataclasses.field(default="", compare=False)
    """Where the mapping comes from (card section, ``analog.*`` key, legacy default); not part
    of the card's section."""

    def omegas(self, n: int) -> list:
        """Per-synapse omega for ``n`` synapses (None each for identity). A list of the wrong
        length raises :class:`ConfigError` naming the key it came from and ``n``."""
        if self.kind == "identity":
            return [None] * n
        if isinstance(self.omega, (tuple, list)):
            if len(self.omega) != n:
                key = "analog.omega" if self.source.startswith("analog.omega") else "mapping.omega"
                at = f" ({self.source})" if self.source else ""
                raise ConfigError(f"{key}: lists {len(self.omega)} omegas{at}, but the model has {n} synapses "
                                  f"(one omega per synapse in model.all_synapses() order, or one number for all), "
                                  f"got {list(self.omega)!r}")
            return [float(v) for v in self.omega]
        return [float(self.omega)] * n


@dataclass(frozen=True)
class _MappingSection:
    """The keys of a card's ``mapping:`` section (parsed with the card's key checks)."""

    kind: Optional[str] = None
    omega: Optional[Union[float, list[float]]] = None


def mapping_from_dict(data: Any, where: str = "", prefix: str = "") -> Optional[WeightMapping]:
    """A card's ``mapping:`` section (None when absent or null), validated: ``kind`` (required:
    identity or omega), ``omega`` (kind omega only: a number in (0, 1] or a list of them, one
    per synapse; the length is checked when the model is mapped). Errors are one line naming
    ``{where}{prefix}mapping.KEY`` (with the closest key for a misspelt one)."""
    if data is None:
        return None
    key = f"{prefix}mapping."
    if not isinstance(data, dict):
        raise ConfigError(f"{where}{prefix}mapping: expected a mapping of keys such as {{kind: identity}}, got {data!r}")
    sec = _build(_MappingSection, data, where, key)
    if sec.kind is None:
        raise ConfigError(f"{where}{key}kind: missing; valid: {', '.join(MAPPING_KINDS)}")
    check_mapping_values(sec.kind, sec.omega, where, key)
    omega = tuple(sec.omega) if isinstance(sec.omega, list) else sec.omega
    return WeightMapping(sec.kind, omega)


def mapping_to_dict(mapping: Optional[WeightMapping]) -> Optional[dict]:
    """The card's ``mapping:`` section of ``mapping`` (None when the card has none):
    :func:`mapping_from_dict` rebuilds the same mapping."""
    if mapping is None:
        return None
    out: dict[str, Any] = {"kind": mapping.kind}
    if mapping.omega is not None:
        out["omega"] = list(mapping.omega) if isinstance(mapping.omega, tuple) else mapping.omega
    return out


def _range_mapping(weight_range: float, card: DeviceCard, source: str) -> WeightMapping:
    """The legacy mapping: omega = ``weight_range`` x the device's smaller bound
    min(|w_min|, |w_max|) (the product formed as :class:`~.storage.AnalogStorage` always did, so
    runs reproduce bit for bit)."""
    bound = min(abs(card.params.w_max), abs(card.params.w_min))
    return WeightMapping("omega", weight_range * bound, f"{source} x device bound {bound:g}")


def effective_mapping(card: DeviceCard, analog_cfg: Any) -> WeightMapping:
    """The weight mapping a run programs its devices with (pass the resolved card,
    :func:`resolve_card`); precedence card < ``analog.*``:

    1. ``analog.weight_range`` set (old configs and stored runs): the legacy mapping, omega =
       weight_range x min(|w_min|, |w_max|) of the card; together with ``analog.mapping`` or
       ``analog.omega`` it is a contradiction (refused);
    2. ``analog.mapping`` / ``analog.omega`` set: that mapping (``analog.omega`` alone means
       the omega mapping; ``analog.mapping: omega`` without ``analog.omega`` takes the card's
       omega);
    3. the card's ``mapping:`` section;
    4. none of them: the legacy mapping with weight_range 0.5 (:data:`LEGACY_WEIGHT_RANGE`),
       today's numerics for every card without a mapping section.

    Errors are one :class:`ConfigError` line naming the key."""
    check_analog_mapping(analog_cfg)
    weight_range = getattr(analog_cfg, "weight_range", None)
    kind = getattr(analog_cfg, "mapping", None)
    omega = getattr(analog_cfg, "omega", None)
    if weight_range is not None:
        return _range_mapping(weight_range, card, f"analog.weight_range {weight_range:g}")
    if kind is None and omega is None:
        if card.mapping is not None:
            return dataclasses.replace(card.mapping, source=f"card {card.name}, mapping section")
        return _range_mapping(LEGACY_WEIGHT_RANGE, card,
                              f"legacy default (card {card.name} has no mapping section): weight_range "
                              f"{LEGACY_WEIGHT_RANGE:g}")
    if kind is None:
        kind = "omega"
    source = "analog.mapping" if omega is None else "analog.omega"
    if kind == "omega" and omega is None:
        if card.mapping is None or card.mapping.kind != "omega":
            raise ConfigError(f"analog.mapping: omega needs analog.omega (card {card.name} has no mapping.omega), "
                              f"got 'omega'; add --set analog.omega=VALUE in (0, 1]")
        omega = card.mapping.omega
        source = f"mapping.omega (card {card.name}) with analog.mapping"
    omega = tuple(omega) if isinstance(omega, list) else omega
    return WeightMapping(kind, None if kind == "identity" else omega, source)


__all__ = ["DeviceCard", "MAPPING_KINDS", "META_KEYS", "WRITE_POLARITIES", "WeightMapping", "WritePhysics",
           "card_from_dict", "card_g_mid_s", "effective_mapping", "effective_periphery", "effective_update",
           "list_devices", "load_device", "mapping_from_dict", "mapping_to_dict", "params_from_dict", "SOURCE_SECTIONS",
           "resolve_card", "sources_from_dict", "update_from_dict", "write_from_dict", "write_to_dict", "write_warning"]
