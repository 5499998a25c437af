"""Relaxation of a predictive coding energy (:class:`~analog_ep.models.pcn.PCNetwork`): the
nudged phases of EP on PCNs (Kerjan, Hoier & Scellier 2026).

The free minimum of a PCN energy is its forward pass (``E = 0``), reached exactly without a
sweep; a nudged phase starts from it and runs asynchronous traversals (even layers, then odd:
``model.colouring()``), each node set in closed form from its neighbours:

* ``mod_pgd`` (the paper's choice): ``s_k <- act(a_k + Delta_k)`` (ReLU: ``relu(a_k + Delta_k)``),
* ``pgd``: ``s_k <- proj(mu_k + Delta_k)``, the projection onto ``s >= 0`` for ReLU layers
  (``relu(relu(a_k) + Delta_k)``) and none otherwise,

``Delta_k`` the top-down error (a transposed read of ``act'(a_{k+1}) eps_{k+1}``). The output
``s_L`` minimizes ``1/2 ||s_L - a_L||^2 + beta C(s_L)``: ``(a_L + beta y) / (1 + beta)`` for the
MSE nudge, ``a_L - beta (softmax(s_L) - y)`` (one step, from the current ``s_L``) for the
cross-entropy nudge, ``(1 - beta) a_L + beta y`` for the clamp nudge. A ``pgd`` fixed point is a
stationary point of ``E + beta C`` on ``s >= 0`` (``eps_k = Delta_k`` where ``s_k > 0``);
``mod_pgd`` agrees on the units with ``a_k > 0`` and differs on units that the nudge switches
on, which are O(beta) few near ``a_k = 0``.

Registered as solver ``async`` of ``pcn`` energies. It reports what the Hopfield solvers report
(per sample the first traversal whose largest change was below ``solver.tol``, the converged
flag, the residual; the per-traversal residual trace), but runs all ``solver.nudge_iters``
traversals: a nudged phase of EP on a PCN is K traversals (Kerjan et al. 2026), and recorded
runs keep their trajectories.

**The node step** (``solver.pcn_step``, ``solver.pcn_backtrack``). Both rules set ``s_k`` to
``u_k`` (``mu_k + Delta_k`` and its projection / activation), a *unit* gradient step on ``s_k``
(``s_k - dE/ds_k = mu_k + Delta_k``). The energy's curvature in ``s_k`` is ``1 + ||J_{k+1}||^2``
(``J_{k+1}`` the Jacobian of the prediction ``s_k`` makes of the layer above), so the unit step
contracts only while ``||J_{k+1}|| < 1``; a layer whose gain training grew past 1 makes the
phase oscillate with growing amplitude. A step ``eta`` in (0, 1]: ``s_k <- s_k + eta (u_k -
s_k)``, which has the same fixed points (``u_k = s_k``) and, on a quadratic energy, descends
while ``eta < 2 / (1 + ||J_{k+1}||^2)``. With ``backtrack``, a sample that the divergence guard
(below) would stop instead goes back to the states of its lowest energy so far, halves its own
step and goes on: each divergence halves the step, so the phase stays bounded and descends
again from its best states instead of being frozen (on a linear PCN at 6x the init gain it
reaches the closed-form minimum; a ReLU phase may go on oscillating inside the guard's band,
where only a fixed step below ``2 / (1 + ||J||^2)`` contracts: tests/unit/test_pcn_step.py).
The trigger is the guard's, not any rise: a unit-step phase's energy may rise for a traversal
or two while the nudge travels down (measured on pcn_vgg15 at init: +70 % in traversal 2, then
below the start) and still converge, and halving the step there would keep the nudge from
reaching the lower layers in ``K`` traversals (EP on pcn_vgg15 with that trigger: 0.251 test
accuracy against 0.634). Per sample, on the device (no host sync); every node is read again
after each check (a reverted sample's reads, and BatchNorm's batch statistics, change), one
extra read pass per traversal. A sample whose step is 1 takes the unit step bit for bit, so
digitally ``backtrack`` with ``pcn_step`` 1 changes only the samples the guard would have
stopped (on tiles the extra reads draw their own noise).
"""

from __future__ import annotations

import torch

from ..errors import ConfigError
from ..models.pcn import PC_ACTIVATIONS
from .base import SolverStats, counts_sweeps, max_abs, per_sample, register_solver

PCN_RULES = ("mod_pgd", "pgd")

DIVERGENCE_GROWTH = 4.0
"""A nudged phase's sample is diverging once its energy ``E + beta C`` has risen above the lowest
it reached by more than this factor times ``|start| + |lowest|`` (a scale that stays positive for
a negative nudge, whose ``E + beta C`` is below zero); it then stops (:func:`relax_pcn`)."""


