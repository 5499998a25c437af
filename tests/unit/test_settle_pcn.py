"""Continuous-time settling of predictive coding networks (``analog.relaxation: settle`` on
``pcn_mlp`` and the PCN VGGs; issue 20 items 1-2, :func:`analog_ep.solvers.settle.relax_settle_pcn`).

References: the traversal solver (:func:`~analog_ep.solvers.relax_pcn`) run to its fixed point
(a settle's stationary point is the same node rule), the backprop gradient of the feed-forward
twin (EP on a PCN is exact as beta -> 0), the gradient-flow argument (the PC energy never rises
along a noiseless settle), the Wiener scaling of white noise (the settled spread does not depend
on the step).
"""

import functools

import pytest
import torch

from conftest import build_float64
from analog_ep.algorithms.gradcheck import pcn_gradcheck
from analog_ep.algorithms.rules import build_rule
from analog_ep.config import load_config
from analog_ep.errors import ConfigError
from analog_ep.solvers import relax_pcn
from analog_ep.solvers import settle as ST
from analog_ep.solvers.settle import PCNCircuit, pcn_stiffness, relax_settle_pcn

TAU = 1e-7  # the default node: 100 fF / 1 uS

MLP = ["model.name=pcn_mlp", "data.name=digits", "model.hidden=[12, 8]"]
VGG = ["model.name=pcn_vgg5", "model.channels=[3,4,4,5]", "data.name=synthetic", "data.shape=[3,16,16]",
       "data.num_classes=4"]


def _build(overrides, seed=0, n=4):
    """A float64 PCN built from a config (with its storages), its forward pass (the free
    equilibrium) and one batch of ``n``."""
    cfg, model, x, y = build_float64(overrides, seed, n)
    with torch.no_grad():
        free, _ = model.forward_pass(x)
    return cfg, model, x, y, free


def _dist(a, b):
    return max((p - q).abs().max().item() for p, q in zip(a, b))


def _fixed_point(m, x, free, beta, y, rule):
    """The traversal solver run to its fixed point (not K traversals)."""
    s, st = relax_pcn(m, x, free, beta=beta, target=y, iters=300, tol=1e-14, rule=rule)
    assert float(st.residual.max()) < 1e-12
    return s


# ----------------------------------------------------------------------------------- fixed point
@pytest.mark.parametrize("rule", ["mod_pgd", "pgd"])
@pytest.mark.parametrize("nudge", ["mse", "cross_entropy", "clamp"])
@pytest.mark.parametrize("beta", [0.3, -0.3])
def test_settle_reaches_the_traversals_fixed_point_pcn_mlp(rule, nudge, beta):
    _, m, x, y, free = _build(MLP + [f"ep.nudge={nudge}"], n=5)
    want = _fixed_point(m, x, free, beta, y, rule)
    got, st = relax_settle_pcn(m, x, free, beta=beta, target=y, iters=2000, tol=1e-12, tau_s=TAU, dt_s=TAU / 2,
                               rule=rule)  # a coarse step (within the bound, about 0.6 tau here): fast
    assert st.converged.all() and st.sweeps < 20000
    assert _dist(got, want) < 1e-5
    assert _dist(got, want) < 1e-9  # in fact to the tolerance
    assert _dist(got, free) > 1e-3  # the nudge moved it


@pytest.mark.parametrize("overrides", [VGG, VGG + ["analog.device=ideal"], MLP + ["analog.device=ideal"]],
                         ids=["pcn_vgg5", "pcn_vgg5-ideal-card", "pcn_mlp-ideal-card"])
@pytest.mark.parametrize("rule", ["mod_pgd", "pgd"])
def test_settle_reaches_the_fixed_point_on_models_and_ideal_tiles(overrides, rule):
    """pcn_vgg5 (conv + max-pool reads; digital and on ideal tiles: the converter-free reads)
    and pcn_mlp on ideal tiles, noise off, nudged at beta 0.1 (a seed whose traversals reach a
    fixed point: at larger nudges mod_pgd can cycle between max-pool winners, and so can the
    settle, which then has no equilibrium to compare)."""
    _, m, x, y, free = _build(overrides, seed=0, n=2)
    want = _fixed_point(m, x, free, 0.1, y, rule)
    got, st = relax_settle_pcn(m, x, free, beta=0.1, target=y, iters=300, tol=1e-11, tau_s=TAU, dt_s=TAU / 2,
                               rule=rule)
    assert st.converged.all()
    assert _dist(got, want) < 1e-5


def test_free_state_is_stationary():
    """At beta 0 the forward pass is the equilibrium: the settle does not move it."""
    _, m, x, y, free = _build(MLP, n=3)
    got, st = relax_settle_pcn(m, x, free, beta=0.0, target=y, iters=10, tol=1e-12, tau_s=TAU)
    assert st.converged.all() and st.sweeps == 1
    assert _dist(got, free) < 1e-12


