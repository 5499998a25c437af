"""Operator norms of a dchn_vgg5 checkpoint's weights (power iteration, 200 steps, float64, on the
synapse's weight_map): python sigmas.py CKPT... One line per checkpoint, layers 0-4 (input layer first)."""
import sys

import torch

from analog_ep.config import load_config
from analog_ep.models.convnets import DCHNVGG5

for path in sys.argv[1:]:
    model = DCHNVGG5((1, 28, 28), [16, 32, 64, 64], 10)
    model.load_state_dict(torch.load(path, weights_only=False, map_location="cpu")["model"])
    out = []
    for syn in [s for s in model.ep_synapses() if s is not None]:
        w = syn.weight.detach().double()
        v = torch.randn(1, *syn.map_shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        for _ in range(200):
            v = syn.weight_map_t(w, syn.weight_map(w, v))
            v = v / v.norm()
        out.append(round(syn.weight_map(w, v).norm().item(), 3))
    print(path, out)
