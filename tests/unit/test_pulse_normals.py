"""The pulse kernels' cycle-to-cycle normals (:mod:`analog_ep.analog.kernels.numba_engine`, session 10).

Pulse ``k`` of device ``i`` draws the normal of the hash word ``mix(i golden + stream_key(key, k))``
(the stream of :func:`analog_ep.analog.streams.normal_from`, unchanged). In float32 the kernel's
Box-Muller evaluates ``log`` and ``cos`` with polynomials (:func:`~.numba_engine._log32`,
:func:`~.numba_engine._cos2pi32`) instead of libm, and the update kernel draws the first pulse's
normals of a block of devices ahead of the pulses (:func:`~.numba_engine._first_normals`). So:

* the values are Box-Muller of the same uniforms to float32 rounding: against a plain float64
  evaluation of the formula, and against torch's float32 ``normal_from`` (the torch engine's);
* a block drawn ahead equals the normals drawn one by one, bit for bit;
* the stream is standard normal and independent between neighbouring devices and pulses (seeded,
  with a control that the same checks reject a 2 % wider normal);
* N pulses through the kernel move a device by the rule's closed form: mean and variance of a
  constant step with multiplicative noise, the soft-bounds mean, and the torch engine's statistics.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from analog_ep.analog import engine as E
from analog_ep.analog import streams as S
from analog_ep.analog.population import sample_device_state
from analog_ep.analog.rules import ConstantStep, SoftBounds
from conftest import kernels_mode

pytest.importorskip("numba")
from numba import njit  # noqa: E402

from analog_ep.analog.kernels import numba_engine as NE  # noqa: E402


@njit(cache=False)
def _bm(z, fp, out):
    for i in range(z.shape[0]):
        out[i] = NE._box_muller(z[i], fp)


@njit(cache=False)
def _block(live, k0, fp, out):
    zb = np.empty(live.shape[0], dtype=np.uint64)
    NE._first_normals(live, 0, live.shape[0], k0, fp, zb, out)


def _fp(dt):
    return np.array([0.1, 1.0, 0.0, -2.0, 2.0 ** -23, 1.0 - 2.0 ** -24, 2.0 * math.pi, 1], dtype=dt)


def _kernel_normals(words: np.ndarray, dt=np.float32) -> np.ndarray:
    out = np.empty(words.shape[0], dtype=dt)
    _bm(words, _fp(dt), out)
    return out


def _words(key: int, n: int, k: int) -> torch.Tensor:
    return S.hash_words(S.scaled_range(n, "cpu"), key, k)


def _pulse_normals(key: int, devices: int, pulses: int) -> np.ndarray:
    """(pulses, devices): the normal of pulse k of device i, as the kernel draws it."""
    return np.stack([_kernel_normals(_words(key, devices, k).numpy().view(np.uint64)) for k in range(pulses)])


def test_float32_normals_are_box_muller_of_the_streams_uniforms():
    """On 2^16 words and the extreme lanes (u1 = 2^-24, 1 - 2^-24; u2 on octant boundaries): within
    1e-6 of Box-Muller evaluated in float64 from the same float32 uniforms, within 4e-6 of torch's
    float32 ``normal_from`` (which rounds 2 pi u2 before its cos), and float64 kernels within 1e-12."""
    z = _words(5, 1 << 16, 0).numpy().view(np.uint64)
    lanes = [0, 1, 2, 0x7FFFFF, 0x7FFFFE, 1 << 20, 1 << 21, 3 << 20, (1 << 20) - 1, 4 << 20, (5 << 20) + 7, 7 << 20]
    edge = np.array([(np.uint64(a) << np.uint64(32)) | np.uint64(b) for a in lanes for b in lanes], dtype=np.uint64)
    z = np.concatenate([z, edge, edge | np.uint64(0xFF800000_FF800000)])  # bits above the 23 used: ignored
    got = _kernel_normals(z).astype(np.float64)
    a1 = ((z >> np.uint64(32)) & np.uint64(0x7FFFFF)).astype(np.float64)
    a2 = (z & np.uint64(0x7FFFFF)).astype(np.float64)
    exact = np.sqrt(-2.0 * np.log(a1 * 2.0 ** -23 + 2.0 ** -24)) * np.cos(2.0 * math.pi * a2 * 2.0 ** -23)
    assert np.abs(got - exact).max() <= 1e-6
    assert got.min() < -5.7 and got.max() > 5.7                # the extreme lanes reach the tails
    ref = S.normal_from(torch.from_numpy(z.view(np.int64).copy()), torch.float32).numpy()
    assert np.abs(got - ref).max() <= 4e-6
    ref64 = S.normal_from(torch.from_numpy(z.view(np.int64).copy()), torch.float64).numpy()
    assert np.abs(_kernel_normals(z, np.float64) - ref64).max() <= 1e-12


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_first_normals_drawn_ahead_equal_one_by_one(dt):
    """The update kernel's block of first normals (vectorized in float32) is the scalar draw's, bit
    for bit, for any list of devices."""
    rng = np.random.default_rng(1)
    live = np.sort(rng.choice(1 << 18, 3001, replace=False)).astype(np.int64)
    k0 = np.uint64(S.stream_key(9, 0))
    out = np.empty(live.shape[0], dtype=dt)
    _block(live, k0, _fp(dt), out)
    words = S.hash_words(torch.from_numpy(live) * S.GOLDEN_S, 9, 0).numpy().view(np.uint64)
    assert np.array_equal(out, _kernel_normals(words, dt))


_N_DEV, _N_PULSE = 1 << 16, 4
_PHI = np.vectorize(lambda x: 0.5 * math.erfc(-x / math.sqrt(2.0)))


def _stats(x: np.ndarray) -> dict:
    """Mean and variance as z-scores, the KS distance times sqrt(n), and the chi-square of 12 bins
    (edges 0, +-0.5, +-1, +-2, +-3, +-4: the outer bins are the tails beyond 3 and 4 sigma)."""
    x = x.ravel().astype(np.float64)
    n = x.size
    s = np.sort(x)
    cdf = _PHI(s)
    ks = max(np.max(np.arange(1, n + 1) / n - cdf), np.max(cdf - np.arange(n) / n)) * math.sqrt(n)
    edges = np.array([-np.inf, -4, -3, -2, -1, -0.5, 0, 0.5, 1, 2, 3, 4, np.inf])
    obs = np.histogram(x, edges)[0]
    p = np.diff(_PHI(np.clip(edges, -40, 40)))
    chi2 = float(((obs - n * p) ** 2 / (n * p)).sum())
    return {"mean_z": x.mean() * math.sqrt(n), "var_z": (x.var() - 1.0) / math.sqrt(2.0 / n), "ks": ks,
            "chi2": chi2, "tail3": int((np.abs(x) > 3).sum()), "tail3_expected": n * 2 * (1 - _PHI(3.0))}


def _accept(st: dict) -> bool:
    # 11 degrees of freedom: P(chi2 > 31.3) = 0.001; KS sqrt(n) D > 1.95 at 0.001
    return abs(st["mean_z"]) < 4 and abs(st["var_z"]) < 4 and st["ks"] < 1.95 and st["chi2"] < 31.3


def test_pulse_normals_are_standard_normal():
    """2^18 normals (2^16 devices x 4 pulses, key 2024): mean, variance, KS and a 12-bin chi-square
    (tails beyond 3 and 4 sigma) at the 0.1 % level, and the same checks reject the stream scaled by
    1.02 (the test can fail)."""
    x = _pulse_normals(2024, _N_DEV, _N_PULSE)
    st = _stats(x)
    assert _accept(st), st
    assert abs(st["tail3"] - st["tail3_expected"]) < 4 * math.sqrt(st["tail3_expected"])
    assert not _accept(_stats(x * 1.02))


def test_pulse_normals_are_independent_between_neighbours():
    """Correlations (of the values and of their squares: Box-Muller's radius) between neighbouring
    devices (i, i + 1) in a pulse, between pulses (k, k + 1) of a device and between devices 2j and
    2j + 1 (a float32 word's two lanes, were they shared): all below 4 / sqrt(n); a control with a
    shared radius is caught."""
    x = _pulse_normals(77, _N_DEV, _N_PULSE).astype(np.float64)
    bound = 4 / math.sqrt(x[:, 1:].size)

    def corr(a, b):
        return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])
    pairs = [(x[:, :-1], x[:, 1:]), (x[:-1], x[1:]), (x[:, 0::2], x[:, 1::2])]
    for a, b in pairs:
        assert abs(corr(a, b)) < bound
        assert abs(corr(a * a, b * b)) < bound
    r = np.abs(x[0])                                 # control: neighbours sharing one radius
    assert abs(corr((r * np.sign(x[1]))[:-1] ** 2, (r * np.sign(x[2]))[1:] ** 2)) < bound
    assert abs(corr((r * np.sign(x[1])) ** 2, (r * np.sign(x[2])) ** 2)) > 10 * bound


def _pulsed(mode: str, params, n_dev: int, pulses: int, key: int, w0: float):
    g = torch.Generator().manual_seed(3)
    st = sample_device_state(params, (n_dev,), g)
    w = torch.full((n_dev,), w0)
    n = torch.full((n_dev,), pulses, dtype=torch.int32)
    with kernels_mode(mode):
        out = E.apply_counts(w.clone(), n, st, params, key, rounds=pulses, settled=True, closed_form=False)
        from analog_ep.analog import kernels as K
        assert K.ran()["apply_counts"] == mode
    return out.double(), st


def test_n_pulses_move_a_device_by_the_rules_closed_form():
    """8192 identical devices, 12 pulses each. Constant step (dw 0.01, multiplicative noise 0.3,
    no device-to-device spread): the change has mean 12 dw and variance 12 (0.3 dw)^2 (z-score
    below 4, variance ratio within its chi-square 0.1 % band); soft bounds (noise 0.3): the mean
    is the noise-free closed form (the rule is linear in w and the normal has mean 0); the torch
    engine's pulses have the same mean and variance (two-sample z below 4)."""
    n_dev, m = 8192, 12
    cs = ConstantStep(dw_min=0.01, dw_min_std=0.3)
    d, _ = _pulsed("numba", cs, n_dev, m, 41, 0.0)
    mu, var = m * 0.01, m * (0.3 * 0.01) ** 2
    assert abs(float(d.mean()) - mu) / math.sqrt(var / n_dev) < 4
    ratio = float(d.var()) / var
    assert abs(ratio - 1) < 4 * math.sqrt(2 / (n_dev - 1))
    dt, _ = _pulsed("torch", cs, n_dev, m, 41, 0.0)
    assert abs(float(d.mean() - dt.mean())) / math.sqrt(2 * var / n_dev) < 4
    assert abs(float(d.var() / dt.var()) - 1) < 4 * math.sqrt(4 / n_dev)
    sb = SoftBounds(dw_min=0.02, dw_min_std=0.3, w_max=1.0, w_min=-1.0)
    w, st = _pulsed("numba", sb, n_dev, m, 43, 0.2)
    closed = sb.closed_form(torch.full((n_dev,), 0.2, dtype=torch.float64), torch.full((n_dev,), float(m),
                            dtype=torch.float64), torch.ones(n_dev, dtype=torch.bool),
                            {f: getattr(st, f).double() for f in sb.state_fields})
    sd = float(w.std())
    assert sd > 0.01                                  # the noise moved the devices apart
    assert abs(float(w.mean() - closed.mean())) / (sd / math.sqrt(n_dev)) < 4
    wt, _ = _pulsed("torch", sb, n_dev, m, 43, 0.2)
    assert abs(float(w.mean() - wt.mean())) / (sd * math.sqrt(2 / n_dev)) < 4
    assert float((w - wt).abs().max()) < 1e-6           # the same stream: the same pulses to float rounding
