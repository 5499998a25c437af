"""In-process A/B of an EP training step: analog (torch kernels, numba kernels) against digital EP of
the same config, alternating, CPU time (time.process_time) per step; medians. Usage (repo root):

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/speed_fmnist/ab.py [--reps N] [key=value ...]

Config: configs/hopfield_mlp_fmnist.yaml on Fashion-MNIST (data.root below), memristor card.
"""
import dataclasses, json, os, statistics, sys, time

import torch

torch.set_num_threads(1)
from analog_ep.analog import kernels as K
from analog_ep.config import AnalogConfig, load_config
from analog_ep.data import load_data
from analog_ep.train.loop import make_trainer

args = sys.argv[1:]
reps = 8
if args and args[0] == "--reps":
    reps, args = int(args[1]), args[2:]
modes = os.environ.get("MODES", "torch,numba").split(",")
S = ["analog.device=memristor", "data.root=/work/shared/data/fashion-mnist", "data.train_size=640",
     "data.test_size=64"] + args
cfg = load_config("configs/hopfield_mlp_fmnist.yaml", S)
data = load_data(cfg.data, cfg.seed)
d3 = (data[0], data[0], data[2])
tr = {m: make_trainer(dataclasses.replace(cfg, compute=dataclasses.replace(cfg.compute, kernels=m)), None, data=d3)
      for m in modes}
dig = make_trainer(dataclasses.replace(cfg, analog=AnalogConfig(), device={}), None, data=d3)
names = modes + ["digital"]
times = {k: [] for k in names}
for r in range(reps + 2):
    x, y = data[0].batch(slice(64 * (r % 10), 64 * (r % 10 + 1)))
    order = names if r % 2 == 0 else list(reversed(modes)) + ["digital"]
    for name in order:
        if name != "digital":
            K.set_mode(name)
        t0 = time.process_time()
        (dig if name == "digital" else tr[name]).train_step(x, y)
        dt = time.process_time() - t0
        if r >= 2:
            times[name].append(dt)
med = {k: statistics.median(v) for k, v in times.items()}
print(json.dumps({"args": args, "median_cpu_s": med,
                  "analog_over_digital": {m: med[m] / med["digital"] for m in modes}, "ran": K.ran()}))
