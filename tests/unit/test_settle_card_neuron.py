"""The settle neuron's constants from the card (issue 20, Build 1: time constants from the card
and chip): the card's ``periphery.settle_capacitance_f`` / ``settle_g_leak_s`` reach the settle
solver's ``tau = C / G_leak``, ``analog.settle_*`` overrides them (``device.periphery.*`` in
between), a card without them runs the default neuron (100 fF / 1 uS), and bad values are
refused in one line naming the key they came from."""

import math
from pathlib import Path

import pytest
import yaml

from analog_ep.analog.cards import effective_periphery, load_device, resolve_card
from analog_ep.analog.periphery import DEFAULT_SETTLE_CAPACITANCE_F, DEFAULT_SETTLE_G_LEAK_S, PeripheryParams
from analog_ep.config import load_config
from analog_ep.errors import ConfigError
from analog_ep.solvers.base import build_solver
from analog_ep.train.build import resolve_device

MLP = ["data.name=digits", "model.hidden=[16]", "data.batch_size=8", "compute.accelerator=cpu"]


def _tau(*keys):
    """The tau the settle solver of this config is built with: the learning rule of the model
    ``build_model`` builds (its periphery: the card's neuron under the overrides)."""
    from analog_ep.algorithms.rules import build_rule
    from analog_ep.train.build import build_model

    cfg = load_config(None, MLP + ["analog.relaxation=settle", *keys])
    model = build_model(cfg, (1, 8, 8), 10)
    tau = build_rule(cfg, model).solver.keywords["tau_s"]
    assert tau == resolve_device(cfg)[1].settle_tau_s
    return tau


def test_a_settle_solver_needs_the_models_periphery():
    """No second place resolves the neuron: a settle built without the model's periphery (a model
    built outside ``build_model``) is refused, not resolved from today's card file."""
    cfg = load_config(None, MLP + ["analog.relaxation=settle", "analog.device=memristor"])
    with pytest.raises(ConfigError, match=r"^analog.relaxation: settle needs the model's effective periphery"):
        build_solver(cfg, "hopfield", 1)


def test_the_cards_neuron_reaches_tau():
    card = load_device("memristor")
    c, g = card.periphery.settle_capacitance_f, card.periphery.settle_g_leak_s
    assert (c, g) == (1e-13, pytest.approx((card.params.g_max_us - card.params.g_min_us) * 1e-6, rel=1e-12))
    assert _tau("analog.device=memristor") == c / g == pytest.approx(1e-13 / 95e-6, rel=1e-12)
    assert _tau("analog.device=gst_pcm") == pytest.approx(1e-13 / 201.59e-6, rel=1e-12)


def test_every_shipped_card_has_a_neuron_of_its_conductance_span_or_none():
    from analog_ep.analog.cards import list_devices

    for name in list_devices():
        card = load_device(name)
        p = card.periphery or PeripheryParams()
        if name == "ideal":   # the reference card runs the default neuron
            assert p.settle_capacitance_f is None and p.settle_g_leak_s is None
            assert p.settle_tau_s == DEFAULT_SETTLE_CAPACITANCE_F / DEFAULT_SETTLE_G_LEAK_S == pytest.approx(1e-7)
            continue
        span = (card.params.g_max_us - card.params.g_min_us) * 1e-6
        assert p.settle_capacitance_f == 1e-13, name
        assert p.settle_g_leak_s == pytest.approx(span, rel=1e-4), name


def test_overrides_win_in_order():
    base = 1e-13 / 95e-6
    assert _tau("analog.device=memristor", "analog.settle_g_leak_s=2e-6") == pytest.approx(1e-13 / 2e-6, rel=1e-12)
    assert _tau("analog.device=memristor", "analog.settle_capacitance_f=3e-13") == pytest.approx(3 * base, rel=1e-12)
    assert _tau("analog.device=memristor", "device.periphery.settle_g_leak_s=5e-6") == pytest.approx(2e-8, rel=1e-12)
    assert _tau("analog.device=memristor", "device.periphery.settle_g_leak_s=5e-6",
                "analog.settle_g_leak_s=1e-6") == pytest.approx(1e-7, rel=1e-12)
    assert _tau("analog.device=ideal") == pytest.approx(1e-7, rel=1e-12)          # no card neuron: the default
    assert _tau("analog.device=ideal", "analog.settle_g_leak_s=4e-6") == pytest.approx(2.5e-8, rel=1e-12)


