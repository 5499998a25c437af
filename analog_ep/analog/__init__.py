"""Analog crossbar hardware: device rules, pulse engine, periphery, tiled reads, storage, cards.

Modules, lower first (each imports only modules above it in this list):

* :mod:`.streams` - counter-based random streams (splitmix64 keys, uniforms, normals) for the
  pulses and the read noise alike, and seed / generator helpers.
* :mod:`.rules` - one class per device update rule (aihwkit names and relative units): its
  parameters, device-to-device draws, per-pulse step and closed form; the registry ``RULES``.
* :mod:`.population` - a population of devices: the per-device draws (:class:`DeviceState`)
  made once from a seed, and settling weights onto them.
* :mod:`.pair` - programming, the differential-pair mapping to conductances, drift.
* :mod:`.engine` - the one pulse engine: pulse schemes (rounded, bitstream), the BL cap,
  masked or compacted rounds on any torch device, write noise.
* :mod:`.devices` - driving a population from user code (seeded pulses, response curves).
* :mod:`.periphery` - DAC / ADC, noise parameters and policy.
* :mod:`.reads` - the four crossbar reads (dense / conv, forward / transposed), tiled, with the
  periphery in physical order.
* :mod:`.storage` - :class:`AnalogStorage`, the storage backend a synapse owns on tiles.
* :mod:`.cards` - the YAML device cards shipped in ``cards/`` and ``device.*`` overrides.
"""

from .cards import DeviceCard, list_devices, load_device, params_from_dict
from .devices import apply_pulses, response
from .pair import drift, from_conductances, program, to_conductances
from .periphery import NoisePolicy, PeripheryParams, adc, dac
from .population import DeviceState, sample_device_state, settle
from .rules import (RULES, ConstantStep, DeviceParams, ExpStep, LinearStep, NeuroSim, PiecewiseStep,
                    PowStep, PulsedParams, SoftBounds, get_rule, implied_states, nominal_dw_min,
                    params_to_dict, register_rule, weight_scale)

__all__ = [
    "DeviceCard", "list_devices", "load_device", "params_from_dict",
    "RULES", "ConstantStep", "DeviceParams", "DeviceState", "ExpStep", "LinearStep", "NeuroSim",
    "PiecewiseStep", "PowStep", "PulsedParams", "SoftBounds", "apply_pulses", "drift",
    "from_conductances", "get_rule", "implied_states", "nominal_dw_min", "params_to_dict",
    "program", "register_rule", "response", "sample_device_state", "settle", "to_conductances",
    "weight_scale", "NoisePolicy", "PeripheryParams", "adc", "dac",
]
