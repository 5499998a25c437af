"""Exact gradient of the loss at the free fixed point, by implicit differentiation.

At an equilibrium ``s* = T(s*, theta)`` (``T`` the synchronous closed-form update, whose fixed
points are the energy's equilibria) the loss ``L(s*)`` has

    dL/dtheta = lambda^T dT/dtheta + dL/dtheta|_s,     (I - dT/ds)^T lambda = dL/ds,

the adjoint system of recurrent backpropagation (Almeida-Pineda). It is solved with GMRES on
vector-Jacobian products from autograd, so any model built from synapses works. This is the
reference that EP must approach as beta -> 0 (Scellier & Bengio 2017). The products run on the
states' device (CPU or GPU); SciPy's GMRES iterates on float64 host copies of the vectors.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator, gmres



def implicit_gradient(model, x: torch.Tensor, target: torch.Tensor, states: list[torch.Tensor],
                      rtol: float = 1e-12, maxiter: int = 200) -> tuple[list[torch.Tensor], dict]:
    """Return (dL/dtheta aligned with model.ep_parameters(), info) with ``L`` the batch-mean objective
    (``model.total_cost``: output cost plus auxiliary readouts) at the fixed point ``states``, each
    parameter's entry times ``model.ep_grad_scales()`` (1 unless ``model.feedback_scale`` != 1: the
    per-layer rescaling of EP's update)."""
    params = model.ep_parameters()
    s = [t.detach().clone().requires_grad_(True) for t in states]
    with torch.enable_grad():
        T = model.sync_map(x, s)
    g, explicit = loss_terms(model, s, params, target)
    sizes = [t.numel() for t in s]
    dtype, device = s[0].dtype, s[0].device

    def unflat(v: np.ndarray) -> list[torch.Tensor]:
        out, i = [], 0
        for t, n in zip(s, sizes):
            out.append(torch.from_numpy(np.ascontiguousarray(v[i:i + n])).to(device=device, dtype=dtype).reshape(t.shape))
            i += n
        return out

    def flat(ts) -> np.ndarray:
        return np.concatenate([t.detach().reshape(-1).double().cpu().numpy() for t in ts])

    def matvec(v: np.ndarray) -> np.ndarray:
        lam = unflat(np.asarray(v, dtype=np.float64).reshape(-1))
        jt = torch.autograd.grad(T, s, lam, retain_graph=True, allow_unused=True)
        jt = [torch.zeros_like(t) if j is None else j for t, j in zip(s, jt)]
        return flat(lam) - flat(jt)

    n = sum(sizes)
    op = LinearOperator((n, n), matvec=matvec, dtype=np.float64)
    b = flat(g)
    lam, info = gmres(op, b, rtol=rtol, atol=0.0, restart=min(n, 100), maxiter=maxiter)
    residual = float(np.linalg.norm(matvec(lam) - b) / max(np.linalg.norm(b), 1e-300))
    grads = parameter_gradient(T, params, unflat(lam), explicit, model.ep_grad_scales())
    return grads, {"gmres_info": int(info), "adjoint_residual": residual}


def loss_terms(model, s: list[torch.Tensor], params: list, target) -> tuple[list[torch.Tensor], list]:
    """``(dL/ds, explicit)`` of the batch-mean objective ``model.total_cost`` at the states ``s``
    (leaves that require grad): ``dL/ds`` per node (zeros where the loss does not reach it), the
    right-hand side of the adjoint system; ``explicit`` per parameter, the loss's own dependence on
    it (auxiliary readouts outside the dynamics) or None."""
    with torch.enable_grad():
        loss = model.total_cost(s, target).mean()
        g_all = torch.autograd.grad(loss, s + params, allow_unused=True)
    g = [torch.zeros_like(t) if gi is None else gi.detach() for t, gi in zip(s, g_all[:len(s)])]
    return g, [None if gi is None else gi.detach() for gi in g_all[len(s):]]


def parameter_gradient(T, params: list, lam: list[torch.Tensor], explicit: list,
                       scales: list[float]) -> list[torch.Tensor]:
    """``lambda^T dT/dtheta + explicit dL/dtheta`` per parameter (zeros where neither reaches it):
    the gradient once the adjoint ``lam`` of the map's outputs ``T`` is known, each times its
    ``scales`` entry (``model.ep_grad_scales()``: the per-layer rescaling EP's update has, all 1
    unless ``model.feedback_scale`` != 1)."""
    grads = torch.autograd.grad(T, params, lam, allow_unused=True)
    grads = [torch.zeros_like(p) if gr is None else gr.detach() for p, gr in zip(params, grads)]
    grads = [gr if ex is None else gr + ex for gr, ex in zip(grads, explicit)]
    return [gr if c == 1.0 else c * gr for gr, c in zip(grads, scales)]
