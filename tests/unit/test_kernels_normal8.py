"""The read kernels' vectorized counter-based normal (``analog_ep.analog.kernels.normal8``).

References: a plain-Python float64 Box-Muller of the same hash words (``math.log`` / ``cos`` /
``sin``) for every value of a few rows; the standard normal's moments, tail probabilities and CDF
(KS against ``scipy.stats.norm`` when scipy is there, else ``math.erf``) on 400k draws;
determinism per key; independence across keys, rows and the two halves of a Box-Muller pair.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch

pytest.importorskip("numba")
from analog_ep.analog.kernels import normal8 as N  # noqa: E402


def _phi(x):
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def test_values_equal_a_float64_box_muller_of_the_same_words():
    z = N.normals(31, 5, 37)                                # odd row length: padded to 48
    assert z.dtype == np.float32 and z.shape == (5, 37)
    for r in range(5):
        ref = N.reference(31, r, 37)
        err = np.abs(z[r].astype(np.float64) - ref)
        assert float(err.max()) < 4e-7 * max(1.0, float(np.abs(ref).max())), (r, float(err.max()))
    # the polynomial log / sin / cos against libm over many values: a few float32 ulp
    big = N.normals(5, 40, 512).astype(np.float64)
    ref = np.stack([N.reference(5, r, 512) for r in range(40)])
    assert float(np.abs(big - ref).max()) < 1e-6
    far = np.abs(ref) > 0.5           # near 0 the error is absolute (the angle's and u's float32 steps)
    assert float((np.abs(big - ref)[far] / np.abs(ref[far])).max()) < 5e-7


def test_is_standard_normal():
    z = torch.from_numpy(N.normals(2024, 400, 1001).astype(np.float64)).flatten()   # 400,400 draws
    n = z.numel()
    assert abs(float(z.mean())) < 4 / math.sqrt(n)
    assert abs(float(z.std()) - 1) < 4 * math.sqrt(0.5 / n)
    assert abs(float((z ** 3).mean())) < 4 * math.sqrt(15 / n)
    assert abs(float((z ** 4).mean()) - 3) < 4 * math.sqrt(96 / n)
    s = torch.sort(z).values
    cdf = torch.tensor([_phi(v) for v in s[::97].tolist()], dtype=torch.float64)
    emp = (torch.arange(0, n, 97, dtype=torch.float64) + 0.5) / n
    assert float((cdf - emp).abs().max()) < 1.95 / math.sqrt(n) + 1e-4            # KS, alpha 0.001
    for a in (1.0, 2.0, 3.0, 3.6, 4.0):
        p = 2 * (1 - _phi(a))
        got = float((z.abs() > a).double().mean())
        assert abs(got - p) < 4 * math.sqrt(p / n) + 1 / n, (a, got, p)


def test_ks_against_scipy():
    stats = pytest.importorskip("scipy.stats")
    z = N.normals(77, 100, 1000).astype(np.float64).ravel()
    assert stats.kstest(z, "norm").pvalue > 1e-3


def test_deep_tail_is_reached():
    """|z| > 4.5 has probability 6.8e-6: 4M draws give ~27 of them (Poisson: > 8 with p > 1 - 1e-6)."""
    z = N.normals(3, 4000, 1024)
    k = int((np.abs(z) > 4.5).sum())
    p = 2 * (1 - _phi(4.5))
    assert 8 < k < p * z.size + 6 * math.sqrt(p * z.size) + 1, k
    assert float(np.abs(z).max()) < math.sqrt(2 * 32 * math.log(2)) + 1e-4   # the documented bound


def test_deterministic_per_key_and_row_offsets():
    a = N.normals(1, 64, 500)
    assert np.array_equal(a, N.normals(1, 64, 500))
    assert np.array_equal(a[10:20], N.normals(1, 10, 500, row0=10))


def test_independent_across_keys_rows_and_pairs():
    a = torch.from_numpy(N.normals(1, 64, 512).astype(np.float64))
    b = torch.from_numpy(N.normals(2, 64, 512).astype(np.float64))
    blocks = a.reshape(64, 32, 16)
    pairs = (blocks[:, :, :8], blocks[:, :, 8:])               # the cos and sin halves of each pair
    for u, v in ((a, b), pairs, (a[:-1], a[1:]), (a[:, :-1], a[:, 1:])):
        r = float(torch.corrcoef(torch.stack([u.flatten(), v.flatten()]))[0, 1])
        assert abs(r) < 4 / math.sqrt(u.numel()), r
    # Box-Muller's halves are independent, not just uncorrelated: their squares are uncorrelated too
    r2 = float(torch.corrcoef(torch.stack([pairs[0].flatten() ** 2, pairs[1].flatten() ** 2]))[0, 1])
    assert abs(r2) < 4 / math.sqrt(pairs[0].numel()), r2
    # no shared runs: no two consecutive values of one read recur as two consecutive values
    # anywhere in the same read or in the next read's (a chance pair match has probability ~1e-6)
    def pairs_of(z):
        f = z.ravel().view(np.uint32).astype(np.uint64)
        return set((f[:-1] << np.uint64(32) | f[1:]).tolist())
    z1, z2 = N.normals(1, 64, 512), N.normals(2, 64, 512)
    p1 = pairs_of(z1)
    assert len(p1) == z1.size - 1
    assert not p1 & pairs_of(z2)


def test_block_is_vectorized():
    """The 8-lane block compiles to AVX2 vector ops where the host has them."""
    from llvmlite import binding as llvm
    if "avx2" not in llvm.get_host_cpu_features().flatten():
        pytest.skip("host without AVX2")
    from numba import njit

    @njit
    def fill(out, ka, kb):
        N.fill_row8(out, ka, kb, 0)

    out = np.empty(64, dtype=np.float32)
    ka, kb = N.key_words(9)
    fill(out, ka, kb)
    asm = "\n".join(fill.inspect_asm().values())
    assert re.search(r"\bvpmulld\b.*ymm", asm) and re.search(r"\bvsqrtps\b.*ymm", asm)
    assert np.array_equal(out, N.normals(9, 1, 64)[0])
