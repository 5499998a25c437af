"""`analog-ep bench`: the report's keys and internal consistency, never wall-clock values."""

import json
import math

import pytest
from typer.testing import CliRunner

from analog_ep.bench import BENCH_KEYS, bench
from analog_ep.cli import app
from analog_ep.config import load_config
from analog_ep.errors import ConfigError

runner = CliRunner()
FAST = ["--repeats", "3", "--warmup", "1"]
MLP = ["--set", "model.hidden=[32]", "--set", "data.batch_size=16", "--set", "solver.free_iters=12",
       "--set", "solver.nudge_iters=4"]
VGG = ["--set", "model.name=dchn_vgg5", "--set", "model.channels=[4,4,4,4]", "--set", "data.name=synthetic",
       "--set", "data.shape=[1,16,16]", "--set", "data.batch_size=4", "--set", "data.train_size=8",
       "--set", "data.test_size=4", "--set", "solver.free_iters=8", "--set", "solver.nudge_iters=3"]


def _bench_json(args):
    res = runner.invoke(app, ["bench", *args, *FAST, "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout.strip().splitlines()[-1])


def _check_report(r, free_iters, nudge_iters, n_nudge):
    for key in BENCH_KEYS:
        assert key in r, key
    for key in ("sweep_s", "bp_step_s", "ep_step_s", "images_per_s", "bp_images_per_s"):
        assert math.isfinite(r[key]) and r[key] > 0, (key, r[key])
    assert r["sweep_over_bp_step"] == pytest.approx(r["sweep_s"] / r["bp_step_s"], rel=1e-9)
    assert r["ep_step_over_bp_step"] == pytest.approx(r["ep_step_s"] / r["bp_step_s"], rel=1e-9)
    assert r["images_per_s"] == pytest.approx(r["batch"] / r["ep_step_s"], rel=1e-9)
    assert r["bp_images_per_s"] == pytest.approx(r["batch"] / r["bp_step_s"], rel=1e-9)
    assert r["repeats"] == 3 and r["warmup"] == 1
    assert r["torch_device"] == "cpu" and r["device"] is None and r["torch_threads"] >= 1 and r["torch_version"]
    assert r["ep_sweeps_budget"] == free_iters + n_nudge * nudge_iters
    assert 1 + n_nudge <= r["ep_sweeps_per_step"] <= free_iters + n_nudge * nudge_iters


def test_hopfield_mlp_digits_centered():
    r = _bench_json(MLP)
    _check_report(r, 12, 4, 2)
    assert r["model"] == "hopfield_mlp" and r["dataset"] == "digits" and r["batch"] == 16
    assert r["estimator"] == "centered"
    assert 3 <= r["ep_sweeps_per_step"] <= 12 + 2 * 4


def test_hopfield_mlp_one_sided_sync_clipped():
    r = _bench_json([*MLP, "--set", "ep.estimator=one_sided", "--set", "solver.name=sync",
                     "--set", "train.clip_grad_norm=0.01"])
    _check_report(r, 12, 4, 1)
    assert r["estimator"] == "one_sided" and r["solver"] == "sync"
    assert 2 <= r["ep_sweeps_per_step"] <= 12 + 4


def test_dchn_vgg5_synthetic():
    r = _bench_json(VGG)
    _check_report(r, 8, 3, 2)
    assert r["model"] == "dchn_vgg5" and r["dataset"] == "synthetic" and r["batch"] == 4


def test_tol_zero_runs_the_full_budget():
    # With tol 0 no sample ever counts as converged: every phase runs all its sweeps.
    cfg = load_config(None, ["model.hidden=[16]", "data.batch_size=8", "solver.free_iters=5",
                             "solver.nudge_iters=2", "solver.tol=0"])
    r = bench(cfg, repeats=2, warmup=0)
    assert r["ep_sweeps_per_step"] == 5 + 2 * 2 == r["ep_sweeps_budget"]
    assert r["batch"] == 8 and r["warmup"] == 0


def test_table_output():
    res = runner.invoke(app, ["bench", *MLP, "--repeats", "1", "--warmup", "0"])
    assert res.exit_code == 0, res.output
    for word in ("sweep", "bp step", "ep step", "images/s", "EP sweeps per step"):
        assert word in res.stdout, word


@pytest.mark.parametrize("args,needle", [
    (["--repeats", "0"], "--repeats"),
    (["--warmup", "-1"], "--warmup"),
    (["--set", "model.hidden=oops"], "model.hidden"),
])
def test_bad_options_one_line_exit_2(args, needle):
    res = runner.invoke(app, ["bench", *args])
    assert res.exit_code == 2, res.output
    err = res.stderr.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error: ") and needle in err, err
    assert "Traceback" not in res.output


def test_function_validates_counts():
    cfg = load_config(None, [])
    with pytest.raises(ConfigError, match="repeats"):
        bench(cfg, repeats=0)
    with pytest.raises(ConfigError, match="warmup"):
        bench(cfg, warmup=-1)
