"""Continuous-time settling (``analog.relaxation: settle``) and the noise-floor stop of the
iterative solvers (issue 20 items 1-3).

References: the iterative solver's fixed point (a settle's stationary point is the same, see
:mod:`analog_ep.solvers.settle`), the exact gradient (implicit differentiation), Hopfield's
Lyapunov argument (the energy never rises along the flow), the Wiener scaling of white noise
(the settled spread does not depend on the step), the float product (reads without converters).
"""

import functools
import math

import pytest
import torch

from conftest import DCHN_PAPER, build_float64, tiny_mlp
from analog_ep.algorithms.gradcheck import gradcheck
from analog_ep.algorithms.rules import build_rule
from analog_ep.config import load_config
from analog_ep.errors import ConfigError
from analog_ep.solvers import relax_async, relax_settle, relax_sync
from analog_ep.solvers.settle import SLOWEST_RATE_FLOOR

TAU = 1e-7  # the default node: 100 fF / 1 uS


def _fixed_point(m, const, init, beta=0.0, y=None):
    return relax_async(m, const, init, beta=beta, target=y, iters=20000, tol=1e-13)[0]


def _dist(a, b):
    return max((p - q).abs().max().item() for p, q in zip(a, b))


_build = build_float64  # a float64 model from a config, and one batch


VGG = ["model.name=dchn_vgg5", "model.channels=[3,4,4,5]", "data.name=synthetic", "data.shape=[1,16,16]",
       "data.num_classes=3", *DCHN_PAPER, "model.gains=[0.4,0.7,0.6,0.3,0.4]"]  # the paper's energy and gains
MLP = ["data.name=digits", "model.hidden=[12]"]


# ----------------------------------------------------------------------------------- fixed point
@pytest.mark.parametrize("beta", [0.0, 0.2, -0.2])
def test_settle_reaches_the_iterative_fixed_point_mlp(beta):
    m, x, y = tiny_mlp()
    const = m.const_drive(x)
    free = _fixed_point(m, const, m.zero_state(5, x))
    start = free if beta else m.zero_state(5, x)
    want = _fixed_point(m, const, start, beta, y)
    got, st = relax_settle(m, const, start, beta=beta, target=y, iters=1000, tol=1e-12, tau_s=TAU)
    assert st.converged.all() and st.sweeps < 10000
    assert _dist(got, want) < 1e-5
    assert _dist(got, want) < 1e-9  # in fact to the tolerance


@pytest.mark.parametrize("overrides", [VGG, VGG + ["analog.device=ideal"], MLP + ["analog.device=ideal"]],
                         ids=["dchn_vgg5", "dchn_vgg5-ideal-card", "mlp-ideal-card"])
def test_settle_reaches_the_iterative_fixed_point_on_models_and_ideal_tiles(overrides):
    """dchn_vgg5 (digital and on ideal tiles: the converter-free reads) and an MLP on ideal
    tiles, free and nudged (mse nudge at beta 0.1)."""
    _, m, x, y = _build(overrides, seed=3, n=2)
    const = m.const_drive(x)
    free = _fixed_point(m, const, m.zero_state(2, x))
    settle = functools.partial(relax_settle, iters=3000, tol=1e-11, tau_s=TAU, dt_s=TAU / 2)  # a coarse step: fast
    got, st = settle(m, const, m.zero_state(2, x))
    assert st.converged.all()
    assert _dist(got, free) < 1e-5
    want = _fixed_point(m, const, free, 0.1, y)
    got, st = settle(m, const, free, beta=0.1, target=y)
    assert st.converged.all()
    assert _dist(got, want) < 1e-5


def test_cross_entropy_readout_settles_to_the_iterative_fixed_point():
    """The readout outside the energy: its nudge is a current in the last hidden node's drive."""
    m, x, y = tiny_mlp()
    m.configure(nudge="cross_entropy", colouring="greedy")
    const = m.const_drive(x)
    free = _fixed_point(m, const, m.zero_state(5, x))
    want = _fixed_point(m, const, free, 0.3, y)
    got, _ = relax_settle(m, const, free, beta=0.3, target=y, iters=1000, tol=1e-12, tau_s=TAU)
    assert _dist(got, want) < 1e-9


