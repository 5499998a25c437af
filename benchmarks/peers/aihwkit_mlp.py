"""aihwkit 1.2.0 side of the preset side-by-side (benchmarks/aihwkit_presets.md): a 784-500-10
MLP of AnalogLinear layers on one aihwkit preset, softmax cross-entropy, AnalogSGD, Fashion-MNIST
read from the IDX files (pixels / 255, no normalization: ``data.normalize: unit`` on our side).

Runs in a virtual environment that has aihwkit (built from its source distribution, see the
record); prints one JSON line with the test accuracy after every epoch.

    python aihwkit_mlp.py --preset ReRamSBPreset --activation sigmoid --seed 0 --epochs 4

``--activation clamp`` is clip(x, 0, 1) (torch.nn.Hardtanh(0, 1)), our ``clamp``. The torch
seed fixes the initialization and the data order; aihwkit's C++ random generator (device
draws, pulse trains, output noise) is not seeded by torch, so runs with the same seed scatter.
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
    a = ap.parse_args()

    import aihwkit
    from aihwkit.nn import AnalogLinear, AnalogSequential
    from aihwkit.optim import AnalogSGD
    from aihwkit.simulator import presets

    torch.manual_seed(a.seed)
    torch.set_num_threads(1)
    root = Path(a.data)
    xtr, ytr = load(root, "train", a.train_size or None)
    xte, yte = load(root, "t10k", a.test_size or None)
    rpu = getattr(presets, a.preset)()
    act = nn.Sigmoid() if a.activation == "sigmoid" else nn.Hardtanh(0.0, 1.0)
    model = AnalogSequential(AnalogLinear(784, 500, bias=True, rpu_config=rpu), act,
                             AnalogLinear(500, 10, bias=True, rpu_config=rpu))
    opt = AnalogSGD(model.parameters(), lr=a.lr)
    opt.regroup_param_groups(model)
    loss_fn = nn.CrossEntropyLoss()
    g = torch.Generator().manual_seed(a.seed)
    hist = []
    for epoch in range(1, a.epochs + 1):
        t0 = time.perf_counter()
        model.train()
        perm = torch.randperm(len(xtr), generator=g)
        for i in range(0, len(xtr) - a.batch + 1, a.batch):
            idx = perm[i:i + a.batch]
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
                      "activation": a.activation, "seed": a.seed, "lr": a.lr, "batch": a.batch,
                      "train_size": len(xtr), "test_size": len(xte), "history": hist}))


if __name__ == "__main__":
    main()
