"""Per-step probe of dchn_vgg5 32-64-64-64 on the memristor card (session 13, issue 20, helper D).

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/analog_conv_fmnist_s13_collapse/probe.py \
        -S STEPS [--set k=v ...]

Builds the run with ``make_trainer`` (the path ``train`` uses) on the record's protocol (helper L's
mem_s1: 10,000 images, 2 epochs for the cosine schedule, seed 1, beta 0.3, numba kernels, the
memristor card) plus the ``--set`` overrides, and runs the training loop's own ``run_epoch`` for its
first STEPS steps (stopped from the loop's ``on_batch`` hook). Around each storage's ``commit`` it
records the optimizer's intended change (the proposal) and the applied one (``effective_weight()``
after minus before). One JSON line per step: lr, batch loss and accuracy, per phase mean sweeps,
the free output's std and max |.| (logits scale) and per layer: mean |w_dev| (device units), the
fraction of weights within one dw_min of the symmetry point 0 and within one dw_min of either bound,
|applied| / |intended|, cosine(applied, intended), pulses sent; per layer of the free phase's end
states: the fraction of units at 0 and at 1 (the clipping bounds) and the
std over the batch's samples averaged over units (0: the layer no longer depends on the image)."""
import json, sys, time

import torch

from analog_ep.config import load_config
from analog_ep.train.loop import make_trainer

torch.set_num_threads(1)
args = sys.argv[1:]
S = 150
if args[:1] == ["-S"]:
    S, args = int(args[1]), args[2:]
extra = [a for a in args if a != "--set"]
BASE = ["model.name=dchn_vgg5", "model.channels=[32,64,64,64]", "data.name=fashion_mnist",
        "data.root=/work/shared/data/fashion-mnist", "data.train_size=10000", "data.test_size=2000",
        "train.epochs=2", "compute.kernels=numba", "seed=1", "analog.device=memristor", "ep.beta=0.3"]
tr = make_trainer(load_config(None, BASE + extra), None)
stores = tr.model.ep_storages()
rec = {}


def wrap(i, st):
    orig = st.commit

    def commit(vectors=None):
        with torch.no_grad():
            before = st.effective_weight().clone()
            intended = st.proposal.detach().clone()
            p0 = int(st.pulses)
        orig(vectors)
        with torch.no_grad():
            applied = st.effective_weight() - before
            ni = float(intended.norm())
            rec[i] = {"ratio": float(applied.norm()) / max(ni, 1e-30),
                      "cos": float(torch.nn.functional.cosine_similarity(applied.flatten(), intended.flatten(), 0)),
                      "pulses": int(st.pulses) - p0, "intended": ni}
    st.commit = commit


for i, st in enumerate(stores):
    if hasattr(st, "effective_weight"):  # analog storages (a digital run logs no update fidelity)
        wrap(i, st)

last = {}
orig_step = tr.train_step


def step(x, y, n_global=None):
    out = orig_step(x, y, n_global)
    last["x"] = (x, y, out)
    return out


tr.train_step = step
# the free phase's output (logits) via the rule's result: recompute from the model's output node after the step
orig_rule_step = tr.rule.step


def rule_step(x, target, n_global):
    res = orig_rule_step(x, target, n_global)
    last["out"] = res.output.detach()
    return res


tr.rule.step = rule_step
import analog_ep.algorithms.rules as _rules  # the free phase's end states, whatever ep.warm_start says
_ep_gradient = _rules.ep_gradient


def ep_gradient(*a, **k):
    res = _ep_gradient(*a, **k)
    last["free"] = [v.detach() for v in res.free]
    return res


_rules.ep_gradient = ep_gradient


class Done(Exception):
    pass


t0 = time.time()


def on_batch(epoch, i):
    x, y, (loss, correct, stats) = last["x"]
    out = last["out"]
    row = {"step": i, "lr": tr.optimizer.param_groups[0]["lr"], "loss": float(loss) / len(y),
           "acc": int(correct) / len(y), "out_std": float(out.std()), "out_absmax": float(out.abs().max()),
           "sweeps": {k: round(float(v.steps.double().mean()), 2) for k, v in stats.items()},
           "t": round(time.time() - t0, 1), "layers": []}
    for j, st in enumerate(stores):
        w = getattr(st, "w_dev", None)
        if w is None:  # a digital storage (no device weights)
            row["layers"].append({k: (round(v, 5) if isinstance(v, float) else v) for k, v in rec.get(j, {}).items()})
            continue
        dw = float(st.dw_min) if hasattr(st, "dw_min") else float(st.params.dw_min)
        lay = {"mean_abs_w": float(w.abs().mean()), "near0": float((w.abs() < dw).double().mean()),
               "near_bound": float((w.abs() > 1.0 - dw).double().mean())}
        lay.update({k: (round(v, 4) if isinstance(v, float) else v) for k, v in rec.get(j, {}).items()})
        row["layers"].append({k: (round(v, 5) if isinstance(v, float) else v) for k, v in lay.items()})
    warm = last.get("free")
    if warm is not None:
        row["states"] = [{"at0": round(float((v.abs() < 1e-6).double().mean()), 3),
                          "at1": round(float(((v - 1).abs() < 1e-6).double().mean()), 3),
                          "std_over_samples": round(float(v.double().flatten(1).std(0).mean()), 4)} for v in warm]
    print(json.dumps(row), flush=True)
    if i + 1 >= S:
        raise Done


tr.on_batch = on_batch
try:
    tr.run_epoch(progress=False)
except Done:
    pass
