"""A/B in one process: the settle EP step with the fused node step (numba_settle) and with the
torch loop on the same (numba) reads, alternated, CPU (process) time and wall time per step.
784-500-10, memristor card, batch 64 (configs/hopfield_mlp_fmnist.yaml), the default step.
Usage: OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/settle_fmnist_s10/loop_ab.py [rounds]"""
import statistics
import sys
import time

from analog_ep.config import load_config
from analog_ep.solvers import settle as ST
from analog_ep.train import make_trainer

rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 4
fused = ST._fused_steps
t = make_trainer(load_config("configs/hopfield_mlp_fmnist.yaml", ["analog.device=memristor", "analog.relaxation=settle",
                                                                  "data.train_size=640", "data.test_size=64"]), None)
x, y = t.train_set.batch(slice(0, 64))
t.train_step(x, y)
rows = {"torch loop": [], "fused": []}
for r in range(rounds):
    for name, f in (("torch loop", lambda *a: None), ("fused", fused)) if r % 2 == 0 else (("fused", fused), ("torch loop", lambda *a: None)):
        ST._fused_steps = f
        c0, w0, n = time.process_time(), time.perf_counter(), 0
        for _ in range(3):
            n += sum(st.sweeps for st in t.train_step(x, y)[2].values())
        rows[name].append(((time.process_time() - c0) / 3, (time.perf_counter() - w0) / 3, n / 3))
for name, v in rows.items():
    print(f"{name}: CPU ms per EP step {statistics.median(a for a, _, _ in v) * 1e3:.1f} (rounds "
          f"{', '.join(f'{a * 1e3:.1f}' for a, _, _ in v)}), wall {statistics.median(b for _, b, _ in v) * 1e3:.1f}, "
          f"integration steps per EP step {statistics.mean(c for _, _, c in v):.1f}, CPU us per integration step "
          f"{statistics.median(a / c for a, _, c in v) * 1e6:.0f}")
