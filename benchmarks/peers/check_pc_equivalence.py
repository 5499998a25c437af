"""Do analog-ep's PC step and the PCX script compute the same thing? One batch, the same weights.

Two halves, each run with its own environment:

    .venv/bin/python benchmarks/peers/check_pc_equivalence.py ours /tmp/pc_equiv.npz
    /tmp/pcxenv/bin/python benchmarks/peers/check_pc_equivalence.py pcx /tmp/pc_equiv.npz

``ours`` builds analog-ep's pcn_mlp (784-256-256-10, relu) from the run config, takes 64
Fashion-MNIST training images, runs ``pc_gradient`` (T = 8, activity lr 0.1, MSE nudge: output
clamped to the label) and saves the weights, the batch and the gradients. ``pcx`` loads the
weights into pcx_mlp.py's model, computes its batch-mean weight gradient after the same T
activity steps and prints the largest relative difference per tensor (float32 round-off: ~1e-6).
"""

from __future__ import annotations

import os
import sys

import numpy as np

HIDDEN, T, ACT_LR, BATCH = [256, 256], 8, 0.1, 64
HERE = os.path.dirname(os.path.abspath(__file__))


def ours(path: str) -> None:
    import torch

    from analog_ep.algorithms.pc import pc_gradient
    from analog_ep.config.loader import load_config
    from analog_ep.train.build import build_model

    sys.path.insert(0, HERE)
    from pcx_mlp import load_fmnist

    cfg = load_config(None, ["algorithm=pc", "model.name=pcn_mlp", f"model.hidden={HIDDEN}",
                             "data.name=fashion_mnist", f"pc.steps={T}", f"pc.activity_lr={ACT_LR}"])
    model = build_model(cfg, (1, 28, 28), 10)
    xtr, ytr, _, _ = load_fmnist(os.environ.get("FMNIST", "/work/shared/data/fashion-mnist"))
    x = torch.from_numpy(xtr[:BATCH].reshape(BATCH, 1, 28, 28).copy())
    y = torch.nn.functional.one_hot(torch.from_numpy(ytr[:BATCH]).long(), 10).float()
    res = pc_gradient(model, x, y, steps=T, lr=ACT_LR)
    params = [p.detach().numpy() for p in model.ep_parameters()]
    grads = [g.detach().numpy() for g in res.grads]
    # ep_parameters: the weights (input side first), then the biases
    n = len(HIDDEN) + 1
    np.savez(path, x=xtr[:BATCH], y=y.numpy(),
             **{f"w{i}": params[i] for i in range(n)}, **{f"b{i}": params[n + i] for i in range(n)},
             **{f"gw{i}": grads[i] for i in range(n)}, **{f"gb{i}": grads[n + i] for i in range(n)})
    print(f"ours: wrote {path}: " + ", ".join(f"w{i} {params[i].shape}" for i in range(n)))


def pcx(path: str) -> None:
    import jax.numpy as jnp

    sys.path.insert(0, HERE)
    from pcx_mlp import make_pcx

    d = np.load(path)
    n = len(HIDDEN) + 1
    P = make_pcx([784] + HIDDEN + [10], "relu", ACT_LR, 1e-3, BATCH)
    model, _, optim_h = P.build(0)
    for i, layer in enumerate(model.layers):
        layer.nn.weight.set(jnp.asarray(d[f"w{i}"]))
        layer.nn.bias.set(jnp.asarray(d[f"b{i}"]))
    g = P.weight_grads(T, jnp.asarray(d["x"]), jnp.asarray(d["y"]), model=model, optim_h=optim_h)
    worst = 0.0
    for i, (gw, gb) in enumerate(g):
        for name, a, b in ((f"W{i + 1}", np.asarray(gw), d[f"gw{i}"]), (f"b{i + 1}", np.asarray(gb), d[f"gb{i}"])):
            rel = float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))
            worst = max(worst, rel)
            print(f"{name}: shape {a.shape}, max |grad| {np.abs(b).max():.3e}, max rel diff {rel:.2e}")
    print(f"worst relative difference {worst:.2e}: {'SAME' if worst < 1e-4 else 'DIFFERENT'}")


if __name__ == "__main__":
    {"ours": ours, "pcx": pcx}[sys.argv[1]](sys.argv[2])
