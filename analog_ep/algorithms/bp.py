"""Backprop reference: the feed-forward twin of an energy-based network, trained by autograd on
the same MSE cost ``1/2 ||f(x) - y||^2`` (batch mean)."""

from __future__ import annotations

import torch

from .ep import mse_cost


def bp_gradient(model, x: torch.Tensor, target: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Return (grads aligned with model.ep_parameters(), twin output detached)."""
    params = model.ep_parameters()
    out = model.ff_forward(x)
    loss = mse_cost(out, target).mean()
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    grads = [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]
    return grads, out.detach()
