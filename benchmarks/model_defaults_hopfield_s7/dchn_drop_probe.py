"""dchn_vgg5 at init, float64: would dropping the samples that tip (section 2 of the record) make
EP's estimate match the exact gradient? python dchn_drop_probe.py BETAS [K [--set k=v ...]]: the first N=64 (env)
images of the 2,000-image subset (seed 0), exact free state (tol 1e-7), centered nudged phases
with solver.nudge_rtol 0.01 up to 40 sweeps (the training budget). A sample tips when, in either
phase, some hidden node moved more than K (default 5) times that node's median over the batch of
max|s - s_free| / beta. Per beta: per-layer cosine and relative error of the estimate over all
samples against the exact gradient over all, and over the kept samples against the exact
gradient over the kept (implicit differentiation of their mean loss). FREE=train in the
environment: the nudged phases start from a training run's free phase instead (solver.free_iters
sweeps from zeros at solver.tol, float64), the exact gradient stays at the exact free state."""
import json
import os
import sys

import torch

from analog_ep.algorithms.ep import phase_estimate
from analog_ep.algorithms.gradcheck import _layer_rows
from analog_ep.algorithms.implicit import implicit_gradient
from analog_ep.algorithms.rules import build_rule
from analog_ep.config import load_config
from analog_ep.data import load_data
from analog_ep.train.build import build_model
from analog_ep.train.loop import one_hot

betas = [float(b) for b in sys.argv[1].split(",")]
K = float(sys.argv[2]) if len(sys.argv) > 2 else 5.0
sets = [a for a in sys.argv[3:] if a != "--set"]  # e.g. --set solver.free_iters=200 --set solver.tol=1e-6
N = int(os.environ.get("N", "64"))
cfg = load_config(None, ["model.name=dchn_vgg5", "model.channels=[16,32,64,64]", "data.name=fashion_mnist",
                         "data.root=/work/shared/data/fashion-mnist", "data.train_size=2000",
                         "solver.nudge_rtol=0.01"] + sets)
torch.set_grad_enabled(False)
train_set, _, info = load_data(cfg.data, cfg.seed)
model = build_model(cfg, info.shape, info.num_classes).double()
x, y = train_set.batch(slice(0, N))
x = x.to(torch.float64)
target = one_hot(y, info.num_classes, torch.float64)
solver = build_rule(cfg, model, torch.device("cpu")).solver
free, st = solver(model, model.const_drive(x), model.zero_state(N, x), iters=1500, tol=1e-7)
print(f"# free: {st.sweeps} sweeps, converged {st.converged.double().mean():.2f}", file=sys.stderr)
start = free
if os.environ.get("FREE") == "train":
    start, st_t = solver(model, model.const_drive(x), model.zero_state(N, x), iters=cfg.solver.free_iters,
                         tol=cfg.solver.tol)
    print(f"# train free: {st_t.sweeps} sweeps, converged {st_t.converged.double().mean():.2f}", file=sys.stderr)
names = [f"L{i}" for i in range(len(model.edges))]


def sub(states, idx):
    return [s[idx] for s in states]


with torch.enable_grad():
    exact_all, _ = implicit_gradient(model, x, target, free)
for beta in betas:
    nudged, tipped = [], torch.zeros(N, dtype=torch.bool)
    for b in (beta, -beta):
        s, _ = solver(model, model.const_drive(x), start, beta=b, target=target, iters=40, tol=1e-7)
        nudged.append(s)
        for a, f in zip(s[:-1], start[:-1]):
            moved = (a - f).flatten(1).abs().amax(1)
            tipped |= moved > K * moved.median()
    keep = (~tipped).nonzero().flatten()
    grads, _ = phase_estimate(model, x, target, start, nudged, [beta, -beta])
    rows_all = _layer_rows(model, names, grads, exact_all, beta, 0)
    xk, tk, fk = x[keep], target[keep], sub(free, keep)
    with torch.enable_grad():
        exact_k, _ = implicit_gradient(model, xk, tk, fk)
    gk, _ = phase_estimate(model, xk, tk, sub(start, keep), [sub(n, keep) for n in nudged], [beta, -beta])
    rows_k = _layer_rows(model, names, gk, exact_k, beta, 0)
    print(json.dumps({"beta": beta, "K": K, "tipped": tipped.nonzero().flatten().tolist(),
                      "cos_all": [round(r["cosine"], 3) for r in rows_all],
                      "rel_all": [round(r["rel_error"], 3) for r in rows_all],
                      "cos_kept": [round(r["cosine"], 3) for r in rows_k],
                      "rel_kept": [round(r["rel_error"], 3) for r in rows_k]}), flush=True)
