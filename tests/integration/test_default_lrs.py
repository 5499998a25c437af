"""The default learning rates train on 28x28 images (generated IDX files) without diverging."""

import gzip
import json
import math
import struct

import numpy as np
from typer.testing import CliRunner

from analog_ep.cli import app
from analog_ep.results import read_results


def _idx(arr: np.ndarray) -> bytes:
    arr = np.asarray(arr, dtype=np.uint8)
    return struct.pack(">I", 0x800 | arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


def make_blob_images(root, n_train=256, n_test=64, seed=0):
    """Fashion-MNIST-like IDX files: one smooth bright blob per class on a dark 28x28 background."""
    rng = np.random.RandomState(seed)
    yy, xx = np.mgrid[0:28, 0:28] / 27.0
    protos = []
    for _ in range(10):
        cy, cx, r = rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7), rng.uniform(0.2, 0.35)
        protos.append(np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r ** 2)))
    root.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("t10k", n_test)):
        y = rng.randint(0, 10, n)
        x = np.stack([protos[c] for c in y]) * rng.uniform(0.6, 1.0, (n, 1, 1)) + rng.normal(0, 0.1, (n, 28, 28))
        (root / f"{split}-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx(np.clip(x * 255, 0, 255))))
        (root / f"{split}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx(y)))


def test_default_config_does_not_diverge_on_28x28(tmp_path):
    make_blob_images(tmp_path / "data")
    res = CliRunner().invoke(app, ["train", "--set", "data.name=fashion_mnist", "--set",
                                   f"data.root={tmp_path / 'data'}", "--set", "model.hidden=[500]",
                                   "--set", "train.epochs=1", "--out", str(tmp_path / "run"), "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["status"] == "finished"
    assert math.isfinite(summary["train_loss"]) and math.isfinite(summary["test_loss"])
    assert summary["test_accuracy"] > 0.2  # above chance (0.1) after 8 steps
    assert read_results(summary["results"])["status"] == "finished"
