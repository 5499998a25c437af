"""The logistic sigmoid hidden activation of the Hopfield models (issue 18, item 7): Hopfield's
(1984) node energy ``s ln s + (1 - s) ln(1 - s)`` whose block minimizer is ``sigmoid(h)``, the
solver's fixed point, EP against the exact gradient as beta -> 0, the backprop twin and the
config."""

import pytest
import torch

from conftest import assert_async_descends
from analog_ep.algorithms.bp import bp_gradient
from analog_ep.algorithms.gradcheck import gradcheck, saturation_changes
from analog_ep.algorithms.ep import ep_gradient
from analog_ep.algorithms.implicit import implicit_gradient
from analog_ep.config import load_config
from analog_ep.errors import ConfigError
from analog_ep.models import ACTIVATIONS, HopfieldMLP
from analog_ep.solvers import relax_async, relax_sync


def sigmoid_mlp(in_dim=8, hidden=(6, 5), out=3, seed=0, batch=5):
    g = torch.Generator().manual_seed(seed)
    m = HopfieldMLP((in_dim,), list(hidden), out, activation="sigmoid", gains=[1.5] * (len(hidden) + 1),
                    generator=g).double()
    with torch.no_grad():
        for b in m.biases:
            b.uniform_(-1.0, 1.0, generator=g)
    x = torch.randn(batch, in_dim, generator=g, dtype=torch.float64)
    y = torch.nn.functional.one_hot(torch.randint(0, out, (batch,), generator=g), out).double()
    return m, x, y


def _interior_states(m, b, g):
    states = [0.05 + 0.9 * torch.rand(b, *s, generator=g, dtype=torch.float64) for s in m.node_shapes]
    states[-1] = torch.randn(b, *m.node_shapes[-1], generator=g, dtype=torch.float64)
    return states


def test_sigmoid_node_energy_is_hopfield_integral():
    """Phi(s) = int_0^s logit(v) dv = s ln s + (1 - s) ln(1 - s), 0 at the ends (0 ln 0 = 0)."""
    act = ACTIVATIONS["sigmoid"]
    s = torch.tensor([[0.0, 0.2, 0.5, 0.9, 1.0]], dtype=torch.float64)
    ref = torch.tensor([0.0, 0.2 * torch.log(torch.tensor(0.2)) + 0.8 * torch.log(torch.tensor(0.8)),
                        torch.log(torch.tensor(0.5)), 0.9 * torch.log(torch.tensor(0.9)) + 0.1 * torch.log(torch.tensor(0.1)),
                        0.0], dtype=torch.float64).sum()
    torch.testing.assert_close(act.node_energy(s), ref.reshape(1))
    # numeric integral of logit from 0 to 0.7 (v = u^2 removes the log singularity at 0)
    u = torch.linspace(0.0, 0.7 ** 0.5, 200001, dtype=torch.float64)[1:]
    integral = torch.trapezoid(torch.log(u ** 2 / (1 - u ** 2)) * 2 * u, u)
    torch.testing.assert_close(act.node_energy(torch.tensor([[0.7]], dtype=torch.float64)), integral.reshape(1),
                               rtol=1e-6, atol=1e-6)
    assert not act.saturated(s).any()  # smooth: no kink anywhere


def test_energy_state_gradient_is_logit_minus_drive():
    m, x, _ = sigmoid_mlp()
    g = torch.Generator().manual_seed(1)
    states = [s.requires_grad_(True) for s in _interior_states(m, x.shape[0], g)]
    auto = torch.autograd.grad(m.energy(x, states).sum(), states)
    const = m.const_drive(x)
    for k in range(1, m.num_nodes):
        s = states[k - 1].detach()
        hand = torch.log(s / (1 - s)) - m.drive(k, states, const)
        torch.testing.assert_close(auto[k - 1], hand.detach(), rtol=1e-12, atol=1e-12)


def test_node_update_is_the_energy_block_minimizer():
    """At s_k = sigmoid(h_k) the autograd gradient of E in s_k vanishes, and E is lower there
    than at any perturbation of the block inside (0, 1)."""
    m, x, _ = sigmoid_mlp()
    g = torch.Generator().manual_seed(4)
    states = _interior_states(m, x.shape[0], g)
    const = m.const_drive(x)
    for k in range(1, m.num_nodes + 1):
        new = list(states)
        new[k - 1] = m.node_update(k, m.drive(k, states, const))
        leaf = [s.clone().requires_grad_(True) for s in new]
        (grad,) = torch.autograd.grad(m.energy(x, leaf).sum(), [leaf[k - 1]])
        assert grad.abs().max() < 1e-12, (k, grad.abs().max())
        after = m.energy(x, new)
        assert (after <= m.energy(x, states) + 1e-12).all()
        for _ in range(10):
            pert = list(new)
            pert[k - 1] = (new[k - 1] + 0.05 * torch.randn(new[k - 1].shape, generator=g, dtype=torch.float64))
            if k < m.num_nodes:
                pert[k - 1] = pert[k - 1].clamp(1e-6, 1 - 1e-6)
            assert (m.energy(x, pert) >= after - 1e-12).all()
        states = new


