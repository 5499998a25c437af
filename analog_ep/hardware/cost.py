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
``calib_energy``, beta = ``calib_latency``, T = the layer's simulated tiles, m = the layer's
``read_integration`` (the periphery's read window in card read windows; 1 where the record has
none)::

    drivers = dac_conversions * P * E_driver * zeta                       (§2.4, §8.6; per drive, not
                                                                          scaled by m: ISAAC's DAC
                                                                          energy is its power over one
                                                                          ~83 ns drive period, already
                                                                          ~8 card read windows, and the
                                                                          held line's DC current is the
                                                                          array term's m t_read)
    array   = cell_reads * c * P * a * V_r^2 * G * m * t_read             (§1.1: E = sum V^2 G t, t the
                                                                          integration window m t_read)
    adc     = adc_conversions * P * E_conv(b) * zeta                      (§2.3; .adc)
    digital = (partial_adds * E_add + [bit_serial] adc_conversions * P * E_shift_add) * zeta
    each x (1 + bm_rereads / (vector_reads * T))       a bound-management re-read costs an average
                                                       tile read of the same layer, kind and phase

The ADC converts once per read whatever the window (§2.3: energy per conversion), and the
digital partial sums and shift-adds follow the conversions: neither scales with m.

Per phase, the relaxation's neuron updates (``neuron_updates`` of the record's phase) add
``digital += n * (E_activation + E_mult + E_add + 2 state_bits E_state_bit) * zeta`` (§8.4), and
a digital layer's multiply-accumulates ``digital += macs * (E_mult + E_add) * zeta``.

Latency: the simulated tiles of a layer read in parallel, the vector reads of a layer follow one
another (samples and conv patches one vector at a time), and the layers follow one another as
the solver reads them (§8.4, sequential layer updates); so a phase's read latency is the sum over
layers and kinds of::

    t_cycle = (m t_read + min(lines, cols_per_adc) * t_conv(b)) * beta    lines: the largest tile's
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

**Settle phases** (``analog.relaxation: settle``, DESIGN section 7c; a phase whose record has
``settle_samples``): the neurons are analog circuits settling on the crossbar, so no read is
converted per sweep. With T the phase's settled time summed over its samples (``settle_time_s``),
N = ``settle_samples`` and n = ``neuron_updates / N`` the nodes (one read-out per node per
sample), per analog layer (every layer conducts for the whole settle, forward and transposed
lines at once)::

    array   = rows * cols * c * a * V_r^2 * G * T             (§1.1: E = sum V^2 G t, for the settle)
    adc     = readouts * E_conv(b) * zeta                     the equilibrium read-out: one conversion
                                                              per node per sample (the layer's counted
                                                              ``readouts``: the nodes it reads out)
    neurons = neuron_energy_per_tau_j * n * T / tau           the neuron circuits' bias: an energy per
                                                              node per time constant tau = C / G_leak
                                                              (the record's ``settle_tau_s``; a record
                                                              without it, before session 15: tau = 1 us,
                                                              the figure's NeuRRAM cycle, with a note)
    digital = neuron_updates * state_bits * E_state_bit * zeta   storing the read-out states
    drivers = dac_conversions * E_driver * zeta               the counted reads of a settle phase are
                                                              the clamped input's drive (the settling
                                                              reads count nothing): its DAC / drivers,
                                                              one analog level held through the settle
    latency = T + N * max_layers ceil((readouts / N) / n_adc) * t_conv(b) * beta
              n_adc: the column ADCs of one row block, sum_j ceil(tile_cols_j / cols_per_adc)

Iterative phases keep the formulas above (:data:`PHASE_PRICINGS` holds both pricings).