# ----------------------------------------------------------------------------------- gradient
def test_ep_on_the_settle_reaches_the_exact_gradient():
    m, x, y = tiny_mlp()
    solver = functools.partial(relax_settle, tau_s=TAU)
    rep = gradcheck(m, x, y, solver, [1e-3], "centered", iters=2000, tol=1e-13)
    assert rep["free_converged_fraction"] == 1.0
    for row in rep["layers"]:
        assert row["saturation_changes"] == 0
        assert row["cosine"] >= 0.999, row


def test_ep_on_the_settle_reaches_the_exact_gradient_dchn_vgg5():
    _, m, x, y = _build(VGG, seed=3, n=2)
    solver = functools.partial(relax_settle, tau_s=TAU, dt_s=TAU / 2)
    rep = gradcheck(m, x, y, solver, [0.01], "centered", iters=3000, tol=1e-12)
    for row in rep["layers"]:
        assert row["cosine"] >= 0.999, row


# ----------------------------------------------------------------------------------- energy
@pytest.mark.parametrize("dt", [TAU / 5, TAU / 2], ids=["tau/5", "tau/2"])
@pytest.mark.parametrize("beta", [0.0, 0.5])
def test_energy_never_increases_along_a_noiseless_settle(beta, dt):
    """F = E + beta C at every integrator step (each prefix of the deterministic trajectory is a
    settle with a shorter budget) falls monotonically and ends at the fixed point's; also at a
    coarse exponential Euler step (tau / 2, below this net's measured bound, about 0.67 tau)."""
    m, x, y = tiny_mlp(gain=2.0)
    const = m.const_drive(x)
    start = m.zero_state(5, x)

    def total(s):
        return m.energy(x, s) + beta * m.cost(s[-1], y)

    curve = []
    for n in range(1, 61):
        s, st = relax_settle(m, const, start, beta=beta, target=y, iters=1, tol=0.0, tau_s=TAU, dt_s=dt,
                             t_max_s=n * dt)
        assert st.sweeps == n
        curve.append(total(s))
    curve = torch.stack(curve)  # (steps, batch)
    assert (curve[1:] <= curve[:-1] + 1e-12).all()
    assert (curve[0] - curve[-1] > 1e-3).all()  # it did descend
    end = _fixed_point(m, const, start, beta, y)
    assert (curve[-1] >= total(end) - 1e-9).all()


# ----------------------------------------------------------------------------------- settle time
def test_settle_time_is_reported_per_sample_in_seconds():
    m, x, y = tiny_mlp()
    const = m.const_drive(x)
    dt = TAU / 8
    _, st = relax_settle(m, const, m.zero_state(5, x), iters=200, tol=1e-8, tau_s=TAU, dt_s=dt)
    assert st.converged.all()
    torch.testing.assert_close(st.settle_time_s, st.steps.double() * dt)
    assert st.settle_time_s.max().item() == pytest.approx(st.sweeps * dt)  # stopped when the last settled
    assert (st.settle_time_s > TAU).all() and (st.settle_time_s < 200 * TAU).all()
    # a budget too short: every sample reports the whole budget, none converged
    _, st = relax_settle(m, const, m.zero_state(5, x), iters=1, tol=1e-12, tau_s=TAU, dt_s=dt, t_max_s=3 * TAU)
    assert st.sweeps == 24 and not st.converged.any()
    torch.testing.assert_close(st.settle_time_s, torch.full((5,), 24 * dt, dtype=torch.float64))


def test_default_step_and_budget_follow_the_time_constant():
    m, x, y = tiny_mlp()
    const = m.const_drive(x)
    _, st = relax_settle(m, const, m.zero_state(5, x), iters=3, tol=0.0, tau_s=TAU)
    assert st.sweeps == 12 and st.dt_s == TAU / 4  # t_max = iters tau, dt = tau / 4 (rho(K) < 1 here: no bound)


