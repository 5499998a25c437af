"""The default settle budget of a nudged Hopfield phase (issue 20 open item 2): the phase's own
slowest time constants, so a negative nudge settles as far as a positive one.

References: the linearized circuit (the Jacobian of the node targets, computed densely by
autograd; its spectral radius by eigendecomposition), the closed form for one hidden layer (the
MSE output's target ``(h_L + beta y) / (1 + beta)`` scales the loop gain: ``rho(K_beta) =
rho(K_0) / sqrt(1 + beta)``), the iterative solver's fixed point.
"""

import math

import pytest
import torch

from conftest import build_float64, tiny_mlp
from analog_ep.solvers import relax_async, relax_settle
from analog_ep.solvers.settle import SLOWEST_RATE_FLOOR, settle_budget_s, slowest_rate

TAU = 1e-7


def _targets_fn(m, const, beta, y):
    """The node targets u(v) of relax_settle (drives plus nudge current through s = rho(v))."""
    L = m.num_nodes

    def f(v):
        s = [act(vk) for act, vk in zip(m.activations, v)]
        h = [m.drive(k, s, const, beta, y) for k in range(1, L + 1)]
        t = [m.node_update(k, hk, beta, y) for k, hk in enumerate(h, start=1)]
        return [hk + tk - m.node_update(k, hk) for k, (hk, tk) in enumerate(zip(h, t), start=1)]
    return f


def _free(m, const, x):
    return relax_async(m, const, m.zero_state(x.shape[0], x), iters=20000, tol=1e-13)[0]


def _start(m, const, s):
    L = m.num_nodes
    return [m.drive(k, s, const) for k in range(1, L)] + [s[L - 1]]


def _dense_rho(f, v, i):
    """Spectral radius of the Jacobian of ``f`` at sample ``i`` (dense, by autograd)."""
    shapes = [vk[i:i + 1].shape for vk in v]
    sizes = [math.prod(sh) for sh in shapes]

    def flat(z):
        parts = torch.split(z, sizes)
        vv = [vk.clone() for vk in v]
        for k, (p, sh) in enumerate(zip(parts, shapes)):
            vv[k] = vv[k].clone()
            vv[k][i:i + 1] = p.reshape(sh)
        return torch.cat([u[i:i + 1].reshape(-1) for u in f(vv)])

    z = torch.cat([vk[i:i + 1].reshape(-1) for vk in v])
    J = torch.autograd.functional.jacobian(flat, z)
    return torch.linalg.eigvals(J).abs().max().item()


@pytest.mark.parametrize("beta", [0.5, -0.5])
def test_slowest_rate_is_one_minus_the_spectral_radius_of_the_linearized_circuit(beta):
    m, x, y = tiny_mlp(hidden=(6,), gain=2.0)
    const = m.const_drive(x)
    v = _start(m, const, _free(m, const, x))
    f = _targets_fn(m, const, beta, y)
    with torch.no_grad():
        got = slowest_rate(f, v, iters=400)
    for i in range(x.shape[0]):
        want = 1.0 - _dense_rho(f, v, i)
        assert got[i].item() == pytest.approx(want, abs=1e-6), i


def test_one_hidden_layer_loop_gain_scales_with_one_over_sqrt_one_plus_beta():
    m, x, y = tiny_mlp(hidden=(6,), gain=2.0)
    const = m.const_drive(x)
    v = _start(m, const, _free(m, const, x))
    with torch.no_grad():
        rho = {b: 1.0 - slowest_rate(_targets_fn(m, const, b, y), v, iters=400) for b in (0.0, 0.5, -0.5)}
    assert (rho[0.0] > 0.4).sum() >= 3  # coupled samples (the law is not 0 = 0; two have every unit saturated)
    for b in (0.5, -0.5):
        assert torch.allclose(rho[b], rho[0.0] / math.sqrt(1 + b), rtol=1e-6)


def test_budget_counts_slowest_time_constants_floored_and_capped():
    assert settle_budget_s(10, TAU, 0.5) == pytest.approx(20 * TAU)
    assert settle_budget_s(10, TAU, 2.0) == pytest.approx(10 * TAU)  # never below iters tau (the leak's rate)
    assert settle_budget_s(10, TAU, -1.0) == pytest.approx(10 * TAU / SLOWEST_RATE_FLOOR)


def test_quiet_negative_nudge_reaches_tol_within_the_default_budget():
    """The finding: with a budget of nudge_iters time constants a quiet nudge- phase never
    reached tol (beta = -0.5 slows the output loop). With the default budget (its own slowest
    time constants) both nudges converge, to the iterative fixed point."""
    _, m, x, y = build_float64(["data.name=digits", "model.hidden=[32]"], n=8)
    const = m.const_drive(x)
    free = _free(m, const, x)
    for beta in (0.5, -0.5):
        got, st = relax_settle(m, const, free, beta=beta, target=y, iters=10, tol=1e-4, tau_s=TAU)
        assert st.converged.all(), (beta, st.converged)
        want = relax_async(m, const, free, beta=beta, target=y, iters=20000, tol=1e-13)[0]
        assert max((p - q).abs().max().item() for p, q in zip(got, want)) < 1e-3
    # the old budget (10 tau) leaves the negative nudge unconverged: the test can fail
    _, old = relax_settle(m, const, free, beta=-0.5, target=y, iters=10, tol=1e-4, tau_s=TAU, t_max_s=10 * TAU)
    assert not old.converged.any()
    # the negative nudge got the longer budget
    _, plus = relax_settle(m, const, free, beta=0.5, target=y, iters=10, tol=0.0, tau_s=TAU)
    _, minus = relax_settle(m, const, free, beta=-0.5, target=y, iters=10, tol=0.0, tau_s=TAU)
    assert minus.budget > plus.budget >= 40  # at least 10 tau at dt = tau / 4


def test_free_phase_budget_unchanged():
    m, x, y = tiny_mlp()
    _, st = relax_settle(m, m.const_drive(x), m.zero_state(5, x), iters=3, tol=0.0, tau_s=TAU)
    assert st.budget == st.sweeps == 12  # 3 tau at dt = tau / 4
