"""vgg_crnn: does the free phase settle at these settings? (python settle_probe.py TAG [--set k=v ...])

The model as `analog-ep train` builds it (make_trainer: family defaults + the --sets), fp32, the
first 256 Fashion-MNIST training images in batches of data.batch_size; the free phase from zeros
with the run's own solver, solver.free_iters and solver.tol (what EP's free phase does at the
first step). Prints one JSON line: converged fraction, mean per-sample sweeps to tol, per-node fraction of units at
0 and at 1 at the free state, and the feed-forward twin's output std on the same images."""
import json
import sys

import torch

from analog_ep.config import load_config
from analog_ep.train.loop import make_trainer

tag, sets = sys.argv[1], [a for a in sys.argv[2:] if a != "--set"]
base = ["model.name=vgg_crnn", "algorithm=ep", "model.channels=[8,16,32,32,32]", "data.name=fashion_mnist",
        "data.root=/work/shared/data/fashion-mnist", "data.train_size=10000", "data.test_size=2000"]
cfg = load_config(None, base + sets)
torch.set_grad_enabled(False)
tr = make_trainer(cfg, f"/tmp/E13/settle/{tag}")
model, solver = tr.model, tr.rule.solver
conv, steps, sweeps, at0, at1, ffstd = [], [], [], [], [], []
bs = cfg.data.batch_size
for i in range(0, 256, bs):
    x, _ = tr.train_set.batch(slice(i, i + bs))
    s, st = solver(model, model.const_drive(x), model.zero_state(x.shape[0], x), iters=cfg.solver.free_iters,
                   tol=cfg.solver.tol)
    conv.append(st.converged.double().mean())
    sweeps.append(float(st.sweeps))
    steps.append(st.steps.double().mean())
    at0.append(torch.stack([(v <= 0).double().mean() for v in s[:-1]]))
    at1.append(torch.stack([(v >= 1).double().mean() for v in s[:-1]]))
    ffstd.append(model.ff_states(x)[-1].std())
print(json.dumps({"tag": tag, "sets": sets, "free_iters": cfg.solver.free_iters, "tol": cfg.solver.tol,
                  "converged": round(float(torch.stack(conv).mean()), 3),
                  "mean_steps": round(float(torch.stack(steps).mean()), 1), "batch_sweeps": sweeps,
                  "eq_at0": [round(float(v), 3) for v in torch.stack(at0).mean(0)],
                  "eq_at1": [round(float(v), 3) for v in torch.stack(at1).mean(0)],
                  "ff_out_std": float(f"{float(torch.stack(ffstd).mean()):.3g}")}), flush=True)
