"""Backprop reference: the feed-forward twin of an energy-based network, trained by autograd on
the same cost as EP (``model.cost``: MSE or softmax cross-entropy, batch mean)."""

from __future__ import annotations

import torch


def bp_gradient(model, x: torch.Tensor, target: torch.Tensor, want_terms: bool = False
                ) -> tuple[list[torch.Tensor], torch.Tensor, list | None]:
    """Return (grads aligned with model.ep_parameters(), twin output detached, terms).

    ``terms`` (with ``want_terms``): per parameter, for a weight the list ``[(delta, pre, 1.0)]``
    of its reads, ``delta`` the loss gradient at the read's output, so that the weight's
    gradient is ``sum correlate(delta, pre)`` (the outer products a crossbar update is made of,
    as aihwkit's backward pass hands them to the tile); None for biases and without
    ``want_terms``."""
    params = model.ep_parameters()
    record: list | None = [] if want_terms else None
    b, n = x.shape[0], model.neurons_per_sweep()
    model.tag_phase("forward")  # events only: the read-noise phase is the batch's (as before)
    states = model.ff_states(x, record)
    model.count_phase(b, 0, b * n)
    out = states[-1]
    loss = model.total_cost(states, target, record).mean()
    outs = [r for _, _, r in record] if record else []
    model.tag_phase("backward")
    grads = list(torch.autograd.grad(loss, params + outs, allow_unused=True))
    model.count_phase(b, 0, b * n)
    deltas, grads = grads[len(params):], grads[:len(params)]
    grads = [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]
    terms = None
    if record is not None:
        terms = []
        for syn in model.ep_synapses():
            if syn is None:
                terms.append(None)
                continue
            terms.append([(d.detach(), pre.detach(), 1.0) for (s, pre, _), d in zip(record, deltas)
                          if s is syn and d is not None])
    return grads, out.detach(), terms
