"""vgg_crnn's backprop twin: per-layer saturation and signal size, and the loss curve, per seed.

python twin_probe.py TAG STEPS [--set k=v ...]  (run from the repository root or this folder)
Trains the twin (algorithm=bp) through the project's own Trainer (make_trainer + run_epoch, the
path `analog-ep train` takes: same data order, optimizer, clipping, lr schedule) on
channels [8,16,32,32,32], Fashion-MNIST, and at steps 0, 10, 20, ..., STEPS probes the
feed-forward pass (model.ff_states) on a fixed batch of 512 training images: per node, the
fraction of units at the clip's lower bound (<= 0), at its upper bound (>= 1), the std of the
node's state and of its pre-activation (bias + reads), and the batch-mean cost (model.total_cost:
output CE + aux CE) and accuracy of the output on those 512 images; and after every step the
gradient norm per layer (before clipping). One JSON line per probe step to stdout."""
import json
import sys

import torch

from analog_ep.config import load_config
from analog_ep.train.loop import make_trainer, one_hot

tag, steps, sets = sys.argv[1], int(sys.argv[2]), [a for a in sys.argv[3:] if a != "--set"]
base = ["model.name=vgg_crnn", "algorithm=bp", "model.channels=[8,16,32,32,32]", "data.name=fashion_mnist",
        "data.root=/work/shared/data/fashion-mnist", "data.train_size=10000", "data.test_size=2000",
        "train.epochs=2"]
cfg = load_config(None, base + sets)
tr = make_trainer(cfg, f"/tmp/E13/probe/{tag}")
model = tr.model
xp, yp = tr.train_set.batch(slice(0, 512))
tp = one_hot(yp, tr.num_classes, xp.dtype)


@torch.no_grad()
def probe(step):
    model.eval()
    states, pre = [], []
    for k in range(1, model.num_nodes + 1):  # model.ff_states, with the pre-activations kept
        h = model.biases[k - 1]
        for e in model._in_edges[k - 1]:
            h = h + e.synapse.read(xp if e.pre == 0 else states[e.pre - 1])
        pre.append(h)
        states.append(model.node_update(k, h))
    model.train()
    out = states[-1]
    rec = {"tag": tag, "step": step, "seed": cfg.seed,
           "cost": round(float(model.total_cost(states, tp).mean()), 4),
           "out_ce": round(float(model.cost(out, tp).mean()), 4),
           "acc": round(float((out.argmax(1) == yp).double().mean()), 4),
           "at0": [round(float((s <= 0).double().mean()), 3) for s in states[:-1]],
           "at1": [round(float((s >= 1).double().mean()), 3) for s in states[:-1]],
           "std": [float(f"{float(s.std()):.3g}") for s in states],
           "pre_std": [float(f"{float(h.std()):.3g}") for h in pre],
           "pre_mean": [float(f"{float(h.mean()):.3g}") for h in pre]}
    print(json.dumps(rec), flush=True)


gnorms = []
orig_step = tr.rule.step


def step_and_norm(*a, **k):  # the rule's step unchanged; its gradient norms per weight layer recorded
    res = orig_step(*a, **k)
    gnorms.append([float(f"{float(g.norm()):.3g}") for g in res.grads[:len(model.edges)]])
    return res


tr.rule.step = step_and_norm
probe(0)
n_batches = (len(tr.train_set) + cfg.data.batch_size - 1) // cfg.data.batch_size


class Done(Exception):
    pass


def on_batch(epoch, i):
    s = epoch * n_batches + i + 1
    if s % 10 == 0:
        probe(s)
        print(json.dumps({"tag": tag, "step": s, "grad_norm": gnorms[-1]}), flush=True)
    if s >= steps:
        raise Done


tr.on_batch = on_batch
try:
    while tr.epoch < cfg.train.epochs:
        row = tr.run_epoch(progress=False)
        print(json.dumps({"tag": tag, "epoch": row["epoch"], "test_accuracy": row["test_accuracy"],
                          "train_accuracy": row["train_accuracy"]}), flush=True)
except Done:
    pass
