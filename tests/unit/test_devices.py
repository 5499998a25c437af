"""Analog devices: update rules against closed forms and scalar references, device draws, faults,
quantization, drift, the differential pair, and the device cards. (The pulse engine itself:
tests/unit/test_engine.py.)"""

import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from analog_ep.analog import cards as C
from analog_ep.analog import devices as D
from analog_ep.analog import pair as PA
from analog_ep.analog import population as PO
from analog_ep.analog import rules as RU
from analog_ep.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
F64 = torch.float64


def state_for(params, shape, seed=0, dtype=F64):
    return PO.sample_device_state(params, shape, seed, dtype=dtype)


# ------------------------------------------------------------------------------ closed forms


def test_soft_bounds_follows_the_closed_form_from_zero():
    p = RU.SoftBounds(dw_min=0.01, w_max=1.0, w_min=-1.0)
    n = torch.arange(0, 400)
    st = state_for(p, n.shape)
    w0 = torch.zeros(n.shape, dtype=F64)
    up_ref = 1.0 * (1 - (1 - 0.01 / 1.0) ** n.double())
    down_ref = -1.0 * (1 - (1 - 0.01 / 1.0) ** n.double())
    for closed in (True, False):  # exact closed form and the per-pulse loop
        assert torch.allclose(D.apply_pulses(w0, n, st, p, closed_form=closed), up_ref,
                              rtol=0, atol=1e-12)
        assert torch.allclose(D.apply_pulses(w0, -n, st, p, closed_form=closed), down_ref,
                              rtol=0, atol=1e-12)
    # one pulse at a time gives the same curve
    w, one = torch.zeros(1, dtype=F64), torch.ones(1, dtype=torch.int64)
    st1 = state_for(p, (1,))
    for k in range(1, 120):
        w = D.apply_pulses(w, one, st1, p)
        assert w.item() == pytest.approx(1 - 0.99 ** k, abs=1e-12)


def test_constant_step_steps_by_dw_min_and_saturates():
    p = RU.ConstantStep(dw_min=0.01)
    n = torch.arange(-150, 151)
    st = state_for(p, n.shape)
    w = D.apply_pulses(torch.zeros(n.shape, dtype=F64), n, st, p, closed_form=False)
    assert torch.allclose(w, (0.01 * n.double()).clamp(-1, 1), atol=1e-12)
    assert torch.equal(w[n >= 100], torch.ones_like(w[n >= 100]))
    assert torch.equal(w[n <= -100], -torch.ones_like(w[n <= -100]))
    # from the bound, one pulse back is exactly one step
    back = D.apply_pulses(w, torch.where(n >= 100, -1, 0), st, p)
    assert torch.allclose(back[n >= 100], torch.full_like(back[n >= 100], 0.99), atol=1e-12)
    assert torch.allclose(D.apply_pulses(torch.zeros(n.shape, dtype=F64), n, st, p), w, atol=1e-12)


# ------------------------------------------------------------------------------ scalar references


def ref_linear(w, up, p):  # aihwkit LinearStepDevice, mean_bound_reference, noise-free
    su, sd = p.dw_min, p.dw_min * (1 - p.up_down)
    w = w + su * (1 - p.gamma_up * w / p.w_max) if up else w - sd * (1 - p.gamma_down * w / p.w_min)
    return min(max(w, p.w_min), p.w_max)


def ref_exp(w, up, p):  # aihwkit ExpStepDevice, noise-free
    su, sd = p.dw_min, p.dw_min * (1 - p.up_down)
    z = 2 * w / (p.w_max - p.w_min) * p.a + p.b
    if up:
        w = w + max(1 - p.A_up * math.exp(p.gamma_up * z), 0) * su
    else:
        w = w - max(1 - p.A_down * math.exp(-p.gamma_down * z), 0) * sd
    return min(max(w, p.w_min), p.w_max)


