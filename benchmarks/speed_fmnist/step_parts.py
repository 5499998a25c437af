"""CPU time of an EP training step's parts outside the relaxation sweeps, analog (numba kernels) and
digital alternating in one process: the whole step, the solver calls (the sweeps), the constant
drive (the input layer's read), the estimator (``phase_estimate``), ``apply_updates`` (optimizer,
pulsed update) and the rest. Medians per step over ``--reps`` steps after two warm-up steps.
Usage (repo root):

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/speed_fmnist/step_parts.py [--reps N] [key=value ...]

Prints one JSON line (ms CPU per step).
"""
import dataclasses, json, statistics, sys, time

import torch

torch.set_num_threads(1)
from analog_ep.algorithms import ep as EP
from analog_ep.analog import kernels as K
from analog_ep.config import AnalogConfig, load_config
from analog_ep.data import load_data
from analog_ep.train import loop as L
from analog_ep.train.loop import make_trainer

args = sys.argv[1:]
reps = 8
if args and args[0] == "--reps":
    reps, args = int(args[1]), args[2:]
S = ["analog.device=memristor", "data.root=/work/shared/data/fashion-mnist", "data.train_size=640",
     "data.test_size=64", "compute.kernels=numba"] + args
cfg = load_config("configs/hopfield_mlp_fmnist.yaml", S)
data = load_data(cfg.data, cfg.seed)
d3 = (data[0], data[0], data[2])
tr = {"analog": make_trainer(cfg, None, data=d3),
      "digital": make_trainer(dataclasses.replace(cfg, analog=AnalogConfig(), device={}), None, data=d3)}
K.set_mode("numba")
acc = {}


def timed(name, f):
    def g(*a, **k):
        c0 = time.process_time()
        r = f(*a, **k)
        acc[name] = acc.get(name, 0.0) + time.process_time() - c0
        return r
    return g


for t in tr.values():
    t.rule.solver = timed("sweeps", t.rule.solver)
    t.model.const_drive = timed("const_drive", t.model.const_drive)
EP.phase_estimate = timed("estimate", EP.phase_estimate)
L.apply_updates = timed("apply_updates", L.apply_updates)
parts = ("step", "sweeps", "const_drive", "estimate", "apply_updates")
res = {m: {p: [] for p in parts + ("rest", "fixed")} for m in tr}
for r in range(reps + 2):
    x, y = data[0].batch(slice(64 * (r % 10), 64 * (r % 10 + 1)))
    for m in (("analog", "digital") if r % 2 == 0 else ("digital", "analog")):
        acc.clear()
        c0 = time.process_time()
        tr[m].train_step(x, y)
        acc["step"] = time.process_time() - c0
        if r < 2:
            continue
        for p in parts:
            res[m][p].append(acc.get(p, 0.0))
        res[m]["fixed"].append(acc["step"] - acc["sweeps"])
        res[m]["rest"].append(acc["step"] - sum(acc.get(p, 0.0) for p in parts[1:]))
med = {m: {p: round(statistics.median(v) * 1e3, 3) for p, v in d.items()} for m, d in res.items()}
print(json.dumps({"args": args, "median_ms_cpu": med,
                  "analog_over_digital": round(med["analog"]["step"] / med["digital"]["step"], 3)}))
