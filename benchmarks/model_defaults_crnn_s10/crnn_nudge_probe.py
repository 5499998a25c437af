"""vgg_crnn: EP's gradient estimate under a training run's phase budgets against the exact gradient.

python crnn_nudge_probe.py BETAS VARIANTS [--set k=v ...]: float64, the first 4 Fashion-MNIST
training images at the family init (seed 0; CKPT=checkpoint.pt: a run's trained weights). The exact gradient (implicit differentiation) is
taken at a free fixed point relaxed to 1e-7; the estimate starts its nudged phases either from that
state ("free=exact") or from a training run's free phase (200 sweeps from zeros, tol 1e-4:
"free=train"; with PREC=32 in the environment, the training run's float32: a float32 copy of the
model and input run the training free phase and the nudged phases). VARIANTS: comma list of NUDGE_ITERS:TOL:RTOL. One JSON line per (free, beta,
variant): per-layer cosines, the sweeps each nudged phase ran, the fraction converged.
(s6's script; this session adds AUXK=k: the aux readouts' strength, model.aux_kappa, else the model's.)"""
import copy
import json
import os
import sys
import time

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
variants = [tuple(v.split(":")) for v in sys.argv[2].split(",")]
sets = [a for a in sys.argv[3:] if a != "--set"]
base = ["model.name=vgg_crnn", "model.channels=[8,16,32,32,32]", "data.name=fashion_mnist",
        "data.root=/work/shared/data/fashion-mnist", "data.train_size=2000", "data.test_size=1000"]
cfg = load_config(None, base + sets)
torch.set_grad_enabled(False)
train_set, _, info = load_data(cfg.data, cfg.seed)
model = build_model(cfg, info.shape, info.num_classes)
if os.environ.get("CKPT"):  # trained weights: a run's checkpoint.pt (CKPT=path)
    model.load_state_dict(torch.load(os.environ["CKPT"], weights_only=False, map_location="cpu")["model"])
model = model.double()
if os.environ.get("AUXK"):  # the aux readouts' strength (this session: 0 = a 2-epoch cosine run's epoch 2)
    model.aux_kappa = float(os.environ["AUXK"])
x, y = train_set.batch(slice(0, 4))
x = x.to(torch.float64)
target = one_hot(y, info.num_classes, torch.float64)
solver = build_rule(cfg, model, torch.device("cpu")).solver
const = model.const_drive(x)
t0 = time.time()
exact_free, st = solver(model, const, model.zero_state(4, x), iters=1500, tol=1e-7)
print(f"# exact free: {st.sweeps} sweeps, converged {st.converged.double().mean():.2f}, {time.time()-t0:.0f} s",
      file=sys.stderr, flush=True)
with torch.enable_grad():
    exact, info_ = implicit_gradient(model, x, target, exact_free)
frees = [("exact", exact_free, model, x, target, const)]
if os.environ.get("PREC") == "32":  # the estimate at the training run's precision
    m32, x32, t32 = copy.deepcopy(model).float(), x.float(), target.float()
    c32 = m32.const_drive(x32)
    frees = [("train32", None, m32, x32, t32, c32)]
else:
    m32, x32, t32, c32 = model, x, target, const
train_free, st_t = solver(m32, c32, m32.zero_state(4, x32), iters=cfg.solver.free_iters, tol=cfg.solver.tol)
frees.append(("train" if m32 is model else "train32", train_free, m32, x32, t32, c32))
frees = [f for f in frees if f[1] is not None]
print(f"# train free: {st_t.sweeps} sweeps, converged {st_t.converged.double().mean():.2f}", file=sys.stderr, flush=True)
def _groups(m, grads):
    """Per layer group (``m.layer_groups()``), its tensors' entries of ``grads`` (aligned with
    ``m.ep_parameters()``)."""
    index = {id(p): i for i, p in enumerate(m.ep_parameters())}
    return [[grads[index[id(p)]] for p in group] for group in m.layer_groups()]


names = [f"L{i}" for i in range(len(model.edges))] + [f"aux{i}" for i in range(len(model.aux_nodes))]
for free_name, free, mm, xx, tt, cc in frees:
    for beta in betas:
        for it, tol, rtol in variants:
            nudged, sweeps, conv = [], [], []
            for b in (beta, -beta):
                s, stn = solver(mm, cc, free, beta=b, target=tt, iters=int(it), tol=float(tol),
                                nudge_rtol=float(rtol))
                nudged.append(s)
                sweeps.append(stn.sweeps)
                conv.append(float(stn.converged.double().mean()))
            grads, _ = phase_estimate(mm, xx, tt, free, nudged, [beta, -beta])
            grads = [g.double() for g in grads]
            rows = _layer_rows(mm, names, grads, exact, beta, 0)
            # the fraction of weight entries whose sign matches the exact gradient's: what an
            # element-wise normalising optimiser (Adam) follows, unlike the cosine, which the
            # large entries dominate
            sign = [round(float((torch.sign(g[0]) == torch.sign(e[0])).double().mean()), 3)
                    for g, e in zip(_groups(mm, grads), _groups(mm, exact))]
            rec = {"free": free_name, "beta": beta, "nudge_iters": int(it), "tol": float(tol), "nudge_rtol": float(rtol),
                   "sweeps": sweeps, "converged": conv, "cos": [round(r["cosine"], 3) for r in rows], "sign": sign}
            print(json.dumps(rec), flush=True)
