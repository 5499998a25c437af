"""The 784x500 layer's fused update kernel before and after a change of its argument layout, on one
captured call: BASE's numba_engine._update on the capture as BASE's update_capture.py wrote it (the
per-device arrays separate), this tree's _update on the same call with the device table built from
those arrays (numba_engine._device_table), alternating in one process, fresh copies of the arguments
per call; warm (arguments just copied, the table read) and cold (a 48 MB buffer written between the
copies and the call: the sweeps evict the kernel's arrays in training). Checks first that every
output is bit-identical (weight, proposal, counts, wear, statistics, pulse total). CPU time of the
call (thread_time), medians; also with the pulses off (uflags[4] = 0: the passes without pulses), and
apply_counts' unfused _pulses on the same counts (cold).
Usage (repo root of the new tree):

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 PYTHONPATH=BASE python BASE/benchmarks/speed_fmnist/update_capture.py /tmp/cap.pkl
    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/speed_fmnist/update_ab_capture.py BASE /tmp/cap.pkl [REPS]
"""
import importlib.util, os, pickle, statistics, sys, tempfile, time, numpy as np
# both trees' kernels cached apart from the trees' own caches: BASE's module is loaded here under
# another name, and a cache entry written under it breaks BASE's own runs
os.environ["NUMBA_CACHE_DIR"] = os.path.join(tempfile.gettempdir(), "update_ab_capture_numba")
from analog_ep.analog.kernels import numba_engine as NE
spec = importlib.util.spec_from_file_location("analog_ep.analog.kernels._base_engine",
                                              f"{sys.argv[1]}/analog_ep/analog/kernels/numba_engine.py")
NB = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = NB
spec.loader.exec_module(NB)
a = pickle.load(open(sys.argv[2], "rb"))
reps = int(sys.argv[3]) if len(sys.argv) > 3 else 30
(w, src, we, chi, counts, wear, stuck, wmax, wmin, su, sd, ku, kd, keys, flags, fp, k0, uflags, ufp, cb_of, rb_of,
 ncb, nrb, stats, total, live) = a
dev = NE._device_table(w.dtype.type, su, sd, ku, kd, wmin, wmax, stuck)
FL = np.zeros(12 << 20, dtype=np.float32)
def cp(x):
    return x.copy() if isinstance(x, np.ndarray) else x
def base_args(uf):
    b = [cp(x) for x in a]
    b[17] = uf
    return b
def new_args(uf):
    dev.sum()                                   # the table read (warm), as the base copies its arrays
    return ([cp(x) for x in (w, src, we, chi, counts, wear)] + [dev]
            + [cp(x) for x in (keys, flags, fp, k0, uf, ufp, cb_of, rb_of, ncb, nrb, stats, total, live)])
def call(kernel, args, cold):
    global FL
    if cold:
        FL += 1.0
    t0 = time.thread_time()
    kernel(*args)
    return time.thread_time() - t0
bb, bn = base_args(uflags), new_args(uflags)
NB._update(*bb)
NE._update(*bn)
same = {nm: np.array_equal(bb[i], bn[j]) for nm, i, j in (("w", 0, 0), ("src", 1, 1), ("chi", 3, 3), ("counts", 4, 4),
                                                          ("wear", 5, 5), ("stats", 23, 17), ("total", 24, 18))}
print("bit-identical:", same, "pulsed devices", int(np.count_nonzero(bb[4])), "of", w.shape[0])
off = uflags.copy()
off[4] = 0
T = {}
for r in range(reps):
    for cold in (False, True):
        for tag, uf in (("", uflags), ("_nopulse", off)):
            pairs = (("base", NB._update, base_args), ("new", NE._update, new_args))
            for nm, k, mk in pairs if r % 2 == 0 else pairs[::-1]:
                T.setdefault(nm + tag + ("_cold" if cold else ""), []).append(call(k, mk(uf), cold))
print({k: round(statistics.median(v[2:]) * 1e3, 3) for k, v in T.items()}, "ms CPU per call")
# the unfused pulses (apply_counts' _pulses: bit-stream updates) on the same counts, cold
c2 = bb[4].copy()
P = {"base": [], "new": []}
for r in range(reps):
    wb, wn, lv = w.copy(), w.copy(), np.empty(w.shape[0], dtype=np.int64)
    lv[:] = 0
    FL += 1.0
    t0 = time.thread_time()
    NB._pulses(wb, c2, stuck, wmax, wmin, su, sd, ku, kd, keys, flags, fp)
    P["base"].append(time.thread_time() - t0)
    FL += 1.0
    t0 = time.thread_time()
    NE._pulses(wn, c2, dev, keys, flags, fp, lv)
    P["new"].append(time.thread_time() - t0)
    assert np.array_equal(wb, wn)
print("unfused pulses (_pulses), cold, bit-identical:", {k: round(statistics.median(v[2:]) * 1e3, 3) for k, v in P.items()},
      "ms CPU per call")
