"""Predictive coding networks trained end to end: EP, PC and the backprop twin through the
training loop and the CLI, on digital storage and on crossbar tiles, with the per-step energy
curves in results.h5."""

import json

import pytest
import torch
from typer.testing import CliRunner

from analog_ep.cli import app
from analog_ep.config import load_config
from analog_ep.results import read_results
from analog_ep.train import fit, make_trainer, resume_trainer

runner = CliRunner()
MLP = ["model.name=pcn_mlp", "model.hidden=[24]", "data.train_size=96", "data.test_size=48", "data.batch_size=16",
       "train.epochs=1", "ep.beta=0.05", "solver.nudge_iters=4"]
VGG = ["model.name=pcn_vgg5", "model.channels=[3,4,4,5]", "data.name=synthetic", "data.shape=[3,32,32]",
       "data.train_size=32", "data.test_size=16", "data.batch_size=8", "train.epochs=1", "ep.beta=0.05",
       "solver.nudge_iters=3"]


def _steps(cfg, n, tmp):
    t = make_trainer(cfg, tmp)
    for i in range(n):
        x, y = t.train_set.batch(slice(16 * i, 16 * (i + 1)))
        t.train_step(x, y)
    return t


@pytest.mark.parametrize("algorithm", ["ep", "pc", "bp"])
def test_ideal_tiles_reproduce_the_digital_pcn_trajectory(tmp_path, algorithm):
    """Every read, transposed read and update of a PCN goes through its synapses' storage: ideal
    tiles with ideal updates follow the digital trajectory."""
    over = MLP + [f"algorithm={algorithm}"]
    digital = _steps(load_config(None, over), 4, tmp_path / "d")
    analog = _steps(load_config(None, over + ["analog.device=ideal", "analog.update=ideal"]), 4, tmp_path / "a")
    for i, (p, q) in enumerate(zip(digital.model.stored_weights(), analog.model.stored_weights())):
        torch.testing.assert_close(q, p, atol=1e-5, rtol=0, msg=str(i))
    init = make_trainer(load_config(None, over), tmp_path / "i").model
    assert max((p - q).abs().max().item() for p, q in zip(digital.model.stored_weights(),
                                                          init.stored_weights())) > 1e-3


@pytest.mark.parametrize("algorithm", ["ep", "pc"])
def test_pcn_vgg_on_memristor_tiles_sends_pulses(tmp_path, algorithm):
    cfg = load_config(None, VGG + [f"algorithm={algorithm}", "analog.device=memristor"])
    t = make_trainer(cfg, tmp_path / "run")
    res = fit(t, progress=False)
    assert res["status"] in ("finished", "unhealthy")
    row = t.history[-1]
    assert all(row[f"pulses_layer{i}"] > 0 for i in range(5))
    assert 0.0 <= row["test_accuracy"] <= 1.0


def test_traces_in_results_and_exact_resume(tmp_path):
    over = MLP + ["algorithm=pc", "pc.steps=5", "pc.precision=spiking", "pc.forward_update=true", "train.epochs=2",
                  "train.optimizer=adamw", "train.schedule=warmup_cosine", "train.warmup_epochs=1"]
    full = make_trainer(load_config(None, over), tmp_path / "full")
    fit(full, progress=False)
    r = read_results(tmp_path / "full" / "results.h5")
    assert r["traces"]["pc_energy"].shape == (2, 6, 2)  # epochs x (T + 1) x layers
    assert list(r["traces"]["pc_energy_epoch"]) == [1.0, 2.0]
    half = make_trainer(load_config(None, over[:-3] + ["train.epochs=1", "train.optimizer=adamw",
                                                       "train.schedule=warmup_cosine", "train.warmup_epochs=1"]),
                        tmp_path / "half")
    # the same run interrupted after epoch 1: resume with the full config
    fit(half, progress=False)
    resumed = resume_trainer(tmp_path / "half", load_config(None, over))
    fit(resumed, progress=False)
    for p, q in zip(full.model.parameters(), resumed.model.parameters()):
        torch.testing.assert_close(p, q, atol=0, rtol=0)