def test_counts_one_read_out_per_node_and_no_vector_reads():
    _, m, x, y = _build(MLP + ["analog.device=ideal"], n=4)
    m.begin_phase("free")
    const = m.const_drive(x)  # the input's drive, read once before the phase (counted as a read)
    before = m.event_counts()
    _, st = relax_settle(m, const, m.zero_state(4, x), iters=5, tol=0.0, tau_s=TAU)
    after = m.event_counts()
    assert after["phases"]["free"]["neuron_updates"] - before["phases"].get("free", {}).get("neuron_updates", 0) \
        == 4 * m.neurons_per_sweep()
    assert after["phases"]["free"]["sweeps"] == st.sweeps == 20  # 5 tau at dt = tau / 4
    for a, b in zip(before["layers"], after["layers"]):
        assert a["phases"].get("free") == b["phases"].get("free")  # no read counted inside the settle


# ----------------------------------------------------------------------------------- reads, noise
def test_settle_reads_skip_the_converters_but_keep_the_array():
    _, m, x, _ = _build(MLP + ["analog.device=ideal", "analog.inp_bits=2", "analog.out_bits=3",
                               "analog.out_bound=2.0", "analog.inp_bound=1.0"], n=4)
    syn = m.edges[0].synapse
    st = syn.storage
    xin = x.reshape(x.shape[0], -1).clamp(-1, 1)
    exact = xin @ st.weight.t()
    quantized = syn.read(xin)
    assert (quantized - exact).abs().max() > 1e-3  # the converters act on an iterative read
    with st.settle_reads():
        torch.testing.assert_close(syn.read(xin), exact)
        torch.testing.assert_close(syn.read_t(exact).reshape(4, -1), exact @ st.weight)
        assert st.counter is None
    assert st.periph.inp_bits == 2 and st.counter is not None  # restored
    # the read-out is the DAC's quantizer: 2 bits, bound 1 -> levels {-1, 0, 1}
    torch.testing.assert_close(st.digitize_state(torch.tensor([0.2, 0.6, -0.7], dtype=torch.float64)),
                               torch.tensor([0.0, 1.0, -1.0], dtype=torch.float64))


def test_white_read_noise_scales_with_the_step():
    """Per-read noise std sigma sqrt(tau / dt): the settled spread of one input repeated over a
    batch is the same for dt = tau / 2 and tau / 16 (a per-step draw of std sigma would shrink
    it by sqrt(8), about 2.8), and it is that of the card's sigma in size."""
    _, m, x, _ = _build(MLP + ["analog.device=ideal", "analog.out_noise_std=0.05"], n=1)
    xb = x.expand(400, *x.shape[1:]).contiguous()  # output noise: a draw per sample (weight noise is shared)
    const = m.const_drive(xb)
    spread = {}
    for div in (2, 16):
        m.begin_batch()
        m.begin_phase("free")
        s, _ = relax_settle(m, const, m.zero_state(400, xb), iters=1, tol=0.0, tau_s=TAU, dt_s=TAU / div,
                            t_max_s=20 * TAU)
        spread[div] = s[-1].std(0).mean().item()
    assert spread[2] > 1e-3
    assert 0.75 < spread[16] / spread[2] < 1.33


def test_white_noise_per_unit_time_does_not_depend_on_the_step():
    """Exponential Euler with the Ornstein-Uhlenbeck step noise: a node whose coupling is
    negligible (the output node of a net whose second layer has gain 1e-6) settles to the
    variance sigma^2 / 2 of ``tau dv = (u - v) dt + sigma sqrt(tau) dW`` at any step, sigma the
    per-read std measured on the same reads (a plain second estimate). Explicit Euler's
    ``sqrt(tau / dt)`` gave sigma^2 / (2 - dt / tau): 1.9x between dt = tau and tau / 10."""
    _, m, x, _ = _build(MLP + ["analog.device=ideal", "analog.out_noise_std=0.05", "model.gains=[1.0,1e-6]"],
                        n=1, seed=2)
    b = 3000
    xb = x.expand(b, *x.shape[1:]).contiguous()
    const = m.const_drive(xb)
    syn = m.edges[-1].synapse
    torch.manual_seed(0)
    m.begin_batch()
    with syn.storage.settle_reads(1.0):  # sigma: the per-read std (two reads of one state)
        s1 = torch.full((b, 12), 0.5, dtype=torch.float64)
        sigma = ((syn.read(s1) - syn.read(s1)).std() / math.sqrt(2)).item()
    var = {}
    for div in (1, 10):
        m.begin_batch()
        m.begin_phase("free")
        s, _ = relax_settle(m, const, m.zero_state(b, xb), iters=1, tol=0.0, tau_s=TAU, dt_s=TAU / div,
                            t_max_s=12 * TAU)
        var[div] = s[-1].var(0).mean().item()
    assert sigma > 0  # the card's output noise is relative to the tile's weight scale (tiny here)
    assert var[1] / var[10] == pytest.approx(1.0, abs=0.05)
    assert var[10] == pytest.approx(sigma ** 2 / 2, rel=0.05)


