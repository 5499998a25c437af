"""CPU time of the 784x500 layer's commit (rounded counts, pulses, event statistics, wear: with numba
kernels the fused update, with torch the step by step apply_update) in a real EP run, torch and numba
kernels alternating in one process; medians of 6 updates. (Until session 11 it timed apply_update,
which the fused commit no longer calls: its numba list stayed empty.) Usage
(repo root): OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 PYTHONPATH=TREE python benchmarks/speed_fmnist/update_ab.py"""
import dataclasses, torch, time, statistics, sys
torch.set_num_threads(1)
from analog_ep.analog import kernels as K
from analog_ep.analog.storage import AnalogStorage
from analog_ep.config import load_config
from analog_ep.data import load_data
from analog_ep.train.loop import make_trainer
S = ["analog.device=memristor", "data.root=/work/shared/data/fashion-mnist", "data.train_size=640", "data.test_size=64", "solver.tol=0",
     "solver.stop=tol"]
cfg = load_config("configs/hopfield_mlp_fmnist.yaml", S)
data = load_data(cfg.data, cfg.seed)
trs = {m: make_trainer(dataclasses.replace(cfg, compute=dataclasses.replace(cfg.compute, kernels=m)), None, data=(data[0], data[0], data[2])) for m in ("torch", "numba")}
T = {"torch": [], "numba": []}
cur = {"m": None}
orig = AnalogStorage.commit
def wrap(self, vectors=None):
    c0 = time.process_time()
    orig(self, vectors)
    if self.w_dev.numel() > 100000:
        T[cur["m"]].append(time.process_time() - c0)
AnalogStorage.commit = wrap
for r in range(8):
    x, y = data[0].batch(slice(64*r, 64*r+64))
    for m in ("torch", "numba") if r % 2 == 0 else ("numba", "torch"):
        K.set_mode(m); cur["m"] = m
        trs[m].train_step(x, y)
print({m: round(statistics.median(v[2:]) * 1e3, 2) for m, v in T.items()}, "ms per 784x500 commit (CPU)")
