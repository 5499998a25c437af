"""Config: typed dataclasses, YAML loading, --set overrides, the specific error for each mistake."""

from pathlib import Path

import pytest
import yaml

from analog_ep.config import AnalogConfig, RunConfig, dump_yaml, from_dict, load_config
from analog_ep.config.describe import describe, markdown_table
from analog_ep.config.schema import resolve_update
from analog_ep.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_and_overrides_take_yaml_values():
    cfg = load_config(None, ["model.hidden=[500,200]", "train.lr=1e-3", "ep.estimator=one_sided",
                             "data.train_size=null", "train.nesterov=true", "seed=7"])
    assert cfg.model.hidden == [500, 200]
    assert cfg.train.lr == pytest.approx(1e-3) and isinstance(cfg.train.lr, float)
    assert cfg.ep.estimator == "one_sided"
    assert cfg.data.train_size is None
    assert cfg.train.nesterov is True and cfg.seed == 7
    assert load_config(None, []) == RunConfig()


def test_file_then_overrides(tmp_path):
    f = tmp_path / "e.yaml"
    f.write_text("train:\n  epochs: 3\n  lr: 0.2\nmodel:\n  hidden: [10]\n")
    cfg = load_config(f, ["train.epochs=5"])
    assert (cfg.train.epochs, cfg.train.lr, cfg.model.hidden) == (5, 0.2, [10])


def test_round_trip_through_yaml():
    import yaml

    cfg = load_config(None, ["model.hidden=[7,5]", "ep.beta=0.25", "solver.name=sync"])
    assert from_dict(yaml.safe_load(dump_yaml(cfg))) == cfg


@pytest.mark.parametrize("override,msg", [
    ("train.epoch=3", "train.epoch: unknown key 'train.epoch'; did you mean train.epochs? valid keys: train.epochs"),
    ("modle.hidden=[3]", "unknown key 'modle'; did you mean model? valid keys: seed, algorithm, model"),
    ("train.epochs=2.5", "train.epochs: expected int, got 2.5"),
    ("train.epochs=true", "train.epochs: expected int"),
    ("model.hidden=5", "model.hidden: expected list of int"),
    ("model.hidden=[5,x]", "model.hidden[1]: expected int"),
    ("train.lr=fast", "train.lr: expected float"),
    ("train.epochs=-1", "train.epochs: must be >= 1, got -1"),
    ("train.epochs=0", "train.epochs: must be >= 1, got 0"),
    ("ep.beta=0", "ep.beta: must be > 0"),
    ("ep.beta=1.5", "ep.beta: must be < 1"),
    ("ep.estimator=sideways", "ep.estimator: invalid value 'sideways'; valid: centered, one_sided, negative, random_sign"),
    ("data.name=imagenet9", "data.name: invalid value 'imagenet9'"),
    ("solver.free_iters=0", "solver.free_iters: must be >= 1"),
    ("model.hidden=[]", "model.hidden: must be a non-empty list"),
    ("model.gains=[1.0,1.0,1.0]", "model.gains: must be 2 positive numbers (one per weight layer), or a single one"),
    ("model.gains=[-1.0]", "model.gains: must be 2 positive numbers"),
    ("train.layer_lrs=[0.1,0.1,0.1]", "train.layer_lrs: must have 2 entries"),
    ("train.momentum=1.0", "train.momentum: must be in [0, 1)"),
    ("model=3", "model: is a section"),
    ("seed.x=3", "seed is not a section"),
])
def test_each_mistake_gets_its_specific_error(override, msg):
    with pytest.raises(ConfigError) as e:
        load_config(None, [override])
    assert msg in str(e.value)
    assert "\n" not in str(e.value)


def test_file_errors_name_the_file(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("solver:\n  iters: 3\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: solver.iters: unknown key; valid keys: solver.name"):
        load_config(f)
    f.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(f)
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "missing.yaml")


def test_one_sided_allows_beta_above_one_and_bp_ignores_beta():
    assert load_config(None, ["ep.estimator=one_sided", "ep.beta=2.0"]).ep.beta == 2.0
    assert load_config(None, ["algorithm=bp", "ep.beta=2.0"]).algorithm == "bp"