def _bad_card(tmp_path: Path, **periph) -> Path:
    data = yaml.safe_load(Path(load_device("memristor").path).read_text())
    data["periphery"].update(periph)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("key, value, unit", [("settle_capacitance_f", 0.0, "farads"),
                                              ("settle_g_leak_s", -1e-6, "siemens")])
def test_bad_card_values_exit_2_naming_the_card_key_and_file(tmp_path, key, value, unit):
    from typer.testing import CliRunner

    from analog_ep.cli import app

    path = _bad_card(tmp_path, **{key: value})
    with pytest.raises(ConfigError, match=rf"^{path}: periphery.{key}: must be > 0 {unit}"):
        load_device(str(path))
    res = CliRunner().invoke(app, ["train", "--device", str(path), "--set", "analog.relaxation=settle",
                                   "--set", "data.name=digits", "--out", str(tmp_path / "run")])
    lines = [ln for ln in res.output.strip().splitlines() if ln]
    assert res.exit_code == 2 and len(lines) == 1, res.output
    assert lines[0].startswith(f"error: {path}: periphery.{key}: must be > 0 {unit}"), res.output
    assert not (tmp_path / "run").exists()


def test_a_step_above_the_cards_tau_exits_2_in_one_line_writing_nothing(tmp_path):
    """The dt <= tau check runs where the card is resolved (``resolve_device``), before a run
    folder is made: the CLI prints one line and exits 2."""
    from typer.testing import CliRunner

    from analog_ep.cli import app

    res = CliRunner().invoke(app, ["train", "--device", "memristor", "--set", "analog.relaxation=settle",
                                   "--set", "analog.settle_dt_s=2e-9", "--set", "data.name=digits",
                                   "--out", str(tmp_path / "run")])
    lines = [ln for ln in res.output.strip().splitlines() if ln]
    assert res.exit_code == 2 and len(lines) == 1, res.output
    assert lines[0].startswith("error: analog.settle_dt_s: 2e-09 s is above the settle's largest step"), res.output
    assert not (tmp_path / "run").exists()


def test_a_stored_card_from_before_the_neuron_runs_the_default_neuron():
    """A checkpoint's card stored before session 15 has no ``periphery.settle_*``: a model built
    from it (``build_model(stored_card=...)``) runs the default neuron, tau = 100 ns, whatever
    today's card file says (1.05 ns)."""
    from analog_ep.algorithms.rules import build_rule
    from analog_ep.train.build import build_model

    card = load_device("memristor")
    old = card.to_dict()
    for k in ("settle_capacitance_f", "settle_g_leak_s"):
        old["periphery"].pop(k)
    cfg = load_config(None, MLP + ["analog.device=memristor", "analog.relaxation=settle"])
    model = build_model(cfg, (1, 8, 8), 10, stored_card={"card": old, "name": card.name, "path": card.path})
    assert build_rule(cfg, model).solver.keywords["tau_s"] == pytest.approx(1e-7, rel=1e-12)
    assert _tau("analog.device=memristor") == pytest.approx(1e-13 / 95e-6, rel=1e-12)


