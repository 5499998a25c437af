"""In-situ CPU time per step of the fused update (numba_engine._update) of both layers, its Python
wrapper (pulsed_update), apply_updates, the optimizer's step (both layers) and the constant drive, during training (memristor card, numba
kernels, medians of 20 steps after 4). Usage (repo root):

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/speed_fmnist/update_insitu.py [key=value ...]
"""
import sys, time, statistics, torch, numpy as np
torch.set_num_threads(1)
from analog_ep.analog import kernels as K
from analog_ep.analog.kernels import numba_engine as NE
from analog_ep.config import load_config
from analog_ep.data import load_data
from analog_ep.train import loop as L
from analog_ep.train.loop import make_trainer
S = ["analog.device=memristor", "data.root=/work/shared/data/fashion-mnist", "data.train_size=640",
     "data.test_size=64", "compute.kernels=numba"] + sys.argv[1:]
cfg = load_config("configs/hopfield_mlp_fmnist.yaml", S)
data = load_data(cfg.data, cfg.seed)
tr = make_trainer(cfg, None, data=(data[0], data[0], data[2]))
K.set_mode("numba")
T = {"kernel_big": [], "kernel_small": [], "wrapper_big": [], "wrapper_small": [], "apply_updates": [], "const_drive": [],
     "optimizer_step": []}
ok, op, oa = NE._update, NE.pulsed_update, L.apply_updates
def ku(*a):
    t0 = time.process_time(); r = ok(*a); T["kernel_big" if a[0].shape[0] > 100000 else "kernel_small"].append(time.process_time() - t0); return r
def pu(w, *a, **k):
    t0 = time.process_time(); r = op(w, *a, **k); T["wrapper_big" if w.numel() > 100000 else "wrapper_small"].append(time.process_time() - t0); return r
def au(*a, **k):
    t0 = time.process_time(); r = oa(*a, **k); T["apply_updates"].append(time.process_time() - t0); return r
cd = tr.model.const_drive
def cdw(*a, **k):
    t0 = time.process_time(); r = cd(*a, **k); T["const_drive"].append(time.process_time() - t0); return r
os_ = tr.optimizer.step
def osw(*a, **k):
    t0 = time.process_time(); r = os_(*a, **k); T["optimizer_step"].append(time.process_time() - t0); return r
NE._update, NE.pulsed_update, L.apply_updates, tr.model.const_drive, tr.optimizer.step = ku, pu, au, cdw, osw
from analog_ep.analog import engine as E
for r in range(24):
    x, y = data[0].batch(slice(64 * (r % 10), 64 * (r % 10 + 1)))
    tr.train_step(x, y)
print({k: round(statistics.median(v[4:]) * 1e3, 3) for k, v in T.items()})