def test_the_step_bound_is_measured_and_named():
    """Above ``tau ln((rho + 1) / (rho - 1))`` (rho > 1: a strongly coupled net, gain 4) a given
    step is refused naming the bound; null picks half of it; a weakly coupled net (rho < 1) has
    no bound below tau."""
    from analog_ep.solvers.settle import exponential_euler_step

    assert exponential_euler_step(TAU, None, 0.9) == TAU / 4 and exponential_euler_step(TAU, TAU, 0.9) == TAU
    bound = TAU * math.log(6.0 / 4.0)  # rho = 5
    assert exponential_euler_step(TAU, None, 5.0) == pytest.approx(bound / 2)
    with pytest.raises(ConfigError, match=r"analog.settle_dt_s: .* stability bound dt < tau ln\(\(rho \+ 1\) / \(rho - 1\)\) = "
                                          r"4.055e-08 s \(rho = 5"):
        exponential_euler_step(TAU, 0.5 * TAU, 5.0)
    m, x, y = tiny_mlp(gain=4.0)
    const = m.const_drive(x)
    with pytest.raises(ConfigError, match="stability bound"):  # the model's first settle phase refuses
        relax_settle(m, const, m.zero_state(5, x), iters=2, tol=0.0, tau_s=TAU, dt_s=TAU)
    _, st = relax_settle(m, m.const_drive(x), m.zero_state(5, x), iters=2, tol=0.0, tau_s=TAU)  # cold rho
    assert st.dt_s < TAU / 4  # the measured bound binds
    # a later phase clamps to the default's half bound (tests/unit/test_settle_step.py)
    _, st2 = relax_settle(m, m.const_drive(x), m.zero_state(5, x), iters=2, tol=0.0, tau_s=TAU, dt_s=TAU)  # cold rho
    assert st2.dt_s == st.dt_s


# ----------------------------------------------------------------------------------- noise floor stop
def _noisy_mlp(noise=0.02):
    return _build(MLP + ["analog.device=ideal", f"analog.w_noise_std={noise}"], n=8, seed=1)


