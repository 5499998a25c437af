"""What share of a settle's integration step its reads take, on the models whose settle runs the
torch loop (dchn_vgg5, a PCN) and, for reference, the Hopfield MLP's torch loop
(``compute.kernels: torch``: its fused node step reads through the storages, not through the
synapses' ``read``, which the timers wrap).

One EP training step (free + nudge+ + nudge-; a PCN: its two nudged phases) per round through the
trainer's own ``train_step`` (the training path), with every synapse's ``read`` / ``read_t``
wrapped in a timer (the outermost call only: a read that calls another synapse's read is counted
once). CPU, one thread, so a call's wall time is its work (the timers' own overhead is in the
"reads" column: two perf_counter calls per read). Rounds alternate nothing; the figure is a share
within one step, so the load's drift cancels to first order. Prints one line per model.

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/settle_fmnist_s11/read_share.py [rounds]
"""

import sys
import time

import torch

from analog_ep.config import load_config
from analog_ep.synapses.base import Synapse
from analog_ep.train import make_trainer

F = ["data.name=synthetic", "data.shape=[1,28,28]", "data.num_classes=10", "data.train_size=64", "data.test_size=64",
     "data.batch_size=64", "analog.device=memristor", "analog.relaxation=settle", "data.augment=[]"]
MODELS = {
    "hopfield_mlp 784-500-10 (torch loop: compute.kernels=torch)": ("configs/hopfield_mlp_fmnist.yaml",
                                                                    ["compute.kernels=torch"]),
    "dchn_vgg5 32-64-64-64 (torch loop)": ("configs/dchn_vgg5_fmnist.yaml", ["model.channels=[32,64,64,64]",
                                                                              "solver.free_iters=30",
                                                                              "solver.nudge_iters=10"]),
    "pcn_mlp 784-500-10 (torch loop)": (None, ["model.name=pcn_mlp", "model.hidden=[500]"]),
}


READS = ("read", "read_t", "read_bias")
"""A synapse's reads (a PCN's forward reads are ``read_bias``: the read and its bias in one call)."""


class Timer:
    def __init__(self):
        self.depth, self.seconds, self.calls = 0, 0.0, 0

    def wrap(self, fn):
        def timed(*a, **k):
            if self.depth:
                return fn(*a, **k)
            self.depth += 1
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                self.seconds += time.perf_counter() - t0
                self.calls += 1
                self.depth -= 1
        return timed


def measure(config, over, rounds):
    t = make_trainer(load_config(config, F + over), None)
    timer = Timer()
    for m in t.model.modules():
        if isinstance(m, Synapse):
            for name in READS:
                setattr(m, name, timer.wrap(getattr(m, name)))
    x, y = t.train_set.batch(torch.arange(64))
    t.model.train()
    t.train_step(x, y)  # warm-up (numba compilation, caches)
    rows = []
    for _ in range(rounds):
        timer.seconds, timer.calls = 0.0, 0
        t0, c0 = time.perf_counter(), time.process_time()
        _, _, stats = t.train_step(x, y)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        steps = sum(int(s.sweeps) for s in stats.values())
        rows.append((wall, cpu, timer.seconds, timer.calls, steps))
    return rows


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    torch.set_num_threads(1)
    for name, (config, over) in MODELS.items():
        rows = measure(config, over, rounds)
        shares = sorted(r[2] / r[0] for r in rows)
        wall = sorted(r[0] for r in rows)[len(rows) // 2]
        cpu = sorted(r[1] for r in rows)[len(rows) // 2]
        steps, calls = rows[-1][4], rows[-1][3]
        print(f"{name}: EP step {wall:.3f} s wall ({cpu:.3f} s CPU), {steps} integration steps, "
              f"{calls} reads, {wall / steps * 1e3:.2f} ms per integration step; reads "
              f"{shares[len(shares) // 2]:.0%} of the step (rounds {', '.join(f'{s:.0%}' for s in shares)})",
              flush=True)


if __name__ == "__main__":
    main()
