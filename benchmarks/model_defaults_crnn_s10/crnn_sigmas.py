"""Operator norms of vgg_crnn's free couplings (power iteration, 200 steps, float64, on each
synapse's weight_map): python crnn_sigmas.py TAG [--set k=v ...] (CKPT=run/checkpoint.pt: a run's
trained weights; else the seed's init). One JSON line: norms of the 11 weight layers (input conv first)."""
import json
import os
import sys

import torch

from analog_ep.config import load_config
from analog_ep.data import load_data
from analog_ep.train.build import build_model

tag, sets = sys.argv[1], [a for a in sys.argv[2:] if a != "--set"]
base = ["model.name=vgg_crnn", "model.channels=[8,16,32,32,32]", "data.name=fashion_mnist",
        "data.root=/work/shared/data/fashion-mnist", "data.train_size=2000", "data.test_size=1000"]
cfg = load_config(None, base + sets)
_, _, info = load_data(cfg.data, cfg.seed)
model = build_model(cfg, info.shape, info.num_classes)
if os.environ.get("CKPT"):
    model.load_state_dict(torch.load(os.environ["CKPT"], weights_only=False, map_location="cpu")["model"])
out = []
with torch.no_grad():
    for e in model.edges:
        syn = e.synapse
        w = syn.weight.detach().double()
        v = torch.randn(1, *syn.map_shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        for _ in range(200):
            v = syn.weight_map_t(w, syn.weight_map(w, v))
            v = v / v.norm()
        out.append(round(float(syn.weight_map(w, v).norm()), 3))
print(json.dumps({"tag": tag, "sets": sets, "ckpt": os.environ.get("CKPT"), "sigma": out}), flush=True)
