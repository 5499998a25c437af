"""What a new user hit (issue 21): resume does what it records, studies never mix, one-line
errors, SIGTERM during a sweep's table write, runs at chance flagged, the cosine floor.

Every test here failed before its fix; tiny settings on the embedded digits set (seconds each)."""

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import pytest
import torch
import yaml
from typer.testing import CliRunner

from analog_ep.cli import app
from analog_ep.config import load_config
from analog_ep.errors import ConfigError
from analog_ep.results import read_results
from analog_ep.train import fit, make_trainer
from analog_ep.train.build import layer_lrs, lr_factor
from conftest import one_line_error

runner = CliRunner()
SMALL = ["data.train_size=96", "data.test_size=48", "model.hidden=[16]", "train.epochs=1",
         "solver.free_iters=15", "solver.nudge_iters=5"]
ONE_BATCH = ["data.train_size=32", "data.test_size=16", "data.batch_size=32", "model.hidden=[8]", "train.epochs=1",
             "solver.free_iters=10", "solver.nudge_iters=4"]


def _same(a, b) -> bool:
    """State-dict entries equal: tensors bit for bit, the event counters' extra state (dicts) by value."""
    return torch.equal(a, b) if isinstance(a, torch.Tensor) else a == b

def _sets(overrides):
    return [a for kv in overrides for a in ("--set", kv)]


def _weights(model) -> list[torch.Tensor]:
    return [st.weight.detach().clone() for st in model.ep_storages()]


@pytest.fixture(scope="module")
def one_epoch(tmp_path_factory):
    """A finished one-epoch digital run (SGD, momentum 0.9) to resume (copy it before use)."""
    path = tmp_path_factory.mktemp("fixture") / "run"
    fit(make_trainer(load_config(None, SMALL), path), progress=False)
    return path


