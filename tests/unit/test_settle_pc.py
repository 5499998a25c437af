"""Predictive coding's inference as the circuit runs it (``algorithm: pc`` with ``analog.relaxation:
settle``) and the PCN settle's energy trace (issue 20 open items 3-4).

References: a plain loop of PC's activity steps (gradient descent on ``E`` with the output clamped
to the target) run to its fixed point, and :func:`~analog_ep.algorithms.pc.pc_gradient`'s own
iterative inference run to its fixed point (the weight update there); the gradient-flow argument
(the PC energy never rises along a noiseless settle, module docstring of
:mod:`analog_ep.solvers.settle`).
"""

import functools

import h5py
import numpy as np
import pytest
import torch

from conftest import build_float64
from analog_ep.algorithms.pc import pc_gradient
from analog_ep.algorithms.rules import build_rule
from analog_ep.config import load_config
from analog_ep.errors import ConfigError
from analog_ep.solvers import relax_pcn
from analog_ep.solvers.settle import relax_settle_pcn

TAU = 1e-7  # the default node: 100 fF / 1 uS

MLP = ["model.name=pcn_mlp", "data.name=digits", "model.hidden=[12, 8]"]
VGG = ["model.name=pcn_vgg5", "model.channels=[3,4,4,5]", "data.name=synthetic", "data.shape=[3,16,16]",
       "data.num_classes=4"]
SETTLE = functools.partial(relax_settle_pcn, tau_s=TAU, t_max_s=3000 * TAU)  # long enough to reach 1e-12


def _rel(a, b):
    return max(((p - q).abs().max() / q.abs().max()).item() for p, q in zip(a, b))


def _pc_fixed_point(m, x, y, lr=0.2, steps=4000):
    """A plain loop of PC's activity steps (MSE / clamp: the output clamped to ``y``): ``s_k -=
    lr dE/ds_k`` on the hidden nodes from the forward pass, run to its fixed point."""
    with torch.no_grad():
        s, _ = m.forward_pass(x)
        s = list(s)
        s[-1] = y.clone()
        for _ in range(steps):
            g, _ = m.state_grads(x, s)
            for k in range(len(s) - 1):
                s[k] = s[k] - lr * g[k]
        g, _ = m.state_grads(x, s)
    assert max(gk.abs().max().item() for gk in g[:-1]) < 1e-12
    return s


# ----------------------------------------------------------------------------------- fixed point
@pytest.mark.parametrize("nudge", ["mse", "clamp"])
def test_pc_settle_reaches_the_fixed_point_of_pc_inference_pcn_mlp(nudge):
    _, m, x, y = build_float64(MLP + [f"ep.nudge={nudge}"], n=5)
    want = _pc_fixed_point(m, x, y)
    with torch.no_grad():
        s0, _ = m.forward_pass(x)
    start = list(s0[:-1]) + [y]
    got, st = SETTLE(m, x, start, target=y, tol=1e-12, rule="gd", output="pc")
    assert st.converged.all()
    assert max((p - q).abs().max().item() for p, q in zip(got, want)) < 1e-5
    assert (got[-1] == y).all()  # the output stayed clamped
    assert max((p - q).abs().max().item() for p, q in zip(got[:-1], s0[:-1])) > 1e-3  # the nodes did move


@pytest.mark.parametrize("nudge", ["mse", "clamp", "cross_entropy"])
def test_pc_gradient_on_the_settle_equals_the_iterative_inference_pcn_mlp(nudge):
    """The weight update at the settled states equals pc_gradient's at its activity steps' fixed
    point (the cross-entropy output a readout whose current is fed back)."""
    _, m, x, y = build_float64(MLP + [f"ep.nudge={nudge}"], n=5)
    want = pc_gradient(m, x, y, steps=3000, lr=0.2)
    got = pc_gradient(m, x, y, steps=20, lr=0.2, solver=SETTLE, tol=1e-12)
    assert got.stats["pc"].converged.all()
    assert _rel(got.grads, want.grads) < 1e-5
    # and not the gradient a short inference gives (the test can fail)
    assert _rel(pc_gradient(m, x, y, steps=2, lr=0.2).grads, want.grads) > 1e-3


