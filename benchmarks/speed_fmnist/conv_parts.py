"""One analog and one digital EP step of dchn_vgg5 32-64-64-64 (batch 64, memristor, mixed, numba,
free 10 + 2 x nudge 4 sweeps) under cProfile at one thread: seconds per component (tottime).

Usage (repo root): OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/speed_fmnist/conv_parts.py
Prints one JSON line: per trainer the unprofiled step (wall_s), the profiled total and the 14 largest parts."""
import cProfile, pstats, sys, time, dataclasses, json
import torch
from analog_ep.config import load_config, AnalogConfig
from analog_ep.data import load_data
from analog_ep.train.loop import make_trainer
ov = ["model.name=dchn_vgg5", "model.channels=[32,64,64,64]", "data.name=synthetic", "data.shape=[3,32,32]",
      "data.batch_size=64", "analog.update=mixed", "compute.kernels=numba", "analog.device=memristor",
      "solver.free_iters=10", "solver.nudge_iters=4"]
cfg = load_config(None, ov)
data = load_data(cfg.data, cfg.seed)
x, y = data[0].batch(slice(0, 64))
x = x.contiguous()
res = {}
for which in ("analog", "digital"):
    c = cfg if which == "analog" else dataclasses.replace(cfg, analog=AnalogConfig(), device={})
    t = make_trainer(dataclasses.replace(c, algorithm="ep"), None, data=data)
    t.train_step(x, y)
    t0 = time.perf_counter(); t.train_step(x, y); wall = time.perf_counter() - t0
    pr = cProfile.Profile(); pr.enable(); t.train_step(x, y); pr.disable()
    st = pstats.Stats(pr).stats
    comp = {}
    for (f, ln, name), (cc, nc, tt, ct, callers) in st.items():
        key = name if f == "~" else f"{f.split('/')[-1]}:{name}"
        comp[key] = comp.get(key, 0) + tt
    total = sum(comp.values())
    top = dict(sorted(((k, round(v, 3)) for k, v in comp.items()), key=lambda kv: -kv[1])[:14])
    res[which] = {"wall_s": round(wall, 3), "profiled_s": round(total, 3), "top": top}
print(json.dumps(res))
