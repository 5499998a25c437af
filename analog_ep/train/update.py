"""The optimizer proposes, the storages dispose (DESIGN section 2).

Every parameter the optimizer steps is a storage's ``param`` (:mod:`analog_ep.synapses.storage`):
the weight itself on digital storage, where the optimizer's step *is* the update, or the change
proposed to an analog storage (zero between updates), which the storage then sends as pulses
(``commit``). No weight is copied, restored or mirrored, and nothing here asks what a storage is
made of.

Weight decay acts on the stored weight: the optimizer applies it to a parameter that holds the
weight; for a proposal it is added here as the optimizer would (``g + wd W`` for L2 decay, SGD
and Adam; ``-lr wd W`` added to the proposed change for AdamW's decoupled decay), so the change
an analog storage receives is the one the optimizer would have made to the weight.
"""

from __future__ import annotations

import torch


def apply_updates(optimizer: torch.optim.Optimizer, model, grads: list[torch.Tensor], terms: list | None = None,
                  factor: torch.Tensor | None = None, cap=None) -> None:
    """One update of ``model`` from ``grads`` (aligned with ``model.ep_parameters()``). A storage
    that wants the update's outer-product vectors (bit-stream pulse trains; plain SGD, checked
    by the config) gets them from the gradient's ``terms`` (EP phases or the backprop twin's
    reads), scaled by ``-lr`` and the clipping ``factor``. ``cap`` (a
    :class:`.spectral_cap.SpectralCap`, ``train.spectral_cap``) bounds each weight's operator
    norm after the optimizer's step and weight decay, before the storages commit."""
    params = model.ep_parameters()
    stores = model.ep_storages()
    group = {id(p): g for g in optimizer.param_groups for p in g["params"]}
    adamw = isinstance(optimizer, torch.optim.AdamW)  # older torch: AdamW is no Adam with a flag
    with torch.no_grad():
        for p, g, st in zip(params, grads, stores):
            wd = group[id(p)]["weight_decay"]
            if wd and not st.param_holds_weight and not group[id(p)].get("decoupled_weight_decay", adamw):
                g = torch.add(g, st.weight, alpha=wd)  # as torch's L2 decay adds it
            p.grad = g
    optimizer.step()
    with torch.no_grad():
        synapses = model.ep_synapses()
        for p, st in zip(params, stores):
            grp = group[id(p)]
            if grp["weight_decay"] and not st.param_holds_weight and grp.get("decoupled_weight_decay", adamw):
                p.add_(st.weight, alpha=-grp["lr"] * grp["weight_decay"])
        if cap is not None:
            cap.apply(model)
        for i, (p, st) in enumerate(zip(params, stores)):
            grp = group[id(p)]
            vectors = None
            if st.wants_vectors:
                vectors = update_vectors(synapses[i], terms[i], grp["lr"], factor)
                if vectors is None:  # nothing to send
                    p.zero_()
                    continue
            st.commit(vectors)


def update_vectors(synapse, terms: list, lr: float, factor: torch.Tensor | None):
    """The outer-product vectors ``(d, x)`` of the step ``-lr * factor * sum c corr(post, pre)``
    (``delta = d.T @ x``), as the pulse trains of a bit-stream update carry them.

    A contrastive pair (EP: ``c corr(a, b) - c corr(a', b')``, the two phases) is sent as the exact
    identity ``a b^T - a' b'^T = ((a - a')(b + b')^T + (a + a')(b - b')^T) / 2``: each vector pair
    has one small factor (a difference of the phases' states, computed digitally in the periphery),
    so the stochastic trains carry the update itself rather than two large terms that would cancel
    only on average. Other terms (backprop: one per read) are sent as they are."""
    vecs = [(*synapse.update_vectors(post, pre), coef) for post, pre, coef in terms]
    if not vecs:
        return None
    if len(vecs) == 2 and vecs[0][2] == -vecs[1][2]:
        (d1, x1, c), (d2, x2, _) = vecs
        vecs = [(d1 - d2, x1 + x2, 0.5 * c), (d1 + d2, x1 - x2, 0.5 * c)]
    ds, xs = [], []
    for d, x, coef in vecs:
        scale = -lr * coef if factor is None else (-lr * coef) * factor.to(d.dtype)
        ds.append(d * scale)
        xs.append(x)
    return torch.cat(ds), torch.cat(xs)