@pytest.mark.parametrize("solver", [relax_async, relax_sync])
def test_solver_fixed_point_is_stationary(solver):
    """The relaxed free state has dE/ds = 0 in every node (hidden sigmoid and linear output)."""
    m, x, _ = sigmoid_mlp()
    kw = {"damping": 0.5} if solver is relax_sync else {}
    s, st = solver(m, m.const_drive(x), m.zero_state(x.shape[0], x), iters=5000, tol=1e-14, **kw)
    assert st.converged.all()
    leaf = [t.clone().requires_grad_(True) for t in s]
    grads = torch.autograd.grad(m.energy(x, leaf).sum(), leaf)
    for gk in grads:
        assert gk.abs().max() < 1e-10


def test_async_sweeps_descend_the_sigmoid_energy():
    m, x, _ = sigmoid_mlp(hidden=(7, 6, 5))
    assert_async_descends(m, x, sweeps=15, atol=1e-12)


def test_ep_reaches_the_exact_gradient_as_beta_goes_to_zero():
    """Centered EP at beta 0.01 against the implicit (BP-of-the-equilibrium) gradient: cosine
    >= 0.999 per layer, no saturation changes, and the error shrinks as beta^2."""
    m, x, y = sigmoid_mlp()
    report = gradcheck(m, x, y, relax_async, [0.01], "centered", iters=5000, tol=1e-14)
    assert report["free_converged_fraction"] == 1.0
    assert len(report["layers"]) == 3
    for row in report["layers"]:
        assert row["cosine"] >= 0.999, row
        assert row["rel_error"] < 1e-2, row
        assert row["saturation_changes"] == 0
    free, _ = relax_async(m, m.const_drive(x), m.zero_state(x.shape[0], x), iters=5000, tol=1e-14)
    exact, _ = implicit_gradient(m, x, y, free)
    errs = []
    for beta in (0.02, 0.01):
        res = ep_gradient(m, x, y, free, relax_async, beta=beta, estimator="centered", free_iters=5000,
                          nudge_iters=5000, tol=1e-14)
        assert saturation_changes(m, free, res.nudged) == 0
        num = sum(((a - b) ** 2).sum() for a, b in zip(res.grads, exact)).sqrt()
        errs.append(float(num / sum((b ** 2).sum() for b in exact).sqrt()))
    assert 3.0 < errs[0] / errs[1] < 5.0, errs  # O(beta^2)


def test_backprop_twin_is_a_sigmoid_mlp():
    m, x, y = sigmoid_mlp()
    w = [e.synapse.weight for e in m.edges]
    h1 = torch.sigmoid(x @ w[0].t() + m.biases[0])
    h2 = torch.sigmoid(h1 @ w[1].t() + m.biases[1])
    out = h2 @ w[2].t() + m.biases[2]
    torch.testing.assert_close(m.ff_forward(x), out, rtol=1e-12, atol=1e-12)
    grads, twin_out, _ = bp_gradient(m, x, y)
    torch.testing.assert_close(twin_out, out.detach())
    ref = torch.autograd.grad(0.5 * (out - y).pow(2).sum(1).mean(), w)
    for gr, r in zip(grads[:3], ref):
        torch.testing.assert_close(gr, r)


def test_config_accepts_sigmoid_and_lists_valid_activations():
    assert load_config(None, ["model.activation=sigmoid"]).model.activation == "sigmoid"
    assert load_config(None, ["model.name=pcn_mlp", "model.activation=sigmoid"]).model.activation == "sigmoid"
    with pytest.raises(ConfigError) as e:
        load_config(None, ["model.activation=tanh"])
    msg = str(e.value)
    assert msg.startswith("model.activation:") and "sigmoid" in msg and "\n" not in msg
    with pytest.raises(ConfigError) as e:
        load_config(None, ["model.name=pcn_mlp", "model.activation=clamp"])
    assert "sigmoid" in str(e.value) and "relu" in str(e.value)


def test_pcn_sigmoid_derivative():
    from analog_ep.models.pcn import PC_ACTIVATIONS

    f, df = PC_ACTIVATIONS["sigmoid"]
    a = torch.linspace(-6, 6, 25, dtype=torch.float64, requires_grad=True)
    (auto,) = torch.autograd.grad(f(a).sum(), a)
    torch.testing.assert_close(df(a.detach()), auto)
