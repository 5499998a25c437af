"""EP trained on simulated crossbars: the analog path against the digital one, tiling, the
backprop twin on tiles, bench timing the real update, the card travelling with the run (resume,
results, overrides), the device CLI, and bad hardware input."""

import json
from pathlib import Path

import pytest
import torch
import yaml
from typer.testing import CliRunner

from analog_ep.cli import app
from analog_ep.config import load_config
from analog_ep.results import read_results
from analog_ep.train import fit, make_trainer, resume_trainer

runner = CliRunner()
CARD = """source: test card
rule: soft_bounds
dw_min: 0.01
dw_min_std: 0.1
periphery:
  out_bits: 8
  out_bound: 20.0
"""
SMALL = ["data.train_size=96", "data.test_size=48", "model.hidden=[24]", "data.batch_size=16", "train.epochs=1"]


def _steps(cfg, n, tmp):
    t = make_trainer(cfg, tmp)
    for i in range(n):
        x, y = t.train_set.x[16 * i:16 * (i + 1)], t.train_set.y[16 * i:16 * (i + 1)]
        t.train_step(x, y)
    return t


def test_ideal_device_reproduces_digital_trajectory(tmp_path):
    digital = _steps(load_config(None, SMALL), 5, tmp_path / "d")
    analog = _steps(load_config(None, SMALL + ["analog.device=ideal", "analog.update=ideal"]), 5, tmp_path / "a")
    for i, (p, q) in enumerate(zip(digital.model.stored_weights(), analog.model.stored_weights())):
        torch.testing.assert_close(q, p, atol=1e-5, rtol=0, msg=str(i))
    moved = max((p - q).abs().max().item() for p, q in zip(digital.model.stored_weights(),
                make_trainer(load_config(None, SMALL), tmp_path / "init").model.stored_weights()))
    assert moved > 1e-3  # the trajectory went somewhere


@pytest.mark.parametrize("opt", [["train.momentum=0.9", "train.weight_decay=0.01"],
                                 ["train.optimizer=adam", "train.lr=0.01", "train.weight_decay=0.01"],
                                 ["train.optimizer=adamw", "train.lr=0.01", "train.weight_decay=0.1"]])
def test_proposed_changes_with_weight_decay_follow_the_digital_optimizer(tmp_path, opt):
    """An analog storage's parameter holds the proposed change, not the weight: weight decay
    (L2 for SGD and Adam, decoupled for AdamW) still acts on the stored weight, so ideal tiles
    with ideal updates follow the digital optimizer's trajectory, and the proposal is zero
    between updates."""
    digital = _steps(load_config(None, SMALL + opt), 5, tmp_path / "d")
    analog = _steps(load_config(None, SMALL + opt + ["analog.device=ideal", "analog.update=ideal"]), 5,
                    tmp_path / "a")
    for i, (p, q) in enumerate(zip(digital.model.stored_weights(), analog.model.stored_weights())):
        torch.testing.assert_close(q, p, atol=1e-5, rtol=0, msg=str(i))
    assert all(float(s.storage.param.detach().abs().max()) == 0 for s in analog.model.all_synapses())
    no_decay = _steps(load_config(None, SMALL + opt[:-1] + ["analog.device=ideal", "analog.update=ideal"]), 5,
                      tmp_path / "n")
    assert max((p - q).abs().max().item() for p, q in zip(no_decay.model.stored_weights(),
                                                          analog.model.stored_weights())) > 1e-5


def test_tile_split_with_ideal_periphery_equals_unsplit(tmp_path):
    # an ADC that never clips (bound 1e9, no bits) forces the per-tile path without changing values
    base = SMALL + ["analog.device=ideal", "analog.update=ideal", "analog.out_bound=1e9"]
    one = _steps(load_config(None, base), 3, tmp_path / "one")
    many = _steps(load_config(None, base + ["analog.max_rows=7", "analog.max_cols=5"]), 3, tmp_path / "many")
    for p, q in zip(one.model.stored_weights(), many.model.stored_weights()):
        torch.testing.assert_close(p, q, atol=1e-5, rtol=0)


