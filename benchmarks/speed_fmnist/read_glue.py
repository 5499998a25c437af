"""A planned read of the 500x10 layer split into the storage call, the kernel call (one_tile_read), its DAC,
product and output stage (CPU us per call, 2000 calls): the rest is host glue. Usage (repo root):
    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/speed_fmnist/read_glue.py"""
import numpy as np, time, torch
torch.set_num_threads(1); torch.set_grad_enabled(False)
from analog_ep.analog import kernels as K
from analog_ep.analog.kernels import numba_reads as NR
from analog_ep.config import load_config
from analog_ep.data import load_data
from analog_ep.train.loop import make_trainer
S = ["analog.device=memristor", "data.root=/work/shared/data/fashion-mnist", "data.train_size=640", "data.test_size=64"]
cfg = load_config("configs/hopfield_mlp_fmnist.yaml", S)
data = load_data(cfg.data, cfg.seed)
tr = make_trainer(cfg, None, data=(data[0], data[0], data[2]))
st = list(tr.model.all_synapses())[-1].storage
K.set_mode("numba"); st.begin_batch(); st.begin_phase()
x = torch.rand(64, 500); y = torch.rand(64, 10)
tp = time.process_time
for name, inp, kind in (("fwd", x, "dense_forward"), ("t", y, "dense_transposed")):
    f = st.linear if kind == "dense_forward" else st.linear_t
    for _ in range(50): f(inp)
    n = 2000
    t0 = tp()
    for _ in range(n): f(inp)
    tot = (tp() - t0) / n
    pl, run = st._planned(kind, inp)
    w = st._stored(); w = w.t() if kind == "dense_forward" else w
    key, absorb = st._key_prefix(7)
    t0 = tp()
    for r in range(n): run(inp, w, pl, key, r, absorb, 0)
    t_run = (tp() - t0) / n
    nm, starts, dmode, dfp, smode, sfp, bufs = pl
    buf = list(bufs.values())[0]
    xq, xq_t, s, tt, t3, k_int, k_u64, ip_key, ip = buf
    xn = inp.numpy()
    t0 = tp()
    for r in range(n): NR._dac1(xn, starts, nm, dmode, dfp, xq, s)
    t_dac = (tp() - t0) / n
    t0 = tp()
    for r in range(n): torch.mm(xq_t, w, out=tt)
    t_mm = (tp() - t0) / n
    out = np.empty((64, tt.shape[1]), np.float32)
    t0 = tp()
    for r in range(n): NR._stage1(t3, NR._DUMMY[np.float32][0], s, k_u64, r, ip, sfp, out)
    t_st = (tp() - t0) / n
    print(name, "storage", round(tot*1e6,1), "run", round(t_run*1e6,1), "dac", round(t_dac*1e6,1), "mm", round(t_mm*1e6,1), "stage", round(t_st*1e6,1), "glue in run", round((t_run-t_dac-t_mm-t_st)*1e6,1), "storage glue", round((tot-t_run)*1e6,1))
