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

**Integrator**: exponential Euler. Over one step ``dt`` the node targets ``u`` (the crossbar
currents and the nudge, functions of the outputs) are held at their values at the step's start
and the linear leak is integrated exactly: ``v <- u + (v - u) e^{-dt / tau}``, i.e. ``v <- v + a
(u - v)`` with ``a = 1 - e^{-dt / tau}``, all nodes from the same states. Exact for the leak at
any step, first order in the coupling (the targets' change within a step): a slow mode of rate
``r / tau`` decays at ``a r`` per step instead of ``h r`` (``h = dt / tau``), so the settle
*time* comes out long by about ``h / a - 1`` (5 % at ``tau / 10``, 13 % at ``tau / 4``; measured
on F-MNIST 784-500-10 against ``dt = tau / 100``: +3 % and +7 % to ``tol`` 1e-4,
``benchmarks/settle_fmnist_s9.md``); the settled state does not depend on the step.
*Step bound*: linearized, ``u = K v`` (``K`` the Jacobian of the node targets, see the default
budget below), a mode of eigenvalue ``mu`` of ``K`` is multiplied per step by ``1 - a (1 - mu)``;
on the layered nets ``K = D W`` (``D >= 0`` diagonal, ``W`` symmetric) has a real spectrum in
``[-rho, rho]``, ``rho = rho(K)``, so the step is stable (and on a quadratic energy of Hessian
``I - K`` it descends, the descent lemma) iff ``a (1 + rho) < 2``: at every ``dt`` when ``rho <=
1`` (``a < 1``), else for ``dt < tau ln((rho + 1) / (rho - 1))``. The solver measures ``rho``
once per phase at its start (:func:`slowest_rate`, reads without white read noise, one host read; times
:data:`STIFFNESS_MARGIN`; a nudged phase's default budget uses the same measurement; a nudged
phase continues the power iteration of the step's previous phase, :func:`_phase_rate`);
``analog.settle_dt_s`` null takes ``min(tau / DEFAULT_STEPS_PER_TAU, bound / 2)``
(:func:`exponential_euler_step`), a given step at or above the bound is a ``ConfigError`` naming
it at the run's first settle phase (``train`` checks that phase before it touches the run folder,
:func:`analog_ep.train.first_phase.first_phase_check`) and, at a later phase whose bound
training moved below it, clamped to half the bound and counted (:func:`_given_step`), and the
config refuses a step above ``tau`` (beyond it the coupling's first-order error exceeds the
leak's own time scale). Until session 9 the integrator was explicit Euler (``a = dt
/ tau``, default ``dt = tau / 10``), whose bound ``dt <= tau`` came from the leak.

**Kernel.** On CPU with numba (``compute.kernels``), a model whose nodes are driven by reads
and clip / MSE / clamp node maps (the Hopfield MLP) runs each step after its reads as one fused
pass per node (:mod:`analog_ep.analog.kernels.numba_settle`, :func:`_fused_steps`): the drive's
sum, ``T(s)``, the nudge current, the residual, the update and the activation, and the stopper's
rule in the last node's pass; the torch loop below is the reference, and the kernel's states,
residuals and stops are its bits (``tests/unit/test_settle_kernel.py``).

**Start.** The voltages start at ``v_k = h_k(s0)`` (hidden, the free drive) and ``v_L = s0_L``:
the capacitors' charge when ``s0`` is a free equilibrium, which is how nudged phases start (from
the stored free state); from any other start (zeros, a warm start) the first outputs
``rho(h(s0))`` are one Jacobi sweep away from ``s0``.

**Noise.** The reads inside the loop are the storages' converter-free reads
(:meth:`~analog_ep.analog.storage.AnalogStorage.settle_reads`: tile conductances with their
weight read noise, output noise and IR drop; no DAC, no ADC). White read noise (a fresh draw per
read, ``noise_policy: per_read``) is analog noise in the loop: ``sigma``, the card's per-read
std, is taken as the noise of a read integrated over one node time constant, so the node obeys
``tau dv = (u - v) dt + sigma sqrt(tau) dW`` (an Ornstein-Uhlenbeck process about ``u``: settled
variance ``sigma^2 / 2``). A read over one step is scaled by :func:`white_noise_scale`, ``k =
sqrt((1 + e^-h) / (2 (1 - e^-h)))`` (``sqrt(tau / dt)`` to first order), so that the voltage's
increment ``a k sigma`` has the exact step variance ``sigma^2 (1 - e^{-2h}) / 2``: the noise
per unit time, and the settled distribution, do not depend on ``dt`` (explicit Euler's
``sqrt(tau / dt)`` gave a settled variance ``sigma^2 / (2 - h)``). Noise drawn per phase or per
batch is a static offset: unscaled.

**Read-out.** Each phase's equilibrium is digitized once (the storage's ``digitize_state``: the
DAC's resolution and range, those of the states an iterative read drives) before it is used.
Counted: one neuron update (the read-out conversion taken by the digital logic) per node per
sample per phase, the integration steps as the phase's sweeps; the continuous reads are not
vector reads (the storages count nothing inside the settle). For the cost model, the settled time
(``model.phase_counts``: ``settle_samples``, ``settle_time_s`` summed on the device) and each
node's read-out conversions on the storage that reads it out (its event counter's
``readouts``). Settle time per sample: :attr:`SolverStats.settle_time_s`.

**Stopping**: after ``t_max`` seconds of settled time (``ceil(t_max / dt)`` steps, reported as
:attr:`SettleStats.budget`), or when every sample's residual ``max |T(s) - s|`` (the iterative
solver's residual at the current state) is below ``tol`` (noise off), or with ``stop:
noise_floor`` has settled on its noise floor (:class:`.base.Stopper`; its patience counts node
time constants, :func:`settle_patience`).

**Default budget** (``t_max_s`` null, :func:`settle_budget_s`): the phase's sweep budget ``iters``
counted in the phase's own slowest time constants. Linearized at the phase's start, ``tau dv/dt
= (K - I) dv`` with ``K`` the Jacobian of the node targets ``u(v)`` (drives plus nudge current
through ``s = rho(v)``); every mode decays at least at ``r = 1 - rho(K)`` per ``tau``
(:func:`slowest_rate`). The nudge enters ``K`` at the output: the MSE output's target ``(h_L +
beta y) / (1 + beta)`` multiplies the output's couplings by ``1 / (1 + beta)`` (the node itself
still relaxes at ``1 / tau``), so the loop through the output gains ``1 / sqrt(1 + beta)`` (one
hidden layer: ``rho(K_beta) = rho(K_0) / sqrt(1 + beta)`` exactly): beta = -0.5 slows the phase's
slowest mode and beta = +0.5 speeds it up. A nudged phase (which starts at the free equilibrium,
where the linearization holds) gets ``iters * tau / r`` (``r`` the batch's least, measured once
per phase: one host read; floored at :data:`SLOWEST_RATE_FLOOR`, capped at 1), so both nudges get
the same number of e-foldings: a quiet nudge- phase converges as often as nudge+ (before, with
``iters * tau``, nudge- reached ``tol`` in none of the F-MNIST samples, nudge+ in 79 %). The free
phase (from zeros or a warm start: no point to linearize at) keeps ``iters * tau`` (its
measurement at the start serves only the step bound); a PCN's
nudged phase keeps ``iters * tau`` (see below), PC's inference ``pc.steps * pc.activity_lr * tau``.

