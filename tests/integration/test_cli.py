"""The command line end to end: train, resume, gradcheck, and one-line errors with exit code 2."""

import gzip
import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from analog_ep.cli import app
from analog_ep.config import load_config
from analog_ep.results import read_results
from analog_ep.train import fit, make_trainer

runner = CliRunner()
TINY = ["--set", "data.train_size=200", "--set", "data.test_size=100", "--set", "model.hidden=[32]",
        "--set", "train.epochs=2", "--set", "solver.free_iters=15", "--set", "solver.nudge_iters=5"]


def _invoke(args):
    result = runner.invoke(app, args)
    return result, result.stdout


def _json_line(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def test_train_end_to_end_writes_results_and_checkpoint(tmp_path):
    res, out = _invoke(["train", *TINY, "--out", str(tmp_path / "run"), "--json"])
    assert res.exit_code == 0, res.output
    summary = _json_line(out)
    assert summary["epochs"] == 2
    assert 0.0 <= summary["test_accuracy"] <= 1.0
    assert summary["test_accuracy"] > 0.3  # well above chance (0.1) after two tiny epochs
    r = read_results(summary["results"])
    assert r["status"] == "finished"
    cfg = load_config(None, [], base=__import__("yaml").safe_load(r["config_yaml"]))
    assert cfg.model.hidden == [32] and cfg.data.train_size == 200
    ep = r["epochs"]
    assert list(ep["epoch"]) == [1.0, 2.0]
    for key in ("train_loss", "train_accuracy", "test_loss", "test_accuracy", "seconds",
                "free_mean_steps", "free_converged_fraction", "nudge+_mean_steps", "nudge-_converged_fraction"):
        assert key in ep, key
    assert ep["test_accuracy"][-1] == pytest.approx(summary["test_accuracy"])
    for key in ("version", "torch_version", "seed", "git_commit"):
        assert key in r["provenance"]
    ckpt = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert ckpt["epoch"] == 2


def test_bp_twin_shares_initialization(tmp_path):
    a = make_trainer(load_config(None, TINY[1::2]), tmp_path / "a")
    b = make_trainer(load_config(None, TINY[1::2] + ["algorithm=bp"]), tmp_path / "b")
    for p, q in zip(a.model.parameters(), b.model.parameters()):
        assert torch.equal(p, q)
    res, out = _invoke(["train", *TINY, "--set", "algorithm=bp", "--out", str(tmp_path / "bp"), "--json"])
    assert res.exit_code == 0, res.output
    assert _json_line(out)["test_accuracy"] > 0.3


@pytest.mark.parametrize("extra", [[], ["--set", "ep.estimator=random_sign"]])
def test_interrupt_and_resume_equals_uninterrupted(tmp_path, extra):
    overrides = TINY[1::2] + ["train.epochs=3"] + extra[1::2]
    full = make_trainer(load_config(None, overrides), tmp_path / "full")
    fit(full, progress=False)

    cut = make_trainer(load_config(None, overrides), tmp_path / "cut")

    def kill(epoch, batch):
        if epoch == 1 and batch == 3:  # mid second epoch
            raise KeyboardInterrupt

    cut.on_batch = kill
    with pytest.raises(KeyboardInterrupt):
        fit(cut, progress=False)
    assert read_results(tmp_path / "cut" / "results.h5")["status"] == "interrupted"
    assert torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=True)["epoch"] == 1

    res, out = _invoke(["train", "--resume", str(tmp_path / "cut"), "--json"])
    assert res.exit_code == 0, res.output
    assert _json_line(out)["epochs"] == 3
    a = torch.load(tmp_path / "full" / "checkpoint.pt", weights_only=True)
    b = torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=True)
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    ra, rb = read_results(tmp_path / "full" / "results.h5"), read_results(tmp_path / "cut" / "results.h5")
    assert list(ra["epochs"]["test_accuracy"]) == list(rb["epochs"]["test_accuracy"])