def _copy(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


# ------------------------------------------------------------------ 1. resume applies optimizer keys
@pytest.mark.parametrize("override, group_key", [
    ("train.lr=0.02", "base_lr"),
    ("train.layer_lrs=[0.01,0.003]", "base_lr"),
    ("train.momentum=0.5", "momentum"),
    ("train.weight_decay=0.01", "weight_decay"),
])
def test_resume_applies_changed_optimizer_keys_and_records_them(tmp_path, one_epoch, override, group_key):
    """The resumed second epoch equals a plain continuation whose optimizer groups were given the
    new value by hand after the first epoch; results.h5 and the checkpoint store what ran."""
    run = _copy(one_epoch, tmp_path / "run")
    res = runner.invoke(app, ["train", "--resume", str(run), "--set", "train.epochs=2", "--set", override])
    assert res.exit_code == 0, res.output

    new = load_config(None, SMALL + ["train.epochs=2", override])
    ref = make_trainer(load_config(None, SMALL), tmp_path / "ref")
    fit(ref, progress=False)
    ref.cfg = new
    values = layer_lrs(new, ref.model) if group_key == "base_lr" else \
        [getattr(new.train, group_key)] * len(ref.optimizer.param_groups)
    for g, v in zip(ref.optimizer.param_groups, values):
        g[group_key] = v
    ref.run_epoch(progress=False)

    ckpt = torch.load(run / "checkpoint.pt", weights_only=True)
    assert ckpt["epoch"] == 2
    stored = [ckpt["model"][k] for k in ckpt["model"]]
    mine = ref.model.state_dict()
    for k, v in zip(ckpt["model"], stored):
        assert _same(v, mine[k]), k
    # and the change mattered: the unchanged continuation ends elsewhere
    same = make_trainer(load_config(None, SMALL), tmp_path / "same")
    fit(same, progress=False)
    same.cfg = load_config(None, SMALL + ["train.epochs=2"])
    same.run_epoch(progress=False)
    assert any(not torch.equal(a, b) for a, b in zip(_weights(same.model), _weights(ref.model)))

    for text in (read_results(run / "results.h5")["config_yaml"], ckpt["config_yaml"]):
        assert load_config(None, [], base=yaml.safe_load(text)) == new
    assert [g[group_key] for g in ckpt["optimizer"]["param_groups"]] == pytest.approx(values)


def test_resume_without_changes_stays_bit_exact(tmp_path, one_epoch):
    run = _copy(one_epoch, tmp_path / "run")
    res = runner.invoke(app, ["train", "--resume", str(run), "--set", "train.epochs=2"])
    assert res.exit_code == 0, res.output
    full = make_trainer(load_config(None, SMALL + ["train.epochs=2"]), tmp_path / "full")
    fit(full, progress=False)
    ckpt = torch.load(run / "checkpoint.pt", weights_only=True)
    for k, v in full.model.state_dict().items():
        assert _same(ckpt["model"][k], v), k


# ------------------------------------------------------------------ 2. optimizer type change on resume
@pytest.mark.parametrize("opt", ["adam", "adamw"])
def test_resume_refuses_an_optimizer_change_in_one_line(tmp_path, one_epoch, opt):
    run = _copy(one_epoch, tmp_path / "run")
    before = (run / "checkpoint.pt").read_bytes()
    res = runner.invoke(app, ["train", "--resume", str(run), "--set", "train.epochs=2", "--set", f"train.optimizer={opt}"])
    one_line_error(res, "train.optimizer", "'sgd'", opt)
    assert (run / "checkpoint.pt").read_bytes() == before


# ------------------------------------------------------------------ 6. the refusal names the card's value
def test_resume_refusal_names_digital_and_the_cards_value(tmp_path, one_epoch):
    run = _copy(one_epoch, tmp_path / "run")
    err = one_line_error(runner.invoke(app, ["train", "--resume", str(run), "--device", "pcm"]), "analog.device")
    assert "None" not in err and "digital" in err
    analog = tmp_path / "analog"
    t = make_trainer(load_config(None, ONE_BATCH + ["analog.device=memristor"]), analog)
    fit(t, progress=False)
    err = one_line_error(runner.invoke(app, ["train", "--resume", str(analog), "--set", "device.dw_min_std=0.5"]),
                         "device.dw_min_std")
    assert "None" not in err and "0.1" in err  # the memristor card's dw_min_std
    err = one_line_error(runner.invoke(app, ["train", "--resume", str(analog), "--set", "device.periphery.out_bits=4"]),
                         "device.periphery.out_bits")
    assert "None" not in err and "9" in err
    err = one_line_error(runner.invoke(app, ["train", "--resume", str(analog), "--set", "analog.device=pcm"]),
                         "analog.device", "'memristor'", "'pcm'")


# ------------------------------------------------------------------ 5. --device against --set analog.device
def test_device_option_contradicting_set_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may be written; if something is, not in the repository
    for cmd in (["train"], ["bench", "--repeats", "1", "--warmup", "0"], ["gradcheck", "--iters", "5"],
                ["compare", "--seeds", "1"]):
        res = runner.invoke(app, [*cmd, *_sets(ONE_BATCH), "--device", "pcm", "--set", "analog.device=memristor"])
        one_line_error(res, "--device pcm", "analog.device=memristor")
    res = runner.invoke(app, ["train", "--accelerator", "cpu", "--set", "compute.accelerator=cuda"])
    one_line_error(res, "--accelerator cpu", "compute.accelerator=cuda")
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump({"base": {"device": "pcm", "set": {"analog.device": "memristor"}},
                                    "grid": {"ep.beta": [0.2]}}))
    one_line_error(runner.invoke(app, ["sweep", str(spec), "--out", str(tmp_path / "o")]),
                   "base.set.analog.device", "'memristor'", "'pcm'")
    assert not (tmp_path / "o").exists()
    from analog_ep.cli import _overrides

    assert _overrides(["analog.device=pcm"], "pcm") == ["analog.device=pcm", "analog.device=pcm"]
    with pytest.raises(ConfigError):
        _overrides(["analog.device=pcm"], "devices/pcm.yaml")


# ------------------------------------------------------------------ 7. a run at chance is unhealthy
def test_health_flags_a_run_that_stays_at_chance():
    from analog_ep.train.health import CHANCE_AFTER, chance_threshold, check_health

    thr = chance_threshold(10, 100)
    assert thr == pytest.approx(0.1 + 3 * math.sqrt(0.1 * 0.9 / 100))
    def rows(accs):
        return [{"epoch": e, "train_loss": 0.5, "test_accuracy": a} for e, a in enumerate(accs, 1)]

    at_chance = rows([0.09, 0.11, 0.1, 0.18])
    epoch, reason = check_health(at_chance, num_classes=10, test_size=100)
    assert epoch == CHANCE_AFTER == 3 and "chance" in reason and "0.18" in reason and "epoch 4" in reason
    assert check_health(at_chance[:2], num_classes=10, test_size=100) is None  # the first epochs may be at chance
    assert check_health(at_chance, num_classes=None) is None  # unknown classes: not checked
    assert check_health(rows([0.1, 0.1, 0.2]), num_classes=10, test_size=100) is None  # above 0.19
    assert check_health(rows([0.1, 0.1, 0.11]), num_classes=10, test_size=10000) is None  # above 0.109
    assert check_health(rows([0.1, 0.1, 0.1, 0.6]), num_classes=10, test_size=100) is None  # recovered: not "stays"
    # the explosion rule still comes first when it is earlier
    boom = [{**r, "train_loss": 50.0} if r["epoch"] == 2 else r for r in at_chance]
    assert check_health(boom, num_classes=10, test_size=100)[0] == 2


