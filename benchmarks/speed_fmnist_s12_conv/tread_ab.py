"""A/B in one process of the transposed conv read's output stage + fold (numba, one thread) at
dchn_vgg5 32-64-64-64's three transposed-read shapes (batch 64, memristor card's periphery):
A = the whole-row passes of main (`_stage_row_to` into a row buffer, then `_fold_row`), rebuilt
here from the same row bodies; B = the branch's `_stage_fold1` (stride 1: the fold through the bordered image, `_fold_row_pad`).
CPU seconds (process_time), the minimum and median of `reps` alternated rounds; also the whole
read (`numba_reads.conv_transposed`) and the digital `conv_transpose2d` (channels-last, as the
digital storage) at each shape, and a check that A and B give the same bits.

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/speed_fmnist_s12_conv/tread_ab.py [reps]
"""
import statistics, sys, time
import numpy as np
import torch
import torch.nn.functional as F
from numba import njit
from analog_ep.analog.kernels import numba_reads as NR
from analog_ep.analog.kernels.normal8 import BLOCK
from analog_ep.analog.periphery import PeripheryParams

torch.set_num_threads(1)
reps = int(sys.argv[1]) if len(sys.argv) > 1 else 15


@njit(fastmath=False, cache=False)
def old_stage_fold1(t, cur, s, key, read, ip, fp, g, snm, out):
    """main's `_stage_fold1` row body: the whole row staged into `acc`, then folded."""
    ka, kb = NR._key_words(key, read, ip[5])
    m = t.shape[2]
    mp = (m + BLOCK - 1) // BLOCK * BLOCK
    v = np.empty(m, dtype=out.dtype)
    nz = np.empty(mp, dtype=np.float32)
    acc = np.empty(m, dtype=out.dtype)
    for b in range(out.shape[0]):
        NR._stage_row_to(t, cur, s, ka, kb, ip, fp, acc, b, v, nz)
        img = out[b]
        NR._fold_row(acc, img, g)
        if g[11]:
            sl = snm[b, 0]
            for e in range(img.shape[0]):
                img[e] *= sl


p = PeripheryParams(inp_bits=7, inp_bound=1.0, out_bits=9, out_bound=12.0, out_noise_std=0.06,
                    noise_management="abs_max")           # the memristor card's periphery
ws = 0.118
gen = torch.Generator().manual_seed(0)
B = 64
for c_in, c_out, hw in ((32, 64, 16), (64, 64, 8), (64, 64, 4)):
    r, L = c_in * 9, hw * hw
    w = torch.randn(c_out, c_in, 3, 3, generator=gen) * 0.05
    y = (torch.rand(B, c_out, hw, hw, generator=gen) * 2 - 1)
    t = torch.matmul((w / ws).reshape(1, c_out, r).transpose(1, 2), y.reshape(B, 1, c_out, L)).reshape(B, 1, r * L)
    mode, fp = NR._plan(p, np.float32, 1.0, ws)
    ip = NR._ip(0, 0, 0, mode, 0, 0)
    g = np.array([c_in, 3, 3, hw, hw, hw, hw, 1, 1, 1, 1, 1], dtype=np.int64)
    snm = (torch.rand(B, 1, generator=gen) + 0.5).numpy()
    d3, d2 = NR._DUMMY[np.float32]
    outs = {k: np.empty((B, c_in * hw * hw), np.float32) for k in "AB"}
    fa = lambda: old_stage_fold1(t.numpy(), d3, d2, np.uint64(7), 0, ip, fp, g, snm, outs["A"])   # noqa: E731
    fb = lambda: NR._stage_fold1(t.numpy(), d3, d2, np.uint64(7), 0, ip, fp, g, snm, outs["B"])   # noqa: E731

    class Keyed:
        key, rows = 11, None
    wcl = w.contiguous(memory_format=torch.channels_last)
    read = lambda: NR.conv_transposed(y, w, 1, 1, 0, p, 512, ws, 1.0, Keyed())  # noqa: E731
    dig = lambda: F.conv_transpose2d(y.contiguous(memory_format=torch.channels_last), wcl, stride=1, padding=1)  # noqa: E731
    fns = [("A stage+fold (main)", fa), ("B stage+fold (branch)", fb), ("whole analog t-read (branch)", read),
           ("digital conv_transpose2d", dig)]
    for _, f in fns:
        f()
    assert np.array_equal(outs["A"], outs["B"]), "A and B differ"
    times = {n: [] for n, _ in fns}
    for i in range(reps):
        for n, f in (fns if i % 2 == 0 else fns[::-1]):
            t0 = time.process_time()
            f()
            times[n].append(time.process_time() - t0)
    a, b = statistics.median(times[fns[0][0]]), statistics.median(times[fns[1][0]])
    print(f"y ({B}, {c_out}, {hw}, {hw}) -> ({B}, {c_in}, {hw}, {hw}), partials {B} x {r} x {L}: bits equal")
    for n, v in times.items():
        print(f"  {n:32s} min {min(v) * 1e3:7.2f} ms  median {statistics.median(v) * 1e3:7.2f} ms")
    print(f"  B / A (median) {b / a:.3f}")
