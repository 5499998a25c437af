"""Fused numba kernels of the pulse engine (CPU): :func:`rounded_counts` in one pass.

:func:`analog_ep.analog.engine.rounded_counts` in torch runs about fifteen full-tensor passes per
update (the division, the counter-based uniforms' splitmix64 hash in int64 ops, the float
assembly, the compare, the clamp, the cast). This kernel computes every device's count in one
pass with the same arithmetic: the same hash words (:mod:`analog_ep.analog.streams`, uint64
wraparound equals torch's int64), the same exact uniforms (float32: ``(2 a + 1) 2^-24`` from the
low 23 bits ``a`` of int32 lane ``i`` of the words; float64: ``(a + 1/2) 2^-52`` from the top 52
bits of word ``i``), the division in the tensor's dtype, ``floor`` plus ``[u < r - floor(r)]``
(stochastic) or round half to even (deterministic), NaN to 0, clamp to ``[-bl, bl]``. So the
counts are bit-identical to the torch reference (tested), and ``compute.kernels`` chooses it as
it chooses the read kernels (:func:`analog_ep.analog.kernels.select_engine`).
"""

from __future__ import annotations

import numpy as np
import torch
from numba import njit

from ..streams import stream_key
from .normal import _G, _M1, _M2

_M23 = np.uint64((1 << 23) - 1)
_ONE = np.uint64(0x3F800000)
_M52 = np.uint64((1 << 52) - 1)


@njit(inline="always", cache=True)
def _mix(z):
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@njit(cache=True)
def _counts32(dw, dw_min, k0, stochastic, bl, out):
    """float32 ``dw`` (flat) -> int32 counts ``out``; ``dw_min`` float32; ``k0 = stream_key(key, 0)``."""
    n = dw.shape[0]
    two24 = np.float32(2.0 ** -24)
    lo_bl, hi_bl = np.float32(-bl), np.float32(bl)
    for j in range((n + 1) // 2):
        z = np.uint64(0)
        if stochastic:
            z = _mix(np.uint64(j) * _G + k0)
        for h in range(2):
            i = 2 * j + h
            if i >= n:
                break
            r = dw[i] / dw_min
            if stochastic:
                a = (z >> np.uint64(32 * h)) & _M23
                u = np.float32(2 * a + 1) * two24
                f = np.float32(np.floor(r))
                c = f + np.float32(1.0) if u < r - f else f
            else:
                c = np.float32(np.rint(r))
            if c != c:
                c = np.float32(0.0)
            out[i] = np.int32(min(max(c, lo_bl), hi_bl))


@njit(cache=True)
def _counts64(dw, dw_min, k0, stochastic, bl, out):
    """float64 ``dw`` (flat) -> int32 counts ``out``; one hash word per device."""
    n = dw.shape[0]
    lo_bl, hi_bl = np.float64(-bl), np.float64(bl)
    for i in range(n):
        r = dw[i] / dw_min
        if stochastic:
            a = (_mix(np.uint64(i) * _G + k0) >> np.uint64(12)) & _M52
            u = (np.float64(a) + 0.5) * 2.0 ** -52
            f = np.floor(r)
            c = f + 1.0 if u < r - f else f
        else:
            c = np.rint(r)
        if c != c:
            c = 0.0
        out[i] = np.int32(min(max(c, lo_bl), hi_bl))


def rounded_counts(dw: torch.Tensor, dw_min: float, rounding: str, bl: int, key: int) -> torch.Tensor:
    """:func:`analog_ep.analog.engine.rounded_counts` (float32 / float64 CPU tensors, validated
    arguments) as one fused pass; bit-identical counts."""
    src = dw.detach().contiguous().reshape(-1)
    out = torch.empty(src.shape, dtype=torch.int32)
    k0 = np.uint64(stream_key(key, 0))
    stochastic = rounding == "stochastic"
    if src.dtype == torch.float32:
        _counts32(src.numpy(), np.float32(dw_min), k0, stochastic, int(bl), out.numpy())
    else:
        _counts64(src.numpy(), np.float64(dw_min), k0, stochastic, int(bl), out.numpy())
    return out.view(dw.shape)


__all__ = ["rounded_counts"]
