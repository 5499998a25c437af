"""Usage (repo root): OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/speed_fmnist/conv_sha.py LABEL
Two EP steps of dchn_vgg5 32-64-64-64 (batch 16, memristor, mixed, numba): sha256 over every
weight, device state and the trainer's state (the model's state_dict with the storages' extra state)."""
import dataclasses, hashlib, sys, torch, io
from analog_ep.config import load_config
from analog_ep.data import load_data
from analog_ep.train.loop import make_trainer
ov = ["model.name=dchn_vgg5", "model.channels=[32,64,64,64]", "data.name=synthetic", "data.shape=[3,32,32]",
      "data.batch_size=16", "analog.update=mixed", "compute.kernels=numba", "analog.device=memristor",
      "solver.free_iters=10", "solver.nudge_iters=4"]
cfg = load_config(None, ov)
data = load_data(cfg.data, cfg.seed)
tr = make_trainer(dataclasses.replace(cfg, algorithm="ep"), None, data=data)
h = hashlib.sha256()
for i in range(2):
    x, y = data[0].batch(slice(16 * i, 16 * (i + 1)))
    tr.train_step(x.contiguous(), y)
sd = tr.model.state_dict()
for k in sorted(sd):
    v = sd[k]
    if isinstance(v, torch.Tensor):
        h.update(k.encode()); h.update(v.detach().cpu().contiguous().numpy().tobytes())
    else:
        b = io.BytesIO(); torch.save(v, b); h.update(k.encode()); h.update(repr(sorted(v.keys()) if isinstance(v, dict) else v).encode())
        if isinstance(v, dict):
            for kk in sorted(v):
                vv = v[kk]
                if isinstance(vv, torch.Tensor): h.update(vv.detach().cpu().contiguous().numpy().tobytes())
                else: h.update(repr(vv).encode())
for s in tr.model.all_synapses():
    h.update(s.storage.w_dev.detach().contiguous().numpy().tobytes())
print(sys.argv[1] if len(sys.argv) > 1 else "", h.hexdigest(), len(sd))
