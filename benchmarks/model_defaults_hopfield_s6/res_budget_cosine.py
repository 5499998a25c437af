"""EP's gradient at a training budget against the exact gradient, on a trained run's weights
(issue 21, session 6): the exact gradient is implicit differentiation at the float64 free fixed
point relaxed to tol 1e-7 (as ``analog-ep gradcheck``); EP's estimate is the float32 one that
training computes (``ep_gradient`` with the run's solver, beta and estimator, from zeros) at each
FREE/NUDGE budget, tol 1e-4. Prints one JSON line per budget: cosine of the whole gradient
vector, min / median per-layer cosine, norm ratio, free and nudged converged fractions.

python res_budget_cosine.py RUN_DIR BATCH FREE/NUDGE [FREE/NUDGE ...] [--set k=v ...]
"""
import copy
import json
import sys

import torch

from analog_ep.algorithms.ep import ep_gradient
from analog_ep.algorithms.implicit import implicit_gradient
from analog_ep.config import load_config
from analog_ep.data import load_data
from analog_ep.solvers import get_solver
from analog_ep.train.build import build_model
from analog_ep.train.loop import one_hot

torch.set_num_threads(1)
run, batch = sys.argv[1], int(sys.argv[2])
budgets = [tuple(int(v) for v in a.split("/")) for a in sys.argv[3:] if "/" in a and "=" not in a]
over = [a for a in sys.argv[3:] if "=" in a]
ckpt = torch.load(f"{run}/checkpoint.pt", weights_only=False, map_location="cpu")
path = f"/tmp/D/s6/cos_{abs(hash(run))}.yaml"
open(path, "w").write(ckpt["config_yaml"])
cfg = load_config(path, over)
train, _, info = load_data(cfg.data, cfg.seed)
model = build_model(cfg, info.shape, info.num_classes)
model.load_state_dict(ckpt["model"])
solver = get_solver(cfg.solver.name)
x, y = train.batch(torch.arange(batch))

m64 = copy.deepcopy(model).double()
x64 = x.double()
with torch.no_grad():
    free64, st = solver(m64, m64.const_drive(x64), m64.zero_state(batch, x64), iters=3000, tol=1e-7)
exact, _ = implicit_gradient(m64, x64, one_hot(y, info.num_classes, torch.float64), free64)
exact = [e.double().flatten() for e in exact]
head = {"run": run, "epoch": ckpt["epoch"], "batch": batch, "set": over,
        "exact_free_converged": float(st.converged.double().mean()), "exact_free_sweeps": st.sweeps}
print(json.dumps(head), flush=True)


def cos(a, b):
    return float(a @ b / (a.norm() * b.norm() + 1e-300))


for free_iters, nudge_iters in budgets:
    res = ep_gradient(model, x, one_hot(y, info.num_classes, torch.float32), model.zero_state(batch, x), solver,
                      beta=cfg.ep.beta, estimator=cfg.ep.estimator, free_iters=free_iters, nudge_iters=nudge_iters,
                      tol=cfg.solver.tol, generator=torch.Generator().manual_seed(0))
    g = [r.double().flatten() for r in res.grads]
    layer = sorted(cos(a, b) for a, b in zip(g, exact))
    ga, ea = torch.cat(g), torch.cat(exact)
    print(json.dumps({"free_iters": free_iters, "nudge_iters": nudge_iters, "beta": cfg.ep.beta,
                      "cosine": round(cos(ga, ea), 4), "layer_cos_min": round(layer[0], 4),
                      "layer_cos_median": round(layer[len(layer) // 2], 4),
                      "norm_ratio": round(float(ga.norm() / ea.norm()), 3),
                      **{f"{k}_converged": round(float(v.converged.double().mean()), 3) for k, v in res.stats.items()},
                      **{f"{k}_mean_steps": round(float(v.steps.double().mean()), 1) for k, v in res.stats.items()}}),
          flush=True)
