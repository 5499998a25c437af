"""Solver statistics, the sweep loop every iterative solver shares, and the solver registry
(see :mod:`analog_ep.solvers`)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import torch

from ..errors import ConfigError


@dataclass
class SolverStats:
    """Per-sample statistics of one relaxation.

    ``steps``: sweeps until the sample's residual first fell below ``tol`` (``iters`` if never);
    ``residual``: max |s_new - s_old| over all nodes at the last sweep; ``converged``: residual
    below ``tol`` at the last sweep; ``sweeps``: sweeps run for the batch; ``trace``: (sweeps,)
    the batch's largest residual after each sweep (on the states' device; None where no sweep
    ran); ``energy``: the solver's energy curve where it computes one (the predictive coding
    solver: the batch-mean total energy before the first and after every sweep), else None.
    """

    steps: torch.Tensor
    residual: torch.Tensor
    converged: torch.Tensor
    sweeps: int
    trace: torch.Tensor | None = None
    energy: torch.Tensor | None = None


def max_abs(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-sample max |a - b| (reduced over the sample's dims in place: no copy of a
    channels-last map into rows)."""
    d = (a - b).abs()
    return d.amax(tuple(range(1, d.dim()))) if d.dim() > 1 else d


def run_sweeps(sweep: Callable, states: list[torch.Tensor], iters: int, tol: float,
               check_every: int = 1) -> tuple[list[torch.Tensor], SolverStats]:
    """Apply ``sweep`` (old states -> new states) up to ``iters`` times; stop early once every
    sample's residual is below ``tol`` (checked on the host every ``check_every`` sweeps)."""
    from ..compute import current

    dist = current()
    b = states[0].shape[0]
    device = states[0].device
    steps = torch.full((b,), iters, dtype=torch.long, device=device)
    done = torch.zeros(b, dtype=torch.bool, device=device)
    residual = torch.full((b,), float("inf"), device=device)
    residuals = []
    n = 0
    for n in range(1, iters + 1):
        new = sweep(states)
        residual = torch.stack([max_abs(s1, s0) for s1, s0 in zip(new, states)]).amax(0)
        residuals.append(residual)
        states = new
        now = residual < tol
        steps = torch.where(now & ~done, torch.full_like(steps, n), steps)
        done = done | now
        if tol > 0 and n % check_every == 0 and n < iters:  # tol 0: the full budget, no host read
            flag = now.all()
            if dist.sync_convergence:
                flag = dist.all_true(flag)
            if bool(flag):
                break
    trace = torch.stack(residuals).amax(1) if residuals else None
    return states, SolverStats(steps, residual, residual < tol, n, trace)


def counts_sweeps(relax: Callable) -> Callable:
    """A solver that also counts its relaxation in the model's event counts
    (``model.count_phase(batch, stats.sweeps)``, under the phase the model is in): the sweeps
    it ran are a host int, so counting adds no host sync."""
    @functools.wraps(relax)
    def counted(model, const, states, **kwargs):
        out, stats = relax(model, const, states, **kwargs)
        model.count_phase(states[0].shape[0], stats.sweeps)
        return out, stats
    return counted


_SOLVERS: dict[tuple[str, str], Callable] = {}


def register_solver(name: str, fn: Callable, energy: str = "hopfield") -> None:
    """Register ``fn`` as solver ``name`` for energies of kind ``energy`` (``model.energy_kind``)."""
    _SOLVERS[(name, energy)] = fn


def get_solver(name: str, energy: str = "hopfield") -> Callable:
    """The solver ``name`` of energies of kind ``energy``; a :class:`ConfigError` listing the
    valid names (for that energy) otherwise."""
    fn = _SOLVERS.get((name, energy))
    if fn is None:
        valid = sorted(n for n, e in _SOLVERS if e == energy)
        if any(n == name for n, _ in _SOLVERS):
            raise ConfigError(f"solver.name: solver {name!r} does not relax a {energy} energy; valid for this "
                              f"model: {', '.join(valid)}")
        raise ConfigError(f"solver.name: unknown solver {name!r}; valid: {', '.join(valid)}")
    return fn
