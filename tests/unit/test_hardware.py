"""`devices show`: the whole hardware a card implies, each value with its origin, and the cards
that cite an aihwkit preset carrying that preset's whole hardware."""

import json

import pytest
from typer.testing import CliRunner

from analog_ep.analog.cards import load_device
from analog_ep.analog.hardware import card_hardware, format_hardware
from analog_ep.cli import app
from analog_ep.config.schema import AnalogConfig
from analog_ep.errors import ConfigError

PRESET_CARDS = ("reram_sb", "reram_es", "ecram", "capacitor")


@pytest.mark.parametrize("name", PRESET_CARDS)
def test_preset_cards_carry_the_presets_whole_hardware(name):
    """aihwkit 1.2.0's presets: PresetIOParameters forward and backward, default mapping (no
    omega scaling), PresetUpdateParameters, tiles with their own IO."""
    hw = card_hardware(load_device(name))
    p = {k: v["value"] for k, v in hw["periphery"]["values"].items()}
    assert p["inp_bits"] == 7 and p["inp_bound"] == 1.0 and p["out_bits"] == 9
    assert p["out_bound"] == 20.0 and p["out_noise_std"] == 0.1 and p["w_noise_std"] == 0.0
    assert p["noise_management"] == "abs_max" and p["bound_management"] == "iterative"
    assert p["max_bm_factor"] == 1000 and p["max_bm_res"] == 0.25 and p["bm_test_negative_bound"] is True
    assert p["tiling"] == "equal" and p["nm_scope"] == "tile" and p["noise_policy"] == "per_read"
    # every aihwkit IOParameters value is the card's; read_integration (session 13) has no aihwkit
    # counterpart, so the presets keep its default, one card read window
    per = hw["periphery"]["values"]
    assert per["read_integration"] == {"value": 1.0, "from": "default"}
    assert all(v["from"] == "card" for k, v in per.items() if k != "read_integration")
    assert hw["mapping"]["values"] == {"kind": {"value": "identity", "from": "card"}}
    u = {k: v["value"] for k, v in hw["update"]["values"].items()}
    assert u == {"pulse_scheme": "bitstream", "pulse_accumulation": "per_vector", "bl": 31,
                 "update_management": True, "bl_management": True, "rounding": "stochastic"}
    for part in ("device", "periphery", "mapping", "update"):
        assert "aihwkit 1.2.0" in hw[part]["citation"]


def test_origins_separate_card_default_and_analog_keys():
    card = load_device("memristor")
    hw = card_hardware(card)
    v = hw["periphery"]["values"]
    assert v["out_bound"] == {"value": 12.0, "from": "card"}
    assert v["bound_management"] == {"value": "none", "from": "default"}
    assert hw["device"]["values"]["dw_min"]["from"] == "card"
    assert hw["device"]["values"]["prog_noise_std"]["from"] == "default"
    # the legacy mapping of a card without a mapping section: omega 0.5 x bound 1
    assert hw["mapping"]["values"]["omega"] == {"value": 0.5, "from": "default"}
    assert hw["update"]["values"]["pulse_scheme"] == {"value": "rounded", "from": "default"}
    # a run's analog.* keys win, and say so
    hw = card_hardware(card, AnalogConfig(out_bound=20.0, bound_management="iterative", mapping="identity",
                                          pulse_scheme="bitstream"))
    v = hw["periphery"]["values"]
    assert v["out_bound"] == {"value": 20.0, "from": "analog.out_bound"}
    assert v["bound_management"] == {"value": "iterative", "from": "analog.bound_management"}
    assert hw["mapping"]["values"]["kind"] == {"value": "identity", "from": "analog.mapping"}
    assert hw["update"]["values"]["pulse_scheme"] == {"value": "bitstream", "from": "analog.pulse_scheme"}
    text = format_hardware(hw)
    assert "analog.bound_management" in text and "pulse updates" in text


def test_devices_show_cli_text_and_json():
    runner = CliRunner()
    res = runner.invoke(app, ["devices", "show", "reram_sb", "--json"])
    assert res.exit_code == 0
    hw = json.loads(res.stdout)
    assert hw["rule"] == "soft_bounds" and hw["implied_states"] == 1001
    assert hw["mapping"]["values"]["kind"]["value"] == "identity"
    res = runner.invoke(app, ["devices", "show", "ecram"])
    assert res.exit_code == 0
    assert "bound_management" in res.stdout and "iterative" in res.stdout and "EcRamPresetDevice" in res.stdout


@pytest.mark.parametrize("body,needle", [
    ("sources: [a]\n", "sources: expected a mapping"),
    ("sources:\n  periphry: x\n", "sources.periphry: unknown part; did you mean sources.periphery?"),
    ("sources:\n  device: 3\n", "sources.device: expected a citation string"),
])
def test_bad_sources_section_is_one_line(tmp_path, body, needle):
    card = tmp_path / "c.yaml"
    card.write_text("rule: constant_step\nsource: test\ndw_min: 0.01\n" + body)
    with pytest.raises(ConfigError) as e:
        load_device(card)
    assert needle in str(e.value) and "\n" not in str(e.value)
    runner = CliRunner()
    res = runner.invoke(app, ["devices", "show", str(card)])
    assert res.exit_code == 2 and needle in res.output and len(res.output.strip().splitlines()) == 1


def test_the_settle_neuron_is_its_own_part_with_its_own_citation():
    """The settle neuron (``periphery.settle_*``) is shown apart from the reads' periphery, with
    the card's ``sources.neuron`` (an assumption on every shipped card, not the periphery's
    citation: aihwkit's presets have no neuron) and its time constant."""
    from analog_ep.analog.cards import list_devices

    for name in list_devices():
        hw = card_hardware(load_device(name))
        assert hw["neuron"]["citation"].startswith("Assumed, not measured or cited"), name
        assert not {"settle_capacitance_f", "settle_g_leak_s"} & set(hw["periphery"]["values"]), name
    hw = card_hardware(load_device("reram_sb"))
    v = hw["neuron"]["values"]
    assert v["settle_capacitance_f"] == {"value": 1e-13, "from": "card"}
    assert v["settle_g_leak_s"] == {"value": 95e-6, "from": "card"}
    assert v["tau_s"]["value"] == pytest.approx(1e-13 / 95e-6, rel=1e-12)
    assert "aihwkit" not in hw["neuron"]["citation"]
    hw = card_hardware(load_device("reram_sb"), AnalogConfig(settle_g_leak_s=1e-6))
    assert hw["neuron"]["values"]["settle_g_leak_s"] == {"value": 1e-6, "from": "analog.settle_g_leak_s"}
    assert hw["neuron"]["values"]["tau_s"]["value"] == pytest.approx(1e-7, rel=1e-12)
    assert "settle neuron" in format_hardware(hw)
