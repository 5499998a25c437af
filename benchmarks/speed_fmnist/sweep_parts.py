"""Per-sweep CPU time in one process, alternating: the analog fused sweep, the analog generic sweep
(`solvers.hopfield.FUSED` off) and the digital sweep (784-500-10, batch 64, memristor card, numba,
50 free sweeps, tol 0). Usage (repo root): OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/speed_fmnist/sweep_parts.py"""
import time, sys, dataclasses, json
import torch
torch.set_num_threads(1)
from analog_ep.analog import kernels as K
from analog_ep.config import AnalogConfig, load_config
from analog_ep.train.loop import make_trainer
from analog_ep.solvers import hopfield as H
S = ["analog.device=memristor", "data.root=/work/shared/data/fashion-mnist", "data.train_size=640",
     "data.test_size=64", "compute.kernels=numba"]
cfg = load_config("configs/hopfield_mlp_fmnist.yaml", S)
an = make_trainer(cfg, None)
dig = make_trainer(dataclasses.replace(cfg, analog=AnalogConfig(), device={}), None)
K.set_mode("numba")
x, y = next(iter(an.batches(an.train_set, None)))
def setup(m):
    m.begin_batch(); m.begin_phase("free")
    with torch.no_grad():
        return m.const_drive(x), m.zero_state(x.shape[0], x)
ca, sa = setup(an.model); cd, sd = setup(dig.model)
def run(name, reps=3):
    m, c, s = (dig.model, cd, sd) if name == "digital" else (an.model, ca, sa)
    H.FUSED = name != "generic"
    t = time.process_time()
    for _ in range(reps):
        H.relax_async(m, c, s, beta=0.0, target=y, iters=50, tol=0.0)
    return (time.process_time() - t) / reps / 50 * 1e6
names = ["fused", "generic", "digital"]
for n in names: run(n, 1)
res = {n: [] for n in names}
for r in range(8):
    for n in (names if r % 2 == 0 else names[::-1]):
        res[n].append(run(n))
med = {n: sorted(v)[len(v) // 2] for n, v in res.items()}
print(json.dumps({"us_per_sweep_median": med, "fused_over_digital": med["fused"] / med["digital"],
                  "generic_over_digital": med["generic"] / med["digital"]}))
