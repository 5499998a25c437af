"""CPU time of one Stopper.update (64 samples, random residuals, no stop), noise floor and tol, best of
5 x 2000 calls (session 7: the bookkeeping in place). Usage (repo root, PYTHONPATH=TREE for another tree):

    OMP_NUM_THREADS=1 python benchmarks/speed_fmnist/stopper_parts.py"""
import json, time

import torch

torch.set_num_threads(1)
from analog_ep.solvers.base import Stopper


def cost(stop: str, n: int = 2000) -> float:
    best = 1e9
    for _ in range(5):
        st = Stopper(torch.zeros(64, 10), 10 ** 9, 1e-4, 1, stop, noisy=True)
        rs = [torch.rand(64) + 1 for _ in range(50)]
        t0 = time.process_time()
        for i in range(n):
            st.update(i + 1, rs[i % 50])
        best = min(best, (time.process_time() - t0) / n)
    return round(best * 1e6, 1)


print(json.dumps({"stopper_update_us": {"noise_floor": cost("noise_floor"), "tol": cost("tol")}}))
