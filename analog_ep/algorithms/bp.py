"""Backprop reference: the feed-forward twin of an energy-based network, trained by autograd on
the same cost as EP (``model.cost``: MSE or softmax cross-entropy, batch mean)."""

from __future__ import annotations

import torch


def bp_gradient(model, x: torch.Tensor, target: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Return (grads aligned with model.ep_parameters(), twin output detached)."""
    params = model.ep_parameters()
    states = model.ff_states(x)
    out = states[-1]
    loss = model.total_cost(states, target).mean()
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    grads = [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]
    return grads, out.detach()
