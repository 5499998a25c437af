"""Continuous-time settling of a Hopfield-type energy on the crossbar (``analog.relaxation:
settle``, DESIGN section 7c).

The neurons are analog circuits on the crossbar lines. Node ``k`` is a capacitor ``C`` with a
leak ``G_leak`` whose voltage ``v_k`` integrates the currents of every crossbar it touches, the
forward read from below and the transposed read from above at once (on a physical array both
flow together), and whose output, the state the lines are driven with, is the neuron's
nonlinearity ``s_k = rho_k(v_k)`` (the model's activation: ``clip(slope v, lo, hi)`` as a
clipping circuit, the logistic sigmoid; the output node is linear)::

    C dv_k/dt = -G_leak v_k + I_in,k(t) + I_nudge,k(t),
    I_in,k    = G_leak h_k(s),                          h_k: the node's drive (model.drive)
    I_nudge,k = G_leak [u_k(h_k; beta) - u_k(h_k; 0)],  u_k: the block minimizer (model.node_update)

so with ``tau = C / G_leak``: ``tau dv_k/dt = u_k(h_k; beta) - u_k(h_k; 0) + h_k - v_k``. The
crossbar currents are in units of ``G_leak`` times a state. The nudge is an injected current
that only the output node receives: for the MSE nudge ``G_leak beta (y - h_L) / (1 + beta)``, for
the clamp nudge ``G_leak beta (y - h_L)`` (hidden nodes' minimizers do not depend on beta: zero
current; the cross-entropy readout's nudge already is a current in the last hidden node's drive).

**Same fixed point as the iterative solver.** ``dv/dt = 0`` gives ``v_k = h_k`` for a hidden node,
so ``s_k = rho_k(h_k) = node_update(k, h_k)``, and ``v_L = u_L(h_L; beta)`` for the (linear)
output, ``s_L = node_update(L, h_L, beta)``: the stationary states are exactly the fixed points
``s = T(s)`` of the synchronous map the iterative solvers iterate. Along the flow the energy
``F = E + beta C`` never increases (Hopfield 1984): ``dF/ds_k = Phi_k'(s_k) - h_k = v_k - h_k``
(``Phi' = rho^{-1}``) where ``rho_k' > 0`` and ``ds_k/dt = rho_k'(v_k) dv_k/dt``, so ``dF/dt =
-sum rho'(v) (h - v)^2 / tau <= 0`` (the output node: ``-(1 + beta) (u_L - v_L)^2 / tau``).

**Integrator**: explicit (forward) Euler with step ``dt <= tau`` (the config's bound: at
``dt = tau`` a step lands on each node's own equilibrium, a Jacobi sweep; beyond it a step
overshoots and at ``2 tau`` the leak alone is unstable): ``v <- v + (dt / tau) (u - v)``, all
nodes from the same states. Default ``dt = tau / 10``.

**Start.** The voltages start at ``v_k = h_k(s0)`` (hidden, the free drive) and ``v_L = s0_L``:
the capacitors' charge when ``s0`` is a free equilibrium, which is how nudged phases start (from
the stored free state); from any other start (zeros, a warm start) the first outputs
``rho(h(s0))`` are one Jacobi sweep away from ``s0``.

**Noise.** The reads inside the loop are the storages' converter-free reads
(:meth:`~analog_ep.analog.storage.AnalogStorage.settle_reads`: tile conductances with their
weight read noise, output noise and IR drop; no DAC, no ADC). White read noise (a fresh draw per
read, ``noise_policy: per_read``) is analog noise in the loop: a read integrated over one step
``dt`` has std ``sigma sqrt(tau / dt)``, ``sigma`` the card's per-read std taken as the noise of
a read integrated over one node time constant (``dt_ref = tau``). The voltage then moves by
``(dt / tau) sigma sqrt(tau / dt) = sigma sqrt(dt / tau)`` per step: a Wiener increment, so the
settled distribution does not depend on ``dt`` (and at ``dt = tau`` a step is an iterative sweep
with its noise). Noise drawn per phase or per batch is a static offset: unscaled.

**Read-out.** Each phase's equilibrium is digitized once (the storage's ``digitize_state``: the
DAC's resolution and range, those of the states an iterative read drives) before it is used.
Counted: one neuron update (the read-out conversion taken by the digital logic) per node per
sample per phase, the integration steps as the phase's sweeps; the continuous reads are not
vector reads (the storages count nothing inside the settle). For the cost model, the settled time
(``model.phase_counts``: ``settle_samples``, ``settle_time_s`` summed on the device) and each
node's read-out conversions on the storage that reads it out (its event counter's
``readouts``). Settle time per sample: :attr:`SolverStats.settle_time_s`.

**Stopping**: after ``t_max`` seconds of settled time (``ceil(t_max / dt)`` steps; default the
phase's sweep budget ``iters`` in time constants), or when every sample's residual ``max |T(s) -
s|`` (the iterative solver's residual at the current state) is below ``tol`` (noise off), or with
``stop: noise_floor`` has settled on its noise floor (:class:`.base.Stopper`).

Covers the energies of :class:`~analog_ep.models.EnergyNetwork` (``energy_kind`` ``hopfield``:
Hopfield MLP, DCHN VGG5, Hopfield-ResNet13, VGG CRNN with auxiliary readouts). Not the
predictive coding networks: their nudged phases are K traversals of a different energy
(:mod:`.pcn`), whose node update is no leaky integrator of crossbar currents.
"""

