"""Relaxation of the Hopfield-type energies of :class:`~analog_ep.models.EnergyNetwork`:
asynchronous (colour groups) and synchronous (Jacobi, optionally damped) schedules.

Both stop by ``solver.stop`` (:class:`.base.Stopper`): ``tol``, or ``noise_floor`` (also when a
sample's residual sits on the floor its noisy reads set; ``noise_patience``, ``noise_drop``).
A nudged phase (``beta != 0``) with ``nudge_rtol > 0`` (``solver.nudge_rtol``) tests each node's
residual against ``nudge_rtol`` times its displacement from the phase's start instead of against
``tol`` (:func:`.base.run_sweeps`); the free phase keeps ``tol``.

The asynchronous schedule runs a **fused sweep** (:class:`~analog_ep.analog.kernels.numba_sweep.FusedSweep`:
per colour group one numba pass for the read's output stage, the drive, the node update, the
residual and the DAC of the new state; in the last group's pass the stopper's per-sample
bookkeeping, so the host only reads its flag) where the model offers one
(:meth:`~analog_ep.models.base.EnergyNetwork.sweep_plan`: every node driven by one planned one-tile
analog read; numba kernels) and ``nudge_rtol`` does not apply; the same states, residuals,
stops, reads and counts as the generic sweep, bit for bit. :data:`FUSED` False forces the
generic sweep (tests)."""

from __future__ import annotations

import torch

from ..config.relaxations import RELAXATIONS
from .base import (NOISE_BAND, Stopper, counts_sweeps, end_reads_of, floor_threshold, noisy_reads, register_solver, run_sweeps,
                   sweep_loop)

FUSED = True
"""Whether :func:`relax_async` runs the fused sweep where the model offers one (False: always the
generic sweep; the fused sweep's tests compare the two)."""


def _sweep_plan(model, const, states, beta, target, rtol):
    """The model's plan of this relaxation's fused sweep (:mod:`analog_ep.analog.kernels.numba_sweep`),
    or None where the model has none, :data:`FUSED` is off or the relative nudge test applies.
    The floor threshold (``z``: :func:`_floor_z`) runs in the fused sweep too, the weight read
    noise's L2-scaled terms included (:class:`~analog_ep.analog.kernels.numba_sweep.FusedSweep`;
    before session 16 such phases took the generic sweep)."""
    if not FUSED or (beta and rtol > 0):
        return None
    plan = model.sweep_plan(states, beta, target)
    if plan is None or any(const[st.node - 1].dtype != states[0].dtype for st in plan):
        return None
    return plan


def run_fused(plan, const, states: list[torch.Tensor], iters: int, tol: float, check_every: int, stop: str,
              noisy: bool, patience: int, drop: float, z: float, band: str, end_reads: int = 1):
    """:func:`.base.run_sweeps` (``rtol`` 0) as the fused sweep of ``plan`` runs it: the kernels
    return the new states and the per-sample residual and keep the stopper's bookkeeping
    themselves, the floor threshold ``z`` (:func:`_floor_z`: 0 where it does not run; its band ``band``) included (:class:`~analog_ep.analog.kernels.numba_sweep.FusedSweep`);
    the same loop (:func:`.base.sweep_loop`), the phase end's ``end_reads`` too (the kernel's
    residual rows sized for the ``end_reads - 1`` extra sweeps)."""
    from ..analog.kernels.numba_sweep import FusedSweep   # a plan exists only where numba runs the reads
    stopper = Stopper(states[0], iters, tol, check_every, stop, noisy, patience, drop)
    fused = FusedSweep(plan, const, states, iters + end_reads - 1, stopper, z, band)
    return sweep_loop(fused.advance, states, iters, stopper, end_reads)


