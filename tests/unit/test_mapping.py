"""Weight mapping as a named choice (issue 18, item 2), against a plain reference written from
aihwkit 1.2.0's semantics (``simulator/tiles/periphery.py`` ``apply_weight_scaling``:
``alpha = max|W| / omega`` (1 when 0 or when omega is 0), the devices get ``W / alpha`` clipped
to their bounds, every read's output is multiplied by ``alpha``)."""

import dataclasses
import types

import pytest
import torch

from analog_ep.analog.cards import (WeightMapping, card_from_dict, effective_mapping, load_device,
                                    mapping_from_dict, resolve_card)
from analog_ep.analog.mapping import attach_storage
from analog_ep.analog.periphery import PeripheryParams
from analog_ep.analog.storage import AnalogStorage
from analog_ep.config import AnalogConfig, load_config
from analog_ep.errors import ConfigError
from analog_ep.models import HopfieldMLP


def ref_program(w: torch.Tensor, omega, w_min, w_max):
    """aihwkit: (programmed device weights, digital scale alpha) of a layer; omega None or 0 =
    no scaling (weight_scaling_omega's default), clipped to each device's bounds."""
    alpha = 1.0
    if omega:
        alpha = float(w.abs().max()) / omega
        if alpha == 0.0:
            alpha = 1.0
    return torch.clamp(w / alpha, w_min, w_max), alpha


