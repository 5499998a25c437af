"""aihwkit 1.2.0 side of the preset side-by-side (benchmarks/aihwkit_presets.md): a 784-500-10
MLP of AnalogLinear layers on one aihwkit preset, softmax cross-entropy, AnalogSGD, Fashion-MNIST
read from the IDX files (pixels / 255, no normalization: ``data.normalize: unit`` on our side).

Runs in a virtual environment that has aihwkit (built from its source distribution, see the
record); prints one JSON line with the test accuracy after every epoch.

    python aihwkit_mlp.py --preset ReRamSBPreset --activation sigmoid --seed 0 --epochs 4

``--activation clamp`` is clip(x, 0, 1) (torch.nn.Hardtanh(0, 1)), our ``clamp``. The torch
seed fixes the initialization and the data order; aihwkit's C++ random generator (device
draws, pulse trains, output noise) is not seeded by torch, so runs with the same seed scatter.

``--init NPZ`` (written by benchmarks/scripts/export_init.py from an analog-ep config) starts from
analog-ep's run instead: every layer's weights are programmed with aihwkit's own
``set_weights`` (so the preset's write noise on set applies, as at construction) and its biases
set to the exported ones, and epoch ``e`` trains on the exported training-file indices
``order[e]`` in batches of ``batch_size`` (the last batch partial, as analog-ep's). ``--train-size``
and ``--seed``'s data order are then unused; the seed still seeds torch. ``--preset
FloatingPoint`` is an ideal device (``FloatingPointRPUConfig``: the digital sanity check).
"""

from __future__ import annotations

import argparse
import gzip
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn


def read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def find(root: Path, stem: str) -> Path:
    for p in (root / stem, root / (stem + ".gz")):
        if p.exists():
            return p
    raise FileNotFoundError(f"{root}: no {stem}[.gz]")


def load(root: Path, split: str, size: int | None):
    x = read_idx(find(root, f"{split}-images-idx3-ubyte")).reshape(-1, 784).astype(np.float32) / 255.0
    y = read_idx(find(root, f"{split}-labels-idx1-ubyte")).astype(np.int64)
    if size:
        x, y = x[:size], y[:size]
    return torch.from_numpy(x), torch.from_numpy(y)


def apply_init(model, init: dict) -> list[dict]:
    """Program the exported weights and set the exported biases on the analog layers, in order;
    returns per layer how far the weights read back (``get_weights``) lie from the exported ones
    (aihwkit's write noise on set; 0 on an ideal device)."""
    from aihwkit.nn import AnalogLinear

    layers = [m for m in model.modules() if isinstance(m, AnalogLinear)]
    weights = sorted(k for k in init if k.startswith("weight_"))
    if len(weights) != len(layers):
        raise SystemExit(f"--init: {len(weights)} weight arrays for {len(layers)} analog layers")
    set_error = []
    for i, layer in enumerate(layers):
        w = torch.from_numpy(init[f"weight_{i}"]).float()
        b = torch.from_numpy(init[f"bias_{i}"]).float()
        layer.set_weights(w, b)
        got_w, got_b = layer.get_weights()
        set_error.append({"layer": i, "weight_max_abs": float((got_w - w).abs().max()),
                          "weight_rms": float((got_w - w).pow(2).mean().sqrt()),
                          "bias_max_abs": float((got_b - b).abs().max())})
    return set_error


def make_rpu(name: str):
    if name == "FloatingPoint":
        from aihwkit.simulator.configs import FloatingPointRPUConfig

        return FloatingPointRPUConfig()
    from aihwkit.simulator import presets

    return getattr(presets, name)()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="ReRamSBPreset")
    ap.add_argument("--activation", choices=("sigmoid", "clamp"), default="sigmoid")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--train-size", type=int, default=0, help="first N training images (0 = all)")
    ap.add_argument("--test-size", type=int, default=0)
    ap.add_argument("--data", default="/work/shared/data/fashion-mnist")
    ap.add_argument("--init", default=None, help="analog-ep's initial weights, biases and data order (.npz)")
    ap.add_argument("--repeat", type=int, default=0, help="a label for repeated runs of one init (recorded)")
    a = ap.parse_args()

    import aihwkit
    from aihwkit.nn import AnalogLinear, AnalogSequential
    from aihwkit.optim import AnalogSGD

    torch.manual_seed(a.seed)
    torch.set_num_threads(1)
    root = Path(a.data)
    init = dict(np.load(a.init)) if a.init else None
    xtr, ytr = load(root, "train", None if init is not None else (a.train_size or None))
    xte, yte = load(root, "t10k", a.test_size or None)
    rpu = make_rpu(a.preset)
    act = nn.Sigmoid() if a.activation == "sigmoid" else nn.Hardtanh(0.0, 1.0)
    model = AnalogSequential(AnalogLinear(784, 500, bias=True, rpu_config=rpu), act,
                             AnalogLinear(500, 10, bias=True, rpu_config=rpu))
    if init is not None:
        set_error = apply_init(model, init)
        batch = int(init["batch_size"])
        orders = [torch.from_numpy(o) for o in init["order"]]
        if len(orders) < a.epochs:
            raise SystemExit(f"--init: the order covers {len(orders)} epochs, --epochs is {a.epochs}")
        n_train = len(orders[0])
    else:
        batch, orders, n_train, set_error = a.batch, None, len(xtr), None
    opt = AnalogSGD(model.parameters(), lr=a.lr)
    opt.regroup_param_groups(model)
    loss_fn = nn.CrossEntropyLoss()
    g = torch.Generator().manual_seed(a.seed)
    hist = []
    for epoch in range(1, a.epochs + 1):
        t0 = time.perf_counter()
        model.train()
        if orders is None:  # the first train_size images, whole batches of a seeded permutation
            perm = torch.randperm(len(xtr), generator=g)
            starts = range(0, len(xtr) - batch + 1, batch)
        else:  # analog-ep's order: indices into the training file, the last batch partial
            perm = orders[epoch - 1]
            starts = range(0, len(perm), batch)
        for i in starts:
            idx = perm[i:i + batch]
            opt.zero_grad()
            loss = loss_fn(model(xtr[idx]), ytr[idx])
            loss.backward()
            opt.step()
        train_s = time.perf_counter() - t0
        model.eval()
        correct = 0
        with torch.no_grad():
            for i in range(0, len(xte), 1000):
                correct += int((model(xte[i:i + 1000]).argmax(1) == yte[i:i + 1000]).sum())
        hist.append({"epoch": epoch, "test_accuracy": correct / len(xte), "train_s": round(train_s, 2)})
    print(json.dumps({"simulator": f"aihwkit {aihwkit.__version__}", "preset": a.preset,
                      "activation": a.activation, "seed": a.seed, "lr": a.lr, "batch": batch,
                      "train_size": n_train, "test_size": len(xte),
                      "init": a.init, "repeat": a.repeat, "set_error": set_error,
                      "history": hist}))


if __name__ == "__main__":
    main()
