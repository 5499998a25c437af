"""Equilibrium Propagation on predictive coding networks (Kerjan, Hoier & Scellier 2026),
:func:`pcn_ep_gradient`. The free equilibrium is the forward pass (``E = 0``). Each nudged phase
starts from it and runs ``K`` iterations of the registered PCN relaxation
(:mod:`analog_ep.solvers.pcn`: asynchronous even-then-odd traversals, each node set in closed
form from its neighbours, ``mod_pgd`` or ``pgd``). Both node rules linearize to the same
equations at the free state (the forward pass), so the centered estimator
``(dE/dtheta(s^{+beta}) - dE/dtheta(s^{-beta})) / (2 beta)`` tends to the backprop gradient of
the feed-forward twin as ``beta -> 0``. Estimators: ``centered``, ``one_sided`` (``+beta``),
``negative`` (``-beta``), ``random_sign``.

It runs without autograd: reads, transposed reads and correlates of the synapses only, so every
PCN trains on crossbar tiles as it does digitally.
"""

from __future__ import annotations

import torch

from ..solvers import SolverStats, relax_pcn
from .ep import EPResult, nudge_betas, phase_estimate


@torch.no_grad()
def pcn_ep_gradient(model, x: torch.Tensor, target, *, beta: float, estimator: str, nudge_iters: int,
                    rule: str = "mod_pgd", tol: float = 0.0, generator: torch.Generator | None = None,
                    update_bn: bool = False, solver=relax_pcn) -> EPResult:
    """EP on a PCN (module docstring): free phase = forward pass, nudged phases from it (by
    ``solver``, the registered relaxation of PCN energies), the gradient estimate of the chosen
    estimator. ``update_bn``: the forward pass updates BatchNorm's running statistics (the
    nudged phases never do). ``stats`` per phase ("free" has 0 sweeps: the forward pass is
    exact; each nudged phase's ``energy`` is its equilibration curve)."""
    model.begin_phase("free")
    with model.moving_bn_stats(update_bn):
        free, pre = model.forward_pass(x)
    model.count_phase(x.shape[0], 0, x.shape[0] * model.neurons_per_sweep())  # one pass, no sweep
    # the forward pass's reads start every phase (a node the nudge never reaches is not read
    # again), and each phase's last reads give its weight gradient. On tiles a held read keeps
    # the forward pass's noise draw, while the phase's own reads take the phase's draw
    reads0 = {k: (pre[k - 1], model._fwd_ctx.get(k)) for k in range(1, model.num_nodes + 1)}
    zero = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
    stats = {"free": SolverStats(torch.zeros(x.shape[0], dtype=torch.long, device=x.device), zero,
                                 torch.ones(x.shape[0], dtype=torch.bool, device=x.device), 0)}
    betas = nudge_betas(estimator, beta, generator)
    nudged, phase_terms = [], []
    for bt in betas:
        model.begin_phase("nudge+" if bt > 0 else "nudge-")
        last = {}
        s, st = solver(model, x, free, beta=bt, target=target, iters=nudge_iters, tol=tol, rule=rule, reads=reads0,
                       out_reads=last)
        stats["nudge+" if bt > 0 else "nudge-"] = st
        nudged.append(s)
        _, _, deltas = model.errors(x, s, known=last)
        phase_terms.append(model.energy_grad_terms(x, s, deltas=deltas, bn_grads=dict(model._bn_grads)))
    if len(betas) == 1:  # one-sided: dE/dtheta at the free state is 0 (the forward pass has no error)
        phase_terms.append(None)
    grads, terms = phase_estimate(model, x, target, free, nudged, betas, phase_terms)
    return EPResult(grads, free, stats, nudged, terms)
