"""Every page ``analog-ep report`` writes, opened in headless Chromium at 1280 px: a tiny analog
run (with a deployment of its own), a tiny sweep (2 x 1 points, 2 seeds), a tiny compare on the
digits (1 seed, with its ep-deployed row) and a deploy folder. Each page's own load script writes
``data-images-ok="N/M"`` and ``data-layout="scroll-width=W client-width=C clipped-tables=K"`` on
``<body>``; the dumped DOM must show every image decoded (naturalWidth > 0), a page no wider than
the window (scrollWidth <= 1280) and no table that needs its own horizontal scroll."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from analog_ep.cli import app

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install -y chromium); "
                                                         "the CI machine has it")
runner = CliRunner()
WIDTH = 1280
TINY = {"data.train_size": 96, "data.test_size": 48, "model.hidden": [16]}


def _sets(d: dict) -> list[str]:
    return [a for k, v in d.items() for a in ("--set", f"{k}={json.dumps(v)}")]


def _ok(args: list[str]) -> str:
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    return res.stdout


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """The four kinds of page, rendered: ``{kind: report.html}``."""
    root = tmp_path_factory.mktemp("chromium")
    run = root / "run"
    _ok(["train", "--device", "memristor", *_sets({**TINY, "train.epochs": 2}), "--out", str(run)])
    dep = root / "deploy-pcm"
    _ok(["deploy", str(run), "--device", "pcm", "--times", "1,86400", "--out", str(dep)])
    _ok(["deploy", str(run), "--device", "pcm", "--times", "1,3600"])  # into run/deploy/: the run page shows it
    spec = root / "spec.yaml"
    spec.write_text(yaml.safe_dump({"base": {"device": "memristor", "set": {**TINY, "train.epochs": 1}},
                                    "grid": {"analog.w_noise_std": [0.0, 0.05], "train.lr": [0.05]},
                                    "seeds": [0, 1]}, sort_keys=False))
    sweep = root / "sweep"
    _ok(["sweep", str(spec), "--out", str(sweep), "--workers", "1"])
    cmp = root / "compare"
    _ok(["compare", "--device", "memristor", *_sets({**TINY, "train.epochs": 1}), "--seeds", "1", "--out", str(cmp)])
    out = {}
    for kind, folder in (("run", run), ("deploy", dep), ("sweep", sweep), ("compare", cmp)):
        r = json.loads(_ok(["report", str(folder), "--json"]).strip().splitlines()[-1])
        assert r["kind"] == kind
        out[kind] = Path(r["out"])
    return out


def _dom(page: Path, profile: Path) -> str:
    return subprocess.run([CHROMIUM, "--headless", "--disable-gpu", "--no-sandbox", f"--window-size={WIDTH},900",
                           f"--user-data-dir={profile}", "--virtual-time-budget=5000", "--dump-dom",
                           page.resolve().as_uri()], capture_output=True, text=True, timeout=120).stdout


@pytest.mark.parametrize("kind", ["run", "deploy", "sweep", "compare"])
def test_page_in_chromium(pages, kind, tmp_path):
    page = pages[kind]
    n = len(re.findall(r"<img ", page.read_text()))
    assert n >= {"run": 6, "deploy": 1, "sweep": 3, "compare": 4}[kind]
    dom = _dom(page, tmp_path / "profile")
    m = re.search(r'data-images-ok="(\d+)/(\d+)"', dom)
    assert m, dom[:500]
    assert int(m[1]) == int(m[2]) == n, m[0]  # every image decoded
    m = re.search(r'data-layout="scroll-width=(\d+) client-width=(\d+) clipped-tables=(\d+)"', dom)
    assert m, dom[:500]
    width, client, clipped = map(int, m.groups())
    assert client <= WIDTH and width <= WIDTH, m[0]  # no horizontal overflow at 1280 px
    assert clipped == 0, m[0]  # every table's columns visible without scrolling
