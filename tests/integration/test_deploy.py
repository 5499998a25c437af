"""``analog-ep deploy``: a finished run's trained weights programmed onto a card's tiles.

References: ideal tiles are the matmul (a deployed digital run keeps its accuracy exactly, and
so does a run trained on noise-free tiles); programming and read noise are seeded (the same
command gives the same numbers); drift follows the pair's closed form ``W(t) = W0 (t/t0)^-nu``
(pcm: the other device of a pair sits at G_min = 0) and global compensation scales each layer by
its calibration ratio; bad input exits 2 with one line and writes nothing; a deployment is never
overwritten without ``--overwrite``. Also the sweep's ``deploy:`` section."""

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from typer.testing import CliRunner

from analog_ep.cli import app
from analog_ep.results import read_results, write_results
from analog_ep.study.deploy import NOTE, Deployment, default_out
from analog_ep.study.drift import calibration_read

runner = CliRunner()
TINY = ["--set", "data.train_size=480", "--set", "data.test_size=96", "--set", "model.hidden=[24]",
        "--set", "train.epochs=3", "--set", "solver.free_iters=12", "--set", "solver.nudge_iters=4"]
SHORT = ["--set", "data.train_size=96", "--set", "train.epochs=1"]  # after TINY: the run on tiles
QUIET_PCM = ["--device", "pcm", "--set", "device.periphery=null"]  # pcm without read/output noise


def _invoke(args):
    res = runner.invoke(app, args)
    return res, res.stdout


