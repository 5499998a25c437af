"""The damped node step of EP's nudged phases on a PCN (``solver.pcn_step``, ``solver.pcn_backtrack``;
:mod:`analog_ep.solvers.pcn`). A node update is a unit gradient step on ``s_k``, which contracts
only while ``1 + ||J_{k+1}||^2 < 2``; with 6x the initial weights (the record's reproduction,
benchmarks/model_defaults_fmnist.md) it diverges and the guard stops it. The damped step must
reach the phase's true fixed point there (for a linear PCN the minimizer of the quadratic
``E + beta C``, solved in closed form from its Hessian), with an energy that never rises, and
reach the unit step's fixed point where the unit step contracts."""

import pytest
import torch

from conftest import scaled_pcn_mlp_phase
from analog_ep.config import load_config
from analog_ep.errors import ConfigError
from analog_ep.models.pcn import PCNMLP
from analog_ep.solvers.pcn import relax_pcn

BETA = 0.5
HIDDEN = [8]


def _linear_pcn(scale: float):
    g = torch.Generator().manual_seed(0)
    m = PCNMLP((6,), HIDDEN, 4, activation="linear", generator=g).double()
    with torch.no_grad():
        for p in m.parameters():
            p.mul_(scale)
    x = torch.randn(5, 6, dtype=torch.float64, generator=g)
    y = torch.nn.functional.one_hot(torch.arange(5) % 4, 4).double()
    free, _ = m.forward_pass(x)
    return m, x, y, free


def _closed_form(m, x, y, free):
    """Per sample the minimizer of the quadratic ``F(z) = E(z) + beta/2 ||s_L - y||^2`` over the
    stacked states ``z``: ``z* = z0 - H^-1 grad F(z0)`` (exact for a quadratic), with the largest
    curvature of each hidden node's block ``1 + ||W_{k+1}||^2``."""
    sizes = HIDDEN + [4]
    out = []
    for i in range(x.shape[0]):
        def f(z, i=i):
            st = [p[None] for p in torch.split(z, sizes)]
            e = 0.5 * sum((st[k] - m.predict(k + 1, m.preact(k + 1, x[i:i + 1], st), x[i:i + 1], st)).square().sum()
                          for k in range(len(sizes)))
            return e + BETA * 0.5 * (st[-1] - y[i:i + 1]).square().sum()
        z0 = torch.cat([s[i] for s in free])
        h = torch.autograd.functional.hessian(f, z0)
        g = torch.autograd.functional.jacobian(f, z0)
        out.append(z0 - torch.linalg.solve(h, g))
    return torch.stack(out)


def _dense_weights(m):
    """Each edge's weight matrix (out x in), read as the synapse maps the identity (no bias)."""
    return [e.synapse.read(torch.eye(m.node_shapes[e.pre - 1][0] if e.pre else 6, dtype=torch.float64)).T
            for e in m.edges]


def test_at_6x_gain_the_unit_step_diverges_and_the_damped_steps_reach_the_closed_form_minimum():
    m, x, y, free = _linear_pcn(6.0)
    z_star = _closed_form(m, x, y, free)
    # the unit step (today's default): diverges, the guard stops it far from the minimum
    s, st = relax_pcn(m, x, free, beta=BETA, target=y, iters=200, tol=1e-9, rule="pgd")
    assert (torch.cat(s, 1) - z_star).abs().max() > 10 and not st.converged.any()
    # backtracking from the unit step: where the guard would stop a sample it goes back to its
    # lowest-energy states and halves its step; it reaches z*, its final energy the phase's lowest
    s, st = relax_pcn(m, x, free, beta=BETA, target=y, iters=300, tol=1e-9, rule="pgd", backtrack=True)
    assert torch.allclose(torch.cat(s, 1), z_star, atol=1e-9)
    assert st.converged.all()
    assert st.energy[-1] <= st.energy.min() + 1e-12 * st.energy[0] and st.energy[-1] < 0.2 * st.energy[0]
    # a fixed step below 2 / (1 + ||J||^2) of every block, no backtracking: descends and reaches z*
    with torch.no_grad():
        c = 1 + max(torch.linalg.matrix_norm(w, 2) ** 2 for w in _dense_weights(m)[1:])
    assert c > 2  # the unit step does not contract here
    s, st = relax_pcn(m, x, free, beta=BETA, target=y, iters=1000, tol=1e-9, rule="pgd", step=float(1 / c))
    e = st.energy
    assert (e[1:] <= e[:-1] + 1e-12 * e[0]).all()
    assert torch.allclose(torch.cat(s, 1), z_star, atol=1e-9)



def _relu_mlp_phase(scale: float, **kw):
    """The record's reproduction (benchmarks/model_defaults_fmnist.md): pcn_mlp 16-32-32-10, ReLU,
    mod-PGD, its weights times ``scale``."""
    return scaled_pcn_mlp_phase(scale, **kw)