def _weight(shape=(6, 9), scale=1.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    return scale * (2 * torch.rand(shape, generator=g, dtype=torch.float64) - 1)


def _cfg(**kw):
    return types.SimpleNamespace(**{"weight_range": None, "mapping": None, "omega": None, **kw})


def _card_file(tmp_path, mapping_yaml, name="mapped"):
    f = tmp_path / f"{name}.yaml"
    f.write_text("source: test\nrule: constant_step\ndw_min: 0.0001\nw_max: 1.0\nw_min: -1.0\n" + mapping_yaml)
    return f


# ------------------------------------------------------------------------------ storage numerics


def test_identity_programs_weights_unscaled():
    card = load_device("ideal")
    w = _weight(scale=0.8)
    st = AnalogStorage(w, card.params, PeripheryParams(), mapping="identity")
    ref, alpha = ref_program(w, None, st.dev_w_min, st.dev_w_max)
    assert st.w_scale == alpha == 1.0
    assert torch.equal(st.w_dev, ref) and torch.equal(st.weight, w)


def test_identity_clips_weights_beyond_each_devices_bounds():
    """Weights outside the card's bounds clip at programming to each device's own (device-to-
    device) bounds, as aihwkit's set_weights clips: the network then reads the clipped value."""
    card = load_device("memristor")  # w_max_dtod / w_min_dtod 0.05: per-device bounds around +-1
    w = _weight(scale=3.0)
    st = AnalogStorage(w, card.params, PeripheryParams(), mapping="identity")
    ref, _ = ref_program(w, None, st.dev_w_min, st.dev_w_max)
    assert (w.abs() > st.dev_w_max.abs().min()).any()  # some weights really are out of range
    assert torch.equal(st.w_dev, ref)
    assert torch.equal(st.weight, ref)


@pytest.mark.parametrize("omega", [0.3, 0.6, 1.0])
def test_omega_maps_each_layers_absmax_and_reads_return_the_weights(omega):
    card = load_device("ideal")
    w = _weight(scale=0.2)
    st = AnalogStorage(w, card.params, PeripheryParams(), mapping="omega", omega=omega)
    ref, alpha = ref_program(w, omega, st.dev_w_min, st.dev_w_max)
    assert st.w_scale == pytest.approx(alpha, rel=1e-15)
    torch.testing.assert_close(st.w_dev, ref, rtol=1e-15, atol=1e-15)
    assert float(st.w_dev.abs().max()) == pytest.approx(omega, rel=1e-12)
    torch.testing.assert_close(st.weight, w, rtol=1e-12, atol=1e-15)
    x = torch.randn(4, w.shape[1], dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(st.linear(x), alpha * (x @ ref.t()), rtol=1e-12, atol=1e-12)  # alpha * tile read
    torch.testing.assert_close(st.linear(x), x @ w.t(), rtol=1e-12, atol=1e-12)


def test_omega_of_an_all_zero_weight_keeps_scale_one():
    st = AnalogStorage(torch.zeros(3, 4, dtype=torch.float64), load_device("ideal").params, PeripheryParams(),
                       mapping="omega", omega=0.5)
    assert st.w_scale == 1.0 and not st.w_dev.any()


def test_legacy_mapping_is_bit_for_bit_the_old_storage():
    """No mapping section, no analog key: omega = 0.5 x min bound, the exact float arithmetic of
    the storage before named mappings (and of analog.weight_range 0.5 set explicitly)."""
    card = dataclasses.replace(load_device("reram_sb"), mapping=None)  # bounds [-0.75, 1.25]: bound 0.75
    w = _weight(scale=0.3)
    old = AnalogStorage(w.clone(), card.params, PeripheryParams(), seed=3)  # weight_range 0.5 default
    bound = min(abs(card.params.w_max), abs(card.params.w_min))
    assert old.w_scale == float(w.abs().max()) / (0.5 * bound)
    for cfg in (_cfg(), _cfg(weight_range=0.5)):
        m = effective_mapping(card, cfg)
        assert m.kind == "omega" and m.omega == 0.5 * bound
        new = AnalogStorage(w.clone(), card.params, PeripheryParams(), seed=3, mapping=m.kind, omega=m.omega)
        assert new.w_scale == old.w_scale and torch.equal(new.w_dev, old.w_dev)


# ------------------------------------------------------------------------------ per synapse


def _mlp():
    g = torch.Generator().manual_seed(0)
    return HopfieldMLP((8,), [6, 5], 3, generator=g).double()


def test_attach_storage_takes_one_omega_per_synapse():
    m = _mlp()
    weights = [s.weight.detach().clone() for s in m.all_synapses()]
    card = load_device("ideal")
    got = attach_storage(m, card, PeripheryParams(), AnalogConfig(omega=[0.2, 0.5, 0.9]), seed=0)
    assert got == WeightMapping("omega", (0.2, 0.5, 0.9))
    for syn, w, omega in zip(m.all_synapses(), weights, (0.2, 0.5, 0.9)):
        ref, alpha = ref_program(w, omega, -1.0, 1.0)
        assert float(syn.storage.w_dev.abs().max()) == pytest.approx(omega, rel=1e-12)
        assert syn.storage.w_scale == pytest.approx(alpha, rel=1e-15)
        torch.testing.assert_close(syn.storage.weight, w, rtol=1e-12, atol=1e-15)


def test_card_list_of_the_wrong_length_names_the_number_of_synapses(tmp_path):
    card = load_device(_card_file(tmp_path, "mapping:\n  kind: omega\n  omega: [0.3, 0.4]\n"))
    with pytest.raises(ConfigError) as e:
        attach_storage(_mlp(), card, PeripheryParams(), AnalogConfig(), seed=0)
    msg = str(e.value)
    assert msg.startswith("mapping.omega: lists 2 omegas") and "3 synapses" in msg and "\n" not in msg
    with pytest.raises(ConfigError, match=r"^analog.omega: lists 2 omegas, but hopfield_mlp has 3 synapses"):
        load_config(None, ["analog.device=ideal", "model.hidden=[6, 5]", "analog.omega=[0.3, 0.4]"])


def test_build_model_with_identity_holds_the_digital_initialization():
    from analog_ep.train.build import build_model

    digital = build_model(load_config(None, ["model.hidden=[7]"]), (16,), 3)
    cfg = load_config(None, ["model.hidden=[7]", "analog.device=ideal", "analog.mapping=identity"])
    analog = build_model(cfg, (16,), 3)
    assert analog.weight_mapping.kind == "identity" and analog.weight_mapping.source == "analog.mapping"
    for a, d in zip(analog.all_synapses(), digital.all_synapses()):
        assert a.storage.w_scale == 1.0
        torch.testing.assert_close(a.storage.weight, d.weight.detach(), rtol=0, atol=0)


# ------------------------------------------------------------------------------ card section


def test_card_mapping_section_parses_and_round_trips(tmp_path):
    card = load_device(_card_file(tmp_path, "mapping:\n  kind: omega\n  omega: [0.3, 0.4, 0.5]\n"))
    assert card.mapping == WeightMapping("omega", (0.3, 0.4, 0.5))
    data = card.to_dict()
    assert data["mapping"] == {"kind": "omega", "omega": [0.3, 0.4, 0.5]}
    assert card_from_dict(data, card.name, card.path) == card
    ident = load_device(_card_file(tmp_path, "mapping:\n  kind: identity\n", "ident"))
    assert ident.to_dict()["mapping"] == {"kind": "identity"}
    assert card_from_dict(ident.to_dict(), ident.name, ident.path) == ident
    assert load_device("memristor").to_dict()["mapping"] is None  # no section: null, rebuilt as None
    # device.mapping.* overrides merge key by key and validate like the card file
    over = resolve_card(str(tmp_path / "mapped.yaml"), {"mapping": {"omega": 0.7}})
    assert over.mapping == WeightMapping("omega", 0.7)


@pytest.mark.parametrize("section,msg", [
    ("mapping:\n  kind: scaled\n", "mapping.kind: unknown weight mapping 'scaled'; valid: identity, omega"),
    ("mapping:\n  kind: omega\n  omega: 0.0\n", "mapping.omega: must be in (0, 1]"),
    ("mapping:\n  kind: omega\n  omega: 1.5\n", "mapping.omega: must be in (0, 1]"),
    ("mapping:\n  kind: omega\n  omega: [0.5, 2.0]\n", "mapping.omega: must be in (0, 1]"),
    ("mapping:\n  kind: omega\n", "mapping.omega: the omega mapping needs omega"),
    ("mapping:\n  kind: identity\n  omega: 0.5\n", "mapping.omega: applies to the omega mapping only"),
    ("mapping:\n  kind: omega\n  omga: 0.5\n", "mapping.omga: unknown key; did you mean mapping.omega?"),
    ("mapping:\n  omega: 0.5\n", "mapping.kind: missing; valid: identity, omega"),
    ("mapping: identity\n", "mapping: expected a mapping of keys such as {kind: identity}"),
])
def test_bad_mapping_sections_are_one_line_errors(tmp_path, section, msg):
    f = _card_file(tmp_path, section)
    with pytest.raises(ConfigError) as e:
        load_device(f)
    text = str(e.value)
    assert text.startswith(f"{f}: {msg}"), text
    assert "\n" not in text


def test_device_override_errors_name_the_device_key():
    with pytest.raises(ConfigError, match=r"^device.mapping.kind: unknown weight mapping 'x'; valid: identity, omega"):
        resolve_card("memristor", {"mapping": {"kind": "x"}})
    assert mapping_from_dict(None) is None


# ------------------------------------------------------------------------------ resolution


def test_effective_mapping_precedence(tmp_path):
    card = load_device(_card_file(tmp_path, "mapping:\n  kind: omega\n  omega: 0.4\n"))
    bare = load_device("memristor")
    # the card's section
    assert effective_mapping(card, _cfg()) == WeightMapping("omega", 0.4)
    # analog.* on top
    assert effective_mapping(card, _cfg(mapping="identity")) == WeightMapping("identity")
    assert effective_mapping(card, _cfg(omega=0.9)) == WeightMapping("omega", 0.9)
    assert effective_mapping(card, _cfg(mapping="omega")) == WeightMapping("omega", 0.4)  # the card's omega
    assert effective_mapping(bare, _cfg(mapping="identity")).kind == "identity"
    # legacy: weight_range set (stored runs) wins over the card's section; nothing set, no section: 0.5
    assert effective_mapping(card, _cfg(weight_range=0.25)) == WeightMapping("omega", 0.25)
    legacy = effective_mapping(bare, _cfg())
    assert legacy == WeightMapping("omega", 0.5) and "legacy" in legacy.source
    with pytest.raises(ConfigError, match=r"^analog.mapping: omega needs analog.omega \(card memristor has no"):
        effective_mapping(bare, _cfg(mapping="omega"))
    with pytest.raises(ConfigError, match=r"^analog.weight_range: the legacy mapping .* contradicts"):
        effective_mapping(card, _cfg(weight_range=0.5, mapping="identity"))
    with pytest.raises(ConfigError, match=r"^analog.omega: must be in \(0, 1\]"):
        effective_mapping(card, _cfg(omega=1.2))
    with pytest.raises(ConfigError, match=r"^analog.mapping: unknown weight mapping 'affine'; valid: identity, omega"):
        effective_mapping(card, _cfg(mapping="affine"))


@pytest.mark.parametrize("sets,msg", [
    (["analog.weight_range=0.5", "analog.mapping=identity"],
     "analog.weight_range: the legacy mapping (omega = weight_range x the device bound) contradicts analog.mapping"),
    (["analog.weight_range=0.5", "analog.omega=0.5"], "analog.weight_range: the legacy mapping"),
    (["analog.mapping=identity", "analog.omega=0.5"], "analog.omega: applies to the omega mapping only"),
    (["analog.omega=0"], "analog.omega: must be in (0, 1]"),
    (["analog.omega=[0.5, 1.1]"], "analog.omega: must be in (0, 1]"),
    (["analog.mapping=scaled"], "analog.mapping: invalid value 'scaled'; valid: identity, omega"),
    (["analog.weight_range=1.5"], "analog.weight_range: must be in (0, 1] or null"),
])
def test_config_refuses_bad_mapping_keys_in_one_line(sets, msg):
    with pytest.raises(ConfigError) as e:
        load_config(None, ["analog.device=memristor"] + sets)
    assert str(e.value).startswith(msg), str(e.value)
    assert "\n" not in str(e.value)


def test_old_configs_still_load():
    """Configs written before named mappings hold analog.weight_range 0.5 (digital runs too)."""
    assert load_config(None, [], base={"analog": {"weight_range": 0.5}}).analog.weight_range == 0.5
    cfg = load_config(None, [], base={"analog": {"device": "memristor", "weight_range": 0.5}})
    assert cfg.analog.weight_range == 0.5 and cfg.analog.mapping is None
    with pytest.raises(ConfigError, match="^analog.mapping: has no effect without a device card"):
        load_config(None, ["analog.mapping=identity"])


def test_the_mapping_is_fixed_on_resume():
    from analog_ep.train.loop import RESUME_FIXED, _identity_changes

    assert {"analog.mapping", "analog.omega", "analog.weight_range"} <= set(RESUME_FIXED)
    old = load_config(None, ["analog.device=memristor", "analog.weight_range=0.5"])
    new = load_config(None, ["analog.device=memristor"])
    assert _identity_changes(old, new)[0][0] == "analog.weight_range"
