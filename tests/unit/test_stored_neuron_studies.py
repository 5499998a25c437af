"""Studies started before the settle neuron came from the card (session 15): a stored
``compare.yaml`` spells out the neuron constants then default (``analog.settle_capacitance_f:
1e-13``, ``settle_g_leak_s: 1e-6``); such a compare continues where its relaxation has no neuron,
and a settle compare names the keys that continue it. A sweep's settle point hashes its resolved
neuron, so points finished with one neuron are never reused for another.

References: the compare.yaml written as the code before the change wrote it (today's identity
with the two constants spelled out) and the folder names of points that differ only in the card's
neuron."""

from __future__ import annotations

import pytest
import yaml

from analog_ep.errors import ConfigError
from analog_ep.study import compare as C
from analog_ep.study import sweep as S

BASE = ["data.name=digits", "model.hidden=[8]", "analog.device=memristor", "train.epochs=1"]
OLD_NEURON = {"settle_capacitance_f": 1e-13, "settle_g_leak_s": 1e-6}
FIX = ["analog.settle_capacitance_f=1e-13", "analog.settle_g_leak_s=1e-6"]


def _old_compare(tmp_path, keys):
    """A compare folder whose compare.yaml is what the code before session 15 wrote for ``keys``."""
    cfg, _ = C.build_variants(None, keys, 1)
    ident = C._identity(cfg, 1)
    ident["config"]["analog"].update(OLD_NEURON)
    chip = ident["config"]["chip"]                 # the chip key before its rename, and no feedback_scale
    del chip["neuron_energy_per_tau_j"]
    chip["neuron_static_w"] = 2.5e-07
    del ident["config"]["model"]["feedback_scale"]
    out = tmp_path / "cmp"
    out.mkdir()
    (out / C.SPEC_FILE).write_text(yaml.safe_dump(ident, sort_keys=False))
    return out


def test_an_iterative_compare_stored_before_the_change_continues(tmp_path):
    out = _old_compare(tmp_path, BASE)
    cfg, runs = C.build_variants(None, BASE, 1)
    assert cfg.analog.settle_capacitance_f is None
    got, fresh = C.prepare_out(out, cfg, 1, runs, overwrite=False)
    assert got == out and fresh is False
    assert yaml.safe_load((out / C.SPEC_FILE).read_text())["config"]["analog"]["settle_g_leak_s"] == 1e-6  # untouched


def test_a_settle_compare_stored_before_the_change_names_its_neuron_and_continues_with_it(tmp_path):
    keys = BASE + ["analog.relaxation=settle"]
    out = _old_compare(tmp_path, keys + FIX)
    cfg, runs = C.build_variants(None, keys, 1)
    with pytest.raises(ConfigError) as e:
        C.prepare_out(out, cfg, 1, runs, overwrite=False)
    msg = str(e.value)
    assert "holds a different compare (config.analog.settle_capacitance_f: 1e-13 there, None now" in msg
    assert "continue it with --set analog.settle_capacitance_f=1e-13 --set analog.settle_g_leak_s=1e-06" in msg
    assert "\n" not in msg
    cfg, runs = C.build_variants(None, keys + FIX, 1)   # the command the message names
    assert C.prepare_out(out, cfg, 1, runs, overwrite=False) == (out, False)


def test_a_compare_of_another_config_is_still_refused(tmp_path):
    out = _old_compare(tmp_path, BASE)
    cfg, runs = C.build_variants(None, BASE + ["model.hidden=[9]"], 1)
    with pytest.raises(ConfigError, match=r"holds a different compare \(config.model.hidden: \[8\] there, \[9\] now\)"):
        C.prepare_out(out, cfg, 1, runs, overwrite=False)


def _points(tmp_path, keys, grid):
    spec = tmp_path / "spec.yaml"
    sets = {k: yaml.safe_load(v) for k, v in (item.split("=", 1) for item in keys)}
    spec.write_text(yaml.safe_dump({"base": {"set": sets}, "grid": grid}))
    return S.build_points(S.load_spec(spec))


def test_a_settle_points_name_covers_its_cards_neuron(tmp_path):
    """Two cards whose neurons differ give settle points different hashes beyond the card's name
    (the hash covers the resolved tau); the same neuron spelled out gives the same hash as
    long as it is resolved the same; an iterative point's name ignores the neuron."""
    keys = [k for k in BASE if not k.startswith("analog.device")] + ["analog.relaxation=settle"]
    card = _points(tmp_path, keys, {"analog.device": ["memristor"]})[0]
    spelled = _points(tmp_path, keys + ["analog.settle_capacitance_f=1e-13", "analog.settle_g_leak_s=95e-6"],
                      {"analog.device": ["memristor"]})[0]
    old = _points(tmp_path, keys + FIX, {"analog.device": ["memristor"]})[0]
    assert card.name != old.name   # 1.05 ns vs 100 ns: never the same folder
    assert S.config_hash(card.config, {"settle_tau_s": 1e-13 / 95e-6}) == card.name.rsplit(",", 1)[1]
    assert spelled.name.rsplit(",", 1)[1] == S.config_hash(spelled.config, {"settle_tau_s": 1e-13 / 95e-6})
    it = _points(tmp_path, [k for k in BASE if not k.startswith("analog.device")], {"analog.device": ["memristor"]})[0]
    assert it.name.rsplit(",", 1)[1] == S.config_hash(it.config)


def test_a_settle_point_finished_before_the_change_is_not_reused(tmp_path):
    """Before session 15 a settle point's config spelled out the neuron defaults then, which are
    no departures from the defaults (nor are today's nulls), so its folder was named
    ``config_hash(config)``: today's point on the card's neuron gets another name."""
    keys = [k for k in BASE if not k.startswith("analog.device")] + ["analog.relaxation=settle"]
    now = _points(tmp_path, keys, {"analog.device": ["memristor"]})[0]
    assert now.config["analog"]["settle_capacitance_f"] is None
    assert now.name.rsplit(",", 1)[1] != S.config_hash(now.config)