**Update by scheme** (:data:`UPDATE_COSTS`, by the layer's ``update_kind``): ``rounded`` and
``ideal`` (and records without a kind) compute the correlation digitally (the ``digital`` term
above, row-by-row as NeuroSim); ``bitstream`` (the RPU papers' fully parallel outer product: the
coincidence of the row and column pulse trains happens in the array) has no correlation MACs but
generates a stochastic train on every driven line of every tile for each of the ``v = macs /
(rows cols)`` outer-product vectors::

    drivers = v * bl * (rows * n_col_blocks + cols * n_row_blocks) * E_driver * zeta
    slots   = v * bl                                   (each vector's BL-slot train, in turn)

``mixed`` keeps the digital correlation and adds its accumulator chi (``chi_bits`` per weight,
SRAM): per weight per update an accumulate (read, add, write) and a transfer (read chi for the
pulse count, subtract the sent pulses, write the remainder)::

    accumulator = rows * cols * updates * (4 chi_bits E_sram_bit + 2 E_add) * zeta
    latency    += rows * cols * updates * 2 / (digital_lanes * clk)
    area        = rows * cols * chi_bits * sram_cell_f2 * F^2

Area per analog layer (§8.7), with the physical arrays of ``chip.tile_rows`` x ``chip.tile_cols``
(null = the simulated tiles), each array r x c::

    cells   = r * c * cells_per_weight * cell_area_f2 * F^2
    adc     = (ceil(c / cols_per_adc) [+ ceil(r / cols_per_adc) if the layer reads transposed]) * A_adc(b)
    drivers = (r [+ c if transposed]) * A_driver
    digital = number of ADCs * A_shift_add        (one shift-and-add / accumulator per ADC)
    accumulator = the mixed update's chi SRAM (above), 0 otherwise
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Optional

from ..config.schema import NEURON_REFERENCE_TAU_S
from .adc import adc_area_um2, adc_energy_j, adc_time_s
from .write import WRITE_POLARITIES, WriteModel, as_write_model

COMPONENTS = ("drivers", "array", "adc", "digital", "neurons", "accumulator", "write", "leakage")
"""Energy components of every phase (J): ``neurons`` is the analog neuron circuits' bias energy
of a settle phase, ``accumulator`` the mixed update's SRAM traffic."""

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
    read_integration: float = 1.0
    """The read window in card read windows (the record's ``read_integration``; 1 without one)."""


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
                     n_tiles=len(layer["tile_rows"]) * len(layer["tile_cols"]), arrays=arrays,
                     read_integration=float(layer.get("read_integration") or 1.0))


def _reads_transposed(layer: dict) -> bool:
    return any(kinds.get("transposed", {}).get("vector_reads", 0) > 0 for kinds in layer.get("phases", {}).values())


def _read_cost(layer: dict, kind: str, c: dict, lc: LayerChip, chip: Any) -> tuple[dict, float]:
    """Energy by component (J) and latency (s) of one analog layer's reads of one kind in one phase."""
    a, P, zeta = chip.input_activity, lc.planes, chip.calib_energy
    enc = ENCODINGS[chip.input_encoding]
    vec = c.get("vector_reads", 0)
    adc_conv = c.get("adc_conversions", 0)
    t_window = lc.read_integration * chip.t_read_s   # the read's integration window (module doc: m t_read)
    # hardware_costs.md §1.1: E_array = sum_ij V_i^2 G_ij t_read, t_read the window the current flows
    array = (None if lc.g_s is None else
             c.get("cell_reads", 0) * lc.cells_per_weight * P * a * chip.v_read ** 2 * lc.g_s * t_window)
    # §2.4 / §8.6: a driver is priced per drive (ISAAC's DAC: 4 mW / (8 x 128 DACs x 1.2e7 drives/s),
    # its power over one ~83 ns drive period, already ~8 card read windows); the current the held
    # line sources for the m windows is the array term above. Neither it nor the ADC (§2.3, energy
    # per conversion, once per read) scales with m.
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
    t_cycle = (t_window + min(lines, chip.cols_per_adc) * adc_time_s(chip, lc.adc_bits)) * chip.calib_latency
    adder = math.ceil(math.log2(blocks)) / chip.clk_hz if blocks > 1 else 0.0
    latency = vec * (P * t_cycle + adder) + bm * P * t_cycle
    return energy, latency


def _e_neuron(chip: Any) -> float:
    return (chip.e_activation_j + chip.e_mult_j + chip.e_add_j + 2 * chip.state_bits * chip.e_state_bit_j) * chip.calib_energy


def _e_mac(chip: Any) -> float:
    return (chip.e_mult_j + chip.e_add_j) * chip.calib_energy


def _write_cost(layer: dict, slots: float, write: WriteModel, lc: LayerChip) -> tuple[Optional[float], Optional[float]]:
    """Write energy (J) and write latency (s) of one layer's updates (``slots`` pulse slots in
    sequence, :meth:`UpdateCost.slots`); None where unknown."""
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
    return energy, slots * t_w


# ---------------------------------------------------------------------------- updates by scheme


class UpdateCost:
    """How one analog layer's update is priced, by how it reaches the devices (the record's
    ``update_kind``; module docstring): the correlation's energy and digital time, the pulse
    slots in sequence, the extra area. This one: the correlation computed digitally (a MAC per
    weight per outer-product vector), pulses timed by ``chip.update_scheme``."""

    def correlation(self, layer: dict, lc: LayerChip, chip: Any) -> tuple[dict, float]:
        """Energy by component (J) and digital time (s) of the layer's update correlation."""
        macs = layer.get("update", {}).get("macs", 0)
        return {"digital": macs * _e_mac(chip)}, macs / (chip.digital_lanes * chip.clk_hz)

    def slots(self, layer: dict, lc: LayerChip, chip: Any) -> float:
        """Pulse slots in sequence of the layer's updates (the write latency in pulse widths)."""
        return UPDATE_SCHEMES[chip.update_scheme](layer.get("update", {}), lc.n_tiles)

    def area_um2(self, layer: dict, chip: Any) -> float:
        """Area (um^2) the scheme adds to the layer (its ``accumulator`` part)."""
        return 0.0


class BitstreamUpdate(UpdateCost):
    """``bitstream``: the RPU papers' fully parallel outer product: the row and column lines carry
    stochastic pulse trains of ``bl`` slots per outer-product vector and the coincidences update
    the devices in the array: no correlation MACs; the trains' drivers on every driven line of
    every tile, and ``bl`` slots per vector in sequence."""

    @staticmethod
    def _vectors_bl(layer: dict) -> tuple[int, int]:
        bl = layer.get("bl")
        if bl is None:
            raise ValueError(f"{layer['name']}: a bitstream update's record needs its train length bl")
        return layer.get("update", {}).get("macs", 0) // (layer["rows"] * layer["cols"]), int(bl)

    def correlation(self, layer: dict, lc: LayerChip, chip: Any) -> tuple[dict, float]:
        v, bl = self._vectors_bl(layer)
        lines = layer["rows"] * len(layer["tile_cols"]) + layer["cols"] * len(layer["tile_rows"])
        return {"drivers": v * bl * lines * chip.e_driver_j * chip.calib_energy}, 0.0

    def slots(self, layer: dict, lc: LayerChip, chip: Any) -> float:
        v, bl = self._vectors_bl(layer)
        return float(v * bl)


class MixedUpdate(UpdateCost):
    """``mixed``: the digital correlation accumulates into a digital chi per weight (SRAM,
    ``chip.chi_bits``) that transfers whole pulses: per weight per update an accumulate (read,
    add, write) and a transfer (read, subtract the sent pulses, write); chi's SRAM area."""

    def correlation(self, layer: dict, lc: LayerChip, chip: Any) -> tuple[dict, float]:
        energy, t = super().correlation(layer, lc, chip)
        n = layer["rows"] * layer["cols"] * layer.get("update", {}).get("updates", 0)
        energy["accumulator"] = n * (4 * chip.chi_bits * chip.e_sram_bit_j + 2 * chip.e_add_j) * chip.calib_energy
        return energy, t + 2 * n / (chip.digital_lanes * chip.clk_hz)

    def area_um2(self, layer: dict, chip: Any) -> float:
        return layer["rows"] * layer["cols"] * chip.chi_bits * chip.sram_cell_f2 * (chip.feature_nm * 1e-3) ** 2


UPDATE_COSTS: dict[Optional[str], UpdateCost] = {None: UpdateCost(), "rounded": UpdateCost(), "ideal": UpdateCost(),
                                                 "bitstream": BitstreamUpdate(), "mixed": MixedUpdate()}
"""The record's ``update_kind`` (:data:`analog_ep.synapses.counters.UPDATE_KINDS`; None: a record
without one) -> how its update is priced."""


def update_cost(layer: dict) -> UpdateCost:
    """The :class:`UpdateCost` of ``layer``'s update (digital layers: the digital correlation)."""
    kind = layer.get("update_kind") if layer.get("analog") else None
    if kind not in UPDATE_COSTS:
        raise ValueError(f"{layer['name']}: unknown update_kind {kind!r}; valid: "
                         f"{', '.join(k for k in UPDATE_COSTS if k)}")
    return UPDATE_COSTS[kind]


# ---------------------------------------------------------------------------- relaxations


class IterativePhase:
    """An iterative phase (each sweep: DAC -> crossbar -> ADC -> next state in logic): the
    module docstring's read formulas, each neuron update a digital update."""

    name = "iterative"

    def neuron(self, chip: Any) -> tuple[float, float]:
        """Energy (J) and time (s) of one neuron update."""
        return _e_neuron(chip), 1.0 / (chip.digital_lanes * chip.clk_hz)

    def read_cost(self, layer: dict, kind: str, c: dict, lc: LayerChip, chip: Any) -> tuple[dict, float]:
        return _read_cost(layer, kind, c, lc, chip)

    def phase_terms(self, phase: str, stats: dict, layers: list, chips: list, chip: Any) -> tuple[dict, float, list]:
        """Energy by component (J), latency (s) and unknown-figure notes the phase adds beyond its
        counted reads and neuron updates."""
        return {}, 0.0, []

    def settle_time_s(self, stats: dict) -> float | None:
        """The phase's summed settle time (s) as the report lists it, or None for a phase that
        does not settle."""
        return None


class SettlePhase(IterativePhase):
    """A settle phase (module docstring): the arrays conduct for the settled time and the neuron
    circuits draw their energy per time constant over it, each node is converted once at equilibrium, the counted
    reads are the clamped input's drive (drivers only, one analog level held)."""

    name = "settle"

    def neuron(self, chip: Any) -> tuple[float, float]:
        return chip.state_bits * chip.e_state_bit_j * chip.calib_energy, 0.0

    def read_cost(self, layer: dict, kind: str, c: dict, lc: LayerChip, chip: Any) -> tuple[dict, float]:
        return {"drivers": c.get("dac_conversions", 0) * chip.e_driver_j * chip.calib_energy}, 0.0

    def settle_time_s(self, stats: dict) -> float | None:
        return float(stats.get("settle_time_s", 0.0))

    def phase_terms(self, phase: str, stats: dict, layers: list, chips: list, chip: Any) -> tuple[dict, float, list]:
        t = self.settle_time_s(stats)
        n = int(stats.get("settle_samples", 0))
        nodes = stats.get("neuron_updates", 0) / n if n else 0.0
        tau = stats.get("settle_tau_s")
        unknown, readout_t = [], 0.0
        if not tau:
            tau = NEURON_REFERENCE_TAU_S
            unknown.append(f"{phase}: no settle_tau_s in the record (a run before session 15): its neurons priced "
                           f"at tau = {tau:g} s (chip.neuron_energy_per_tau_j's NeuRRAM cycle)")
        energy = {"array": 0.0, "adc": 0.0, "neurons": chip.neuron_energy_per_tau_j * nodes * t / tau}
        zeta, beta = chip.calib_energy, chip.calib_latency
        for layer, lc in zip(layers, chips):
            if not layer.get("analog"):
                continue
            if lc.g_s is None:
                energy["array"] = None
                unknown.append(f"{layer['name']}: array energy unknown: no mean conductance (g_mean_us) and no "
                               f"device card")
            elif energy["array"] is not None:
                energy["array"] += (layer["rows"] * layer["cols"] * lc.cells_per_weight * chip.input_activity
                                    * chip.v_read ** 2 * lc.g_s * t)
            conv = layer.get("readouts", {}).get(phase, 0)
            energy["adc"] += conv * adc_energy_j(chip, lc.adc_bits) * zeta
            if conv and n:
                n_adc = sum(math.ceil(c / chip.cols_per_adc) for c in layer["tile_cols"])
                per_adc = math.ceil(conv / n / n_adc)
                readout_t = max(readout_t, per_adc * adc_time_s(chip, lc.adc_bits) * beta)
        return energy, t + n * readout_t, unknown


PHASE_PRICINGS = {"iterative": IterativePhase(), "settle": SettlePhase()}
"""A phase's relaxation (:func:`relaxation_of`) -> how it is priced: one pricing per entry of the
relaxation registry (:data:`analog_ep.config.relaxations.RELAXATIONS`, the same keys)."""


def relaxation_of(stats: dict) -> str:
    """``settle`` for a phase whose samples settled (its record has ``settle_samples``), else
    ``iterative``."""
    return "settle" if stats.get("settle_samples", 0) else "iterative"


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
    relaxation: dict = field(default_factory=dict)
    """phase -> how it relaxed (:data:`PHASE_PRICINGS`: ``iterative`` or ``settle``; the record's
    phases only)."""
    settle_time_s: dict = field(default_factory=dict)
    """phase -> settled time summed over its settled samples (s; settle phases only)."""

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
        settle = {p: {"settle_time_s": t, "samples": self.samples.get(p, 0),
                      "settle_time_per_sample_s": per(t, self.samples.get(p, 0))}
                  for p, t in self.settle_time_s.items()}
        return {"energy_j": phases, "latency_s": dict(self.latency_s), "relaxation": dict(self.relaxation),
                "settle": settle,
                "by_component_j": {c: _sum(self.energy_j[p][c] for p in train) for c in COMPONENTS},
                "train": block(train, self.train_samples),
                "inference": block([p for p in self.energy_j if p == INFERENCE_PHASE], self.inference_samples),
                "area_um2": self.area_um2, "samples": dict(self.samples), "epochs": self.epochs,
                "chip": dict(self.chip), "unknown": list(self.unknown)}


def area(record: dict, chip: Any) -> dict:
    """Area (um^2) of every analog layer's physical arrays with their periphery, and the chip's
    sum: ``{"layers": {name: {"arrays", "cells", "adc", "drivers", "digital", "accumulator",
    "total"}}, "chip":
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
                 "digital": adcs * chip.shift_add_area_um2, "accumulator": update_cost(layer).area_um2(layer, chip)}
        parts["total"] = parts["cells"] + parts["adc"] + parts["drivers"] + parts["digital"] + parts["accumulator"]
        layers[layer["name"]] = parts
    keys = ("arrays", "cells", "adc", "drivers", "digital", "accumulator", "total")
    return {"layers": layers, "chip": {k: sum(p[k] for p in layers.values()) for k in keys}}


def price(record: dict, chip: Any, write: Any = None, *, samples: Optional[int] = None,
          epochs: Optional[int] = None) -> CostReport:
    """Energy, latency and area of ``record``'s events on ``chip`` (formulas: module docstring).

    ``record`` (issue 19's contract, plain host data)::

        {"layers": [{"name", "analog", "kind", "rows", "cols", "tile_rows", "tile_cols",
                     "cells_per_weight", "dac_bits", "adc_bits", "g_mean_us", "update_kind", "bl",
                     "read_integration", "phases": {phase: {"forward": {field: n}, "transposed": {field: n}}},
                     "readouts": {phase: n},
                     "update": {"updates", "set_pulses", "reset_pulses", "rows_written",
                                "row_slots", "pulse_rounds", "macs"}}, ...],
         "phases": {phase: {"samples", "sweeps", "neuron_updates", "settle_samples",
                            "settle_time_s", "settle_tau_s"}}}

    (``update_kind``, ``bl``, ``read_integration``, ``readouts``, ``settle_samples``,
    ``settle_time_s`` and ``settle_tau_s`` may be absent: a rounded-style digital correlation, reads of one card
    window, no settle.)

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
    relax = {p: PHASE_PRICINGS[relaxation_of(record_phases.get(p, {}))] for p in order}
    energy = {p: {c: 0.0 for c in COMPONENTS} for p in order}
    latency = {p: 0.0 for p in order}
    unknown: list = []
    e_mac, t_op = _e_mac(chip), 1.0 / (chip.digital_lanes * chip.clk_hz)

    def add(phase: str, comp: str, value: Optional[float]) -> None:
        cur = energy[phase][comp]
        energy[phase][comp] = None if cur is None or value is None else cur + value

    def note(msg: str) -> None:
        if msg not in unknown:
            unknown.append(msg)

    chips = [_layer_chip(layer, chip, write) for layer in record["layers"]]
    for phase, stats in record_phases.items():
        n = stats.get("neuron_updates", 0)
        e_n, t_n = relax[phase].neuron(chip)
        add(phase, "digital", n * e_n)
        latency[phase] += n * t_n
        comp, t, notes = relax[phase].phase_terms(phase, stats, record["layers"], chips, chip)
        for name, value in comp.items():
            add(phase, name, value)
        latency[phase] += t
        for msg in notes:
            note(msg)
    update_energy = {c: 0.0 for c in COMPONENTS}
    write_times: list = []
    update_digital_time = 0.0
    any_update = False
    for layer, lc in zip(record["layers"], chips):
        for phase, kinds in layer.get("phases", {}).items():
            for kind, c in kinds.items():
                if not layer.get("analog"):
                    macs = c.get("macs", 0)
                    add(phase, "digital", macs * e_mac)
                    latency[phase] += macs * t_op
                    continue
                comp, t = relax[phase].read_cost(layer, kind, c, lc, chip)
                for name, value in comp.items():
                    add(phase, name, value)
                latency[phase] += t
                if "array" in comp and comp["array"] is None:
                    note(f"{layer['name']}: array energy unknown: no mean conductance (g_mean_us) and no device card")
        upd = layer.get("update")
        if not upd:
            continue
        any_update = any_update or any(upd.get(k, 0) for k in ("updates", "set_pulses", "reset_pulses", "macs"))
        scheme = update_cost(layer)
        comp, t_corr = scheme.correlation(layer, lc, chip)
        for name, value in comp.items():
            update_energy[name] += value
        update_digital_time += t_corr
        e_write, t_write = (_write_cost(layer, scheme.slots(layer, lc, chip), write, lc) if layer.get("analog")
                            else (0.0, 0.0))
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
            "node_nm": chip.node_nm, "card": write.card, "arrays": n_arrays,
            "update_kinds": sorted({str(layer.get("update_kind")) for layer in record["layers"] if layer.get("analog")})}
    settle = {p: t for p in record_phases if (t := relax[p].settle_time_s(record_phases[p])) is not None}
    return CostReport(energy_j=energy, latency_s=latency, area_um2=area_parts, samples=counts, train_samples=train_n,
                      inference_samples=counts.get(INFERENCE_PHASE, 0), epochs=epochs, chip=info, unknown=unknown,
                      relaxation={p: relax[p].name for p in record_phases}, settle_time_s=settle)


__all__ = ["COMPONENTS", "ENCODINGS", "PHASE_PRICINGS", "UPDATE_COSTS", "CostReport", "INFERENCE_PHASE", "IterativePhase",
           "SettlePhase", "UPDATE_PHASE", "UPDATE_SCHEMES", "UpdateCost", "area", "price", "relaxation_of",
           "update_cost"]