@pytest.mark.parametrize("rule", ["pgd", "mod_pgd"])
def test_on_the_records_diverging_relu_phase_the_damped_steps_descend_where_the_unit_step_is_frozen(rule):
    """6x the init on the record's pcn_mlp (ReLU): the unit step's energy rises more than 10x
    above its start before the guard freezes it, unconverged. A fixed step 1 / (1 + max ||W||^2)
    (below 2 / curvature of every hidden block): the energy never rises and the distance from a
    fixed point (the unit step's change) keeps shrinking. Backtracking from step 1: the samples
    the guard would stop go on at smaller steps, the energy stays bounded and ends far below
    where the guard froze the unit step (it need not converge in 200 traversals)."""
    from analog_ep.train.build import build_model

    s_u, st_u = _relu_mlp_phase(6.0, iters=200, rule=rule)
    assert not st_u.converged.any() and st_u.energy[-1] > 10 * st_u.energy[0]
    torch.manual_seed(0)
    model = build_model(load_config(None, ["model.name=pcn_mlp", "model.hidden=[32,32]", "seed=0"]), (16,), 10)
    with torch.no_grad():
        c = 1 + max(torch.linalg.matrix_norm(6.0 * e.synapse.read(torch.eye(model.node_shapes[e.pre - 1][0])).T, 2) ** 2
                    for e in model.edges[1:])
    assert c > 2
    runs = [_relu_mlp_phase(6.0, iters=n, step=float(1 / c), rule=rule) for n in (200, 1000)]
    for s, st in runs:
        assert (st.energy[1:] <= st.energy[:-1]).all() and st.energy[-1] < 0.2 * st.energy[0]
    assert runs[1][1].residual.max() < 0.1 * runs[0][1].residual.max()
    s, st = _relu_mlp_phase(6.0, iters=200, backtrack=True, rule=rule)
    assert torch.isfinite(torch.cat(s, 1)).all()
    assert st.energy.max() < 5 * st.energy[0] and st.energy[-1] < 0.1 * st_u.energy[-1]


def test_where_the_unit_step_contracts_a_damped_step_reaches_its_fixed_point_and_the_default_is_the_unit_step():
    s_u, st_u = _relu_mlp_phase(1.0, iters=60)
    assert st_u.converged.all()
    for kw in ({"step": 0.5}, {"step": 0.7, "backtrack": True}):
        s, st = _relu_mlp_phase(1.0, iters=200, **kw)
        assert st.converged.all()
        assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(s, s_u)), kw
    # step 1 without backtracking is today's unit step, bit for bit; with backtracking too where
    # the guard never fires
    for bt in (False, True):
        s_1, st_1 = _relu_mlp_phase(1.0, iters=60, step=1.0, backtrack=bt)
        assert all(torch.equal(a, b) for a, b in zip(s_1, s_u)) and torch.equal(st_1.energy, st_u.energy)


@pytest.mark.parametrize("over,msg", [
    (["model.name=pcn_mlp", "solver.pcn_step=0"], "solver.pcn_step: must be in (0, 1]"),
    (["model.name=pcn_mlp", "solver.pcn_step=1.5"], "solver.pcn_step: must be in (0, 1]"),
    (["model.name=hopfield_mlp", "solver.pcn_step=0.5"], "solver.pcn_step: applies to the iterative nudged"),
    (["model.name=pcn_mlp", "algorithm=pc", "solver.pcn_backtrack=true"], "solver.pcn_backtrack: applies to"),
])
def test_the_node_step_keys_refuse_bad_values_and_other_models_by_name(over, msg):
    with pytest.raises(ConfigError, match=msg.replace("(", r"\(").replace("]", r"\]")):
        load_config(None, over)


def test_the_ep_rule_on_a_pcn_binds_the_node_step_to_its_solver():
    from analog_ep.algorithms.rules import build_rule
    from analog_ep.train.build import build_model

    cfg = load_config(None, ["model.name=pcn_mlp", "model.hidden=[8]", "solver.pcn_step=0.5",
                             "solver.pcn_backtrack=true"])
    rule = build_rule(cfg, build_model(cfg, (6,), 4))
    assert rule.solver.keywords["step"] == 0.5 and rule.solver.keywords["backtrack"] is True
    plain = load_config(None, ["model.name=pcn_mlp", "model.hidden=[8]"])
    assert "step" not in build_rule(plain, build_model(plain, (6,), 4)).solver.keywords


@pytest.mark.parametrize("name,batchnorm", [("pcn_vgg10skip", False), ("pcn_vgg5", True)])
def test_the_damped_step_skips_untouched_nodes_exactly_on_conv_pcns(name, batchnorm):
    """The wavefront skip (nodes the nudge has not reached keep their reads) stays exact with the
    damped, backtracking step: equal to recomputing every node, on a skip layout and with
    BatchNorm (batch statistics: a reverted sample changes every sample's reads)."""
    from analog_ep.models.pcn import PCNVGG

    chans = {"pcn_vgg5": [3, 4, 4, 5], "pcn_vgg10skip": [2, 3, 3, 3, 4, 4, 4, 4]}[name]
    g = torch.Generator().manual_seed(0)
    m = PCNVGG(name, (3, 32, 32), 10, channels=chans, generator=g, batchnorm=batchnorm).double()
    with torch.no_grad():
        for p in m.parameters():
            p.mul_(3.0)
    x = torch.randn(6, 3, 32, 32, dtype=torch.float64, generator=g)
    y = torch.nn.functional.one_hot(torch.arange(6) % 10, 10).double()
    free, _ = m.forward_pass(x)
    runs = [relax_pcn(m, x, free, beta=0.5, target=y, iters=12, step=0.8, backtrack=True, skip_clean=sc)
            for sc in (True, False)]
    (s_a, st_a), (s_b, st_b) = runs
    assert all(torch.allclose(a, b, rtol=0, atol=1e-12) for a, b in zip(s_a, s_b))
    assert torch.allclose(st_a.energy, st_b.energy, rtol=1e-12)
    # at this gain the guard fires: without backtracking the same step runs another path (the
    # comparison above ran the reverts)
    _, st_c = relax_pcn(m, x, free, beta=0.5, target=y, iters=12, step=0.8)
    assert not torch.equal(st_c.energy, st_a.energy)
    assert torch.isfinite(torch.cat([v.flatten(1) for v in s_a], 1)).all()
