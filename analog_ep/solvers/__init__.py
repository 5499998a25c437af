"""Relaxation of node states to a fixed point of the (nudged) energy.

Solvers are functions ``relax(model, const, states, *, beta, target, iters, tol, damping,
check_every)`` that return ``(states, stats)``; they run without autograd, use only the
closed-form node updates of the model (synapse reads and transposed reads), stop early when every
sample has converged, and report per-sample statistics. Registry: :func:`get_solver` /
:func:`register_solver`.

Host syncs: the residual, the per-sample steps and the converged flags are computed after every
sweep on the states' device; the host reads one flag (whether every sample has converged) only
every ``check_every`` sweeps, so a GPU's queue is not drained after each sweep. Under torchrun
the flag is and-ed over the ranks (when the trainer says every rank holds samples), so every rank
runs the same sweeps as one process would on the global batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from ..errors import ConfigError


@dataclass
class SolverStats:
    """Per-sample statistics of one relaxation.

    ``steps``: sweeps until the sample's residual first fell below ``tol`` (``iters`` if never);
    ``residual``: max |s_new - s_old| over all nodes at the last sweep; ``converged``: residual
    below ``tol`` at the last sweep; ``sweeps``: sweeps run for the batch.
    """

    steps: torch.Tensor
    residual: torch.Tensor
    converged: torch.Tensor
    sweeps: int


def _max_abs(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).abs().reshape(a.shape[0], -1).amax(1)


def _run(sweep: Callable, states: list[torch.Tensor], iters: int, tol: float,
         check_every: int = 1) -> tuple[list[torch.Tensor], SolverStats]:
    from ..compute import current

    dist = current()
    b = states[0].shape[0]
    device = states[0].device
    steps = torch.full((b,), iters, dtype=torch.long, device=device)
    done = torch.zeros(b, dtype=torch.bool, device=device)
    residual = torch.full((b,), float("inf"), device=device)
    n = 0
    for n in range(1, iters + 1):
        new = sweep(states)
        residual = torch.stack([_max_abs(s1, s0) for s1, s0 in zip(new, states)]).amax(0)
        states = new
        now = residual < tol
        steps = torch.where(now & ~done, torch.full_like(steps, n), steps)
        done = done | now
        if n % check_every == 0 and n < iters:
            flag = now.all()
            if dist.sync_convergence:
                flag = dist.all_true(flag)
            if bool(flag):
                break
    return states, SolverStats(steps, residual, residual < tol, n)


@torch.no_grad()
def relax_async(model, const, states, *, beta=0.0, target=None, iters=30, tol=1e-4, damping=0.0, check_every=1):
    """Asynchronous schedule: colour groups in turn (odd then even layers for a chain), each
    group updated in closed form from the newest states: exact block-coordinate descent, so the
    energy never increases."""
    groups = model.colouring()

    def sweep(old):
        s = list(old)
        for group in groups:
            hs = [(k, model.drive(k, s, const, beta, target)) for k in group]
            for k, h in hs:
                s[k - 1] = model.node_update(k, h, beta, target)
        return s

    return _run(sweep, list(states), iters, tol, check_every)


@torch.no_grad()
def relax_sync(model, const, states, *, beta=0.0, target=None, iters=30, tol=1e-4, damping=0.0, check_every=1):
    """Synchronous (Jacobi) schedule: every node from the old states, optionally damped
    ``s <- damping * s_old + (1 - damping) * T(s_old)``."""
    n = model.num_nodes

    def sweep(old):
        new = [model.node_update(k, model.drive(k, old, const, beta, target), beta, target) for k in range(1, n + 1)]
        if damping:
            new = [damping * o + (1 - damping) * s for o, s in zip(old, new)]
        return new

    return _run(sweep, list(states), iters, tol, check_every)


_SOLVERS: dict[str, Callable] = {"async": relax_async, "sync": relax_sync}


def register_solver(name: str, fn: Callable) -> None:
    _SOLVERS[name] = fn


def get_solver(name: str) -> Callable:
    if name not in _SOLVERS:
        raise ConfigError(f"solver.name: unknown solver {name!r}; valid: {', '.join(sorted(_SOLVERS))}")
    return _SOLVERS[name]


__all__ = ["SolverStats", "get_solver", "register_solver", "relax_async", "relax_sync"]