# ----------------------------------------------------------------------------------- energy
@pytest.mark.parametrize("rule", ["pgd", "mod_pgd"])
@pytest.mark.parametrize("nudge, beta", [("mse", 0.5), ("clamp", 0.5), ("cross_entropy", 1.0)])
def test_pc_energy_never_increases_along_a_noiseless_settle(rule, nudge, beta):
    """F = E + beta C (the clamp nudge: strength beta / (1 - beta)) at every integrator step
    (each prefix of the deterministic trajectory is a settle with a shorter budget) falls
    monotonically from the free state and ends above the fixed point's."""
    _, m, x, y, free = _build(MLP + [f"ep.nudge={nudge}"], n=5)
    dt = TAU / 10
    strength = beta / (1 - beta) if nudge == "clamp" else beta

    def total(s):
        return m.energy(x, s) + strength * m.cost(s[-1], y)

    curve = [total(free)]
    for n in range(1, 41):
        s, st = relax_settle_pcn(m, x, free, beta=beta, target=y, iters=1, tol=0.0, tau_s=TAU, dt_s=dt,
                                 t_max_s=n * dt, rule=rule)
        assert st.sweeps == n
        curve.append(total(s))
    curve = torch.stack(curve)  # (steps + 1, batch)
    assert (curve[1:] <= curve[:-1] + 1e-12).all()
    assert (curve[0] - curve[-1] > 1e-3).all()  # it did descend
    end = _fixed_point(m, x, free, beta, y, rule)
    assert (curve[-1] >= total(end) - 1e-9).all()


# ----------------------------------------------------------------------------------- gradient
def test_ep_on_the_settle_reaches_the_backprop_gradient_pcn_mlp():
    """The project's gradcheck (the rule's, with the settle as its relaxation): per layer cosine
    >= 0.999 against the feed-forward twin's backprop gradient at small beta, none of the
    ReLUs switching."""
    cfg, m, x, y, _ = _build(MLP + ["analog.device=ideal", "analog.relaxation=settle", "solver.tol=1e-12",
                                    "analog.settle_t_max_s=2e-5", "analog.settle_dt_s=5e-8"], n=6)
    rule = build_rule(cfg, m)
    assert rule.solver.func is relax_settle_pcn
    rep = rule.gradcheck(x, y, [1e-3, 1e-4], iters=200, tol=1e-12)
    assert len(rep["layers"]) == 2 * len(m.edges)
    for row in rep["layers"]:
        assert row["saturation_changes"] == 0, row
        assert row["cosine"] >= 0.999, row
    # the same with a budget far too short to settle (one time constant) is not exact: the test can fail
    short = functools.partial(relax_settle_pcn, tau_s=TAU, tol=0.0, t_max_s=TAU)
    bad = pcn_gradcheck(m, x, y, [1e-3], "centered", solver=short)
    assert min(row["cosine"] for row in bad["layers"]) < 0.999


def test_ep_on_the_settle_reaches_the_backprop_gradient_pcn_vgg5():
    _, m, x, y, _ = _build(VGG, seed=0, n=2)
    solver = functools.partial(relax_settle_pcn, tau_s=TAU, tol=1e-10, t_max_s=3e-5, dt_s=TAU / 2)
    rep = pcn_gradcheck(m, x, y, [1e-4], "centered", solver=solver)
    for row in rep["layers"]:
        assert row["cosine"] >= 0.999, row


# ----------------------------------------------------------------------------------- step, time, counts
def test_stiffness_is_the_largest_rate_of_the_linearized_currents():
    """The power-iteration estimate against the dense Jacobian of the node currents (built
    column by column) at the free state of a small pcn_mlp with linear nodes (the currents are
    linear: the Jacobian is exact)."""
    _, m, x, y, free = _build(MLP + ["model.activation=tanh", "model.hidden=[5, 4]"], n=1)
    c = PCNCircuit(m, x, y, "pgd")
    v = c.targets(free, 0.0)[:-1] + [free[-1]]
    sizes = [vk.numel() for vk in v]
    base = torch.cat([ck.reshape(-1) for ck in c.currents(v, 0.3)])
    cols = []
    h = 1e-6
    for i in range(sum(sizes)):
        e = torch.zeros(sum(sizes), dtype=torch.float64)
        e[i] = h
        parts = list(torch.split(e, sizes))
        vp = [vk + p.reshape(vk.shape) for vk, p in zip(v, parts)]
        cols.append((torch.cat([ck.reshape(-1) for ck in c.currents(vp, 0.3)]) - base) / h)
    jac = torch.stack(cols, 1)
    rate = torch.linalg.eigvals(jac).abs().max().item()
    est = pcn_stiffness(c, v, 0.3, iters=60).item()
    assert est == pytest.approx(rate, rel=1e-3)
    assert rate > 1.0  # stiffer than the leak alone


