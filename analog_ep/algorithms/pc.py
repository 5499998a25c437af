"""Predictive coding inference learning on predictive coding networks (:mod:`analog_ep.models.pcn`).
EP on the same networks is :mod:`.pcn_ep`.

**PC inference learning** (Qi et al. 2025; PCX), :func:`pc_gradient`: forward initialization,
output clamped to the label (MSE / clamp nudges; the cross-entropy nudge makes the output term
of the energy ``CE(y, softmax(a_L))``), ``T`` activity steps of SGD (momentum, optionally
Nesterov) on ``E_t = sum_k pi_k(t)/2 ||eps_k||^2``, then the weight gradient ``dE/dW`` at the
relaxed states. Switches for ablations:

* ``precision: spiking``: layer ``k`` (of L) first receives error at step ``t_k = L - k``; its
  precision is 0 before, 1 at ``t_k`` and ``alpha`` after. ``decaying``: ``exp(-k_d (t - t_k))``
  normalized over the steps ``t_k .. T-1`` (0 before). The weight step uses ``pi = 1``.
* ``forward_update``: the weight energy ``1/2 ||s_k* - f_k(s_{k-1}^0)||^2``, predictions from
  the initial feed-forward activities ``s^0``.

It runs without autograd: reads, transposed reads and correlates of the synapses only, so every
PCN trains on crossbar tiles as it does digitally.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import torch

from ..errors import ConfigError
from ..solvers import SolverStats


@dataclass
class PCResult:
    grads: list[torch.Tensor]          # aligned with model.ep_parameters()
    output: torch.Tensor               # the forward pass's output (the network's prediction)
    stats: dict[str, SolverStats]      # "pc": per-sample residual of the last activity step
    terms: list                        # as EPResult.terms
    energy: torch.Tensor               # (T + 1, L) per-layer energy (pi = 1) before each step and at the end


def precision_schedule(kind: str, num_layers: int, steps: int, alpha: float = 1e-3, k_decay: float = 1.0,
                       dtype=torch.float32, device=None) -> torch.Tensor:
    """``pi[t, k-1]`` for activity step ``t`` (0 .. steps-1) and layer ``k`` (1 .. L): ``none``
    (all 1), ``spiking`` or ``decaying`` (module docstring; Qi et al. 2025)."""
    L, T = num_layers, steps
    if kind == "none":
        return torch.ones(T, L, dtype=dtype, device=device)
    t = torch.arange(T, dtype=dtype, device=device)[:, None]
    first = (L - torch.arange(1, L + 1, dtype=dtype, device=device))[None, :]  # t_k = L - k
    if kind == "spiking":
        return torch.where(t < first, torch.zeros_like(t + first),
                           torch.where(t == first, torch.ones_like(t + first), torch.full_like(t + first, alpha)))
    if kind == "decaying":
        j = t - first
        w = torch.exp(-k_decay * j.clamp_min(0))
        remaining = (T - first).clamp_min(1)  # steps t_k .. T-1
        norm = (1 - torch.exp(-k_decay * remaining)) / (1 - math.exp(-k_decay)) if k_decay > 0 else remaining
        return torch.where(j < 0, torch.zeros_like(w), w / norm)
    raise ConfigError(f"pc.precision: unknown schedule {kind!r}; valid: none, spiking, decaying")


@torch.no_grad()
def pc_gradient(model, x: torch.Tensor, target, *, steps: int, lr: float, momentum: float = 0.0,
                nesterov: bool = False, precision: str = "none", alpha: float = 1e-3, k_decay: float = 1.0,
                forward_update: bool = False, bn_freeze: bool = False, update_bn: bool = True,
                skip_clean: bool = True, solver=None, tol: float = 0.0) -> PCResult:
    """Predictive coding inference learning on one mini-batch (module docstring). The output is
    clamped to the target (``s_L = y``) for the MSE / clamp nudges; for the cross-entropy nudge
    the output term of the energy is ``CE(y, softmax(a_L))`` and ``s_L`` is not a state.

    BatchNorm (training): batch statistics in every pass; with ``update_bn`` the running
    statistics move on every pass that computes predictions (PCX's behaviour), or with
    ``bn_freeze`` once per batch (Qi et al. 2025's BatchNorm freezing): in the weight-update pass, or
    with ``forward_update`` in the forward pass whose predictions the weight energy then uses.

    ``skip_clean``: during the activity steps, skip the nodes the error has not reached yet (it
    enters at the output and moves one node per step): a node none of whose inputs has moved
    keeps its read from the forward pass (as the periphery would hold it; the clamped input's
    nodes always do), a node that has not moved either has error 0 exactly, and a node with no
    erring successor stays put. Exact on digital storages (tested against ``False``, which
    recomputes everything); at T = L it halves the work, at T << L it leaves most layers
    untouched. BatchNorm nodes whose passes move the running statistics are always read. On
    tiles a held read keeps the noise draw it was read with (the forward pass's).

    ``solver``: the inference as the circuit runs it (``analog.relaxation: settle``,
    :func:`analog_ep.solvers.settle.relax_settle_pcn` with the node rule ``gd`` and the output
    ``pc``): the value nodes integrate their error currents from the forward pass, the output
    held at the target (the cross-entropy readout's current fed back), until every sample's
    residual is below ``tol`` or the settle budget is spent; the equilibrium is digitized once and
    the weight update follows as above. An activity step ``s <- s - lr dE/ds`` is an explicit
    Euler step of ``dt = lr tau`` of the circuit's flow (``tau dv/dt = mu + Delta - v``, ``s = v``):
    the default budget is the same flow time, ``steps x lr`` node time constants
    (``analog.settle_t_max_s`` sets another; at ``dt = lr tau`` and no noise the settle takes the
    activity steps' very path), so a short inference (Qi et al.'s T) stays short. Momentum and
    Nesterov belong to the digital loop and do not apply; precision schedules have no circuit
    (refused by the config). The running statistics of BatchNorm do not move during the settle.
    ``energy``: per layer at ``steps + 1`` equally spaced times of the settle, as the activity
    steps' trace."""
    L = model.num_nodes
    y, _ = model.split_target(target)
    model.begin_phase("relax")
    # with bn_freeze the running statistics move once per batch, in the pass whose predictions
    # the weight energy uses: the forward pass for forward updates (Qi et al.'s code takes the
    # learning pass from the initial activities h0), the weight-update pass otherwise
    model.bn_update = update_bn and (not bn_freeze or forward_update)
    s0, a0 = model.forward_pass(x)
    model.bn_update = update_bn and not bn_freeze
    fwd_ctx = dict(model._fwd_ctx)
    out = s0[-1]
    ce = model.nudge == "cross_entropy"
    s = list(s0)
    s[-1] = y.to(x.dtype) if not ce else s0[-1]
    # precision 1 everywhere: no multiplications by it (x * 1 is x)
    pis = None if precision == "none" else precision_schedule(precision, L, steps, alpha, k_decay, x.dtype, x.device)
    vel = [torch.zeros_like(v) for v in s[:-1]] if momentum else None
    b = x.shape[0]

    # the reads of nodes fed by the clamped input do not change during inference: read once, and
    # their predictions are the forward pass's states (BatchNorm nodes excepted: each of their
    # passes may move the running statistics)
    known = {k: (a0[k - 1], None, s0[k - 1]) for k in model.input_fed() if str(k) not in model.bn}
    # before the first step the free nodes still hold the forward pass's states: every read is
    # the forward pass's (only the output, which predicts nothing, was clamped)
    known0 = {k: (a0[k - 1], None, s0[k - 1]) for k in range(1, L + 1) if str(k) not in model.bn}
    # during inference only the deltas that a free node's top-down error reads are needed
    active = {e.post for e in model.edges if e.pre > 0}

    def errs(states, pi_row, need_delta=None, reads=known, only=None):
        a, eps, delta = model.errors(x, states, pi_row, reads, need_delta, only)
        if ce:  # output energy CE(y, softmax(a_L)): its "delta" is -dCE/da_L = y - softmax(a_L)
            g = y - torch.softmax(a[-1], dim=1)
            eps[-1] = torch.zeros_like(g)
            delta[-1] = g if pi_row is None else g * pi_row[-1]
        return a, eps, delta

    # the energy trace: per step the norms ||eps_k|| (one kernel for all layers; the output's
    # cross-entropy instead with that nudge), 1/2 ||eps_k||^2 / B (the batch mean of the
    # per-sample squared norms) for all steps at the end
    norms, ce_terms = [], []

    zero = x.new_zeros(1)

    def layer_energy(a, eps):
        eps = [zero if e is None else e for e in (eps[:-1] if ce else eps)]
        norms.extend(torch._foreach_norm(eps))
        if ce:
            ce_terms.append(-(y * torch.log_softmax(a[-1], dim=1)).sum(1).mean())

    residual = torch.zeros(b, dtype=x.dtype, device=x.device)
    # the wavefront (skip_clean): free nodes that have left the forward pass, and the nodes that
    # must be read on every pass anyway (BatchNorm moving its running statistics)
    ins, outs = model.neighbours()
    moved: set[int] = set()
    always = {int(k) for k in model.bn} if model.bn_update else set()
    settled = None
    circuit = contextlib.nullcontext()  # the reads of the weight update's errors
    if solver is not None:  # the circuit's inference (docstring): its reads never move BatchNorm's statistics
        from ..solvers.settle import settle_reads

        bn_update, model.bn_update = model.bn_update, False
        with settle_reads(model, 1.0):  # the circuit's own forward pass: its start (zero hidden errors)
            sc, _ = model.forward_pass(x)
        s = list(sc[:-1]) + [s[-1]]
        # the same flow for as long as the activity steps run it: steps x lr time constants
        s, settled = solver(model, x, s, beta=0.0, target=target, iters=steps * lr, tol=tol, rule="gd", output="pc",
                            trace_points=steps)
        model.bn_update = bn_update
        circuit, known = settle_reads(model, 1.0), {}  # the errors at the equilibrium, as the circuit has them
    for t in range(steps if solver is None else 0):
        pi = None if pis is None else [pis[t, k] for k in range(L)]
        live, reads = None, (known if t else known0)
        if skip_clean:  # nodes whose error may be nonzero: the output, moved nodes and their readers
            live = {L} | moved | {k for k in range(1, L) if ins[k] & moved}
            # a node none of whose inputs has moved keeps the forward pass's read and prediction
            reads = {k: v for k, v in known0.items() if not (ins[k] & moved)}
        a, eps, delta = errs(s, pi, active, reads, None if live is None else live | always)
        if live is not None:
            for k in always - live:  # read only to move BatchNorm's statistics: its error is 0
                eps[k - 1] = delta[k - 1] = None
        layer_energy(a, eps)  # eps does not depend on the precisions
        last = t == steps - 1
        for j in range(1, L):
            if live is not None and j not in live and not (outs[j] & live):
                continue  # no error here or above: s_j stays the forward pass's
            td = model.topdown(j, x, s, eps, delta, pi)
            if eps[j - 1] is None:
                g = -td
            else:
                g = eps[j - 1] - td if pi is None else eps[j - 1] * pi[j - 1] - td
            moved.add(j)
            if momentum:
                vel[j - 1] = torch.add(g, vel[j - 1], alpha=momentum)
                g = torch.add(g, vel[j - 1], alpha=momentum) if nesterov else vel[j - 1]
            if last:  # the residual reported is the last step's
                step = lr * g
                residual = torch.maximum(residual, step.abs().amax(tuple(range(1, step.dim()))))
                s[j - 1] = s[j - 1] - step
            else:
                s[j - 1] = torch.add(s[j - 1], g, alpha=-lr)
    # the weight-update pass (with bn_freeze the one that moves BatchNorm's running statistics,
    # unless forward updates took them from the forward pass)
    model.bn_update = update_bn and not (bn_freeze and forward_update)
    with circuit:
        a_f, eps_f, deltas_f = errs(s, None, None, known if steps or settled is not None else known0)
    bn_final = dict(model._bn_grads)
    layer_energy(a_f, eps_f)
    if forward_update:
        deltas, bn_grads = [], {}
        for k in range(1, L + 1):
            if ce and k == L:
                d = y - torch.softmax(a0[-1], dim=1)
            else:
                d = model.act_grad_mul(k, a0[k - 1], s[k - 1] - s0[k - 1])
            if k in fwd_ctx:
                d, bn_grads[k] = model.bn[str(k)].backward(d, fwd_ctx[k])
            deltas.append(d)
        terms_raw = model.energy_grad_terms(x, s, deltas=deltas, pres=s0, bn_grads=bn_grads)
    else:
        terms_raw = model.energy_grad_terms(x, s, deltas=deltas_f, bn_grads=bn_final)
    model.bn_update = False
    grads = model.materialize(terms_raw)
    terms = [None if isinstance(t_, torch.Tensor) else t_ for t_ in terms_raw]
    if settled is not None:
        return PCResult(grads, out, {"pc": settled}, terms, settled.layer_energy)
    steps_t = torch.full((b,), steps, dtype=torch.long, device=x.device)
    stats = {"pc": SolverStats(steps_t, residual, torch.ones(b, dtype=torch.bool, device=x.device), steps)}
    energy = torch.stack(norms).reshape(steps + 1, -1) if norms else x.new_zeros(steps + 1, 0)
    energy = energy * energy * (0.5 / b)
    if ce:
        energy = torch.cat([energy, torch.stack(ce_terms)[:, None]], 1)
    return PCResult(grads, out, stats, terms, energy)
