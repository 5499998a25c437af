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
from conftest import one_line_error

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
    for k in a["model"]:  # weights, device state, and the event counters' extra state (dicts)
        va, vb = a["model"][k], b["model"][k]
        assert (torch.equal(va, vb) if isinstance(va, torch.Tensor) else va == vb), k
    ra, rb = read_results(tmp_path / "full" / "results.h5"), read_results(tmp_path / "cut" / "results.h5")
    assert list(ra["epochs"]["test_accuracy"]) == list(rb["epochs"]["test_accuracy"])
    # the cost of the interrupted epoch counts what the whole epoch did (its start's counts carry over)
    assert ra["records"]["event_counts"] == rb["records"]["event_counts"]
    assert list(ra["epochs"]["gpu_energy_per_sample_j"]) == list(rb["epochs"]["gpu_energy_per_sample_j"])


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
    (["--set", "train.epochs=0"], "train.epochs: must be >= 1"),
    (["--overwrite"], "--overwrite"),
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
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values() if isinstance(v, torch.Tensor))
    assert read_results(tmp_path / "d" / "results.h5")["status"] == "diverged"


def test_module_entry_point_help():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "analog_ep", "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    assert "train" in out.stdout and "gradcheck" in out.stdout


# ------------------------------------------------------------------ runs are never destroyed or mixed up
SMALL = ["data.train_size=96", "data.test_size=48", "model.hidden=[16]", "train.epochs=2",
         "solver.free_iters=15", "solver.nudge_iters=5"]