def _floor_z(stop, noisy, beta, noise_z, nudge_rtol) -> float:
    """The one decision whether a phase's floor threshold runs: its ``noise_z``, or 0 where it
    does not: a stop other than ``noise_floor``, reads without noise (``noisy``:
    :func:`.base.noisy_reads` under a stop other than ``tol``; the stopper's ``floor``), ``noise_z``
    0, or a nudged phase under ``nudge_rtol``, whose relative test (a node the nudge has not
    reached has not converged) a band around the noise would override while the nudge spreads."""
    return noise_z if stop == "noise_floor" and noisy and not (beta and nudge_rtol) else 0.0


def _floor(model, beta, z, noise_band):
    """The generic sweep's floor threshold (:func:`.base.floor_threshold`) for ``z``
    (:func:`_floor_z`), or None where ``z`` is 0."""
    return floor_threshold(model.read_floors(beta) if z else None, z, noise_band)


@counts_sweeps
@torch.no_grad()
def relax_async(model, const, states, *, beta=0.0, target=None, iters=30, tol=1e-4, damping=0.0, check_every=1,
                stop="tol", noise_patience=RELAXATIONS["iterative"].noise_patience, noise_drop=0.05, nudge_rtol=0.0,
                noise_z=0.0, noise_band=NOISE_BAND, end_reads=1):
    """Asynchronous schedule: colour groups in turn (odd then even layers for a chain), each
    group updated in closed form from the newest states: exact block-coordinate descent, so the
    energy never increases. ``noise_z``, ``noise_band``: the noise floor's threshold and its band
    (:func:`.base.floor_threshold`; the band's default :data:`.base.NOISE_BAND`, the config's null); ``end_reads``: the phase end averaged over that many sweeps
    (:func:`.base.average_end`) where the reads are noisy (:func:`.base.end_reads_of`), on the fused sweep
    as on the generic one."""
    noisy = stop != "tol" and noisy_reads(model)
    z = _floor_z(stop, noisy, beta, noise_z, nudge_rtol)
    plan = _sweep_plan(model, const, states, beta, target, nudge_rtol)
    if plan is not None:
        return run_fused(plan, const, list(states), iters, tol, check_every, stop, noisy,
                         noise_patience, noise_drop, z, noise_band, end_reads_of(model, end_reads))
    groups = model.colouring()

    def sweep(old):
        s = list(old)
        for group in groups:
            hs = [(k, model.drive(k, s, const, beta, target)) for k in group]
            for k, h in hs:
                s[k - 1] = model.node_update(k, h, beta, target)
        return s

    return run_sweeps(sweep, list(states), iters, tol, check_every, stop, noisy,
                      noise_patience, noise_drop, nudge_rtol if beta else 0.0,
                      _floor(model, beta, z, noise_band), end_reads_of(model, end_reads))


@counts_sweeps
@torch.no_grad()
def relax_sync(model, const, states, *, beta=0.0, target=None, iters=30, tol=1e-4, damping=0.0, check_every=1,
               stop="tol", noise_patience=RELAXATIONS["iterative"].noise_patience, noise_drop=0.05, nudge_rtol=0.0,
               noise_z=0.0, noise_band=NOISE_BAND, end_reads=1):
    """Synchronous (Jacobi) schedule: every node from the old states, optionally damped
    ``s <- damping * s_old + (1 - damping) * T(s_old)``; ``noise_z``, ``noise_band`` as :func:`relax_async`
    (undamped only: a damped sweep's states carry part of the old states' noise)."""
    n = model.num_nodes

    def sweep(old):
        new = [model.node_update(k, model.drive(k, old, const, beta, target), beta, target) for k in range(1, n + 1)]
        if damping:
            new = [damping * o + (1 - damping) * s for o, s in zip(old, new)]
        return new

    noisy = stop != "tol" and noisy_reads(model)
    z = _floor_z(stop, noisy, beta, noise_z, nudge_rtol) if not damping else 0.0
    return run_sweeps(sweep, list(states), iters, tol, check_every, stop, noisy,
                      noise_patience, noise_drop, nudge_rtol if beta else 0.0,
                      _floor(model, beta, z, noise_band), end_reads_of(model, end_reads))


register_solver("async", relax_async)
register_solver("sync", relax_sync)