def _jacobian_rate(c, v, beta):
    """The stiffest rate of the node currents ``c.currents(v, beta)`` at ``v``, a plain second
    route: the dense Jacobian by forward differences, column by column, its largest |eigenvalue|
    (the batch's samples are independent blocks: the largest over the batch)."""
    sizes = [vk.numel() for vk in v]
    base = torch.cat([ck.reshape(-1) for ck in c.currents(v, beta)])
    cols, h = [], 1e-6
    for i in range(sum(sizes)):
        e = torch.zeros(sum(sizes), dtype=torch.float64)
        e[i] = h
        vp = [vk + p.reshape(vk.shape) for vk, p in zip(v, torch.split(e, sizes))]
        cols.append((torch.cat([ck.reshape(-1) for ck in c.currents(vp, beta)]) - base) / h)
    return torch.linalg.eigvals(torch.stack(cols, 1)).abs().max().item()


def test_default_step_follows_the_stiffness_and_a_step_above_the_bound_is_refused():
    """The step against the bound ``2 tau / lambda``, ``lambda`` the phase's stiffest rate (times
    the module's margin, at least the leak's 1) taken independently: the dense Jacobian of the
    node currents at the phase's start charge (:func:`_jacobian_rate`), not the solver's power
    iteration (8 steps: within a few % of it)."""
    _, m, x, y, free = _build(MLP, n=3)
    with pytest.raises(ConfigError, match=r"analog.settle_dt_s: .* above this PCN settle's stability bound dt < 2 tau "
                                          r"/ lambda = ") as err:  # the model's first settle phase refuses
        relax_settle_pcn(m, x, free, beta=0.1, target=y, iters=3, tau_s=TAU, dt_s=TAU)  # lambda > 2 here
    assert "\n" not in str(err.value)
    _, st = relax_settle_pcn(m, x, free, beta=0.1, target=y, iters=3, tol=0.0, tau_s=TAU)
    dt = st.settle_time_s[0].item() / st.sweeps
    assert dt <= TAU / 10 * (1 + 1e-9)
    assert st.sweeps == pytest.approx(3 * TAU / dt, abs=1)  # t_max = iters tau
    _, st2 = relax_settle_pcn(m, x, free, beta=0.1, target=y, iters=3, tol=0.0, tau_s=TAU, dt_s=TAU)  # later: clamped
    c = PCNCircuit(m, x, y, "mod_pgd")  # the phase's circuit, from its start charge: the node targets of the free state
    v = c.targets(free, 0.0)[:-1] + [free[-1]]
    bound = 2.0 * TAU / max(_jacobian_rate(c, v, 0.1) * ST.STIFFNESS_MARGIN, 1.0)
    assert bound < TAU and st2.dt_s == pytest.approx(bound / 4, rel=0.05)  # clamped to the default's share: a quarter


def test_settle_time_and_counts():
    _, m, x, y, free = _build(MLP + ["analog.device=ideal"], n=4)
    m.begin_phase("nudge+")
    before = m.event_counts()
    dt = TAU / 16
    _, st = relax_settle_pcn(m, x, free, beta=0.2, target=y, iters=200, tol=1e-6, tau_s=TAU, dt_s=dt)
    after = m.event_counts()
    assert st.converged.all()
    torch.testing.assert_close(st.settle_time_s, st.steps.double() * dt)
    assert st.settle_time_s.max().item() == pytest.approx(st.sweeps * dt)
    assert (st.settle_time_s > TAU).all()
    ph = after["phases"]["nudge+"]
    assert ph["neuron_updates"] - before["phases"].get("nudge+", {}).get("neuron_updates", 0) \
        == 4 * m.neurons_per_sweep()  # one read-out per node
    for a, b in zip(before["layers"], after["layers"]):
        assert a["phases"].get("nudge+") == b["phases"].get("nudge+")  # no vector read inside the settle
    # what the cost model prices a settle from (as the Hopfield settle): the settled samples and
    # their time (summed), one read-out conversion per node per sample on the reading storages
    assert ph["settle_samples"] - before["phases"].get("nudge+", {}).get("settle_samples", 0) == 4
    assert ph["settle_time_s"] == pytest.approx(st.settle_time_s.sum().item(), rel=1e-12)
    assert ph["settle_tau_s"] == TAU                # the phase's record carries its neuron's tau
    readouts = sum(b["readouts"].get("nudge+", 0) - a["readouts"].get("nudge+", 0)
                   for a, b in zip(before["layers"], after["layers"]))
    assert readouts == 4 * m.neurons_per_sweep()


