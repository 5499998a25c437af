"""Cost = counts x unit costs: energy, latency and area of the events a simulation counted.

:func:`price` takes an event record (``model.event_counts()``, or the difference of two,
``analog_ep.synapses.counters.diff_counts``; the layout is issue 19's contract, restated in
:func:`price`), a :class:`~analog_ep.config.schema.ChipConfig` and the device card's write
physics (:class:`.write.WriteModel`), and returns a :class:`CostReport`. It reads counts only:
nothing here touches a simulation. Unit costs and their sources: ``../shared/hardware_costs.md``
(cited per key in the ChipConfig docstrings); the formulas follow its section 8 (NeuroSim-style
first-order model).

Notation for one analog layer L, one phase and one read kind, with the record's counts
(``vector_reads``, ``dac_conversions``, ``cell_reads``, ``adc_conversions``, ``partial_adds``,
``bm_rereads``): P = bit-planes per read (``input_bits`` B for ``bit_serial``, 1 for
``amplitude`` / ``pwm``), a = ``input_activity``, b = ADC bits, c = cells per weight, G = the
layer's mean device conductance (``g_mean_us``; else the card's window midpoint), zeta =
``calib_energy``, beta = ``calib_latency``, T = the layer's simulated tiles::

    drivers = dac_conversions * P * E_driver * zeta                       (§2.4, §8.6)
    array   = cell_reads * c * P * a * V_r^2 * G * t_read                 (§1.1: E = sum V^2 G t)
    adc     = adc_conversions * P * E_conv(b) * zeta                      (§2.3; .adc)
    digital = (partial_adds * E_add + [bit_serial] adc_conversions * P * E_shift_add) * zeta
    each x (1 + bm_rereads / (vector_reads * T))       a bound-management re-read costs an average
                                                       tile read of the same layer, kind and phase

Per phase, the relaxation's neuron updates (``neuron_updates`` of the record's phase) add
``digital += n * (E_activation + E_mult + E_add + 2 state_bits E_state_bit) * zeta`` (§8.4), and
a digital layer's multiply-accumulates ``digital += macs * (E_mult + E_add) * zeta``.

Latency: the simulated tiles of a layer read in parallel, the vector reads of a layer follow one
another (samples and conv patches one vector at a time), and the layers follow one another as
the solver reads them (§8.4, sequential layer updates); so a phase's read latency is the sum over
layers and kinds of::

    t_cycle = (t_read + min(lines, cols_per_adc) * t_conv(b)) * beta      lines: the largest tile's
                                                                          output lines (forward:
                                                                          columns, transposed: rows);
                                                                          its ceil(lines / cols_per_adc)
                                                                          ADCs convert in parallel
    t_read  = vector_reads * (P * t_cycle + ceil(log2 n_blocks) / clk)    adder tree over the
            + bm_rereads * P * t_cycle                                    n_blocks summed tile blocks

plus ``(neuron_updates + digital MACs) / (digital_lanes * clk)``. The update phase:

    write   = sum_layers set_pulses * E_set(G) + reset_pulses * E_reset(G)       (.write; §3.1)
    digital = sum_layers update macs * (E_mult + E_add) * zeta                   (the correlation)
    latency = max_layers slots * t_w + sum_layers update macs / (digital_lanes * clk)
      slots = row_slots / T   (row_by_row, NeuroSim: sum over rows of max n_set + max n_reset,
                               tiles in parallel, so the record's sum over tiles shared by T)
            = pulse_rounds    (parallel outer product, the RPU papers)
      t_w   = (set_pulses t_set + reset_pulses t_reset) / (set_pulses + reset_pulses)

(the layers' arrays are written in parallel; t_w is exact when both polarities share a width).
Leakage of every phase: ``leakage_w_per_tile * arrays * latency``, with ``arrays`` the physical
arrays of the chip (:func:`area`). Unknown stays unknown: a write cost the card does not give
is None, and so is every total it enters (never 0).

Area per analog layer (§8.7), with the physical arrays of ``chip.tile_rows`` x ``chip.tile_cols``
(null = the simulated tiles), each array r x c::

    cells   = r * c * cells_per_weight * cell_area_f2 * F^2
    adc     = (ceil(c / cols_per_adc) [+ ceil(r / cols_per_adc) if the layer reads transposed]) * A_adc(b)
    drivers = (r [+ c if transposed]) * A_driver
    digital = number of ADCs * A_shift_add        (one shift-and-add / accumulator per ADC)
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Optional

from .adc import adc_area_um2, adc_energy_j, adc_time_s
from .write import WRITE_POLARITIES, WriteModel, as_write_model

COMPONENTS = ("drivers", "array", "adc", "digital", "write", "leakage")
"""Energy components of every phase (J)."""

UPDATE_PHASE = "update"
"""The name of the weight-update phase in a :class:`CostReport` (the record's per-layer ``update`` counts)."""

INFERENCE_PHASE = "inference"
"""The record's evaluation phase: priced apart from training."""


@dataclass(frozen=True)
class Encoding:
    """How an input encoding reads: bit-planes per vector read and whether a shift-and-add
    follows each conversion."""

    planes: Callable[[int], int]
    shift_add: bool


ENCODINGS = {"bit_serial": Encoding(lambda bits: bits, True),
             "amplitude": Encoding(lambda bits: 1, False),
             "pwm": Encoding(lambda bits: 1, False)}
"""``chip.input_encoding`` -> :class:`Encoding` (hardware_costs.md §1.1, §8.3)."""

UPDATE_SCHEMES: dict[str, Callable[[dict, int], float]] = {
    "row_by_row": lambda upd, n_tiles: upd.get("row_slots", 0) / n_tiles,
    "parallel": lambda upd, n_tiles: float(upd.get("pulse_rounds", 0)),
}
"""``chip.update_scheme`` -> pulse slots in sequence of a layer's updates (counts, its tile count)."""


def _sum(values: Iterable[Optional[float]]) -> Optional[float]:
    """Sum, None when any term is None (unknown stays unknown)."""
    total = 0.0
    for v in values:
        if v is None:
            return None
        total += v
    return total


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


@dataclass(frozen=True)
class LayerChip:
    """One layer's chip-side numbers: bits, cells per weight, conductance, physical arrays."""

    planes: int
    adc_bits: int
    cells_per_weight: int
    g_s: Optional[float]
    n_tiles: int
    arrays: list


def _layer_chip(layer: dict, chip: Any, write: WriteModel) -> LayerChip:
    enc = ENCODINGS[chip.input_encoding]
    in_bits = _first(chip.input_bits, layer.get("dac_bits"), chip.default_bits)
    adc_bits = _first(chip.adc_bits, layer.get("adc_bits"), chip.default_bits)
    g_us = layer.get("g_mean_us")
    g_s = g_us * 1e-6 if g_us is not None else write.g_mid_s
    rows = chip.tile_rows and [chip.tile_rows] * math.ceil(layer["rows"] / chip.tile_rows)
    cols = chip.tile_cols and [chip.tile_cols] * math.ceil(layer["cols"] / chip.tile_cols)
    arrays = [(r, c) for r in (rows or layer["tile_rows"]) for c in (cols or layer["tile_cols"])]
    return LayerChip(planes=enc.planes(in_bits), adc_bits=adc_bits,
                     cells_per_weight=_first(chip.cells_per_weight, layer.get("cells_per_weight"), 1), g_s=g_s,
                     n_tiles=len(layer["tile_rows"]) * len(layer["tile_cols"]), arrays=arrays)


def _reads_transposed(layer: dict) -> bool:
    return any(kinds.get("transposed", {}).get("vector_reads", 0) > 0 for kinds in layer.get("phases", {}).values())


def _read_cost(layer: dict, kind: str, c: dict, lc: LayerChip, chip: Any) -> tuple[dict, float]:
    """Energy by component (J) and latency (s) of one analog layer's reads of one kind in one phase."""
    a, P, zeta = chip.input_activity, lc.planes, chip.calib_energy
    enc = ENCODINGS[chip.input_encoding]
    vec = c.get("vector_reads", 0)
    adc_conv = c.get("adc_conversions", 0)
    array = (None if lc.g_s is None else
             c.get("cell_reads", 0) * lc.cells_per_weight * P * a * chip.v_read ** 2 * lc.g_s * chip.t_read_s)
    energy = {"drivers": c.get("dac_conversions", 0) * P * chip.e_driver_j * zeta,
              "array": array,
              "adc": adc_conv * P * adc_energy_j(chip, lc.adc_bits) * zeta,
              "digital": (c.get("partial_adds", 0) * chip.e_add_j
                          + (adc_conv * P * chip.e_shift_add_j if enc.shift_add else 0.0)) * zeta}
    bm = c.get("bm_rereads", 0)
    if bm and vec:
        scale = 1.0 + bm / (vec * lc.n_tiles)
        energy = {k: (None if v is None else v * scale) for k, v in energy.items()}
    lines = max(layer["tile_cols"]) if kind == "forward" else max(layer["tile_rows"])
    blocks = len(layer["tile_rows"]) if kind == "forward" else len(layer["tile_cols"])
    t_cycle = (chip.t_read_s + min(lines, chip.cols_per_adc) * adc_time_s(chip, lc.adc_bits)) * chip.calib_latency
    adder = math.ceil(math.log2(blocks)) / chip.clk_hz if blocks > 1 else 0.0
    latency = vec * (P * t_cycle + adder) + bm * P * t_cycle
    return energy, latency


def _e_neuron(chip: Any) -> float:
    return (chip.e_activation_j + chip.e_mult_j + chip.e_add_j + 2 * chip.state_bits * chip.e_state_bit_j) * chip.calib_energy


def _e_mac(chip: Any) -> float:
    return (chip.e_mult_j + chip.e_add_j) * chip.calib_energy


def _write_cost(layer: dict, lc: LayerChip, chip: Any, write: WriteModel) -> tuple[Optional[float], Optional[float]]:
    """Write energy (J) and write latency (s) of one layer's updates; None where unknown."""
    upd = layer.get("update", {})
    n = {pol: upd.get(f"{pol}_pulses", 0) for pol in WRITE_POLARITIES}
    if not any(n.values()):
        return 0.0, 0.0
    per_pulse = {pol: write.energy_j(pol, lc.g_s) for pol in WRITE_POLARITIES}
    energy = _sum(0.0 if not n[pol] else None if per_pulse[pol] is None else n[pol] * per_pulse[pol]
                  for pol in WRITE_POLARITIES)
    widths = {pol: write.width_s(pol) for pol in WRITE_POLARITIES}
    if any(widths[pol] is None and n[pol] for pol in WRITE_POLARITIES):
        return energy, None
    t_w = sum(n[pol] * widths[pol] for pol in WRITE_POLARITIES if n[pol]) / sum(n.values())
    slots = UPDATE_SCHEMES[chip.update_scheme](upd, lc.n_tiles)
    return energy, slots * t_w


@dataclass(frozen=True)
class CostReport:
    """Energy (J) by phase and component, latency (s) by phase and area (um^2) by layer of one
    event record on one chip (:func:`price`). None = unknown (never 0)."""

    energy_j: dict
    """phase -> component (:data:`COMPONENTS`) -> J (None = unknown)."""
    latency_s: dict
    """phase -> s (None = unknown)."""
    area_um2: dict
    """:func:`area`: ``layers`` (name -> part -> um^2) and ``chip`` totals."""
    samples: dict
    """phase -> samples that went through it (the record's)."""
    train_samples: int
    """Training samples the totals are divided by for per-sample figures."""
    inference_samples: int
    """Evaluation samples (the ``inference`` phase's)."""
    epochs: Optional[int] = None
    """Epochs the record covers (per-epoch figures), None when not given."""
    chip: dict = field(default_factory=dict)
    """The pricing choices worth printing beside the numbers (ADC model, encoding, update scheme, ...)."""
    unknown: list = field(default_factory=list)
    """Why some figure is None (one line each)."""

    def phase_energy_j(self, phase: str) -> Optional[float]:
        return _sum(self.energy_j[phase].values())

    def _total(self, phases: list) -> tuple[Optional[float], Optional[float]]:
        return _sum(self.phase_energy_j(p) for p in phases), _sum(self.latency_s[p] for p in phases)

    @property
    def train_phases(self) -> list:
        return [p for p in self.energy_j if p != INFERENCE_PHASE]

    def train_energy_j(self) -> Optional[float]:
        return self._total(self.train_phases)[0]

    def train_latency_s(self) -> Optional[float]:
        return self._total(self.train_phases)[1]

    def to_dict(self) -> dict:
        """Plain JSON/HDF5-ready data: per phase (components and total), training and inference
        totals with per-sample (and per-epoch) figures, totals by component, area."""

        def per(v: Optional[float], n: Optional[int]) -> Optional[float]:
            return None if v is None or not n else v / n

        def block(phases: list, n: int) -> dict:
            e, t = self._total(phases)
            return {"phases": phases, "samples": n, "energy_j": e, "latency_s": t,
                    "energy_per_sample_j": per(e, n), "latency_per_sample_s": per(t, n),
                    "energy_per_epoch_j": per(e, self.epochs), "latency_per_epoch_s": per(t, self.epochs)}

        phases = {p: {**{c: v for c, v in comps.items()}, "total": self.phase_energy_j(p)}
                  for p, comps in self.energy_j.items()}
        train = self.train_phases
        return {"energy_j": phases, "latency_s": dict(self.latency_s),
                "by_component_j": {c: _sum(self.energy_j[p][c] for p in train) for c in COMPONENTS},
                "train": block(train, self.train_samples),
                "inference": block([p for p in self.energy_j if p == INFERENCE_PHASE], self.inference_samples),
                "area_um2": self.area_um2, "samples": dict(self.samples), "epochs": self.epochs,
                "chip": dict(self.chip), "unknown": list(self.unknown)}


def area(record: dict, chip: Any) -> dict:
    """Area (um^2) of every analog layer's physical arrays with their periphery, and the chip's
    sum: ``{"layers": {name: {"arrays", "cells", "adc", "drivers", "digital", "total"}}, "chip":
    {...}}`` (formulas: module docstring). Digital layers occupy no crossbar."""
    layers = {}
    f2 = (chip.feature_nm * 1e-3) ** 2
    for layer in record["layers"]:
        if not layer.get("analog"):
            continue
        lc = _layer_chip(layer, chip, WriteModel.none())
        transposed = _reads_transposed(layer)
        a_adc = adc_area_um2(chip, lc.adc_bits)
        cells = adcs = drivers = 0.0
        for r, c in lc.arrays:
            cells += r * c * lc.cells_per_weight * chip.cell_area_f2 * f2
            adcs += math.ceil(c / chip.cols_per_adc) + (math.ceil(r / chip.cols_per_adc) if transposed else 0)
            drivers += (r + (c if transposed else 0)) * chip.driver_area_um2
        parts = {"arrays": len(lc.arrays), "cells": cells, "adc": adcs * a_adc, "drivers": drivers,
                 "digital": adcs * chip.shift_add_area_um2}
        parts["total"] = parts["cells"] + parts["adc"] + parts["drivers"] + parts["digital"]
        layers[layer["name"]] = parts
    keys = ("arrays", "cells", "adc", "drivers", "digital", "total")
    return {"layers": layers, "chip": {k: sum(p[k] for p in layers.values()) for k in keys}}


def price(record: dict, chip: Any, write: Any = None, *, samples: Optional[int] = None,
          epochs: Optional[int] = None) -> CostReport:
    """Energy, latency and area of ``record``'s events on ``chip`` (formulas: module docstring).

    ``record`` (issue 19's contract, plain host data)::

        {"layers": [{"name", "analog", "kind", "rows", "cols", "tile_rows", "tile_cols",
                     "cells_per_weight", "dac_bits", "adc_bits", "g_mean_us",
                     "phases": {phase: {"forward": {field: n}, "transposed": {field: n}}},
                     "update": {"updates", "set_pulses", "reset_pulses", "rows_written",
                                "row_slots", "pulse_rounds", "macs"}}, ...],
         "phases": {phase: {"samples", "sweeps", "neuron_updates"}}}

    ``write``: the device card (:class:`~analog_ep.analog.cards.DeviceCard`), its
    :class:`.write.WriteModel`, or None (no card: write costs unknown). ``samples``: training
    samples for the per-sample figures (default: the most samples of any training phase);
    ``epochs``: epochs the record covers (per-epoch figures). When pulses were sent whose cost
    the card does not give, the write energy (or latency) is None and one warning names the card
    and the missing keys.
    """
    write = as_write_model(write)
    area_parts = area(record, chip)
    n_arrays = area_parts["chip"]["arrays"]
    record_phases = record.get("phases", {})
    order = list(record_phases)
    for layer in record["layers"]:
        order += [p for p in layer.get("phases", {}) if p not in order]
    energy = {p: {c: 0.0 for c in COMPONENTS} for p in order}
    latency = {p: 0.0 for p in order}
    unknown: list = []
    e_neuron, e_mac, t_op = _e_neuron(chip), _e_mac(chip), 1.0 / (chip.digital_lanes * chip.clk_hz)

    def add(phase: str, comp: str, value: Optional[float]) -> None:
        cur = energy[phase][comp]
        energy[phase][comp] = None if cur is None or value is None else cur + value

    for phase, stats in record_phases.items():
        n = stats.get("neuron_updates", 0)
        add(phase, "digital", n * e_neuron)
        latency[phase] += n * t_op
    update_energy = {c: 0.0 for c in COMPONENTS}
    write_times: list = []
    update_digital_time = 0.0
    any_update = False
    for layer in record["layers"]:
        lc = _layer_chip(layer, chip, write)
        for phase, kinds in layer.get("phases", {}).items():
            for kind, c in kinds.items():
                if not layer.get("analog"):
                    macs = c.get("macs", 0)
                    add(phase, "digital", macs * e_mac)
                    latency[phase] += macs * t_op
                    continue
                comp, t = _read_cost(layer, kind, c, lc, chip)
                for name, value in comp.items():
                    add(phase, name, value)
                latency[phase] += t
                msg = f"{layer['name']}: array energy unknown: no mean conductance (g_mean_us) and no device card"
                if comp["array"] is None and msg not in unknown:
                    unknown.append(msg)
        upd = layer.get("update")
        if not upd:
            continue
        any_update = any_update or any(upd.get(k, 0) for k in ("updates", "set_pulses", "reset_pulses", "macs"))
        macs = upd.get("macs", 0)
        update_energy["digital"] += macs * e_mac
        update_digital_time += macs * t_op
        e_write, t_write = _write_cost(layer, lc, chip, write) if layer.get("analog") else (0.0, 0.0)
        update_energy["write"] = None if update_energy["write"] is None or e_write is None else update_energy["write"] + e_write
        write_times.append(t_write)
        if e_write is None or t_write is None:
            msg = write.warning() or f"device card {write.card}: write cost unknown"
            if msg not in unknown:
                unknown.append(msg)
                warnings.warn(msg, UserWarning, stacklevel=2)
    if any_update:
        energy[UPDATE_PHASE] = update_energy
        slowest = None if any(t is None for t in write_times) else max(write_times, default=0.0)
        latency[UPDATE_PHASE] = None if slowest is None else slowest + update_digital_time
    for phase in energy:
        t = latency[phase]
        energy[phase]["leakage"] = None if t is None else chip.leakage_w_per_tile * n_arrays * t
    counts = {p: int(v.get("samples", 0)) for p, v in record_phases.items()}
    train_n = samples if samples is not None else max((n for p, n in counts.items() if p != INFERENCE_PHASE), default=0)
    info = {"adc_model": chip.adc_model, "input_encoding": chip.input_encoding, "update_scheme": chip.update_scheme,
            "node_nm": chip.node_nm, "card": write.card, "arrays": n_arrays}
    return CostReport(energy_j=energy, latency_s=latency, area_um2=area_parts, samples=counts, train_samples=train_n,
                      inference_samples=counts.get(INFERENCE_PHASE, 0), epochs=epochs, chip=info, unknown=unknown)


__all__ = ["COMPONENTS", "ENCODINGS", "CostReport", "INFERENCE_PHASE", "UPDATE_PHASE", "UPDATE_SCHEMES", "area", "price"]