def test_analog_run_records_pulses_and_card_and_resumes_exactly(tmp_path):
    over = SMALL + ["analog.device=memristor", "analog.w_noise_std=0.02", "analog.out_bits=8",
                    "analog.out_bound=20", "analog.inp_bits=6", "analog.inp_bound=4", "train.epochs=2"]
    full = make_trainer(load_config(None, over), tmp_path / "full")
    fit(full, progress=False)
    cut = make_trainer(load_config(None, over), tmp_path / "cut")

    def kill(epoch, batch):
        if epoch == 1 and batch == 2:
            raise KeyboardInterrupt

    cut.on_batch = kill
    with pytest.raises(KeyboardInterrupt):
        fit(cut, progress=False)
    resumed = resume_trainer(tmp_path / "cut", load_config(None, over))
    fit(resumed, progress=False)
    for (n, a), b in zip(full.model.state_dict().items(), resumed.model.state_dict().values()):
        if isinstance(a, torch.Tensor):
            assert torch.equal(a, b), n
    r = read_results(tmp_path / "cut" / "results.h5")
    assert r["extra"]["device_name"] == "memristor" and "soft_bounds" in r["extra"]["device_card_yaml"]
    assert (r["epochs"]["pulses_layer0"] > 0).all() and (r["epochs"]["pulses_per_step"] > 0).all()
    periph = yaml.safe_load(r["extra"]["periphery_yaml"])
    assert (periph["out_bits"], periph["inp_bound"], periph["w_noise_std"]) == (8, 4.0, 0.02)


def test_resume_uses_the_stored_card_not_the_edited_file(tmp_path):
    card = tmp_path / "dev.yaml"
    card.write_text(CARD)
    over = SMALL + [f"analog.device={card}", "train.epochs=2"]
    full = make_trainer(load_config(None, over), tmp_path / "full")
    fit(full, progress=False)
    cut = make_trainer(load_config(None, over), tmp_path / "cut")

    def kill(epoch, batch):
        if epoch == 1 and batch == 1:
            raise KeyboardInterrupt

    cut.on_batch = kill
    with pytest.raises(KeyboardInterrupt):
        fit(cut, progress=False)
    card.write_text(CARD.replace("dw_min: 0.01", "dw_min: 0.2"))  # edited after the run started
    resumed = resume_trainer(tmp_path / "cut", load_config(None, over))
    assert resumed.model.device_card.params.dw_min == 0.01
    fit(resumed, progress=False)
    for (n, a), b in zip(full.model.state_dict().items(), resumed.model.state_dict().values()):
        if isinstance(a, torch.Tensor):
            assert torch.equal(a, b), n


def test_periphery_override_on_resume_is_applied_whole(tmp_path):
    over = SMALL + ["analog.device=memristor", "train.epochs=1"]
    fit(make_trainer(load_config(None, over), tmp_path / "r"), progress=False)
    res = runner.invoke(app, ["train", "--resume", str(tmp_path / "r"), "--set", "train.epochs=2",
                              "--set", "analog.noise_policy=per_phase", "--set", "analog.w_noise_std=0.03", "--json"])
    assert res.exit_code == 0, res.output
    periph = yaml.safe_load(read_results(tmp_path / "r" / "results.h5")["extra"]["periphery_yaml"])
    assert periph["noise_policy"] == "per_phase" and periph["w_noise_std"] == 0.03
    for change in ("device.dw_min_std=0.5", "analog.update=mixed", "analog.device=ideal"):
        res = runner.invoke(app, ["train", "--resume", str(tmp_path / "r"), "--set", "train.epochs=3",
                                  "--set", change])
        assert res.exit_code == 2 and change.split("=")[0] in res.stderr, res.output
        assert len(res.stderr.strip().splitlines()) == 1


