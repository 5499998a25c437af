"""Analog crossbar hardware: device rules, periphery, numba kernels, device cards.

* :mod:`.devices` - parameter classes of the update rules (aihwkit names and relative units),
  device-to-device draws, the vectorized torch pulse update, programming, drift and the
  differential-pair mapping to conductances.
* :mod:`.periphery` - DAC / ADC, read and output noise, first-order IR drop, noise redraw policy.
* :mod:`.kernels` - numba CPU and numba.cuda pulse kernels (equal to the torch reference).
* :mod:`.cards` - loading the YAML device cards shipped in ``cards/``.
"""

from .cards import DeviceCard, list_devices, load_device, params_from_dict
from .devices import (RULES, ConstantStep, DeviceParams, DeviceState, ExpStep, LinearStep,
                      NeuroSim, PiecewiseStep, PowStep, PulsedParams, SoftBounds, apply_pulses,
                      drift, from_conductances, get_rule, implied_states, nominal_dw_min,
                      params_to_dict, program, redraw_write_noise, response, sample_device_state,
                      settle, to_conductances, weight_scale)
from .periphery import NoisePolicy, NoiseStreams, PeripheryParams, adc, dac

__all__ = [
    "DeviceCard", "list_devices", "load_device", "params_from_dict",
    "RULES", "ConstantStep", "DeviceParams", "DeviceState", "ExpStep", "LinearStep", "NeuroSim",
    "PiecewiseStep", "PowStep", "PulsedParams", "SoftBounds", "apply_pulses", "drift",
    "from_conductances", "get_rule", "implied_states", "nominal_dw_min", "params_to_dict",
    "program", "redraw_write_noise", "response", "sample_device_state", "settle",
    "to_conductances", "weight_scale",
    "NoisePolicy", "NoiseStreams", "PeripheryParams", "adc", "dac",
]
