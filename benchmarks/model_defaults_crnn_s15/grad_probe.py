"""vgg_crnn: EP's weight-gradient estimate on the feedback-scaled energy (EPS, see fb_probe.py)
against the twin's backprop gradient, at initialisation (no training).

python benchmarks/model_defaults_crnn_s15/grad_probe.py TAG EPS BETA [--fp32] [--aux-local] [--ckpt C] [--images N] [--set k=v ...]
float64 (--fp32: float32, tol 1e-6), the first N (default 32) training images, aux strength kappa 1 (epoch 1's). Energy
    E = sum_{k<L} mu_k [ ||s_k||^2 / (2a) - <s_k, W_k s_{k-1} + b_k> ],  mu_k = EPS^(k-1),
output L a softmax readout outside the energy (the family's cross-entropy nudge). Free phase:
fb_probe.py's plain odd/even relaxation from zeros (tol 1e-9, at most 3000 sweeps); nudged phases
+-b from the free state with the energy's nudge strength b = BETA mu_{L-1}, so that node L-1 gets
BETA W_out^T (y - softmax(s_L)) (BETA: the nudge as the top node sees it) and an aux node k gets
(b kappa / mu_k) W_aux^T (y - softmax(aux_k)) (the block minimiser of E + b C, C = the output's
cross-entropy + kappa times each aux readout's: model.total_cost). Centered EP estimate of each
hidden weight layer k (conv1 .. dense2):
    -(1 / (2 b)) [d/dW_k sum_j mu_j <s_j, read_j(s_{j-1})>](s^+ - s^-),
output layer: its local cross-entropy gradient at the free state. Reference: the twin's gradient
of model.total_cost (algorithms.bp.bp_gradient). One JSON line: per weight layer the cosine and
the norm ratio |EP| / |BP|, sweeps per phase, and per hidden node the mean |s^+ - s^-| / (2 BETA)
(disp_per_beta: how much of the top's nudge reaches each node).
--aux-local: each aux node gets BETA kappa W_aux^T (y - softmax(aux_k)) (the local error signal at
full strength, not weakened by mu); the objective EP then estimates weights aux k by mu_k / mu_{L-1}
(its lower layers are trained by their aux readouts), and the reference is the twin's backprop
gradient of that same objective.
"""
import json
import sys

import torch

from analog_ep.algorithms.bp import bp_gradient
from analog_ep.config import load_config
from analog_ep.train.loop import make_trainer, one_hot

args = sys.argv[1:]
tag, eps, beta, args = args[0], float(args[1]), float(args[2]), args[3:]
images, sets, fp32, aux_local, ckpt = 32, [], False, False, None
while args:
    a = args.pop(0)
    if a == "--ckpt":
        ckpt = args.pop(0)
    elif a == "--fp32":
        fp32 = True
    elif a == "--aux-local":
        aux_local = True
    elif a == "--images":
        images = int(args.pop(0))
    elif a != "--set":
        sets.append(a)
base = ["model.name=vgg_crnn", "algorithm=ep", "model.channels=[8,16,32,32,32]", "data.name=fashion_mnist",
        "data.root=/work/shared/data/fashion-mnist", "data.train_size=2000", "data.test_size=1000"]
cfg = load_config(None, base + sets)
torch.set_grad_enabled(False)
tr = make_trainer(cfg, f"/tmp/V15/grad_probe/{tag}")
if ckpt:
    tr.model.load_state_dict(torch.load(ckpt, weights_only=False, map_location="cpu")["model"])
dt = torch.float32 if fp32 else torch.float64
model = tr.model.to(dt)
model.aux_kappa = 1.0
assert model.readout
L = model.num_nodes
mu = [eps ** (k - 1) for k in range(1, L)]  # mu[k-1] for hidden node k
x, yl = tr.train_set.batch(slice(0, images))
x = x.to(dt)
y = one_hot(yl, 10, dt)
w_out = model.edges[-1].synapse


