"""Where the transposed conv read's output stage + fold goes at dchn_vgg5's largest transposed read
(batch 64, C_in k k = 288 partials x 256 pixels per sample, float32, one thread): the in-kernel
normal generator alone (`normal8.fill_row8` over every partial), the one-tile output-stage pass
alone (`_one_pass`, ADC round mode, noisy, unit noise), the same pass without its `/ 1.0` and
`* 1.0` (exact ops), and main's fold alone (`_fold_row`). CPU seconds, median of 9.

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/speed_fmnist_s12_conv/stage_parts.py
"""
import time, numpy as np, statistics
from numba import njit
from analog_ep.analog.kernels import numba_reads as NR
from analog_ep.analog.kernels.normal8 import fill_row8, BLOCK
B, R, L, C = 64, 288, 256, 32
m = R * L; mp = m
t = (np.random.randn(B, 1, m) * 2).astype(np.float32)
g = np.array([C, 3, 3, 16, 16, 16, 16, 1, 1, 1, 1, 0], dtype=np.int64)
out = np.empty((B, C * 256), np.float32)
@njit
def noise(n):
    nz = np.empty(mp, np.float32)
    for b in range(B):
        fill_row8(nz, np.uint32(5), np.uint32(9), b * mp)
    return nz[0]
@njit
def onepass(t, div, sl):
    nz = np.ones(mp, np.float32); acc = np.empty(m, np.float32)
    for b in range(B):
        NR._one_pass(t[b, 0], nz, acc, div, np.float32(0.06), np.float32(-12), np.float32(12), np.float32(0.047), np.float32(0.118), sl, np.float32(0), 3, True)
    return acc[0]
@njit
def onepass_nodiv(t, sl):
    nz = np.ones(mp, np.float32); acc = np.empty(m, np.float32)
    src = t
    for b in range(B):
        s = t[b, 0]
        for c in range(m):
            x = s[c] + np.float32(0.06) * nz[c]
            acc[c] = ((np.float32(0) + NR._q1(x, 3, np.float32(-12), np.float32(12), np.float32(0.047))) * np.float32(0.118))
    return acc[0]
@njit
def fold(t, out):
    for b in range(B):
        NR._fold_row(t[b, 0], out[b], g)
fs = [("noise", lambda: noise(0)), ("onepass", lambda: onepass(t, np.float32(1.0), np.float32(1.0))), ("onepass no div/sl", lambda: onepass_nodiv(t, np.float32(1.0))), ("fold", lambda: fold(t, out))]
for n, f in fs: f()
res = {n: [] for n, _ in fs}
for i in range(9):
    for n, f in fs:
        t0 = time.process_time(); f(); res[n].append(time.process_time() - t0)
for n, v in res.items(): print(n, f"{statistics.median(v)*1e3:.2f} ms")
