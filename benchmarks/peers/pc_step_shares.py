"""What each part of ``Trainer.train_step`` costs on the PC benchmark network, unprofiled
(benchmarks/pc_vs_pcx.md, "Where the step's time goes").

    OMP_NUM_THREADS=1 taskset -c 0 .venv/bin/python benchmarks/peers/pc_step_shares.py [--batch 64] [--batches 150]

pcn_mlp 784-256-256-10 relu, T = 8, activity lr 0.1, Adam 1e-3 (the benchmark's settings).
``train_step`` is timed as a whole, then its parts on their own over the same batches (best of 3
passes): ``pc_gradient``; ``apply_updates`` (the optimizer step through the storages, with fresh
copies of one batch's gradients, whose cost is listed too, as is the optimizer's step on the
parameters in place, without apply_updates' copies); the per-batch finite check of every
parameter; the loss and accuracy host reads; the rest (one_hot, begin_batch, the energy trace).
The parts are timed apart, so their sum differs from the whole by the timing noise.

Only reads analog_ep (its PYTHONPATH or the checkout); changes nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from analog_ep.algorithms.pc import pc_gradient  # noqa: E402
from analog_ep.config.loader import load_config  # noqa: E402
from analog_ep.train.build import build_model, build_optimizer  # noqa: E402
from analog_ep.train.loop import Trainer, one_hot  # noqa: E402
from pcx_mlp import load_fmnist  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--batches", type=int, default=150)
    ap.add_argument("--data", default="/work/shared/data/fashion-mnist")
    args = ap.parse_args()
    B, N = args.batch, args.batches
    import analog_ep

    print(f"analog_ep from {os.path.dirname(analog_ep.__file__)}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} thread(s); batch {B}, {N} batches")
    cfg = load_config(None, ["algorithm=pc", "model.name=pcn_mlp", "model.hidden=[256,256]", "data.name=fashion_mnist",
                             "pc.steps=8", "pc.activity_lr=0.1", "train.optimizer=adam", "train.lr=0.001",
                             "train.lr_scaling=none", f"data.batch_size={B}"])
    torch.manual_seed(0)
    model = build_model(cfg, (1, 28, 28), 10)
    xtr, ytr, _, _ = load_fmnist(args.data)
    X = torch.from_numpy(xtr[:B * N].reshape(-1, 1, 28, 28).copy())
    Y = torch.nn.functional.one_hot(torch.from_numpy(ytr[:B * N]).long(), 10).float()
    ys = [torch.from_numpy(ytr[i * B:(i + 1) * B]).long() for i in range(N)]
    batch = [(X[i * B:(i + 1) * B], Y[i * B:(i + 1) * B]) for i in range(N)]
    tr = Trainer.__new__(Trainer)  # only what train_step and apply_updates use
    tr.cfg, tr.model, tr.num_classes = cfg, model, 10
    tr.optimizer = build_optimizer(cfg, model)
    tr.teacher, tr.traces, tr.epoch = None, {}, 0
    for i in range(5):
        tr.train_step(batch[i][0], ys[i])

    def per_batch_ms(f, reps=3):
        best = float("inf")
        for _ in range(reps):
            t0 = time.perf_counter()
            for i in range(N):
                f(i)
            best = min(best, (time.perf_counter() - t0) / N * 1e3)
        return best

    r0 = pc_gradient(model, *batch[0], steps=8, lr=0.1)
    params = model.ep_parameters()

    def adam_step():  # what apply_updates does without its copies: set the gradients, step in place
        for p, g in zip(params, r0.grads):
            p.grad = g
        tr.optimizer.step()
    out = r0.output
    rows = {
        "train_step (whole)": per_batch_ms(lambda i: tr.train_step(batch[i][0], ys[i])),
        "pc_gradient": per_batch_ms(lambda i: pc_gradient(model, *batch[i], steps=8, lr=0.1)),
        "apply_updates (+ gradient copies)": per_batch_ms(
            lambda i: tr.apply_updates([g.clone() for g in r0.grads], r0.terms, None)),
        "  gradient copies alone": per_batch_ms(lambda i: [g.clone() for g in r0.grads]),
        "  the optimizer's step alone": per_batch_ms(lambda i: adam_step()),
        "finite check of the parameters": per_batch_ms(
            lambda i: all(torch.isfinite(p).all() for p in model.parameters())),
        "loss .item() + accuracy int()": per_batch_ms(
            lambda i: (model.cost(out, batch[i][1]).mean().item(), int((out.argmax(1) == ys[i]).sum()))),
        "one_hot + begin_batch + trace": per_batch_ms(
            lambda i: (one_hot(ys[i], 10, batch[i][0].dtype), model.begin_batch(), tr._trace("pc_energy", r0.energy))),
    }
    whole = rows["train_step (whole)"]
    for name, ms in rows.items():
        print(f"   {name:36s} {ms:7.3f} ms  {100 * ms / whole:5.1f} %")


if __name__ == "__main__":
    main()
