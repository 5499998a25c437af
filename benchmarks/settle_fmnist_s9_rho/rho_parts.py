"""CPU time per settle EP step and the part spent measuring rho (the power iterations), on
F-MNIST 784-500-10 (memristor card, batch 64, settle): medians over steps. Runs the code it
imports: the current tree (times settle._power_rate, where every measurement goes) or, with
PYTHONPATH set to a copy of the code before the change, that code (times settle.slowest_rate).
Usage (repo root, venv):

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 [PYTHONPATH=BASE] python benchmarks/settle_fmnist_s9_rho/rho_parts.py [--reps N] [key=value ...]
"""
import json, statistics, sys, time

import torch

torch.set_num_threads(1)
import analog_ep.solvers.settle as ST
from analog_ep.config import load_config
from analog_ep.data import load_data
from analog_ep.train.loop import make_trainer

args = sys.argv[1:]
reps = 10
if args and args[0] == "--reps":
    reps, args = int(args[1]), args[2:]
name = "_power_rate" if hasattr(ST, "_power_rate") else "slowest_rate"
acc = [0.0]
_f = getattr(ST, name)


def timed(*a, **k):
    t = time.process_time()
    r = _f(*a, **k)
    acc[0] += time.process_time() - t
    return r


setattr(ST, name, timed)
S = ["analog.device=memristor", "data.root=/work/shared/data/fashion-mnist", "data.train_size=640",
     "data.test_size=64", "analog.relaxation=settle"] + args
cfg = load_config("configs/hopfield_mlp_fmnist.yaml", S)
data = load_data(cfg.data, 0)
tr = make_trainer(cfg, None, data=(data[0], data[0], data[2]))
step, rho = [], []
for r in range(reps + 2):
    x, y = data[0].batch(slice(64 * (r % 10), 64 * (r % 10 + 1)))
    acc[0] = 0.0
    t0 = time.process_time()
    tr.train_step(x, y)
    if r >= 2:
        step.append(time.process_time() - t0)
        rho.append(acc[0])
print(json.dumps({"code": ST.__file__, "timed": name, "args": args, "load": open("/proc/loadavg").read().split()[:3],
                  "step_ms": round(statistics.median(step) * 1e3, 2), "rho_ms": round(statistics.median(rho) * 1e3, 2)}))
