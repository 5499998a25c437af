"""What the learning costs, in every table and report (issue 19 item 4): ``runs``, ``sweep`` and
``compare`` carry the cost columns, each equal to the runs' own ``results.h5`` last-epoch figures
(compare: the mean over seeds; chip figures for the variants on tiles, GPU estimates for the
digital ones); ``report`` draws a run's energy breakdown (the bars are the stored parts, which sum
to the stored total) and a sweep's / comparison's accuracy against energy, and the page
references the files."""

import csv
import json
import re
from pathlib import Path

import h5py
import pytest
import yaml
from typer.testing import CliRunner

from analog_ep.cli import app
from analog_ep.report.figures import cost_breakdown
from analog_ep.results import read_results
from analog_ep.study.costcols import fmt_cost, last_epoch

runner = CliRunner()
TINY = {"data.train_size": 64, "data.test_size": 32, "model.hidden": [16], "train.epochs": 1,
        "solver.free_iters": 6, "solver.nudge_iters": 3, "data.batch_size": 32}
SETS = [a for k, v in TINY.items() for a in ("--set", f"{k}={json.dumps(v)}")]
RUN_COSTS = ("energy_per_sample_j", "latency_per_sample_s", "gpu_energy_per_sample_j", "gpu_latency_per_sample_s")


def _json(res) -> dict:
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout.strip().splitlines()[-1])


def _last(folder: Path, key: str):
    return last_epoch(read_results(Path(folder) / "results.h5")["epochs"], key)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("surfaces")
    _json(runner.invoke(app, ["train", *SETS, "--device", "memristor", "--out", str(root / "analog"), "--json"]))
    _json(runner.invoke(app, ["train", *SETS, "--out", str(root / "digital"), "--json"]))
    return root


def test_runs_table_has_the_last_epoch_costs(runs, tmp_path):
    table = _json(runner.invoke(app, ["runs", str(runs), "--json", "--csv", str(tmp_path / "runs.csv")]))
    rows = {Path(r["path"]).name: r for r in table["runs"]}
    for name, row in rows.items():
        for k in RUN_COSTS:
            assert row[k] == _last(runs / name, k), (name, k)
    assert rows["analog"]["energy_per_sample_j"] > 0 and rows["analog"]["latency_per_sample_s"] > 0
    assert rows["digital"]["energy_per_sample_j"] is None and rows["digital"]["gpu_energy_per_sample_j"] > 0
    with open(tmp_path / "runs.csv", newline="") as f:
        for r in csv.DictReader(f):
            want = rows[Path(r["path"]).name]
            for k in RUN_COSTS:
                assert (r[k] == "") if want[k] is None else (float(r[k]) == want[k]), k
    text = runner.invoke(app, ["runs", str(runs)]).stdout
    assert "energy_per_sample_j" in text.splitlines()[0]
    assert fmt_cost(rows["analog"]["energy_per_sample_j"], "J") in text
    assert fmt_cost(rows["digital"]["gpu_energy_per_sample_j"], "J") in text
    assert re.fullmatch(r"\d\.\d\de-\d\d J", fmt_cost(rows["analog"]["energy_per_sample_j"], "J"))


def _page_refs(page: Path, stem: str) -> bool:
    text = page.read_text()
    return f'src="report_files/{stem}.png"' in text and f'href="report_files/{stem}.svg"' in text


def test_run_report_draws_the_breakdown(runs):
    res = _json(runner.invoke(app, ["report", str(runs / "analog"), "--json"]))
    files = Path(res["files"])
    assert (files / "cost_breakdown.png").is_file() and (files / "cost_breakdown.svg").is_file()
    assert _page_refs(runs / "analog" / "report.html", "cost_breakdown")
    ep = read_results(runs / "analog" / "results.h5")["epochs"]
    energy, latency = cost_breakdown(ep)
    assert list(energy) == ["free", "nudge+", "nudge-", "update"] and set(latency) == set(energy)
    assert sum(sum(c.values()) for c in energy.values()) == pytest.approx(last_epoch(ep, "energy_per_sample_j"),
                                                                          rel=1e-9)
    assert sum(latency.values()) == pytest.approx(last_epoch(ep, "latency_per_sample_s"), rel=1e-9)
    assert "Cost of the learning" in (runs / "analog" / "report.html").read_text()
    # a digital run: the GPU estimate in the table, no breakdown figure
    res = _json(runner.invoke(app, ["report", str(runs / "digital"), "--json"]))
    assert not any("cost_breakdown" in f for f in res["figures"])
    page = (runs / "digital" / "report.html").read_text()
    assert fmt_cost(_last(runs / "digital", "gpu_energy_per_sample_j"), "J") in page


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    from analog_ep.study.sweep import run_sweep

    tmp = tmp_path_factory.mktemp("surfaces_sweep")
    spec = tmp / "bits.yaml"
    spec.write_text(yaml.safe_dump({"base": {"device": "memristor", "set": TINY},
                                    "grid": {"analog.out_bits": [4, 8]}, "seeds": [0]}, sort_keys=False))
    summary = run_sweep(spec, tmp / "out", workers=1)
    assert summary["points"] == 2 and summary["failed"] == 0
    return tmp / "out"


