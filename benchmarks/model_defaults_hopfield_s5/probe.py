"""Free-phase settling probe (issue 21, session 5): relax one Fashion-MNIST batch from zeros at a
model's init and print the residual trace, the converged fraction and the energy before/after.

python benchmarks/model_defaults_hopfield_s5/probe.py MODEL "--set k=v ..." [iters] [batch]
"""
import json
import shlex
import sys
import time

import torch

from analog_ep.config import load_config
from analog_ep.data import load_data
from analog_ep.solvers import get_solver
from analog_ep.train.build import build_model

torch.set_num_threads(1)
name, sets = sys.argv[1], shlex.split(sys.argv[2]) if len(sys.argv) > 2 else []
iters = int(sys.argv[3]) if len(sys.argv) > 3 else 200
batch = int(sys.argv[4]) if len(sys.argv) > 4 else 16
over = [s for s in sets if s != "--set"]
cfg = load_config(None, [f"model.name={name}", "data.name=fashion_mnist",
                         "data.root=/work/shared/data/fashion-mnist", "data.train_size=1000", "data.test_size=100",
                         *over])
train, _, info = load_data(cfg.data, cfg.seed)
x, y = train.batch(torch.arange(batch))
model = build_model(cfg, tuple(x.shape[1:]), 10)
if cfg.compute.precision == "float64":
    model.double(); x = x.double()
solver = get_solver(cfg.solver.name)
const = model.const_drive(x)
s0 = model.zero_state(batch, x)
t = time.time()
s, st = solver(model, const, s0, iters=iters, tol=cfg.solver.tol, damping=cfg.solver.damping)
dt = time.time() - t
e0, e1 = model.energy(x, s0).mean().item(), model.energy(x, s).mean().item()
tr = st.trace.tolist()
marks = {n: tr[n - 1] for n in (1, 5, 10, 20, 40, 60, 80, 120, 160, 200, 300, 400, 600) if n <= len(tr)}
sat = [float(((a <= 0) | (a >= model.activations[k].hi)).double().mean()) for k, a in enumerate(s[:-1])]
mean_act = [float(a.mean()) for a in s]
print(json.dumps({"model": name, "set": over, "iters": iters, "sweeps": st.sweeps,
                  "converged": float(st.converged.double().mean()), "mean_steps": float(st.steps.double().mean()),
                  "energy0": e0, "energy1": e1, "trace": {k: f"{v:.2e}" for k, v in marks.items()},
                  "sat_frac": [round(v, 3) for v in sat], "mean_state": [round(v, 4) for v in mean_act],
                  "seconds": round(dt, 1)}))