def ref_pow(w, up, p):  # aihwkit PowStepDevice, noise-free
    su, sd = p.dw_min, p.dw_min * (1 - p.up_down)
    g_up = p.pow_gamma * (1 + min(p.pow_up_down, 0))
    g_dn = p.pow_gamma * (1 - max(p.pow_up_down, 0))
    r = p.w_max - p.w_min
    w = w + su * ((p.w_max - w) / r) ** g_up if up else w - sd * ((w - p.w_min) / r) ** g_dn
    return min(max(w, p.w_min), p.w_max)


def ref_piecewise(w, up, p):  # aihwkit PiecewiseStepDevice, noise-free
    v = p.piecewise_up if up else p.piecewise_down
    m = float(np.interp(w, np.linspace(p.w_min, p.w_max, len(v)), v))
    w = w + p.dw_min * m if up else w - p.dw_min * (1 - p.up_down) * m
    return min(max(w, p.w_min), p.w_max)


@pytest.mark.parametrize("params,ref", [
    (RU.LinearStep(dw_min=0.02, gamma_up=0.4, gamma_down=0.7, up_down=0.1), ref_linear),
    (RU.LinearStep(dw_min=0.03, gamma_up=0.1, gamma_down=0.5, w_max=1.2, w_min=-0.8,
                  mult_noise=False), ref_linear),
    (RU.ExpStep(dw_min=0.01, up_down=0.2), ref_exp),
    (RU.ExpStep(dw_min=0.00135, up_down=0.259359, a=-0.5, b=-0.5, gamma_up=5.0, gamma_down=5.0,
               A_up=-1.18445, A_down=-0.081404), ref_exp),
    (RU.PowStep(dw_min=0.02, pow_gamma=1.7, pow_up_down=0.2, up_down=0.1), ref_pow),
    (RU.PiecewiseStep(dw_min=0.02, piecewise_up=[2.0, 1.5, 0.3, 0.1],
                     piecewise_down=[0.2, 0.6, 1.4, 2.5], up_down=0.05), ref_piecewise),
], ids=["linear", "linear_add", "exp", "exp_reram", "pow", "piecewise"])
def test_rules_match_scalar_references(params, ref):
    w0 = [-0.95, -0.3, 0.0, 0.42, 0.97]
    sched = [5, -3, 40, -90, 7, 130, -2]
    st = state_for(params, (len(w0),))
    w = torch.tensor(w0, dtype=F64)
    expected = [min(max(x, params.w_min), params.w_max) for x in w0]  # devices hold their range
    for n in sched:
        w = D.apply_pulses(w, torch.full((len(w0),), n), st, params)
        for _ in range(abs(n)):
            expected = [ref(x, n > 0, params) for x in expected]
        assert torch.allclose(w, torch.tensor(expected, dtype=F64), rtol=0, atol=1e-12), n


def test_neurosim_follows_its_conductance_curve():
    p = RU.NeuroSim()  # Ag:a-Si: NL_LTP 2.4, NL_LTD -4.88, 97 / 100 levels
    a_ltp, a_ltd = 0.499181 * 97, -0.200303 * 100  # NeuroSim getParamA table * maxNumLevel

    def g(P, A, N):
        return (1 - math.exp(-P / A)) / (1 - math.exp(-N / A))

    st = state_for(p, (1,))
    w = torch.full((1,), -1.0, dtype=F64)
    for k in range(1, 98):
        w = D.apply_pulses(w, torch.ones(1, dtype=torch.int64), st, p)
        assert (w.item() + 1) / 2 == pytest.approx(g(k, a_ltp, 97), abs=2e-6)
    assert w.item() == 1.0
    for k in range(1, 101):  # depression walks the convex LTD curve down from its top
        w = D.apply_pulses(w, -torch.ones(1, dtype=torch.int64), st, p)
        assert (w.item() + 1) / 2 == pytest.approx(g(100 - k, a_ltd, 100), abs=2e-6)
    # multi-pulse from the middle: invert to the pulse index, step, as NeuroSim's Write
    w_mid = torch.tensor([0.1], dtype=F64)
    gm = 0.55
    P = -a_ltp * math.log(1 - gm * (1 - math.exp(-97 / a_ltp)))
    out = D.apply_pulses(w_mid, torch.tensor([7]), st, p)
    assert (out.item() + 1) / 2 == pytest.approx(g(P + 7, a_ltp, 97), abs=2e-6)


