"""Per-sweep CPU time of the analog fused sweep in one process, alternating: stopped by ``tol`` 0 (no
stop bookkeeping beyond the residual) and by the noise floor with a patience no sample reaches (the
whole budget, the stop rule's bookkeeping after every sweep); 784-500-10, batch 64, memristor card,
numba, 50 free sweeps. Their difference is what the noise-floor stop costs per sweep (session 8: the
torch Stopper, ~90 us; session 9: in the kernel). Usage (repo root, PYTHONPATH=TREE for another tree):
OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/speed_fmnist/stop_sweep_parts.py"""
import json, time

import torch

torch.set_num_threads(1)
from analog_ep.analog import kernels as K
from analog_ep.config import load_config
from analog_ep.solvers import hopfield as H
from analog_ep.train.loop import make_trainer

S = ["analog.device=memristor", "data.root=/work/shared/data/fashion-mnist", "data.train_size=640",
     "data.test_size=64", "compute.kernels=numba"]
an = make_trainer(load_config("configs/hopfield_mlp_fmnist.yaml", S), None)
K.set_mode("numba")
x, y = next(iter(an.batches(an.train_set, None)))
m = an.model
m.begin_batch()
m.begin_phase("free")
with torch.no_grad():
    c, s = m.const_drive(x), m.zero_state(x.shape[0], x)
KW = {"tol": dict(tol=0.0, stop="tol"), "noise_floor": dict(tol=0.0, stop="noise_floor", noise_patience=10 ** 6)}


def run(name, reps=3):
    t = time.process_time()
    for _ in range(reps):
        _, st = H.relax_async(m, c, s, beta=0.0, target=y, iters=50, **KW[name])
        assert st.sweeps == 50
    return (time.process_time() - t) / reps / 50 * 1e6


names = list(KW)
for n in names:
    run(n, 1)
res = {n: [] for n in names}
for r in range(8):
    for n in (names if r % 2 == 0 else names[::-1]):
        res[n].append(run(n))
med = {n: sorted(v)[len(v) // 2] for n, v in res.items()}
print(json.dumps({"us_per_sweep_median": med, "stop_us_per_sweep": med["noise_floor"] - med["tol"]}))