def test_one_bit_converters_end_unhealthy(tmp_path):
    over = ["data.train_size=96", "data.test_size=200", "data.batch_size=32", "model.hidden=[16]",
            "train.epochs=3", "solver.free_iters=10", "solver.nudge_iters=4", "analog.device=memristor",
            "analog.update=ideal", "analog.out_bits=1", "analog.inp_bits=1"]
    res = runner.invoke(app, ["train", *_sets(over), "--out", str(tmp_path / "r"), "--json"])
    assert res.exit_code == 0, res.output
    s = json.loads(res.stdout.strip().splitlines()[-1])
    assert s["status"] == "unhealthy" and "chance" in s["unhealthy_reason"], s
    assert read_results(tmp_path / "r" / "results.h5")["status"] == "unhealthy"


# ------------------------------------------------------------------ 8. error messages
def test_data_mean_error_names_the_fix():
    cfg = Path(__file__).resolve().parents[2] / "configs" / "pc_sfbf_vgg5_cifar10.yaml"
    res = runner.invoke(app, ["train", "-c", str(cfg), "--set", "data.name=digits"])
    one_line_error(res, "data.mean", "--set data.mean=null --set data.std=null")


def test_misspelt_set_key_gets_did_you_mean(tmp_path):
    one_line_error(runner.invoke(app, ["train", "--set", "train.epoch=3"]), "did you mean train.epochs?")
    one_line_error(runner.invoke(app, ["train", "--set", "trian.epochs=3"]), "did you mean train?")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("train: {epoch: 3}\n")
    one_line_error(runner.invoke(app, ["train", "-c", str(cfg)]), "did you mean train.epochs?")


@pytest.mark.parametrize("args", [["train", "--bogus"], ["--bogus"], ["nosuchcommand"], ["devices", "list", "--x"],
                                  ["sweep"], ["train", "--out"]])
def test_usage_error_is_one_error_line(args):
    res = runner.invoke(app, args)
    assert res.exit_code == 2, res.output
    err = res.stderr.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    assert "╭" not in res.output and res.stdout == ""


# ------------------------------------------------------------------ 9. sweep --set, devices plot --json
def test_sweep_set_overrides_the_spec_base(tmp_path):
    from analog_ep.study.sweep import build_points, load_spec

    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump({"base": {"set": {"train.epochs": 3, "model.hidden": [8]}},
                                    "grid": {"ep.beta": [0.2, 0.3]}}))
    plain = build_points(load_spec(spec))
    over = build_points(load_spec(spec), ["train.epochs=1", "data.train_size=50"])
    assert [p.config["train"]["epochs"] for p in plain] == [3, 3]
    assert [p.config["train"]["epochs"] for p in over] == [1, 1]
    assert [p.config["model"]["hidden"] for p in over] == [[8], [8]]
    assert [p.config["data"]["train_size"] for p in over] == [50, 50]
    assert {p.name for p in plain}.isdisjoint({p.name for p in over})  # another config: other folders
    with pytest.raises(ConfigError, match="ep.beta"):  # a swept key cannot be fixed from the command line
        build_points(load_spec(spec), ["ep.beta=0.1"])
    one_line_error(runner.invoke(app, ["sweep", str(spec), "--set", "train.epoch=1"]), "did you mean train.epochs?")