def test_neurosim_a_reproduces_neurosim_table():
    table = {0.01: 126.268958, 0.18: 7.012968, 1.0: 1.251653, 2.4: 0.499181, 4.88: 0.200303,
             8.99: 0.023073, 9.0: 0.022810}
    for nl, a in table.items():
        assert RU.neurosim_a(nl).item() == pytest.approx(a, abs=5.01e-7, rel=1e-9)  # 6 digits
        assert RU.neurosim_a(-nl).item() == pytest.approx(-a, abs=5.01e-7, rel=1e-9)


# ------------------------------------------------------------------------------ states, faults, noise


def test_device_draws_reproducible_from_seed_and_follow_aihwkit():
    p = RU.SoftBounds(dw_min=0.01, dw_min_dtod=0.3, up_down=0.1, up_down_dtod=0.05,
                     w_max_dtod=0.2, w_min_dtod=0.1, stuck_at_min_fraction=0.1,
                     drift_nu=0.05, drift_nu_std=0.01)
    a = PO.sample_device_state(p, (50, 40), 7).state_dict()
    b = PO.sample_device_state(p, (50, 40), 7).state_dict()
    c = PO.sample_device_state(p, (50, 40), 8).state_dict()
    for k in a:
        assert torch.equal(a[k], b[k])
        assert not torch.equal(a[k], c[k])
    st = PO.DeviceState.from_state_dict(a)
    assert st.shape == (50, 40) and st.stuck.dtype == torch.int8
    big = PO.sample_device_state(p, (200_000,), 1, dtype=F64)
    gain = (big.scale_up + big.scale_down + 0.1 * 0.01) / 2 / 0.01  # up_down shifts down steps
    assert gain.mean().item() == pytest.approx(1.0, abs=0.005)
    assert gain.std().item() == pytest.approx(0.3, rel=0.02)
    assert big.w_max.mean().item() == pytest.approx(1.0, abs=0.003)
    assert big.w_max.std().item() == pytest.approx(0.2, rel=0.02)
    assert torch.equal(big.nl_up, 1 / big.w_max)  # soft bounds refer to the device's own bound
    assert (big.stuck == -1).double().mean().item() == pytest.approx(0.1, abs=0.003)
    assert big.nu_plus.std().item() == pytest.approx(0.01, rel=0.02)


def test_cycle_to_cycle_noise_has_the_configured_std():
    n = 40_000
    p = RU.ConstantStep(dw_min=0.01, dw_min_std=0.3)
    w = D.apply_pulses(torch.zeros(n, dtype=F64), torch.ones(n), state_for(p, (n,)), p, 3)
    assert w.mean().item() == pytest.approx(0.01, rel=0.01)
    assert w.std().item() == pytest.approx(0.003, rel=0.03)
    # soft bounds: multiplicative noise scales with the step, additive noise does not
    for mult, expected in ((True, 0.01 * 0.5 * 0.4), (False, 0.01 * 0.4)):
        p = RU.SoftBounds(dw_min=0.01, dw_min_std=0.4, mult_noise=mult)
        w = D.apply_pulses(torch.full((n,), 0.5, dtype=F64), torch.ones(n), state_for(p, (n,)), p, 4)
        assert w.std().item() == pytest.approx(expected, rel=0.03)
    # NeuroSim: additive, ctoc_std of the range per pulse
    p = RU.NeuroSim(ctoc_std=0.035)
    w = D.apply_pulses(torch.zeros(n, dtype=F64), torch.ones(n), state_for(p, (n,)), p, 5)
    assert w.std().item() == pytest.approx(0.035 * 2, rel=0.03)


