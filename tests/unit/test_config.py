"""Config: typed dataclasses, YAML loading, --set overrides, the specific error for each mistake."""

from pathlib import Path

import pytest

from analog_ep.config import RunConfig, dump_yaml, from_dict, load_config
from analog_ep.config.describe import describe, markdown_table
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
    ("train.epoch=3", "train.epoch: unknown key 'train.epoch'; valid keys: train.epochs"),
    ("modle.hidden=[3]", "unknown key 'modle'; valid keys: seed, algorithm, model"),
    ("train.epochs=2.5", "train.epochs: expected int, got 2.5"),
    ("train.epochs=true", "train.epochs: expected int"),
    ("model.hidden=5", "model.hidden: expected list of int"),
    ("model.hidden=[5,x]", "model.hidden[1]: expected int"),
    ("train.lr=fast", "train.lr: expected float"),
    ("train.epochs=-1", "train.epochs: must be >= 0, got -1"),
    ("ep.beta=0", "ep.beta: must be > 0"),
    ("ep.beta=1.5", "ep.beta: must be < 1"),
    ("ep.estimator=sideways", "ep.estimator: invalid value 'sideways'; valid: centered, one_sided, random_sign"),
    ("data.name=imagenet9", "data.name: invalid value 'imagenet9'"),
    ("solver.free_iters=0", "solver.free_iters: must be >= 1"),
    ("model.hidden=[]", "model.hidden: must be a non-empty list"),
    ("model.gains=[1.0]", "model.gains: must be 2 positive numbers"),
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
