"""cProfile of one EP training step of dchn_vgg5 32-64-64-64 (F-MNIST shape, batch 64, memristor
card, settle, torch loop) through the trainer's train_step, after one warm-up step; the 25
functions of largest own time.

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/settle_fmnist_s11/vgg_profile.py
"""
import cProfile, pstats, io, sys, torch
from analog_ep.config import load_config
from analog_ep.train import make_trainer
F = ["data.name=synthetic", "data.shape=[1,28,28]", "data.num_classes=10", "data.train_size=64", "data.test_size=64",
     "data.batch_size=64", "analog.device=memristor", "analog.relaxation=settle", "data.augment=[]",
     "model.channels=[32,64,64,64]", "solver.free_iters=6", "solver.nudge_iters=2"]
torch.set_num_threads(1)
t = make_trainer(load_config("configs/dchn_vgg5_fmnist.yaml", F), None)
x, y = t.train_set.batch(torch.arange(64)); t.model.train()
t.train_step(x, y)
pr = cProfile.Profile(); pr.enable(); _, _, st = t.train_step(x, y); pr.disable()
print("steps", sum(int(s.sweeps) for s in st.values()))
s = io.StringIO(); pstats.Stats(pr, stream=s).sort_stats("tottime").print_stats(25); print(s.getvalue()[:6000])
