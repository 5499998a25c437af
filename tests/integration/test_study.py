"""``runs`` (a table of run folders) and ``drift`` (accuracy over time after programming) end to end."""

import csv
import hashlib
import json

import pytest
import torch
from typer.testing import CliRunner

from analog_ep.cli import app
from analog_ep.results import read_results
from analog_ep.study.drift import DriftStudy, calibration_read
from analog_ep.study.runs import COLUMNS, cell, config_cell

runner = CliRunner()
TINY = ["--set", "data.train_size=96", "--set", "data.test_size=48", "--set", "model.hidden=[16]",
        "--set", "train.epochs=1", "--set", "solver.free_iters=10", "--set", "solver.nudge_iters=4"]


def _invoke(args):
    res = runner.invoke(app, args)
    return res, res.stdout


def _json_line(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    """Three one-epoch runs on 96 digits: digital, pcm without periphery (noise-free reads, so
    the evaluation is deterministic) and memristor (no drift)."""
    root = tmp_path_factory.mktemp("study")
    out = {}
    for name, extra in (("digital", []), ("pcm", ["--device", "pcm", "--set", "device.periphery=null"]),
                        ("memristor", ["--device", "memristor"])):
        sub = "nodrift" if name == "memristor" else "sweep"
        res, text = _invoke(["train", *TINY, *extra, "--out", str(root / sub / name), "--json"])
        assert res.exit_code == 0, res.output
        out[name] = _json_line(text)
    return root, out


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------------------- runs


def test_read_results_has_the_same_keys_for_digital_and_analog(runs_dir):
    root, _ = runs_dir
    d = read_results(root / "sweep" / "digital" / "results.h5")
    a = read_results(root / "sweep" / "pcm" / "results.h5")
    assert set(d) == set(a) >= {"config_yaml", "status", "provenance", "epochs", "extra", "device"}
    assert d["extra"] == {} and d["device"] is None
    assert a["device"] == "pcm" and a["extra"]["device_name"] == "pcm" and "exp_step" in a["extra"]["device_card_yaml"]


def test_runs_lists_runs_with_differing_keys_device_and_status(runs_dir):
    root, summaries = runs_dir
    res, out = _invoke(["runs", str(root / "sweep"), "--json"])
    assert res.exit_code == 0, res.output
    table = _json_line(out)
    assert set(table) == {"runs", "keys", "errors"} and table["errors"] == {}
    # only the keys that differ: the device card and its periphery override
    assert table["keys"] == ["analog.device", "device.periphery"]
    rows = {r["path"].rsplit("/", 1)[-1]: r for r in table["runs"]}
    assert set(rows) == {"digital", "pcm"}
    dig, pcm = rows["digital"], rows["pcm"]
    # a key set to null is kept (None), a key the run's config lacks is left out
    assert dig["config"] == {"analog.device": None}
    assert pcm["config"] == {"analog.device": "pcm", "device.periphery": None}
    assert (dig["device"], pcm["device"]) == ("digital", "pcm")
    for name, row in rows.items():
        assert row["status"] == "finished" and row["epochs"] == 1
        assert row["test_accuracy"] == pytest.approx(summaries[name]["test_accuracy"])
        assert row["best_test_accuracy"] == pytest.approx(summaries[name]["test_accuracy"])
        assert row["train_accuracy"] == pytest.approx(summaries[name]["train_accuracy"])
        assert row["train_loss"] == pytest.approx(summaries[name]["train_loss"])
        assert row["seconds"] > 0
    assert dig["pulses"] == 0 and pcm["pulses"] == summaries["pcm"]["pulses"] > 0
    # the text table: a header with the differing keys, one line per run
    res, out = _invoke(["runs", str(root / "sweep")])
    lines = out.strip().splitlines()
    assert lines[0].split()[:3] == ["path", "analog.device", "device.periphery"] and len(lines) == 3
    assert lines[1].split()[:4] == [str(root / "sweep" / "digital"), "null", "-", "digital"]
    assert lines[2].split()[:4] == [str(root / "sweep" / "pcm"), "pcm", "null", "pcm"] and "finished" in lines[2]


def test_runs_csv_matches_json(runs_dir, tmp_path):
    root, _ = runs_dir
    res, out = _invoke(["runs", str(root), "--csv", str(tmp_path / "t.csv"), "--json"])
    assert res.exit_code == 0, res.output
    table = _json_line(out)
    assert len(table["runs"]) == 3  # recursive: sweep/digital, sweep/pcm, nodrift/memristor
    with open(tmp_path / "t.csv", newline="") as f:
        head, *body = list(csv.reader(f))
    assert head == ["path", *table["keys"], "device", "status", "epochs", "test_accuracy", "best_test_accuracy",
                    "train_accuracy", "train_loss", "pulses", "seconds", "energy_per_sample_j",
                    "latency_per_sample_s", "gpu_energy_per_sample_j", "gpu_latency_per_sample_s"] \
        == ["path", *table["keys"], *COLUMNS]
    assert len(body) == len(table["runs"])
    for line, row in zip(body, table["runs"]):
        assert line == [row["path"], *(config_cell(row["config"], k) for k in table["keys"]),
                        *(cell(row[c]) for c in COLUMNS)]
        for c, v in zip(COLUMNS, line[-len(COLUMNS):]):  # numbers round-trip exactly
            if isinstance(row[c], (int, float)) and not isinstance(row[c], bool):
                assert type(row[c])(v) == row[c]
        for k, v in zip(table["keys"], line[1:]):  # config values: JSON / YAML scalars, null, or empty
            if k in row["config"]:
                assert v == ("null" if row["config"][k] is None else cell(row["config"][k]))
            else:
                assert v == ""
    assert not (tmp_path / "t.csv.tmp").exists()


def test_runs_unreadable_file_is_listed_and_nothing_found_exits_2(runs_dir, tmp_path):
    root, _ = runs_dir
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "results.h5").write_bytes(b"not an hdf5 file")
    res, out = _invoke(["runs", str(root / "sweep"), str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    table = _json_line(out)
    broken = [r for r in table["runs"] if r["path"].endswith("broken")]
    assert len(broken) == 1 and broken[0]["status"] == "unreadable" and broken[0]["test_accuracy"] is None
    assert broken[0]["config"] == {}
    assert "unreadable" in res.stderr
    # keys still compare the readable runs only
    assert table["keys"] == ["analog.device", "device.periphery"]
    (tmp_path / "empty").mkdir()
    for args in (["runs", str(tmp_path / "empty")], ["runs", str(tmp_path / "missing")],
                 ["runs", str(root / "sweep"), "--csv", str(tmp_path / "no" / "dir" / "t.csv")]):
        res, _ = _invoke(args)
        assert res.exit_code == 2, args
        assert len(res.stderr.strip().splitlines()) == 1 and res.stderr.startswith("error: ")


# ---------------------------------------------------------------------------- drift


def test_drift_json_t0_accuracy_and_shrinking_weights(runs_dir):
    root, summaries = runs_dir
    run = root / "sweep" / "pcm"
    before = {n: _digest(run / n) for n in ("results.h5", "checkpoint.pt")}
    res, out = _invoke(["drift", str(run), "--times", "1,20,3600,31536000", "--draws", "2", "--json"])
    assert res.exit_code == 0, res.output
    r = _json_line(out)
    assert r["times"] == [1.0, 20.0, 3600.0, 31536000.0] and r["draws"] == 2 and r["t0_s"] == 20.0
    assert r["compensation"] == ["none", "global"] and r["device"] == "pcm" and r["run"] == str(run)
    assert len(r["rows"]) == 8
    for row in r["rows"]:
        assert {"t_s", "compensation", "accuracy_mean", "accuracy_std", "draws"} <= set(row)
        assert row["draws"] == 2 and len(row["accuracies"]) == 2
    rows = {(row["t_s"], row["compensation"]): row for row in r["rows"]}
    # up to t0 the weights are the programmed ones: noise-free reads give the run's final accuracy
    for t in (1.0, 20.0):
        for c in ("none", "global"):
            assert rows[(t, c)]["accuracy_mean"] == summaries["pcm"]["test_accuracy"]
            assert rows[(t, c)]["accuracy_std"] == 0.0
    # drift only lowers the conductances: the summed |W| falls as t grows; compensation restores it
    w = [rows[(t, "none")]["weight_abs_sum"] for t in (20.0, 3600.0, 31536000.0)]
    assert w[0] > w[1] > w[2]
    assert rows[(31536000.0, "global")]["weight_abs_sum"] > 1.5 * w[2]
    assert rows[(31536000.0, "global")]["gain_mean"] > 1.5 and rows[(20.0, "global")]["gain_mean"] == 1.0
    # the result is saved next to the run; results.h5 and checkpoint.pt are untouched
    saved = json.loads((run / "drift.json").read_text())
    assert saved["rows"] == r["rows"] and r["saved"] == str(run / "drift.json")
    assert {n: _digest(run / n) for n in before} == before
    assert not (run / "drift.json.tmp").exists()
    # the table form
    res, out = _invoke(["drift", str(run), "--times", "3600", "--draws", "1", "--compensation", "global"])
    assert res.exit_code == 0, res.output
    assert "global" in out and "none" not in out.split("\n", 2)[2]


def test_global_compensation_restores_the_calibration_output(runs_dir):
    root, _ = runs_dir
    study = DriftStudy(root / "sweep" / "pcm")
    nus = study.exponents(0)
    t = 1e6
    gains = study.gains(t, nus)
    ref = [calibration_read(w) for w in study.weights(study.t0_s, nus)]
    drifted = [calibration_read(w) for w in study.weights(t, nus)]
    assert all(d < r for d, r in zip(drifted, ref)) and all(g > 1 for g in gains)
    for s, nu, g, r0 in zip(study.storages, nus, gains, ref):
        w = s.weight.detach().clone()
        with s.drifted(t, nu, g):  # what the evaluation reads: the weights times the layer's gain
            assert calibration_read(s.weight) == pytest.approx(r0, rel=1e-6)
        assert torch.equal(s.weight, w)  # restored afterwards
    # draws re-sample the exponents from their own seeds, reproducibly; the device state is kept
    again = study.exponents(0)
    assert all(torch.equal(a[0], b[0]) for a, b in zip(nus, again))
    assert not torch.equal(study.exponents(1)[0][0], nus[0][0])
    assert (nus[0][0] >= 0).all() and abs(float(nus[0][0].mean()) - 0.06) < 0.01
    state = study.storages[0].state
    assert not torch.equal(state.nu_plus, nus[0][0])


def test_drift_refuses_digital_and_driftless_runs_and_bad_input(runs_dir, tmp_path):
    root, _ = runs_dir
    pcm = str(root / "sweep" / "pcm")
    cases = [
        ([str(root / "sweep" / "digital")], "digital run"),
        ([str(root / "nodrift" / "memristor")], "no drift"),
        ([pcm, "--times", "1,abc"], "--times"),
        ([pcm, "--times", "0,60"], "--times"),
        ([pcm, "--draws", "0"], "--draws"),
        ([pcm, "--compensation", "local"], "--compensation"),
        ([str(tmp_path / "missing")], "no such run folder"),
        ([str(tmp_path)], "checkpoint not found"),
    ]
    for args, needle in cases:
        res, _ = _invoke(["drift", *args])
        assert res.exit_code == 2, (args, res.output)
        assert len(res.stderr.strip().splitlines()) == 1 and needle in res.stderr, (args, res.stderr)