def output_update(model, a: torch.Tensor, s_L: torch.Tensor, beta: float, target) -> torch.Tensor:
    """The output node's nudged value from its pre-activation ``a`` (module docstring): ``(a +
    beta y) / (1 + beta)`` for the MSE nudge, ``a - beta (softmax(s_L) - y)`` (one step from the
    current ``s_L``) for the cross-entropy nudge, ``(1 - beta) a + beta y`` for the clamp nudge;
    ``a`` at ``beta = 0``. The one place the nudge sets the output (the traversals and the
    settle, :mod:`.settle`)."""
    if model.nudge == "cross_entropy":
        return a - beta * model.cost_grad(s_L, target)
    y, _ = model.split_target(target)
    if model.nudge == "clamp":
        return a + beta * (y - a)
    return (a + beta * y) / (1.0 + beta)


@counts_sweeps
@torch.no_grad()
def relax_pcn(model, const: torch.Tensor, states: list[torch.Tensor], *, beta: float = 0.0, target=None,
              iters: int = 10, tol: float = 0.0, damping: float = 0.0, check_every: int = 1,
              rule: str = "mod_pgd", skip_clean: bool = True, reads: dict | None = None,
              out_reads: dict | None = None, step: float = 1.0,
              backtrack: bool = False) -> tuple[list[torch.Tensor], SolverStats]:
    """One nudged phase from the free state ``states`` (the forward pass): up to ``iters``
    even-then-odd traversals. ``const`` is the clamped input ``x`` (a PCN's constant drive).
    Returns ``(states, stats)``; ``stats.energy`` (sweeps + 1,) is the batch-mean total energy
    ``E + beta C`` before the first and after every traversal (the equilibration curve),
    ``stats.trace`` the batch's largest change per traversal. ``damping`` and ``check_every``
    are not used (each traversal sets every node once, a unit gradient step on it: module
    docstring; ``iters`` traversals run). ``skip_clean``: skip the reads and updates of nodes the
    nudge has not reached yet (exact; False recomputes everything, for tests).
    ``reads``: node -> ``(a, bn_context)`` read at ``states`` (the forward pass's, held by the
    periphery; None reads them again); ``out_reads`` (a dict) receives the reads at the returned
    states, which the weight gradient then takes without reading again. ``step``: the node step
    ``eta`` in (0, 1] of every hidden node (the output keeps its closed form); ``backtrack``: per
    sample, where the divergence guard would stop it, go back to its lowest-energy states and
    halve its step (module docstring). The residual is the unit step's change ``max |u_k - s_k|`` (the distance from
    a fixed point), whatever the step."""
    if rule not in PCN_RULES:
        raise ConfigError(f"pc.nudged_update: unknown rule {rule!r}; valid: {', '.join(PCN_RULES)}")
    if not 0.0 < step <= 1.0:
        raise ConfigError(f"solver.pcn_step: must be in (0, 1] (got {step}); 1 is the unit (closed-form) node step")
    x = const
    L = model.num_nodes
    s = list(states)
    groups = model.colouring()
    b = x.shape[0]
    # pre-activations held in the periphery: a_k depends only on the other parity's states, so
    # the value read in node k's own pass stays valid through the next pass, where it gives the
    # error that node k sends down (one forward and one transposed read per synapse per iteration)
    cache = dict(reads) if reads is not None else {k: model._preact(k, x, s) for k in range(1, L + 1)}
    # which nodes have left the free state (structurally: the nudge enters at the output and
    # travels one node per pass). A node none of whose inputs moved keeps its read; a node
    # whose own state and inputs are untouched has eps = 0 exactly and sends no error; a node
    # with no moved input and no erring successor stays put: all skipped, with no host sync.
    moved: set[int] = set()
    ins, outs = model.neighbours()
    if not skip_clean:
        moved = set(range(1, L + 1))

    def erring(j: int) -> bool:
        return j in moved or bool(ins[j] & moved)

    def total_energy() -> torch.Tensor:
        """Per sample ``E + beta C`` at the current states, shape (b,)."""
        e = beta * model.cost(s[-1], target)
        for k in range(1, L + 1):
            if not skip_clean or erring(k):
                eps_k = s[k - 1] - model.predict(k, cache[k][0], x, s)
                e = e + 0.5 * eps_k.reshape(b, -1).square().sum(1)
        return e

    # divergence guard: a node update is a unit step on s_k (mod-PGD and PGD alike: s_k - dE/ds_k
    # = mu_k + Delta_k), which contracts only while the curvature of E in s_k, 1 + ||J_{k+1}||^2,
    # stays below 2. A layer whose gain training grew past 1 makes the phase oscillate with growing
    # amplitude (NaN after enough traversals). A descent never rises above the phase's start, nor
    # far above its lowest energy (read noise only fluctuates about a floor): a sample whose energy
    # has risen above its lowest by GROWTH x (|start| + |lowest|) is diverging and stops where it is.
    e_now = total_energy()
    energies = [e_now.mean()]
    e_start, e_low = e_now, e_now
    damped = step != 1.0 or backtrack
    # per-sample node step (b, 1, ...) broadcast over each node's shape
    eta = torch.full((b,), step, dtype=x.dtype, device=x.device) if damped else None
    best = list(s)  # backtrack: each sample's states at its lowest energy (tensors are replaced, never written)

    def reread_all():
        for k in range(1, L + 1):
            cache[k] = model._preact(k, x, s)
            read_ver[k] = {j: version[j] for j in ins[k]}

    def accept(e_new):
        """Backtracking: the samples the guard would stop (risen above their lowest energy by
        GROWTH x (|start| + |lowest|), or not finite) go back to their lowest-energy states and
        halve their step; returns the energy each sample now holds."""
        nonlocal eta, best
        bad = ~(e_new - e_low <= DIVERGENCE_GROWTH * (e_start.abs() + e_low.abs()))
        eta = torch.where(bad, eta * 0.5, eta)
        better = e_new < e_low
        for k in range(1, L + 1):
            s[k - 1] = torch.where(per_sample(bad, s[k - 1]), best[k - 1], s[k - 1])
            best[k - 1] = torch.where(per_sample(better, s[k - 1]), s[k - 1], best[k - 1])
            version[k] += 1
        reread_all()
        return torch.where(bad, e_low, e_new)
    frozen = torch.zeros(b, dtype=torch.bool, device=x.device)
    residual = torch.zeros(b, dtype=x.dtype, device=x.device)
    residuals = []
    steps = torch.full((b,), iters, dtype=torch.long, device=x.device)
    done = torch.zeros(b, dtype=torch.bool, device=x.device)
    eps: list = [None] * L
    delta: list = [None] * L
    version = {k: 0 for k in range(1, L + 1)}  # bumped when s_k changes
    read_ver = {k: {j: 0 for j in ins[k]} for k in range(1, L + 1)}
    n = 0
    for n in range(1, iters + 1):
        residual = torch.zeros(b, dtype=x.dtype, device=x.device)
        full = eta == 1.0 if damped else None
        for gi, group in enumerate(groups):
            for k in group:
                if any(read_ver[k][j] != version[j] for j in ins[k]) or not skip_clean:
                    cache[k] = model._preact(k, x, s)
                    read_ver[k] = {j: version[j] for j in ins[k]}
            if gi == 0 and n > 1:
                e_now = total_energy()  # the states after the previous iteration
                if backtrack:
                    e_now = accept(e_now)
                energies.append(e_now.mean())
                rise = e_now - e_low  # >= 0; a scale that stays positive when beta < 0 makes E + beta C negative
                frozen = frozen | (rise > DIVERGENCE_GROWTH * (e_start.abs() + e_low.abs())) | ~torch.isfinite(e_now)
                e_low = torch.minimum(e_low, e_now)
            for j in range(1, L + 1):
                if j not in group:
                    if erring(j):
                        eps[j - 1], delta[j - 1], _ = model.error_at(j, *cache[j], x, s)
                    else:
                        eps[j - 1] = delta[j - 1] = None
            new = {}
            for k in group:
                if k != L and skip_clean and not (ins[k] & moved) and not any(erring(j) for j in outs[k]):
                    continue  # inputs unchanged and no error from above: s_k = f_k(s_{k-1}) stays
                a = cache[k][0]
                if k == L:
                    new[k] = output_update(model, a, s[L - 1], beta, target)
                    continue
                d = model.topdown(k, x, s, eps, delta)
                act = model.pc_act_names[k - 1]
                res = (x if k == 1 else s[k - 2]) if model.residual[k - 1] else None
                if rule == "mod_pgd":
                    v = PC_ACTIVATIONS[act][0](a + d)
                else:
                    v = PC_ACTIVATIONS[act][0](a) + d
                    if act == "relu":
                        v = v.clamp_min(0.0)
                new[k] = v if res is None else v + res
            unit = new
            if damped:  # s_k + eta (u_k - s_k): the same fixed points, a shorter step (not the output's);
                # a sample at step 1 takes u_k itself (bit for bit the unit step)
                new = {k: v if k == L else torch.where(per_sample(full, v), v, s[k - 1] + per_sample(eta, v) * (v - s[k - 1]))
                       for k, v in new.items()}
            for k in new:  # a diverging sample keeps its state (shape (b, ...): broadcast the mask)
                new[k] = torch.where(per_sample(frozen, new[k]), s[k - 1], new[k])
            for k, v in new.items():  # a node left alone did not change: it adds 0 to the residual
                u = v if unit is new else torch.where(per_sample(frozen, v), s[k - 1], unit[k])
                residual = torch.maximum(residual, max_abs(u, s[k - 1]))
                s[k - 1] = v
                version[k] += 1
                moved.add(k)
        residuals.append(residual)
        now = residual < tol
        steps = torch.where(now & ~done, torch.full_like(steps, n), steps)
        done = done | now
    if n:
        for k in groups[0]:
            if any(read_ver[k][j] != version[j] for j in ins[k]) or not skip_clean:
                cache[k] = model._preact(k, x, s)
        e_now = total_energy()
        if backtrack:  # the last traversal is checked too
            e_now = accept(e_now)
        energies.append(e_now.mean())
    if out_reads is not None:  # every node's read is current: odd after their pass, even just above
        out_reads.update(cache)
    trace = torch.stack(residuals).amax(1) if residuals else None
    return s, SolverStats(steps, residual, (residual < tol) & ~frozen, n, trace, torch.stack(energies))


register_solver("async", relax_pcn, energy="pcn", stops=("tol",))
