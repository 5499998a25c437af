"""EP's gradient estimate approaches the exact gradient as beta -> 0 (centered: error ~ beta^2).
Run: python examples/02_gradcheck.py"""

import torch

from analog_ep.algorithms.gradcheck import gradcheck
from analog_ep.config import load_config
from analog_ep.data import load_data
from analog_ep.solvers import get_solver
from analog_ep.train import build_model

cfg = load_config(None, ["model.hidden=[64]"])
train, _, info = load_data(cfg.data, cfg.seed)
model = build_model(cfg, info.shape, info.num_classes).double()
x = train.x[:16].double()
y = torch.nn.functional.one_hot(train.y[:16], info.num_classes).double()
for estimator in ("centered", "one_sided"):
    report = gradcheck(model, x, y, get_solver("async"), [1e-2, 1e-3, 1e-4], estimator)
    for row in report["layers"]:
        print(f"{estimator:10s} {row['name']:22s} beta={row['beta']:<7g} cosine={row['cosine']:.6f} "
              f"rel_error={row['rel_error']:.2e}")
