"""Two leftovers of the session-8 walkthrough (benchmarks/walkthrough_s8.md, N6 and N8), each
failing before its fix: an empty sweep spec ran one default 10-epoch point, and a rerun with an
edited spec into its folder overwrote ``spec.yaml``, losing the text its earlier points ran with."""

import hashlib
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from analog_ep.cli import app
from analog_ep.study.sweep import read_table
from conftest import one_line_error

runner = CliRunner()
TINY = {"data.train_size": 32, "data.test_size": 16, "model.hidden": [8], "train.epochs": 1,
        "solver.free_iters": 5, "solver.nudge_iters": 3}


@pytest.mark.parametrize("text", ["", "# nothing yet\n", "{}\n", "null\n"])
def test_an_empty_spec_is_refused_in_one_line(tmp_path, text):
    spec = tmp_path / "empty.yaml"
    spec.write_text(text)
    out = tmp_path / "out"
    one_line_error(runner.invoke(app, ["sweep", str(spec), "--out", str(out)]), str(spec), "empty", "grid")
    assert not out.exists()


def _write(path: Path, lrs) -> str:
    text = yaml.safe_dump({"base": {"set": TINY}, "grid": {"train.lr": list(lrs)}}, sort_keys=False)
    path.write_text(text)
    return text


def test_a_rerun_with_an_edited_spec_keeps_the_earlier_spec(tmp_path):
    spec, out = tmp_path / "lr.yaml", tmp_path / "out"
    first = _write(spec, [0.01])
    res = runner.invoke(app, ["sweep", str(spec), "--out", str(out)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["sweep", str(spec), "--out", str(out)])  # same text: nothing kept twice
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.glob("spec*.yaml")) == ["spec.yaml"]

    second = _write(spec, [0.01, 0.02])
    res = runner.invoke(app, ["sweep", str(spec), "--out", str(out)])
    assert res.exit_code == 0, res.output
    kept = out / f"spec.{hashlib.sha256(first.encode()).hexdigest()[:8]}.yaml"
    assert kept.read_text() == first and (out / "spec.yaml").read_text() == second
    assert f"kept as {kept}" in res.output
    rows = read_table(out / "sweep.csv")
    assert len(rows) == 2 and all(r["status"] == "finished" for r in rows)
    assert "1 finished already" in res.output  # the point both specs share was not rerun
