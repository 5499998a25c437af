"""Recurrent backpropagation (Almeida 1987; Pineda 1987): the exact gradient of the loss at the
free fixed point of an equilibrium network, as a learning rule (``algorithm: rbp``).

At an equilibrium ``s* = T(s*, theta)`` (``T``: :meth:`~analog_ep.models.EnergyNetwork.sync_map`,
every node updated in closed form from the old states, whose fixed points are the energy's
equilibria) the loss ``L(s*)`` has

    dL/dtheta = lambda^T dT/dtheta + dL/dtheta|_s,     lambda = (dT/ds)^T lambda + dL/ds,

and the adjoint ``lambda`` is the fixed point of the second equation, iterated here on the states'
device with vector-Jacobian products from autograd (one backward pass through the map per
iteration; the map's graph is built once per batch). The iteration converges when the spectral
radius of ``dT/ds`` at ``s*`` is below 1. For a layered (two-colourable) network the synchronous
Jacobian's spectral radius is the square root of that of the asynchronous (odd-then-even) sweep
the free phase runs (Young's theorem for consistently ordered matrices), so the adjoint converges
whenever the free phase converges linearly, at half its rate per iteration. This is the gradient
that EP estimates (Scellier & Bengio 2017 compare the two): training with it separates what EP's
estimate costs from what the equilibrium network itself can reach.
:func:`~analog_ep.algorithms.implicit.implicit_gradient` solves the same adjoint system by GMRES on
the host (the gradient check's reference).

Stopping: a sample has converged when, at every node ``k``, the change of ``lambda_k`` in one
iteration is at most ``rtol`` times ``max |lambda_k|``, the host reading one flag every
``check_every`` iterations (:class:`~analog_ep.solvers.base.Stopper`). Starting from zero, the
adjoint spreads from the output one node per iteration, and the node it has just reached changes
by all of its value, so no sample stops before every node is reached; a node whose adjoint stays
exactly 0 (every unit at a bound of its activation) passes the test, as it should.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from ..solvers import SolverStats
from ..solvers.base import Stopper, max_abs
from .implicit import loss_terms, parameter_gradient


@dataclass
class RBPResult:
    grads: list[torch.Tensor]          # dL/dtheta, aligned with model.ep_parameters()
    free: list[torch.Tensor]           # the free fixed point
    stats: dict[str, SolverStats]      # "free" (the relaxation), "adjoint" (the adjoint iteration)
    adjoint: list[torch.Tensor]        # lambda, one tensor per node


@contextlib.contextmanager
def _frozen(params: list[torch.Tensor]):
    """Within: the parameters do not require gradients (the adjoint's graph then holds no weight
    gradient, and the storages count no weight-gradient correlation per iteration)."""
    saved = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, r in zip(params, saved):
            p.requires_grad_(r)


def adjoint_gradient(model, x: torch.Tensor, target, states: list[torch.Tensor], *, iters: int, rtol: float,
                     check_every: int = 1, const: list[torch.Tensor] | None = None
                     ) -> tuple[list[torch.Tensor], SolverStats, list[torch.Tensor]]:
    """``(grads, stats, lambda)``: the gradient of the batch-mean objective ``model.total_cost``
    (output cost plus auxiliary readouts) at the fixed point ``states``, aligned with
    ``model.ep_parameters()``, from up to ``iters`` iterations of the adjoint fixed point (module
    docstring; ``rtol``: the relative stop, 0 = all ``iters``); ``stats``: the adjoint
    iteration's (``steps`` per sample, ``converged`` the relative test at the last iteration).
    ``const``: the input's constant drive (``model.const_drive(x)``), when the caller has it.
    The events of the adjoint count under the model's current phase (the caller tags it)."""
    params = model.ep_parameters()
    s = [t.detach().requires_grad_(True) for t in states]
    g, explicit = loss_terms(model, s, params, target)
    with torch.enable_grad(), _frozen(params):
        c = None if const is None else [h.detach() for h in const]
        T = model.sync_map(x, s, c)
    # nodes whose map does not depend on the states (none in a connected network) give None
    live = [t for t in T if t.requires_grad]
    live_idx = [i for i, t in enumerate(T) if t.requires_grad]

    def sweep(lam: list[torch.Tensor]) -> list[torch.Tensor]:
        vjp = torch.autograd.grad(live, s, [lam[i] for i in live_idx], retain_graph=True, allow_unused=True)
        return [gk if v is None else gk + v for gk, v in zip(g, vjp)]

    lam = [torch.zeros_like(t) for t in s]
    stopper = Stopper(lam[0], iters, 0.0, check_every, rtol=rtol)
    n = 0
    with torch.no_grad():
        for n in range(1, iters + 1):
            new = sweep(lam)
            change = torch.stack([max_abs(a, b) for a, b in zip(new, lam)])
            size = torch.stack([max_abs(a, torch.zeros_like(a)) for a in new])
            lam = new
            if stopper.update(n, change.amax(0), (change <= rtol * size).all(0)):
                break
    stats = stopper.stats(n)
    del T, live
    # lambda^T dT/dtheta: one more pass of the map, now with the parameters' gradients
    with torch.enable_grad():
        s0 = [t.detach() for t in states]
        T = model.sync_map(x, s0)
        grads = parameter_gradient(T, params, lam, explicit, model.ep_grad_scales())
    return grads, stats, [t.detach() for t in lam]


def rbp_gradient(model, x: torch.Tensor, target, init: list[torch.Tensor], solver, *, free_iters: int,
                 tol: float, damping: float = 0.0, iters: int, rtol: float, check_every: int = 1) -> RBPResult:
    """One mini-batch of recurrent backpropagation: the free phase exactly as EP's
    (:func:`~analog_ep.algorithms.ep.ep_gradient`: the constant drive, then ``solver`` from
    ``init`` for up to ``free_iters`` sweeps at ``tol``), then the adjoint at its fixed point
    (:func:`adjoint_gradient`, counted as phase ``backward``: ``stats.sweeps`` passes through the
    map for the batch)."""
    with torch.no_grad():
        model.begin_phase("free")
        const = model.const_drive(x)
        free, st_free = solver(model, const, init, iters=free_iters, tol=tol, damping=damping)
    model.tag_phase("backward")
    grads, st_adj, lam = adjoint_gradient(model, x, target, free, iters=iters, rtol=rtol, check_every=check_every,
                                          const=const)
    model.count_phase(x.shape[0], st_adj.sweeps)
    return RBPResult(grads, free, {"free": st_free, "adjoint": st_adj}, lam)
