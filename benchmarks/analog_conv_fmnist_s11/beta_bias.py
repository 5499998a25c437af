"""What a larger nudge costs digitally: dchn_vgg5's digital EP estimate at beta B (centered, the
family's 60 / 20 sweeps) against the small-nudge estimate (beta 0.01, 300 free / 200 nudged sweeps, no
tol stop) on the same weights and batch as ep_snr.py (the memristor card's stored weights at seed 0,
the first 32 Fashion-MNIST images). Prints the cosine per parameter tensor.

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/analog_conv_fmnist_s11/beta_bias.py [BETA ...]"""
import sys

import torch

from analog_ep.algorithms.ep import ep_gradient
from analog_ep.config import load_config
from analog_ep.train.loop import make_trainer

torch.set_num_threads(1)
BETAS = [float(b) for b in sys.argv[1:]] or [0.1, 0.3, 0.5, 0.8]
BASE = ["model.name=dchn_vgg5", "model.channels=[32,64,64,64]", "data.name=fashion_mnist",
        "data.root=/work/shared/data/fashion-mnist", "data.batch_size=32", "data.train_size=64",
        "data.test_size=32", "compute.kernels=numba", "seed=0"]
atr = make_trainer(load_config(None, BASE + ["analog.device=memristor"]), None)


def twin_estimate(extra):
    dtr = make_trainer(load_config(None, BASE + extra), None)
    with torch.no_grad():
        for a, d in zip(atr.model.all_synapses(), dtr.model.all_synapses()):
            d.storage.weight.copy_(a.storage.effective_weight())
        for a, d in zip(atr.model.biases, dtr.model.biases):
            d.copy_(a)
    cfg = dtr.cfg
    x, y = next(iter(dtr.batches(dtr.train_set, None)))
    target = torch.nn.functional.one_hot(y, 10).to(x.dtype)
    res = ep_gradient(dtr.model, x, target, dtr.model.zero_state(x.shape[0], x), dtr.rule.solver, beta=cfg.ep.beta,
                      estimator=cfg.ep.estimator, free_iters=cfg.solver.free_iters,
                      nudge_iters=cfg.solver.nudge_iters, tol=cfg.solver.tol, damping=cfg.solver.damping)
    return res.grads, {k: s.sweeps for k, s in res.stats.items()}


LONG = ["solver.free_iters=300", "solver.nudge_iters=200", "solver.tol=0"]
"""Whole budgets, no tol stop: tol 1e-4 ends a beta-0.01 nudged phase before the nudge reaches node 1
(its displacement there is ~3e-4; a first version with tol 1e-4 stopped at 24 sweeps)."""
ref, sw = twin_estimate(["ep.beta=0.01"] + LONG)
print(f"reference beta 0.01, {LONG}, sweeps {sw}")
print("beta  budget   conv1  conv2  conv3  conv4  dense     b1     b2     b3     b4     b5")
for b in BETAS:
    for name, extra in (("60/20", []), ("300/200", LONG)):
        g, sw = twin_estimate([f"ep.beta={b}"] + extra)
        c = [float(torch.nn.functional.cosine_similarity(p.flatten(), q.flatten(), 0)) for p, q in zip(g, ref)]
        print(f"{b:<5} {name:8s} " + " ".join(f"{v:6.3f}" for v in c) + f"   sweeps {sw}", flush=True)
