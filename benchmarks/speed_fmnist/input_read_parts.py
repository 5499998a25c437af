"""Parts of the input layer's read (784 -> 500 on two tiles of 512 + 272 rows, the constant drive an
EP step reads once) under compute.kernels numba, CPU time per call (best of 5 x 200): through the
storage (what ``const_drive`` calls), the kernel alone, its DAC with abs-max noise management, the
two tile products, the output stage (output noise, per-tile ADC, digital sum, noise-management
scale), and digital EP's one product. Usage (repo root):

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/speed_fmnist/input_read_parts.py"""
import json, time

import torch

torch.set_num_threads(1); torch.set_grad_enabled(False)
from analog_ep.analog import kernels as K
from analog_ep.analog import reads as R
from analog_ep.analog.kernels import numba_reads as NR
from analog_ep.config import load_config
from analog_ep.data import load_data
from analog_ep.train.loop import make_trainer

S = ["analog.device=memristor", "data.root=/work/shared/data/fashion-mnist", "data.train_size=640", "data.test_size=64"]
cfg = load_config("configs/hopfield_mlp_fmnist.yaml", S)
data = load_data(cfg.data, cfg.seed)
tr = make_trainer(cfg, None, data=(data[0], data[0], data[2]))
st = list(tr.model.all_synapses())[0].storage
x = torch.rand(64, 784)
w = st._stored()


def cost(f, n=200):
    for _ in range(10):
        f()
    best = 1e9
    for _ in range(5):
        t0 = time.process_time()
        for _ in range(n):
            f()
        best = min(best, (time.process_time() - t0) / n)
    return round(best * 1e6, 1)


K.set_mode("numba"); st.begin_batch(); st.begin_phase()
p = st.periph
sizes = R.split_sizes(784, st.max_rows, p.tiling)
out = {"tiles": sizes}
out["storage linear"] = cost(lambda: st.linear(x))
r = st._out_randn(7, 3, x)
out["kernel dense_forward"] = cost(lambda: NR.dense_forward(x, w, p, st.max_rows, st.w_scale, st.g_unit, r, None))
out["DAC (abs-max, 7 bits)"] = cost(lambda: NR._dac_dense(x, sizes, p, NR._NM_LAYER))
xq, s = NR._dac_dense(x, sizes, p, NR._NM_LAYER)
lines = R._slices(sizes)
ws = [w[:, sl].t() for sl in lines]
t = torch.empty((len(sizes), 64, 500))


def products():
    for i, sl in enumerate(lines):
        torch.mm(xq[:, sl], ws[i], out=t[i])


out["tile products"] = cost(products)
out["output stage (noise, ADC per tile, sum)"] = cost(
    lambda: NR._finish(t, None, s, p, st.w_scale, st.w_scale, r, blocks_first=True, s_mode=NR._NM_LAYER))
out["digital product x @ W.T"] = cost(lambda: x @ w.t())
print(json.dumps(out))
