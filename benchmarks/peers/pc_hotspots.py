"""Where analog-ep's PC training step spends its time (benchmarks/pc_vs_pcx.md, "Profile").

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/peers/pc_hotspots.py [--batch 64] [--batches 300]

On the benchmark's network (pcn_mlp 784-256-256-10, relu, T = 8, activity lr 0.1, Adam):

1. cProfile of ``Trainer.train_step`` over ``--batches`` mini-batches (cumulative time of the
   functions of the PC step, calls per batch);
2. counts per batch of the matrix products by shape (which reads are repeated);
3. micro-benchmarks of the operations the profile points at;
4. the same step written directly in torch (forward init, T activity steps, dE/dW; checked equal
   to ``pc_gradient``), as the lower bound of what the torch side could do.

Only reads analog_ep (its PYTHONPATH or the checkout); changes nothing.
"""

from __future__ import annotations

import argparse
import cProfile
import collections
import io
import os
import pstats
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from analog_ep.algorithms.pc import pc_gradient  # noqa: E402
from analog_ep.config.loader import load_config  # noqa: E402
from analog_ep.train.build import build_model, build_optimizer  # noqa: E402
from pcx_mlp import load_fmnist  # noqa: E402


def per_call_us(f, n=2000):
    for _ in range(50):
        f()
    t0 = time.perf_counter()
    for _ in range(n):
        f()
    return (time.perf_counter() - t0) / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--batches", type=int, default=300)
    ap.add_argument("--data", default="/work/shared/data/fashion-mnist")
    args = ap.parse_args()
    B, N = args.batch, args.batches
    import analog_ep

    print(f"analog_ep from {os.path.dirname(analog_ep.__file__)}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} thread(s); batch {B}, {N} batches")

    cfg = load_config(None, ["algorithm=pc", "model.name=pcn_mlp", "model.hidden=[256,256]", "data.name=fashion_mnist",
                             "pc.steps=8", "pc.activity_lr=0.1", "train.optimizer=adam", "train.lr=0.001",
                             "train.lr_scaling=none", f"data.batch_size={B}"])
    model = build_model(cfg, (1, 28, 28), 10)
    xtr, ytr, _, _ = load_fmnist(args.data)
    X = torch.from_numpy(xtr[:B * N].reshape(-1, 1, 28, 28).copy())
    Y = torch.nn.functional.one_hot(torch.from_numpy(ytr[:B * N]).long(), 10).float()
    batch = [(X[i * B:(i + 1) * B], Y[i * B:(i + 1) * B]) for i in range(N)]

    # 1. the whole train step (as the CLI runs it), profiled
    from analog_ep.train.loop import Trainer

    from analog_ep.train.loop import make_trainer

    trainer = make_trainer(cfg, None, data=(None, None, type("Info", (), {"shape": (1, 28, 28), "num_classes": 10})))
    model = trainer.model
    ys = [torch.from_numpy(ytr[i * B:(i + 1) * B]).long() for i in range(N)]
    for i in range(5):
        trainer.train_step(batch[i][0], ys[i])
    t0 = time.perf_counter()
    for i in range(N):
        trainer.train_step(batch[i][0], ys[i])
    step_ms = (time.perf_counter() - t0) / N * 1e3
    prof = cProfile.Profile()
    prof.enable()
    for i in range(N):
        trainer.train_step(batch[i][0], ys[i])
    prof.disable()
    st = pstats.Stats(prof)
    total = sum(v[3] for k, v in st.stats.items() if k[2] == "train_step")
    print(f"\n1. train_step: {step_ms:.2f} ms/batch unprofiled; cProfile share of train_step "
          f"(cumulative, calls per batch):")
    want = ["pc_gradient", "errs", "errors", "_preact", "linear", "linear_t", "error_at", "act_grad", "topdown",
            "layer_energy", "energy_grad_terms", "_materialize", "apply_updates", "step", "<genexpr>", "forward_pass"]
    rows = collections.OrderedDict()
    for (fn, line, name), v in st.stats.items():
        if name in want and ("analog_ep" in fn or "optim" in fn):
            key = f"{os.path.basename(fn)}:{name}"
            if name == "step" and "adam" not in fn:
                continue
            if name == "<genexpr>" and "loop.py" not in fn:
                continue
            c, t = rows.get(key, (0, 0.0))
            rows[key] = (c + v[1], t + v[3])
    for key, (calls, cum) in sorted(rows.items(), key=lambda kv: -kv[1][1]):
        print(f"   {key:34s} {100 * cum / total:5.1f} %   {calls / N:6.1f} calls/batch")

    # 2. matrix products per batch, by shape
    counts: collections.Counter = collections.Counter()
    orig_mm = torch.Tensor.__matmul__

    def counting(a, b):
        counts[(tuple(a.shape), tuple(b.shape))] += 1
        return orig_mm(a, b)

    torch.Tensor.__matmul__ = counting
    try:
        for i in range(10):
            pc_gradient(model, *batch[i], steps=8, lr=0.1)
    finally:
        torch.Tensor.__matmul__ = orig_mm
    print("\n2. matrix products per batch in pc_gradient (shape A @ shape B: count):")
    for (sa, sb), c in sorted(counts.items(), key=lambda kv: -kv[1]):
        print(f"   {str(sa):12s} @ {str(sb):12s} {c / 10:5.1f}")

    # 3. micro-benchmarks
    a, e = torch.randn(B, 256), torch.randn(B, 256)
    x, W1, W2 = torch.randn(B, 784), torch.randn(256, 784), torch.randn(256, 256)
    print("\n3. per call (us):")
    print(f"   x @ W1.T  ({B}x784 @ 784x256)          {per_call_us(lambda: x @ W1.t(), 300):8.1f}")
    print(f"   s @ W2.T  ({B}x256 @ 256x256)          {per_call_us(lambda: a @ W2.t(), 500):8.1f}")
    print(f"   a - b     ({B}x256)                    {per_call_us(lambda: a - e):8.1f}")
    print(f"   (a > 0).to(float32) * eps  (relu')     {per_call_us(lambda: (a > 0).to(a.dtype) * e):8.1f}")
    print(f"   aten.threshold_backward(eps, a, 0)     "
          f"{per_call_us(lambda: torch.ops.aten.threshold_backward(e, a, 0.0)):8.1f}")

    # 4. the same maths written directly
    Ws = [p.detach().clone() for p in model.ep_parameters()]
    W1_, W2_, W3_, b1, b2, b3 = Ws

    def direct(xb, yb, T=8, lr=0.1):
        xb = xb.reshape(xb.shape[0], -1)
        a1 = torch.addmm(b1, xb, W1_.t())  # constant during inference: x is clamped
        s1 = a1.clamp_min(0)
        s2 = torch.addmm(b2, s1, W2_.t()).clamp_min(0)
        for _ in range(T):
            a2, a3 = torch.addmm(b2, s1, W2_.t()), torch.addmm(b3, s2, W3_.t())
            e1, e2, e3 = s1 - a1.clamp_min(0), s2 - a2.clamp_min(0), yb - a3
            d2 = torch.ops.aten.threshold_backward(e2, a2, 0.0)
            s1, s2 = s1 - lr * (e1 - d2 @ W2_), s2 - lr * (e2 - e3 @ W3_)
        a2, a3 = torch.addmm(b2, s1, W2_.t()), torch.addmm(b3, s2, W3_.t())
        d1 = torch.ops.aten.threshold_backward(s1 - a1.clamp_min(0), a1, 0.0)
        d2 = torch.ops.aten.threshold_backward(s2 - a2.clamp_min(0), a2, 0.0)
        d3 = yb - a3
        n = xb.shape[0]
        return [-(d1.t() @ xb) / n, -(d2.t() @ s1) / n, -(d3.t() @ s2) / n, -d1.mean(0), -d2.mean(0), -d3.mean(0)]

    ref = pc_gradient(model, *batch[0], steps=8, lr=0.1).grads
    got = direct(*batch[0])
    rel = max(float((p - q).abs().max() / q.abs().max()) for p, q in zip(got, ref))
    t0 = time.perf_counter()
    for i in range(N):
        pc_gradient(model, *batch[i], steps=8, lr=0.1)
    pc_ms = (time.perf_counter() - t0) / N * 1e3
    t0 = time.perf_counter()
    for i in range(N):
        direct(*batch[i])
    direct_ms = (time.perf_counter() - t0) / N * 1e3
    print(f"\n4. pc_gradient {pc_ms:.2f} ms/batch; the same maths written directly {direct_ms:.2f} ms/batch "
          f"(max relative difference of the gradients {rel:.1e})")


if __name__ == "__main__":
    main()
