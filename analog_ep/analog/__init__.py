"""Analog crossbar hardware: device rules, pulse engine, periphery, tiled reads, storage, cards.

* :mod:`.devices` - parameter classes of the update rules (aihwkit names and relative units),
  device-to-device draws, the per-pulse physics of each rule (once), programming, drift and the
  differential-pair mapping to conductances.
* :mod:`.engine` - the one pulse engine: pulse schemes (rounded, bitstream), the BL cap,
  counter-based random streams, masked or compacted rounds on any torch device.
* :mod:`.periphery` - DAC / ADC, noise parameters and policy.
* :mod:`.reads` - the four crossbar reads (dense / conv, forward / transposed), tiled, with the
  periphery in physical order.
* :mod:`.storage` - :class:`AnalogStorage`, the storage backend a synapse owns on tiles.
* :mod:`.cards` - the YAML device cards shipped in ``cards/`` and ``device.*`` overrides.
"""

from .cards import DeviceCard, list_devices, load_device, params_from_dict
from .devices import (RULES, ConstantStep, DeviceParams, DeviceState, ExpStep, LinearStep,
                      NeuroSim, PiecewiseStep, PowStep, PulsedParams, SoftBounds, apply_pulses,
                      drift, from_conductances, get_rule, implied_states, nominal_dw_min,
                      params_to_dict, program, response, sample_device_state, settle,
                      to_conductances, weight_scale)
from .periphery import NoisePolicy, PeripheryParams, adc, dac

__all__ = [
    "DeviceCard", "list_devices", "load_device", "params_from_dict",
    "RULES", "ConstantStep", "DeviceParams", "DeviceState", "ExpStep", "LinearStep", "NeuroSim",
    "PiecewiseStep", "PowStep", "PulsedParams", "SoftBounds", "apply_pulses", "drift",
    "from_conductances", "get_rule", "implied_states", "nominal_dw_min", "params_to_dict",
    "program", "response", "sample_device_state", "settle", "to_conductances", "weight_scale",
    "NoisePolicy", "PeripheryParams", "adc", "dac",
]
