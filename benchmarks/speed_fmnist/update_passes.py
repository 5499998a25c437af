"""CPU time of the passes of the fused update kernel on a captured call (update_capture.py), each pass
as a separate numba function with the kernel's arithmetic, warm cache, medians of 30: the change (two
divisions), the stochastic counts (and the hash alone), clearing the proposal, the list of devices to pulse, the row
bookkeeping from it (wear, sums, per-row maxima), the pulses, and the per-pulse hash + Box-Muller alone.
Usage (repo root): OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/speed_fmnist/update_passes.py CAPTURE.pkl
"""
import pickle, sys, time, numpy as np, math
from numba import njit
from analog_ep.analog.kernels import numba_engine as NE
from analog_ep.analog.kernels.numba_engine import _mix, _G, _count_all, _first_normals, _train
a = pickle.load(open(sys.argv[1], "rb"))
(w, src, we, chi, counts, wear, dev, keys, flags, fp, k0, uflags, ufp, cb_of, rb_of, ncb, nrb, stats, total) = a[:19]
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
def p4(counts, live):
    # the list of the devices to pulse, without a branch
    nl = 0
    for i in range(counts.shape[0]):
        live[nl] = i
        nl += counts[i] != 0
    return nl
@njit(cache=False)
def p4b(counts, wear, live, nl, cb_of, ncb, inner):
    # the row bookkeeping from the list: wear, set / reset sums, per-row maxima per column block
    up_m = np.zeros((ncb, inner), dtype=np.int32)
    dn_m = np.zeros((ncb, inner), dtype=np.int32)
    setp = np.int64(0)
    resetp = np.int64(0)
    row = -1
    rend = 0
    for t in range(nl):
        i = live[t]
        c = counts[i]
        while i >= rend:
            row += 1
            rend += inner
        j = i - (rend - inner)
        cb = cb_of[row]
        u = max(c, 0)
        dn = max(-c, 0)
        wear[i] += u + dn
        setp += u
        resetp += dn
        up_m[cb, j] = max(up_m[cb, j], u)
        dn_m[cb, j] = max(dn_m[cb, j], dn)
    return setp + resetp
@njit(cache=False)
def p5(w, live, nl, counts, dev, keys, flags, fp):
    # the kernel's pulses: blocks of NE._PULSE_BLOCK devices, their first normals drawn ahead, the
    # device table's rows (and weights, counts) prefetched NE._AHEAD listed devices ahead
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
            ip = live[min(t0 + t + NE._AHEAD, nl - 1)]
            NE._prefetch(dev, ip)
            NE._prefetch(w, ip)
            NE._prefetch(counts, ip)
            i = live[t0 + t]
            c = counts[i]
            wi = _train(w[i], min(abs(c), cap), c > 0, dev[i, 0], dev[i, 1], dev[i, 2], dev[i, 3], dev[i, 4],
                        dev[i, 5], np.uint64(i) * _G, keys, xb[t], has_slope, noisy, mult, levels, fq)
            if dev[i, NE._STUCK] == 0:
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
live = np.empty(c2.shape[0], dtype=np.int64)
nl = p4(c2, live)
print("p4 list", tm(p4, c2, live), "nl", nl)
print("p4b rows from the list", tm(p4b, c2, wear.copy(), live, nl, cb_of, ncb, rb_of.shape[0]))
print("p5 pulses", tm(p5, w.copy(), live, nl, c2, dev, keys, flags, fp))
o = np.empty(nl, np.float32)
print("p6 hash+boxmuller (one by one)", tm(p6, live, nl, keys, fp, o))
print("p7 hash only", tm(p7, live, nl, keys, o))
print("dtype", w.dtype, dev.dtype, dev.shape)
