"""``analog-ep compare``: five variants x seeds as run folders, the per-variant table (mean and std
over seeds), the curves, gradient cosines at initialization, reruns that skip, bad input."""

import csv
import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from analog_ep.cli import app

runner = CliRunner()
TINY = ["--set", "data.train_size=96", "--set", "data.test_size=48", "--set", "model.hidden=[16]",
        "--set", "train.epochs=1"]
IDEAL = ["--device", "ideal", "--set", "analog.update=ideal", *TINY, "--seeds", "2"]
VARIANTS = ["ep-digital", "ep-analog", "ep-mixed", "bp-digital", "bp-analog"]
ROWS = ["ep-digital", "ep-analog", "ep-mixed", "ep-deployed", "bp-digital", "bp-analog"]
"""The table's rows: the variants' and ep-deployed (ep-digital's runs programmed onto the tiles)."""


def _compare(args):
    res = runner.invoke(app, ["compare", *args])
    out = res.stdout.strip().splitlines()
    return res, json.loads(out[-1]) if "--json" in args and out and out[-1].startswith("{") else None


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare") / "cmp"
    res, summary = _compare([*IDEAL, "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    return out, summary


def test_compare_rows_runs_and_std(compared):
    from analog_ep.results import read_results

    out, s = compared
    assert [r["name"] for r in s["rows"]] == ROWS
    assert s["ran"] == 10 and s["skipped"] == 0 and s["failed"] == 0
    for v in VARIANTS:
        for seed in (0, 1):
            assert read_results(out / f"{v}-seed{seed}" / "results.h5")["status"] == "finished"
    for row in s["rows"]:
        if row["name"] == "ep-deployed":
            continue
        assert row["status"] == "finished" and row["finished"] == 2
        accs = [read_results(out / f"{row['name']}-seed{k}" / "results.h5")["epochs"]["test_accuracy"][-1]
                for k in (0, 1)]
        mean = sum(accs) / 2
        assert row["test_accuracy_mean"] == pytest.approx(mean)
        assert row["test_accuracy_std"] == pytest.approx(math.sqrt(sum((a - mean) ** 2 for a in accs)))
        assert row["seconds_per_epoch_mean"] > 0
        assert {"pulses_layer0", "pulses_layer1"} <= set(row)
    rows = {r["name"]: r for r in s["rows"]}
    assert rows["ep-digital"]["pulses_layer0"] == 0.0 and rows["ep-mixed"]["pulses_layer0"] > 0


def test_compare_csv_equals_json(compared):
    out, s = compared
    assert s["table"] == str(out / "compare.csv")
    with open(out / "compare.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert len(table) == len(s["rows"]) == 6
    for got, want in zip(table, s["rows"]):
        assert list(got) == list(want)
        for k, v in want.items():
            if v is None:
                assert got[k] == ""
            elif isinstance(v, float):
                assert float(got[k]) == v
            else:
                assert got[k] == str(v)


def test_compare_figures(compared):
    out, s = compared
    assert s["figures"] == [str(out / "curves.png"), str(out / "curves.svg")]
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import xml.etree.ElementTree as ET

    assert ET.parse(out / "curves.svg").getroot().tag.endswith("svg")


def test_compare_grad_cosines_ideal(compared):
    _, s = compared
    rows = {r["name"]: r for r in s["rows"]}
    assert s["grad_cosine_at"] == "initialization"
    keys = [k for k in rows["ep-analog"] if k.startswith("grad_cosine_layer")]
    assert keys == ["grad_cosine_layer0", "grad_cosine_layer1"]
    for name in ("ep-analog", "ep-mixed"):
        for k in keys:
            assert -1.0 <= rows[name][k] <= 1.0 and rows[name][k] > 0.999  # ideal periphery: equal gradients
    for name in ("ep-digital", "ep-deployed", "bp-digital", "bp-analog"):
        assert all(rows[name][k] is None for k in keys)


def test_compare_deployed_row_ideal(compared):
    """ep-deployed: each seed's ep-digital run programmed onto the ideal tiles keeps its accuracy
    exactly (ideal tiles == matmul), so the row equals ep-digital's; the deployments live in the
    digital runs' deploy/ folders."""
    out, s = compared
    rows = {r["name"]: r for r in s["rows"]}
    dep, dig = rows["ep-deployed"], rows["ep-digital"]
    assert dep["status"] == "finished" and dep["finished"] == dep["seeds"] == 2 and dep["device"] == "ideal"
    assert dep["test_accuracy_mean"] == dig["test_accuracy_mean"]
    assert dep["test_accuracy_std"] == dig["test_accuracy_std"]
    assert dep["train_accuracy_mean"] is None and dep["pulses_layer0"] is None
    for seed in (0, 1):
        saved = list((out / f"ep-digital-seed{seed}" / "deploy").glob("ideal-*/deploy.json"))
        assert len(saved) == 1


def test_compare_rerun_skips_everything(compared):
    out, s = compared
    mtime = (out / "ep-analog-seed0" / "results.h5").stat().st_mtime_ns
    res, again = _compare([*IDEAL, "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    assert again["ran"] == 0 and again["skipped"] == 10
    assert (out / "ep-analog-seed0" / "results.h5").stat().st_mtime_ns == mtime
    assert again["rows"] == s["rows"]


def test_compare_refuses_other_compare_and_bad_input(compared, tmp_path, monkeypatch):
    out, _ = compared
    res, _ = _compare(["--device", "ideal", *TINY, "--seeds", "1", "--out", str(out)])
    assert res.exit_code == 2 and "different compare" in res.output and "--overwrite" in res.output
    monkeypatch.chdir(tmp_path)
    for args in ([*TINY], ["--device", "ideal", "--set", "data.bogus=1"], ["--device", "nosuchcard"],
                 ["--device", "ideal", "--seeds", "0"]):
        res, _ = _compare([*args, "--out", str(tmp_path / "x")])
        assert res.exit_code == 2, res.output
        assert res.output.startswith("error: ") and len(res.output.strip().splitlines()) == 1, res.output
    res, _ = _compare(TINY)
    assert res.exit_code == 2
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_compare_failed_variant_recorded(tmp_path, monkeypatch):
    import analog_ep.train.loop as loop

    real = loop.make_trainer

    def make(cfg, *a, **k):
        if cfg.algorithm == "bp" and cfg.analog.device is not None:
            raise RuntimeError("tile exploded")
        return real(cfg, *a, **k)

    monkeypatch.setattr(loop, "make_trainer", make)
    res, s = _compare([*IDEAL[:-1], "1", "--out", str(tmp_path / "c"), "--json"])
    assert res.exit_code == 1, res.output
    rows = {r["name"]: r for r in s["rows"]}
    assert rows["bp-analog"]["status"] == "failed" and "tile exploded" in rows["bp-analog"]["error"]
    assert rows["bp-analog"]["test_accuracy_mean"] is None
    assert all(rows[v]["status"] == "finished" for v in ROWS[:5]) and s["failed"] == 1
    assert (tmp_path / "c" / "compare.csv").is_file() and (tmp_path / "c" / "curves.png").is_file()


def test_a_run_that_failed_now_shows_failed_not_its_folders_older_status(tmp_path, monkeypatch):
    """Review of session 11: a run refused in this invocation (its folder untouched) whose folder
    holds an earlier run's ``diverged`` showed ``diverged`` beside the new error. A run in
    ``errors`` shows the status the runner returned (``failed``; a fresh divergence stays
    ``diverged``), else ``failed``; the folders' statuses stand for the runs that did not fail now
    (no training: the folders' statuses given)."""
    from analog_ep.config import load_config
    from analog_ep.study import compare as C

    cfg = load_config(None, [])
    runs = [{"variant": v[0], "name": f"{v[0]}-s0", "cfg": cfg} for v in C.VARIANTS]
    on_disk = {"ep-digital-s0": "diverged", "ep-analog-s0": "diverged", "ep-mixed-s0": "missing",
               "bp-digital-s0": "interrupted", "bp-analog-s0": "diverged"}
    monkeypatch.setattr(C, "read_epochs", lambda folder: (on_disk[folder.name], {}))
    errors = {"ep-digital-s0": "analog.settle_dt_s: 9e-08 s is at or above the stability bound",
              "ep-analog-s0": "DivergenceError: nan", "ep-mixed-s0": "RuntimeError: boom"}
    outcomes = {"ep-digital-s0": "failed", "ep-analog-s0": "diverged"}
    rows = {r["name"]: r for r in C.build_rows(tmp_path, runs, errors, {}, outcomes)[0]}
    assert {k: r["status"] for k, r in rows.items()} == {
        "ep-digital": "failed", "ep-analog": "diverged", "ep-mixed": "failed", "bp-digital": "interrupted",
        "bp-analog": "diverged"}
    assert "stability bound" in rows["ep-digital"]["error"] and rows["bp-analog"]["error"] is None
    rows = {r["name"]: r for r in C.build_rows(tmp_path, runs, errors, {})[0]}  # no outcomes: failed
    assert [rows[k]["status"] for k in ("ep-digital", "ep-analog", "ep-mixed")] == ["failed"] * 3


def test_compare_runs_a_settle_beside_backprop_on_the_same_tiles(tmp_path):
    """``analog.relaxation=settle``: the EP variants on tiles settle, the backprop variant on the
    same tiles (which relaxes nothing) runs with the default relaxation; before session 14 the
    bp-analog variant kept the settle and compare refused every settle config."""
    from analog_ep.config.schema import AnalogConfig
    from analog_ep.results import read_results
    from analog_ep.study.compare import build_variants

    over = ["data.name=digits", "model.hidden=[12]", "analog.device=memristor", "analog.relaxation=settle",
            "analog.settle_t_max_s=2e-6"]
    _, runs = build_variants(None, over, 1)
    got = {r["variant"]: (r["cfg"].analog.relaxation, r["cfg"].analog.settle_t_max_s) for r in runs}
    assert got["ep-analog"] == got["ep-mixed"] == ("settle", 2e-6)
    default = AnalogConfig()
    assert got["bp-analog"] == got["bp-digital"] == got["ep-digital"] == (default.relaxation,
                                                                          default.settle_t_max_s)
    out = tmp_path / "cmp"
    res, s = _compare(["--device", "memristor", "--set", "analog.relaxation=settle", *TINY, "--seeds", "1",
                       "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    assert s["failed"] == 0 and s["ran"] == 5
    ep = read_results(out / "ep-analog-seed0" / "results.h5")["epochs"]
    assert "free_settle_time_s" in ep and ep["free_settle_time_s"][-1] > 0
    assert "free_settle_time_s" not in read_results(out / "bp-analog-seed0" / "results.h5")["epochs"]