SMALL_CLI = [a for kv in SMALL for a in ("--set", kv)]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A finished two-epoch run folder (copy it before use)."""
    path = tmp_path_factory.mktemp("fixture") / "run"
    fit(make_trainer(load_config(None, SMALL), path), progress=False)
    return path


def _copy_run(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)  # copy2: bytes and mtimes kept
    return dst


def _snapshot(root: Path) -> dict:
    """Every file under ``root`` with its bytes and mtime (and every folder), to prove nothing changed."""
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns) if p.is_file() else None
            for p in sorted(root.rglob("*"))}


@pytest.mark.parametrize("keep", ["both", "checkpoint.pt", "results.h5"])
@pytest.mark.parametrize("via_resume", [False, True])
def test_existing_run_folder_is_refused_without_overwrite(tmp_path, finished_run, keep, via_resume):
    run = _copy_run(finished_run, tmp_path / "run")
    if keep != "both":
        (run / ("results.h5" if keep == "checkpoint.pt" else "checkpoint.pt")).unlink()
    other = _copy_run(finished_run, tmp_path / "other")
    before, before_other = _snapshot(tmp_path / "run"), _snapshot(other)
    args = ["--resume", str(other), "--set", "train.epochs=3"] if via_resume else SMALL_CLI
    res = runner.invoke(app, ["train", *args, "--out", str(run)])
    one_line_error(res, str(run), f"--resume {run}", "--overwrite", "--out")
    assert _snapshot(run) == before and _snapshot(other) == before_other


def test_overwrite_replaces_only_the_run_files(tmp_path, finished_run):
    run = _copy_run(finished_run, tmp_path / "run")
    (run / "notes.txt").write_text("keep me")
    (run / "figs").mkdir()
    (run / "figs" / "a.png").write_bytes(b"png")
    keep = {k: v for k, v in _snapshot(run).items() if k in ("notes.txt", "figs", "figs/a.png")}
    old_ckpt = (run / "checkpoint.pt").read_bytes()
    res, out = _invoke(["train", *SMALL_CLI, "--set", "model.hidden=[12]", "--set", "train.epochs=1",
                        "--out", str(run), "--overwrite", "--json"])
    assert res.exit_code == 0, res.output
    assert _json_line(out)["epochs"] == 1
    r = read_results(run / "results.h5")
    assert r["status"] == "finished" and list(r["epochs"]["epoch"]) == [1.0]  # the new run's history only
    assert load_config(None, [], base=__import__("yaml").safe_load(r["config_yaml"])).model.hidden == [12]
    assert (run / "checkpoint.pt").read_bytes() != old_ckpt
    assert torch.load(run / "checkpoint.pt", weights_only=True)["epoch"] == 1
    assert {k: v for k, v in _snapshot(run).items() if k in keep} == keep
    assert sorted(p.name for p in run.iterdir()) == ["checkpoint.pt", "figs", "notes.txt", "results.h5"]


def test_non_empty_folder_without_run_files_is_used(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    before = _snapshot(out)
    res = runner.invoke(app, ["train", *SMALL_CLI, "--set", "train.epochs=1", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert _snapshot(out)["notes.txt"] == before["notes.txt"]
    assert read_results(out / "results.h5")["status"] == "finished"


def test_default_folders_are_unique_within_one_second(tmp_path, monkeypatch):
    import datetime

    from analog_ep.train import session

    monkeypatch.chdir(tmp_path)
    now = datetime.datetime(2025, 1, 2, 3, 4, 5)
    cfg = load_config(None, SMALL)
    made = [session.default_run_dir(cfg, now) for _ in range(4)]
    base = "20250102-030405-hopfield_mlp-ep"
    assert [str(p) for p in made] == [f"runs/{base}"] + [f"runs/{base}-{i}" for i in (2, 3, 4)]
    assert all(p.is_dir() for p in made)
    assert session.default_run_dir(load_config(None, SMALL + ["analog.device=memristor"]), now).name == \
        "20250102-030405-hopfield_mlp-ep-memristor"

    # two train commands started in the same second write to two folders
    class Frozen(datetime.datetime):
        @classmethod
        def now(cls, tz=None):
            return cls(2025, 1, 2, 3, 4, 6)

    monkeypatch.setattr(session, "datetime", type("M", (), {"datetime": Frozen}))
    outs = []
    for _ in range(2):
        res, out = _invoke(["train", *SMALL_CLI, "--set", "train.epochs=1", "--json"])
        assert res.exit_code == 0, res.output
        outs.append(_json_line(out)["results"])
    assert outs == ["runs/20250102-030406-hopfield_mlp-ep/results.h5",
                    "runs/20250102-030406-hopfield_mlp-ep-2/results.h5"]


def test_parallel_processes_never_share_a_default_folder(tmp_path):
    import os
    import subprocess
    import sys

    go = tmp_path / "go"
    code = ("import pathlib, sys, time\n"
            "from analog_ep.rundir import claim_run_dir\n"
            "while not pathlib.Path(sys.argv[2]).exists(): time.sleep(0.001)\n"
            "print('\\n'.join(str(claim_run_dir(sys.argv[1])) for _ in range(25)))\n")
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "runs" / "same"), str(go)],
                              stdout=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    go.touch()
    got = [p.communicate(timeout=60)[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert len(got[0]) == len(got[1]) == 25
    assert len(set(got[0]) | set(got[1])) == 50  # no folder claimed twice
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == \
        sorted(["same"] + [f"same-{i}" for i in range(2, 51)])


@pytest.mark.parametrize("kind", ["file", "under_file", "read_only"])
def test_unwritable_output_folder_is_one_line_before_training(tmp_path, monkeypatch, kind):
    import os
    import stat

    (tmp_path / "afile").write_bytes(b"data")
    if kind == "file":
        out = tmp_path / "afile"
    elif kind == "under_file":
        out = tmp_path / "afile" / "run"
    else:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
        out = ro / "run"
        if os.geteuid() == 0:  # root may write anyway: let the access check see what a user would
            access = os.access
            monkeypatch.setattr(os, "access", lambda p, mode: Path(p) != ro and access(p, mode))
    before = _snapshot(tmp_path)
    try:
        res = runner.invoke(app, ["train", *SMALL_CLI, "--out", str(out)])
        one_line_error(res, str(out))
        assert "epoch" not in res.stdout  # before any training
        assert _snapshot(tmp_path) == before
    finally:
        if kind == "read_only":
            (tmp_path / "ro").chmod(stat.S_IRWXU)


def test_unwritable_output_folder_found_on_creation(tmp_path, monkeypatch):
    """Where access checks cannot tell (root, read-only mounts), creating the folder fails: still one line."""
    from analog_ep import rundir

    def refuse(path, **kw):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(rundir.Path, "mkdir", refuse)
    before = _snapshot(tmp_path)
    res = runner.invoke(app, ["train", *SMALL_CLI, "--out", str(tmp_path / "new")])
    one_line_error(res, str(tmp_path / "new"), "Permission denied")
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("override,key", [
    ("model.hidden=[8]", "model.hidden"),
    ("model.activation=hard_sigmoid", "model.activation"),
    ("model.gains=[0.5,0.5]", "model.gains"),
    ("data.name=synthetic", "data.name"),
    ("data.root=/elsewhere", "data.root"),
    ("data.shape=[1,8,8]", "data.shape"),
    ("data.num_classes=5", "data.num_classes"),
    ("data.train_size=50", "data.train_size"),
    ("data.test_size=20", "data.test_size"),
    ("algorithm=bp", "algorithm"),
    ("seed=1", "seed"),
    ("analog.device=memristor", "analog.device"),
    ("train.epochs=1", "train.epochs"),
])
def test_resume_refuses_an_incompatible_override(tmp_path, finished_run, override, key):
    run = _copy_run(finished_run, tmp_path / "run")
    before = _snapshot(run)
    more = [] if key == "train.epochs" else ["--set", "train.epochs=3"]  # growing the run is allowed
    res = runner.invoke(app, ["train", "--resume", str(run), "--set", override, *more])
    err = one_line_error(res, f"error: {key}: ")
    if key == "train.epochs":
        assert "finished 2 epochs" in err and str(run) in err
    assert _snapshot(run) == before


def test_interrupt_prints_the_resume_command_and_resume_continues(tmp_path, monkeypatch):
    from analog_ep.train.loop import Trainer

    run = tmp_path / "my run"  # a space: the printed command is quoted for the shell
    epoch = Trainer.run_epoch

    def cut(self, progress=True):
        if self.epoch == 1:
            raise KeyboardInterrupt
        return epoch(self, progress)

    monkeypatch.setattr(Trainer, "run_epoch", cut)
    res = runner.invoke(app, ["train", *SMALL_CLI, "--out", str(run)])
    assert res.exit_code == 130, res.output
    assert res.stderr.strip().splitlines()[-1] == ("interrupted: the last checkpoint and results file are kept; "
                                                   f"continue with: analog-ep train --resume '{run}'")
    assert read_results(run / "results.h5")["status"] == "interrupted"
    monkeypatch.setattr(Trainer, "run_epoch", epoch)

    res = runner.invoke(app, ["train", "--resume", str(run)])
    assert res.exit_code == 0, res.output
    assert res.stdout.splitlines()[0].startswith("resuming at epoch 2/2: training hopfield_mlp on digits")
    assert res.stdout.splitlines()[0].endswith(f"-> {run}")
    r = read_results(run / "results.h5")
    assert r["status"] == "finished" and list(r["epochs"]["epoch"]) == [1.0, 2.0]

    res = runner.invoke(app, ["train", "--resume", str(run), "--set", "train.epochs=3"])
    assert res.exit_code == 0 and res.stdout.startswith("resuming at epoch 3/3: ")
    res = runner.invoke(app, ["train", "--resume", str(run)])  # nothing left: says so, trains nothing
    assert res.exit_code == 0 and res.stdout.startswith("all 3 epochs already done")
    assert len(read_results(run / "results.h5")["epochs"]["epoch"]) == 3


def test_resume_into_another_folder_keeps_the_source(tmp_path, finished_run):
    src = _copy_run(finished_run, tmp_path / "src")
    before = _snapshot(src)
    res, out = _invoke(["train", "--resume", str(src), "--set", "train.epochs=3", "--out", str(tmp_path / "b"), "--json"])
    assert res.exit_code == 0, res.output
    assert _json_line(out)["epochs"] == 3
    assert _snapshot(src) == before
    assert list(read_results(tmp_path / "b" / "results.h5")["epochs"]["epoch"]) == [1.0, 2.0, 3.0]


def test_interrupt_before_training_says_nothing_was_written(tmp_path, monkeypatch):
    import analog_ep.train.loop as loop

    def stop(*a, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(loop, "make_trainer", stop)
    res = runner.invoke(app, ["train", *SMALL_CLI, "--out", str(tmp_path / "r")])
    assert res.exit_code == 130
    assert res.stderr.strip() == "interrupted before training started; nothing was written"
    assert not (tmp_path / "r").exists()


# ------------------------------------------------------------------ health and CLI habits
HEALTH_TINY = ["--set", "data.train_size=96", "--set", "data.test_size=48", "--set", "model.hidden=[16]",
         "--set", "solver.free_iters=15", "--set", "solver.nudge_iters=5"]


def test_exploding_loss_marks_run_unhealthy(tmp_path, monkeypatch):
    from analog_ep.study.runs import runs_table
    from analog_ep.train.loop import Trainer

    real = Trainer.run_epoch

    def run_epoch(self, progress=True):  # epoch 2's train loss 100x epoch 1's
        row = real(self, progress)
        if row["epoch"] == 2:
            row["train_loss"] *= 100
        return row

    monkeypatch.setattr(Trainer, "run_epoch", run_epoch)
    out = tmp_path / "u"
    res = runner.invoke(app, ["train", *HEALTH_TINY, "--set", "train.epochs=3", "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    warnings = [ln for ln in res.stderr.splitlines() if ln.startswith("warning:")]
    assert len(warnings) == 1 and "exploded at epoch 2" in warnings[0]
    summary = _json_line(res.stdout)
    assert summary["status"] == "unhealthy" and "exploded" in summary["unhealthy_reason"]
    r = read_results(out / "results.h5")
    assert r["status"] == "unhealthy" and "exploded at epoch 2" in r["extra"]["unhealthy_reason"]
    assert runs_table([tmp_path])["runs"][0]["status"] == "unhealthy"


def test_sweep_treats_unhealthy_point_as_done(tmp_path):
    from analog_ep.config import dump_yaml
    from analog_ep.study.sweep import run_point

    cfg = load_config(None, ["data.train_size=96", "data.test_size=48", "model.hidden=[16]", "train.epochs=1"])
    trainer = make_trainer(cfg, tmp_path / "p")
    fit(trainer, progress=False)
    trainer.history[0]["test_loss"] = float("nan")
    trainer.write_results("finished")
    assert read_results(tmp_path / "p" / "results.h5")["status"] == "unhealthy"
    before = (tmp_path / "p" / "results.h5").stat().st_mtime_ns
    task = {"name": "p", "folder": str(tmp_path / "p"), "config": __import__("yaml").safe_load(dump_yaml(cfg))}
    assert run_point(task)["status"] == "unhealthy"
    assert (tmp_path / "p" / "results.h5").stat().st_mtime_ns == before  # not rerun


def test_short_help_version_and_debug_after_command():
    for args in (["-h"], ["train", "-h"], ["devices", "-h"], ["devices", "list", "-h"]):
        res = runner.invoke(app, args)
        assert res.exit_code == 0 and "Usage" in res.stdout, args
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and res.stdout.strip() == f"analog-ep {__import__('analog_ep').__version__}"
    res = runner.invoke(app, ["train", "--debug", "--set", "train.epochs=-1"])
    assert res.exit_code == 2 and "Traceback" in res.output


def test_json_failure_is_the_last_stdout_line():
    res = runner.invoke(app, ["train", "--json", "--set", "train.epochs=-1"])
    assert res.exit_code == 2 and res.stderr.startswith("error: train.epochs")
    assert _json_line(res.stdout) == {"error": "train.epochs: must be >= 1, got -1", "exit_code": 2}
    res = runner.invoke(app, ["train", "--json", "--no-such-option"])  # a usage error
    assert res.exit_code == 2
    err = _json_line(res.stdout)
    assert err["exit_code"] == 2 and "--no-such-option" in err["error"]
    res = runner.invoke(app, ["train", "--set", "train.epochs=-1"])  # without --json: nothing on stdout
    assert res.exit_code == 2 and res.stdout == ""


def test_gradcheck_unconverged_free_phase_exits_1():
    args = ["gradcheck", *HEALTH_TINY, "--batch", "4", "--iters", "2", "--betas", "0.01"]
    res = runner.invoke(app, args)
    assert res.exit_code == 1 and "cosine" not in res.stdout
    assert res.stderr.strip() == ("error: free phase did not converge (fraction 0.00 after 2 sweeps); "
                                  "raise --iters or --tol")
    res = runner.invoke(app, [*args, "--json"])
    assert res.exit_code == 1
    last = _json_line(res.stdout)
    assert last["exit_code"] == 1 and "did not converge" in last["error"] and last["layers"] == []
