"""compare_runs.py RUN_A RUN_B: are two run folders the same training? Every checkpoint tensor
compared with torch.equal (keys present in one only are listed), then every per-epoch record of
results.h5 value by value. Prints the keys only in one, the tensors that differ, (tensors compared,
tensors different) and the epoch records that differ (wall-clock ones always do)."""
import sys

import torch

from analog_ep.results import read_results


def walk(x, y, p=""):
    n = d = 0
    if isinstance(x, dict):
        for k in x:
            if k not in y:
                print("only A", p + str(k))
                continue
            nn, dd = walk(x[k], y[k], p + str(k) + ".")
            n, d = n + nn, d + dd
        for k in y:
            if k not in x:
                print("only B", p + str(k))
    elif isinstance(x, (list, tuple)):
        for i, (u, v) in enumerate(zip(x, y)):
            nn, dd = walk(u, v, p + str(i) + ".")
            n, d = n + nn, d + dd
    elif torch.is_tensor(x):
        n = 1
        if not (x.shape == y.shape and torch.equal(x, y)):
            d = 1
            print("DIFF", p)
    return n, d


a, b = sys.argv[1:3]
print(walk(torch.load(f"{a}/checkpoint.pt", weights_only=False), torch.load(f"{b}/checkpoint.pt", weights_only=False)))
ra, rb = read_results(f"{a}/results.h5")["epochs"], read_results(f"{b}/results.h5")["epochs"]
for k in sorted(set(ra) | set(rb)):
    va, vb = ra.get(k), rb.get(k)
    if va is None or vb is None or list(va) != list(vb):
        print(k, va, vb)
