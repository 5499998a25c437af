"""vgg_crnn at initialisation: a per-layer gain profile's twin forward signal against EP's free equilibrium.

python gain_probe.py TAG GAINS [--cap B] [--images N] [--set k=v ...]   (run from the repository root)
GAINS: 11 comma-separated values (conv1..conv8, dense1, dense2, output), or one value for all 11.
The model as `analog-ep train` builds it (make_trainer: algorithm=ep, family defaults, channels
[8,16,32,32,32], model.gains=GAINS, the --sets; seed 0 unless --set seed=S), fp32, no training.
--cap B: build the run with train.spectral_cap=B and apply the run's own cap (SpectralCap.apply,
20 power-iteration steps) once before probing: the weights the cap leaves after the first update,
less that update.
Per profile, one JSON line:
- ops: each free coupling's operator norm (conv2..output; 40 power-iteration steps of the cap's
  own estimate, SpectralCap.sigma);
- the twin's feed-forward pass (model.ff_states) on the first 256 training images: per node the
  std of the state, the fraction of units at 0 (ff_at0) and at 1 (ff_at1), the output's std;
- EP's free phase from zeros with the run's own solver (solver.free_iters, solver.tol) on the first
  N (default 64) training images, batches of data.batch_size: converged fraction, mean sweeps,
  per node the fraction at 0 / at 1 at the equilibrium (eq_at0, eq_at1) and the relative distance
  |s_eq - s_ff| / |s_ff| of the equilibrium from the twin's pass on the same images (rel_dist);
  eq_minus_ff_at1: the mean over nodes 1-10 of |eq_at1 - ff_at1| (same N images); eq_sample_std and
  ff_sample_std: per node, the mean over units of the std over the N images (how much of the state
  depends on the image; a unit pinned at a bound for every image contributes 0).
"""
import json
import sys
import time

import torch

from analog_ep.config import load_config
from analog_ep.train.loop import make_trainer

args = sys.argv[1:]
tag, gtxt, args = args[0], args[1], args[2:]
cap, images, sets = None, 64, []
while args:
    a = args.pop(0)
    if a == "--cap":
        cap = float(args.pop(0))
    elif a == "--images":
        images = int(args.pop(0))
    elif a != "--set":
        sets.append(a)
g = [float(v) for v in gtxt.split(",")]
g = g * 11 if len(g) == 1 else g
base = ["model.name=vgg_crnn", "algorithm=ep", "model.channels=[8,16,32,32,32]", "data.name=fashion_mnist",
        "data.root=/work/shared/data/fashion-mnist", "data.train_size=2000", "data.test_size=1000",
        f"model.gains=[{','.join(str(v) for v in g)}]"] + ([f"train.spectral_cap={cap}"] if cap else [])
cfg = load_config(None, base + sets)
torch.set_grad_enabled(False)
t0 = time.process_time()
tr = make_trainer(cfg, f"/tmp/V14/gain_probe/{tag}")
model, solver = tr.model, tr.rule.solver
if cap:
    tr.cap.apply(model)
from analog_ep.train.spectral_cap import SpectralCap  # noqa: E402  (the cap's own estimate)

est = SpectralCap(model, 1.0, seed=cfg.seed)
syns = model.free_couplings()
est._start(syns, [s.storage.weight for s in syns])
ops = [float(f"{float(est.sigma(s, s.storage.weight, i, 40)):.3g}") for i, s in enumerate(syns)]


def r(v, n=3):
    return [round(float(t), n) for t in v]


x, _ = tr.train_set.batch(slice(0, 256))
ff = model.ff_states(x)
rec = {"tag": tag, "gains": g, "cap": cap, "seed": cfg.seed, "ops": ops,
       "ff_std": [float(f"{float(s.std()):.3g}") for s in ff],
       "ff_at0": r((s <= 0).double().mean() for s in ff[:-1]),
       "ff_at1": r((s >= 1).double().mean() for s in ff[:-1])}
bs = cfg.data.batch_size
conv, steps, at0, at1, fat1, dist, eqs, ffs = [], [], [], [], [], [], [], []
for i in range(0, images, bs):
    xb, _ = tr.train_set.batch(slice(i, i + bs))
    s, st = solver(model, model.const_drive(xb), model.zero_state(xb.shape[0], xb), iters=cfg.solver.free_iters,
                   tol=cfg.solver.tol)
    f = model.ff_states(xb)
    conv.append(st.converged.double().mean())
    steps.append(st.steps.double().mean())
    at0.append(torch.stack([(v <= 0).double().mean() for v in s[:-1]]))
    at1.append(torch.stack([(v >= 1).double().mean() for v in s[:-1]]))
    fat1.append(torch.stack([(v >= 1).double().mean() for v in f[:-1]]))
    eqs.append(s)
    ffs.append(f)
    dist.append(torch.stack([(a - b).norm() / b.norm().clamp_min(1e-30) for a, b in zip(s, f)]))
eq1, f1 = torch.stack(at1).mean(0), torch.stack(fat1).mean(0)


def sample_std(batches):
    return [float(f"{float(torch.cat(v).std(0).mean()):.3g}") for v in zip(*batches)]


rec.update({"images": images, "free_iters": cfg.solver.free_iters, "tol": cfg.solver.tol,
            "converged": round(float(torch.stack(conv).mean()), 3),
            "mean_sweeps": round(float(torch.stack(steps).mean()), 1),
            "eq_at0": r(torch.stack(at0).mean(0)), "eq_at1": r(eq1),
            "rel_dist": [float(f"{float(v):.3g}") for v in torch.stack(dist).mean(0)],
            "eq_minus_ff_at1": round(float((eq1 - f1).abs().mean()), 3),
            "eq_sample_std": sample_std(eqs), "ff_sample_std": sample_std(ffs),
            "cpu_s": round(time.process_time() - t0, 1)})
print(json.dumps(rec), flush=True)
