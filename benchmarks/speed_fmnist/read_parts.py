"""Parts of the 500x10 layer's reads under compute.kernels numba (CPU time per call, best of 5 x 300):
through the storage, the kernel call alone, its DAC / product / output stage, the normals, the
stream key and select, and the digital read. Usage (repo root):
    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/speed_fmnist/read_parts.py"""
import json, time, torch, numpy as np
torch.set_num_threads(1); torch.set_grad_enabled(False)
from analog_ep.analog import kernels as K
from analog_ep.analog.kernels import numba_reads as NR, normal8 as N8
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
    for _ in range(20): f()
    best = 1e9
    for _ in range(5):
        t0 = time.process_time()
        for _ in range(n): f()
        best = min(best, (time.process_time() - t0) / n)
    return round(best * 1e6, 1)
K.set_mode("numba"); st.begin_batch(); st.begin_phase()
out = {}
out["storage fwd"] = cost(lambda: st.linear(x))
out["storage t"] = cost(lambda: st.linear_t(y))
p = st.periph
r = st._out_randn(7, 3, y)
out["kernel fwd"] = cost(lambda: NR.dense_forward(x, w, p, 512, st.w_scale, st.g_unit, r, None))
out["kernel t"] = cost(lambda: NR.dense_transposed(y, w, p, 512, st.w_scale, st.g_unit, r, None))
yq, s = NR._dac_dense(y, [10], p, 2)
out["dac_dense t"] = cost(lambda: NR._dac_dense(y, [10], p, 2))
t = torch.mm(yq, w).unsqueeze(0)
out["mm t"] = cost(lambda: torch.mm(yq, w))
out["finish t"] = cost(lambda: NR._finish(t, None, s, p, st.w_scale, st.w_scale, r, blocks_first=True, s_mode=2))
o8 = np.empty((64, 512), dtype=np.float32)
ka, kb = N8.key_words(123)
out["normals 32k (normal8 fill_row8)"] = cost(lambda: N8._fill(o8, ka, kb, 0))
out["torch.randn 32k"] = cost(lambda: torch.randn(64, 500))
out["_key"] = cost(lambda: st._key(7, 5))
out["_out_randn"] = cost(lambda: st._out_randn(7, 5, y))
out["select"] = cost(lambda: K.select("dense_transposed", p, y, r))
out["digital t"] = cost(lambda: y @ w)
print(json.dumps(out, indent=0))
