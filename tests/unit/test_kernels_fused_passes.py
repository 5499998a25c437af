"""The numba read kernels' fused passes (session 8) against a numpy reference of the pass-by-pass
arithmetic they replace: the DAC (abs-max scale, divide, quantize) and the one-tile output stage
(divide, output noise, ADC, partial sum, ``w_scale``, layer scale) must give the same bits (the
same IEEE operations per element, in the same order), in float32 and float64, for every
converter mode (none, clip, sign, clip + round), with and without output noise and noise
management. Data hit the converters' bounds, exact zeros and negative zeros.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numba")
from analog_ep.analog.kernels import normal8 as N8  # noqa: E402
from analog_ep.analog.kernels import numba_reads as NR  # noqa: E402

# (bits, bound) of the converter: mode none, clip, sign, clip + round
_CONVERTERS = [(None, None), (None, 2.0), (1, 0.7), (9, 2.0), (5, 0.5)]


def _q(v: np.ndarray, bits, bound, dt) -> np.ndarray:
    """:func:`analog_ep.analog.periphery.quantize`'s operations, element by element (numpy, dtype ``dt``)."""
    mode, b, step = NR._qmode(bits, bound)
    b, step = dt(b), dt(step)
    if mode == NR._NONE:
        return v
    c = np.minimum(np.maximum(v, -b), b)
    if mode == NR._CLIP:
        return c
    if mode == NR._SIGN:
        return np.where(v >= 0, b, -b).astype(dt)
    return (np.rint(c / step) * step).astype(dt)


def _data(rng, shape, dt, scale=3.0) -> np.ndarray:
    x = (rng.standard_normal(shape) * scale).astype(dt)
    flat = x.reshape(-1)
    flat[::7] = 0.0
    flat[3::11] = -0.0
    flat[5::13] = np.float32(1e-39) if dt is np.float32 else 1e-310   # subnormals
    return x


def _bits(a: np.ndarray) -> np.ndarray:
    return a.view(np.int32 if a.dtype == np.float32 else np.int64)


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("conv", _CONVERTERS)
@pytest.mark.parametrize("nm", [0, 1, 2])
@pytest.mark.parametrize("one", [True, False])
def test_dac_is_the_pass_by_pass_arithmetic(dt, conv, nm, one):
    rng = np.random.default_rng(11)
    bits, bound = conv
    nm_bound = bound if bound is not None else 1.0
    sizes = [23, 40, 37] if nm != 2 else [100]
    x = _data(rng, (9, sum(sizes)), dt)
    x[4] = 0.0                                                    # an all-zero sample: the tiny scale
    starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    mode, qb, step = NR._qmode(bits, bound)
    fp = np.array([nm_bound, 1e-30, qb, step], dtype=dt)
    xq = np.empty_like(x)
    s = np.empty((x.shape[0], len(sizes)), dtype=dt)
    (NR._dac1 if one else NR._dac)(x, starts, nm, mode, fp, xq, s)
    ref = np.empty_like(x)
    for b in range(x.shape[0]):
        for i in range(len(sizes)):
            a, e = starts[i], starts[i + 1]
            if nm == 0:
                ref[b, a:e] = _q(x[b, a:e].copy(), bits, bound, dt)
                continue
            m = max(dt(1e-30), np.abs(x[b, a:e]).max())
            sc = dt(m) / dt(nm_bound)
            assert _bits(np.array([s[b, i]], dt)) == _bits(np.array([sc], dt))
            ref[b, a:e] = _q(x[b, a:e] / sc, bits, bound, dt)
    np.testing.assert_array_equal(_bits(xq), _bits(ref))


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("conv", _CONVERTERS)
@pytest.mark.parametrize("s_mode", [0, 2])
@pytest.mark.parametrize("std", [0.0, 0.06])
@pytest.mark.parametrize("one", [True, False])
def test_one_tile_stage_is_the_pass_by_pass_arithmetic(dt, conv, s_mode, std, one):
    rng = np.random.default_rng(5)
    bits, bound = conv
    b, m, key, row0 = 7, 37, 123457, 3
    t = _data(rng, (1, b, m), dt)
    s = (rng.random((b, 1)) + 0.5).astype(dt)
    div, ws = 0.0713, 0.0894
    mode, qb, step = NR._qmode(bits, bound)
    fp = np.array([-0.0, div, std, qb, step, ws, 1.0, 0.0], dtype=dt)
    out = np.empty((b, m), dtype=dt)
    ip = NR._ip(1, 0, s_mode, mode, row0, 0)
    (NR._stage1 if one else NR._stage)(t, NR._DUMMY[dt][0], s, np.uint64(key), 0, ip, fp, out)
    v = t[0] / dt(div)
    if std > 0:
        nz = N8.normals(key, row0 + b, m)[row0:]
        v = v + dt(std) * nz.astype(dt) if dt is np.float64 else v + dt(std) * nz
    v = _q(v.astype(dt), bits, bound, dt)
    ref = (dt(0.0) + v) * dt(ws)
    if s_mode == 2:
        ref = ref * s
    np.testing.assert_array_equal(_bits(out), _bits(ref.astype(dt)))


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_multi_tile_stage_keeps_its_passes(dt):
    """The multi-tile stage (per-tile scales, several partials) is the pass-by-pass sum."""
    rng = np.random.default_rng(8)
    nb, b, m, key = 3, 5, 20, 99
    t = _data(rng, (nb, b, m), dt)
    s = (rng.random((b, nb)) + 0.5).astype(dt)
    mode, qb, step = NR._qmode(8, 3.0)
    fp = np.array([-0.0, 1.0, 0.05, qb, step, 0.25, 1.0, 0.0], dtype=dt)
    out = np.empty((b, m), dtype=dt)
    NR._stage1(t, NR._DUMMY[dt][0], s, np.uint64(key), 0, NR._ip(1, 0, 1, mode, 0, 0), fp, out)
    nz = N8.normals(key, b * nb, m).reshape(b, nb, m)
    acc = np.zeros((b, m), dtype=dt)
    for i in range(nb):
        v = _q((t[i] / dt(1.0) + dt(0.05) * nz[:, i].astype(dt)).astype(dt), 8, 3.0, dt)
        acc = acc + v * s[:, i:i + 1]
    np.testing.assert_array_equal(_bits(out), _bits((acc * dt(0.25)).astype(dt)))


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_vector_abs_max_is_the_serial_max(dt):
    """The DAC's 8-lane abs-max equals the serial ``m = max(m, abs(x))`` bit for bit on every row
    length (the lanes and the tail), with NaNs (never taken), infinities, and signed zeros."""
    from numba import njit

    @njit
    def serial(x, m):
        for r in range(x.shape[0]):
            m = max(m, abs(x[r]))
        return m

    @njit
    def lanes(x, m):
        return NR._absmax(x, m)

    rng = np.random.default_rng(3)
    tiny = dt(1e-30)
    for n in range(0, 42):
        for trial in range(6):
            x = rng.standard_normal(n).astype(dt)
            if n and trial >= 1:
                x[rng.integers(n)] = np.nan
            if n and trial >= 2:
                x[rng.integers(n)] = -np.inf if trial % 2 else 7.5
            if trial == 5:
                x[:] = 0.0
                x[::2] = -0.0
            a, b = np.array([serial(x, tiny)], dt), np.array([lanes(x, tiny)], dt)
            assert _bits(a) == _bits(b), (n, trial, a, b)
    assert lanes(np.array([np.nan, -3.0, 2.0], dt), tiny) == 3.0
