"""dchn_vgg5: does the nudged phases' sweep budget (solver.nudge_iters) change EP's estimate at trained
weights? Per layer, the cosine of EP's estimate (centered, the training rule's relaxation, float64)
with the exact gradient at the free fixed point (implicit differentiation; analog_ep's gradcheck), for
each budget in NUDGE (env, default "20,40,400") and beta in BETAS (default "0.15"), on the first B
(default 32) training images, at a checkpoint's weights (CKPT) or at init.

CKPT=checkpoint.pt TOL=1e-4 python budget_probe.py [--set k=v ...]. One JSON line per (beta, budget):
per-layer cosines and relative errors, the nudged phases' converged fractions."""
import json
import os
import sys

import torch

from analog_ep.algorithms.rules import build_rule
from analog_ep.config import load_config
from analog_ep.data import load_data
from analog_ep.train.build import build_model
from analog_ep.train.loop import one_hot

sets = [a for a in sys.argv[1:] if a != "--set"]
base = ["model.name=dchn_vgg5", "model.channels=[16,32,64,64]", "data.name=fashion_mnist",
        "data.root=/work/shared/data/fashion-mnist", "data.train_size=10000", "data.test_size=1000",
        "model.gains=[0.7,0.7,0.7,0.7,0.7]", "train.spectral_cap=2"]
cfg = load_config(None, base + sets)
torch.manual_seed(cfg.seed)
train_set, _, info = load_data(cfg.data, cfg.seed)
model = build_model(cfg, info.shape, info.num_classes)
if os.environ.get("CKPT"):
    model.load_state_dict(torch.load(os.environ["CKPT"], weights_only=False, map_location="cpu")["model"])
model = model.double()
b = int(os.environ.get("B", "32"))
x, y = train_set.batch(slice(0, b))
x, target = x.double(), one_hot(y, info.num_classes, torch.float64)
rule = build_rule(cfg, model, torch.device("cpu"))
tol = float(os.environ.get("TOL", "1e-4"))
for beta in [float(v) for v in os.environ.get("BETAS", "0.15").split(",")]:
    for k in [int(v) for v in os.environ.get("NUDGE", "20,40,400").split(",")]:
        rep = rule.gradcheck(x, target, [beta], 5000, tol, torch.Generator().manual_seed(cfg.seed), nudge_iters=k)
        print(json.dumps({"ckpt": os.environ.get("CKPT", "init"), "beta": beta, "nudge_iters": k, "tol": tol,
                          "free_converged": rep["free_converged_fraction"], "free_sweeps": rep["free_sweeps"],
                          "adjoint_residual": rep["adjoint_residual"],
                          "cosine": [round(r["cosine"], 4) for r in rep["layers"]],
                          "rel_error": [round(r["rel_error"], 4) for r in rep["layers"]],
                          "nudged_converged": {p["phase"]: round(p["converged_fraction"], 3) for p in rep["nudged"]},
                          "saturation_changes": rep["layers"][0]["saturation_changes"] if rep["layers"] else None}),
              flush=True)
