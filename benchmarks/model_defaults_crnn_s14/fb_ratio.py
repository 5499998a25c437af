"""vgg_crnn at initialisation: feedback against forward drive at the twin's forward pass, per node.

python fb_ratio.py TAG GAINS [--set k=v ...]   (run from the repository root; GAINS as gain_probe.py's)
The model as `analog-ep train --set algorithm=ep` builds it (make_trainer, family defaults, channels
[8,16,32,32,32], model.gains=GAINS), fp32; the twin's feed-forward states s (model.ff_states) on the first
256 training images. Per node k = 1..10: the rms of the forward drive the node reads from below
(its in-edges' reads, W_k s_{k-1}) and of the feedback it would read from above at those states
(the out-edges' transposed reads, W_{k+1}^T s_{k+1}, unpooling at s_k), and their ratio
(feedback / forward); the estimate g_{k+1}^2 / 6 x sqrt(c_{k+1} / c_k) beside it (c: units per pixel,
channels; the pool share p left out, <= 1). One JSON line."""
import json
import sys

import torch

from analog_ep.config import load_config
from analog_ep.train.loop import make_trainer

tag, gtxt, sets = sys.argv[1], sys.argv[2], [a for a in sys.argv[3:] if a != "--set"]
g = [float(v) for v in gtxt.split(",")]
g = g * 11 if len(g) == 1 else g
base = ["model.name=vgg_crnn", "algorithm=ep", "model.channels=[8,16,32,32,32]", "data.name=fashion_mnist",
        "data.root=/work/shared/data/fashion-mnist", "data.train_size=2000", "data.test_size=1000",
        f"model.gains=[{','.join(str(v) for v in g)}]"]
cfg = load_config(None, base + sets)
torch.set_grad_enabled(False)
tr = make_trainer(cfg, f"/tmp/V14/fb_ratio/{tag}")
model = tr.model
x, _ = tr.train_set.batch(slice(0, 256))
s = model.ff_states(x)
full = [x] + s
fwd, fb = [], []
for k in range(1, model.num_nodes):  # nodes 1..10 (the output has nothing above it)
    f = sum(e.synapse.read(full[e.pre]) for e in model.edges if e.post == k)
    b = sum(e.synapse.read_t(full[e.post], full[k]) for e in model.edges if e.pre == k)
    fwd.append(float(f.pow(2).mean().sqrt()))
    fb.append(float(b.pow(2).mean().sqrt()))
ch = [shape[0] for shape in model.node_shapes]
est = [g[k] ** 2 / 6 * (ch[k] / ch[k - 1]) ** 0.5 for k in range(1, model.num_nodes)]
print(json.dumps({"tag": tag, "gains": g, "seed": cfg.seed, "fwd_rms": [float(f"{v:.3g}") for v in fwd],
                  "fb_rms": [float(f"{v:.3g}") for v in fb],
                  "ratio": [round(b / f, 3) for b, f in zip(fb, fwd)],
                  "estimate": [round(v, 3) for v in est]}), flush=True)
