"""CPU time of one checkpoint + results write (Trainer.save: what fit does after every epoch), digital and
the memristor card, after one 640-image epoch. Usage (repo root): python benchmarks/speed_fmnist/save_parts.py"""
import time, torch, tempfile, json
torch.set_num_threads(1)
from analog_ep.config import load_config
from analog_ep.data import load_data
from analog_ep.train.loop import make_trainer
S = ["data.root=/work/shared/data/fashion-mnist", "data.train_size=640", "data.test_size=64"]
out = {}
for name, extra in (("digital", []), ("analog", ["analog.device=memristor"])):
    cfg = load_config("configs/hopfield_mlp_fmnist.yaml", S + extra)
    data = load_data(cfg.data, cfg.seed)
    d = tempfile.mkdtemp()
    tr = make_trainer(cfg, d, data=data)
    tr.run_epoch(progress=False)
    ts = []
    for i in range(4):
        c0 = time.process_time(); tr.save("running"); ts.append(time.process_time() - c0)
    out[name] = round(sorted(ts)[1] * 1e3, 1)
print(json.dumps({"save_ms_cpu": out}))
