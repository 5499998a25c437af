"""``analog-ep gradcheck``: a config's gradient estimate against the exact gradient, per layer.

The rule ``algorithm`` names for the model checks itself (:meth:`LearningRule.gradcheck`): EP on
a Hopfield energy against implicit differentiation at the free fixed point, EP and predictive
coding on a PCN against the backprop gradient of the feed-forward twin. Everything runs in
float64 on the first ``batch`` training examples, with the model the builder makes for
``train``.
"""

from __future__ import annotations

import torch

from ..algorithms.rules import build_rule
from ..compute import configure, resolve_accelerator
from ..data import load_data
from ..errors import ConfigError
from .build import build_model
from .loop import one_hot


def parse_betas(text: str) -> list[float]:
    """``"0.1,0.01"`` -> ``[0.1, 0.01]``; a :class:`ConfigError` naming ``--betas`` otherwise."""
    try:
        betas = [float(b) for b in text.split(",") if b.strip()]
    except ValueError:
        raise ConfigError(f"--betas: expected comma-separated numbers such as 0.1,0.01, got {text!r}") from None
    if not betas or any(b <= 0 for b in betas):
        raise ConfigError(f"--betas: need positive numbers, got {text!r}")
    return betas


def run(cfg, betas: list[float], batch: int = 16, iters: int = 5000, tol: float = 1e-12,
        nudge_iters: int | None = None) -> dict:
    """The gradcheck report (:func:`analog_ep.algorithms.gradcheck.gradcheck`) with
    ``precision`` and ``accelerator`` added. ``nudge_iters``: the nudged phases' sweep budget
    (None: ``iters``)."""
    if batch < 1 or iters < 1 or tol < 0:
        raise ConfigError("--batch and --iters must be >= 1 and --tol >= 0")
    if nudge_iters is not None and nudge_iters < 1:
        raise ConfigError(f"--nudge-iters: must be >= 1 (or left out: --iters), got {nudge_iters}")
    dev = resolve_accelerator(cfg.compute.accelerator)
    configure(cfg.compute, dev)
    train_set, _, info = load_data(cfg.data, cfg.seed)
    model = build_model(cfg, info.shape, info.num_classes, device=dev).double()
    x, y = train_set.batch(slice(0, batch))
    x, y = x.to(dev, torch.float64), y.to(dev)
    target = one_hot(y, info.num_classes, torch.float64)
    rule = build_rule(cfg, model, dev)
    extra = {} if nudge_iters is None else {"nudge_iters": nudge_iters}  # asked for only when set
    report = rule.gradcheck(x, target, betas, iters, tol, torch.Generator().manual_seed(cfg.seed), **extra)
    report["precision"], report["accelerator"] = cfg.compute.precision, str(dev)
    return report
