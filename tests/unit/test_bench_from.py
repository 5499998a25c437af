"""`analog-ep bench --from RUN`: the bench times a finished run's trained state (restored as
``train --resume`` restores it), with the run's stored config; refusals are one line, exit 2.

Reference: a direct load (:func:`analog_ep.train.loop.resume_trainer`, the resume's own path) whose
first EP training step on the bench's batch must run exactly the sweeps the bench's first timed EP
step ran (deterministic reads: a digital run, and an analog run with read noise off), while a fresh
bench of the same config runs a different number."""

import json

import pytest
import torch
from typer.testing import CliRunner

import analog_ep.bench as bench_mod
from analog_ep.bench import BenchSource, bench, load_run
from analog_ep.cli import app
from analog_ep.config import load_config
from analog_ep.data import load_data
from analog_ep.errors import CheckpointError, ConfigError
from analog_ep.train.checkpoint import load_checkpoint, save_checkpoint
from analog_ep.train.loop import make_trainer, restore_trainer, resume_trainer

runner = CliRunner()
TINY = ["model.hidden=[16]", "data.batch_size=16", "data.train_size=96", "data.test_size=32", "train.epochs=2",
        "solver.free_iters=40", "solver.nudge_iters=12", "solver.tol=1e-4", "seed=3"]
# the card with read noise off: its reads (converters, devices) are deterministic
ANALOG = ["analog.device=memristor", "analog.out_noise_std=0"]
BENCH_SIDE = ["ep.warm_start=false"]  # the first timed EP step relaxes from zeros, as the reference does


def _sets(keys):
    return [a for k in keys for a in ("--set", k)]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two finished tiny runs (digits, 2 epochs of 96 images): digital and on the memristor card."""
    out = {}
    for name, extra in (("digital", []), ("analog", ANALOG)):
        d = tmp_path_factory.mktemp(name) / "run"
        res = runner.invoke(app, ["train", *_sets(TINY + extra), "--out", str(d), "--json"])
        assert res.exit_code == 0, res.output
        out[name] = d
    return out


def _first_step_sweeps(run_dir, overrides):
    """The reference: the run restored by resume's own path, one EP training step on the first batch."""
    cfg = load_config(None, list(overrides), base=__import__("yaml").safe_load(
        load_checkpoint(run_dir / "checkpoint.pt")["config_yaml"]))
    trainer = resume_trainer(run_dir, cfg)
    train_set, _, _ = load_data(cfg.data, cfg.seed)
    x, y = train_set.batch(slice(0, cfg.data.batch_size))
    _, _, stats = trainer.train_step(x.contiguous(), y)
    return sum(int(st.sweeps) for st in stats.values())


@pytest.mark.parametrize("kind", ["digital", "analog"])
def test_from_times_the_trained_state(runs, kind):
    run = runs[kind]
    cfg, src = load_run(run, BENCH_SIDE)
    assert src.epochs == 2 and cfg.train.epochs == 2 and cfg.ep.warm_start is False
    r = bench(cfg, repeats=1, warmup=0, source=src)
    assert r["from_run"] == str(run) and r["from_epochs"] == 2
    assert r["device"] == ("memristor" if kind == "analog" else None)
    # the first timed EP step is the reference's step on the restored state, sweep for sweep ...
    # (resume takes a changed key on a finished run only with more epochs; they do not enter a step)
    assert r["ep_sweeps_per_step"] == _first_step_sweeps(run, BENCH_SIDE + ["train.epochs=3"])
    # ... and not a fresh network's: the same config built from its seed relaxes differently
    fresh = bench(load_config(None, TINY + (ANALOG if kind == "analog" else []) + BENCH_SIDE), repeats=1, warmup=0)
    assert fresh["from_run"] is None and fresh["from_epochs"] == 0
    assert fresh["ep_sweeps_per_step"] != r["ep_sweeps_per_step"]