@pytest.mark.parametrize("nudge", ["mse", "cross_entropy"])
def test_pc_gradient_on_the_settle_equals_the_iterative_inference_pcn_vgg5(nudge):
    """A tiny pcn_vgg5 (max-pooling: the energy has kinks where a pool's argmax switches, on
    which both inferences chatter; a target 10 % of the way from the prediction to the label keeps
    the fixed point off them on this seed)."""
    _, m, x, y = build_float64(VGG + [f"ep.nudge={nudge}"], seed=0, n=4)
    with torch.no_grad():
        out = m.forward_pass(x)[0][-1]
    p = torch.softmax(out, 1) if nudge == "cross_entropy" else out
    soft = p + 0.1 * (y - p)
    want = pc_gradient(m, x, soft, steps=1500, lr=0.2)
    got = pc_gradient(m, x, soft, steps=20, lr=0.2, solver=functools.partial(SETTLE, t_max_s=500 * TAU), tol=1e-12)
    assert got.stats["pc"].converged.all()
    assert _rel(got.grads, want.grads) < 1e-5


@pytest.mark.parametrize("nudge", ["mse", "clamp", "cross_entropy"])
def test_activity_steps_are_euler_steps_of_the_settle(nudge):
    """An activity step ``s <- s - lr dE/ds`` is an explicit Euler step ``dt = lr tau`` of the
    circuit's flow: the default PC settle (``steps x lr`` time constants) at that step, noiseless
    and with ``tol`` 0, takes pc_gradient's very path: the same weight update and energy trace."""
    _, m, x, y = build_float64(MLP + [f"ep.nudge={nudge}"], n=5)
    want = pc_gradient(m, x, y, steps=8, lr=0.1)
    solver = functools.partial(relax_settle_pcn, tau_s=TAU, dt_s=0.1 * TAU)
    got = pc_gradient(m, x, y, steps=8, lr=0.1, solver=solver, tol=0.0)
    assert got.stats["pc"].sweeps == 8
    assert _rel(got.grads, want.grads) < 1e-10
    assert torch.allclose(got.energy, want.energy, rtol=1e-10, atol=1e-14)
    # a longer settle is not the short inference (the test can fail)
    longer = pc_gradient(m, x, y, steps=8, lr=0.1, solver=functools.partial(solver, t_max_s=8 * TAU), tol=0.0)
    assert _rel(longer.grads, want.grads) > 1e-3