from __future__ import annotations

import contextlib
import math

import torch

from .base import SolverStats, Stopper, max_abs, noisy_reads, register_solver


@contextlib.contextmanager
def _settle_reads(model, noise_scale: float):
    with contextlib.ExitStack() as stack:
        for syn in model.all_synapses():
            stack.enter_context(syn.storage.settle_reads(noise_scale))
        yield


def _readouts(model) -> list:
    """The storage whose converters read node ``k`` out (one of the crossbars feeding it)."""
    out = {}
    for e in model.edges:
        out.setdefault(e.post, e.synapse.storage)
    return [out[k] for k in range(1, model.num_nodes + 1)]


@torch.no_grad()
def relax_settle(model, const, states, *, beta: float = 0.0, target=None, iters: int = 30, tol: float = 1e-4,
                 damping: float = 0.0, check_every: int = 1, stop: str = "tol", noise_patience: int = 5,
                 noise_drop: float = 0.05, tau_s: float = 1e-7, dt_s: float | None = None,
                 t_max_s: float | None = None) -> tuple[list[torch.Tensor], SolverStats]:
    """Settle one phase (module docstring) from ``states``; returns the digitized equilibrium and
    its :class:`SolverStats` (``sweeps``: integrator steps run; ``steps``: per sample the step
    at which it settled; ``settle_time_s``: ``steps * dt``). ``tau_s = C / G_leak`` and ``dt_s``
    (default ``tau / 10``) in seconds; ``t_max_s`` the settle time budget (default ``iters *
    tau``). ``damping`` is not used (the leak is the damping)."""
    dt = tau_s / 10 if dt_s is None else float(dt_s)
    t_max = iters * tau_s if t_max_s is None else float(t_max_s)
    n_steps = max(1, math.ceil(t_max / dt * (1 - 1e-12)))
    alpha = dt / tau_s
    L = model.num_nodes
    acts = model.activations
    s = list(states)
    stopper = Stopper(s[0], n_steps, tol, check_every, stop, stop != "tol" and noisy_reads(model), noise_patience,
                      noise_drop)
    n = 0
    with _settle_reads(model, math.sqrt(tau_s / dt)):
        v = [model.drive(k, s, const) for k in range(1, L)] + [s[L - 1]]
        s = [act(vk) for act, vk in zip(acts, v)]

        def drives(s):
            h = [model.drive(k, s, const, beta, target) for k in range(1, L + 1)]
            t = [model.node_update(k, hk, beta, target) for k, hk in enumerate(h, start=1)]
            if beta == 0.0:
                return h, t
            # the nudge current (zero on nodes whose minimizer ignores beta)
            return [hk + tk - model.node_update(k, hk) for k, (hk, tk) in enumerate(zip(h, t), start=1)], t

        u, _ = drives(s)
        for n in range(1, n_steps + 1):
            v = [vk + alpha * (uk - vk) for vk, uk in zip(v, u)]
            s = [act(vk) for act, vk in zip(acts, v)]
            u, t = drives(s)
            residual = torch.stack([max_abs(tk, sk) for tk, sk in zip(t, s)]).amax(0)  # max |T(s) - s|
            if stopper.update(n, residual):
                break
    readouts = _readouts(model)
    out = [r.digitize_state(sk) for r, sk in zip(readouts, s)]
    b = s[0].shape[0]
    model.count_phase(b, n, b * model.neurons_per_sweep())
    settle_time_s = stopper.steps.to(s[0].dtype) * dt
    _count_settle(model, readouts, s, settle_time_s)
    return out, stopper.stats(n, settle_time_s=settle_time_s)


def _count_settle(model, readouts: list, states: list, settle_time_s: torch.Tensor) -> None:
    """The cost model's counts of a settled phase (:mod:`analog_ep.synapses.counters`): the settled
    time per sample (summed on the device) and each node's one read-out conversion per sample on
    the storage that reads it out (host ints from the shapes)."""
    model.phase_counts.add_settle(states[0].shape[0], settle_time_s)
    for r, sk in zip(readouts, states):
        r.events.readout(sk.numel())


register_solver("settle", relax_settle)