def test_twins_start_from_the_tiles_weights(runs, monkeypatch):
    # bench's digital twins of a trained analog run start from the weights its tiles hold (the resume's
    # reference), not from the seed's: the state each twin's trainer holds when bench builds it
    built = []

    def spy(cfg, *a, **kw):
        t = make_trainer(cfg, *a, **kw)
        built.append((cfg.algorithm, kw.get("weights") is not None,
                      [syn.weight.detach().clone() for syn in t.model.all_synapses()]))
        return t

    monkeypatch.setattr(bench_mod, "make_trainer", spy)
    cfg, src = load_run(runs["analog"], BENCH_SIDE)
    bench(cfg, repeats=1, warmup=0, source=src)
    assert sorted(b[0] for b in built) == ["bp", "ep"] and all(b[1] for b in built)  # the BP and digital EP twins
    ref = [syn.weight.detach() for syn in resume_trainer(runs["analog"], load_run(runs["analog"])[0]).model.all_synapses()]
    fresh = [syn.weight.detach() for syn in make_trainer(cfg, None).model.all_synapses()]
    for _, _, ws in built:
        assert len(ws) == len(ref)
        for w, r, f in zip(ws, ref, fresh):
            assert torch.equal(w, r) and not torch.allclose(w, f)


def test_trainers_do_not_share_optimizer_state(runs, monkeypatch):
    # the timed EP trainer and the uncounted one restore from the same checkpoint: each its own copy,
    # so one's momentum step does not move the other's buffers
    built = []

    def spy(*a, **kw):
        built.append(restore_trainer(*a, **kw))
        return built[-1]

    monkeypatch.setattr(bench_mod, "restore_trainer", spy)
    cfg, src = load_run(runs["digital"], BENCH_SIDE)
    assert cfg.train.momentum > 0
    bench(cfg, repeats=1, warmup=0, source=src)
    ep, unc = built[0], built[1]
    assert ep.cfg.compute.count_events and not unc.cfg.compute.count_events
    bufs = [[st["momentum_buffer"] for st in t.optimizer.state.values()] for t in (ep, unc)]
    assert len(bufs[0]) == len(bufs[1]) > 0
    for a, b in zip(*bufs):
        assert a.data_ptr() != b.data_ptr()
    for t in (ep, unc):  # nor the checkpoint's own tensors
        for a, b in zip(t.optimizer.state.values(), src.ckpt["optimizer"]["state"].values()):
            assert a["momentum_buffer"].data_ptr() != b["momentum_buffer"].data_ptr()


def test_checkpoint_error_names_the_runs_checkpoint(runs):
    cfg, src = load_run(runs["digital"])
    bad = {**src.ckpt, "model": {k: v for k, v in src.ckpt["model"].items() if k != "biases.0"}}
    with pytest.raises(CheckpointError, match=str(runs["digital"] / "checkpoint.pt")):
        bench(cfg, repeats=1, warmup=0, source=BenchSource(src.run_dir, bad))


def test_cli_from_json_and_table(runs):
    res = runner.invoke(app, ["bench", "--from", str(runs["analog"]), "--set", "solver.stop=tol", "--set", "solver.tol=0",
                              "--repeats", "1",
                              "--warmup", "0", "--json"])
    assert res.exit_code == 0, res.output
    r = json.loads(res.stdout.strip().splitlines()[-1])
    assert r["from_epochs"] == 2 and r["device"] == "memristor" and "analog_over_digital_ep_step" in r
    # an unreachable tol (0): the digital twin runs its whole budget, free + two nudged phases
    assert r["digital_ep_sweeps_per_step"] == 40 + 2 * 12
    res = runner.invoke(app, ["bench", "--from", str(runs["digital"]), "--repeats", "1", "--warmup", "0"])
    assert res.exit_code == 0, res.output
    assert "trained state of" in res.stdout and "(2 epochs)" in res.stdout


@pytest.mark.parametrize("args, words", [
    (["--set", "model.hidden=[8]"], ["model.hidden", "bench --from"]),
    (["--device", "ideal"], ["analog.device", "memristor"]),
    (["--set", "data.train_size=64"], ["data.train_size"]),
    (["--set", "seed=0"], ["seed"]),
    (["--set", "analog.update=mixed"], ["analog.update"]),
    (["--set", "train.optimizer=adam"], ["train.optimizer", "bench --from", "'adam'"]),  # as --resume refuses it
    (["--config", "configs/hopfield_mlp_fmnist.yaml"], ["--config cannot be combined with --from"]),
])
def test_refused_keys(runs, args, words):
    res = runner.invoke(app, ["bench", "--from", str(runs["analog"]), *args, "--repeats", "1"])
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.stderr.strip().splitlines() if ln]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])