def test_distinct_conductances_never_exceed_n_states():
    gen = torch.Generator().manual_seed(0)
    for dtod in (0.0, 0.2):
        p = RU.ConstantStep(dw_min=0.07, dw_min_std=0.5, n_states=11, w_max_dtod=dtod,
                           w_min_dtod=dtod)
        st = state_for(p, (64,))
        w = torch.zeros(64, dtype=F64)
        seen = []
        for _ in range(150):
            w = D.apply_pulses(w, torch.randint(-4, 5, (64,), generator=gen), st, p, gen)
            seen.append(w)
        seen = torch.stack(seen)
        per_device = [torch.unique(seen[:, i]).numel() for i in range(64)]
        assert max(per_device) <= 11 and max(per_device) >= 8
        if dtod == 0:
            assert torch.unique(seen).numel() <= 11
    assert RU.implied_states(RU.ConstantStep(dw_min=0.01)) == 201
    assert RU.implied_states(RU.ConstantStep(dw_min=0.01, n_states=33)) == 33


def test_stuck_devices_never_move():
    p = RU.SoftBounds(dw_min=0.05, dw_min_std=0.3, stuck_at_min_fraction=0.1,
                     stuck_at_max_fraction=0.15, w_max_dtod=0.1, w_min_dtod=0.1)
    st = state_for(p, (40, 50), seed=2)
    lo, hi = st.stuck == -1, st.stuck == 1
    assert 0.05 < lo.double().mean() < 0.15 and 0.1 < hi.double().mean() < 0.2
    gen = torch.Generator().manual_seed(1)
    w = PO.settle(torch.zeros(40, 50, dtype=F64), st, p)
    start = w.clone()
    for _ in range(30):
        w = D.apply_pulses(w, torch.randint(-5, 6, (40, 50), generator=gen), st, p, gen)
        assert torch.equal(w[lo], st.w_min[lo]) and torch.equal(w[hi], st.w_max[hi])
    free = st.stuck == 0
    assert (w[free] != start[free]).double().mean() > 0.9