def test_a_step_above_the_cards_tau_is_refused_naming_where_tau_came_from():
    """The memristor card's tau is 1.05 ns: a 2 ns step is refused where the card is resolved,
    naming the card's keys and file; with the analog leak lowered (tau 100 ns) it is accepted;
    the analog key is named when it set the value."""
    card = resolve_card("memristor")
    with pytest.raises(ConfigError) as err:
        resolve_device(load_config(None, MLP + ["analog.device=memristor", "analog.relaxation=settle",
                                                "analog.settle_dt_s=2e-9"]))
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("analog.settle_dt_s: 2e-09 s is above the settle's largest step "
                                              "dt <= tau = C / G_leak = 1.053e-09 s")
    assert f"C from card memristor's periphery.settle_capacitance_f ({card.path})" in msg
    assert f"G_leak from card memristor's periphery.settle_g_leak_s ({card.path})" in msg
    resolve_device(load_config(None, MLP + ["analog.device=memristor", "analog.relaxation=settle",
                                            "analog.settle_dt_s=2e-9", "analog.settle_g_leak_s=1e-6"]))
    with pytest.raises(ConfigError, match=r"G_leak from analog.settle_g_leak_s"):
        resolve_device(load_config(None, MLP + ["analog.device=memristor", "analog.relaxation=settle",
                                                "analog.settle_dt_s=2e-9", "analog.settle_g_leak_s=1e-4"]))
    with pytest.raises(ConfigError, match=r"G_leak from device.periphery.settle_g_leak_s"):
        resolve_device(load_config(None, MLP + ["analog.device=memristor", "analog.relaxation=settle",
                                                "analog.settle_dt_s=2e-9", "device.periphery.settle_g_leak_s=1e-4"]))
    with pytest.raises(ConfigError, match=r"C from the default neuron's settle_capacitance_f"):
        resolve_device(load_config(None, MLP + ["analog.device=ideal", "analog.relaxation=settle",
                                                "analog.settle_dt_s=2e-7"]))


def test_the_neuron_keys_apply_to_a_settle_only():
    """The card's neuron is inert for an iterative run; its analog.* overrides are refused there
    (as before), and a non-positive override is refused by the loader naming the analog key."""
    cfg = load_config(None, MLP + ["analog.device=memristor"])
    assert effective_periphery(resolve_card("memristor"), cfg.analog).settle_g_leak_s == 95e-6
    with pytest.raises(ConfigError, match=r"^analog.settle_g_leak_s: applies to analog.relaxation=settle only"):
        load_config(None, MLP + ["analog.device=memristor", "analog.settle_g_leak_s=1e-6"])
    with pytest.raises(ConfigError, match=r"^analog.settle_capacitance_f: must be > 0 farads or null \(the card's\)"):
        load_config(None, MLP + ["analog.device=memristor", "analog.relaxation=settle",
                                 "analog.settle_capacitance_f=-1"])
    assert math.isclose(PeripheryParams(settle_capacitance_f=2e-13, settle_g_leak_s=1e-5).settle_tau_s, 2e-8)


def test_a_config_stored_before_the_card_neuron_loads_as_it_ran():
    """Configs stored before session 15 spell out the old defaults (100 fF, 1 uS): an iterative
    or digital run's loads them as null (its relaxation has no neuron; else the loader would
    refuse them), a settle run's keeps them (the neuron it ran, over its card's)."""
    import yaml

    from analog_ep.config.loader import STORED_CIRCUIT_DEFAULTS
    from analog_ep.config.loader import to_dict

    old = {"settle_capacitance_f": 1e-13, "settle_g_leak_s": 1e-6}
    assert STORED_CIRCUIT_DEFAULTS == old
    for keys in ([], ["analog.device=memristor"], ["analog.device=memristor", "analog.relaxation=settle"]):
        data = to_dict(load_config(None, MLP + keys))
        data["analog"].update(old)
        stored = yaml.safe_load(yaml.safe_dump(data))
        cfg = load_config(None, [], base=stored)
        settle = "analog.relaxation=settle" in keys
        want = (1e-13, 1e-6) if settle else (None, None)
        assert (cfg.analog.settle_capacitance_f, cfg.analog.settle_g_leak_s) == want, keys
        if settle:
            assert _tau(*keys, "analog.settle_capacitance_f=1e-13", "analog.settle_g_leak_s=1e-6") == pytest.approx(1e-7)
    with pytest.raises(ConfigError, match=r"^analog.settle_g_leak_s: applies to analog.relaxation=settle only"):
        load_config(None, MLP + ["analog.device=memristor", "analog.settle_g_leak_s=1e-6"])   # a fresh config: refused
