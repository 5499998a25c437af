"""dchn_vgg5: does train.clip_grad_norm=1.0 bind? The global L2 norm of EP's training estimate (the
training rule's own step: centered EP, the run's sweeps and tol, float32) on the first K (env, default
20) batches of 32 training images, at init or at a checkpoint's weights, with no update between them.

CKPT=checkpoint.pt (optional) K=20 python clip_probe.py [--set k=v ...]. One JSON line: norms'
quantiles and the fraction of batches whose norm exceeds 1 (the clip's factor there: 1 / norm)."""
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
        "data.root=/work/shared/data/fashion-mnist", "data.train_size=10000", "data.test_size=1000"]
cfg = load_config(None, base + sets)
torch.manual_seed(cfg.seed)
torch.set_grad_enabled(False)
train_set, _, info = load_data(cfg.data, cfg.seed)
model = build_model(cfg, info.shape, info.num_classes)
if os.environ.get("CKPT"):
    model.load_state_dict(torch.load(os.environ["CKPT"], weights_only=False, map_location="cpu")["model"])
rule = build_rule(cfg, model, torch.device("cpu"))
norms = []
for k in range(int(os.environ.get("K", "20"))):
    x, y = train_set.batch(slice(32 * k, 32 * (k + 1)))
    model.begin_batch()
    res = rule.step(x, one_hot(y, info.num_classes, x.dtype), 32)
    norms.append(float(torch.sqrt(sum((g.double() ** 2).sum() for g in res.grads))))
t = torch.tensor(norms)
print(json.dumps({"ckpt": os.environ.get("CKPT", "init"), "batches": len(norms),
                  "norm_min": round(float(t.min()), 3), "norm_median": round(float(t.median()), 3),
                  "norm_max": round(float(t.max()), 3), "frac_above_1": float((t > 1).double().mean()),
                  "norms": [round(v, 3) for v in norms]}), flush=True)
