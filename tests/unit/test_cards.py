"""Device cards in effect: ``device.*`` overrides (resolve_card), checkpoint round trip
(card_from_dict), the effective periphery, and the shipped cards' periphery sections."""

import dataclasses

import pytest
import yaml

from analog_ep.analog.cards import (DeviceCard, card_from_dict, effective_periphery, list_devices, load_device,
                                    resolve_card)
from analog_ep.analog.periphery import PeripheryParams
from analog_ep.config import AnalogConfig, load_config
from analog_ep.errors import ConfigError


def test_resolve_card_applies_overrides_on_top_of_the_card():
    base = load_device("memristor")
    assert resolve_card("memristor", None) == base and resolve_card("memristor", {}) == base
    card = resolve_card("memristor", {"dw_min_std": 0.3, "n_states": 64, "periphery": {"out_bits": 6}})
    assert isinstance(card, DeviceCard) and (card.name, card.path, card.source) == (base.name, base.path, base.source)
    assert card.params.dw_min_std == 0.3 and card.params.n_states == 64
    assert card.params == dataclasses.replace(base.params, dw_min_std=0.3, n_states=64)
    # periphery keys merge one by one: the rest of the card's section stays
    assert card.periphery == dataclasses.replace(base.periphery, out_bits=6)
    assert card.implied_states == 64


def test_resolve_card_from_a_config_and_a_card_path(tmp_path):
    cfg = load_config(None, ["analog.device=memristor", "device.dw_min=0.02", "device.periphery.inp_bits=5"])
    card = resolve_card(cfg.analog.device, cfg.device)
    assert card.params.dw_min == 0.02 and card.periphery.inp_bits == 5 and card.implied_states == 101
    f = tmp_path / "dev.yaml"
    f.write_text("source: test\nrule: constant_step\ndw_min: 0.01\n")
    card = resolve_card(str(f), {"periphery": {"out_bits": 4, "out_bound": 2.0}, "w_max_dtod": 0.1})
    assert card.periphery == PeripheryParams(out_bits=4, out_bound=2.0)  # from the ideal defaults
    assert card.params.w_max_dtod == 0.1
    assert resolve_card("memristor", {"periphery": None}).periphery is None  # periphery: null removes it


@pytest.mark.parametrize("overrides,msg", [
    ({"dw_min_std": -1}, "device.dw_min_std: must be >= 0, got -1"),
    ({"dw_min": 0}, "device.dw_min: must be > 0"),
    ({"n_states": 1}, "device.n_states: must be an integer >= 2 or null, got 1"),
    ({"n_states": 2.5}, "device.n_states: expected int or null, got 2.5"),
    ({"dw_min_std": "big"}, "device.dw_min_std: expected float, got 'big'"),
    ({"n_state": 64}, "device.n_state: unknown key for rule soft_bounds; did you mean device.n_states? "
                      "valid keys: device.periphery, device.mapping, device.write, device.w_max"),
    ({"dw_min_sd": 0.3}, "device.dw_min_sd: unknown key for rule soft_bounds; did you mean device.dw_min_std?"),
    ({"gamma_up": 0.1}, "device.gamma_up: unknown key for rule soft_bounds (gamma_up belongs to rule "
                        "linear_step / exp_step); valid keys: device.periphery, device.mapping"),
    ({"periphery": {"out_bit": 6}}, "device.periphery.out_bit: unknown key; did you mean device.periphery.out_bits? "
                                    "valid keys: device.periphery.inp_bits"),
    ({"periphery": {"out_bits": 0}}, "device.periphery.out_bits: must be an integer >= 1 or null, got 0"),
    ({"periphery": {"noise_management": "max"}}, "device.periphery.noise_management: must be one of none, abs_max"),
    ({"periphery": 3}, "device.periphery: expected a mapping of keys, got 3"),
    ({"w_max": -2.0}, "device.w_min: must be < w_max (-2.0), got -1.0 (card memristor with the overrides "
                      "device.w_max)"),
    ({"rule": "exp_step"}, "device.rule: the update rule of a card cannot be overridden (the parameters of memristor "
                           "belong to rule soft_bounds), got 'exp_step'; copy"),
    ({"source": "me"}, "device.source: is card metadata, not a device parameter"),
])
def test_impossible_overrides_are_refused_naming_the_device_key(overrides, msg):
    with pytest.raises(ConfigError) as e:
        resolve_card("memristor", overrides)
    assert str(e.value).startswith(msg), str(e.value)
    assert "\n" not in str(e.value)


