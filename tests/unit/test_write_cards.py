"""Device cards' write physics (``write:`` section) and the NeuroSim V3.0 benchmark cards: values
from the benchmark table, the neurosim rule's pulse response on each new card against its closed
form, ``write:`` validation, overrides, checkpoint round trip and ``devices show``."""

import dataclasses
import json
import math

import pytest
import torch
from typer.testing import CliRunner

from analog_ep.analog import devices as D
from analog_ep.analog import population as PO
from analog_ep.analog import rules as RU
from analog_ep.analog.cards import card_from_dict, load_device, resolve_card, write_warning
from analog_ep.analog.hardware import card_hardware, format_hardware
from analog_ep.cli import app
from analog_ep.errors import ConfigError

# MLP+NeuroSim V3.0 manual, Table II: NL_LTP, NL_LTD, states, R_on (ohm), on/off, C2C sigma,
# (|V|, width) of the weight-increase and weight-decrease pulses
TABLE_II = {
    "neurosim": (2.4, -4.88, (97, 100), 26e6, 12.5, 0.035, (3.2, 300e-6), (2.8, 300e-6)),
    "taox_hfox": (0.04, -0.63, (128, 128), 100e3, 10, 0.037, (1.6, 50e-9), (1.6, 50e-9)),
    "pcmo": (3.68, -6.76, (50, 50), 23e6, 6.84, 0.01, (2.0, 1e-3), (2.0, 1e-3)),
    "alox_hfo2": (1.94, -0.61, (40, 40), 16.9e3, 4.43, 0.05, (0.9, 100e-6), (1.0, 100e-6)),
    "gst_pcm": (0.105, 2.4, (100, 120), 4.71e3, 19.8, 0.015, (0.7, 6e-6), (3.0, 125e-9)),
    "epiram": (0.5, -0.5, (64, 64), 81e3, 50.2, 0.02, (5.0, 5e-6), (3.0, 5e-6)),
    "hzo_fefet": (1.75, 1.46, (32, 32), 559.28e3, 45, 0.005, (3.65, 75e-9), (2.95, 75e-9)),
}


@pytest.mark.parametrize("name", list(TABLE_II))
def test_neurosim_benchmark_cards_carry_the_table(name):
    ltp, ltd, (n_up, n_down), r_on, on_off, c2c, up, down = TABLE_II[name]
    card = load_device(name)
    p = card.params
    assert card.rule == "neurosim" and (p.nl_ltp, p.nl_ltd) == (ltp, ltd)
    assert (p.n_levels_ltp, p.n_levels_ltd) == (n_up, n_down) and card.implied_states == max(n_up, n_down) + 1
    assert p.g_max_us == pytest.approx(1e6 / r_on, rel=1e-4)
    assert p.g_max_us / p.g_min_us == pytest.approx(on_off, rel=1e-4)
    assert p.ctoc_std == c2c and (p.w_min, p.w_max) == (-1.0, 1.0)
    w = card.write
    assert (w.v_set, w.t_set_s) == up and (w.v_reset, w.t_reset_s) == down
    assert write_warning(card) is None and "Table II" in card.sources["write"]


@pytest.mark.parametrize("name", [n for n in TABLE_II if n != "neurosim"])
def test_new_cards_step_along_the_neurosim_curve(name):
    """Noise off, one pulse at a time from the bottom of the range up and back down: the
    normalized weight follows g(P) = (1 - exp(-P/A)) / (1 - exp(-N/A)), A = a(NL) N."""
    p = dataclasses.replace(load_device(name).params, ctoc_std=0.0)

    def g(P, A, N):
        return (1 - math.exp(-P / A)) / (1 - math.exp(-N / A))

    a_up = RU.neurosim_a(p.nl_ltp).item() * p.n_levels_ltp
    a_down = RU.neurosim_a(p.nl_ltd).item() * p.n_levels_ltd
    st = PO.sample_device_state(p, (1,), 0, dtype=torch.float64)
    w = torch.full((1,), -1.0, dtype=torch.float64)
    for k in range(1, p.n_levels_ltp + 1):
        w = D.apply_pulses(w, torch.ones(1, dtype=torch.int64), st, p)
        assert (w.item() + 1) / 2 == pytest.approx(g(k, a_up, p.n_levels_ltp), abs=2e-6)
    assert w.item() == pytest.approx(1.0, abs=1e-12)
    for k in range(1, p.n_levels_ltd + 1):
        w = D.apply_pulses(w, -torch.ones(1, dtype=torch.int64), st, p)
        assert (w.item() + 1) / 2 == pytest.approx(g(p.n_levels_ltd - k, a_down, p.n_levels_ltd), abs=2e-6)


