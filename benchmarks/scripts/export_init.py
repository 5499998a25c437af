"""Export what an analog-ep run starts from, for the aihwkit side of the preset side-by-side
(benchmarks/aihwkit_presets.md): the initial digital weights and biases of every layer (before
they are programmed onto tiles) and the training images of each epoch, in order.

    python benchmarks/scripts/export_init.py -c configs/hopfield_mlp_fmnist.yaml --set seed=0 ... --out init.npz

Takes the same config file and ``--set`` overrides as ``analog-ep train`` (the device card, if
any, is dropped: the initialization is drawn from ``seed`` before any card is attached, see
``analog_ep.train.build.build_model``). Everything comes from the project's own functions:

- weights and biases: ``build_model`` of the config without a device (``weight_<i>`` of shape
  (out, in), ``bias_<i>`` of shape (out,), in layer order, float32);
- the training subset: ``analog_ep.data._subset`` (the seeded subset ``load_data`` draws), checked
  image for image against the split ``load_data`` returns (``train_index``: indices into the
  training file);
- the order: ``analog_ep.train.loop.epoch_order`` (what ``Trainer.run_epoch`` draws), so
  ``order`` (epochs, N) holds indices into the training FILE: epoch ``e`` (0-based) trains on
  batches ``order[e, i:i + batch]`` for ``i`` in ``range(0, N, batch)``, the last one partial.
"""

from __future__ import annotations

import argparse
import dataclasses
import json

import numpy as np
import torch

from analog_ep.config import load_config
from analog_ep.data import _subset, load_data
from analog_ep.train.build import build_model
from analog_ep.train.loop import epoch_order


def export(cfg) -> dict[str, np.ndarray]:
    """The arrays of the .npz for config ``cfg`` (see the module docstring)."""
    digital = dataclasses.replace(cfg, analog=dataclasses.replace(cfg.analog, device=None))
    train, _, info = load_data(digital.data, digital.seed)
    model = build_model(digital, info.shape, info.num_classes)
    out: dict[str, np.ndarray] = {}
    for i, syn in enumerate(model.ep_synapses()):
        if syn is None:
            continue
        out[f"weight_{i}"] = syn.storage.param.detach().cpu().numpy().astype(np.float32)
    for i, b in enumerate(model.biases):
        out[f"bias_{i}"] = b.detach().cpu().numpy().astype(np.float32)
    n_file = _n_train_file(digital)
    sub = _subset(n_file, len(train) if len(train) < n_file else None, digital.seed)
    sub = np.arange(n_file) if sub is None else sub
    _check_subset(digital, sub, train)
    out["train_index"] = sub.astype(np.int64)
    out["order"] = np.stack([sub[epoch_order(len(train), digital.seed, e).numpy()]
                             for e in range(digital.train.epochs)]).astype(np.int64)
    out["batch_size"] = np.int64(digital.data.batch_size)
    out["seed"] = np.int64(digital.seed)
    return out


def _n_train_file(cfg) -> int:
    full = dataclasses.replace(cfg.data, train_size=None, test_size=1)
    return len(load_data(full, cfg.seed)[0])


def _check_subset(cfg, sub: np.ndarray, train) -> None:
    """The subset indices pick exactly the images (and labels) of the run's training split."""
    full = dataclasses.replace(cfg.data, train_size=None, test_size=1)
    whole = load_data(full, cfg.seed)[0]
    x_all, y_all = whole.batch(torch.from_numpy(sub))
    x, y = train.batch(torch.arange(len(train)))
    if not (torch.equal(x_all, x) and torch.equal(y_all, y)):
        raise SystemExit("export_init: the subset indices do not reproduce load_data's training split")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-c", "--config", required=True)
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--out", required=True, help="the .npz to write")
    a = ap.parse_args()
    cfg = load_config(a.config, a.sets)
    arrays = export(cfg)
    arrays["overrides"] = np.array(json.dumps(a.sets))
    np.savez(a.out, **arrays)
    shapes = {k: list(v.shape) for k, v in arrays.items() if v.ndim}
    print(json.dumps({"out": a.out, "seed": cfg.seed, "arrays": shapes}))


if __name__ == "__main__":
    main()