def test_program_and_write_noise():
    p = RU.ConstantStep(dw_min=0.01, prog_noise_std=0.05, w_max=2.0, w_min=-1.0,
                       write_noise_std=3.0)
    n = 50_000
    st = state_for(p, (n,))
    w = PA.program(torch.full((n,), 0.5, dtype=F64), st, p, 0)
    assert w.std().item() == pytest.approx(0.05 * 2.0, rel=0.03)  # relative to w_scale = 2
    offset = torch.zeros(n, dtype=F64)
    pulses = torch.zeros(n, dtype=torch.int64)
    pulses[: n // 2] = 1
    offset = D.redraw_write_noise(offset, pulses, p, 1)
    assert torch.equal(offset[n // 2:], torch.zeros(n - n // 2, dtype=F64))
    assert offset[: n // 2].std().item() == pytest.approx(3.0 * 0.01, rel=0.03)


# ------------------------------------------------------------------------------ drift, pair


def test_drift_follows_the_power_law():
    p = RU.ConstantStep(drift_nu=0.05, t0_s=20.0, g_min_us=1.0, g_max_us=25.0)
    st = state_for(p, (5,))
    w0 = torch.tensor([-1.0, -0.4, 0.0, 0.3, 1.0], dtype=F64)
    gp, gm = PA.to_conductances(w0, p)
    for t in (1.0, 20.0, 200.0, 2e4, 3.15e7):
        f = max(t / 20.0, 1.0) ** -0.05
        assert torch.allclose(PA.drift_conductance(gp, t, st.nu_plus, 20.0), gp * f, rtol=1e-14)
        # both devices drift alike without spread: w scales by the same factor
        assert torch.allclose(PA.drift(w0, t, st, p), w0 * f, rtol=1e-14, atol=1e-15)
    # with spread each device of the pair follows its own exponent
    p2 = RU.ConstantStep(drift_nu=0.06, drift_nu_std=0.02, t0_s=20.0, g_min_us=1.0, g_max_us=25.0)
    st2 = state_for(p2, (5,), seed=3)
    t = 1e5
    expect = (gp * (t / 20) ** -st2.nu_plus - gm * (t / 20) ** -st2.nu_minus) / 24.0
    assert torch.allclose(PA.drift(w0, t, st2, p2), expect, rtol=1e-12)


def test_differential_pair_round_trip():
    p = RU.SoftBounds(w_max=1.25, w_min=-0.75, g_min_us=2.0, g_max_us=40.0)
    w = torch.linspace(-0.75, 1.25, 101, dtype=F64)
    gp, gm = PA.to_conductances(w, p)
    assert RU.weight_scale(p) == 1.25
    assert (gp >= 2.0).all() and (gp <= 40.0).all() and (gm >= 2.0).all() and (gm <= 40.0).all()
    assert ((gp == 2.0) | (gm == 2.0)).all()
    assert torch.allclose(PA.from_conductances(gp, gm, p), w, atol=1e-14)
    assert torch.allclose((gp - gm) / (40.0 - 2.0) * 1.25, w, atol=1e-14)
    assert gp[-1].item() == 40.0
    gp, gm = PA.to_conductances(torch.tensor([3.0, -3.0]), p)  # beyond the scale: clipped
    assert gp.tolist() == [40.0, 2.0] and gm.tolist() == [2.0, 40.0]


# ------------------------------------------------------------------------------ response, cards


def test_response_curve():
    card = C.load_device("ideal")
    r = D.response(card.params, 20, n_devices=8, seed=0)
    assert set(r) == {"pulses", "w_mean", "w_std"} and len(r["w_mean"]) == 41
    expect = [1e-4 * k for k in range(21)] + [1e-4 * (20 - k) for k in range(1, 21)]
    assert np.allclose(r["w_mean"], expect, atol=1e-12) and max(r["w_std"]) < 1e-12
    m1 = D.response(C.load_device("memristor").params, 30, 50, seed=4)
    m2 = D.response(C.load_device("memristor").params, 30, 50, seed=4)
    assert m1 == m2 and m1["w_mean"][30] > 0.2 and m1["w_std"][30] > 0


SHIPPED = {"ideal", "memristor", "reram_es", "reram_sb", "ecram", "capacitor", "pcm", "neurosim",
           # the seven devices of MLP+NeuroSim V3.0's benchmark table (Ag:a-Si is neurosim)
           "taox_hfox", "pcmo", "alox_hfo2", "gst_pcm", "epiram", "hzo_fefet"}


def test_every_shipped_card_loads_with_its_implied_states():
    assert set(C.list_devices()) == SHIPPED
    rules = set()
    for name in C.list_devices():
        card = C.load_device(name)
        text = Path(card.path).read_text()
        stated = int(re.search(r"implied states: (\d+)", text).group(1))
        assert card.implied_states == stated, name
        assert len(card.source) > 20 and card.name == name
        rules.add(card.rule)
        again, periphery = C.params_from_dict(card.to_dict())
        assert again == card.params and periphery == card.periphery
    assert rules == {"constant_step", "soft_bounds", "exp_step", "linear_step", "neurosim"}
    assert C.load_device("memristor").implied_states == 201
    assert C.load_device("neurosim").implied_states == 101
    assert C.load_device("pcm").params.drift_nu > 0 and C.load_device("pcm").periphery is not None
    # the repository's devices/ folder links to the shipped cards
    assert C.load_device(ROOT / "devices" / "memristor.yaml").params == C.load_device("memristor").params
    assert C.load_device("memristor.yaml").name == "memristor"


@pytest.mark.parametrize("change,msg", [
    ({"g_min_us": 200.0}, "g_min_us: must be < g_max_us (100.0), got 200.0"),
    ({"w_min": 1.0}, "w_min: must be < w_max (1.0), got 1.0"),
    ({"dw_min": 0.0}, "dw_min: must be > 0, got 0.0"),
    ({"dw_min_std": -0.1}, "dw_min_std: must be >= 0, got -0.1"),
    ({"w_max_dtod": -1}, "w_max_dtod: must be >= 0"),
    ({"stuck_at_min_fraction": 1.5}, "stuck_at_min_fraction: must be in [0, 1], got 1.5"),
    ({"stuck_at_min_fraction": 0.6, "stuck_at_max_fraction": 0.6},
     "stuck_at_max_fraction: stuck_at_min_fraction + stuck_at_max_fraction must be <= 1"),
    ({"n_states": 1}, "n_states: must be an integer >= 2 or null, got 1"),
    ({"drift_nu": -0.1}, "drift_nu: must be >= 0"),
    ({"t0_s": 0}, "t0_s: must be > 0"),
    ({"periphery": {"out_bits": 0, "out_bound": 1.0}}, "periphery.out_bits: must be an integer >= 1"),
    ({"periphery": {"inp_bits": 8, "inp_bound": 0.0}}, "periphery.inp_bound: must be > 0"),
    ({"periphery": {"out_noise_std": -0.5}}, "periphery.out_noise_std: must be >= 0"),
    ({"periphery": {"adc_bits": 8}}, "periphery.adc_bits: unknown key; valid keys: periphery.inp_bits"),
    ({"dw_mn": 0.1}, "dw_mn: unknown key for rule soft_bounds; did you mean dw_min? valid keys: source, rule, description"),
    ({"gamma_up": 0.1}, "gamma_up: unknown key for rule soft_bounds (gamma_up belongs to rule "
                        "linear_step / exp_step)"),
    ({"rule": "softbounds"}, "rule: unknown update rule 'softbounds'; valid: constant_step"),
    ({"dw_min": "fast"}, "dw_min: expected float, got 'fast'"),
    ({"mult_noise": "yes"}, "mult_noise: expected bool"),
    ({"n_states": 2.5}, "n_states: expected int or null, got 2.5"),
])
def test_bad_card_values_name_file_and_key(tmp_path, change, msg):
    data = yaml.safe_load((ROOT / "analog_ep/analog/cards/memristor.yaml").read_text())
    data.update(change)
    f = tmp_path / "bad.yaml"
    f.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as e:
        C.load_device(f)
    assert str(e.value).startswith(f"{f}: ") and msg in str(e.value), str(e.value)
    assert "\n" not in str(e.value)


def test_bad_neurosim_card_and_missing_files(tmp_path):
    f = tmp_path / "ns.yaml"
    f.write_text("source: x\nrule: neurosim\nnl_ltp: 12\n")
    with pytest.raises(ConfigError, match=r"ns.yaml: nl_ltp: must be in \[-9, 9\]"):
        C.load_device(f)
    f.write_text("source: x\nrule: neurosim\nn_levels_ltd: 0\n")
    with pytest.raises(ConfigError, match="ns.yaml: n_levels_ltd: must be an integer >= 1"):
        C.load_device(f)
    f.write_text("source: x\nrule: [oops\n")
    with pytest.raises(ConfigError, match="ns.yaml: invalid YAML at line"):
        C.load_device(f)
    f.write_text("source: x\n")
    with pytest.raises(ConfigError, match="ns.yaml: rule: missing; valid rules: constant_step"):
        C.load_device(f)
    with pytest.raises(ConfigError, match="memristorr: device card not found; .* shipped devices: "
                                          "alox_hfo2, capacitor, ecram, epiram, gst_pcm, hzo_fefet, ideal, memristor"):
        C.load_device("memristorr")
    missing = tmp_path / "nope" / "dev.yaml"
    with pytest.raises(ConfigError, match=f"{re.escape(str(missing))}: device card not found"):
        C.load_device(missing)
