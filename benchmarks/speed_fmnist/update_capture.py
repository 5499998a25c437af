"""Capture the arguments of one real fused-update kernel call (numba_engine._update) of the 784x500
layer after five EP steps (memristor card, numba kernels), pickled for update_passes.py. Usage (repo root):

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/speed_fmnist/update_capture.py OUT.pkl [key=value ...]
"""
import pickle, sys, torch, numpy as np
torch.set_num_threads(1)
from analog_ep.analog import kernels as K
from analog_ep.analog.kernels import numba_engine as NE
from analog_ep.config import load_config
from analog_ep.data import load_data
from analog_ep.train.loop import make_trainer
S = ["analog.device=memristor", "data.root=/work/shared/data/fashion-mnist", "data.train_size=640",
     "data.test_size=64", "compute.kernels=numba"] + sys.argv[2:]
cfg = load_config("configs/hopfield_mlp_fmnist.yaml", S)
data = load_data(cfg.data, cfg.seed)
tr = make_trainer(cfg, None, data=(data[0], data[0], data[2]))
K.set_mode("numba")
caps = []
orig = NE._update
def grab(*a):
    if a[0].shape[0] > 100000:
        caps.append([x.copy() if isinstance(x, np.ndarray) else x for x in a])
    return orig(*a)
NE._update = grab
for r in range(6):
    x, y = data[0].batch(slice(64 * r, 64 * (r + 1)))
    tr.train_step(x, y)
pickle.dump(caps[-1], open(sys.argv[1], "wb"))
a = caps[-1]
print(len(caps), a[0].dtype, a[0].shape, "ufp (w_scale, dw_min, bl)", a[12], "flags", a[8], "keys", a[7].shape)
