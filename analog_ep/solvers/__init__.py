"""Relaxation of node states to a fixed point of the (nudged) energy.

Solvers are functions ``relax(model, const, states, *, beta, target, iters, tol, damping,
check_every, **phase)`` that return ``(states, stats)``; they run without autograd, use only the
closed-form node updates of the model (synapse reads and transposed reads), stop early when every
sample has converged, and report the same statistics (:class:`SolverStats`: steps, residual,
converged flag per sample, sweeps run and the per-sweep residual trace). Registry:
:func:`get_solver` / :func:`register_solver`, keyed by the solver's name and the kind of energy it
relaxes (``model.energy_kind``: ``hopfield`` for the Hopfield-type energies of
:class:`~analog_ep.models.EnergyNetwork`, ``pcn`` for predictive coding energies,
:mod:`.pcn`), so ``solver.name`` means the same on every model and a name that does not relax
a model's energy is a config error listing the ones that do.

Host syncs: the residual, the per-sample steps and the converged flags are computed after every
sweep on the states' device; the host reads one flag (whether every sample has converged) only
every ``check_every`` sweeps, so a GPU's queue is not drained after each sweep. Under torchrun
the flag is and-ed over the ranks (when the trainer says every rank holds samples), so every rank
runs the same sweeps as one process would on the global batch.
"""

from .base import SolverStats, Stopper, build_solver, get_solver, max_abs, register_solver, run_sweeps
from .hopfield import relax_async, relax_sync
from .pcn import relax_pcn
from .settle import relax_settle

__all__ = ["SolverStats", "Stopper", "build_solver", "get_solver", "max_abs", "register_solver", "relax_async",
           "relax_pcn", "relax_settle", "relax_sync", "run_sweeps"]
