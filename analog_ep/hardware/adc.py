"""ADC models: energy, time and area of one conversion as a function of its bits b.

Chosen by ``chip.adc_model`` (:class:`analog_ep.config.schema.ChipConfig`); each model is one
function in :data:`ADC_MODELS` (its ``chip.*`` parameters: :data:`analog_ep.config.schema.ADC_MODEL_PARAMS`).
Sources: ``../shared/hardware_costs.md`` section 2.

* ``table``: the ``chip.adc_table_energy_j`` entry for b; between entries and beyond the ends the
  energy is inter- / extrapolated geometrically from the two nearest entries,
  ``E(b) = E_i (E_j / E_i)^((b - b_i) / (b_j - b_i))`` [inferred]. Defaults: ISAAC-style SAR,
  32 nm, 1.2 GS/s: 0.79, 0.99, 1.20, 1.42, 1.67 pJ at 4-8 bits (hardware_costs.md §2.3
  [code: hwcomponents-library ``isaac.py`` IsaacADC]).
* ``neurosim_sar``: DNN+NeuroSim V1.4's SAR fit (22 nm LP), power times conversion time:
  ``E(b) = (p0 + p1 b) (b + 1) t_cycle`` with p0 = 4.375 uW, p1 = 0.538 uW, t_cycle = 1 ns:
  33, 42, 53, 78 fJ at 4, 5, 6, 8 bits (hardware_costs.md §2.3 [code: V1.4
  ``SarADC.cpp::GetColumnPower``]). NeuroSim's column-current term belongs to the array energy
  here (``V_r^2 G t`` per cell read, :mod:`.cost`).
* ``survey``: the Walden figure of merit, never below the survey's best-design envelope:
  ``E(b) = max(FOM_W 2^b, e0 + e1 4^b)`` with FOM_W = 30 fJ/step (median SAR, 5-9 ENOB),
  e0 = 0.27 pJ, e1 = 0.145 aJ (hardware_costs.md §2.1-2.2 [code: bmurmann/ADC-survey data and
  ``energy_plot.ipynb`` recipe; inferred]).

Every model converts in ``t(b) = (b + 1) chip.adc_cycle_s`` (NeuroSim's SAR latency
``(log2(levelOutput) + 1) x 1 ns``, hardware_costs.md §2.3 [code: V1.4 ``SarADC.cpp``]), and an
ADC's area is the ``chip.adc_table_area_um2`` entry for b, inter- / extrapolated as the energy
table (ISAAC-style SAR at 32 nm: 361-1200 um^2 at 4-8 bits, hardware_costs.md §2.3).
"""

from __future__ import annotations

from typing import Any, Callable

from ..errors import ConfigError


def table_value(bits: list[int], values: list[float], b: int) -> float:
    """``values`` at ``b`` bits: the entry where ``bits`` has ``b``, else geometric inter- or
    extrapolation from the two nearest entries (``bits`` strictly increasing, at least two)."""
    if b in bits:
        return float(values[bits.index(b)])
    hi = next((i for i, x in enumerate(bits) if x > b), len(bits) - 1)
    hi = max(hi, 1)
    lo = hi - 1
    b0, b1, v0, v1 = bits[lo], bits[hi], float(values[lo]), float(values[hi])
    return v0 * (v1 / v0) ** ((b - b0) / (b1 - b0))


def _table(chip: Any, b: int) -> float:
    return table_value(list(chip.adc_table_bits), list(chip.adc_table_energy_j), b)


def _neurosim_sar(chip: Any, b: int) -> float:
    return (chip.adc_sar_p0_w + chip.adc_sar_p1_w * b) * adc_time_s(chip, b)


def _survey(chip: Any, b: int) -> float:
    e0, e1 = chip.adc_envelope_j
    return max(chip.adc_fom_j * 2.0 ** b, e0 + e1 * 4.0 ** b)


ADC_MODELS: dict[str, Callable[[Any, int], float]] = {"table": _table, "neurosim_sar": _neurosim_sar,
                                                      "survey": _survey}
"""``chip.adc_model`` -> energy (J) of one conversion of ``b`` bits."""


def adc_energy_j(chip: Any, b: int) -> float:
    """Energy (J) of one ``b``-bit conversion under ``chip.adc_model``."""
    if chip.adc_model not in ADC_MODELS:
        raise ConfigError(f"chip.adc_model: unknown ADC model {chip.adc_model!r}; valid: {', '.join(ADC_MODELS)}")
    return ADC_MODELS[chip.adc_model](chip, b)


def adc_time_s(chip: Any, b: int) -> float:
    """Time (s) of one ``b``-bit conversion: ``(b + 1) chip.adc_cycle_s``."""
    return (b + 1) * chip.adc_cycle_s


def adc_area_um2(chip: Any, b: int) -> float:
    """Area (um^2) of one ``b``-bit ADC (``chip.adc_table_area_um2``, any model)."""
    return table_value(list(chip.adc_table_bits), list(chip.adc_table_area_um2), b)


__all__ = ["ADC_MODELS", "adc_area_um2", "adc_energy_j", "adc_time_s", "table_value"]