def test_devices_plot_json(tmp_path):
    out = tmp_path / "p.png"
    res = runner.invoke(app, ["devices", "plot", "memristor", "--out", str(out), "--pulses", "10", "--devices", "5",
                              "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout.strip().splitlines()[-1]) == {"out": str(out), "device": "memristor"}
    assert out.is_file()


# ------------------------------------------------------------------ 4. studies never mix
def _sweep_spec(tmp_path: Path) -> Path:
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump({"base": {"set": {"train.epochs": 1, "data.train_size": 96, "data.test_size": 48,
                                                     "model.hidden": [16]}}, "grid": {"ep.beta": [0.2]}}))
    return spec


@pytest.mark.parametrize("kind, files", [
    ("sweep", {"study.json": '{"kind": "sweep"}'}),
    ("sweep", {"sweep.csv": "ep.beta,seed\n"}),  # a folder from before the marker
    ("run", {"results.h5": ""}),
])
def test_compare_refuses_another_studys_folder(tmp_path, monkeypatch, kind, files):
    monkeypatch.chdir(tmp_path)
    d = tmp_path / "d"
    d.mkdir()
    for name, text in files.items():
        (d / name).write_text(text)
    before = sorted(p.name for p in d.iterdir())
    for extra in ([], ["--overwrite"]):
        res = runner.invoke(app, ["compare", *_sets(ONE_BATCH), "--seeds", "1", "--device", "memristor",
                                  "--out", str(d), *extra])
        one_line_error(res, str(d), kind)
    assert sorted(p.name for p in d.iterdir()) == before


@pytest.mark.parametrize("kind, files", [
    ("compare", {"study.json": '{"kind": "compare"}'}),
    ("compare", {"compare.yaml": "seeds: [0]\n"}),
    ("run", {"checkpoint.pt": ""}),
])
def test_sweep_refuses_another_studys_folder(tmp_path, kind, files):
    d = tmp_path / "d"
    d.mkdir()
    for name, text in files.items():
        (d / name).write_text(text)
    before = sorted(p.name for p in d.iterdir())
    one_line_error(runner.invoke(app, ["sweep", str(_sweep_spec(tmp_path)), "--out", str(d)]), str(d), kind)
    assert sorted(p.name for p in d.iterdir()) == before


def test_study_folder_records_its_kind_and_train_refuses_it(tmp_path):
    from analog_ep.study.runner import STUDY_FILE, open_study_dir, study_kind

    d = open_study_dir(tmp_path / "s", "sweep")
    assert json.loads((d / STUDY_FILE).read_text())["kind"] == "sweep" and study_kind(d) == "sweep"
    assert open_study_dir(d, "sweep") == d  # the same kind continues it
    with pytest.raises(ConfigError, match="sweep"):
        open_study_dir(d, "compare")
    one_line_error(runner.invoke(app, ["train", "--out", str(d)]), str(d), "sweep")
    assert study_kind(tmp_path / "nothing") is None


# ------------------------------------------------------------------ 3. SIGTERM during a sweep's table write
def test_table_write_is_atomic_under_an_interrupt(tmp_path, monkeypatch):
    """A signal that arrives in the middle of the HDF5 write is handled after both files are in
    place: no temporary file, and sweep.h5 equals sweep.csv."""
    from analog_ep.study import runner as R

    rows_a = [{"k": 1.0, "seed": 0, "status": "missing"}]
    rows_b = [{"k": 2.0, "seed": 0, "status": "finished"}, {"k": 3.0, "seed": 1, "status": "finished"}]
    cols = ["k", "seed", "status"]
    R.write_table(rows_a, cols, tmp_path / "sweep.csv", tmp_path / "sweep.h5", numeric=("k",), integer=("seed",))
    real = h5py.File

    def interrupted_file(*a, **kw):
        signal.raise_signal(signal.SIGINT)  # Ctrl-C (or the sweep's SIGTERM) while the table is written
        return real(*a, **kw)

    monkeypatch.setattr(h5py, "File", interrupted_file)
    # Ctrl-C as an interactive process sees it: a process started in the background by a shell
    # without job control inherits SIGINT ignored, and an ignored signal must stay ignored
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            R.write_table(rows_b, cols, tmp_path / "sweep.csv", tmp_path / "sweep.h5", numeric=("k",),
                          integer=("seed",))
    finally:
        signal.signal(signal.SIGINT, before)
    monkeypatch.setattr(h5py, "File", real)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sweep.csv", "sweep.h5"]
    csv_rows = R.read_table(tmp_path / "sweep.csv")
    with h5py.File(tmp_path / "sweep.h5") as f:
        assert list(f["k"][:]) == [float(r["k"]) for r in csv_rows] == [2.0, 3.0]


SLOW_WRITE = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from analog_ep.study import runner
    real, mark = runner._write_files, Path(sys.argv[1])
    def slow(*a, **kw):
        mark.write_text("writing")
        time.sleep(3)  # SIGTERM arrives here, in the middle of the table write
        return real(*a, **kw)
    runner._write_files = slow
    from analog_ep.cli import run
    sys.argv = ["analog-ep", "sweep", sys.argv[2], "--out", sys.argv[3]]
    run()
""")


def test_sigterm_during_the_table_write_exits_143_and_resumes(tmp_path):
    spec = _sweep_spec(tmp_path)
    out, mark = tmp_path / "out", tmp_path / "mark"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    p = subprocess.Popen([sys.executable, "-c", SLOW_WRITE, str(mark), str(spec), str(out)], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    deadline = time.time() + 60
    while not mark.exists() and p.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert mark.exists(), p.communicate()
    p.send_signal(signal.SIGTERM)
    stdout, stderr = p.communicate(timeout=60)
    assert p.returncode == 143, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("preempted: ") and "Traceback" not in stderr, stderr
    assert f"--out {out}" in lines[0]
    assert sorted(q.name for q in out.iterdir() if q.is_file()) == ["spec.yaml", "study.json", "sweep.csv", "sweep.h5"]
    from analog_ep.study.runner import read_table

    rows = read_table(out / "sweep.csv")
    with h5py.File(out / "sweep.h5") as f:
        assert [s.decode() for s in f["status"][:]] == [r["status"] for r in rows] == ["missing"]
    # the same command continues it
    res = runner.invoke(app, ["sweep", str(spec), "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout.strip().splitlines()[-1])["ran"] == 1
    assert [r["status"] for r in read_table(out / "sweep.csv")] == ["finished"]


# ------------------------------------------------------------------ 10. the cosine floor
def test_cosine_floor_is_a_fraction_of_the_rate_by_default():
    cfg = load_config(None, ["train.schedule=cosine", "train.epochs=2", "train.schedule_unit=epoch"])
    assert cfg.train.lr_min is None and cfg.train.lr_min_ratio == 0.01
    assert [lr_factor(cfg, e) for e in range(2)] == [1.0, 0.01]
    # per step (the default): the second epoch of a 2-epoch trial starts at about half the rate
    step = load_config(None, ["train.schedule=cosine", "train.epochs=2"])
    assert step.train.schedule_unit == "step"
    assert lr_factor(step, 1, 0, 10) == pytest.approx(0.01 + 0.99 * 0.5)
    cfg5 = load_config(None, ["train.schedule=cosine", "train.epochs=5", "train.lr_min_ratio=0.1",
                              "train.schedule_unit=epoch"])
    expect = [0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * e / 4)) for e in range(5)]
    assert [lr_factor(cfg5, e) for e in range(5)] == pytest.approx(expect)
    # the user says 0: anneal to zero, as before
    E = ["train.schedule=cosine", "train.epochs=2", "train.schedule_unit=epoch"]
    assert lr_factor(load_config(None, E + ["train.lr_min=0"]), 1) == 0.0
    assert lr_factor(load_config(None, E + ["train.lr_min_ratio=0"]), 1) == 0.0
    # an absolute lr_min wins over the ratio
    assert lr_factor(load_config(None, E + ["train.lr=0.1", "train.lr_min=0.02"]), 1) == pytest.approx(0.2)
    wc = load_config(None, ["train.schedule=warmup_cosine", "train.epochs=4", "train.warmup_epochs=1",
                            "train.schedule_unit=epoch"])
    assert lr_factor(wc, 3) == pytest.approx(0.01)
    with pytest.raises(ConfigError, match="train.lr_min_ratio"):
        load_config(None, ["train.lr_min_ratio=1.5"])


def test_old_cosine_run_resumes_with_its_floor_bit_exact(tmp_path):
    """A run stored before train.lr_min_ratio existed (its config says lr_min: 0.0, no ratio)
    keeps annealing to 0 on resume: bit-for-bit an uninterrupted run with lr_min 0."""
    over = SMALL + ["train.schedule=cosine", "train.epochs=2", "train.lr_min=0.0", "train.schedule_unit=epoch"]
    full = make_trainer(load_config(None, over), tmp_path / "full")
    fit(full, progress=False)
    assert [r["lr_factor"] for r in full.history] == [1.0, 0.0]

    old = make_trainer(load_config(None, over + ["train.epochs=1"]), tmp_path / "old")
    fit(old, progress=False)
    ckpt = torch.load(tmp_path / "old" / "checkpoint.pt", weights_only=True)
    data = yaml.safe_load(ckpt["config_yaml"])
    del data["train"]["lr_min_ratio"]  # as an older version wrote it
    del data["train"]["schedule_unit"]  # (older still than the per-step schedule: it resumes per epoch)
    ckpt["config_yaml"] = yaml.safe_dump(data, sort_keys=False)
    torch.save(ckpt, tmp_path / "old" / "checkpoint.pt")
    res = runner.invoke(app, ["train", "--resume", str(tmp_path / "old"), "--set", "train.epochs=2", "--json"])
    assert res.exit_code == 0, res.output
    r = read_results(tmp_path / "old" / "results.h5")
    assert list(r["epochs"]["lr_factor"]) == [1.0, 0.0]
    got = torch.load(tmp_path / "old" / "checkpoint.pt", weights_only=True)["model"]
    for k, v in full.model.state_dict().items():
        assert _same(got[k], v), k