def _json_line(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tree(path: Path) -> dict:
    return {str(p.relative_to(path)): _digest(p) for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A digital run and a run trained on noise-free pcm tiles, both on the embedded digits."""
    root = tmp_path_factory.mktemp("deploy")
    out = {}
    for name, extra in (("digital", []), ("pcm", [*QUIET_PCM, *SHORT])):
        res, text = _invoke(["train", *TINY, *extra, "--out", str(root / name), "--json"])
        assert res.exit_code == 0, res.output
        out[name] = _json_line(text)
    assert out["digital"]["test_accuracy"] > 0.5  # a network worth deploying
    return root, out


def _deploy(run, *args):
    res, text = _invoke(["deploy", str(run), *args, "--json"])
    assert res.exit_code == 0, res.output
    return _json_line(text)


def test_ideal_tiles_keep_the_digital_accuracy_exactly(runs):
    root, summaries = runs
    run = root / "digital"
    before = _tree(run)
    r = _deploy(run, "--device", "ideal", "--repeats", "2")
    acc = summaries["digital"]["test_accuracy"]
    assert r["trained_on"] == "digital" and r["run_status"] == "finished" and r["device_name"] == "ideal"
    assert r["run_test_accuracy"] == acc and r["trained_accuracy"] == acc
    assert r["accuracies"] == [acc, acc] and r["accuracy_mean"] == acc and r["accuracy_std"] == 0.0
    assert r["has_drift"] is False and r["rows"] == [] and "no drift" in r["note"]
    # written atomically into the default folder beside the run's files, which are untouched
    out = default_out(run, "ideal", [], [1.0, 3600.0, 86400.0, 31536000.0], 2)
    assert r["out"] == str(out) and r["saved"] == str(out / "deploy.json")
    saved = json.loads((out / "deploy.json").read_text())
    assert saved == r
    assert saved["checkpoint_sha256"] == _digest(run / "checkpoint.pt")
    after = _tree(run)
    assert {k: v for k, v in after.items() if not k.startswith("deploy/")} == before
    assert [k for k in after if k.startswith("deploy/")] == [str(out.relative_to(run) / "deploy.json")]
    # the table form
    res, text = _invoke(["deploy", str(run), "--device", "ideal", "--out", str(root / "ideal-table")])
    assert res.exit_code == 0, res.output
    assert f"as programmed  {acc:.4f} +- 0.0000" in text and "wrote" in text


def test_programmed_weights_are_the_trained_ones(runs):
    """Ideal tiles hold the trained weights up to float rounding (the mapping's w_scale), and
    the biases are the trained ones exactly."""
    from analog_ep.train.checkpoint import load_checkpoint

    root, _ = runs
    dep = Deployment(root / "digital", "ideal")
    state = load_checkpoint(root / "digital" / "checkpoint.pt")["model"]
    model = dep.study.trainer.model
    for syn, w in zip(model.all_synapses(), dep.targets):
        assert torch.allclose(syn.storage.weight, w, rtol=1e-6, atol=1e-7)
        assert syn.storage.w_scale != 1.0  # mapped (omega), not copied
    for k, v in model.state_dict().items():
        if "storage" not in k and not k.endswith("_extra_state"):  # event counters are not weights
            assert torch.equal(v, state[k]), k


def test_a_run_trained_on_tiles_deploys_the_weights_its_devices_hold(runs):
    root, summaries = runs
    r = _deploy(root / "pcm", "--device", "ideal", "--out", str(root / "pcm-on-ideal"))
    assert r["trained_on"] == "pcm"
    assert r["accuracy_mean"] == r["trained_accuracy"] == summaries["pcm"]["test_accuracy"]


def test_noisy_card_is_seeded_and_repeatable(runs):
    root, _ = runs
    args = ["--device", "memristor", "--repeats", "3", "--set", "analog.out_noise_std=0.5"]
    a = _deploy(root / "digital", *args, "--out", str(root / "m1"))
    b = _deploy(root / "digital", *args, "--out", str(root / "m2"))
    assert a["accuracies"] == b["accuracies"] and len(a["accuracies"]) == 3
    assert a["accuracy_mean"] == pytest.approx(sum(a["accuracies"]) / 3)
    assert a["accuracy_std"] == pytest.approx(float(torch.tensor(a["accuracies"]).std(unbiased=False)))
    # each repeat draws its own programming and read noise: the repeats differ, the seed decides
    assert len(set(a["accuracies"])) > 1
    c = _deploy(root / "digital", *args, "--set", "analog.seed=7", "--out", str(root / "m3"))
    assert c["analog_seed"] == 7 and c["accuracies"] != a["accuracies"]
    cfg = yaml.safe_load(a["config_yaml"])
    assert cfg["analog"]["out_noise_std"] == 0.5 and cfg["analog"]["device"] == "memristor"


def test_programming_repeats_reprogram_with_their_own_streams(runs):
    root, _ = runs
    dep = Deployment(root / "digital", "pcm")
    s = dep.storages[0]
    w0 = s.w_dev.clone()
    dep.program(0)
    assert torch.equal(s.w_dev, w0)  # repeat 0 is the builder's programming
    dep.program(1)
    w1 = s.w_dev.clone()
    # both programmed from the same target (within the bounds: omega maps max|W| to 0.5): the
    # difference is two draws of the programming noise, std sqrt(2) prog_noise_std g_unit
    from analog_ep.analog.rules import weight_scale

    expected = 2 ** 0.5 * s.params.prog_noise_std * weight_scale(s.params)
    assert float((w1 - w0).std()) == pytest.approx(expected, rel=0.08)
    again = Deployment(root / "digital", "pcm")
    again.program(1)
    assert torch.equal(again.storages[0].w_dev, w1)
    with pytest.raises(ValueError):
        again.program(3)


def test_drift_with_and_without_compensation_follows_the_closed_form(runs):
    root, summaries = runs
    t0, times = 20.0, [1.0, 20.0, 3600.0, 3.15e7]
    r = _deploy(root / "digital", *QUIET_PCM, "--times", "1,20,3600,3.15e7", "--out", str(root / "drift"))
    assert r["has_drift"] and r["t0_s"] == t0 and r["note"] == NOTE and r["times"] == times
    rows = {(row["t_s"], row["compensation"]): row for row in r["rows"]}
    assert set(rows) == {(t, c) for t in times for c in ("none", "global")}
    # up to t0 the weights are the programmed ones (noise-free reads: the accuracy as programmed)
    for t in (1.0, 20.0):
        for c in ("none", "global"):
            assert rows[(t, c)]["accuracy_mean"] == r["accuracy_mean"] and rows[(t, c)]["gain_mean"] == 1.0
    # the same programming and exponents, rebuilt: W(t) = W0 (t/t0)^-nu per sign (G_min = 0)
    dep = Deployment(root / "digital", "pcm", ["device.periphery=null"])
    nus = dep.study.exponents(0)
    for t in (3600.0, 3.15e7):
        ref, comp = [], []
        for s, (nu_p, nu_m) in zip(dep.storages, nus):
            w0 = s.weight.detach().double()
            wt = torch.where(w0 > 0, w0 * (t / t0) ** -nu_p.double(), w0 * (t / t0) ** -nu_m.double())
            assert torch.allclose(s.drifted_weight(t, (nu_p, nu_m)).double(), wt, rtol=1e-5, atol=1e-8)
            gain = calibration_read(w0) / calibration_read(wt)
            ref.append(float(wt.abs().sum()))
            comp.append(gain * ref[-1])
        assert rows[(t, "none")]["weight_abs_sum"] == pytest.approx(sum(ref), rel=1e-5)
        assert rows[(t, "global")]["weight_abs_sum"] == pytest.approx(sum(comp), rel=1e-5)
        assert sum(ref) < rows[(20.0, "none")]["weight_abs_sum"] < sum(comp) * 1.5
    assert rows[(3.15e7, "global")]["gain_mean"] > rows[(3600.0, "global")]["gain_mean"] > 1.0
    # the table shows both columns and the note
    res, text = _invoke(["deploy", str(root / "digital"), *QUIET_PCM, "--times", "3600", "--out",
                         str(root / "drift-table")])
    assert res.exit_code == 0, res.output
    assert "global drift comp." in text and "note: Drift lowers every conductance" in text


def _unfinished_copy(run: Path, dest: Path, status: str) -> Path:
    shutil.copytree(run, dest)
    r = read_results(dest / "results.h5")
    history = [dict(zip(r["epochs"], vals)) for vals in zip(*r["epochs"].values())]
    write_results(dest / "results.h5", r["config_yaml"], r["provenance"], history, status)
    return dest


def test_bad_input_exits_2_with_one_line_and_writes_nothing(runs, tmp_path, monkeypatch):
    root, _ = runs
    run = root / "digital"
    interrupted = _unfinished_copy(run, tmp_path / "interrupted", "interrupted")
    (tmp_path / "empty").mkdir()
    (tmp_path / "a_file").write_text("x")
    monkeypatch.chdir(tmp_path)
    before_run, before_tmp = _tree(run), _tree(tmp_path)
    cases = [
        ([str(tmp_path / "missing"), "--device", "ideal"], "no such run folder"),
        ([str(tmp_path / "empty"), "--device", "ideal"], "holds no run"),
        ([str(interrupted), "--device", "ideal"], "not finished"),
        ([str(run)], "--device"),
        ([str(run), "--device", "nosuchcard"], "nosuchcard"),
        ([str(run), "--device", "ideal", "--times", "0,60"], "--times"),
        ([str(run), "--device", "ideal", "--times", "-1"], "--times"),
        ([str(run), "--device", "ideal", "--times", "1,abc"], "--times"),
        ([str(run), "--device", "ideal", "--times", "nan"], "--times"),
        ([str(run), "--device", "ideal", "--times", "inf"], "--times"),
        ([str(run), "--device", "ideal", "--times", ""], "--times"),
        ([str(run), "--device", "ideal", "--repeats", "0"], "--repeats"),
        ([str(run), "--device", "ideal", "--set", "model.hidden=[8]"], "model.hidden"),
        ([str(run), "--device", "ideal", "--set", "train.epochs=3"], "train.epochs"),
        ([str(run), "--device", "ideal", "--set", "analog.device=pcm"], "--device"),
        ([str(run), "--device", "ideal", "--set", "analog.bogus=1"], "analog.bogus"),
        ([str(run), "--device", "pcm", "--set", "device.bogus=1"], "bogus"),
        ([str(run), "--device", "ideal", "--out", str(run)], "run or study folder"),
        ([str(run), "--device", "ideal", "--out", str(tmp_path / "a_file")], "not a folder"),
    ]
    for args, needle in cases:
        res, text = _invoke(["deploy", *args])
        assert res.exit_code == 2, (args, res.output)
        assert len(res.stderr.strip().splitlines()) == 1 and res.stderr.startswith("error: "), (args, res.stderr)
        assert needle in res.stderr, (args, res.stderr)
        res, text = _invoke(["deploy", *args, "--json"])
        assert res.exit_code == 2 and _json_line(text)["exit_code"] == 2, args
    assert _tree(run) == before_run and _tree(tmp_path) == before_tmp


def test_overwrite_rules(runs, tmp_path):
    root, _ = runs
    run = root / "digital"
    out = tmp_path / "dep"
    first = _deploy(run, "--device", "ideal", "--out", str(out))
    res, _ = _invoke(["deploy", str(run), "--device", "ideal", "--out", str(out)])
    assert res.exit_code == 2 and "already holds a deployment" in res.stderr and "--overwrite" in res.stderr
    assert json.loads((out / "deploy.json").read_text()) == first
    again = _deploy(run, "--device", "memristor", "--out", str(out), "--overwrite")
    assert json.loads((out / "deploy.json").read_text()) == again and again["device"] == "memristor"
    assert sorted(p.name for p in out.iterdir()) == ["deploy.json"]
    # the default folder too: the same settings twice are refused, other settings get their own
    default = _deploy(run, "--device", "ideal", "--times", "5")
    res, _ = _invoke(["deploy", str(run), "--device", "ideal", "--times", "5"])
    assert res.exit_code == 2 and "already holds a deployment" in res.stderr
    other = _deploy(run, "--device", "ideal", "--times", "6")
    assert Path(other["out"]).parent == Path(default["out"]).parent == run / "deploy"
    assert other["out"] != default["out"]
    # a run or study folder is refused even with --overwrite
    study = tmp_path / "study"
    study.mkdir()
    (study / "sweep.csv").write_text("a\n")
    for target in (run, study):
        res, _ = _invoke(["deploy", str(run), "--device", "ideal", "--out", str(target), "--overwrite"])
        assert res.exit_code == 2 and "run or study folder" in res.stderr
    assert sorted(p.name for p in study.iterdir()) == ["sweep.csv"]


def test_sweep_deploys_every_point(tmp_path):
    spec = tmp_path / "spec.yaml"
    tiny = {"data.train_size": 96, "data.test_size": 48, "model.hidden": [16], "train.epochs": 1}
    spec.write_text(yaml.safe_dump({"base": {"set": tiny}, "seeds": [0],
                                    "deploy": {"devices": ["ideal", "pcm"], "set": {"device.periphery": None},
                                               "times": [1, 3.15e7]}}))
    res = runner.invoke(app, ["sweep", str(spec), "--out", str(tmp_path / "sw"), "--json"])
    assert res.exit_code == 0, res.output
    s = _json_line(res.stdout)
    assert s["deploy"]["ran"] == 2 and s["deploy"]["failed"] == 0 and s["deploy"]["rows"] == 1 + 5
    from analog_ep.study.sweep import read_table

    point = read_table(tmp_path / "sw" / "sweep.csv")[0]
    table = read_table(tmp_path / "sw" / "deploy.csv")
    assert list(table[0]) == ["seed", "device", "t_s", "compensation", "accuracy_mean", "accuracy_std", "repeats",
                              "trained_accuracy", "status", "error", "deploy_folder"]
    ideal = [row for row in table if row["device"] == "ideal"]
    assert len(ideal) == 1 and float(ideal[0]["accuracy_mean"]) == float(point["test_accuracy"])
    pcm = [row for row in table if row["device"] == "pcm"]
    assert [(row["t_s"], row["compensation"]) for row in pcm] == [
        ("nan", ""), ("1.0", "none"), ("1.0", "global"), ("31500000.0", "none"), ("31500000.0", "global")]
    saved = json.loads((Path(pcm[0]["deploy_folder"]) / "deploy.json").read_text())
    assert float(pcm[-1]["accuracy_mean"]) == saved["rows"][-1]["accuracy_mean"]
    assert Path(pcm[0]["deploy_folder"]).parent == Path(point["folder"]) / "deploy"
    # a rerun reuses the deployments of the same checkpoints
    res = runner.invoke(app, ["sweep", str(spec), "--out", str(tmp_path / "sw"), "--json"])
    assert res.exit_code == 0, res.output
    s2 = _json_line(res.stdout)
    assert s2["deploy"]["ran"] == 0 and s2["deploy"]["reused"] == 2
    assert read_table(tmp_path / "sw" / "deploy.csv") == table


def test_sweep_bad_deploy_section_exits_2_before_anything_runs(tmp_path):
    for deploy, needle in (({"devices": ["nosuchcard"]}, "nosuchcard"), ({"devices": []}, "deploy.devices"),
                           ({"devices": ["pcm"], "times": [0]}, "deploy.times"),
                           ({"devices": ["pcm"], "repeats": 0}, "deploy.repeats"),
                           ({"devices": ["pcm"], "set": {"model.hidden": [8]}}, "deploy.set.model.hidden"),
                           ({"devices": ["pcm"], "color": 1}, "deploy.color")):
        spec = tmp_path / "spec.yaml"
        spec.write_text(yaml.safe_dump({"base": {"set": {"train.epochs": 1}}, "deploy": deploy}))
        res = runner.invoke(app, ["sweep", str(spec), "--out", str(tmp_path / "sw")])
        assert res.exit_code == 2, (deploy, res.output)
        assert len(res.stderr.strip().splitlines()) == 1 and needle in res.stderr, (deploy, res.stderr)
        assert not (tmp_path / "sw").exists()