@pytest.mark.parametrize("solver", [relax_async, relax_sync])
def test_noise_floor_stops_before_the_budget_within_the_floor(solver):
    _, m, x, y = _noisy_mlp()
    const = m.const_drive(x)
    m.begin_batch()
    m.begin_phase("free")
    # the noiseless fixed point: the same tiles without read noise
    periph = [syn.storage.periph for syn in m.all_synapses()]
    import dataclasses
    for syn, p in zip(m.all_synapses(), periph):
        syn.storage.periph = dataclasses.replace(p, w_noise_std=0.0)
    clean = _fixed_point(m, const, m.zero_state(8, x))
    for syn, p in zip(m.all_synapses(), periph):
        syn.storage.periph = p
    budget = 300
    full, st_full = solver(m, const, m.zero_state(8, x), iters=budget, tol=1e-6)
    assert st_full.sweeps == budget and not st_full.converged.any()  # tol: a noisy read never gets there
    floor = st_full.trace[budget // 2:].mean().item()  # the residual's floor: its level once settled
    s, st = solver(m, const, m.zero_state(8, x), iters=budget, tol=1e-6, stop="noise_floor")
    assert st.sweeps < budget // 4
    assert st.settled.all() and not st.converged.any()  # settled honestly, not converged
    assert (st.steps <= st.sweeps).all()
    assert _dist(s, clean) < 3 * floor
    assert _dist(full, clean) < 3 * floor  # the full budget gets no closer


def test_noise_floor_is_tol_on_exact_reads():
    """Digital (and noiseless, converter-free) reads have no floor: the same sweeps and states,
    bit for bit, as ``stop: tol``, even where convergence is slow."""
    m, x, y = tiny_mlp(gain=2.0)
    const = m.const_drive(x)
    a, sa = relax_sync(m, const, m.zero_state(5, x), iters=400, tol=1e-12, damping=0.9)
    b, sb = relax_sync(m, const, m.zero_state(5, x), iters=400, tol=1e-12, damping=0.9, stop="noise_floor")
    assert sa.sweeps == sb.sweeps and torch.equal(sa.steps, sb.steps) and sb.settled is None
    assert all(torch.equal(p, q) for p, q in zip(a, b))


def test_noise_floor_is_tol_on_a_noiseless_settle_through_converters():
    """A settle bypasses DAC and ADC: converters alone set no floor for it (they do for an
    iterative read), so a noiseless settle on tiles with converters stops as ``tol`` would."""
    _, m, x, y = _build(MLP + ["analog.device=ideal", "analog.inp_bits=7", "analog.inp_bound=1",
                        "analog.out_bits=9", "analog.out_bound=12"], n=6)
    assert all(syn.storage.noisy_reads and not syn.storage.noisy_settle_reads for syn in m.all_synapses())
    const = m.const_drive(x)
    a, sa = relax_settle(m, const, m.zero_state(6, x), iters=40, tol=1e-7, tau_s=1e-7)
    b, sb = relax_settle(m, const, m.zero_state(6, x), iters=40, tol=1e-7, tau_s=1e-7, stop="noise_floor")
    assert sa.sweeps == sb.sweeps and torch.equal(sa.steps, sb.steps) and sb.settled is None
    assert all(torch.equal(p, q) for p, q in zip(a, b))
    _, noisy, _, _ = _build(MLP + ["analog.device=ideal", "analog.w_noise_std=0.02"], n=6)
    assert all(syn.storage.noisy_settle_reads for syn in noisy.all_synapses())


# ----------------------------------------------------------------------------------- config
def test_config_selects_the_settle_solver_with_the_circuit_constants():
    # the model built from the run's config: its periphery holds the neuron (the card's under the
    # analog.settle_* overrides) that the rule's settle takes its tau from
    keys = MLP + ["analog.device=ideal", "analog.relaxation=settle", "analog.settle_capacitance_f=2e-13",
                  "analog.settle_g_leak_s=1e-6", "analog.settle_dt_s=1e-8", "solver.stop=noise_floor"]
    cfg, m, _, _ = _build(keys)
    rule = build_rule(cfg, m)
    assert rule.solver.func is relax_settle
    kw = rule.solver.keywords
    assert kw["tau_s"] == pytest.approx(2e-7) and kw["dt_s"] == 1e-8 and kw["t_max_s"] is None
    assert kw["stop"] == "noise_floor" and kw["noise_patience"] == 5
    plain = build_rule(load_config(None, MLP), m)  # solver.stop: auto is the noise floor for a Hopfield solver
    assert plain.solver.func.__wrapped__ is relax_async.__wrapped__ and plain.solver.keywords["stop"] == "noise_floor"
    tol = build_rule(load_config(None, MLP + ["solver.stop=tol"]), m)
    assert "stop" not in tol.solver.keywords


def test_auto_stop_resolves_per_solver():
    """``solver.stop: auto`` (the default) is ``noise_floor`` for every solver that implements it
    and ``tol`` for a PCN's iterative phases (which have no noise-floor rule)."""
    from analog_ep.solvers.base import resolve_stop

    assert load_config(None, MLP).solver.stop == "auto"
    for name, energy in (("async", "hopfield"), ("sync", "hopfield"), ("settle", "hopfield"), ("settle", "pcn")):
        assert resolve_stop("auto", name, energy) == "noise_floor", (name, energy)
    assert resolve_stop("auto", "async", "pcn") == "tol"
    assert resolve_stop("tol", "async", "hopfield") == "tol"
    # a PCN config takes the default without the explicit rule's refusal
    pcn = load_config(None, ["model.name=pcn_vgg5", "data.name=synthetic", "data.shape=[3,32,32]"])
    assert pcn.solver.stop == "auto"


def _train_steps(over, steps=3):
    from analog_ep.train import make_trainer

    torch.manual_seed(0)
    t = make_trainer(load_config(None, MLP + ["data.batch_size=8", "data.train_size=32", "data.test_size=8",
                                              "solver.free_iters=40", "solver.nudge_iters=20"] + over), None)
    xs, ys = t.train_set.batch(slice(0, 8))
    stats = [t.train_step(xs, ys) for _ in range(steps)]
    return [p.detach().clone() for p in t.model.parameters()], stats


def test_auto_stop_keeps_digital_runs_and_stops_noisy_analog_phases_early():
    """Default stop on a digital run: bit for bit ``tol``. On noisy tiles: bit for bit
    ``noise_floor``, which stops the phases before the budget that ``tol`` runs out."""
    a, _ = _train_steps([])
    b, _ = _train_steps(["solver.stop=tol"])
    assert all(torch.equal(p, q) for p, q in zip(a, b))
    noisy = ["analog.device=ideal", "analog.w_noise_std=0.05"]
    a, sa = _train_steps(noisy)
    b, sb = _train_steps(noisy + ["solver.stop=noise_floor"])
    c, sc = _train_steps(noisy + ["solver.stop=tol"])
    assert all(torch.equal(p, q) for p, q in zip(a, b))
    assert not all(torch.equal(p, q) for p, q in zip(a, c))
    sweeps = lambda st: {k: v.sweeps for k, v in st[0][-1].items()}  # noqa: E731 (phase -> sweeps run)
    assert sweeps(sc) == {"free": 40, "nudge+": 20, "nudge-": 20}  # tol: the whole budget
    assert all(sweeps(sa)[k] < sweeps(sc)[k] for k in sweeps(sc)), sweeps(sa)


def test_a_run_stored_before_solver_stop_resumes_with_tol():
    """A stored config without ``solver.stop`` ran with ``tol`` (its default then); resuming it
    must not switch to today's ``auto``."""
    base = load_config(None, MLP)
    import dataclasses

    stored = dataclasses.asdict(base)
    del stored["solver"]["stop"]
    assert load_config(None, None, base=stored).solver.stop == "tol"
    stored["solver"]["stop"] = "noise_floor"
    assert load_config(None, None, base=stored).solver.stop == "noise_floor"


def test_training_with_settle_records_settle_time_per_phase(tmp_path):
    """One epoch of EP with the settle relaxation on ideal tiles: the history (results.h5) has
    each phase's mean settle time in seconds, within the phase's budget in time constants."""
    from analog_ep.train import fit, make_trainer

    cfg = load_config(None, MLP + ["analog.device=ideal", "analog.relaxation=settle", "data.batch_size=8",
                                   "data.train_size=48", "data.test_size=16", "train.epochs=1", "solver.free_iters=8",
                                   "solver.nudge_iters=4"])
    t = make_trainer(cfg, tmp_path)
    fit(t, progress=False)
    row = t.history[-1]
    # a nudged phase's default budget counts its own slowest time constants (at most 1 / floor tau each)
    for phase, budget in (("free", 8), ("nudge+", 4 / SLOWEST_RATE_FLOOR), ("nudge-", 4 / SLOWEST_RATE_FLOOR)):
        assert 0 < row[f"{phase}_settle_time_s"] <= budget * TAU * (1 + 1e-6), (phase, row)
    assert 0 < row["eval_settle_time_s"] <= 8 * TAU * (1 + 1e-6)
    assert "free_settled_fraction" not in row  # stop: tol reports converged fractions only


@pytest.mark.parametrize("relaxation", ["iterative", "settle"])
def test_a_noisy_training_run_stores_its_settled_fractions(tmp_path, relaxation):
    """Issue 20 (3): a run on the memristor card (read noise, converters) with the default stop
    (auto: the noise floor for noisy phases) stores each phase's settled fraction in results.h5
    beside its converged fraction: a fraction in [0, 1], at least the converged one (a sample
    that reaches ``tol`` is settled too), and above it somewhere (noisy reads rarely reach ``tol``:
    the floor is what stops them)."""
    from analog_ep.results import read_results
    from analog_ep.train import fit, make_trainer

    torch.manual_seed(0)
    cfg = load_config(None, MLP + ["analog.device=memristor", f"analog.relaxation={relaxation}",
                                   "data.batch_size=16", "data.train_size=64", "data.test_size=32",
                                   "train.epochs=1", "seed=0"])
    t = make_trainer(cfg, tmp_path)
    fit(t, progress=False)
    epochs = read_results(tmp_path / "results.h5")["epochs"]
    gaps = []
    for phase in ("free", "nudge+", "nudge-"):
        settled, converged = epochs[f"{phase}_settled_fraction"][-1], epochs[f"{phase}_converged_fraction"][-1]
        assert 0 <= converged <= settled <= 1, (phase, settled, converged)
        gaps.append(settled - converged)
    assert max(gaps) > 0, gaps


@pytest.mark.parametrize("overrides, match", [
    (["analog.relaxation=settle"], "analog.relaxation: settle runs the neurons on a device card"),
    (["analog.device=ideal", "analog.relaxation=settle", "analog.settle_capacitance_f=0"],
     "analog.settle_capacitance_f: must be > 0 farads"),
    (["analog.device=ideal", "analog.relaxation=settle", "analog.settle_g_leak_s=-1e-6"],
     "analog.settle_g_leak_s: must be > 0 siemens"),
    (["analog.device=ideal", "analog.relaxation=settle", "analog.settle_dt_s=0"], "analog.settle_dt_s: must be > 0"),
    (["analog.device=ideal", "analog.relaxation=settle", "analog.settle_t_max_s=-1"],
     "analog.settle_t_max_s: must be > 0"),
    (["analog.device=ideal", "analog.relaxation=settle", "algorithm=bp"], "analog.relaxation: settle relaxes"),
    (["analog.device=ideal", "analog.settle_dt_s=1e-8"], "analog.settle_dt_s: applies to analog.relaxation=settle"),
    (["solver.stop=noise_floor", "model.name=pcn_vgg5", "data.name=synthetic", "data.shape=[3,32,32]"],
     "solver.stop: noise_floor stops Hopfield-type"),
    (["solver.noise_patience=0"], "solver.noise_patience: must be >= 1"),
    (["solver.noise_drop=1.5"], r"solver.noise_drop: must be in \(0, 1\)"),
    (["solver.stop=never"], "solver.stop"),
])
def test_bad_input_is_one_line(overrides, match):
    with pytest.raises(ConfigError, match=match) as err:
        load_config(None, MLP + overrides)
    assert "\n" not in str(err.value)


def test_cli_refuses_settle_without_card_exit_2():
    from typer.testing import CliRunner

    from analog_ep.cli import app

    res = CliRunner().invoke(app, ["train", "--set", "analog.relaxation=settle"])
    assert res.exit_code == 2
    lines = [ln for ln in res.output.strip().splitlines() if ln]
    assert len(lines) == 1 and lines[0].startswith("error: analog.relaxation: settle"), res.output


def test_a_step_above_tau_is_one_line_where_the_card_is_resolved():
    """The bound ``dt <= tau`` needs the card's neuron, so the card's resolution refuses it (before
    a run's folder is touched: the trainer is built first)."""
    from analog_ep.train.build import resolve_device

    cfg = load_config(None, MLP + ["analog.device=ideal", "analog.relaxation=settle", "analog.settle_dt_s=2e-7"])
    with pytest.raises(ConfigError, match=r"above the settle's largest step dt <= tau = C / G_leak = 1e-07 s") as err:
        resolve_device(cfg)
    assert "\n" not in str(err.value)


def test_settle_time_bound_is_physical():
    """tau = C / G_leak with the default neuron (100 fF, 1 uS; the ideal card has none) is 100 ns."""
    from analog_ep.train.build import resolve_device

    _, periph = resolve_device(load_config(None, MLP + ["analog.device=ideal", "analog.relaxation=settle"]))
    assert math.isclose(periph.settle_tau_s, TAU)
