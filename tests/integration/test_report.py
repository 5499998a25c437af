"""``analog-ep report``: the HTML page of a tiny analog run (with drift.json), a tiny 2-point sweep
and a compare folder; every <img src> a valid PNG next to the page, every linked SVG parses, bad
folders exit 2 with one line; and in headless Chromium every image loads."""

import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import unquote

import pytest
import yaml
from typer.testing import CliRunner

from analog_ep.cli import app

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
    assert [p.stem for p in pngs] == ["sweep_axis0", "sweep_accuracy_energy"]
    text = (sweep_dir / "report.html").read_text()
    assert "analog.w_noise_std" in text and "spec.yaml" in text


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


def test_report_in_chromium(analog_run, sweep_dir, tmp_path):
    """Every image of both pages decodes in headless Chromium (the page's own load script writes
    data-images-ok="N/M" on <body>); a screenshot of each page is written too."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium binary not found (apt-get install -y chromium)")
    for folder in (analog_run, sweep_dir):
        page = folder / "report.html"
        if not page.is_file():
            _report(folder)
        n = len(re.findall(r"<img ", page.read_text()))
        base = [chromium, "--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars",
                f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000"]
        dom = subprocess.run([*base, "--dump-dom", page.resolve().as_uri()], capture_output=True, text=True,
                             timeout=120).stdout
        m = re.search(r'data-images-ok="(\d+)/(\d+)"', dom)
        assert m, dom[:500]
        assert int(m[1]) == int(m[2]) == n, m[0]
        shot = tmp_path / f"{folder.name}.png"
        subprocess.run([*base, f"--screenshot={shot}", "--window-size=1200,2000", page.resolve().as_uri()],
                       capture_output=True, timeout=120)
        assert shot.read_bytes()[:8] == PNG_MAGIC
