"""``analog-ep report``: the HTML page of a tiny analog run (with drift.json), a tiny 2-point sweep,
a compare folder and a deployment; every <img src> a valid PNG next to the page, every linked SVG
parses, bad folders exit 2 with one line. What each page shows is checked against references
(closed forms, the stored values, plain reimplementations); the pages in headless Chromium are
tests/integration/test_report_chromium.py."""

import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from analog_ep.cli import app
from analog_ep.report import figures as F
from analog_ep.report import html as H

runner = CliRunner()
TINY = {"data.train_size": 96, "data.test_size": 48, "model.hidden": [16], "train.epochs": 2}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _invoke(args):
    res = runner.invoke(app, args)
    return res


def _report(folder: Path, *extra) -> dict:
    res = _invoke(["report", str(folder), *extra, "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def analog_run(tmp_path_factory):
    """A 2-epoch memristor run (with drift, so drift.json can be written) and its drift.json."""
    from analog_ep.study.drift import drift_study

    run = tmp_path_factory.mktemp("report") / "run"
    sets = [a for k, v in {**TINY, "device.drift_nu": 0.05}.items() for a in ("--set", f"{k}={json.dumps(v)}")]
    res = _invoke(["train", "--device", "memristor", *sets, "--out", str(run), "--json"])
    assert res.exit_code == 0, res.output
    drift_study(run, [1.0, 3600.0], draws=1, compensation="both")
    assert (run / "drift.json").is_file()
    return run


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
    """A finished 2-point sweep (one swept key, one seed)."""
    from analog_ep.study.sweep import run_sweep

    tmp = tmp_path_factory.mktemp("report_sweep")
    spec = tmp / "noise.yaml"
    spec.write_text(yaml.safe_dump({"base": {"device": "memristor", "set": {**TINY, "train.epochs": 1}},
                                    "grid": {"analog.w_noise_std": [0.0, 0.05]}, "seeds": [0]}, sort_keys=False))
    summary = run_sweep(spec, tmp / "out", workers=1)
    assert summary["points"] == 2 and summary["failed"] == 0
    return tmp / "out"


def _check_page(page: Path) -> tuple[list[Path], list[Path]]:
    """Every <img src> is a PNG file next to the page, every SVG link parses; returns both lists."""
    text = page.read_text()
    assert "http://" not in text and "https://" not in text  # nothing from the network
    srcs = re.findall(r'<img src="([^"]+)"', text)
    svgs = re.findall(r'<a href="([^"]+\.svg)"', text)
    assert srcs and len(svgs) == len(srcs)
    pngs = [page.parent / unquote(s) for s in srcs]
    for p in pngs:
        assert not Path(unquote(p.name)).is_absolute()
        assert p.is_file(), p
        assert p.read_bytes()[:8] == PNG_MAGIC, p
    svg_paths = [page.parent / unquote(s) for s in svgs]
    for s in svg_paths:
        assert s.is_file(), s
        root = ET.parse(s).getroot()
        assert root.tag.endswith("svg")
    return pngs, svg_paths


def test_run_report(analog_run):
    r = _report(analog_run)
    page = analog_run / "report.html"
    assert r["kind"] == "run" and Path(r["out"]) == page and not list(analog_run.glob(".*tmp*"))
    pngs, _ = _check_page(page)
    stems = {p.stem for p in pngs}
    assert stems == {"training", "relaxation", "cost_breakdown", "conductance", "pulses", "wear", "card_response",
                     "drift"}
    assert all(p.parent == analog_run / "report_files" for p in pngs)
    text = page.read_text()
    assert "Rasch et al." in text and "hopfield_mlp" in text  # the card's source and the config table
    assert 'data-images-ok' in text  # the load check script


def test_run_report_out_elsewhere(analog_run, tmp_path):
    out = tmp_path / "sub" / "page.html"
    out.parent.mkdir()
    r = _report(analog_run, "--out", str(out))
    assert Path(r["out"]) == out and (tmp_path / "sub" / "page_files" / "training.png").is_file()
    _check_page(out)


def test_sweep_report(sweep_dir):
    r = _report(sweep_dir)
    assert r["kind"] == "sweep"
    pngs, _ = _check_page(sweep_dir / "report.html")
    assert [p.stem for p in pngs] == ["sweep_lines0", "sweep_accuracy_energy"]
    text = (sweep_dir / "report.html").read_text()
    assert "analog.w_noise_std" in text and "spec.yaml" in text
    assert "1 seed (0)" in text and "seeds</b>0<" not in text  # not "seeds: 0"
    # the folder column: one line cut with an ellipsis, the full path in the title
    cells = re.findall(r'<td class="path" title="([^"]+)">([^<]+)</td>', text)
    assert len(cells) == 2 and all(Path(t).name == Path(v).name for t, v in cells)


def test_compare_report(analog_run, tmp_path):
    """A compare folder: its table, and the curves redrawn from <variant>-seed<k> run folders when
    curves.png is absent (copied when present)."""
    cmp = tmp_path / "cmp"
    cmp.mkdir()
    (cmp / "compare.csv").write_text("variant,seed,test_accuracy\nanalog-ep,0,0.15\n")
    shutil.copytree(analog_run, cmp / "analog-ep-seed0", ignore=shutil.ignore_patterns("report*"))
    _report(cmp)
    pngs, _ = _check_page(cmp / "report.html")
    assert [p.stem for p in pngs] == ["compare_curves"]
    shutil.copyfile(pngs[0], cmp / "curves.png")
    shutil.copyfile(pngs[0].with_suffix(".svg"), cmp / "curves.svg")
    _report(cmp)
    pngs, _ = _check_page(cmp / "report.html")
    assert [p.name for p in pngs] == ["curves.png"]


def test_report_bad_folder(tmp_path):
    for folder, words in ((tmp_path / "absent", "folder not found"), (tmp_path, "not a run, sweep, compare or deploy")):
        res = _invoke(["report", str(folder)])
        assert res.exit_code == 2
        lines = res.output.strip().splitlines()
        assert len(lines) == 1 and words in lines[0], res.output
    (tmp_path / "results.h5").write_text("not hdf5")
    res = _invoke(["report", str(tmp_path)])
    assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1, res.output


# ------------------------------------------------------------------------------------ run page
def test_run_summary_shows_the_settings_that_ran(analog_run):
    """The analog run's summary: per-layer learning rates as its optimizer held them (fan-in rule:
    lr * min(1, 64 / fan_in) with 64 inputs and 16 hidden units: 0.05 both), the effective DAC /
    ADC bits of the memristor card (7 and 9) and its conductance window (5 - 100 uS)."""
    _report(analog_run)
    text = (analog_run / "report.html").read_text()
    assert "<b>learning rate per layer (as run)</b>[0.05, 0.05]" in text
    assert "<b>DAC (effective)</b>7 bits" in text and "<b>ADC (effective)</b>9 bits" in text
    assert "<b>conductance window</b>5 - 100 uS" in text
    assert "G+ - G- of each weight&#x27;s pair in uS" in text


@pytest.fixture(scope="module")
def pcn_runs(tmp_path_factory):
    """Digital PCN runs: PC (pc_energy traces) and EP (nudge+/- energy traces)."""
    root = tmp_path_factory.mktemp("report_pcn")
    base = {"model.name": "pcn_mlp", "model.hidden": [100], "data.train_size": 64, "data.test_size": 32,
            "data.batch_size": 16, "train.epochs": 2, "train.lr": 0.05}
    out = {}
    for algo, extra in (("pc", {"pc.steps": 4}), ("ep", {"solver.nudge_iters": 4})):
        sets = [a for k, v in {**base, **extra, "algorithm": algo}.items() for a in ("--set", f"{k}={json.dumps(v)}")]
        res = _invoke(["train", *sets, "--out", str(root / algo)])
        assert res.exit_code == 0, res.output
        out[algo] = root / algo
    return out


def test_pc_and_ep_energy_traces_and_digital_summary(pcn_runs):
    from analog_ep.results import read_results

    for algo, folder in pcn_runs.items():
        r = _report(folder)
        pngs, _ = _check_page(folder / "report.html")
        assert "energy" in {p.stem for p in pngs}
        text = (folder / "report.html").read_text()
        # digital: nothing analog in the summary
        assert "analog." not in text.split("Settings that ran")[1].split("<h2>")[0]
        assert "DAC" not in text and "Analog device" not in text
        # fan-in rule: 64 inputs -> 0.05; 100 hidden -> 0.05 * 64 / 100 = 0.032
        assert "<b>learning rate per layer (as run)</b>[0.05, 0.032]" in text
        if algo == "pc":
            assert "<b>pc.steps</b>4" in text and "<b>pc.activity_lr</b>" in text and "solver.free_iters" not in text
        else:
            assert "pc.steps" not in text and "<b>solver.nudge_iters</b>4" in text
        traces = read_results(folder / "results.h5")["traces"]
        fig = F.energy_traces_figure(traces)
        names = ["pc_energy"] if algo == "pc" else ["nudge+_energy", "nudge-_energy"]
        a = [np.asarray(traces[n]) for n in names]
        panels = [ax for ax in fig.axes if ax.get_visible()]
        assert len(panels) == (a[0].shape[2] if algo == "pc" else 2)
        for k, ax in enumerate(panels):  # each panel's last line is the last epoch's trace
            want = a[0][-1, :, k] if algo == "pc" else a[k][-1]
            assert np.allclose(ax.lines[-1].get_ydata(), want)
        assert r["kind"] == "run"


def test_relaxation_panels_keep_phases_apart_and_use_the_settled_fraction():
    """free and eval (identical values here) share a panel with distinct line styles; where the
    noise-floor stop stored <phase>_settled_fraction that is plotted (labelled settled), else the
    converged fraction (labelled converged)."""
    ep = {"epoch": np.array([1.0, 2.0]), "free_mean_steps": np.array([30.0, 20.0]),
          "eval_mean_steps": np.array([30.0, 20.0]), "nudge+_mean_steps": np.array([10.0, 8.0]),
          "nudge-_mean_steps": np.array([10.0, 9.0]), "free_converged_fraction": np.array([0.1, 0.2]),
          "eval_converged_fraction": np.array([0.1, 0.2]), "nudge+_converged_fraction": np.array([0.0, 0.0]),
          "nudge-_converged_fraction": np.array([0.0, 0.0]), "nudge+_settled_fraction": np.array([0.7, 0.9]),
          "nudge-_settled_fraction": np.array([0.6, 0.8])}
    fig = F.relaxation_figure(ep)
    steps_fe, steps_pm, frac_fe, frac_pm = fig.axes
    lines = {ln.get_label(): ln for ln in steps_fe.lines}
    assert set(lines) == {"free", "eval"} and lines["free"].get_linestyle() != lines["eval"].get_linestyle()
    assert {ln.get_label() for ln in steps_pm.lines} == {"nudge+", "nudge-"}
    frac = {ln.get_label(): ln.get_ydata() for ln in frac_pm.lines}
    assert set(frac) == {"nudge+: settled", "nudge-: settled"}
    assert np.array_equal(frac["nudge+: settled"], ep["nudge+_settled_fraction"])
    assert {ln.get_label() for ln in frac_fe.lines} == {"free: converged", "eval: converged"}


def test_conductances_in_microsiemens_closed_form():
    """G+ - G- = w / w_scale (G_max - G_min), clipped at the window (memristor: 5 - 100 uS)."""
    from analog_ep.analog.cards import resolve_card

    card = resolve_card("memristor", {})
    p = card.params
    scale = max(abs(p.w_min), abs(p.w_max))
    w = np.array([-2.0, -1.0, -0.25, 0.0, 0.5, 1.0]) * scale
    assert np.allclose(H.conductances_us(w, card), np.clip(w / scale, -1, 1) * (p.g_max_us - p.g_min_us))


def test_wear_tick_labels_are_short():
    """Pulse counts up to 50 000: at most 5 ticks, labels with SI prefixes (``20k``), none longer
    than 4 characters."""
    fig = F.histograms_figure({"a": np.linspace(0, 50_000, 200), "b": np.arange(0, 1_200_000, 997)},
                              "pulses per device", "wear", log_y=True, counts=True)
    fig.canvas.draw()
    for ax in fig.axes:
        lo, hi = ax.get_xlim()
        labels = [t.get_text() for t, x in zip(ax.get_xticklabels(), ax.get_xticks()) if lo <= x <= hi]
        assert 2 <= len(labels) <= 5, labels
        assert all(len(x) <= 4 and re.fullmatch(r"[0-9.]+[kM]?", x) for x in labels), labels


# ------------------------------------------------------------------------------- deploy page
def test_deploy_report_and_run_page_deployments(analog_run, tmp_path):
    """A deploy folder renders its own page (accuracy against time without and with global
    compensation, the stored values in its table, why accuracy can rise); a run folder with a
    deployment under deploy/ shows it too."""
    from analog_ep.study.deploy import NOTE, deploy_run

    dep = tmp_path / "dep"
    result = deploy_run(analog_run, "pcm", times=[1.0, 86400.0], out=dep)
    r = _report(dep)
    assert r["kind"] == "deploy"
    pngs, _ = _check_page(dep / "report.html")
    assert [p.stem for p in pngs] == ["deploy"]
    text = (dep / "report.html").read_text()
    assert H._e(NOTE) in text and "global" in text
    for row in result["rows"]:
        assert f"<td>{row['compensation']}</td><td class=\"num\">{H.fmt_value(row['accuracy_mean'])}</td>" in text
    fig = F.deploy_figure(result)
    labels = {t.get_text() for t in fig.axes[0].get_legend().get_texts()}
    assert {"no compensation", "global drift compensation", "as programmed"} <= labels
    in_run = analog_run / "deploy" / "pcm-test"
    shutil.copytree(dep, in_run, ignore=shutil.ignore_patterns("report*"))
    try:
        _report(analog_run)
        pngs, _ = _check_page(analog_run / "report.html")
        assert "deploy0" in {p.stem for p in pngs} and "Deployments" in (analog_run / "report.html").read_text()
    finally:
        shutil.rmtree(analog_run / "deploy")


# -------------------------------------------------------------------------------- sweep page
def _write_csv(path: Path, columns: list[str], rows: list[list]) -> None:
    path.write_text(",".join(columns) + "\n" + "".join(",".join(str(v) for v in r) + "\n" for r in rows))


def test_sweep_lines_band_and_digital_baseline(tmp_path):
    """A sweep over analog.device (null = digital) and analog.w_noise_std with 2 seeds: the
    digital points become the baseline (a dashed line at their mean), the points on tiles one line
    against w_noise_std whose values are the means over seeds and whose band is their min-max."""
    cols = ["analog.device", "analog.w_noise_std", "seed", "test_accuracy", "status", "folder"]
    acc = {("", 0.0): (0.91, 0.93), ("", 0.05): (0.90, 0.92), ("memristor", 0.0): (0.80, 0.84),
           ("memristor", 0.05): (0.70, 0.76)}
    rows = [[d, w, s, a[s], "finished", str(tmp_path / f"p{d}{w}{s}")] for (d, w), a in acc.items() for s in (0, 1)]
    _write_csv(tmp_path / "sweep.csv", cols, rows)
    _report(tmp_path)
    text = (tmp_path / "report.html").read_text()
    assert "2 seeds (0, 1)" in text and "digital points&#x27; mean as a dashed reference line" in text
    _, table = H._read_csv(tmp_path / "sweep.csv")
    tiles, base = H.sweep_baseline(table, cols[:2])
    assert sorted(base) == [0.90, 0.91, 0.92, 0.93] and len(tiles) == 4
    fig = F.sweep_lines_figure(tiles, "analog.w_noise_std", None, base)
    ax = fig.axes[0]
    ref = [ln for ln in ax.lines if ln.get_label().startswith("digital baseline")]
    assert len(ref) == 1 and np.allclose(ref[0].get_ydata(), np.mean(base))
    mean = [ln for ln in ax.lines if ln.get_label().startswith("mean")][0]
    assert np.allclose(mean.get_xdata(), [0.0, 0.05]) and np.allclose(mean.get_ydata(), [0.82, 0.73])
    band = ax.collections[0].get_paths()[0].vertices[:, 1]
    assert np.isclose(band.min(), 0.70) and np.isclose(band.max(), 0.84)


def test_sweep_two_keys_one_line_per_value_of_the_other(sweep_dir, tmp_path):
    """Two swept keys (3 x 2 points): one figure per key, one line per value of the other key."""
    cols = ["analog.w_noise_std", "train.lr", "seed", "test_accuracy", "status", "folder"]
    rows = [[w, lr, 0, 0.5 + w + lr, "finished", "x"] for w in (0.0, 0.02, 0.05) for lr in (0.01, 0.1)]
    _write_csv(tmp_path / "sweep.csv", cols, rows)
    _report(tmp_path)
    pngs, _ = _check_page(tmp_path / "report.html")
    assert [p.stem for p in pngs] == ["sweep_heatmap", "sweep_lines0", "sweep_lines1"]
    _, table = H._read_csv(tmp_path / "sweep.csv")
    fig = F.sweep_lines_figure(table, "analog.w_noise_std", "train.lr")
    lines = {ln.get_label(): ln.get_ydata() for ln in fig.axes[0].lines if "=" in ln.get_label()}
    assert set(lines) == {"train.lr = 0.01 (n = 1 seed)", "train.lr = 0.1 (n = 1 seed)"}
    assert np.allclose(lines["train.lr = 0.1 (n = 1 seed)"], [0.6, 0.62, 0.65])


# ------------------------------------------------------------------------------ compare page
def test_compare_summary_bars_and_one_number_format(tmp_path):
    cmp = tmp_path / "cmp"
    cmp.mkdir()
    cols = ["name", "algorithm", "device", "update", "seeds", "finished", "test_accuracy_mean", "test_accuracy_std",
            "train_accuracy_mean", "pulses_layer0", "pulses_layer1", "seconds_per_epoch_mean",
            "energy_per_sample_j_mean", "gpu_energy_per_sample_j_mean", "grad_cosine_layer0", "grad_cosine_layer1",
            "status", "error"]
    rows = [["ep-digital", "ep", "digital", "", 2, 2, 0.912345678, 0.01, 0.95, 0.0, 0.0, 1.5, "", 2.5e-7, "", "",
             "finished", ""],
            ["ep-analog", "ep", "memristor", "pulsed", 2, 2, 0.85, 0.02, 0.9, 12000.0, 3000.0, 2.0, 2.4e-8, "",
             0.97, 0.91, "finished", ""],
            ["ep-deployed", "ep", "memristor", "", 2, 2, 0.8, 0.03, "", "", "", "", "", "", "", "", "finished", ""],
            ["bp-digital", "bp", "digital", "", 2, 2, 0.93, 0.005, 0.97, 0.0, 0.0, 0.5, "", 1e-7, "", "",
             "finished", ""]]
    _write_csv(cmp / "compare.csv", cols, rows)
    (cmp / "compare.yaml").write_text(yaml.safe_dump({
        "config": {"model": {"name": "hopfield_mlp"}, "data": {"name": "fashion_mnist", "train_size": 5000,
                                                               "test_size": 1000},
                   "analog": {"device": "memristor"}, "train": {"epochs": 3}},
        "seeds": [0, 1], "variants": ["ep-digital", "ep-analog", "bp-digital"]}))
    _report(cmp)
    pngs, _ = _check_page(cmp / "report.html")
    assert [p.stem for p in pngs] == ["compare_accuracy", "compare_grad_cosine", "compare_pulses",
                                      "compare_accuracy_energy"]
    text = (cmp / "report.html").read_text()
    for item in ("<b>model</b>hopfield_mlp", "<b>dataset</b>fashion_mnist", "<b>card</b>memristor",
                 "<b>epochs</b>3", "<b>seeds</b>2 seeds (0, 1)"):
        assert item in text, item
    assert "<th>ep-deployed</th>" in text
    # one number format: every numeric cell is fmt_value of itself, the long float is cut to 4 digits
    cells = re.findall(r'<td class="num">([^<]*)</td>', text)
    assert cells and all(H.fmt_value(float(c)) == c for c in cells)
    assert "0.9123" in text and "0.912345678" not in text
    _, table = H._read_csv(cmp / "compare.csv")
    fig = F.compare_bars_figure({r["name"]: float(r["test_accuracy_mean"]) for r in table}, "acc", "t",
                                spread={r["name"]: float(r["test_accuracy_std"]) for r in table})
    heights = [b.get_height() for b in fig.axes[0].patches]
    assert np.allclose(heights, [0.912345678, 0.85, 0.8, 0.93])


def test_sweep_with_a_deploy_table(tmp_path):
    """A sweep with a ``deploy:`` section: its deploy.csv drawn per point and card (the values of
    the table, without and with compensation) with the note on why accuracy can rise."""
    from analog_ep.study.deploy import NOTE

    _write_csv(tmp_path / "sweep.csv", ["train.lr", "seed", "test_accuracy", "status", "folder"],
               [[0.01, 0, 0.8, "finished", "a"], [0.1, 0, 0.85, "finished", "b"]])
    cols = ["train.lr", "seed", "device", "t_s", "compensation", "accuracy_mean", "accuracy_std", "repeats",
            "trained_accuracy", "status", "error", "deploy_folder"]
    rows = []
    for lr in (0.01, 0.1):
        rows.append([lr, 0, "pcm", "", "", 0.79, 0.0, 1, 0.8, "finished", "", "d"])
        rows += [[lr, 0, "pcm", t, c, a, 0.01, 1, 0.8, "finished", "", "d"]
                 for t, c, a in ((1.0, "none", 0.79), (86400.0, "none", 0.75), (1.0, "global", 0.79),
                                 (86400.0, "global", 0.78))]
    _write_csv(tmp_path / "deploy.csv", cols, rows)
    _report(tmp_path)
    pngs, _ = _check_page(tmp_path / "report.html")
    assert [p.stem for p in pngs] == ["sweep_lines0", "sweep_deploy0", "sweep_deploy1"]
    assert H._e(NOTE) in (tmp_path / "report.html").read_text()