def test_unknown_keys_in_card_files_get_the_closest_key(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("source: x\nrule: soft_bounds\ndw_mn: 0.01\n")
    with pytest.raises(ConfigError, match=rf"^{f}: dw_mn: unknown key for rule soft_bounds; did you mean dw_min\? "
                                          r"valid keys: source, rule, description, periphery, mapping, update, sources, write, w_max"):
        load_device(f)
    f.write_text("source: x\nrule: soft_bounds\nperiphery:\n  noise_managment: abs_max\n")
    with pytest.raises(ConfigError, match=r"periphery.noise_managment: unknown key; did you mean "
                                          r"periphery.noise_management\?"):
        load_device(f)
    f.write_text("source: x\nrule: soft_bounds\nxyz: 1\n")  # nothing close: no suggestion
    with pytest.raises(ConfigError, match=r"xyz: unknown key for rule soft_bounds; valid keys: source"):
        load_device(f)


@pytest.mark.parametrize("name", list_devices())
def test_card_from_dict_rebuilds_every_shipped_card(name):
    card = load_device(name)
    data = card.to_dict()
    assert card_from_dict(data, card.name, card.path) == card
    # as a checkpoint stores it (YAML text) and with overrides applied
    assert card_from_dict(yaml.safe_load(yaml.safe_dump(data, sort_keys=False)), card.name, card.path) == card
    resolved = resolve_card(name, {"w_max_dtod": 0.01})
    assert card_from_dict(resolved.to_dict(), name, card.path) == resolved


def test_to_dict_holds_every_value_and_card_from_dict_validates():
    card = load_device("memristor")
    data = card.to_dict()
    periph = data["periphery"]
    assert set(periph) == {f.name for f in dataclasses.fields(PeripheryParams)}
    assert None not in periph.values()  # every converter is set on this card
    assert {f.name for f in dataclasses.fields(card.params)} <= set(data) and data["rule"] == "soft_bounds"
    assert load_device("ideal").to_dict()["periphery"] is None
    pcm = load_device("pcm").to_dict()["periphery"]
    assert pcm["ir_drop"] == 0.0 and pcm["noise_management"] == "abs_max"  # defaults written out
    bad = dict(data, dw_min=-0.5)
    with pytest.raises(ConfigError, match=r"^device card memristor \(ckpt\): dw_min: must be > 0"):
        card_from_dict(bad, "memristor", "ckpt")


def test_effective_periphery_precedence():
    card = resolve_card("memristor", {"periphery": {"out_bits": 6, "out_noise_std": 0.1}})
    assert effective_periphery(card, AnalogConfig()) == card.periphery
    cfg = load_config(None, ["analog.device=memristor", "device.periphery.out_bits=6", "analog.out_bits=4",
                             "analog.ir_drop=0.1", "analog.noise_policy=per_phase"])
    p = effective_periphery(resolve_card(cfg.analog.device, cfg.device), cfg.analog)
    assert (p.out_bits, p.ir_drop, p.noise_policy) == (4, 0.1, "per_phase")  # analog.* wins over device.*
    assert (p.inp_bits, p.out_bound, p.noise_management) == (7, 12.0, "abs_max")  # the rest is the card's
    ideal = load_device("ideal")
    assert effective_periphery(ideal, AnalogConfig()) == PeripheryParams() and PeripheryParams().ideal
    p = effective_periphery(ideal, AnalogConfig(out_bits=8, out_bound=20.0, w_noise_std=0.02))
    assert p == PeripheryParams(out_bits=8, out_bound=20.0, w_noise_std=0.02)


def test_effective_periphery_errors_name_the_analog_key():
    with pytest.raises(ConfigError, match=r"^analog.out_bits: needs a converter full scale, and card ideal has no "
                                          r"periphery.out_bound, got 8; add --set analog.out_bound=VALUE"):
        effective_periphery(load_device("ideal"), AnalogConfig(out_bits=8))
    with pytest.raises(ConfigError, match=r"^analog.ir_drop: must be in \[0, 1\]"):
        effective_periphery(load_device("ideal"), AnalogConfig(ir_drop=2.0))
    # the card's bound serves a bits override
    assert effective_periphery(load_device("memristor"), AnalogConfig(out_bits=4)).out_bits == 4


def test_shipped_peripheries():
    assert load_device("ideal").periphery is None
    m = load_device("memristor").periphery
    assert m is not None and not m.ideal
    # aihwkit IOParameters defaults: 7-bit DAC at 1.0, 9-bit ADC at 12, out_noise 0.06, abs_max
    assert m == PeripheryParams(inp_bits=7, inp_bound=1.0, out_bits=9, out_bound=12.0, w_noise_std=0.0,
                                out_noise_std=0.06, ir_drop=0.0, noise_policy="per_read", noise_management="abs_max",
                                settle_capacitance_f=1e-13, settle_g_leak_s=95e-6)  # the settle neuron: 100 fF, g span


def test_noise_management_field():
    assert PeripheryParams().noise_management == "none"
    assert PeripheryParams(noise_management="abs_max").ideal  # scaling alone changes nothing
    with pytest.raises(ConfigError, match="^noise_management: must be one of none, abs_max, got 'max'"):
        PeripheryParams(noise_management="max")
