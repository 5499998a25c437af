"""Equilibrium Propagation (Scellier & Bengio 2017; Laborieux et al. 2021).

Phases: a free relaxation (beta = 0) to a fixed point ``s^0``; nudged relaxations of the total
energy ``F = E + beta C`` that start from the stored free state. Estimators of ``dL/dtheta`` with
``L = C(s^0)``:

* centered:    (dE/dtheta(s^{+beta}) - dE/dtheta(s^{-beta})) / (2 beta)      error O(beta^2)
* one_sided:   (dE/dtheta(s^{+beta}) - dE/dtheta(s^0)) / beta                 error O(beta)
* negative:    (dE/dtheta(s^{-beta}) - dE/dtheta(s^0)) / (-beta)              error O(beta)
* random_sign: one-sided with a random sign of beta drawn per mini-batch      unbiased in sign

``dE/dtheta`` is the synapses' correlate (contrastive Hebbian, local to each synapse). With a
softmax readout outside the energy (cross-entropy nudge) the readout's own gradient is
``dF/dtheta = beta dC/dtheta`` at the nudged states (:meth:`EnergyNetwork.energy_grads`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import ConfigError
from ..solvers import SolverStats

ESTIMATORS = ("centered", "one_sided", "negative", "random_sign")


@dataclass
class EPResult:
    grads: list[torch.Tensor]          # aligned with model.ep_parameters()
    free: list[torch.Tensor]           # free fixed point
    stats: dict[str, SolverStats]      # per phase: "free", "nudge+" / "nudge-"
    nudged: list[list[torch.Tensor]]   # nudged fixed points, one per nudged phase
    terms: list                        # per parameter: [(post, pre, coef)] with grad = sum coef corr(post, pre)
                                       # for weights (the update's outer products), None for biases


def nudge_betas(estimator: str, beta: float, generator: torch.Generator | None = None) -> list[float]:
    if estimator == "centered":
        return [beta, -beta]
    if estimator == "one_sided":
        return [beta]
    if estimator == "negative":
        return [-beta]
    if estimator == "random_sign":
        dev = generator.device if generator is not None else "cpu"  # a host draw: no device sync
        sign = 1.0 if torch.rand((), generator=generator, device=dev).item() < 0.5 else -1.0
        return [sign * beta]
    raise ConfigError(f"ep.estimator: unknown estimator {estimator!r}; valid: {', '.join(ESTIMATORS)}")


def ep_gradient(model, x: torch.Tensor, target: torch.Tensor, init: list[torch.Tensor], solver,
                *, beta: float, estimator: str, free_iters: int, nudge_iters: int, tol: float,
                damping: float = 0.0, generator: torch.Generator | None = None) -> EPResult:
    """Run the EP phases on one mini-batch and return the gradient estimate."""
    with torch.no_grad():
        model.begin_phase("free")
        const = model.const_drive(x)  # the clamped input's reads: once per step, counted in the free phase
        free, st_free = solver(model, const, init, iters=free_iters, tol=tol, damping=damping)
        stats = {"free": st_free}
        betas = nudge_betas(estimator, beta, generator)
        nudged = []
        for b in betas:
            model.begin_phase("nudge+" if b > 0 else "nudge-")
            s, st = solver(model, const, free, beta=b, target=target, iters=nudge_iters, tol=tol,
                           damping=damping)
            stats["nudge+" if b > 0 else "nudge-"] = st
            nudged.append(s)
        grads, terms = phase_estimate(model, x, target, free, nudged, betas)
    return EPResult(grads, free, stats, nudged, terms)


def phase_estimate(model, x: torch.Tensor, target, free: list, nudged: list, betas: list[float],
                   phase_terms: list | None = None) -> tuple[list, list]:
    """The estimator from the phases' states: ``(dF/dtheta(s^{b0}) - dF/dtheta(s^{b1})) / (b0 - b1)``
    (centered) or ``(dF/dtheta(s^{b0}) - dE/dtheta(s^0)) / b0`` (one nudged phase), as
    ``(grads, terms)`` (:class:`EPResult`), for any model with ``energy_grad_terms``.
    ``phase_terms``: the two ``energy_grad_terms`` (first phase, then the second or the free
    state) already computed by the caller; None for the second: it is zero (a PCN's free state)."""
    if phase_terms is not None:
        t_hi, t_lo = phase_terms
    else:
        t_hi = model.energy_grad_terms(x, nudged[0], betas[0], target)
        t_lo = (model.energy_grad_terms(x, nudged[1], betas[1], target) if len(betas) == 2
                else model.energy_grad_terms(x, free))
    scale = 1.0 / (betas[0] - betas[1]) if len(betas) == 2 else 1.0 / betas[0]
    if t_lo is None:
        grads = [a * scale for a in model.materialize(t_hi)]
        terms = [None if isinstance(a, torch.Tensor) else [(p, q, c * scale) for p, q, c in a] for a in t_hi]
        return grads, terms
    grads = [(a - b) * scale for a, b in zip(model.materialize(t_hi), model.materialize(t_lo))]
    terms = [None if isinstance(a, torch.Tensor) else
             [(p, q, c * scale) for p, q, c in a] + [(p, q, -c * scale) for p, q, c in b]
             for a, b in zip(t_hi, t_lo)]
    return grads, terms
