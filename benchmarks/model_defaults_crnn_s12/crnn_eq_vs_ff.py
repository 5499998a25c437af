"""(s10's script, unchanged but this note) vgg_crnn: what EP trains (the free equilibrium) against what the BP twin trains (feed-forward).

python crnn_eq_vs_ff.py TAG [--set k=v ...]  (CKPT=run/checkpoint.pt: a run's trained weights)
float64, the first 16 Fashion-MNIST training images. The free equilibrium from zeros (tol 1e-7,
3000 sweeps); per hidden node: fraction of units at 0, inside (0, 1), at 1, for the feed-forward
twin (ff) and the equilibrium (eq); the total cost (output + aux, model.total_cost) at both;
per layer, the cosine between the exact gradient of the cost at the equilibrium (implicit
differentiation: what EP estimates) and the BP twin's gradient (autograd through ff)."""
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

tag, sets = sys.argv[1], [a for a in sys.argv[2:] if a != "--set"]
base = ["model.name=vgg_crnn", "model.channels=[8,16,32,32,32]", "data.name=fashion_mnist",
        "data.root=/work/shared/data/fashion-mnist", "data.train_size=2000", "data.test_size=1000"]
cfg = load_config(None, base + sets)
torch.set_grad_enabled(False)
train_set, _, info = load_data(cfg.data, cfg.seed)
model = build_model(cfg, info.shape, info.num_classes)
if os.environ.get("CKPT"):
    model.load_state_dict(torch.load(os.environ["CKPT"], weights_only=False, map_location="cpu")["model"])
model = model.double()
model.aux_kappa = 1.0
x, y = train_set.batch(slice(0, 16))
x = x.double()
target = one_hot(y, info.num_classes, torch.float64)
solver = build_rule(cfg, model, torch.device("cpu")).solver
eq, st = solver(model, model.const_drive(x), model.zero_state(16, x), iters=3000, tol=1e-7)
ff = model.ff_states(x)


def frac(states):
    return [[round(float((s <= 0).double().mean()), 3), round(float(((s > 0) & (s < 1)).double().mean()), 3),
             round(float((s >= 1).double().mean()), 3)] for s in states[:-1]]


with torch.enable_grad():
    g_eq, _ = implicit_gradient(model, x, target, eq)
    g_ff, _, _ = bp_gradient(model, x, target)
index = {id(p): i for i, p in enumerate(model.ep_parameters())}
cos = []
for group in model.layer_groups():
    a = torch.cat([g_eq[index[id(p)]].flatten() for p in group])
    b = torch.cat([g_ff[index[id(p)]].flatten() for p in group])
    cos.append(round(float(a @ b / (a.norm() * b.norm() + 1e-300)), 3))
rec = {"tag": tag, "sets": sets, "ckpt": os.environ.get("CKPT"), "eq_sweeps": int(st.sweeps),
       "eq_converged": round(float(st.converged.double().mean()), 3),
       "cost_eq": round(float(model.total_cost(eq, target).mean()), 4),
       "cost_ff": round(float(model.total_cost(ff, target).mean()), 4),
       "acc_eq": round(float((eq[-1].argmax(1) == y).double().mean()), 3),
       "acc_ff": round(float((ff[-1].argmax(1) == y).double().mean()), 3),
       "frac_0_open_1_ff": frac(ff), "frac_0_open_1_eq": frac(eq), "cos_eq_ff": cos}
print(json.dumps(rec), flush=True)
