"""dchn_vgg5 at init, float64: per sample, how far each nudged phase moves each node from the exact
free fixed point, divided by beta (beta-independent in the linear-response regime EP relies on).
python dchn_sample_probe.py BETAS [--set k=v ...]: the first 16 images of the 2,000-image subset
(seed 0: the training run's data; N=64 in the environment: the first 64), nudged phases with solver.nudge_rtol 0.01 up to 400 sweeps.
One JSON line per (beta, sign): per sample, max over the node of |s_nudged - s_free| / beta for
nodes 1-4 (hidden) and the output, and units whose clamp saturation changed."""
import json
import os
import sys

import torch

from analog_ep.algorithms.rules import build_rule
from analog_ep.config import load_config
from analog_ep.data import load_data
from analog_ep.train.build import build_model
from analog_ep.train.loop import one_hot

betas = [float(b) for b in sys.argv[1].split(",")]
sets = [a for a in sys.argv[2:] if a != "--set"]
cfg = load_config(None, ["model.name=dchn_vgg5", "model.channels=[16,32,64,64]", "data.name=fashion_mnist",
                         "data.root=/work/shared/data/fashion-mnist", "data.train_size=2000",
                         "solver.nudge_rtol=0.01"] + sets)
torch.set_grad_enabled(False)
train_set, _, info = load_data(cfg.data, cfg.seed)
model = build_model(cfg, info.shape, info.num_classes).double()
N = int(os.environ.get("N", "16"))
x, y = train_set.batch(slice(0, N))
x = x.to(torch.float64)
target = one_hot(y, info.num_classes, torch.float64)
solver = build_rule(cfg, model, torch.device("cpu")).solver
const = model.const_drive(x)
free, st = solver(model, const, model.zero_state(N, x), iters=1500, tol=1e-7)
print(f"# free: {st.sweeps} sweeps, converged {st.converged.double().mean():.2f}", file=sys.stderr)
for beta in betas:
    for b in (beta, -beta):
        s, stn = solver(model, const, free, beta=b, target=target, iters=400, tol=1e-7)
        moved = [[round(float((a - f)[i].abs().max()) / beta, 3) for i in range(N)] for a, f in zip(s, free)]
        sat = [int(sum(int((act.saturated(a[i]) != act.saturated(f[i])).sum())
                       for act, a, f in zip(model.activations, s[:-1], free[:-1]))) for i in range(N)]
        print(json.dumps({"beta": b, "sweeps": stn.sweeps, "converged": stn.converged.tolist(),
                          "moved_over_beta": moved, "sat_changes": sat}), flush=True)
