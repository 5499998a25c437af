"""Free-phase settling on a trained hopfield_resnet13 run (issue 21, session 6): relax training
batches with the run's async solver, float32, tol 1e-4, either from zeros or warm (from the
previous batch's free state, as ``ep.warm_start`` does in training), and print one JSON line per
start: converged fraction after ITERS sweeps, mean sweeps to tol, and the converged fraction at
budgets 120 / 250 (samples whose step count is within that budget).

python res_probe_trained.py RUN_DIR [ITERS] [BATCH] [NBATCH] [--set k=v ...]
"""
import json
import sys
import time

import torch

from analog_ep.config import load_config
from analog_ep.data import load_data
from analog_ep.solvers import get_solver
from analog_ep.train.build import build_model

torch.set_num_threads(1)
run = sys.argv[1]
iters = int(sys.argv[2]) if len(sys.argv) > 2 else 300
batch = int(sys.argv[3]) if len(sys.argv) > 3 else 32
nbatch = int(sys.argv[4]) if len(sys.argv) > 4 else 3
over = [s for s in sys.argv[5:] if s != "--set"]
ckpt = torch.load(f"{run}/checkpoint.pt", weights_only=False, map_location="cpu")
path = f"/tmp/D/s6/probe_{abs(hash(run))}.yaml"
open(path, "w").write(ckpt["config_yaml"])
cfg = load_config(path, over)
train, _, info = load_data(cfg.data, cfg.seed)
model = build_model(cfg, info.shape, info.num_classes)
model.load_state_dict(ckpt["model"])
solver = get_solver(cfg.solver.name)
prev = None
for k in range(nbatch):
    x, y = train.batch(torch.arange(k * batch, (k + 1) * batch))
    const = model.const_drive(x)
    for start in ("zeros", "warm"):
        if start == "warm" and prev is None:
            continue
        s0 = model.zero_state(batch, x) if start == "zeros" else prev
        t = time.time()
        with torch.no_grad():
            s, st = solver(model, const, s0, iters=iters, tol=cfg.solver.tol, damping=cfg.solver.damping)
        steps = st.steps.double()
        conv = st.converged
        out = {"run": run, "epoch": ckpt["epoch"], "set": over, "batch": k, "start": start, "iters": iters,
               "converged": float(conv.double().mean()), "mean_steps": float(steps.mean()),
               "conv_at_120": float((conv & (steps <= 120)).double().mean()),
               "conv_at_250": float((conv & (steps <= 250)).double().mean()),
               "acc": float((model.output(s).argmax(1) == y).double().mean()),
               "seconds": round(time.time() - t, 1)}
        print(json.dumps(out), flush=True)
        if start == "zeros":
            zero_free = [t_.detach().clone() for t_ in s]
    prev = zero_free