def test_sweep_table_has_the_last_epoch_costs(swept):
    cols = ("energy_per_sample_j", "latency_per_sample_s", "gpu_energy_per_sample_j", "area_mm2")
    with open(swept / "sweep.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    with h5py.File(swept / "sweep.h5") as f:
        h5 = {c: f[c][()] for c in cols}
    for i, r in enumerate(rows):
        for c in cols:
            want = _last(r["folder"], c)
            assert want is not None and float(r[c]) == want == h5[c][i], c
    # the 8-bit ADCs cost more than the 4-bit ones (same counts of conversions, more bits)
    by_bits = {int(r["analog.out_bits"]): float(r["energy_per_sample_j"]) for r in rows}
    assert by_bits[8] > by_bits[4]


def test_sweep_report_draws_accuracy_against_energy(swept):
    from analog_ep.report.html import sweep_cost_points

    _json(runner.invoke(app, ["report", str(swept), "--json"]))
    assert (swept / "report_files" / "sweep_accuracy_energy.png").is_file()
    assert _page_refs(swept / "report.html", "sweep_accuracy_energy")
    with open(swept / "sweep.csv", newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        points = sweep_cost_points(reader.fieldnames, rows, ["analog.out_bits"])
    assert [p["label"] for p in points] == ["out_bits=4", "out_bits=8"]
    for p, r in zip(points, rows):
        assert p["energy"] == _last(r["folder"], "energy_per_sample_j") and not p["gpu"]
        assert p["accuracy"] == _last(r["folder"], "test_accuracy")
    assert "Pareto front" in (swept / "report.html").read_text()


def test_old_sweep_table_renders_without_the_cost_figure(swept, tmp_path):
    old = tmp_path / "old"
    old.mkdir()
    with open(swept / "sweep.csv", newline="") as f:
        reader = csv.DictReader(f)
        keep = [c for c in reader.fieldnames if "energy" not in c and "latency" not in c and c != "area_mm2"]
        rows = list(reader)
    with open(old / "sweep.csv", "w", newline="") as f:
        w = csv.DictWriter(f, keep, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    res = _json(runner.invoke(app, ["report", str(old), "--json"]))
    assert res["figures"] and not any("accuracy_energy" in f for f in res["figures"])


def test_compare_rows_carry_chip_and_gpu_costs(tmp_path):
    out = tmp_path / "cmp"
    res = runner.invoke(app, ["compare", "--device", "memristor", *SETS, "--seeds", "1", "--out", str(out), "--json"])
    s = _json(res)
    rows = {r["name"]: r for r in s["rows"]}
    chip = ("energy_per_sample_j", "latency_per_sample_s", "area_mm2")
    gpu = ("gpu_energy_per_sample_j", "gpu_latency_per_sample_s")
    for name in ("ep-analog", "ep-mixed", "bp-analog"):  # on tiles: BP on the same chip too
        for k in chip:
            assert rows[name][f"{k}_mean"] == _last(out / f"{name}-seed0", k) > 0, (name, k)
        assert all(rows[name][f"{k}_mean"] is None for k in gpu)
    for name in ("ep-digital", "bp-digital"):  # digital EP on a GPU, the GPU backprop estimate
        for k in gpu:
            assert rows[name][f"{k}_mean"] == _last(out / f"{name}-seed0", k) > 0, (name, k)
        assert all(rows[name][f"{k}_mean"] is None for k in chip)
    with open(out / "compare.csv", newline="") as f:
        table = {r["name"]: r for r in csv.DictReader(f)}
    for name, row in rows.items():
        for k in (*chip, *gpu):
            v = row[f"{k}_mean"]
            assert (table[name][f"{k}_mean"] == "") if v is None else float(table[name][f"{k}_mean"]) == v
    from analog_ep.study.compare import format_rows

    lines = format_rows(s["rows"])
    assert "energy/sample" in lines[0] and "area" in lines[0]
    assert fmt_cost(rows["bp-analog"]["area_mm2_mean"], "mm2") in next(ln for ln in lines if ln.startswith("bp-analog"))
    assert "gpu" in next(ln for ln in lines if ln.startswith("bp-digital")).split()
    assert "chip" in next(ln for ln in lines if ln.startswith("ep-analog")).split()
    # the report's accuracy-energy figure: the chip variants and the GPU estimates
    rep = _json(runner.invoke(app, ["report", str(out), "--json"]))
    assert str(out / "report_files" / "compare_accuracy_energy.png") in rep["figures"]
    assert _page_refs(out / "report.html", "compare_accuracy_energy")
