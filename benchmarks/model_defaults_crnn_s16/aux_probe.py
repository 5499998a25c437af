"""vgg_crnn at a trained run's weights: what each auxiliary readout and the output classify, in the
twin's feed-forward pass and in EP's free equilibrium, and how saturated / image-dependent each node is.

python benchmarks/model_defaults_crnn_s16/aux_probe.py TAG RUN [--images N] [--set k=v ...]
(run from the repository root). The model as `analog-ep train` builds it with the common settings of
run.sh (vgg_crnn, channels [8,16,32,32,32], Fashion-MNIST 2,000 / 1,000, seed 0) plus the --sets
(give the run's own: activation, std_scale, aux_nodes, ...), then RUN/checkpoint.pt's weights
("model" state). On the first N (default 256) *test* images, batches of data.batch_size:
- ff: the twin's pass (model.ff_states); eq: EP's free phase from zeros with the run's own solver
  (solver.free_iters, solver.tol); converged fraction and mean sweeps of the free phase;
- per hidden node 1..L-1: fraction of units at 0 and at the upper bound 1 (at0 / at1), and the mean
  over units of the std over images (sample_std: how much of the node depends on the image);
- acc_out: argmax of the output against the labels; acc_aux: per aux node (model.aux_nodes order),
  argmax of that node's readout (model.aux_logits) against the labels.
One JSON line. Writes only a run folder for the trainer under /tmp/S16E_runs/probe/TAG.
"""
import json
import sys
import time

import torch

from analog_ep.config import load_config
from analog_ep.train.loop import make_trainer

args = sys.argv[1:]
tag, run, args = args[0], args[1], args[2:]
images, sets = 256, []
while args:
    a = args.pop(0)
    if a == "--images":
        images = int(args.pop(0))
    elif a != "--set":
        sets.append(a)
base = ["model.name=vgg_crnn", "model.channels=[8,16,32,32,32]", "data.name=fashion_mnist",
        "data.root=/work/shared/data/fashion-mnist", "data.train_size=2000", "data.test_size=1000", "seed=0",
        "algorithm=ep"]
cfg = load_config(None, base + sets)
torch.set_grad_enabled(False)
t0 = time.process_time()
tr = make_trainer(cfg, f"/tmp/S16E_runs/probe/{tag}")
model, solver = tr.model, tr.rule.solver
model.load_state_dict(torch.load(f"{run}/checkpoint.pt", weights_only=False, map_location="cpu")["model"])


def r(v, n=3):
    return [round(float(t), n) for t in v]


def g3(v):
    return float(f"{float(v):.3g}")


bs = cfg.data.batch_size
conv, steps, ys = [], [], []
got = {"eq": [], "ff": []}
for i in range(0, images, bs):
    xb, yb = tr.test_set.batch(slice(i, i + bs))
    s, st = solver(model, model.const_drive(xb), model.zero_state(xb.shape[0], xb), iters=cfg.solver.free_iters,
                   tol=cfg.solver.tol)
    conv.append(st.converged.double().mean())
    steps.append(st.steps.double().mean())
    got["eq"].append(s)
    got["ff"].append(model.ff_states(xb))
    ys.append(yb)
y = torch.cat(ys)
y = y.argmax(1) if y.dim() > 1 else y
rec = {"tag": tag, "run": run, "sets": sets, "images": images, "aux_nodes": list(model.aux_nodes),
       "converged": round(float(torch.stack(conv).mean()), 3), "mean_sweeps": round(float(torch.stack(steps).mean()), 1)}
for name, batches in got.items():
    nodes = [torch.cat(v) for v in zip(*batches)]
    rec[f"{name}_at0"] = r((v <= 0).double().mean() for v in nodes[:-1])
    rec[f"{name}_at1"] = r((v >= 1).double().mean() for v in nodes[:-1])
    rec[f"{name}_sample_std"] = [g3(v.std(0).mean()) for v in nodes]
    rec[f"{name}_acc_out"] = round(float((model.output(nodes).argmax(1) == y).double().mean()), 3)
    rec[f"{name}_acc_aux"] = [round(float((z.argmax(1) == y).double().mean()), 3) for z in model.aux_logits(nodes)]
rec["cpu_s"] = round(time.process_time() - t0, 1)
print(json.dumps(rec), flush=True)