def test_noise_floor_patience_counts_time_constants():
    from analog_ep.solvers.settle import settle_patience

    assert settle_patience(5, TAU, TAU / 10) == 50  # five time constants of tau / 10 steps
    assert settle_patience(5, TAU, TAU) == 5  # dt = tau: a step is an iterative sweep
    assert settle_patience(3, TAU, 2 * TAU) == 3  # never fewer steps than the sweeps' patience
    assert settle_patience(5, TAU, TAU / 3) == 15


# ----------------------------------------------------------------------------------- noise
def test_white_read_noise_scales_with_the_step():
    """Per-read noise std sigma sqrt(tau / dt): the settled spread of one input repeated over a
    batch is the same for dt = tau / 4 and tau / 32 (a per-step draw of std sigma would shrink
    it by sqrt(8))."""
    _, m, x, y, _ = _build(MLP + ["analog.device=ideal", "analog.out_noise_std=0.05"], n=1)
    xb = x.expand(400, *x.shape[1:]).contiguous()
    yb = y.expand(400, -1)
    m.begin_batch()
    m.begin_phase("nudge+")
    with torch.no_grad():
        free, _ = m.forward_pass(xb)
    free = [f[:1].expand_as(f).contiguous() for f in free]  # one start for every copy
    spread = {}
    for div in (4, 32):
        s, _ = relax_settle_pcn(m, xb, free, beta=0.2, target=yb, iters=1, tol=0.0, tau_s=TAU, dt_s=TAU / div,
                                t_max_s=30 * TAU)
        spread[div] = s[-1].std(0).mean().item()
    assert spread[4] > 1e-3
    assert 0.75 < spread[32] / spread[4] < 1.33


# ----------------------------------------------------------------------------------- config
def test_config_selects_the_pcn_settle_through_the_registry():
    cfg = load_config(None, MLP + ["analog.device=ideal", "analog.relaxation=settle", "analog.settle_dt_s=1e-9",
                                   "solver.stop=noise_floor"])
    _, m, _, _, _ = _build(MLP + ["analog.device=ideal"])
    rule = build_rule(cfg, m)
    assert rule.name == "pcn_ep" and rule.solver.func is relax_settle_pcn
    assert rule.solver.keywords["tau_s"] == pytest.approx(TAU) and rule.solver.keywords["dt_s"] == 1e-9
    assert rule.solver.keywords["stop"] == "noise_floor"


def test_training_a_pcn_with_settle_records_settle_time_per_phase(tmp_path):
    from analog_ep.train import fit, make_trainer

    cfg = load_config(None, MLP + ["analog.device=ideal", "analog.relaxation=settle", "data.batch_size=8",
                                   "data.train_size=32", "data.test_size=16", "train.epochs=1",
                                   "solver.nudge_iters=30"])
    t = make_trainer(cfg, tmp_path)
    fit(t, progress=False)
    row = t.history[-1]
    for phase in ("nudge+", "nudge-"):
        assert 0 < row[f"{phase}_settle_time_s"] <= 30 * TAU * (1 + 1e-6), (phase, row)


@pytest.mark.parametrize("overrides, match", [
    (MLP + ["analog.relaxation=settle"], "analog.relaxation: settle runs the neurons on a device card"),
    (MLP + ["analog.device=ideal", "analog.relaxation=settle", "algorithm=bp"], "analog.relaxation: settle relaxes"),
    (MLP + ["analog.device=ideal", "analog.relaxation=settle", "algorithm=pc", "pc.precision=spiking"],
     "pc.precision: spiking weights the discrete activity steps"),
    (MLP + ["analog.device=ideal", "analog.relaxation=settle", "analog.settle_capacitance_f=-1"],
     "analog.settle_capacitance_f: must be > 0"),
    (MLP + ["solver.stop=noise_floor"], "solver.stop: noise_floor stops Hopfield-type"),
])
def test_bad_input_is_one_line(overrides, match):
    with pytest.raises(ConfigError, match=match) as err:
        load_config(None, overrides)
    assert "\n" not in str(err.value)


def test_a_step_above_tau_is_one_line_where_the_card_is_resolved():
    """The bound needs the card's neuron (:func:`analog_ep.analog.cards.check_settle_step`)."""
    from analog_ep.train.build import resolve_device

    cfg = load_config(None, MLP + ["analog.device=ideal", "analog.relaxation=settle", "analog.settle_dt_s=2e-7"])
    with pytest.raises(ConfigError, match="above the settle's largest step dt <= tau") as err:
        resolve_device(cfg)
    assert "\n" not in str(err.value)


def test_unknown_rule_is_refused():
    _, m, x, y, free = _build(MLP, n=2)
    with pytest.raises(ConfigError, match="pc.nudged_update: unknown rule 'bogus'"):
        relax_settle_pcn(m, x, free, beta=0.1, target=y, rule="bogus")