def test_ep_on_pcn_records_equilibration_curves(tmp_path):
    t = make_trainer(load_config(None, MLP), tmp_path / "run")
    fit(t, progress=False)
    r = read_results(tmp_path / "run" / "results.h5")
    for phase in ("nudge+", "nudge-"):
        curve = r["traces"][f"{phase}_energy"]
        assert curve.shape == (1, 5)  # K + 1 points: E + beta C before and after each iteration
        assert curve[0, -1] < curve[0, 0]  # the relaxation lowers the total energy
    assert (r["traces"]["nudge+_energy"] > 0).all() and (r["traces"]["nudge-_energy"] < 0).all()
    # steps as the Hopfield solvers report them: the first traversal below solver.tol (1e-4 here)
    assert 1 <= r["epochs"]["nudge+_mean_steps"][0] < 4
    assert 0 < r["epochs"]["nudge+_converged_fraction"][0] <= 1


def test_cli_trains_pcn_with_each_rule_and_gradchecks(tmp_path):
    for algorithm in ("ep", "pc", "bp"):
        res = runner.invoke(app, ["train", "--set", f"algorithm={algorithm}", *sum((["--set", o] for o in MLP), []),
                                  "--set", "data.train_size=480", "--set", "train.epochs=2",
                                  "--out", str(tmp_path / algorithm), "--json"])
        assert res.exit_code == 0, res.output
        out = json.loads(res.output.strip().splitlines()[-1])
        assert out["model"] == "pcn_mlp" and out["test_accuracy"] > 0.5
    res = runner.invoke(app, ["gradcheck", *sum((["--set", o] for o in VGG), []), "--betas", "1e-6", "--batch", "4",
                              "--json"])
    assert res.exit_code == 0, res.output
    rep = json.loads(res.output.strip().splitlines()[-1])
    assert len(rep["layers"]) == 5 and min(r["cosine"] for r in rep["layers"]) > 0.99
    res = runner.invoke(app, ["bench", *sum((["--set", o] for o in VGG), []), "--repeats", "1", "--warmup", "0",
                              "--json"])
    assert res.exit_code == 0, res.output
    b = json.loads(res.output.strip().splitlines()[-1])
    assert b["ep_sweeps_per_step"] == b["ep_sweeps_budget"] == 6 and b["pc_step_s"] > 0


def test_compare_runs_a_pcn_with_its_gradient_cosines(tmp_path):
    res = runner.invoke(app, ["compare", *sum((["--set", o] for o in MLP), []), "--set", "model.hidden=[16]",
                              "--set", "data.train_size=48", "--set", "data.test_size=32", "--device", "memristor",
                              "--seeds", "1", "--out", str(tmp_path / "cmp"), "--json"])
    assert res.exit_code == 0, res.output
    rows = {r["name"]: r for r in json.loads(res.output.strip().splitlines()[-1])["rows"]}
    analog = next(r for n, r in rows.items() if n.startswith("ep-") and r["device"] != "digital")
    assert all(0.5 < analog[f"grad_cosine_layer{i}"] <= 1.0 for i in range(2))


def test_sweep_point_names_survive_new_config_keys():
    """A point's name hashes only its departures from the defaults: a config written by an older
    version (without the pc section) or with a new key at its default gets the same name."""
    from analog_ep.config import to_dict
    from analog_ep.study.sweep import config_hash

    cfg = json.loads(json.dumps(to_dict(load_config(None, ["train.epochs=3", "analog.device=memristor"])), default=str))
    old = {k: v for k, v in cfg.items() if k != "pc"}
    old["model"] = {k: v for k, v in old["model"].items() if k not in ("width", "batchnorm", "paddings", "init_fan")}
    assert config_hash(old) == config_hash(cfg)
    changed = json.loads(json.dumps(cfg))
    changed["train"]["epochs"] = 4
    assert config_hash(changed) != config_hash(cfg)
