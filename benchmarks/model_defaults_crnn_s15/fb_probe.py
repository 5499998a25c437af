"""vgg_crnn: EP's free equilibrium when every feedback read is scaled by EPS (a layer-wise energy
weighting; not a library option), against the twin's feed-forward pass (no training).

python benchmarks/model_defaults_crnn_s15/fb_probe.py TAG EPS [--from-ff] [--ckpt C] [--images N] [--set k=v ...]
(run from the repository root). The model as `analog-ep train --set algorithm=ep` builds it
(make_trainer, vgg_crnn family defaults, channels [8,16,32,32,32], seed 0 unless --set seed=S).

The free phase here is a deliberately plain relaxation written in this file (not the library's
solver): odd/even sweeps over the hidden nodes 1..L-1, each node set to its activation of
    h_k = b_k + sum_in read(s_pre) + EPS * sum_out read_t(s_post)
(the output node L is the softmax readout outside the energy under the family's cross-entropy
nudge: it sends no feedback, s_L = its read of s_{L-1} + b_L), until the largest change of any
state in a sweep is below solver.tol or after solver.free_iters sweeps (per batch). EPS = 1 is the
library's free phase (the script reports its distance to the library solver's fixed point on the
same images: ref_dist); EPS = 0 is the twin's pass. With the energy
    E = sum_k mu_k (1/(2a)) ||s_k||^2 - sum_k mu_k <s_k, W_k s_{k-1}> - ...,  mu_k = EPS^(k-1),
the block minimiser of node k is exactly the update above, so EPS < 1 is an energy network (feedback
scaled by mu_{k+1}/mu_k = EPS, forward gain unchanged) whose EP weight gradient of layer k is
mu_k times the usual local term. --from-ff: start from the twin's pass instead of zeros.
One JSON line (fields as sat_probe.py's, plus sweeps, converged (batch-level), rel_dist: per node
|s_eq - s_ff| / |s_ff|).
"""
import json
import sys
import time

import torch

from analog_ep.config import load_config
from analog_ep.train.loop import make_trainer

args = sys.argv[1:]
tag, eps, args = args[0], float(args[1]), args[2:]
ckpt, images, from_ff, sets = None, 64, False, []
while args:
    a = args.pop(0)
    if a == "--ckpt":
        ckpt = args.pop(0)
    elif a == "--images":
        images = int(args.pop(0))
    elif a == "--from-ff":
        from_ff = True
    elif a != "--set":
        sets.append(a)
base = ["model.name=vgg_crnn", "algorithm=ep", "model.channels=[8,16,32,32,32]", "data.name=fashion_mnist",
        "data.root=/work/shared/data/fashion-mnist", "data.train_size=2000", "data.test_size=1000"]
cfg = load_config(None, base + sets)
torch.set_grad_enabled(False)
t0 = time.process_time()
tr = make_trainer(cfg, f"/tmp/V15/fb_probe/{tag}")
model, solver = tr.model, tr.rule.solver
if ckpt:
    model.load_state_dict(torch.load(ckpt, weights_only=False, map_location="cpu")["model"])
assert model.readout, "this probe assumes the cross-entropy readout (the family default)"
L = model.num_nodes


def node_drive(k, x, s):
    h = model.biases[k - 1]
    for e in model._in_edges[k - 1]:
        h = h + e.synapse.read(x if e.pre == 0 else s[e.pre - 1])
    for e in model._out_edges[k - 1]:
        if e.post != L:
            h = h + eps * e.synapse.read_t(s[e.post - 1], s[k - 1])
    return h


def relax(x, s):
    s = [t.clone() for t in s]
    order = [k for k in range(1, L) if k % 2 == 1] + [k for k in range(1, L) if k % 2 == 0]
    for sweep in range(1, cfg.solver.free_iters + 1):
        delta = torch.zeros((), dtype=x.dtype)
        for k in order:
            new = model.activations[k - 1](node_drive(k, x, s))
            delta = torch.maximum(delta, (new - s[k - 1]).abs().max())
            s[k - 1] = new
        s[L - 1] = node_drive(L, x, s)
        if float(delta) < cfg.solver.tol:
            return s, sweep, True
    return s, cfg.solver.free_iters, False


def r(v, n=3):
    return [round(float(t), n) for t in v]


def g3(v):
    return float(f"{float(v):.3g}")


bs = cfg.data.batch_size
at1, fat1, eqs, ffs, ys, sweeps, convs, dist, ref = [], [], [], [], [], [], [], [], []
for i in range(0, images, bs):
    xb, yb = tr.train_set.batch(slice(i, i + bs))
    f = model.ff_states(xb)
    start = f if from_ff else model.zero_state(xb.shape[0], xb)
    s, n, ok = relax(xb, start)
    if eps == 1.0:
        lib, _ = solver(model, model.const_drive(xb), model.zero_state(xb.shape[0], xb),
                        iters=cfg.solver.free_iters, tol=cfg.solver.tol)
        ref.append(max(float((a - b).abs().max()) for a, b in zip(s[:-1], lib[:-1])))
    sweeps.append(n)
    convs.append(ok)
    at1.append(torch.stack([(v >= 1).double().mean() for v in s[:-1]]))
    fat1.append(torch.stack([(v >= 1).double().mean() for v in f[:-1]]))
    dist.append(torch.stack([(a - b).norm() / b.norm().clamp_min(1e-30) for a, b in zip(s, f)]))
    eqs.append(s)
    ffs.append(f)
    ys.append(yb)
eq1, f1 = torch.stack(at1).mean(0), torch.stack(fat1).mean(0)
y = torch.cat(ys)


def sample_std(batches):
    return [g3(torch.cat(v).std(0).mean()) for v in zip(*batches)]


es, fs = sample_std(eqs), sample_std(ffs)
rec = {"tag": tag, "eps": eps, "from_ff": from_ff, "sets": sets, "ckpt": ckpt, "seed": cfg.seed,
       "images": images, "free_iters": cfg.solver.free_iters, "tol": cfg.solver.tol,
       "sweeps": sweeps, "converged": convs, "eq_at1": r(eq1), "ff_at1": r(f1),
       "eq_minus_ff_at1": round(float((eq1 - f1).abs().mean()), 3),
       "rel_dist": [g3(v) for v in torch.stack(dist).mean(0)],
       "eq_sample_std": es, "ff_sample_std": fs, "out_sample_std_eq": es[-1], "out_sample_std_ff": fs[-1],
       "acc_eq": round(float((torch.cat([e[-1] for e in eqs]).argmax(1) == y).double().mean()), 3),
       "acc_ff": round(float((torch.cat([f[-1] for f in ffs]).argmax(1) == y).double().mean()), 3),
       "ref_dist": [g3(v) for v in ref] if ref else None, "cpu_s": round(time.process_time() - t0, 1)}
print(json.dumps(rec), flush=True)
