"""Defects a new user's walkthrough of main found (session 8, helper W; benchmarks/walkthrough_s8.md).

Each test failed before its fix: a traceback (exit 1) where the README promises one ``error:``
line and exit code 2 with nothing written, or a resumed run that records a change nothing ran
with. Tiny settings on the embedded digits set."""

from pathlib import Path

import pytest
import torch
import yaml
from typer.testing import CliRunner

from analog_ep.cli import app
from analog_ep.config import load_config
from analog_ep.results import read_results
from analog_ep.train import fit, make_trainer
from conftest import one_line_error

runner = CliRunner()
TINY = ["data.train_size=32", "data.test_size=16", "model.hidden=[8]", "train.epochs=1",
        "solver.free_iters=5", "solver.nudge_iters=3"]


@pytest.fixture()
def a_file(tmp_path) -> Path:
    f = tmp_path / "notes.txt"
    f.write_text("not a folder\n")
    return f


@pytest.fixture()
def spec(tmp_path) -> Path:
    p = tmp_path / "tiny.yaml"
    p.write_text("base:\n  set: {train.epochs: 1, data.train_size: 32}\ngrid:\n  train.lr: [0.01, 0.02]\n")
    return p


@pytest.mark.parametrize("where", ["file", "under_file"])
def test_sweep_out_onto_a_file_is_one_line(tmp_path, spec, a_file, where):
    """`sweep SPEC --out FILE` (or a path under a file) was a FileExistsError / NotADirectoryError
    traceback with exit code 1; now one line naming the path, exit 2, nothing written."""
    out = a_file if where == "file" else a_file / "sweep"
    before = sorted(p.name for p in tmp_path.iterdir())
    res = runner.invoke(app, ["sweep", str(spec), "--out", str(out)])
    one_line_error(res, str(out), "pick another --out")
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert a_file.read_text() == "not a folder\n"


def test_devices_plot_out_under_a_file_is_one_line(tmp_path, a_file):
    """`devices plot CARD --out FILE/x.png` was a NotADirectoryError traceback (the parent check
    asked `exists()`, which a file passes); now one line, exit 2, no temporary file."""
    res = runner.invoke(app, ["devices", "plot", "ideal", "--out", str(a_file / "x.png")])
    one_line_error(res, str(a_file), "is not a folder")
    res = runner.invoke(app, ["devices", "plot", "ideal", "--out", str(tmp_path / "missing" / "x.png")])
    one_line_error(res, "does not exist")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("finished") / "run"
    fit(make_trainer(load_config(None, TINY), path), progress=False)
    return path


def _stored_lr(run: Path) -> tuple[float, float]:
    res = yaml.safe_load(read_results(run / "results.h5")["config_yaml"])["train"]["lr"]
    ckpt = yaml.safe_load(torch.load(run / "checkpoint.pt", weights_only=True)["config_yaml"])["train"]["lr"]
    return res, ckpt


@pytest.mark.parametrize("override", ["train.lr=0.2", "train.momentum=0.5", "solver.tol=0.001"])
def test_resuming_a_finished_run_with_a_change_and_nothing_to_train_is_refused(tmp_path, finished_run, override):
    """`train --resume R --set train.lr=X` on a run that has done all its epochs trained nothing,
    exited 0, and rewrote results.h5 with lr X (the checkpoint kept the old one): the stored config
    no longer said what ran. Now refused in one line naming the key and the fix."""
    import shutil

    run = shutil.copytree(finished_run, tmp_path / "run")
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    res = runner.invoke(app, ["train", "--resume", str(run), "--set", override])
    one_line_error(res, override.split("=")[0], "finished all 1 epochs", "train.epochs=2")
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before
    assert _stored_lr(run) == (0.05, 0.05)


def test_resuming_a_finished_run_unchanged_or_extended_still_works(tmp_path, finished_run):
    """The refusal is only for a change nothing would run with: no change is a no-op (exit 0), and
    a change together with more epochs trains on with it and records it."""
    import shutil

    run = shutil.copytree(finished_run, tmp_path / "run")
    res = runner.invoke(app, ["train", "--resume", str(run)])
    assert res.exit_code == 0, res.output
    assert "already done" in res.stdout
    res = runner.invoke(app, ["train", "--resume", str(run), "--set", "train.lr=0.2", "--set", "train.epochs=2"])
    assert res.exit_code == 0, res.output
    assert _stored_lr(run) == (0.2, 0.2)
    assert read_results(run / "results.h5")["status"] == "finished"


@pytest.mark.parametrize("algorithm", ["bp"])
def test_compare_refuses_an_algorithm_its_variants_would_drop(tmp_path, algorithm):
    """`compare --device memristor --set algorithm=bp` was accepted and trained the five EP / bp
    variants anyway (the stored ep-digital config says ep): the user's key was silently dropped.
    Now one line naming the key, exit 2, nothing written."""
    out = tmp_path / "cmp"
    res = runner.invoke(app, ["compare", "--device", "memristor", "--seeds", "1", "--set", f"algorithm={algorithm}",
                              *[a for kv in TINY for a in ("--set", kv)], "--out", str(out)])
    one_line_error(res, "algorithm:", "compare trains its own variants", repr(algorithm))
    assert not out.exists()


def test_deploy_accepts_the_data_workers_key_its_message_promises():
    """deploy's allowed keys named `data.num_workers`, a key the schema does not have (its
    did-you-mean pointed to `data.workers`, which deploy then refused): every listed key is a real
    one, and `data.workers` passes."""
    import dataclasses

    from analog_ep.config.schema import RunConfig
    from analog_ep.errors import ConfigError
    from analog_ep.study.deploy import DEPLOY_KEYS, check_overrides

    assert check_overrides(["data.workers=0"]) == ["data.workers=0"]
    sections = {f.name: f.type for f in dataclasses.fields(RunConfig)}
    for key in DEPLOY_KEYS:
        section, _, leaf = key.partition(".")
        assert section in sections, key
        if leaf:
            cfg = RunConfig()
            assert hasattr(getattr(cfg, section), leaf), key
    with pytest.raises(ConfigError, match="train.lr"):
        check_overrides(["train.lr=0.1"])


def test_compare_stopped_by_sigterm_names_the_command_that_continues_it(tmp_path, monkeypatch):
    """SIGTERM during a compare printed `preempted: SIGTERM: checkpoint written ... in
    DIR/ep-digital-seed0/checkpoint.pt` and nothing on how to continue the compare (Ctrl-C's line
    says it). Now the line ends with the exact compare command (`--out DIR`), exit 143; the table
    is still written."""
    import analog_ep.study.compare as compare_mod
    from analog_ep.errors import Preempted

    def preempted(folder, *a, **k):
        raise Preempted(f"SIGTERM: checkpoint written at epoch 1, step 1/1 in {folder}/checkpoint.pt")

    monkeypatch.setattr(compare_mod, "run_folder", preempted)
    out = tmp_path / "cmp"
    sets = [a for kv in TINY for a in ("--set", kv)]
    res = runner.invoke(app, ["compare", "--device", "ideal", "--seeds", "1", *sets, "--out", str(out)])
    assert res.exit_code == 143, res.output
    err = res.stderr.strip()
    assert len(err.splitlines()) == 1 and err.startswith("preempted: SIGTERM"), err
    again = err.split("continue with: ", 1)[1]
    assert again.startswith("analog-ep compare --set ") and again.endswith(f"--seeds 1 --out {out}"), again
    assert "--set analog.device=ideal" in again and "--set train.epochs=1" in again
    assert (out / "compare.csv").is_file()
