"""A population of devices: the per-device draws made once from a construction seed, and
putting weights where those devices can hold them.

Device-to-device variations are drawn **once** per tile array (aihwkit ``populate``) and saved
with checkpoints (:meth:`DeviceState.state_dict`), so a resumed run keeps the same physical
devices. The bounds, stuck-at faults and drift exponents are common to every rule; the rule's
own scales and nonlinearities come from its :meth:`.rules.DeviceParams.populate`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import ConfigError
from .rules import DeviceParams, Draws, quantize_to_levels
from .streams import Generatorish, as_generator

STATE_FIELDS = ("w_max", "w_min", "scale_up", "scale_down", "nl_up", "nl_down", "stuck",
                "nu_plus", "nu_minus")
"""The tensors of a :class:`DeviceState`, in order (the storage's ``dev_*`` buffers)."""


@dataclass
class DeviceState:
    """Per-device draws made once from the construction seed (all tensors of the weight shape).

    ``nl_up`` / ``nl_down`` hold the rule's per-device nonlinearity: LinearStep / SoftBounds the
    slope ``k`` of ``dw = scale (1 - k w)``; PowStep the exponents; NeuroSim the signed curve
    parameter ``A`` (in pulses); zeros for the other rules. ``stuck`` is -1 (stuck at w_min),
    +1 (stuck at w_max) or 0. ``nu_plus`` / ``nu_minus`` are the drift exponents of G+ and G-.
    Save it with :meth:`state_dict` so a resumed run keeps the same devices.
    """

    w_max: torch.Tensor
    w_min: torch.Tensor
    scale_up: torch.Tensor
    scale_down: torch.Tensor
    nl_up: torch.Tensor
    nl_down: torch.Tensor
    stuck: torch.Tensor
    nu_plus: torch.Tensor
    nu_minus: torch.Tensor

    @property
    def shape(self) -> torch.Size:
        return self.w_max.shape

    @property
    def free(self) -> torch.Tensor:
        """Boolean mask of devices that are not stuck."""
        return self.stuck == 0

    def to(self, device=None, dtype=None) -> "DeviceState":
        out = {}
        for k in STATE_FIELDS:
            t = getattr(self, k)
            out[k] = t.to(device=device) if k == "stuck" else t.to(device=device, dtype=dtype)
        return DeviceState(**out)

    def reshape(self, *shape) -> "DeviceState":
        return DeviceState(**{k: getattr(self, k).reshape(*shape) for k in STATE_FIELDS})

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {k: getattr(self, k).clone() for k in STATE_FIELDS}

    @classmethod
    def from_state_dict(cls, d: dict[str, torch.Tensor]) -> "DeviceState":
        missing = [k for k in STATE_FIELDS if k not in d]
        if missing:
            raise ConfigError(f"device state: missing entries {', '.join(missing)}")
        return cls(**{k: d[k] for k in STATE_FIELDS})


def sample_device_state(params: DeviceParams, shape, generator: Generatorish = None, *,
                        dtype: torch.dtype = torch.float32, device=None) -> DeviceState:
    """Draw the device-to-device variations of ``shape`` devices once (aihwkit ``populate``).

    Always consumes the same random numbers in the same order (9 draws per device), whatever
    the parameters, so a seed names the same physical devices across parameter sweeps::

        w_max_ij = w_max + |w_max| w_max_dtod xi,   w_min_ij = w_min + |w_min| w_min_dtod xi
        (swapped if crossed; kept on their side of 0 when the nominal range contains 0)
        scales, slopes, exponents: the rule's populate (see the rule classes)
        stuck: u < f_min -> at w_min;  f_min <= u < f_min + f_max -> at w_max
        nu_+-  = max(drift_nu + drift_nu_std xi, 0)
    """
    g = as_generator(generator, device)
    shape = tuple(int(s) for s in shape)
    f64 = dict(dtype=torch.float64, device=device)

    def normal() -> torch.Tensor:
        return torch.randn(shape, generator=g, **f64)

    x_wmax, x_wmin, x_gain, x_ud, x_p_up, x_p_down = (normal() for _ in range(6))
    u_stuck = torch.rand(shape, generator=g, **f64)
    x_nu_p, x_nu_m = normal(), normal()
    p = params

    wmx = p.w_max + abs(p.w_max) * p.w_max_dtod * x_wmax
    wmn = p.w_min + abs(p.w_min) * p.w_min_dtod * x_wmin
    wmx, wmn = torch.maximum(wmx, wmn), torch.minimum(wmx, wmn)
    if p.w_min <= 0 <= p.w_max:  # aihwkit enforce_consistency
        wmx, wmn = wmx.abs(), -wmn.abs()

    su, sd, nl_up, nl_down = p.populate(Draws(x_gain, x_ud, x_p_up, x_p_down), wmx, wmn)

    f_min, f_max = p.stuck_at_min_fraction, p.stuck_at_max_fraction
    stuck = torch.where(u_stuck < f_min, -1, torch.where(u_stuck < f_min + f_max, 1, 0))
    nu_p = (p.drift_nu + p.drift_nu_std * x_nu_p).clamp(min=0)
    nu_m = (p.drift_nu + p.drift_nu_std * x_nu_m).clamp(min=0)

    def cast(t):
        return t.to(dtype)

    return DeviceState(w_max=cast(wmx), w_min=cast(wmn), scale_up=cast(su), scale_down=cast(sd),
                       nl_up=cast(nl_up), nl_down=cast(nl_down), stuck=stuck.to(torch.int8),
                       nu_plus=cast(nu_p), nu_minus=cast(nu_m))


def any_stuck(stuck: torch.Tensor) -> bool:
    """Whether any device is stuck (a host sync: use on CPU; aminmax is faster than any)."""
    if stuck.numel() == 0:
        return False
    lo, hi = torch.aminmax(stuck)
    return bool(lo != 0) or bool(hi != 0)


def settle(w: torch.Tensor, state: DeviceState, params: DeviceParams) -> torch.Tensor:
    """Put ``w`` where the devices can hold it: clip to each device's bounds, round to its levels
    (if ``n_states``), pin stuck devices at their bound. Always returns a new tensor."""
    w = torch.clamp(w, state.w_min, state.w_max)
    w = quantize_to_levels(w, state.w_min, state.w_max, params.n_states)
    if w.device.type == "cpu" and not any_stuck(state.stuck):  # nothing to pin (no sync on CPU)
        return w
    return torch.where(state.stuck < 0, state.w_min, torch.where(state.stuck > 0, state.w_max, w))


__all__ = ["STATE_FIELDS", "DeviceState", "sample_device_state", "any_stuck", "settle"]
