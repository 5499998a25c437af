"""Offline: the patience rule and the floor threshold (one constant sigma per phase, z = none, 2, 2.5, 3, 3.5) on the
full-budget traces of stop_trace.py: per-sample and batch sweeps per phase. Usage: python s10_stop_sim.py TRACE.pt"""
import torch, sys, collections
d = torch.load(sys.argv[1])
def rule(t, P=3, drop=0.05, thr=None):
    B, N = t.shape
    best = torch.full((B,), float("inf")); st = torch.zeros(B, dtype=torch.long)
    steps = torch.full((B,), N)
    on = torch.zeros(B, dtype=torch.bool)
    for n in range(N):
        r = t[:, n]
        prog = r < best * (1 - drop); best = torch.minimum(best, r)
        st = torch.where(prog, 0, st + 1)
        on |= st >= P
        if thr is not None: on |= r <= thr
        steps = torch.where(on & (steps == N), n + 1, steps)
    return steps
by = collections.defaultdict(list)
for p, t in d: by[p].append(t)
sig2 = 1.414 * 0.089 * 0.0615   # sqrt(2) sigma: w_scale max|x| ~ 0.089 (the residual quantum 0.0042 over the ADC step 12/255) times sqrt(0.06^2 + step^2/12)
for p in ["free", "nudge+", "nudge-"]:
    ts = by[p][5:]
    out = []
    for z in [None, 2.0, 2.5, 3.0, 3.5]:
        thr = None if z is None else z * sig2
        st = [rule(t, thr=thr) for t in ts]
        out.append(f"z={z}: sample {torch.cat(st).float().mean():.2f} batch {sum(s.max().item() for s in st)/len(st):.2f}")
    print(p, " | ".join(out))