def test_shipped_write_sections():
    m = load_device("memristor").write  # NeuroSim IdealDevice: 2 V / 10 ns
    assert (m.v_set, m.v_reset, m.t_set_s, m.t_reset_s) == (2.0, 2.0, 1e-8, 1e-8)
    assert m.energy_j("set", 5e-6) == pytest.approx(0.2e-12)  # hardware_costs.md 3.3: 0.2 pJ at 5 uS
    pcm = load_device("pcm").write
    assert pcm.energy_j("set", None) == 0.675e-12 and pcm.energy_j("reset", 1.0) == 0.675e-12
    fefet = load_device("hzo_fefet").write
    assert fefet.energy_j("set", 1e-6) == pytest.approx(3.65 ** 2 * 2.1717e-18, rel=1e-4)
    ns = load_device("neurosim").write  # Ag:a-Si at G_max 38.5 nS: about 118 pJ per SET
    assert ns.energy_j("set", 38.462e-9) * 1e12 == pytest.approx(118, abs=0.5)
    assert load_device("ideal").write.ideal and load_device("ideal").write.energy_j("set", None) == 0.0
    for name in ("reram_sb", "reram_es", "capacitor"):
        card = load_device(name)
        assert card.write is None
        msg = write_warning(card)
        assert msg.startswith(f"device card {name} has no write: section (missing v_set (or e_set_j), t_set_s")
        assert "energy and latency are reported as unknown (null)" in msg and "\n" not in msg
    ecram = write_warning(load_device("ecram"))
    assert "missing v_set (or e_set_j), v_reset (or e_reset_j)" in ecram and "write energy is reported" in ecram


@pytest.mark.parametrize("body,needle", [
    ("write:\n  v_sett: 2.0\n", "write.v_sett: unknown key; did you mean write.v_set?"),
    ("write:\n  t_reset: 1.0e-8\n", "write.t_reset: unknown key; did you mean write.t_reset_s?"),
    ("write:\n  v_set: 0\n", "write.v_set: must be > 0"),
    ("write:\n  e_reset_j: -1.0e-12\n", "write.e_reset_j: must be > 0"),
    ("write:\n  ideal: true\n  v_set: 2.0\n", "write.ideal: an ideal device writes at no cost, so v_set cannot"),
    ("write: 3\n", "write: expected a mapping of keys"),
    ("write:\n  v_set: fast\n", "write.v_set: expected float or null, got 'fast'"),
    ("sources:\n  writ: x\n", "sources.writ: unknown part; did you mean sources.write?"),
])
def test_bad_write_section_is_one_line(tmp_path, body, needle):
    card = tmp_path / "c.yaml"
    card.write_text("rule: constant_step\nsource: test\ndw_min: 0.01\n" + body)
    with pytest.raises(ConfigError) as e:
        load_device(card)
    assert str(e.value).startswith(f"{card}: ") and needle in str(e.value), str(e.value)
    assert "\n" not in str(e.value)
    res = CliRunner().invoke(app, ["devices", "show", str(card)])
    assert res.exit_code == 2 and needle in res.output and len(res.output.strip().splitlines()) == 1


def test_write_overrides_and_round_trip():
    card = resolve_card("neurosim", {"write": {"v_set": 3.0}})
    assert card.write.v_set == 3.0 and card.write.v_reset == 2.8
    assert card_from_dict(card.to_dict(), card.name, card.path) == card
    card = resolve_card("reram_sb", {"write": {"e_set_j": 1e-13, "e_reset_j": 1e-13, "t_set_s": 1e-8,
                                               "t_reset_s": 1e-8}})
    assert write_warning(card) is None
    with pytest.raises(ConfigError, match=r"^device.write.v_st: unknown key; did you mean device.write.v_set\?"):
        resolve_card("neurosim", {"write": {"v_st": 3.0}})
    with pytest.raises(ConfigError, match=r"^device.write.t_set_s: must be > 0"):
        resolve_card("neurosim", {"write": {"t_set_s": 0.0}})


def test_devices_show_prints_the_write_physics():
    hw = card_hardware(load_device("neurosim"))
    w = hw["write"]
    g = 0.5 * (0.0030769 + 0.038462)
    assert w["g_mid_us"] == pytest.approx(g)
    assert w["per_pulse"]["set"]["energy_j"] == pytest.approx(3.2 ** 2 * g * 1e-6 * 3e-4)
    assert w["per_pulse"]["reset"]["width_s"] == 3e-4 and w["missing"] == []
    assert w["values"]["v_set"] == {"value": 3.2, "from": "card"} and "Table II" in w["citation"]
    text = format_hardware(hw)
    assert "write physics" in text and "set pulse: energy" in text
    res = CliRunner().invoke(app, ["devices", "show", "reram_sb", "--json"])
    assert res.exit_code == 0
    out = json.loads(res.stdout)["write"]
    assert out["per_pulse"]["set"] == {"energy_j": None, "width_s": None} and "t_set_s" in out["missing"]
    res = CliRunner().invoke(app, ["devices", "show", "reram_sb"])
    assert "missing: v_set (or e_set_j)" in res.stdout and "energy unknown" in res.stdout
