"""Bytes a first-phase check holds twice at a run's start: the session-10 deep copy (every tensor
the trainer reaches but its data) against train/probe.py's preserved() (the tensors and numpy
arrays it saves by value; the rest it shares read-only). Trainers built only (synthetic data of the F-MNIST shape).

    OMP_NUM_THREADS=1 python benchmarks/settle_fmnist_s11/probe_bytes.py
"""
import sys, torch
from analog_ep.config import load_config
from analog_ep.train import make_trainer
from analog_ep.train.probe import _Snapshot
cases = {
  "hopfield_mlp 784-500-10, memristor card": ["-c", "configs/hopfield_mlp_fmnist.yaml"],
  "dchn_vgg5 32-64-64-64, memristor card": ["model.name=dchn_vgg5", "model.channels=[32,64,64,64]"],
  "dchn_vgg5 128-256-512-512 (the published width), memristor card": ["model.name=dchn_vgg5"],
}
for name, over in cases.items():
    cfg_path = None
    if over[0] == "-c":
        cfg_path, over = over[1], []
    over = over + ["data.name=synthetic", "data.shape=[1,28,28]", "data.num_classes=10", "data.train_size=64",
                   "data.test_size=64", "analog.device=memristor", "analog.relaxation=settle", "analog.settle_dt_s=2e-8"]
    t = make_trainer(load_config(cfg_path, over), None)
    snap = _Snapshot([t], {id(t.train_set), id(t.test_set)})
    saved = sum(s.numel() * s.element_size() for _, _, s in snap.small)
    arrays = sum(a.nbytes for _, a in snap.arrays)  # numpy arrays: copied whole, whatever their size
    shared = sum(x.numel() * x.element_size() for _, x, _ in snap.large)
    print(f"{name}: copy held {(saved + arrays + shared) / 2**20:.2f} MiB twice; preserved() saves "
          f"{(saved + arrays) / 2**10:.1f} KiB ({len(snap.small)} small tensors, {len(snap.arrays)} numpy arrays "
          f"{arrays / 2**10:.1f} KiB), shares {shared / 2**20:.2f} MiB ({len(snap.large)} tensors) read-only")