:func:`relax_settle` covers the energies of :class:`~analog_ep.models.EnergyNetwork`
(``energy_kind`` ``hopfield``: Hopfield MLP, DCHN VGG5, Hopfield-ResNet13, VGG CRNN with
auxiliary readouts); :func:`relax_settle_pcn` the predictive coding networks (``energy_kind``
``pcn``: pcn_mlp, the PCN VGGs, muPC), the nudged phases of EP on them and predictive coding's
inference (``algorithm: pc``: node rule ``gd``, output ``pc``). The solver registry picks one by
the energy's kind (``settle`` is registered for both).

**Predictive coding networks** (:func:`relax_settle_pcn`). The value node ``s_k`` is a capacitor
integrating the error currents, the gradient flow of the PC energy ``F = E + beta C``
(``E = 1/2 sum ||s_k - mu_k||^2``, DESIGN section 5) in continuous time: with ``tau = C / G_leak``,

    tau dv_k/dt = w_k - v_k,   s_k = rho_k(v_k),
    pgd:      w_k = mu_k + Delta_k,  rho_k = the projection (s >= 0 for ReLU layers; identity else)
    mod_pgd:  w_k = a_k + Delta_k,   rho_k = act_k

where the prediction ``mu_k = act_k(a_k)``, ``a_k = W_k s_{k-1} + b_k`` is the forward read of
the crossbar below and the top-down error ``Delta_k = W_{k+1}^T (act'(a_{k+1}) eps_{k+1})`` the
transposed read of the one above, both continuous (the converter-free reads, as above). Where the
node is unclamped (``s_k = v_k``) ``pgd``'s current is exactly ``mu_k + Delta_k - s_k = -dF/ds_k``:
the leak is the own error ``-eps_k``, the transposed read the error fed back from above. The
output node (linear) is pulled toward the nudged output of the traversals
(:func:`.pcn.output_update`): ``(a_L + beta y) / (1 + beta) - s_L = -(dF/ds_L) / (1 + beta)``
(MSE), ``a_L - beta (softmax(s_L) - y) - s_L = -dF/ds_L`` (cross-entropy), ``(1 - beta) a_L +
beta y - s_L`` (the clamp nudge, the MSE flow of strength ``beta / (1 - beta)`` scaled by ``1 -
beta``): each ``-dF/ds_L`` times a positive constant. A residual node (muPC) adds its input's
line: ``s_k = rho_k(v_k - s_{k-1}) + s_{k-1}``. The nudged phase starts from the free state (the
forward pass, ``E = 0``) with ``v = w(s0; beta = 0)``, the capacitors' charge at it.

*Same fixed point as the traversals*: ``dv/dt = 0`` gives ``s_k = rho_k(w_k)``, the node update
of the same ``pc.nudged_update`` rule (:mod:`.pcn`): a settled state is a fixed point of the
traversal solver (the tests compare it with the traversals run to their fixed point). *Energy*:
under ``pgd`` the flow is the gradient flow of ``F`` on ``{s >= 0}`` (a node held at 0 by its
clamp does not move; the output's flow is ``-dF/ds_L`` times a positive constant), so ``dF/dt =
-sum (dF/ds)^2 / tau <= 0`` on the moving nodes; an explicit Euler step that moves each node by at
most ``dt / tau`` times its gradient step decreases ``F`` for ``dt <= tau / lambda`` (descent
lemma). ``mod_pgd`` is the same flow on every unit with ``a_k > 0`` (ReLU), and differs (like
its traversal) only on units the nudge switches on; measured non-increasing on the tests' nets.
*EP*: the settled nudged states are EP's, so the centered estimate tends to the backprop
gradient of the feed-forward twin as beta -> 0 (tested with the rule's gradcheck).

*Step* (the stiffness bound; a PCN settle keeps explicit Euler, ``v <- v + (dt / tau)(w - v)``,
with white read noise scaled by ``sqrt(tau / dt)``). Linearized at a state, ``tau dv/dt = -M v`` with ``M`` (under
``pgd``, on the unclamped nodes) ``P H``: ``H = (I - J)^T (I - J) + beta C''`` the Hessian of
``F`` (``J`` the block Jacobian of the predictions, ``J_{k,k-1} = diag(act'(a_k)) W_k``), ``P``
the output's positive scale. Explicit Euler ``v <- v + (dt / tau)(w - v)`` is stable for ``dt <
2 tau / lambda`` and monotone for ``dt <= tau / lambda``, ``lambda = lambda_max(M) <= (1 +
||J||)^2 + beta+`` (``>= 1``: the leak; ``||J||`` about the layers' largest gain, 1 to 3 at the
usual inits, so lambda is a few). The bound depends on the weights, so the solver measures it
once per phase, before settling: :func:`pcn_stiffness`, a power iteration on the Jacobian of the
node currents through the circuit's own reads without white read noise (seeded; one host read per phase),
times :data:`STIFFNESS_MARGIN`. ``analog.settle_dt_s`` null takes ``min(tau / 10, tau / (2
lambda))``; a given step above ``2 tau / lambda`` is a ``ConfigError`` naming the bound (the
config's own check ``dt <= tau`` applies first).

*PC's inference* (``output="pc"``, rule ``gd``; :func:`analog_ep.algorithms.pc.pc_gradient`): the
same circuit with every hidden node unclamped (``s_k = v_k``, ``w_k = mu_k + Delta_k``: the
gradient flow of ``E``) and the output held at the target (MSE / clamp; with the cross-entropy
nudge the output is a readout whose current ``y - softmax(a_L)`` the last crossbar's transposed
read feeds back). Its stationary point is the one PC's activity steps descend to, and an
activity step ``s <- s - lr dE/ds`` is an explicit Euler step ``dt = lr tau`` of this flow. It
starts from the circuit's own forward pass and the weight update takes its errors from the
circuit's reads at the equilibrium (the converter-free reads are a different function from the
converter path's: the drivers clip at ``inp_bound`` without noise management).

*Energy trace*: ``stats.energy`` is the batch-mean ``E + beta C`` (PC: ``E``) at the start and at
every time constant (``iters + 1`` points at the default budget, as the traversal solver's
per-traversal curve), ``stats.layer_energy`` per layer; after an early stop the read-out state's
energy repeats, so every phase's curve has the same length (the trainer averages them).

*K traversals vs. settling.* The traversal solver runs exactly ``solver.nudge_iters`` (K)
asynchronous traversals, each an exact block minimization, and stops there whether or not it has
converged (Kerjan et al. 2026: K about the depth). The settle has no traversals: it integrates
for at most ``analog.settle_t_max_s`` (null: ``nudge_iters * tau``, as for every settle) and
stops earlier once every sample's residual ``max |T(s) - s|`` (``T`` the traversal's node update
at the current state) is below ``solver.tol`` (or, with ``solver.stop: noise_floor``, has settled
on its floor). A time constant is not a traversal: the flow's slowest mode is ``tau /
lambda_min(M)``; the tests' nets (pcn_mlp 64-12-8-10, pcn_vgg5 3-4-4-5 on 16x16, beta 0.1)
settle to ``tol`` 1e-4 in 11 to 15 tau and to 1e-12 in 60 to 73 tau. So a PCN settle reaches its equilibrium (what EP's
estimate assumes) when its budget is tens of tau: set ``analog.settle_t_max_s`` (e.g. ``5e-6``
s = 50 tau at the default node) or ``solver.nudge_iters`` accordingly; K = 5 keeps 5 tau, a
partial settle, as K = 5 traversals are a partial relaxation.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import weakref

import torch

from ..config.relaxations import RELAXATIONS, relaxation_for
from ..errors import ConfigError
from ..models.pcn import PC_ACTIVATIONS
from .base import SolverStats, Stopper, max_abs, noisy_settle_reads, per_sample, register_solver
from .pcn import PCN_RULES, output_update


@contextlib.contextmanager
def settle_reads(model, noise_scale: float):
    """Within: every synapse reads as the settling circuit does (the storages' converter-free
    ``settle_reads``; ``noise_scale`` on white read noise)."""
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
                 damping: float = 0.0, check_every: int = 1, stop: str = "tol",
                 noise_patience: int = RELAXATIONS["settle"].noise_patience, noise_drop: float = 0.05, tau_s: float = 1e-7,
                 dt_s: float | None = None, t_max_s: float | None = None) -> tuple[list[torch.Tensor], SolverStats]:
    """Settle one phase (module docstring) from ``states``; returns the digitized equilibrium and
    its :class:`SolverStats` (``sweeps``: integrator steps run; ``steps``: per sample the step
    at which it settled; ``settle_time_s``: ``steps * dt``). ``tau_s = C / G_leak`` and ``dt_s``
    (default :func:`exponential_euler_step`'s) in seconds; ``t_max_s`` the settle time budget (default ``iters *
    tau``). ``damping`` is not used (the leak is the damping)."""
    L = model.num_nodes
    acts = model.activations
    s = list(states)

    def drives(s):
        h = [model.drive(k, s, const, beta, target) for k in range(1, L + 1)]
        t = [model.node_update(k, hk, beta, target) for k, hk in enumerate(h, start=1)]
        if beta == 0.0:
            return h, t
        # the nudge current (zero on nodes whose minimizer ignores beta)
        return [hk + tk - model.node_update(k, hk) for k, (hk, tk) in enumerate(zip(h, t), start=1)], t

    def start(s):  # the capacitors' charge at the start
        return [model.drive(k, s, const) for k in range(1, L)] + [s[L - 1]]

    # the phase's linearization at its start, without white read noise (a per-phase or per-batch
    # noise draw stays: it is part of the array the phase runs on): rho(K) for the step bound (and
    # a nudged phase's default budget); one host read per phase
    with settle_reads(model, 0.0):
        rate = float(_phase_rate(model, const, lambda v: drives([act(vk) for act, vk in zip(acts, v)])[0],
                                 start(s)).amin())
    dt = exponential_euler_step(tau_s, dt_s, (1.0 - rate) * STIFFNESS_MARGIN, model)
    alpha = -math.expm1(-dt / tau_s)  # 1 - exp(-dt / tau): the leak integrated exactly over dt
    t_max = settle_budget_s(iters, tau_s, rate if beta != 0.0 else 1.0) if t_max_s is None else float(t_max_s)
    n_steps = max(1, math.ceil(t_max / dt * (1 - 1e-12)))
    stopper = Stopper(s[0], n_steps, tol, check_every, stop, stop != "tol" and noisy_settle_reads(model),
                      settle_patience(noise_patience, tau_s, dt), noise_drop)
    n = 0
    fused = _fused_steps(model, s, beta, target, alpha)  # None: the torch loop (the reference)
    with settle_reads(model, white_noise_scale(dt / tau_s)):
        v = start(s)
        s = [act(vk) for act, vk in zip(acts, v)]
        u, _ = drives(s)
        if fused is not None:
            s, n = _fused_loop(model, const, fused, v, u, alpha, n_steps, stopper)
        else:
            for n in range(1, n_steps + 1):
                v = [torch.lerp(vk, uk, alpha) for vk, uk in zip(v, u)]  # v + a (u - v)
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
    _count_settle(model, readouts, s, settle_time_s, tau_s)
    return out, SettleStats(**vars(stopper.stats(n, settle_time_s=settle_time_s)), budget=n_steps, dt_s=dt)


def _fused_steps(model, states: list, beta: float, target, alpha: float) -> list | None:
    """The fused node steps of this phase (:mod:`analog_ep.analog.kernels.numba_settle`), one
    ``(reads, NodeStep)`` per node, or None for the torch loop: under ``compute.kernels`` numba
    (``auto``: where numba is installed; the kind ``settle_step`` in :func:`~analog_ep.analog.kernels.ran`),
    on float32 / float64 CPU states of shape (B, n), where every node's drive is its constant
    drive plus one or two reads (:meth:`~analog_ep.models.base.EnergyNetwork.sweep_reads`) and
    its node update (at the phase's beta and at 0) and activation have a kernel form
    (:meth:`~analog_ep.models.base.EnergyNetwork.sweep_update`). Host checks only, once per phase."""
    from ..analog import kernels as K

    like = states[0]
    ok = (K.numba_selected(like)
          and all(sk.dim() == 2 and sk.dtype == like.dtype for sk in states))
    y = None
    if ok and beta != 0.0:
        y = model.split_target(target)[0]
        ok = torch.is_tensor(y) and y.shape == states[-1].shape and y.dtype == like.dtype
    steps = []
    L = model.num_nodes
    if ok:
        from ..analog.kernels import numba_settle as NS

        for k in range(1, L + 1):
            reads = model.sweep_reads(k)
            forms = (model.sweep_update(k, beta), model.sweep_update(k, 0.0), model.activations[k - 1].sweep_update())
            if reads is None or not 1 <= len(reads) <= 2 or not NS.supported(*forms):
                ok = False
                break
            yk = y.contiguous() if (k == L and beta != 0.0) else None
            steps.append((reads, NS.NodeStep(*forms, beta, alpha, yk, like.dtype)))
    K.mark_ran("settle_step", "numba" if ok else "torch")
    return steps if ok else None


def _fused_loop(model, const: list, steps: list, v: list, u: list, alpha: float, n_steps: int, stopper):
    """:func:`relax_settle`'s integration loop with the fused node steps (``steps`` from
    :func:`_fused_steps`): the same reads in the same order as ``model.drive``'s, then one kernel
    per node for the drive's sum, the node updates, the nudge current, the residual, the voltage
    update and the activation (bit for bit the torch loop's; the next step's ``v`` and ``s`` go
    to the other of two buffers, so a stop leaves this step's state). Returns ``(s, steps run)``."""
    v = [torch.lerp(vk, uk, alpha).contiguous() for vk, uk in zip(v, u)]  # the first step's update, as torch's loop
    s = [act(vk).contiguous() for act, vk in zip(model.activations, v)]
    vn = [torch.empty_like(vk) for vk in v]
    sn = [torch.empty_like(sk) for sk in s]
    c0 = [ck.expand_as(sk).contiguous().numpy() for ck, sk in zip(const, s)]
    nv, ns, nvn, nsn = ([t.numpy() for t in ts] for ts in (v, s, vn, sn))  # the buffers' arrays, swapped with them
    from ..analog.kernels.numba_settle import stop_state

    stop = stop_state(stopper, s[0].dtype)
    L = len(steps)
    b = s[0].shape[0]
    n = 0
    for n in range(1, n_steps + 1):
        res = torch.empty(b, dtype=s[0].dtype, device=s[0].device)  # a new tensor per step: the stopper keeps each residual
        rn = res.numpy()
        for k, (reads, step) in enumerate(steps, start=1):
            r = [(syn.read(s[src - 1]) if way == "forward" else syn.read_t(s[src - 1], s[k - 1])).contiguous().numpy()
                 for syn, src, way in reads]
            step(c0[k - 1], r, ns[k - 1], nv[k - 1], rn, k == 1, nvn[k - 1], nsn[k - 1], stop if k == L else None, n)
        if stopper.record(n, res) or n == n_steps:  # (the kernel ran the stopper's rule on its buffers)
            break  # this step's state s stays (vn, sn hold the next step's, not taken)
        v, vn, nv, nvn = vn, v, nvn, nv
        s, sn, ns, nsn = sn, s, nsn, ns
    return s, n


SLOW_POWER_ITERS = 8
"""Power iterations (two Jacobian products each) of a Hopfield settle's slowest-rate estimate
(:func:`slowest_rate`; once per phase: the step bound, and a nudged phase's default budget)."""

SLOWEST_RATE_FLOOR = 0.05
"""The least slowest rate (in ``1 / tau``) a default budget counts: a phase linearized at (or
past) the edge of stability gets at most ``iters / SLOWEST_RATE_FLOOR`` time constants
(:func:`settle_budget_s`)."""


WARM_POWER_ITERS = 2
"""Power iterations of :func:`slowest_rate` warm-started from the vector the previous phase of the
same EP step ended with (:func:`_phase_rate`)."""

_WARM: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
"""Model -> ``(const, vector)``: the power-iteration vector the model's last Hopfield settle phase
ended with, and that phase's clamped input (:func:`_phase_rate`)."""


def _phase_rate(model, const, node_targets, v: list) -> torch.Tensor:
    """:func:`slowest_rate` of one settle phase, warm-started within an EP step: the phases of one
    step share their clamped input ``const`` (the same object, ``model.const_drive(x)`` once per
    step) and their weights, and the nudged phases start at the free equilibrium, so the dominant
    mode of the node targets' Jacobian ``K`` moves little from phase to phase (the nudge rescales
    the output's couplings; the states that switch a clip on or off change few entries of ``D``).
    The first phase of a step starts from the seeded random vector with
    :data:`SLOW_POWER_ITERS` iterations; a later phase with the same ``const`` starts from the
    vector the previous phase ended with and runs :data:`WARM_POWER_ITERS` (a sample whose warm
    vector vanished, ``K = 0`` there, falls back to the random start). Nothing is kept across
    steps, so a step's result depends only on its own inputs (a resumed run repeats it).
    Power iteration approaches ``rho`` from any start with a live dominant component (from below
    on these nets: every estimate measured is under its reference); the margin
    (:data:`STIFFNESS_MARGIN`) covers the shortfall, which is measured on F-MNIST 784-500-10 (the
    batch's largest rho, which the step bound and budget use, against a 200-iteration reference:
    a nudged phase's warm 2 iterations 0.07-0.63 % under, where the cold 8 are 0.2-1.0 % under;
    single samples at most 10 % under either way; ``benchmarks/settle_fmnist_s9_rho.md``) and
    tested against the explicit Jacobian's eigenvalues (``tests/unit/test_settle_rho.py``)."""
    prev = _WARM.get(model)
    warm = None
    if prev is not None and prev[0] is const and [u.shape for u in prev[1]] == [vk.shape for vk in v]:
        warm = prev[1]
    rate, u = _power_rate(node_targets, v, SLOW_POWER_ITERS if warm is None else WARM_POWER_ITERS, warm)
    _WARM[model] = (const, u)
    return rate


def slowest_rate(node_targets, v: list, iters: int = SLOW_POWER_ITERS) -> torch.Tensor:
    """Per sample, a bound on the slowest rate (in ``1 / tau``) of a Hopfield settle's linearized
    dynamics at voltages ``v``: ``1 - rho(K)``, ``K`` the Jacobian of the node targets ``u(v)``
    (``node_targets``: the drives plus the nudge current through the node outputs ``s = rho(v)``).
    The currents' Jacobian is ``K - I``, so every mode decays at ``Re(1 - mu) >= 1 - |mu| >= 1 -
    rho(K)`` (``mu`` an eigenvalue of ``K``); on a layered net (bipartite couplings) ``K``'s spectrum
    is symmetric and the bound is the slowest mode's rate itself. ``rho(K)`` by power iteration on
    ``K^2`` (``K`` is not normal: the output's scale makes it non-symmetric, so the norm ratio of
    one product oscillates about the pair ``+-k``, while ``K^2`` has ``k^2`` as one eigenvalue;
    ``iters`` iterations of two products by forward differences through the circuit's own reads,
    seeded start, no host sync; the node maps are piecewise linear). The nudge enters ``K`` through the output: the
    MSE output's target ``(h_L + beta y) / (1 + beta)`` multiplies the output's couplings by
    ``1 / (1 + beta)`` (for one hidden layer ``rho(K_beta) = rho(K_0) / sqrt(1 + beta)`` exactly),
    so a negative nudge slows the phase and a positive one speeds it up."""
    return _power_rate(node_targets, v, iters)[0]


def _power_rate(node_targets, v: list, iters: int, warm: list | None = None) -> tuple[torch.Tensor, list]:
    """:func:`slowest_rate` and the vector its power iteration ended with; ``warm``: the start
    vector (per sample; a sample whose warm vector is zero starts from the seeded random one)."""
    dtype, device = v[0].dtype, v[0].device
    g = torch.Generator().manual_seed(0)
    u = [torch.randn(vk.shape, generator=g, dtype=dtype).to(device) for vk in v]
    if warm is not None:
        live = _sample_norm(warm) > 0
        u = [torch.where(per_sample(live, wk), wk, uk) for wk, uk in zip(warm, u)]
    h = math.sqrt(torch.finfo(dtype).eps) * (1.0 + _sample_norm(v))
    base = node_targets(v)
    rho = torch.zeros(v[0].shape[0], dtype=dtype, device=device)

    def product(u):
        moved = node_targets([vk + per_sample(h, vk) * uk for vk, uk in zip(v, u)])
        return [(p - q) / per_sample(h, p) for p, q in zip(moved, base)]

    for _ in range(iters):  # on K^2: K's dominant pair +-k (a layered net) is one eigenvalue k^2 of K^2
        nrm = _sample_norm(u).clamp_min(torch.finfo(dtype).tiny)
        u = product(product([uk / per_sample(nrm, uk) for uk in u]))
        rho = _sample_norm(u).sqrt()
    return 1.0 - rho, u


DEFAULT_STEPS_PER_TAU = 4
"""``analog.settle_dt_s`` null: ``dt = tau / DEFAULT_STEPS_PER_TAU`` (or half the phase's step
bound, where that is less; :func:`exponential_euler_step`)."""


def exponential_euler_step(tau_s: float, dt_s: float | None, rho: float, model=None) -> float:
    """The integrator step of a Hopfield settle (module docstring, *Integrator*) for a phase whose
    node-target Jacobian has spectral radius ``rho`` (measured, with its margin): the step bound
    is ``tau ln((rho + 1) / (rho - 1))`` for ``rho > 1`` and none for ``rho <= 1``. ``dt_s`` null:
    ``min(tau / DEFAULT_STEPS_PER_TAU, bound / 2)``; a given step at or above the bound: a
    :class:`ConfigError` naming it at ``model``'s first settle phase (or without a ``model``),
    clamped to ``bound / 2`` at a later one (:func:`_given_step`)."""
    bound = math.inf if rho <= 1.0 else tau_s * math.log((rho + 1.0) / (rho - 1.0))
    if dt_s is None:
        return _decided(model, min(tau_s / DEFAULT_STEPS_PER_TAU, bound / 2))
    dt = float(dt_s)
    return _given_step(model, dt, dt >= bound, bound / 2, lambda: (
        f"analog.settle_dt_s: {dt!r} s is at or above this settle's stability bound dt < tau ln((rho + 1) / "
        f"(rho - 1)) = {bound:.4g} s (rho = {rho:.4g}: the spectral radius of its node targets' Jacobian at the "
        f"phase's start, exponential Euler)"))


# ------------------------------------------------------------------- a given step against the bound
SETTLE_STEP_FIX = "lower it or set null (chosen from the bound)"
"""The fix a refused ``analog.settle_dt_s`` names."""


@dataclasses.dataclass
class StepLog:
    """A model's settle phases against a given ``analog.settle_dt_s`` (:func:`_given_step`):
    ``phases`` decided so far, ``clamped`` of them since the last :func:`take_step_notes`,
    ``total_clamped`` in all, ``first`` the first clamp's line (the run's one warning), ``warned``
    whether it was handed out."""

    phases: int = 0
    clamped: int = 0
    total_clamped: int = 0
    first: str | None = None
    warned: bool = False


_STEP_LOG: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
"""Model -> its :class:`StepLog` (created at its first settle phase)."""


class FirstPhaseProbe(Exception):
    """Raised inside :func:`first_phase_probe` once the first settle phase has chosen its step."""


_PROBING: list = []
"""Within :func:`first_phase_probe`: a settle phase raises :class:`FirstPhaseProbe` once its step is
decided (before it integrates)."""


def _log(model) -> StepLog | None:
    if model is None:
        return None
    log = _STEP_LOG.get(model)
    if log is None:
        log = _STEP_LOG[model] = StepLog()
    return log


def _decided(model, dt: float) -> float:
    """Count one decided phase of ``model`` (and end a :func:`first_phase_probe` here)."""
    log = _log(model)
    if log is not None:
        log.phases += 1
    if _PROBING:
        raise FirstPhaseProbe
    return dt


def _given_step(model, dt: float, unstable: bool, safe: float, what) -> float:
    """A given ``analog.settle_dt_s`` against the phase's measured bound (``unstable``: at or
    past it). The config loader cannot know the bound (it depends on the weights), so: at the
    first settle phase of ``model`` (of a run: :func:`analog_ep.train.first_phase.first_phase_check`
    runs it before the run folder is touched) an unstable step is a :class:`ConfigError`
    (``what()``: the step, bound and measurement; then :data:`SETTLE_STEP_FIX`); at a later
    phase, when training has moved the bound below the step, the phase runs at ``safe`` (the
    default's fraction of the bound) and is counted (:class:`StepLog`: the run's results record the count per epoch, its log one
    warning, :func:`take_step_notes`); a stable step runs as given."""
    log = _log(model)
    if unstable:
        if log is None or log.phases == 0:
            raise ConfigError(f"{what()}; {SETTLE_STEP_FIX}")
        log.clamped += 1
        log.total_clamped += 1
        if log.first is None:
            log.first = (f"{what()} at settle phase {log.phases + 1}: such a phase runs at the default step's "
                         f"share of its bound ({safe:.4g} s here) and is counted in the results "
                         f"(settle_dt_clamped_phases); {SETTLE_STEP_FIX}")
        dt = safe
    return _decided(model, dt)


def take_step_notes(model) -> tuple[dict, str | None]:
    """What a run records of its settle steps since the last call: ``({"settle_dt_clamped_phases":
    n}, warning)`` for a model that ran a settle phase (``{}`` otherwise); ``warning`` is the
    first clamp's line, once per run (None otherwise)."""
    log = _STEP_LOG.get(model)
    if log is None:
        return {}, None
    notes = {"settle_dt_clamped_phases": log.clamped}
    log.clamped = 0
    line = None
    if log.first is not None and not log.warned:
        log.warned, line = True, log.first
    return notes, line


def clamped_since_epoch(model) -> int:
    """Phases of ``model`` clamped since its epoch began (not yet taken by
    :func:`take_step_notes`): what a mid-epoch checkpoint keeps (``partial``'s
    ``settle_dt_clamped``) so a resumed epoch counts what the uninterrupted one would."""
    log = _STEP_LOG.get(model)
    return 0 if log is None else log.clamped


def restored(model, cfg, partial: dict | None) -> None:
    """A run restored from its checkpoint (``train --resume``, :meth:`~analog_ep.train.loop.Trainer.load`)
    has had its first settle phase, whose given step its bound then allowed: its phases decide as
    the uninterrupted run's later ones do (a step above the bound runs clamped, not refused), and
    an epoch resumed in its middle goes on counting its clamped phases from the checkpoint's."""
    if not relaxation_for(cfg).has_circuit_constants or cfg.analog.settle_dt_s is None:
        return
    log = _log(model)
    log.phases = max(log.phases, 1)
    log.clamped = int((partial or {}).get("settle_dt_clamped", 0))


@contextlib.contextmanager
def first_phase_probe():
    """Within: the first settle phase to choose its step raises :class:`FirstPhaseProbe` (or its
    refusal) instead of integrating."""
    _PROBING.append(True)
    try:
        yield
    finally:
        _PROBING.pop()


@contextlib.contextmanager
def probed_step_log(model):
    """Within: ``model``'s step log (:class:`StepLog`, created if it has none), for a probe of a
    run's first phase (:func:`analog_ep.train.first_phase.first_phase_check`) to save and restore
    with the trainer; on the way out a log created here is dropped again, so the run's own first
    settle phase still finds none (and refuses an unstable given step)."""
    had = model in _STEP_LOG
    try:
        yield _log(model)
    finally:
        if not had:
            _STEP_LOG.pop(model, None)


def white_noise_scale(h: float) -> float:
    """The factor on white (per-read) read noise for an exponential Euler step of ``h = dt / tau``
    (module docstring, *Noise*): ``sqrt((1 + e^-h) / (2 (1 - e^-h)))``, so that the noise a step
    adds, ``(1 - e^-h)`` times it, has the variance ``sigma^2 (1 - e^-2h) / 2`` of the exact
    Ornstein-Uhlenbeck step; ``sqrt(tau / dt)`` to first order as ``dt -> 0``."""
    a = -math.expm1(-h)
    return math.sqrt((2.0 - a) / (2.0 * a))


def settle_budget_s(iters: int, tau_s: float, rate: float = 1.0) -> float:
    """The default settle budget of a phase (``analog.settle_t_max_s: null``): ``iters`` of the
    phase's own slowest time constants, ``iters * tau / rate`` with ``rate`` its slowest rate in
    ``1 / tau`` (:func:`slowest_rate` for a nudged Hopfield phase, floored at
    :data:`SLOWEST_RATE_FLOOR` and capped at 1, the leak's own rate; 1 for a free phase, whose
    start is no point to linearize at), so every phase gets the same number of e-foldings of its
    slowest mode: a negative nudge, which slows the output loop, settles as far as a positive
    one."""
    return iters * tau_s / min(1.0, max(rate, SLOWEST_RATE_FLOOR))


@dataclasses.dataclass
class SettleStats(SolverStats):
    """:class:`SolverStats` of a settled phase, with its budget: ``budget`` integration steps
    (``ceil(t_max / dt)``) of ``dt_s`` seconds; the iterative solvers' budget is their sweeps."""

    budget: int = 0
    dt_s: float = 0.0
    layer_energy: torch.Tensor | None = None
    """A PCN settle: the batch-mean energy of each layer at each time constant (``(points, L)``,
    :func:`relax_settle_pcn`)."""


def settle_patience(noise_patience: int, tau_s: float, dt_s: float) -> int:
    """``solver.stop: noise_floor``'s patience for a settle, in integrator steps: ``noise_patience``
    counts node time constants here (an iterative sweep is one ``tau``: at ``dt = tau`` a step
    moves each node as a damped sweep would), so a settle waits as long in physical time as the
    iterative solver does in sweeps before it calls a stalled residual its noise floor, whatever
    its step. Counting raw steps would stop a ``dt = tau / 10`` settle after half a time
    constant, where a noiseless residual has barely fallen."""
    return max(int(noise_patience), math.ceil(noise_patience * tau_s / dt_s * (1 - 1e-12)))


def _count_settle(model, readouts: list, states: list, settle_time_s: torch.Tensor, tau_s: float) -> None:
    """The cost model's counts of a settled phase (:mod:`analog_ep.synapses.counters`): the settled
    time per sample (summed on the device), the neurons' time constant ``tau_s`` (host: the
    neurons' energy is priced per time constant) and each node's one read-out conversion per
    sample on the storage that reads it out (host ints from the shapes)."""
    model.phase_counts.add_settle(states[0].shape[0], settle_time_s, tau_s)
    for r, sk in zip(readouts, states):
        r.events.readout(sk.numel())


register_solver("settle", relax_settle, timed="phase")  # bench's sweep_s times a whole phase (rules' sweep_timer)


# ------------------------------------------------------------------------- predictive coding networks
STIFFNESS_POWER_ITERS = 8
"""Power iterations of a PCN settle's stiffness estimate (once per phase, before it settles)."""

STIFFNESS_MARGIN = 1.25
"""Factor on the power-iteration estimate of the stiffest rate (power iteration approaches the
largest rate from below)."""


def _identity(v: torch.Tensor) -> torch.Tensor:
    return v


PGD_PROJECTIONS = {"relu": PC_ACTIVATIONS["relu"][0]}
"""``pgd``: the projection of a node's value (a clamp on its capacitor: ``s >= 0`` for ReLU
layers); every other activation's node is unclamped."""

PCN_NODE_CIRCUITS = {
    "mod_pgd": (lambda a, mu, r: a + r, lambda act: PC_ACTIVATIONS[act][0]),
    "pgd": (lambda a, mu, r: mu, lambda act: PGD_PROJECTIONS.get(act, _identity)),
    "gd": (lambda a, mu, r: mu, lambda act: _identity),
}
"""Node rule -> ``(base(a, mu, r), rho(activation name))`` of a hidden node's circuit
(:func:`relax_settle_pcn`): the node voltage ``v_k`` is pulled toward ``w_k = base + Delta_k``
and the node drives its lines with ``s_k = rho(v_k - r_k) + r_k``; the fixed point is the
node update of the same rule: ``pc.nudged_update``'s traversal (:mod:`.pcn`) for ``mod_pgd`` and
``pgd`` (EP's nudged phases), and for ``gd`` (predictive coding's inference, ``algorithm: pc``)
the unconstrained stationary point ``s_k = mu_k + Delta_k`` that PC's activity steps descend to
(:func:`analog_ep.algorithms.pc.pc_gradient`)."""

PCN_OUTPUTS = ("nudge", "pc")
"""How a PCN settle's output node is driven: ``nudge`` (EP: pulled toward the nudged output,
:func:`.pcn.output_update`) or ``pc`` (predictive coding's inference: held at the target ``y``
for the MSE and clamp nudges; with the cross-entropy nudge the output is a readout, not a node,
and the current ``y - softmax(a_L)`` is fed back through the transposed read of the last
crossbar, the ``-dCE/da_L`` of PC's output energy ``CE(y, softmax(a_L))``)."""


class PCNCircuit:
    """The node circuits of a predictive coding network (:func:`relax_settle_pcn`) for input
    ``x``, target ``target`` and node rule ``rule``: per hidden node the voltage target
    ``w_k`` (:meth:`targets`) and the output map ``s_k = rho_k(v_k - r_k) + r_k`` (:meth:`outputs`;
    ``r_k`` the residual input ``s_{k-1}`` of a residual node, else 0); the output node is linear
    (``rho = identity``) and pulled toward the nudged output (:func:`.pcn.output_update`)."""

    def __init__(self, model, x: torch.Tensor, target, rule: str, output: str = "nudge"):
        if rule not in PCN_NODE_CIRCUITS:
            raise ConfigError(f"pc.nudged_update: unknown rule {rule!r}; valid: {', '.join(PCN_RULES)}")
        self.model, self.x, self.target = model, x, target
        self.base, rho = PCN_NODE_CIRCUITS[rule]
        L = model.num_nodes
        self.rhos = [rho(model.pc_act_names[k - 1]) for k in range(1, L)] + [_identity]
        self.residual = [bool(model.residual[k - 1]) for k in range(1, L + 1)]
        self.need_delta = {e.post for e in model.edges if e.pre > 0}  # the errors a transposed read carries
        # predictive coding's inference with the cross-entropy output: the readout's current
        self.readout = output == "pc" and model.nudge == "cross_entropy"
        self.clamped = output == "pc" and not self.readout  # the output held at the target
        self.y = model.split_target(target)[0] if output == "pc" else None
        self.last: tuple | None = None  # (a, eps) of the last targets() read: the energy trace

    def _r(self, k: int, s: list):
        return (self.x if k == 1 else s[k - 2]) if self.residual[k - 1] else None

    def outputs(self, v: list, s_res: list | None = None) -> list:
        """``s_k = rho_k(v_k - r_k) + r_k`` in node order; ``r_k`` from ``s_res`` when given, else
        from the outputs just computed (a residual node adds its input's line)."""
        s: list = []
        for k, (rho, vk) in enumerate(zip(self.rhos, v), start=1):
            r = self._r(k, s if s_res is None else s_res)
            s.append(rho(vk) if r is None else rho(vk - r) + r)
        return s

    def targets(self, s: list, beta: float) -> list:
        """``w_k`` at states ``s``: one forward read of every synapse (``a_k``, ``mu_k``) and one
        transposed read (``Delta_k``); the node current is ``G_leak (w_k - v_k)``."""
        m, x = self.model, self.x
        a, eps, delta = m.errors(x, s, need_delta=self.need_delta)
        L = m.num_nodes
        if self.readout:  # PC's output energy CE(y, softmax(a_L)): its error current -dCE/da_L
            delta[L - 1] = self.y - torch.softmax(a[L - 1], dim=1)
            eps[L - 1] = torch.zeros_like(s[L - 1])
        self.last = (a, eps)
        w = []
        for k in range(1, L):
            d = m.topdown(k, x, s, eps, delta)
            r = self._r(k, s)
            w.append(self.base(a[k - 1], s[k - 1] - eps[k - 1], 0.0 if r is None else r) + d)
        w.append(self.y.to(s[L - 1].dtype) if self.clamped else s[L - 1] if self.readout
                 else output_update(m, a[L - 1], s[L - 1], beta, self.target))
        return w

    def layer_energy(self, s: list, beta: float) -> tuple[torch.Tensor, torch.Tensor]:
        """``(per-layer energy (L,), total)`` at the states ``s`` of the last :meth:`targets` read,
        batch means: ``1/2 ||eps_k||^2`` per layer (the output's: PC's ``CE(y, softmax(a_L))``
        with the cross-entropy readout), and the total ``E + beta C`` (EP's nudged energy, the
        iterative solver's trace; PC: ``E``)."""
        a, eps = self.last
        b = s[0].shape[0]
        e = [0.5 * ek.reshape(b, -1).square().sum(1) for ek in eps]
        if self.readout:
            e[-1] = -(self.y * torch.log_softmax(a[-1], dim=1)).sum(1)
        layers = torch.stack(e, 1).mean(0)
        total = layers.sum() if self.y is not None else layers.sum() + beta * self.model.cost(s[-1], self.target).mean()
        return layers, total

    def currents(self, v: list, beta: float) -> list:
        """``w(s(v)) - v``: the node currents in units of ``G_leak`` (``tau dv/dt``)."""
        return [wk - vk for wk, vk in zip(self.targets(self.outputs(v), beta), v)]


def _sample_norm(vs: list) -> torch.Tensor:
    return torch.stack([vk.reshape(vk.shape[0], -1).pow(2).sum(1) for vk in vs]).sum(0).sqrt()


def pcn_stiffness(circuit: PCNCircuit, v: list, beta: float, iters: int = STIFFNESS_POWER_ITERS) -> torch.Tensor:
    """Per sample, the largest rate (in ``1 / tau``) of the linearized node dynamics at voltages
    ``v``: power iteration on the Jacobian of :meth:`PCNCircuit.currents`, its products by
    central differences through the circuit's own reads (every synapse kind, BatchNorm, residual
    and pre-activation edges alike). Seeded start vector; no host sync."""
    dtype, device = v[0].dtype, v[0].device
    g = torch.Generator().manual_seed(0)
    u = [torch.randn(vk.shape, generator=g, dtype=dtype).to(device) for vk in v]
    h = math.sqrt(torch.finfo(dtype).eps) * (1.0 + _sample_norm(v))
    lam = torch.zeros(v[0].shape[0], dtype=dtype, device=device)
    for _ in range(iters):
        nrm = _sample_norm(u).clamp_min(torch.finfo(dtype).tiny)
        u = [uk / per_sample(nrm, uk) for uk in u]
        plus = circuit.currents([vk + per_sample(h, vk) * uk for vk, uk in zip(v, u)], beta)
        minus = circuit.currents([vk - per_sample(h, vk) * uk for vk, uk in zip(v, u)], beta)
        u = [(p - q) / per_sample(2 * h, p) for p, q in zip(plus, minus)]
        lam = _sample_norm(u)
    return lam


@torch.no_grad()
def relax_settle_pcn(model, const, states, *, beta: float = 0.0, target=None, iters: int = 30, tol: float = 1e-4,
                     damping: float = 0.0, check_every: int = 1, stop: str = "tol",
                     noise_patience: int = RELAXATIONS["settle"].noise_patience, noise_drop: float = 0.05, tau_s: float = 1e-7,
                     dt_s: float | None = None, t_max_s: float | None = None, rule: str = "mod_pgd", skip_clean: bool = True,
                     reads: dict | None = None, out_reads: dict | None = None,
                     output: str = "nudge", trace_points: int | None = None) -> tuple[list[torch.Tensor], SolverStats]:
    """Settle one phase of a predictive coding network (the module docstring's PCN section) from
    ``states`` (the forward pass, for EP's nudged phases; ``const`` is the clamped input ``x``).
    Returns the digitized equilibrium and its :class:`SolverStats` (as :func:`relax_settle`).
    ``rule``: the node circuit (:data:`PCN_NODE_CIRCUITS`). ``dt_s`` null: chosen from the
    phase's stiffness, ``min(tau / 10, tau / (2 lambda))``; above the stability bound ``2 tau /
    lambda`` a :class:`ConfigError`. ``damping``, ``skip_clean`` and ``reads`` are not used (a
    settle reads every synapse continuously); ``out_reads`` is left empty (the weight gradient
    reads the digitized equilibrium through the converters). ``output``: :data:`PCN_OUTPUTS`
    (``pc``: predictive coding's inference, from the forward pass with the output set to the
    target, ``rule`` ``gd``). ``stats.energy``: the batch-mean ``E + beta C`` (PC: ``E``) at the
    start and after every node time constant (``ceil(t_max / tau) + 1`` points, as the traversal
    solver's per-traversal curve: a time constant is a traversal's worth at ``dt = tau``; after
    the phase stops the read-out state's energy repeats), ``stats.layer_energy`` the same per
    layer, ``(points, L)``; ``trace_points``: instead, that many equal intervals of ``t_max``
    (PC: one per activity step). ``iters`` may be fractional (the default budget ``iters * tau``)."""
    x = const
    if output not in PCN_OUTPUTS:
        raise ConfigError(f"settle output: unknown {output!r}; valid: {', '.join(PCN_OUTPUTS)}")
    circuit = PCNCircuit(model, x, target, rule, output)
    L = model.num_nodes
    s = list(states)
    with settle_reads(model, 0.0):  # the capacitors' start charge and the stiffness: no white read noise
        # the charge whose outputs are s: PC's unclamped nodes drive their voltage (rho = identity);
        # EP's nudged phases start at the free state, whose node targets it is
        v = list(s) if circuit.y is not None else circuit.targets(s, 0.0)[:L - 1] + [s[L - 1]]
        lam = float(pcn_stiffness(circuit, v, beta).amax()) * STIFFNESS_MARGIN  # one host read per phase
    lam = max(lam, 1.0)  # the leak alone: rate 1 / tau
    bound = 2.0 * tau_s / lam
    if dt_s is None:
        dt = _decided(model, min(tau_s / 10, bound / 4))
    else:
        dt = float(dt_s)
        dt = _given_step(model, dt, dt > bound, bound / 4, lambda: (
            f"analog.settle_dt_s: {dt!r} s is above this PCN settle's stability bound dt < 2 tau / lambda = "
            f"{bound:.4g} s (lambda = {lam:.4g}: the stiffest rate of its node currents in 1 / tau at the phase's "
            f"start)"))
    t_max = iters * tau_s if t_max_s is None else float(t_max_s)
    n_steps = max(1, math.ceil(t_max / dt * (1 - 1e-12)))
    alpha = dt / tau_s
    stopper = Stopper(s[0], n_steps, tol, check_every, stop, stop != "tol" and noisy_settle_reads(model),
                      settle_patience(noise_patience, tau_s, dt), noise_drop)
    # the energy trace: one point per node time constant (host-side step indices: no sync)
    points = max(1, math.ceil(t_max / tau_s * (1 - 1e-12))) if trace_points is None else max(1, int(trace_points))
    every = tau_s if trace_points is None else t_max / points
    marks: dict[int, int] = {}
    for j in range(1, points + 1):
        m = min(n_steps, math.ceil(j * every / dt * (1 - 1e-12)))
        marks[m] = marks.get(m, 0) + 1
    layers, totals = [], []

    def record(times: int) -> None:
        le, tot = circuit.layer_energy(s, beta)
        layers.extend([le] * times)
        totals.extend([tot] * times)

    n = 0
    with settle_reads(model, math.sqrt(tau_s / dt)):
        s = circuit.outputs(v)
        w = circuit.targets(s, beta)
        record(1)
        for n in range(1, n_steps + 1):
            v = [vk + alpha * (wk - vk) for vk, wk in zip(v, w)]
            s = circuit.outputs(v)
            w = circuit.targets(s, beta)
            t = circuit.outputs(w, s)  # the traversal's node update at s: T(s)
            residual = torch.stack([max_abs(tk, sk) for tk, sk in zip(t, s)]).amax(0)  # max |T(s) - s|
            if n in marks:
                record(marks[n])
            if stopper.update(n, residual):
                break
    if len(totals) < points + 1:  # stopped early: the read-out state stays
        record(points + 1 - len(totals))
    readouts = _readouts(model)
    out = [r.digitize_state(sk) for r, sk in zip(readouts, s)]
    b = x.shape[0]
    model.count_phase(b, n, b * model.neurons_per_sweep())
    settle_time_s = stopper.steps.to(s[0].dtype) * dt
    _count_settle(model, readouts, s, settle_time_s, tau_s)
    st = stopper.stats(n, settle_time_s=settle_time_s)
    st.energy = torch.stack(totals)
    return out, SettleStats(**vars(st), budget=n_steps, dt_s=dt, layer_energy=torch.stack(layers))


register_solver("settle", relax_settle_pcn, energy="pcn", timed="phase")