def test_resume_can_extend_epochs(tmp_path):
    res, _ = _invoke(["train", *TINY, "--set", "train.epochs=1", "--out", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    res, out = _invoke(["train", "--resume", str(tmp_path / "r"), "--set", "train.epochs=2", "--json"])
    assert res.exit_code == 0, res.output
    assert _json_line(out)["epochs"] == 2
    assert len(read_results(tmp_path / "r" / "results.h5")["epochs"]["epoch"]) == 2


def test_gradcheck_json():
    # small betas: with hard-clamped units a larger beta can push a unit across the box edge
    res, out = _invoke(["gradcheck", "--set", "model.hidden=[12]", "--betas", "0.001,0.0001", "--batch", "4", "--json"])
    assert res.exit_code == 0, res.output
    report = _json_line(out)
    assert report["estimator"] == "centered"
    assert len(report["layers"]) == 4  # 2 layers x 2 betas
    for row in report["layers"]:
        assert row["cosine"] > 0.99999
    by_beta = {}
    for row in report["layers"]:
        by_beta.setdefault(row["beta"], []).append(row["rel_error"])
    # centered: error ~ beta^2, so a tenth of beta gives about a hundredth of the error
    assert max(by_beta[0.0001]) < max(by_beta[0.001]) / 30


def _write_idx(path: Path, magic: int, dims: list[int], payload: bytes, gz: bool = True):
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims)
    data = header + payload
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)


@pytest.mark.parametrize("args,needle", [
    (["--config", "nope.yaml"], "nope.yaml"),
    (["--set", "model.hiden=[3]"], "model.hiden"),
    (["--set", "train.epochs=abc"], "train.epochs"),
    (["--set", "train.epochs=-1"], "train.epochs"),
    (["--set", "data.name=imagenet9"], "data.name"),
    (["--set", "model.name=mystery"], "model.name"),
    (["--set", "solver.name=newton"], "solver.name"),
    (["--set", "ep.estimator=sideways"], "ep.estimator"),
    (["--set", "data.name=mnist"], "data.root"),
    (["--set", "data.name=fashion_mnist", "--set", "data.root=/nonexistent/folder"], "/nonexistent/folder"),
    (["--set", "noequals"], "noequals"),
    (["--resume", "/nonexistent/run"], "checkpoint"),
])
def test_bad_input_one_line_exit_2(args, needle):
    res = runner.invoke(app, ["train", *args])
    assert res.exit_code == 2, res.output
    err = res.stderr.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error: ") and needle in err, err
    assert "Traceback" not in res.output


def test_bad_config_file_names_file_and_key(tmp_path):
    cfg = tmp_path / "exp.yaml"
    cfg.write_text("model:\n  widths: [3]\n")
    res = runner.invoke(app, ["train", "--config", str(cfg)])
    assert res.exit_code == 2
    assert str(cfg) in res.stderr and "model.widths" in res.stderr and "model.hidden" in res.stderr
    cfg.write_text("model: [unclosed\n")
    res = runner.invoke(app, ["train", "--config", str(cfg)])
    assert res.exit_code == 2 and "invalid YAML" in res.stderr


def test_corrupt_idx_file(tmp_path):
    root = tmp_path / "fm"
    root.mkdir()
    for split, n in (("train", 4), ("t10k", 2)):
        _write_idx(root / f"{split}-images-idx3-ubyte", 0x803, [n, 28, 28], bytes(n * 784))
        _write_idx(root / f"{split}-labels-idx1-ubyte", 0x801, [n], bytes(n))
    (root / "train-images-idx3-ubyte.gz").write_bytes(b"not gzip at all")
    res = runner.invoke(app, ["train", "--set", "data.name=fashion_mnist", "--set", f"data.root={root}"])
    assert res.exit_code == 2
    assert "train-images-idx3-ubyte" in res.stderr


def test_debug_shows_traceback():
    res = runner.invoke(app, ["--debug", "train", "--set", "train.epochs=-1"])
    assert res.exit_code == 2
    assert "Traceback" in res.output


def test_divergence_keeps_last_good_checkpoint(tmp_path):
    res = runner.invoke(app, ["train", *TINY, "--set", "train.lr=1e6", "--set", "train.epochs=3",
                              "--out", str(tmp_path / "d")])
    assert res.exit_code == 2
    assert "diverged" in res.stderr and "checkpoint" in res.stderr
    ckpt = torch.load(tmp_path / "d" / "checkpoint.pt", weights_only=True)
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values())
    assert read_results(tmp_path / "d" / "results.h5")["status"] == "diverged"


def test_module_entry_point_help():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "analog_ep", "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    assert "train" in out.stdout and "gradcheck" in out.stdout
