"""dchn_vgg5: per layer, EP's target gradient (the exact gradient of the fixed-point loss, implicit
differentiation at a free state relaxed to 1e-7; s9 measured EP's estimate at cosine 0.985-1.0
against it) against the backprop twin's gradient (feed-forward pass) at the same weights.

CKPT=checkpoint.pt (optional) python ep_vs_bp_grads.py [--set k=v ...]: float64, the first N (env,
default 32) Fashion-MNIST training images. One JSON line: per weight layer (input conv first) the
norms of both gradients, their ratio |g_ep| / |g_bp| and their cosine."""
import json
import os
import sys

import torch

from analog_ep.algorithms.bp import bp_gradient
from analog_ep.algorithms.implicit import implicit_gradient
from analog_ep.algorithms.rules import build_rule
from analog_ep.config import load_config
from analog_ep.data import load_data
from analog_ep.train.build import build_model
from analog_ep.train.loop import one_hot

sets = [a for a in sys.argv[1:] if a != "--set"]
base = ["model.name=dchn_vgg5", "model.channels=[16,32,64,64]", "data.name=fashion_mnist",
        "data.root=/work/shared/data/fashion-mnist", "data.train_size=2000", "data.test_size=1000"]
cfg = load_config(None, base + sets)
torch.set_grad_enabled(False)
train_set, _, info = load_data(cfg.data, cfg.seed)
model = build_model(cfg, info.shape, info.num_classes)
if os.environ.get("CKPT"):
    model.load_state_dict(torch.load(os.environ["CKPT"], weights_only=False, map_location="cpu")["model"])
model = model.double()
n = int(os.environ.get("N", "32"))
x, y = train_set.batch(slice(0, n))
x = x.to(torch.float64)
target = one_hot(y, info.num_classes, torch.float64)
solver = build_rule(cfg, model, torch.device("cpu")).solver
free, st = solver(model, model.const_drive(x), model.zero_state(n, x), iters=1500, tol=1e-7)
with torch.enable_grad():
    ep, _ = implicit_gradient(model, x, target, free)
    bp, out, _ = bp_gradient(model, x, target)
index = {id(p): i for i, p in enumerate(model.ep_parameters())}
rows = []
for group in model.layer_groups():
    i = index[id(group[0])]
    a, b = ep[i].double().flatten(), bp[i].double().flatten()
    rows.append({"ep": float(a.norm()), "bp": float(b.norm()), "ratio": round(float(a.norm() / b.norm()), 3),
                 "cos": round(float(a @ b / (a.norm() * b.norm())), 3)})
print(json.dumps({"ckpt": os.environ.get("CKPT", "init"), "free_sweeps": st.sweeps,
                  "converged": float(st.converged.double().mean()), "layers": rows}), flush=True)
