"""EP trained on simulated crossbars: the analog path against the digital one, tiling, update
modes, exact resume with device state, the device CLI, and bad hardware input."""

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from analog_ep.analog.cards import load_device
from analog_ep.analog.periphery import PeripheryParams
from analog_ep.analog.tile import AnalogTile
from analog_ep.cli import app
from analog_ep.config import load_config
from analog_ep.results import read_results
from analog_ep.train import fit, make_trainer, resume_trainer

runner = CliRunner()
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
    for (n, p), q in zip(digital.model.named_parameters(), analog.model.parameters()):
        torch.testing.assert_close(q, p, atol=1e-5, rtol=0, msg=n)
    moved = max((p - q).abs().max().item() for p, q in zip(digital.model.parameters(),
                make_trainer(load_config(None, SMALL), tmp_path / "init").model.parameters()))
    assert moved > 1e-3  # the trajectory went somewhere


def test_tile_split_with_ideal_periphery_equals_unsplit(tmp_path):
    base = SMALL + ["analog.device=ideal", "analog.update=ideal"]
    one = _steps(load_config(None, base), 3, tmp_path / "one")
    many = _steps(load_config(None, base + ["analog.max_rows=7", "analog.max_cols=5"]), 3, tmp_path / "many")
    for p, q in zip(one.model.parameters(), many.model.parameters()):
        torch.testing.assert_close(p, q, atol=1e-5, rtol=0)


def test_pulsed_update_realizes_whole_pulses():
    card = load_device("ideal")  # constant steps, no noise
    w0 = torch.full((3, 4), 0.1)
    tile = AnalogTile(w0, card.params, PeripheryParams(), update="pulsed", rounding="deterministic",
                      weight_range=0.5, seed=0)
    step = tile.w_scale * card.params.dw_min
    before = tile.effective_weight().clone()
    delta = torch.tensor([[2.4, -1.6, 0.2, 3.4]] * 3) * step
    after = tile.update(delta)
    torch.testing.assert_close(after - before, torch.round(delta / step) * step, atol=1e-6, rtol=0)
    assert int(tile.pulses) == 3 * (2 + 2 + 0 + 3)


def test_mixed_precision_accumulates_subthreshold_updates():
    card = load_device("ideal")
    tile = AnalogTile(torch.full((2, 2), 0.1), card.params, PeripheryParams(), update="mixed", seed=0)
    step = tile.w_scale * card.params.dw_min
    before = tile.effective_weight().clone()
    for _ in range(3):
        tile.update(torch.full((2, 2), 0.4 * step))
    torch.testing.assert_close(tile.effective_weight() - before, torch.full((2, 2), step), atol=1e-6, rtol=0)
    torch.testing.assert_close(tile.chi, torch.full((2, 2), 0.2 * card.params.dw_min), atol=1e-7, rtol=0)
    pulsed = AnalogTile(torch.full((2, 2), 0.1), card.params, PeripheryParams(), update="pulsed",
                        rounding="deterministic", seed=0)
    for _ in range(3):
        pulsed.update(torch.full((2, 2), 0.4 * step))
    assert int(pulsed.pulses) == 0  # deterministic rounding loses every sub-pulse update


def test_stochastic_rounding_is_unbiased():
    card = load_device("ideal")
    tile = AnalogTile(torch.zeros(200, 200) + 0.05, card.params, PeripheryParams(), seed=3)
    step = tile.w_scale * card.params.dw_min
    before = tile.effective_weight().clone()
    tile.update(torch.full((200, 200), 0.3 * step))
    mean_change = (tile.effective_weight() - before).mean().item() / step
    assert abs(mean_change - 0.3) < 0.01


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
    assert r["epochs"]["pulses_layer0"][-1] > r["epochs"]["pulses_layer0"][0] > 0


def test_analog_differs_from_digital_with_real_device(tmp_path):
    digital = _steps(load_config(None, SMALL), 3, tmp_path / "d")
    analog = _steps(load_config(None, SMALL + ["analog.device=memristor"]), 3, tmp_path / "a")
    diff = max((p - q).abs().max().item() for p, q in zip(digital.model.parameters(), analog.model.parameters()))
    assert diff > 1e-4
    assert all(torch.isfinite(p).all() for p in analog.model.parameters())


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
])
def test_bad_hardware_input(args, needle):
    res = runner.invoke(app, ["train", *args])
    assert res.exit_code == 2, res.output
    assert needle in res.stderr and len(res.stderr.strip().splitlines()) == 1


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