def test_every_field_is_documented_and_readme_table_is_current():
    rows = describe()
    assert {r[0] for r in rows} >= {
        "seed", "algorithm", "model.name", "model.hidden", "data.name", "data.root", "data.train_size",
        "data.test_size", "data.batch_size", "train.epochs", "train.lr", "train.optimizer", "ep.beta",
        "ep.estimator", "solver.name", "solver.free_iters", "solver.nudge_iters"}
    for key, _, _, doc in rows:
        assert doc, f"{key} has no docstring"
    assert markdown_table() in (ROOT / "README.md").read_text(), "regenerate the README config table"


def test_ci_installs_as_readme_says():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pip install torch==2.13.0 && pip install -e '.[dev]'" in readme
    assert "pip install torch==2.13.0 && pip install -e '.[dev]'" in ci
    assert "python -m pytest" in readme and "python -m pytest" in ci


def test_config_package_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, analog_ep.config; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr


# ------------------------------------------------------------------------------ analog and device keys


def test_device_overrides_parse_into_one_nested_mapping_and_round_trip():
    import yaml

    cfg = load_config(None, ["analog.device=memristor", "device.dw_min_std=0.3", "device.n_states=64",
                             "device.periphery.out_bits=6", "device.periphery.noise_policy=per_batch"])
    assert cfg.device == {"dw_min_std": 0.3, "n_states": 64, "periphery": {"out_bits": 6, "noise_policy": "per_batch"}}
    assert from_dict(yaml.safe_load(dump_yaml(cfg))) == cfg
    assert cfg != load_config(None, ["analog.device=memristor"])
    assert RunConfig().device == {} and load_config(None, []).device == {}
    # any key name is accepted here: the card validates it (tests/unit/test_cards.py)
    assert load_config(None, ["analog.device=ideal", "device.no_such_key=1"]).device == {"no_such_key": 1}
    # a whole mapping, and an empty YAML section
    assert load_config(None, ["analog.device=ideal", "device={dw_min: 0.1}"]).device == {"dw_min": 0.1}
    assert from_dict({"device": None}).device == {}


def test_device_overrides_from_a_file_merge_with_set(tmp_path):
    f = tmp_path / "e.yaml"
    f.write_text("analog:\n  device: memristor\ndevice:\n  dw_min_std: 0.2\n  periphery:\n    out_bits: 6\n")
    cfg = load_config(f, ["device.periphery.out_bound=8.0", "device.dw_min_std=0.4"])
    assert cfg.device == {"dw_min_std": 0.4, "periphery": {"out_bits": 6, "out_bound": 8.0}}


def test_new_analog_keys_and_removed_kernel():
    a = load_config(None, ["analog.device=memristor", "analog.pulse_scheme=bitstream", "analog.bl=15",
                           "analog.update_management=false", "train.momentum=0"]).analog
    assert (a.pulse_scheme, a.bl, a.update_management) == ("bitstream", 15, False)
    d = RunConfig().analog  # null: the card's update: section, else today's defaults
    assert (d.pulse_scheme, d.bl, d.update_management) == (None, None, None)
    r = resolve_update(None, d)
    assert (r.pulse_scheme, r.bl, r.update_management) == ("rounded", 31, True)
    assert not hasattr(d, "kernel")
    with pytest.raises(ConfigError, match="analog.kernel: unknown key 'analog.kernel'"):
        load_config(None, ["analog.kernel=torch"])
    # configs stored by older versions (checkpoints) still load when they hold the old default
    assert from_dict({"analog": {"kernel": "torch"}}) == RunConfig()
    with pytest.raises(ConfigError, match="analog.kernel: removed .*; delete the key"):
        from_dict({"analog": {"kernel": "fused"}})


NO_CARD = "has no effect without a device card; add --device NAME (e.g. --device memristor) or remove it"