def node_drive(k, s, b):
    h = model.biases[k - 1]
    for e in model._in_edges[k - 1]:
        h = h + e.synapse.read(x if e.pre == 0 else s[e.pre - 1])
    for e in model._out_edges[k - 1]:
        if e.post != L:
            h = h + eps * e.synapse.read_t(s[e.post - 1], s[k - 1])
    if b != 0.0 and k == L - 1:
        p = torch.softmax(w_out.read(s[k - 1]) + model.biases[L - 1], dim=1)
        h = h + b * w_out.read_t(y - p, s[k - 1])
    if b != 0.0 and k in model.aux_nodes:
        i = model.aux_nodes.index(k)
        syn = model.aux_readouts[i]
        p = torch.softmax(syn.read(s[k - 1]) + model.aux_biases[i], dim=1)
        h = h + (b * model.aux_kappa * (1.0 if aux_local else mu[L - 2] / mu[k - 1])) * syn.read_t(y - p, s[k - 1])
    return h


def relax(s, b, iters=3000, tol=1e-6 if fp32 else 1e-9):
    s = [t.clone() for t in s]
    order = [k for k in range(1, L) if k % 2 == 1] + [k for k in range(1, L) if k % 2 == 0]
    for sweep in range(1, iters + 1):
        delta = 0.0
        for k in order:
            new = model.activations[k - 1](node_drive(k, s, b))
            delta = max(delta, float((new - s[k - 1]).abs().max()))
            s[k - 1] = new
        s[L - 1] = node_drive(L, s, 0.0)
        if delta < tol:
            return s, sweep
    return s, iters


free, n0 = relax(model.zero_state(images, x), 0.0)
plus, n1 = relax(free, beta)
minus, n2 = relax(free, -beta)
weights = [e.synapse.storage.param for e in model.edges]


def phi_grad(s):
    with torch.enable_grad():
        phi = 0.0
        for k in range(1, L):
            for e in model._in_edges[k - 1]:
                pre = x if e.pre == 0 else s[e.pre - 1].detach()
                phi = phi + mu[k - 1] * (s[k - 1].detach() * e.synapse.read(pre)).sum()
        return torch.autograd.grad(phi / images, weights[:-1])


gp, gm = phi_grad(plus), phi_grad(minus)
ep = [-(a - b) / (2 * beta * mu[L - 2]) for a, b in zip(gp, gm)]
with torch.enable_grad():
    st = [t.detach() for t in free[:-1]]
    st.append(w_out.read(st[-1]) + model.biases[L - 1])
    c = model.total_cost(st, y).mean()
    ep.append(torch.autograd.grad(c, weights[-1])[0])
if aux_local:  # the objective EP then descends: aux k weighted by mu_k / mu_{L-1}
    with torch.enable_grad():
        st = model.ff_states(x)
        c = model.cost(st[-1], y)
        for k, logits in zip(model.aux_nodes, model.aux_logits(st)):
            c = c - model.aux_kappa * (mu[k - 1] / mu[L - 2]) * (y * torch.log_softmax(logits, dim=1)).sum(1)
        bp = list(torch.autograd.grad(c.mean(), weights))
else:
    with torch.enable_grad():
        bpl, _, _ = bp_gradient(model, x, y)
    index = {id(p): i for i, p in enumerate(model.ep_parameters())}
    bp = [bpl[index[id(w)]] for w in weights]
cos, ratio = [], []
for w, g, b in zip(weights, ep, bp):
    cos.append(round(float((g * b).sum() / (g.norm() * b.norm() + 1e-300)), 3))
    ratio.append(float(f"{float(g.norm() / (b.norm() + 1e-300)):.3g}"))
rec = {"tag": tag, "eps": eps, "beta": beta, "sets": sets, "seed": cfg.seed, "images": images,
       "sweeps_free_plus_minus": [n0, n1, n2], "cos_ep_bp": cos, "norm_ratio_ep_bp": ratio,
       "dtype": str(dt), "aux_local": aux_local, "ckpt": ckpt, "disp_per_beta": [float(f"{float((a - b).abs().mean() / (2 * beta)):.3g}") for a, b in zip(plus[:-1], minus[:-1])],
       "free_at1": [round(float((v >= 1).double().mean()), 3) for v in free[:-1]]}
print(json.dumps(rec), flush=True)