def test_card_fields_from_the_command_line_travel_with_the_run(tmp_path):
    res = runner.invoke(app, ["train", "--device", "memristor", "--set", "device.dw_min_std=0.3",
                              "--set", "device.periphery.out_bits=6", *sum((["--set", s] for s in SMALL), []),
                              "--out", str(tmp_path / "r"), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["device"] == "memristor" and out["pulses"] > 0
    extra = read_results(tmp_path / "r" / "results.h5")["extra"]
    assert yaml.safe_load(extra["device_card_yaml"])["dw_min_std"] == 0.3
    assert yaml.safe_load(extra["periphery_yaml"])["out_bits"] == 6
    res = runner.invoke(app, ["train", "--device", "memristor", "--set", "device.dw_min_std=-1"])
    assert res.exit_code == 2 and "device.dw_min_std" in res.stderr
    res = runner.invoke(app, ["train", "--set", "analog.out_bits=6"])  # no card: refused, not ignored
    assert res.exit_code == 2 and "analog.out_bits" in res.stderr


def test_header_and_folder_name_the_device(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["train", "--device", "memristor", *sum((["--set", s] for s in SMALL), [])])
    assert res.exit_code == 0, res.output
    assert "on memristor tiles (pulsed, rounded)" in res.stdout
    assert [p.name.endswith("-hopfield_mlp-ep-memristor") for p in (tmp_path / "runs").iterdir()] == [True]


def test_backprop_twin_trains_every_layer_through_a_quantizing_adc(tmp_path):
    # rounding has zero gradient: without the straight-through estimator only the output bias learns
    over = ["algorithm=bp", "analog.device=memristor", "analog.out_bits=6", "analog.out_bound=10",
            "train.epochs=3", "model.hidden=[64]"]
    t = make_trainer(load_config(None, over), tmp_path / "bp")
    fit(t, progress=False)
    assert t.history[-1]["test_accuracy"] > 0.8
    assert all(p > 0 for p in t.pulse_counts())


def test_bench_times_the_pulsed_update():
    from analog_ep.bench import bench

    r = bench(load_config(None, SMALL + ["analog.device=memristor", "train.momentum=0"]), repeats=2, warmup=1)
    assert r["pulses_per_step"] > 0  # the timed analog EP step changed the device state by pulses
    assert r["analog_over_digital_memory"] > 2
    r = bench(load_config(None, SMALL + ["analog.device=memristor", "analog.pulse_scheme=bitstream",
                                         "train.momentum=0"]), repeats=1, warmup=0)
    assert r["pulses_per_step"] > 0 and r["pulse_scheme"] == "bitstream"


def test_analog_differs_from_digital_with_real_device(tmp_path):
    digital = _steps(load_config(None, SMALL), 3, tmp_path / "d")
    analog = _steps(load_config(None, SMALL + ["analog.device=memristor"]), 3, tmp_path / "a")
    diff = max((p - q).abs().max().item() for p, q in zip(digital.model.stored_weights(),
                                                          analog.model.stored_weights()))
    assert diff > 1e-4
    assert all(torch.isfinite(p).all() for p in analog.model.stored_weights())


def test_cli_device_flag_and_json(tmp_path):
    card = Path(__file__).resolve().parents[2] / "devices" / "memristor.yaml"
    over = ["data.train_size=200", "data.test_size=100", "model.hidden=[32]", "train.epochs=2"]
    res = runner.invoke(app, ["train", "--device", str(card), *sum((["--set", s] for s in over), []),
                              "--out", str(tmp_path / "r"), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout.strip().splitlines()[-1])["test_accuracy"] > 0.3  # chance is 0.1
    res = runner.invoke(app, ["bench", "--device", "memristor", "--repeats", "2", "--warmup", "0", "--json"])
    assert res.exit_code == 0, res.output
    b = json.loads(res.stdout.strip().splitlines()[-1])
    assert b["analog_over_digital_ep_step"] == pytest.approx(b["ep_step_s"] / b["digital_ep_step_s"])


def test_devices_cli(tmp_path):
    res = runner.invoke(app, ["devices", "list", "--json"])
    names = {r["name"] for r in json.loads(res.stdout)}
    assert {"ideal", "memristor", "reram_es", "reram_sb", "ecram", "capacitor", "pcm", "neurosim"} <= names
    res = runner.invoke(app, ["devices", "response", "memristor", "--pulses", "5", "--json"])
    r = json.loads(res.stdout)
    assert r["pulses"] == list(range(11)) and len(r["w_mean"]) == 11
    assert 0 < r["w_mean"][5] < 0.06 and r["w_mean"][10] < r["w_mean"][5]
    res = runner.invoke(app, ["devices", "show", "neurosim", "--json"])
    assert json.loads(res.stdout)["implied_states"] == 101
    out = tmp_path / "ideal.png"
    res = runner.invoke(app, ["devices", "plot", "ideal", "--out", str(out), "--pulses", "20"])
    assert res.exit_code == 0 and out.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("args,needle", [
    (["--device", "nosuchdevice"], "nosuchdevice"),
    (["--set", "analog.device=memristor", "--set", "analog.max_rows=0"], "analog.max_rows"),
    (["--set", "analog.device=memristor", "--set", "analog.out_bits=0"], "analog.out_bits"),
    (["--set", "analog.device=memristor", "--set", "analog.update=teleport"], "analog.update"),
    (["--device", "memristor", "--set", "analog.bl=0"], "analog.bl"),
    (["--device", "memristor", "--set", "analog.pulse_scheme=bitstream", "--set", "analog.update=mixed"],
     "analog.pulse_scheme"),
    (["--device", "memristor", "--set", "analog.pulse_scheme=bitstream"], "train.momentum"),
    (["--device", "memristor", "--set", "device.n_state=64"], "did you mean device.n_states"),
    (["--device", "memristor", "--set", "device.w_max=-2"], "device.w_"),
    (["--device", "memristor", "--set", "device.w_min=0.5"], "device.w_min"),
    (["--device", "memristor", "--set", "device.w_max=0"], "device.w_max"),
    (["--set", "analog.pulse_scheme=bitstream"], "analog.pulse_scheme"),
    (["--device", "memristor", "--set", "analog.update=mixed", "--set", "analog.rounding=deterministic"],
     "analog.rounding"),
    (["--device", "memristor", "--set", "analog.update_management=false"], "analog.update_management"),
])
def test_bad_hardware_input(args, needle, tmp_path):
    res = runner.invoke(app, ["train", *args, "--out", str(tmp_path / "r")])
    assert res.exit_code == 2, res.output
    assert needle in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()  # nothing written


def test_bad_card_file_names_file_and_key(tmp_path):
    card = tmp_path / "bad.yaml"
    card.write_text("source: test\nrule: soft_bounds\ndw_min: 0.01\nw_min: 1.0\nw_max: 0.5\n")
    res = runner.invoke(app, ["train", "--device", str(card)])
    assert res.exit_code == 2
    assert "bad.yaml" in res.stderr and "w_min" in res.stderr


def test_drift_at_inference(tmp_path):
    over = ["data.train_size=200", "data.test_size=100", "model.hidden=[32]", "train.epochs=2", "analog.device=pcm"]
    t = make_trainer(load_config(None, over + ["analog.t_inference_s=1e7"]), tmp_path / "p")
    fit(t, progress=False)
    last = t.history[-1]
    assert "test_accuracy_drift" in last and last["test_loss_drift"] != last["test_loss"]
    # drift only scales conductances down: the drifted weights are smaller on average, and the
    # stored device state is restored after the drifted evaluation
    from analog_ep.analog.mapping import drifted_weights

    w = t.model.edges[0].synapse.weight.detach().clone()
    with drifted_weights(t.model, 1e7):
        assert t.model.edges[0].synapse.weight.abs().mean() < w.abs().mean()
    assert torch.equal(t.model.edges[0].synapse.weight, w)
    # a card without drift reads the same weights at any time
    m = make_trainer(load_config(None, over[:-1] + ["analog.device=memristor"]), tmp_path / "m").model
    w = m.edges[0].synapse.weight.detach().clone()
    with drifted_weights(m, 1e7):
        torch.testing.assert_close(m.edges[0].synapse.weight, w)
