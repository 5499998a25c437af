"""Where a settle EP step's CPU time goes, against an iterative one (numba kernels, memristor card,
784-500-10): settle (dt = tau) and iterative trainers alternating in one process, CPU time per EP
step, the nudged phases' slowest-rate estimate (settle.slowest_rate) and the stopping bookkeeping
(base.Stopper.update) timed inside; medians per step. Usage (repo root):

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/speed_fmnist/settle_parts.py [--reps N] [key=value ...]
"""
import collections, json, statistics, sys, time

import torch

torch.set_num_threads(1)
import analog_ep.solvers.base as SB
import analog_ep.solvers.settle as ST
from analog_ep.config import load_config
from analog_ep.data import load_data
from analog_ep.train.loop import make_trainer

args = sys.argv[1:]
reps = 8
if args and args[0] == "--reps":
    reps, args = int(args[1]), args[2:]
acc = collections.Counter()
_rate, _update = ST.slowest_rate, SB.Stopper.update


def rate(*a, **k):
    t = time.process_time()
    r = _rate(*a, **k)
    acc["slowest_rate"] += time.process_time() - t
    return r


def update(self, *a):
    t = time.process_time()
    r = _update(self, *a)
    acc["stopper"] += time.process_time() - t
    acc["steps"] += 1
    return r


ST.slowest_rate, SB.Stopper.update = rate, update
S = ["analog.device=memristor", "data.root=/work/shared/data/fashion-mnist", "data.train_size=640",
     "data.test_size=64", "compute.kernels=numba"] + args
runs = {"settle": ["analog.relaxation=settle", "analog.settle_dt_s=1e-7"],
        "iterative_default": [], "iterative_full": ["solver.tol=0", "solver.stop=tol"]}
data = load_data(load_config("configs/hopfield_mlp_fmnist.yaml", S).data, 0)
tr = {k: make_trainer(load_config("configs/hopfield_mlp_fmnist.yaml", S + v), None, data=(data[0], data[0], data[2]))
      for k, v in runs.items()}
rows = {k: collections.defaultdict(list) for k in runs}
for r in range(reps + 2):
    x, y = data[0].batch(slice(64 * (r % 10), 64 * (r % 10 + 1)))
    for name in (list(runs) if r % 2 == 0 else list(reversed(list(runs)))):
        acc.clear()
        t0 = time.process_time()
        tr[name].train_step(x, y)
        dt = time.process_time() - t0
        if r >= 2:
            rows[name]["step_s"].append(dt)
            for k in ("slowest_rate", "stopper", "steps"):
                rows[name][k].append(acc[k])
out = {}
for name, d in rows.items():
    m = {k: statistics.median(v) for k, v in d.items()}
    rest = m["step_s"] - m["slowest_rate"] - m["stopper"]
    out[name] = {"step_ms": round(m["step_s"] * 1e3, 2), "slowest_rate_ms": round(m["slowest_rate"] * 1e3, 2),
                 "stopper_ms": round(m["stopper"] * 1e3, 2), "sweeps_or_steps": m["steps"],
                 "rest_per_sweep_ms": round(rest / max(m["steps"], 1) * 1e3, 3)}
print(json.dumps({"args": args, "load": open("/proc/loadavg").read().split()[:3], "parts": out}))
