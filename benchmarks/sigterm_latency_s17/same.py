"""Whether two run folders hold the same trained run, bit for bit (session 17, task S).

    python benchmarks/sigterm_latency_s17/same.py RUN_A RUN_B

Compares ``checkpoint.pt``: every tensor of the model's state (weights, conductances, device
state, counters), the optimizer's state, the epoch, and each history row's values except the
wall-clock ones (``seconds``, ``eval_seconds``); prints one JSON line (``same``: true or false,
and the first differences) and the two ``results.h5`` statuses.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import h5py
import torch

CLOCK = ("seconds", "eval_seconds")


def diffs(a, b, where: str, out: list) -> None:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.dtype == b.dtype
                and a.shape == b.shape and torch.equal(a, b)):
            out.append(where)
    elif isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            if k in CLOCK or "seconds" in str(k):
                continue
            diffs(a.get(k), b.get(k), f"{where}.{k}", out)
    elif isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            diffs(x, y, f"{where}[{i}]", out)
    elif a != b and not (a != a and b != b):  # (NaN equals NaN here)
        out.append(where)


def status(run: Path) -> str:
    with h5py.File(run / "results.h5", "r") as f:
        return str(f.attrs.get("status"))


def main() -> None:
    ra, rb = Path(sys.argv[1]), Path(sys.argv[2])
    ca = torch.load(ra / "checkpoint.pt", map_location="cpu", weights_only=False)
    cb = torch.load(rb / "checkpoint.pt", map_location="cpu", weights_only=False)
    out: list = []
    for key in ("epoch", "model", "optimizer", "history", "partial"):
        diffs(ca.get(key), cb.get(key), key, out)
    n_model = len(ca["model"])
    print(json.dumps({"a": str(ra), "b": str(rb), "same": not out, "differences": out[:10],
                      "model_tensors": n_model, "epochs": [ca["epoch"], cb["epoch"]],
                      "test_accuracy": [ca["history"][-1].get("test_accuracy") if ca["history"] else None,
                                        cb["history"][-1].get("test_accuracy") if cb["history"] else None],
                      "status": [status(ra), status(rb)]}))


if __name__ == "__main__":
    main()
