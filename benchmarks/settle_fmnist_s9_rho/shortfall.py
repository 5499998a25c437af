"""How far below the spectral radius the settle's per-phase rho estimate falls (issue 20), on
F-MNIST 784-500-10 (memristor card, settle, batch 64, three EP steps from the config's init):
per phase, the batch's largest rho from the solver's own estimate (settle._phase_rate: cold 8
iterations on a step's first phase, warm 2 on its nudged phases), from the cold 8-iteration
estimate at the same point, and a 200-iteration cold reference. Usage (repo root, venv):

    OMP_NUM_THREADS=1 python benchmarks/settle_fmnist_s9_rho/shortfall.py
"""
import json

import torch

torch.set_num_threads(1)
import analog_ep.solvers.settle as ST
from analog_ep.config import load_config
from analog_ep.data import load_data
from analog_ep.train.loop import make_trainer

rows = []
_phase = ST._phase_rate


def phase(model, const, f, v):
    warm = ST._WARM.get(model)
    warm = warm is not None and warm[0] is const
    got = _phase(model, const, f, v)
    cold8 = ST.slowest_rate(f, v)
    ref = ST.slowest_rate(f, v, iters=200)
    rows.append({"phase": len(rows), "warm": warm, "rho_max_used": round(float((1 - got).max()), 5),
                 "rho_max_cold8": round(float((1 - cold8).max()), 5), "rho_max_ref200": round(float((1 - ref).max()), 5),
                 "sample_worst_under_used": round(float(((got - ref) / (1 - ref).clamp_min(1e-9)).max()), 4)})
    return got


ST._phase_rate = phase
S = ["analog.device=memristor", "data.root=/work/shared/data/fashion-mnist", "data.train_size=640",
     "data.test_size=64", "analog.relaxation=settle"]
cfg = load_config("configs/hopfield_mlp_fmnist.yaml", S)
data = load_data(cfg.data, 0)
tr = make_trainer(cfg, None, data=(data[0], data[0], data[2]))
for r in range(3):
    x, y = data[0].batch(slice(64 * r, 64 * (r + 1)))
    tr.train_step(x, y)
for row in rows:
    print(json.dumps(row))
