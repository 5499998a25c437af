"""`analog-ep config`: the config train would run, and where each key's value comes from."""

import json

from typer.testing import CliRunner

from analog_ep.cli import app
from analog_ep.config import load_config
from analog_ep.config.loader import to_dict

runner = CliRunner()


def _json(args):
    res = runner.invoke(app, ["config", *args, "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_sources_follow_the_precedence(tmp_path):
    cfg_file = tmp_path / "exp.yaml"
    cfg_file.write_text("model:\n  name: dchn_vgg5\ntrain:\n  lr: 0.05\n  momentum: 0.5\n")
    out = _json(["-c", str(cfg_file), "--set", "train.momentum=0.7", "--device", "memristor"])
    src, data = out["sources"], out["config"]
    assert src["model.name"] == str(cfg_file)          # the file
    assert src["train.lr"] == str(cfg_file)            # the file beats the family's 0.03
    assert src["train.momentum"] == "--set"            # --set beats the file
    assert src["analog.device"] == "--device"
    assert src["train.schedule"] == "family default"   # dchn_vgg5's cosine
    assert src["train.epochs"] == "default"
    # the values are exactly what load_config resolves (what train runs)
    ref = to_dict(load_config(str(cfg_file), ["train.momentum=0.7", "analog.device=memristor"]))
    assert data == json.loads(json.dumps(ref))
    assert data["train"]["lr"] == 0.05 and data["train"]["momentum"] == 0.7 and data["train"]["schedule"] == "cosine"


def test_text_lists_only_keys_off_the_schema_default_unless_all():
    res = runner.invoke(app, ["config", "--set", "model.name=pcn_vgg5"])
    assert res.exit_code == 0, res.output
    lines = res.stdout.strip().splitlines()
    assert lines[0].startswith("pcn_vgg5, algorithm ep:")
    body = {ln.split()[0]: ln for ln in lines[1:]}
    assert body["model.name"].endswith("(--set)")
    assert body["ep.beta"].split()[1] == "0.02" and body["ep.beta"].endswith("(family default)")
    assert "train.epochs" not in body
    every = runner.invoke(app, ["config", "--set", "model.name=pcn_vgg5", "--all"])
    keys = [ln.split()[0] for ln in every.stdout.strip().splitlines()[1:]]
    assert "train.epochs" in keys and len(keys) == len(_json(["--set", "model.name=pcn_vgg5"])["sources"])


def test_bad_key_is_one_line_exit_2():
    res = runner.invoke(app, ["config", "--set", "train.epoch=3"])
    assert res.exit_code == 2
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and "did you mean train.epochs" in lines[0]
