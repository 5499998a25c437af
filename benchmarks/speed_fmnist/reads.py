"""Per-read cost of the 500x10 layer's two reads through the storage (CPU time per call, best of 5
x 300 calls, no autograd), torch and numba kernels, and the digital reads. Usage (repo root):
    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/speed_fmnist/reads.py"""
import json, time

import torch

torch.set_num_threads(1)
torch.set_grad_enabled(False)
from analog_ep.analog import kernels as K
from analog_ep.config import load_config
from analog_ep.data import load_data
from analog_ep.train.loop import make_trainer

S = ["analog.device=memristor", "data.root=/work/shared/data/fashion-mnist", "data.train_size=640", "data.test_size=64"]
cfg = load_config("configs/hopfield_mlp_fmnist.yaml", S)
data = load_data(cfg.data, cfg.seed)
tr = make_trainer(cfg, None, data=(data[0], data[0], data[2]))
st = list(tr.model.all_synapses())[-1].storage
x, y = torch.rand(64, 500), torch.rand(64, 10)
w = st._stored()


def cost(f, n=300):
    for _ in range(20):
        f()
    best = 1e9
    for _ in range(5):
        t0 = time.process_time()
        for _ in range(n):
            f()
        best = min(best, (time.process_time() - t0) / n)
    return round(best * 1e6, 1)


out = {}
for mode in ("torch", "numba"):
    K.set_mode(mode)
    st.begin_batch()
    st.begin_phase()
    out[f"{mode} forward 64x500->10 us"] = cost(lambda: st.linear(x))
    out[f"{mode} transposed 64x10->500 us"] = cost(lambda: st.linear_t(y))
out["digital forward us"] = cost(lambda: torch.nn.functional.linear(x, w))
out["digital transposed us"] = cost(lambda: y @ w)
print(json.dumps(out))
