"""Per-layer agreement of the EP gradient estimate with the exact gradient at the free fixed
point (implicit differentiation), for a list of beta values."""

from __future__ import annotations

import contextlib
import math

import torch

from .ep import ep_gradient
from .implicit import implicit_gradient


def _cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    na, nb = a.norm().item(), b.norm().item()
    if na == 0.0 or nb == 0.0:
        return 1.0 if na == nb else 0.0
    return float((a @ b).item() / (na * nb))


def _layer_rows(model, names: list[str], grads: list, exact: list, beta, changes: int) -> list[dict]:
    """One report row per layer group (``model.layer_groups()``): cosine and relative error of
    the estimate against the reference, both aligned with ``model.ep_parameters()``."""
    index = {id(p): i for i, p in enumerate(model.ep_parameters())}
    rows = []
    for name, group in zip(names, model.layer_groups()):
        est = torch.cat([grads[index[id(p)]].reshape(-1) for p in group])
        ref = torch.cat([exact[index[id(p)]].reshape(-1) for p in group])
        rel = (est - ref).norm().item() / max(ref.norm().item(), 1e-300)
        rows.append({"name": name, "beta": beta, "cosine": _cosine(est, ref),
                     "rel_error": rel if math.isfinite(rel) else float("inf"), "saturation_changes": changes})
    return rows


def saturation_changes(model, free: list[torch.Tensor], nudged: list[list[torch.Tensor]]) -> int:
    """Hidden units whose saturation (state at a bound of its activation) differs between the
    free and a nudged fixed point. EP is exact to O(beta^2) only while this is 0: a unit that
    crosses the kink of its hard-bounded activation within the nudge makes the estimate a
    one-sided difference for that unit (an O(1) error that no smaller tolerance removes). The
    test is the activation's own (:meth:`~analog_ep.models.base.Activation.saturated`): a smooth
    activation (sigmoid) never saturates."""
    total = 0
    for phase in nudged:
        for k, (a, b) in enumerate(zip(free[:-1], phase[:-1]), start=1):
            act = model.activations[k - 1]
            sat_a, sat_b = act.saturated(a), act.saturated(b)
            total += int((sat_a != sat_b).sum())
    return total


def gradcheck(model, x: torch.Tensor, target: torch.Tensor, solver, betas: list[float], estimator: str,
              iters: int = 5000, tol: float = 1e-12, damping: float = 0.0,
              generator: torch.Generator | None = None, require_converged: bool = False,
              nudge_iters: int | None = None) -> dict:
    """Return ``{"estimator", "free_converged_fraction", "free_sweeps", "adjoint_residual",
    "layers": [{"name", "beta", "cosine", "rel_error", "saturation_changes"}, ...],
    "nudged": [{"beta", "phase", "sweeps", "converged_fraction"}, ...]}``; one layer = a synapse's weight
    together with the bias of the node it feeds first (``model.layer_groups()``); one ``nudged``
    row per nudged phase run (``phase`` ``nudge+`` / ``nudge-``; ``converged_fraction`` under the
    phase's stop test, the relative one where the solver binds ``nudge_rtol``).
    ``nudge_iters``: the nudged phases' sweep budget (None: ``iters``, the free phase's), so the
    estimate a training run's budget (``solver.nudge_iters``) gives can be checked against the
    exact gradient at the exact free fixed point.
    ``require_converged``: when some sample's free phase did not converge, return at once with
    ``adjoint_residual`` None and no layers (the comparison would be meaningless)."""
    with torch.no_grad(), exact_reads(model):  # the reference at the model's full-precision fixed point
        model.tag_phase("free")
        const = model.const_drive(x)
        free, st = solver(model, const, model.zero_state(x.shape[0], x), iters=iters, tol=tol, damping=damping)
    fraction = float(st.converged.double().mean())
    if require_converged and fraction < 1:
        return {"estimator": estimator, "free_converged_fraction": fraction, "free_sweeps": st.sweeps,
                "adjoint_residual": None, "layers": [], "nudged": []}
    with exact_reads(model):
        exact, info = implicit_gradient(model, x, target, free)
    names = [f"layer{i}:{type(e.synapse).__name__.lower()}:{e.pre}->{e.post}" for i, e in enumerate(model.edges)]
    names += [f"aux{i}:{k}" for i, k in enumerate(model.aux_nodes)]
    layers, phases = [], []
    for beta in betas:
        res = ep_gradient(model, x, target, free, solver, beta=beta, estimator=estimator, free_iters=iters,
                          nudge_iters=iters if nudge_iters is None else nudge_iters, tol=tol, damping=damping,
                          generator=generator)
        changes = saturation_changes(model, free, res.nudged)
        layers += _layer_rows(model, names, res.grads, exact, beta, changes)
        phases += [{"beta": beta, "phase": k, "sweeps": s.sweeps,
                    "converged_fraction": float(s.converged.double().mean())}
                   for k, s in res.stats.items() if k != "free"]
    return {
        "estimator": estimator,
        "free_converged_fraction": fraction,
        "free_sweeps": st.sweeps,
        "adjoint_residual": info["adjoint_residual"],
        "layers": layers,
        "nudged": phases,
    }


