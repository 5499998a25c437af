"""A counter-based standard normal generator for the numba kernels.

``normal(key, row, col)`` is a pure function of a 64-bit stream key, a row (the read's global
(sample, tile) row) and a column (the element within the row): reproducible, independent of
threads, no generator state. Two steps:

1. **Words.** The splitmix64 finalizer (:mod:`analog_ep.analog.streams`, the same constants) of
   ``n * golden + k`` gives a 64-bit word for counter ``n`` of key ``k``. The primary word of a
   pair of columns ``(2 j, 2 j + 1)`` of row ``r`` is ``word(k0, r * ceil(M / 2) + j)`` (``M``
   columns per row), whose low 32 bits serve column ``2 j`` and its high 32 bits column
   ``2 j + 1``; ``k0 = stream_key(key, 0)``. Rejections (below) take extra words
   ``word(k1, (r * M + c) * 64 + a)``, ``a`` = 0, 1, ..., ``k1 = stream_key(key, 1)``.
2. **Ziggurat** (Marsaglia & Tsang, J. Stat. Softw. 5(8), 2000: 128 layers, ``r = 3.442619855899``,
   layer area ``v = 9.91256303526217e-3`` under ``f(x) = exp(-x^2 / 2)``). A 32-bit lane gives
   the layer (7 bits), the sign (1 bit) and a 24-bit uniform ``u``; ``x = u X_i 2^-24``. If
   ``x < X_{i+1}`` (the layer's rectangle lies under the curve: 98.8 % of draws) it is the
   magnitude. Otherwise the base layer samples the tail beyond ``r`` (Marsaglia's
   ``x = -log(u1) / r``, ``y = -log(u2)``, accept when ``2 y > x^2``, magnitude ``r + x``), and
   a wedge accepts ``x`` when a uniform height between ``f(X_i)`` and ``f(X_{i+1})`` lies below
   ``f(x)``, else it draws again from the next extra word's low lane. The result is an exact
   sampler of the standard normal (up to the 24-bit resolution of ``u`` and float64 arithmetic),
   without the ``log`` / ``cos`` of Box-Muller on the fast path.

The layer edges ``X_0 > X_1 = r > ... > X_128 = 0`` (``X_0 = v / f(r)``: the base layer's
virtual width, its tail included) follow ``X_{i+1} = f^-1(f(X_i) + v / X_i)``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..streams import GOLDEN, _MIX1, _MIX2

LAYERS = 128
R_TAIL = 3.442619855899
V_LAYER = 9.91256303526217e-3


def _edges() -> np.ndarray:
    f = lambda x: math.exp(-0.5 * x * x)  # noqa: E731
    x = [V_LAYER / f(R_TAIL), R_TAIL]
    for i in range(1, LAYERS - 1):
        x.append(math.sqrt(-2.0 * math.log(f(x[i]) + V_LAYER / x[i])))
    x.append(0.0)
    return np.array(x, dtype=np.float64)


X_EDGE = _edges()                                                      # (129,)
X_SCALE = X_EDGE[:LAYERS] * 2.0 ** -24                                 # x = u * X_SCALE[i]
K_ACCEPT = np.floor(X_EDGE[1:] / X_EDGE[:LAYERS] * 2.0 ** 24).astype(np.uint32)  # u < K: fast accept
F_EDGE = np.exp(-0.5 * X_EDGE * X_EDGE)                                # f(X_i)

_G = np.uint64(GOLDEN)
_M1 = np.uint64(_MIX1)
_M2 = np.uint64(_MIX2)
_S30, _S27, _S31, _S32 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(32)
_LO = np.uint64(0xFFFFFFFF)
_TRIES = 64


@njit(inline="always", cache=True)
def word(k, n):
    """splitmix64's finalizer of ``n * golden + k`` (uint64)."""
    z = np.uint64(n) * _G + k
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(cache=True)
def _slow(lane, k1, e):
    """The ziggurat's rare branches (tail and wedges) for the lane ``lane`` of element ``e``."""
    xs, ka, fe = X_SCALE, K_ACCEPT, F_EDGE   # module constants, frozen into the compiled code
    a = 0
    z = lane
    x = 0.0
    while a < _TRIES:
        layer = np.int64(z & np.uint32(127))
        neg = (z >> np.uint32(7)) & np.uint32(1)
        u = z >> np.uint32(8)
        x = np.float64(u) * xs[layer]
        if u < ka[layer]:
            return -x if neg else x
        if layer == 0:                                   # the tail beyond r
            while a < _TRIES:
                w = word(k1, np.uint64(e) * np.uint64(64) + np.uint64(a))
                a += 1
                u1 = (np.float64(w & _LO) + 0.5) * 2.0 ** -32
                u2 = (np.float64(w >> _S32) + 0.5) * 2.0 ** -32
                xt = -math.log(u1) / R_TAIL
                if -2.0 * math.log(u2) > xt * xt:
                    x = R_TAIL + xt
                    break
            return -x if neg else x
        w = word(k1, np.uint64(e) * np.uint64(64) + np.uint64(a))   # a wedge
        a += 1
        y = fe[layer] + (np.float64(w >> _S32) + 0.5) * 2.0 ** -32 * (fe[layer + 1] - fe[layer])
        if y < math.exp(-0.5 * x * x):
            return -x if neg else x
        z = np.uint32(w & _LO)
    return x


@njit(inline="always", cache=True)
def lane_normal(lane, k1, e):
    """The standard normal of a 32-bit ``lane`` (element ``e``'s, for its rejection words)."""
    layer = np.int64(lane & np.uint32(127))
    u = lane >> np.uint32(8)
    if u < K_ACCEPT[layer]:   # the sign without a branch (a random sign mispredicts half the time)
        return np.float64(u) * X_SCALE[layer] * (1.0 - 2.0 * np.float64((lane >> np.uint32(7)) & np.uint32(1)))
    return _slow(lane, k1, e)


@njit(cache=True)
def fill_row(out, scale, k0, k1, row):
    """``out[c] = scale * normal(key, row, c)`` for the ``M = len(out)`` columns of ``row``."""
    m = out.shape[0]
    h = (m + 1) // 2
    base = np.uint64(row) * np.uint64(h)
    e0 = np.uint64(row) * np.uint64(m)
    for j in range(h):
        w = word(k0, base + np.uint64(j))
        c = 2 * j
        out[c] = scale * lane_normal(np.uint32(w & _LO), k1, e0 + np.uint64(c))
        if c + 1 < m:
            out[c + 1] = scale * lane_normal(np.uint32(w >> _S32), k1, e0 + np.uint64(c + 1))


@njit(parallel=False, cache=True)
def _fill(out, k0, k1, row0):
    for r in range(out.shape[0]):
        fill_row(out[r], 1.0, k0, k1, row0 + r)


def normals(key: int, rows: int, cols: int, row0: int = 0) -> np.ndarray:
    """The generator's normals of rows ``row0 .. row0 + rows - 1`` (float64, (rows, cols)) for
    stream ``key``: the values the kernels add (times the output-noise std) for that read."""
    from ..streams import stream_key
    out = np.empty((rows, cols), dtype=np.float64)
    _fill(out, np.uint64(stream_key(key, 0)), np.uint64(stream_key(key, 1)), row0)
    return out


__all__ = ["F_EDGE", "K_ACCEPT", "LAYERS", "X_EDGE", "X_SCALE", "fill_row", "normals", "word"]