def test_refused_folders(runs, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    res = runner.invoke(app, ["bench", "--from", str(empty)])
    assert res.exit_code == 2 and "no run here" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    # a run stopped after epoch 1 of 2 (its checkpoint as an interrupted run leaves it)
    ckpt = load_checkpoint(runs["digital"] / "checkpoint.pt")
    half = tmp_path / "half"
    half.mkdir()
    save_checkpoint(half / "checkpoint.pt", {**ckpt, "epoch": 1, "history": ckpt["history"][:1]})
    res = runner.invoke(app, ["bench", "--from", str(half)])
    assert res.exit_code == 2 and "has not finished (1 of 2 epochs done)" in res.stderr, res.stderr
    with pytest.raises(ConfigError, match="has not finished"):
        load_run(half)


def test_resume_refuses_what_bench_from_refuses(runs):
    # one check (train.loop.check_kept) for both: a resume refuses the optimizer change too
    res = runner.invoke(app, ["train", "--resume", str(runs["digital"]), "--set", "train.optimizer=adam",
                              "--set", "train.epochs=3"])
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.stderr.strip().splitlines() if ln]
    assert len(lines) == 1 and "train.optimizer: a resumed run keeps its optimizer" in lines[0], res.stderr


def test_bench_from_loads_the_config_train_resume_loads(runs):
    """``bench --from`` and ``train --resume`` (its own path, :func:`analog_ep.train.session._resolve`)
    load one stored run with the same overrides into equal configs: the run's stored config (not
    a fresh config of the same keys) with the overrides on top."""
    from analog_ep.train.session import _resolve

    over = ["train.epochs=3", "train.lr=0.02", *BENCH_SIDE]
    cfg, _ = load_run(runs["analog"], over)
    resumed, _, _ = _resolve(None, over, None, str(runs["analog"]), False)
    assert cfg == resumed
    assert (cfg.train.epochs, cfg.train.lr, cfg.ep.warm_start, cfg.model.hidden) == (3, 0.02, False, [16])
    assert cfg != load_config(None, over)


@pytest.mark.parametrize("stored", [None, "a: [1", "just text"])
def test_every_reader_refuses_an_unreadable_stored_config_alike(runs, tmp_path, stored):
    """A checkpoint whose ``config_yaml`` is missing, does not parse or is not a mapping: ``bench
    --from``, ``train --resume``, ``drift``, ``deploy`` and a distillation teacher refuse it with one
    line, the same :class:`CheckpointError` naming the checkpoint."""
    import shutil

    from analog_ep.study.deploy import load_source
    from analog_ep.study.drift import DriftStudy
    from analog_ep.train.checkpoint import stored_config
    from analog_ep.train.teacher import Teacher

    run = tmp_path / "run"
    shutil.copytree(runs["analog"], run)
    ckpt = load_checkpoint(run / "checkpoint.pt")
    if stored is None:
        del ckpt["config_yaml"]
    else:
        ckpt["config_yaml"] = stored
    save_checkpoint(run / "checkpoint.pt", ckpt)
    want = (f"{run / 'checkpoint.pt'}: no readable config in the checkpoint (its config_yaml is missing or not a "
            "YAML mapping); pass the folder of a run analog-ep train wrote")
    readers = [lambda: load_run(run, []), lambda: DriftStudy(run), lambda: load_source(run),
               lambda: Teacher(run, (64,), 10), lambda: stored_config(ckpt, path=run / "checkpoint.pt")]
    for read in readers:
        with pytest.raises(CheckpointError) as e:
            read()
        assert str(e.value) == want
    res = runner.invoke(app, ["train", "--resume", str(run), "--set", "train.epochs=3"])
    assert res.exit_code == 2 and res.stderr.strip() == f"error: {want}", res.output