def kink_changes(model, x: torch.Tensor, free: list[torch.Tensor], nudged: list[list[torch.Tensor]]) -> int:
    """PCN counterpart of :func:`saturation_changes`: hidden units whose activation slope
    ``act'(a_k)`` differs between the free and a nudged state (a ReLU crossing 0, a max-pool
    argmax moving shows up in the next layer's slope); EP is exact to O(beta^2) only where it
    is 0."""
    base = [model.act_grad(k, a) for k, a in enumerate(model.errors(x, free)[0], start=1)]
    total = 0
    for phase in nudged:
        a_n = model.errors(x, phase)[0]
        for k, (g0, a) in enumerate(zip(base[:-1], a_n[:-1]), start=1):
            total += int((g0 != model.act_grad(k, a)).sum())
    return total


@contextlib.contextmanager
def exact_reads(model):
    """Within: every digital storage reads at its operands' own precision (``read_dtype`` None),
    so a gradcheck's reference is exact while the estimate runs at ``compute.precision``; an
    analog storage's forward reads take the straight-through gradient (``bp_backward`` ideal),
    so the reference's vector-Jacobian products are not analog reads."""
    stores = [syn.storage for syn in model.all_synapses()]
    saved = [(st.read_dtype, getattr(st, "bp_backward", None)) for st in stores]
    for st in stores:
        st.read_dtype = None
        if getattr(st, "bp_backward", None) is not None:
            st.bp_backward = "ideal"
    try:
        yield
    finally:
        for st, (dt, bw) in zip(stores, saved):
            st.read_dtype = dt
            if bw is not None:
                st.bp_backward = bw


def pcn_gradcheck(model, x: torch.Tensor, target: torch.Tensor, betas: list[float], estimator: str,
                  iters: int = 100, rule: str = "mod_pgd", generator: torch.Generator | None = None,
                  pc: dict | None = None, solver=None) -> dict:
    """A PCN's gradient estimates against the backprop gradient of its feed-forward twin, which
    is exact for EP as beta -> 0 (the free equilibrium is the forward pass; Kerjan et al. 2026).
    Same report as :func:`gradcheck` (``free_converged_fraction`` 1: the forward pass is exact;
    ``adjoint_residual`` None). ``pc``: keyword arguments of
    :func:`~analog_ep.algorithms.pc.pc_gradient`; then one row per layer with ``beta`` None and the
    cosine of predictive coding's weight gradient to backprop's (informative: PC approximates it).
    ``solver``: the relaxation of the nudged phases (the rule's, e.g. the settle; None: the
    traversals, :func:`~analog_ep.solvers.relax_pcn`)."""
    from .bp import bp_gradient
    from .pc import pc_gradient
    from .pcn_ep import pcn_ep_gradient
    from ..solvers import relax_pcn

    solver = relax_pcn if solver is None else solver

    with exact_reads(model):
        exact, _, _ = bp_gradient(model, x, target)
    names = [f"layer{i}:{type(e.synapse).__name__.lower()}:{e.pre}->{e.post}" for i, e in enumerate(model.edges)]
    layers = []
    runs = [(None, pc_gradient(model, x, target, **pc))] if pc is not None else [
        (beta, pcn_ep_gradient(model, x, target, beta=beta, estimator=estimator, nudge_iters=iters, rule=rule,
                               generator=generator, solver=solver)) for beta in betas]
    for beta, res in runs:
        changes = 0 if beta is None else kink_changes(model, x, res.free, res.nudged)
        layers += _layer_rows(model, names, res.grads, exact, beta, changes)
    return {"estimator": "pc" if pc is not None else estimator, "free_converged_fraction": 1.0, "free_sweeps": 0,
            "adjoint_residual": None, "layers": layers}
