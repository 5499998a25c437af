"""splitmix64 words for the numba kernels: the constants of :mod:`analog_ep.analog.streams` as
``uint64`` and its finalizer as a compiled function (the pulse engine's stream and the read
kernels' key derivation use them).

The read kernels' output-noise normals are :mod:`.normal8`'s (a vectorized counter-based
Box-Muller; until session 6 a scalar counter-based ziggurat on these words, 5.4 ns per normal
against 3.5 ns: ``benchmarks/speed_fmnist.md``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..streams import GOLDEN, _MIX1, _MIX2

_G = np.uint64(GOLDEN)
_M1 = np.uint64(_MIX1)
_M2 = np.uint64(_MIX2)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)


@njit(inline="always", cache=True)
def word(k, n):
    """splitmix64's finalizer of ``n * golden + k`` (uint64)."""
    z = np.uint64(n) * _G + k
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


__all__ = ["word"]