@pytest.mark.parametrize("overrides,msg", [
    (["analog.out_bits=8"], f"analog.out_bits: {NO_CARD}"),
    (["analog.update=mixed"], f"analog.update: {NO_CARD}"),
    (["analog.pulse_scheme=bitstream"], f"analog.pulse_scheme: {NO_CARD}"),
    (["analog.bl=5"], f"analog.bl: {NO_CARD}"),
    (["analog.max_rows=64"], f"analog.max_rows: {NO_CARD}"),
    (["analog.seed=3"], f"analog.seed: {NO_CARD}"),
    (["analog.t_inference_s=100"], f"analog.t_inference_s: {NO_CARD}"),
    (["device.dw_min_std=0.3"], f"device.dw_min_std: {NO_CARD}"),
    (["device.periphery.out_bits=6"], f"device.periphery.out_bits: {NO_CARD}"),
    (["analog.device=memristor", "analog.bl=0"], "analog.bl: must be >= 1"),
    (["analog.device=memristor", "analog.pulse_scheme=bitstream", "train.momentum=0", "analog.update=mixed"],
     "analog.pulse_scheme: bitstream needs analog.update pulsed, got 'mixed' (mixed transfers whole pulses "
     "from its accumulator); use analog.pulse_scheme=rounded"),
    (["analog.device=memristor", "analog.pulse_scheme=bitstream", "train.momentum=0", "analog.update=ideal"],
     "analog.pulse_scheme: bitstream needs analog.update pulsed, got 'ideal' (ideal sends no pulses)"),
    (["analog.device=memristor", "analog.pulse_scheme=bitstream"],
     "train.momentum: must be 0 with analog.pulse_scheme bitstream (the trains carry the outer products of the "
     "gradient itself, as aihwkit's analog SGD), got 0.9; set train.momentum=0 and train.weight_decay=0, "
     "or use analog.pulse_scheme=rounded"),
    (["analog.device=memristor", "analog.pulse_scheme=bitstream", "train.momentum=0", "train.weight_decay=1e-4"],
     "train.weight_decay: must be 0 with analog.pulse_scheme bitstream"),
    (["analog.device=memristor", "analog.pulse_scheme=stream"], "analog.pulse_scheme: invalid value 'stream'; "
     "valid: rounded, bitstream"),
    (["device=3"], "device: expected a mapping of keys"),
    (["analog.device=ideal", "device.periphery=6", "device.periphery.out_bits=6"],
     "--set device.periphery.out_bits: device.periphery is not a mapping"),
])
def test_analog_and_device_mistakes_name_the_key(overrides, msg):
    with pytest.raises(ConfigError) as e:
        load_config(None, overrides)
    assert str(e.value).startswith(msg), str(e.value)
    assert "\n" not in str(e.value)


def test_analog_defaults_and_device_pass_without_a_card():
    # default values, set explicitly, are fine without a device (the digital run ignores nothing)
    cfg = load_config(None, ["analog.update=pulsed", "analog.bl=31", "analog.out_bits=null", "device={}"])
    assert cfg == RunConfig(analog=AnalogConfig(bl=31))  # 31: what a null bl resolves to


def test_a_file_may_set_analog_keys_for_a_device_given_on_the_command_line(tmp_path):
    f = tmp_path / "hw.yaml"
    f.write_text("analog:\n  out_bits: 6\n  out_bound: 8.0\ndevice:\n  dw_min_std: 0.2\n")
    cfg = load_config(f, ["analog.device=memristor"])  # what --device memristor adds
    assert cfg.analog.out_bits == 6 and cfg.device == {"dw_min_std": 0.2}
    with pytest.raises(ConfigError, match=rf"^{f}: analog.out_bits: has no effect without a device card"):
        load_config(f)
    # the file's cross-key errors can be fixed by --set, and are reported with the file otherwise
    f.write_text("analog:\n  device: memristor\n  pulse_scheme: bitstream\n")
    assert load_config(f, ["train.momentum=0"]).analog.pulse_scheme == "bitstream"
    with pytest.raises(ConfigError, match=rf"^{f}: train.momentum: must be 0 with analog.pulse_scheme bitstream"):
        load_config(f)
    with pytest.raises(ConfigError, match=r"^train.momentum: must be in \[0, 1\)"):
        load_config(f, ["train.momentum=1.5"])


def test_device_row_in_the_key_reference():
    rows = {r[0]: r for r in describe()}
    assert rows["device"][1:3] == ("mapping", {})
    assert "card field overrides, validated against the card" in rows["device"][3].lower()
    assert {"analog.pulse_scheme", "analog.bl", "analog.update_management"} <= set(rows)
    assert "analog.kernel" not in rows and not any(k.startswith("device.") for k in rows)
    assert "| `device` | mapping | `{}` |" in markdown_table()


def test_one_gain_is_every_layers_and_the_config_spells_it_out():
    """``model.gains: [g]`` gives every weight layer g; the loaded (and stored) config lists one
    per layer, and the stored form loads to the same config."""
    cfg = load_config(None, ["model.hidden=[12,8,6]", "model.gains=[1.5]"])
    assert cfg.model.gains == [1.5] * 4
    assert load_config(None, [], base=yaml.safe_load(dump_yaml(cfg))) == cfg
