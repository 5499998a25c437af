import cProfile, pstats, time, sys, torch
from analog_ep.config import load_config
from analog_ep.data import load_data
from analog_ep.train.loop import make_trainer
sets = ["analog.device=memristor", "analog.relaxation=settle", "data.root=/work/shared/data/fashion-mnist"] + sys.argv[2:]
cfg = load_config("configs/hopfield_mlp_fmnist.yaml", sets)
data = load_data(cfg.data, cfg.seed)
tr, _, info = data
x, y = tr.batch(slice(0, cfg.data.batch_size))
t = make_trainer(cfg, None, data=(tr, tr, info))
for _ in range(2): t.train_step(x, y)
n = int(sys.argv[1])
t0 = time.perf_counter()
pr = cProfile.Profile(); pr.enable()
for _ in range(n): _, _, st = t.train_step(x, y)
pr.disable()
print("per step", (time.perf_counter() - t0) / n, {k: int(v.sweeps) for k, v in st.items()})
pstats.Stats(pr).sort_stats("tottime").print_stats(25)