# ----------------------------------------------------------------------------------- energy trace
@pytest.mark.parametrize("nudge", ["mse", "cross_entropy"])
def test_pc_energy_trace_never_increases_along_a_noiseless_settle(nudge):
    """``PCResult.energy`` under settle: per layer at every time constant of the default budget
    (``pc.steps`` of them: ``steps + 1`` points, as the activity steps' trace), its total
    non-increasing (gradient flow), padded with the read-out state's energy after the stop."""
    _, m, x, y = build_float64(MLP + [f"ep.nudge={nudge}"], n=5)
    solver = functools.partial(relax_settle_pcn, tau_s=TAU)
    res = pc_gradient(m, x, y, steps=40, lr=0.2, solver=solver, tol=1e-6)
    e = res.energy
    assert e.shape == (41, m.num_nodes)
    total = e.sum(1)
    assert (total[1:] <= total[:-1] + 1e-12).all()
    assert total[0] - total[-1] > 1e-3
    # the first point is the energy of the forward pass with the output clamped (iterative step 0)
    it = pc_gradient(m, x, y, steps=1, lr=0.2)
    assert torch.allclose(e[0], it.energy[0], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("rule", ["pgd", "gd"])
def test_ep_settle_records_the_nudged_energy_per_time_constant(rule):
    """The nudged phase's ``stats.energy`` (E + beta C, batch mean) has ``iters + 1`` points under
    the default budget, as the traversal solver's; non-increasing on a noiseless settle; its start
    equals the traversal solver's start (the free state)."""
    _, m, x, y = build_float64(MLP, n=5)
    with torch.no_grad():
        free, _ = m.forward_pass(x)
    _, st = relax_settle_pcn(m, x, free, beta=0.5, target=y, iters=30, tol=1e-10, tau_s=TAU, rule=rule)
    _, ref = relax_pcn(m, x, free, beta=0.5, target=y, iters=30, rule="pgd")
    assert st.energy.shape == ref.energy.shape == (31,)
    assert (st.energy[1:] <= st.energy[:-1] + 1e-12).all()
    assert st.energy[0].item() == pytest.approx(ref.energy[0].item(), rel=1e-12)
    assert st.energy[0] - st.energy[-1] > 1e-4
    assert st.layer_energy.shape == (31, m.num_nodes)


def test_settle_runs_store_their_energy_traces(tmp_path):
    """A PC settle run stores ``pc_energy`` and an EP settle run ``nudge+_energy`` in results.h5
    (what ``report`` plots), one curve per epoch of ``steps + 1`` points."""
    from analog_ep.train import fit, make_trainer

    common = MLP + ["analog.device=ideal", "analog.relaxation=settle", "data.batch_size=8", "data.train_size=32",
                    "data.test_size=16", "train.epochs=2"]
    for algo, key, points in (("pc", "pc_energy", 9), ("ep", "nudge+_energy", 6)):
        cfg = load_config(None, common + [f"algorithm={algo}", "pc.steps=8", "solver.nudge_iters=5"])
        t = make_trainer(cfg, tmp_path / algo)
        fit(t, progress=False)
        with h5py.File(tmp_path / algo / "results.h5", "r") as f:
            a = np.asarray(f["traces"][key])
        assert a.shape[:2] == (2, points), (algo, a.shape)
        assert np.isfinite(a).all()


# ----------------------------------------------------------------------------------- rule, gradcheck, input
def test_pc_rule_under_settle_uses_the_circuit_and_counts_it():
    cfg, m, x, y = build_float64(MLP + ["analog.device=ideal", "analog.relaxation=settle", "algorithm=pc",
                                        "pc.steps=30"], n=4)
    rule = build_rule(cfg, m)
    assert rule.name == "pc" and rule.solver.func is relax_settle_pcn
    m.begin_batch()
    step = rule.step(x, y, 4)
    st = step.stats["pc"]
    assert st.settle_time_s is not None and (st.settle_time_s > 0).all()
    assert (st.settle_time_s <= 30 * 0.1 * TAU * (1 + 1e-9)).all()  # pc.steps x pc.activity_lr time constants
    assert step.traces["pc_energy"].shape == (31, m.num_nodes)


def test_gradcheck_of_pc_under_settle_agrees_with_iterative():
    """The rule's gradcheck (PC's weight update against the exact gradient, per layer) under
    settle and iterative (enough activity steps to reach the fixed point): the same rows."""
    base = MLP + ["analog.device=ideal", "algorithm=pc", "pc.activity_lr=0.2"]
    cfg_it, m, x, y = build_float64(base + ["pc.steps=3000"], n=6)
    cfg_st = load_config(None, ["seed=0", "data.train_size=16", "data.test_size=8"] + base +
                         ["pc.steps=20", "analog.relaxation=settle", "analog.settle_t_max_s=3e-4", "solver.tol=1e-12"])
    it = build_rule(cfg_it, m).gradcheck(x, y, [1e-3], iters=100, tol=1e-10)
    st = build_rule(cfg_st, m).gradcheck(x, y, [1e-3], iters=100, tol=1e-10)
    assert len(it["layers"]) == len(st["layers"]) > 0
    for a, b in zip(it["layers"], st["layers"]):
        assert b["cosine"] == pytest.approx(a["cosine"], abs=1e-6), (a, b)
        assert b["rel_error"] == pytest.approx(a["rel_error"], rel=1e-4, abs=1e-8), (a, b)


@pytest.mark.parametrize("overrides, match", [
    (MLP + ["analog.device=ideal", "analog.relaxation=settle", "algorithm=pc", "pc.precision=decaying"],
     "pc.precision: decaying weights the discrete activity steps"),
    (MLP + ["analog.device=ideal", "analog.relaxation=settle", "algorithm=bp"], "analog.relaxation: settle relaxes"),
])
def test_bad_input_is_one_line(overrides, match):
    with pytest.raises(ConfigError, match=match) as err:
        load_config(None, overrides)
    assert "\n" not in str(err.value)


def test_unknown_output_is_refused():
    _, m, x, y = build_float64(MLP, n=2)
    with torch.no_grad():
        free, _ = m.forward_pass(x)
    with pytest.raises(ConfigError, match="settle output: unknown 'bogus'"):
        relax_settle_pcn(m, x, free, beta=0.1, target=y, output="bogus")
