"""EP estimates the exact gradient at the free fixed point (Scellier & Bengio 2017):
centered error O(beta^2), one-sided O(beta). The reference is implicit differentiation, itself
checked against finite differences of the loss at the relaxed fixed point."""

import math

import pytest
import torch

from conftest import tiny_mlp
from analog_ep.algorithms.ep import ep_gradient
from analog_ep.algorithms.gradcheck import gradcheck
from analog_ep.algorithms.implicit import implicit_gradient
from analog_ep.solvers import relax_async

TIGHT = dict(free_iters=5000, nudge_iters=5000, tol=1e-14)


def _free(m, x):
    s, st = relax_async(m, m.const_drive(x), m.zero_state(x.shape[0], x), iters=5000, tol=1e-14)
    assert st.converged.all()
    return s


def _rel(a, b):
    num = math.sqrt(sum(((u - v) ** 2).sum().item() for u, v in zip(a, b)))
    den = math.sqrt(sum((v ** 2).sum().item() for v in b))
    return num / den


def test_implicit_gradient_matches_finite_differences():
    m, x, y = tiny_mlp()
    exact, info = implicit_gradient(m, x, y, _free(m, x))
    assert info["adjoint_residual"] < 1e-10
    g = torch.Generator().manual_seed(7)
    for p, gp in zip(m.ep_parameters(), exact):
        for _ in range(3):
            idx = tuple(torch.randint(0, n, (1,), generator=g).item() for n in p.shape)
            eps = 1e-6
            vals = []
            for sign in (1, -1):
                with torch.no_grad():
                    p[idx] += sign * eps
                vals.append(m.cost(m.output(_free(m, x)), y).mean().item())
                with torch.no_grad():
                    p[idx] -= sign * eps
            fd = (vals[0] - vals[1]) / (2 * eps)
            assert abs(fd - gp[idx].item()) < 1e-7 + 1e-5 * abs(fd)


def test_centered_ep_cosine_at_beta_001():
    m, x, y = tiny_mlp()
    report = gradcheck(m, x, y, relax_async, [0.01], "centered", iters=5000, tol=1e-14)
    assert len(report["layers"]) == 3
    for row in report["layers"]:
        assert row["cosine"] >= 0.999, row
        assert row["rel_error"] < 1e-2, row


@pytest.mark.parametrize("estimator,order", [("centered", 2), ("one_sided", 1)])
def test_error_order_in_beta(estimator, order):
    m, x, y = tiny_mlp()
    free = _free(m, x)
    exact, _ = implicit_gradient(m, x, y, free)
    errs = []
    betas = [0.02, 0.01, 0.005]
    for beta in betas:
        res = ep_gradient(m, x, y, free, relax_async, beta=beta, estimator=estimator, **TIGHT)
        errs.append(_rel(res.grads, exact))
    for e1, e2 in zip(errs, errs[1:]):
        slope = math.log(e1 / e2) / math.log(2)
        assert abs(slope - order) < 0.15, (estimator, errs)


def test_random_sign_uses_both_signs_and_is_first_order():
    m, x, y = tiny_mlp()
    free = _free(m, x)
    exact, _ = implicit_gradient(m, x, y, free)
    gen = torch.Generator().manual_seed(0)
    phases = set()
    for _ in range(8):
        res = ep_gradient(m, x, y, free, relax_async, beta=0.001, estimator="random_sign", generator=gen, **TIGHT)
        phases |= set(res.stats)
        assert _rel(res.grads, exact) < 5e-3
    assert {"nudge+", "nudge-"} <= phases


def test_ep_update_is_contrastive_hebbian():
    """The weight estimate is (1/2beta)(s+ s+^T - s- s-^T) over the batch, up to sign: purely local."""
    m, x, y = tiny_mlp()
    free = _free(m, x)
    res = ep_gradient(m, x, y, free, relax_async, beta=0.1, estimator="centered", **TIGHT)
    # recompute the nudged states and the Hebbian terms by hand
    const = m.const_drive(x)
    sp, _ = relax_async(m, const, free, beta=0.1, target=y, iters=5000, tol=1e-14)
    sm, _ = relax_async(m, const, free, beta=-0.1, target=y, iters=5000, tol=1e-14)
    b = x.shape[0]
    pre_p, pre_m = [x] + sp[:-1], [x] + sm[:-1]
    for i in range(len(m.edges)):
        hebb = (sp[i].t() @ pre_p[i] - sm[i].t() @ pre_m[i]) / (2 * 0.1 * b)
        torch.testing.assert_close(res.grads[i], -hebb)


def test_cross_entropy_readout_outside_energy():
    """Softmax readout (Laborieux et al. 2021): the output sends no feedback in the free phase,
    and centered EP still matches the exact gradient of the cross-entropy, readout included."""
    m, x, y = tiny_mlp()
    m.nudge = "cross_entropy"
    free = _free(m, x)
    # free phase: hidden states are those of the network without the output node's feedback
    h_last = m.drive(m.num_nodes - 1, free, m.const_drive(x))
    own = free[-2] @ m.edges[-1].synapse.weight.t() + m.biases[-1]
    torch.testing.assert_close(free[-1], own)
    assert torch.allclose(free[-2], m.activations[-2](h_last))
    exact, _ = implicit_gradient(m, x, y, free)
    res = ep_gradient(m, x, y, free, relax_async, beta=1e-3, estimator="centered", **TIGHT)
    assert _rel(res.grads, exact) < 1e-4
    # the readout's gradient is the plain cross-entropy gradient at the free state
    p = torch.softmax(free[-1], 1)
    torch.testing.assert_close(exact[len(m.edges) - 1], (p - y).t() @ free[-2] / x.shape[0])
