"""Every entry of two checkpoints compared: python cmp.py A/checkpoint.pt B/checkpoint.pt (prints the
entries that differ; an RNG state as the number of differing bytes)."""
import sys, torch, hashlib
def flat(x, p=""):
    if isinstance(x, dict):
        for k, v in x.items(): yield from flat(v, f"{p}/{k}")
    elif isinstance(x, (list, tuple)):
        for i, v in enumerate(x): yield from flat(v, f"{p}[{i}]")
    else: yield p, x
a = dict(flat(torch.load(sys.argv[1], weights_only=True)))
b = dict(flat(torch.load(sys.argv[2], weights_only=True)))
diff = []
for k in sorted(set(a) | set(b)):
    x, y = a.get(k), b.get(k)
    if isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor):
        same = x.shape == y.shape and x.dtype == y.dtype and torch.equal(x, y)
    else:
        same = x == y
    if not same:
        if isinstance(x, torch.Tensor) and k.endswith("rng"):
            diff.append((k, "rng differs", (x!=y).sum().item() if x.shape==y.shape else "shape"))
        else: diff.append((k, str(x)[:80], str(y)[:80]))
print(len(a), "entries;", len(diff), "differ")
for d in diff: print(" ", d)
