"""vgg_crnn: saturation of EP's free equilibrium against the twin's feed-forward pass, our setting
against the published line's (no training).

python benchmarks/model_defaults_crnn_s15/sat_probe.py TAG [--ckpt RUN/checkpoint.pt] [--images N] [--set k=v ...]
(run from the repository root). The model as `analog-ep train --set algorithm=ep` builds it
(make_trainer: vgg_crnn family defaults, channels [8,16,32,32,32], seed 0 unless --set seed=S, the
--sets, e.g. model.activation=hard_sigmoid, data.std_scale=3, model.gains=[...]), fp32.
--ckpt: load a finished run's weights (its checkpoint's "model" state) before probing; the
activation and input scaling are the --sets', not the run's (weights only).
One JSON line:
- ff_std, ff_at0, ff_at1: the twin's pass (model.ff_states) on the first 256 training images: per
  node the state's std and the fraction of units at 0 / at the upper bound 1;
- EP's free phase from zeros with the run's own solver (solver.free_iters, solver.tol) on the first
  N (default 64) training images, batches of data.batch_size: converged fraction, mean sweeps, per
  node the fraction at 0 / at 1 (eq_at0, eq_at1); eq_minus_ff_at1: mean over nodes 1-10 of
  |eq_at1 - ff_at1| on the same N images; eq_sample_std / ff_sample_std: per node, the mean over
  units of the std over the N images; out_sample_std_eq / _ff: that of the output;
- acc_eq / acc_ff: argmax of the output at the equilibrium / the twin's pass against the labels of
  the N images (meaningful with --ckpt).
"""
import json
import sys
import time

import torch

from analog_ep.config import load_config
from analog_ep.train.loop import make_trainer

args = sys.argv[1:]
tag, args = args[0], args[1:]
ckpt, images, sets = None, 64, []
while args:
    a = args.pop(0)
    if a == "--ckpt":
        ckpt = args.pop(0)
    elif a == "--images":
        images = int(args.pop(0))
    elif a != "--set":
        sets.append(a)
base = ["model.name=vgg_crnn", "algorithm=ep", "model.channels=[8,16,32,32,32]", "data.name=fashion_mnist",
        "data.root=/work/shared/data/fashion-mnist", "data.train_size=2000", "data.test_size=1000"]
cfg = load_config(None, base + sets)
torch.set_grad_enabled(False)
t0 = time.process_time()
tr = make_trainer(cfg, f"/tmp/V15/sat_probe/{tag}")
model, solver = tr.model, tr.rule.solver
if ckpt:
    model.load_state_dict(torch.load(ckpt, weights_only=False, map_location="cpu")["model"])


def r(v, n=3):
    return [round(float(t), n) for t in v]


def g3(v):
    return float(f"{float(v):.3g}")


x, _ = tr.train_set.batch(slice(0, 256))
ff = model.ff_states(x)
rec = {"tag": tag, "sets": sets, "ckpt": ckpt, "seed": cfg.seed, "activation": cfg.model.activation,
       "std_scale": cfg.data.std_scale, "input_std": g3(x.std()),
       "ff_std": [g3(s.std()) for s in ff],
       "ff_at0": r((s <= 0).double().mean() for s in ff[:-1]),
       "ff_at1": r((s >= 1).double().mean() for s in ff[:-1])}
bs = cfg.data.batch_size
conv, steps, at0, at1, fat1, eqs, ffs, ys = [], [], [], [], [], [], [], []
for i in range(0, images, bs):
    xb, yb = tr.train_set.batch(slice(i, i + bs))
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
    ys.append(yb)
eq1, f1 = torch.stack(at1).mean(0), torch.stack(fat1).mean(0)
y = torch.cat(ys)


def sample_std(batches):
    return [g3(torch.cat(v).std(0).mean()) for v in zip(*batches)]


es, fs = sample_std(eqs), sample_std(ffs)
rec.update({"images": images, "free_iters": cfg.solver.free_iters, "tol": cfg.solver.tol,
            "converged": round(float(torch.stack(conv).mean()), 3),
            "mean_sweeps": round(float(torch.stack(steps).mean()), 1),
            "eq_at0": r(torch.stack(at0).mean(0)), "eq_at1": r(eq1), "ff_at1_n": r(f1),
            "eq_minus_ff_at1": round(float((eq1 - f1).abs().mean()), 3),
            "eq_sample_std": es, "ff_sample_std": fs,
            "out_sample_std_eq": es[-1], "out_sample_std_ff": fs[-1],
            "acc_eq": round(float((torch.cat([e[-1] for e in eqs]).argmax(1) == y).double().mean()), 3),
            "acc_ff": round(float((torch.cat([f[-1] for f in ffs]).argmax(1) == y).double().mean()), 3),
            "cpu_s": round(time.process_time() - t0, 1)})
print(json.dumps(rec), flush=True)
