"""vgg_crnn: does the free phase settle, and how does the signal pass through the twin?

python crnn_settle.py TAG [--set k=v ...]  (CKPT=run/checkpoint.pt: a run's trained weights;
CAP=c: the weights first held at operator norm <= c by train.spectral_cap's own SpectralCap, as after
a capped run's first update)
float32 as in training, the first 64 Fashion-MNIST training images (seed 0 init of the config).
One JSON line: per node of the feed-forward twin the mean activity and the fraction of units
strictly inside the clamp (0, 1) (where the twin passes gradient); the free phase at the
training budget (solver.free_iters, solver.tol from zeros): sweeps run, converged fraction,
the mean sweeps to converge per sample; and the same phase at 4x the budget."""
import json
import os
import sys
import time

import torch

from analog_ep.algorithms.rules import build_rule
from analog_ep.config import load_config
from analog_ep.data import load_data
from analog_ep.train.build import build_model

tag, sets = sys.argv[1], [a for a in sys.argv[2:] if a != "--set"]
base = ["model.name=vgg_crnn", "model.channels=[8,16,32,32,32]", "data.name=fashion_mnist",
        "data.root=/work/shared/data/fashion-mnist", "data.train_size=2000", "data.test_size=1000"]
# (s7's script; this session adds CAP)
cfg = load_config(None, base + sets)
torch.set_grad_enabled(False)
train_set, _, info = load_data(cfg.data, cfg.seed)
model = build_model(cfg, info.shape, info.num_classes)
if os.environ.get("CKPT"):
    model.load_state_dict(torch.load(os.environ["CKPT"], weights_only=False, map_location="cpu")["model"])
if os.environ.get("CAP"):
    from analog_ep.train.spectral_cap import SpectralCap
    SpectralCap(model, float(os.environ["CAP"]), 1, cfg.seed).apply(model)
x, _ = train_set.batch(slice(0, 64))
ff = model.ff_states(x)
rec = {"tag": tag, "sets": sets, "ckpt": os.environ.get("CKPT"), "cap": os.environ.get("CAP"),
       "ff_mean": [round(float(s.mean()), 3) for s in ff[:-1]],
       "ff_open": [round(float(((s > 0) & (s < 1)).float().mean()), 3) for s in ff[:-1]]}
solver = build_rule(cfg, model, torch.device("cpu")).solver
const = model.const_drive(x)
for name, iters in (("free", cfg.solver.free_iters), ("free4x", 4 * cfg.solver.free_iters)):
    t0 = time.time()
    s, st = solver(model, const, model.zero_state(64, x), iters=iters, tol=cfg.solver.tol)
    rec[name] = {"iters": iters, "sweeps": int(st.sweeps), "converged": round(float(st.converged.float().mean()), 3),
                 "mean_steps": round(float(st.steps.float().mean()), 1),
                 "s": round(time.time() - t0, 1)}
    rec[name]["eq_open"] = [round(float(((v > 0) & (v < 1)).float().mean()), 3) for v in s[:-1]]
print(json.dumps(rec), flush=True)
