"""`analog-ep gradcheck` on a trained run's weights (the CLI checks the initial weights):
EP's per-layer cosine with the exact (implicit) gradient, float64, on the first BATCH training
images of the run's own config.
Usage: python gradcheck_trained.py RUN_DIR BETAS BATCH ITERS TOL  (prints one JSON line)"""
import json
import sys

import torch

from analog_ep.algorithms.rules import build_rule
from analog_ep.config import load_config
from analog_ep.data import load_data
from analog_ep.train.build import build_model
from analog_ep.train.loop import one_hot

run, betas, batch, iters, tol = sys.argv[1], [float(b) for b in sys.argv[2].split(",")], int(sys.argv[3]), \
    int(sys.argv[4]), float(sys.argv[5])
ckpt = torch.load(f"{run}/checkpoint.pt", weights_only=False, map_location="cpu")
path = f"/tmp/gc_trained_{abs(hash(run))}.yaml"
open(path, "w").write(ckpt["config_yaml"])
cfg = load_config(path, [])
train_set, _, info = load_data(cfg.data, cfg.seed)
model = build_model(cfg, info.shape, info.num_classes)
model.load_state_dict(ckpt["model"])
model = model.double()
x, y = train_set.batch(slice(0, batch))
x = x.to(torch.float64)
target = one_hot(y, info.num_classes, torch.float64)
rule = build_rule(cfg, model, torch.device("cpu"))
report = rule.gradcheck(x, target, betas, iters, tol, torch.Generator().manual_seed(cfg.seed))
report["run"], report["epoch"] = run, ckpt["epoch"]
print(json.dumps(report))
