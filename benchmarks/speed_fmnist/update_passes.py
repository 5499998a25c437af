"""CPU time of the passes of the fused update kernel on a captured call (update_capture.py), each pass
as a separate numba function with the kernel's arithmetic, warm cache, medians of 30: the change (two
divisions), the stochastic counts (and the hash alone), clearing the proposal, the row pass (wear, sums,
per-row maxima, the list of devices to pulse), the pulses, and the per-pulse hash + Box-Muller alone.
Usage (repo root): OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/speed_fmnist/update_passes.py CAPTURE.pkl
"""
import pickle, sys, time, numpy as np, math
from numba import njit
from analog_ep.analog.kernels import numba_engine as NE
from analog_ep.analog.kernels.numba_engine import _mix, _G, _count_all, _first_normals, _train
a = pickle.load(open(sys.argv[1], "rb"))
(w, src, we, chi, counts, wear, stuck, wmax, wmin, su, sd, ku, kd, keys, flags, fp, k0, uflags, ufp, cb_of, rb_of, ncb, nrb, stats, total) = a[:25]
@njit(cache=False)
def p1(src, we, r, ws, dwm):
    for i in range(src.shape[0]):
        e = we[i]
        r[i] = ((e + src[i]) - e) / ws / dwm
@njit(cache=False)
def p2(r, counts, k0, blf):
    _count_all(r, counts, r, 0, k0, 0, blf, blf)   # rule 0: stochastic (float32: words by chunks, then the lanes)
@njit(cache=False)
def p2h(r, hz, k0):
    n = r.shape[0]
    for k in range(n >> 1):
        hz[k] = _mix(np.uint64(k) * _G + k0)
@njit(cache=False)
def p3(src, z):
    src[:] = z
@njit(cache=False)
def p4(counts, wear, cb_of, ncb, inner):
    rows = cb_of.shape[0]
    n = counts.shape[0]
    up_m = np.zeros((ncb, inner), dtype=np.int32)
    dn_m = np.zeros((ncb, inner), dtype=np.int32)
    live = np.empty(n, dtype=np.int64)
    nl = 0
    setp = np.int64(0)
    resetp = np.int64(0)
    for r in range(rows):
        cb = cb_of[r]
        base = r * inner
        cr = counts[base:base + inner]
        wr = wear[base:base + inner]
        ur = up_m[cb]
        dr = dn_m[cb]
        for j in range(inner):
            c = cr[j]
            u = max(c, 0)
            dn = max(-c, 0)
            wr[j] += u + dn
            setp += u
            resetp += dn
            ur[j] = max(ur[j], u)
            dr[j] = max(dr[j], dn)
        for j in range(inner):
            live[nl] = base + j
            nl += cr[j] != 0
    return live, nl
@njit(cache=False)
def p5(w, live, nl, counts, stuck, su, sd, ku, kd, wmin, wmax, keys, flags, fp):
    # the kernel's pulses: blocks of NE._PULSE_BLOCK devices, their first normals drawn ahead
    has_slope, noisy, mult, levels = flags[0], flags[1], flags[2], flags[3]
    cap = keys.shape[0]
    fq = NE._consts(fp)     # the constants in registers, as the kernel holds them
    blk = min(nl, 1024)
    xb = np.zeros(blk, dtype=w.dtype)
    zb = np.empty(blk, dtype=np.uint64)
    for t0 in range(0, nl, blk):
        nb = min(blk, nl - t0)
        if noisy:
            _first_normals(live, t0, nb, keys[0], fq, zb, xb)
        for t in range(nb):
            i = live[t0 + t]
            c = counts[i]
            wi = _train(w[i], min(abs(c), cap), c > 0, su[i], sd[i], ku[i], kd[i], wmin[i], wmax[i],
                        np.uint64(i) * _G, keys, xb[t], has_slope, noisy, mult, levels, fq)
            if stuck[i] == 0:
                w[i] = wi
@njit(cache=False)
def p6(live, nl, keys, fp, out):
    s = np.float32(0)
    for t in range(nl):
        i = live[t]
        out[t] = NE._box_muller(_mix(np.uint64(i) * _G + keys[0]), fp)
@njit(cache=False)
def p7(live, nl, keys, out):
    for t in range(nl):
        i = live[t]
        z = _mix(np.uint64(i) * _G + keys[0])
        out[t] = np.float32(z & np.uint64(0x7fffff))
def tm(f, *args, reps=30):
    f(*args)
    ts = []
    for _ in range(reps):
        t0 = time.process_time(); f(*args); ts.append(time.process_time() - t0)
    return round(sorted(ts)[len(ts)//2] * 1e3, 3)
r = np.empty_like(src)
print("p1 divide", tm(p1, src, we, r, ufp[0], ufp[1]))
c2 = np.empty_like(counts)
print("p2 stoch counts", tm(p2, r, c2, k0, ufp[2]))
hz = np.empty(r.shape[0] // 2, np.uint64)
print("p2 hash only", tm(p2h, r, hz, k0))
print("p3 zero", tm(p3, src.copy(), fp[2]))
live, nl = p4(c2, wear.copy(), cb_of, ncb, rb_of.shape[0])
print("p4 rows", tm(p4, c2, wear.copy(), cb_of, ncb, rb_of.shape[0]), "nl", nl)
print("p5 pulses", tm(p5, w.copy(), live, nl, c2, stuck, su, sd, ku, kd, wmin, wmax, keys, flags, fp))
o = np.empty(nl, np.float32)
print("p6 hash+boxmuller (one by one)", tm(p6, live, nl, keys, fp, o))
print("p7 hash only", tm(p7, live, nl, keys, o))
print("dtype", w.dtype, su.dtype, stuck.dtype)
