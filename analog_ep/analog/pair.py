"""The differential pair: programming weights into devices, the mapping to conductances, drift.

A weight is stored on two devices, ``w = (G+ - G-) / (G_max - G_min) * w_scale`` with ``G`` in
microsiemens in ``[G_min, G_max]``; only this mapping knows about conductances. Drift acts on
each conductance with its own exponent, ``G(t) = G0 (t / t0)^(-nu)`` (PCM), so a read at time
``t`` maps the pair to conductances, drifts both and maps back.
"""

from __future__ import annotations

from typing import Optional

import torch

from .population import DeviceState, settle
from .rules import DeviceParams, weight_scale
from .streams import Generatorish, as_generator


def program(w_target: torch.Tensor, state: DeviceState, params: DeviceParams,
            generator: Generatorish = None) -> torch.Tensor:
    """Program devices to ``w_target`` with Gaussian programming noise, then :func:`.population.settle`::

        w = settle(w_target + prog_noise_std * w_scale * xi)
    """
    w = w_target
    if params.prog_noise_std > 0:
        g = as_generator(generator, w.device)
        xi = torch.randn(w.shape, generator=g, dtype=w.dtype, device=w.device)
        w = w + params.prog_noise_std * weight_scale(params) * xi
    return settle(w, state, params)


def to_conductances(w: torch.Tensor, params: DeviceParams, w_scale: Optional[float] = None
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Map weights onto a differential pair ``(G+, G-)`` in microsiemens.

    The positive part goes on G+, the negative part on G-, the other device sits at G_min::

        G+ = G_min + max(w, 0) / w_scale (G_max - G_min),  G- = G_min + max(-w, 0) / w_scale (...)

    so ``w = (G+ - G-) / (G_max - G_min) * w_scale`` (:func:`from_conductances`). ``w_scale``
    defaults to :func:`.rules.weight_scale`; weights beyond it are clipped (G stays in [G_min, G_max]).
    """
    scale = weight_scale(params) if w_scale is None else float(w_scale)
    span = params.g_max_us - params.g_min_us
    x = (w / scale).clamp(-1.0, 1.0)
    g_plus = params.g_min_us + x.clamp(min=0.0) * span
    g_minus = params.g_min_us + (-x).clamp(min=0.0) * span
    return g_plus, g_minus


def from_conductances(g_plus: torch.Tensor, g_minus: torch.Tensor, params: DeviceParams,
                      w_scale: Optional[float] = None) -> torch.Tensor:
    """``w = (G+ - G-) / (G_max - G_min) * w_scale`` (inverse of :func:`to_conductances`)."""
    scale = weight_scale(params) if w_scale is None else float(w_scale)
    return (g_plus - g_minus) / (params.g_max_us - params.g_min_us) * scale


def drift_conductance(g: torch.Tensor, t_s: float, nu, t0_s: float) -> torch.Tensor:
    """Power-law drift ``G(t) = G0 (t / t0)^(-nu)`` for ``t >= t0`` (no drift before t0)."""
    ratio = max(float(t_s), float(t0_s)) / float(t0_s)
    if isinstance(nu, torch.Tensor):
        return g * torch.pow(ratio, -nu.to(g.dtype))
    return g * ratio ** (-float(nu))


def drift(w: torch.Tensor, t_s: float, state: DeviceState, params: DeviceParams,
          w_scale: Optional[float] = None) -> torch.Tensor:
    """Weights read ``t_s`` seconds after programming ``w``: both conductances of each pair drift
    with their own exponent (``state.nu_plus``, ``state.nu_minus``), then map back to weights."""
    g_plus, g_minus = to_conductances(w, params, w_scale)
    g_plus = drift_conductance(g_plus, t_s, state.nu_plus, params.t0_s)
    g_minus = drift_conductance(g_minus, t_s, state.nu_minus, params.t0_s)
    return from_conductances(g_plus, g_minus, params, w_scale)


__all__ = ["program", "to_conductances", "from_conductances", "drift_conductance", "drift"]
