"""CPU time of one analog layer's update (``AnalogStorage.commit``: the change, counts, pulses, write
noise, wear, pulse total, event statistics) in a real EP run, three ways alternating in one process:
``torch`` (compute.kernels torch), ``numba`` (numba kernels, step by step: the session-7 path) and
``fused`` (numba kernels, the fused update of session 8). Medians over the updates of the 784x500
layer after two warm-up steps, and of the whole step (``apply_updates``). Usage (repo root):

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/speed_fmnist/commit_ab.py [--reps N] [key=value ...]

Prints one JSON line. Each mode trains its own model (same seed, same batches).
"""
import dataclasses, json, statistics, sys, time

import torch

torch.set_num_threads(1)
from analog_ep.analog import kernels as K
from analog_ep.analog import storage as ST
from analog_ep.config import load_config
from analog_ep.data import load_data
from analog_ep.train import loop as L
from analog_ep.train.loop import make_trainer

args = sys.argv[1:]
reps = 8
if args and args[0] == "--reps":
    reps, args = int(args[1]), args[2:]
S = ["analog.device=memristor", "data.root=/work/shared/data/fashion-mnist", "data.train_size=640",
     "data.test_size=64", "solver.tol=0", "solver.stop=tol"] + args
cfg = load_config("configs/hopfield_mlp_fmnist.yaml", S)
data = load_data(cfg.data, cfg.seed)
d3 = (data[0], data[0], data[2])
modes = ("torch", "numba", "fused")
kern = {"torch": "torch", "numba": "numba", "fused": "numba"}
tr = {m: make_trainer(dataclasses.replace(cfg, compute=dataclasses.replace(cfg.compute, kernels=kern[m])), None,
                      data=d3) for m in modes}
fused_update = ST.E.fused_update
T = {m: [] for m in modes}
U = {m: [] for m in modes}
cur = {"m": None}
orig_commit = ST.AnalogStorage.commit


def commit(self, vectors=None):
    c0 = time.process_time()
    orig_commit(self, vectors)
    if self.w_dev.numel() > 100000:
        T[cur["m"]].append(time.process_time() - c0)


ST.AnalogStorage.commit = commit
orig_apply = L.apply_updates


def apply_updates(*a, **k):
    c0 = time.process_time()
    orig_apply(*a, **k)
    U[cur["m"]].append(time.process_time() - c0)


L.apply_updates = apply_updates
for r in range(reps + 2):
    x, y = data[0].batch(slice(64 * (r % 10), 64 * (r % 10 + 1)))
    for m in modes if r % 2 == 0 else tuple(reversed(modes)):
        K.set_mode(kern[m])
        ST.E.fused_update = fused_update if m == "fused" else (lambda *a, **k: False)
        cur["m"] = m
        tr[m].train_step(x, y)
ST.E.fused_update = fused_update
print(json.dumps({"args": args, "commit_784x500_ms": {m: round(statistics.median(v[2:]) * 1e3, 3) for m, v in T.items()},
                  "apply_updates_ms": {m: round(statistics.median(v[2:]) * 1e3, 3) for m, v in U.items()},
                  "ran": K.ran()}))
