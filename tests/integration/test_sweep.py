"""``analog-ep sweep``: spec expansion and names, the table, reruns that skip finished points and
resume interrupted ones, and the same table from every executor (local pool with 1 or 2
workers, a Dask LocalCluster, submitit's LocalExecutor)."""

import json
import math
import os
import shutil
from pathlib import Path

import h5py
import pytest
import yaml
from typer.testing import CliRunner

import analog_ep
from analog_ep.cli import app
from analog_ep.errors import ConfigError
from analog_ep.results import read_results
from analog_ep.study.sweep import build_points, expand, load_spec, read_table, recipe_note

runner = CliRunner()
TINY = {"data.train_size": 96, "data.test_size": 48, "model.hidden": [16], "train.epochs": 1}
VALUES = ("analog.w_noise_std", "seed", "test_accuracy", "best_test_accuracy", "train_accuracy", "train_loss",
          "pulses", "status")
"""Table columns that every executor and worker count must give alike (not seconds, folder)."""


def _spec(path: Path, **sections) -> Path:
    path.write_text(yaml.safe_dump(sections, sort_keys=False))
    return path


def _tiny_spec(path: Path, noise=(0.0, 0.02, 0.05)) -> Path:
    return _spec(path, base={"device": "memristor", "set": TINY}, grid={"analog.w_noise_std": list(noise)},
                 seeds=[0])


def _sweep(args):
    res = runner.invoke(app, ["sweep", *args])
    return res, json.loads(res.stdout.strip().splitlines()[-1]) if "--json" in args and res.stdout.strip() else None


def _values(table: Path) -> dict:
    return {Path(r["folder"]).name: {k: r[k] for k in VALUES} for r in read_table(table)}


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """One finished 3-point sweep (local pool, 1 worker): spec, folder and JSON summary."""
    tmp = tmp_path_factory.mktemp("sweep")
    spec = _tiny_spec(tmp / "noise.yaml")
    res, summary = _sweep([str(spec), "--out", str(tmp / "out"), "--json"])
    assert res.exit_code == 0, res.output
    return spec, tmp / "out", summary


# ------------------------------------------------------------------------------- expansion
def test_expand_grid_zip_random_seeds(tmp_path):
    spec = load_spec(_spec(
        tmp_path / "s.yaml",
        grid={"analog.out_bits": [4, 8], "model.hidden": [[16], [8, 8]]},
        zip={"train.lr": [0.01, 0.02, 0.03], "ep.beta": [0.1, 0.2, 0.3]},
        random={"n": 2, "seed": 5, "keys": {"analog.w_noise_std": {"low": 0.001, "high": 0.1, "log": True},
                                             "analog.inp_bits": {"low": 4, "high": 8, "int": True}}},
        seeds=[0, 1]))
    pts = expand(spec)
    assert len(pts) == 2 * 2 * 3 * 2 * 2
    assert spec.keys == ["analog.out_bits", "model.hidden", "train.lr", "ep.beta", "analog.w_noise_std",
                         "analog.inp_bits"]
    # nesting order: grid (first key slowest), zip rows together, random draws, seeds innermost
    assert [s for _, s in pts[:4]] == [0, 1, 0, 1]
    assert pts[0][0]["analog.out_bits"] == 4 and pts[0][0]["model.hidden"] == [16]
    assert pts[-1][0]["analog.out_bits"] == 8 and pts[-1][0]["model.hidden"] == [8, 8]
    assert all([0.01, 0.02, 0.03].index(p["train.lr"]) == [0.1, 0.2, 0.3].index(p["ep.beta"]) for p, _ in pts)
    draws = {(p["analog.w_noise_std"], p["analog.inp_bits"]) for p, _ in pts}
    assert len(draws) == 2
    assert all(0.001 <= w <= 0.1 and isinstance(b, int) and 4 <= b <= 8 for w, b in draws)
    assert expand(spec) == pts  # seeded: the same draws every time
    other = load_spec(_spec(tmp_path / "o.yaml", random={"n": 2, "seed": 6, "keys": {
        "analog.w_noise_std": {"low": 0.001, "high": 0.1, "log": True}}}))
    assert {p["analog.w_noise_std"] for p, _ in expand(other)}.isdisjoint({w for w, _ in draws})
    assert [s for _, s in expand(load_spec(_spec(tmp_path / "e.yaml", base={"set": {"seed": 3}})))] == [None]


def test_point_names_are_deterministic_unique_and_readable(tmp_path):
    spec = load_spec(_spec(tmp_path / "s.yaml", base={"device": "memristor", "set": TINY},
                           grid={"analog.out_bits": [4, 6], "device.periphery.out_bits": [5, 7],
                                 "analog.w_noise_std": [0.02]}, seeds=[0, 1]))
    names = [p.name for p in build_points(spec)]
    assert names == [p.name for p in build_points(spec)]
    assert len(set(names)) == len(names) == 8
    first = names[0]
    # two swept keys ending in out_bits: the whole key names them; the seed and a hash end the name
    assert first.startswith("analog.out_bits=4,device.periphery.out_bits=5,w_noise_std=0.02,seed=0,")
    assert len(first.rsplit(",", 1)[1]) == 8
    # a card path shows as its stem; the hash covers the whole config, so another base gives another folder
    card = str(Path(analog_ep.__file__).parent / "analog" / "cards" / "memristor.yaml")
    other = load_spec(_spec(tmp_path / "o.yaml", base={"set": {**TINY, "train.epochs": 2}},
                            grid={"analog.device": [card, "memristor"]}, seeds=[0]))
    a, b = (p.name for p in build_points(other))
    assert a.startswith("device=memristor,seed=0,") and b.startswith("device=memristor,seed=0,") and a != b
    long = load_spec(_spec(tmp_path / "l.yaml", base={"set": TINY}, grid={"model.hidden": [[7] * 60]}))
    assert len(build_points(long)[0].name) <= 96 + len(",seed=0,") + 8


def test_shipped_specs_validate(monkeypatch):
    root = Path(__file__).resolve().parents[2]
    monkeypatch.chdir(root)  # base.config is relative to the current directory
    expected = {"digits_noise_adc": (18, {0, 1}), "fmnist_cards": (16, {0, 1}), "cost_fmnist": (6, {0})}
    for path in sorted((root / "configs" / "sweeps").glob("*.yaml")):
        points = build_points(load_spec(path))
        n, seeds = expected.pop(path.stem)
        assert len(points) == n
        assert {p.seed for p in points} == seeds and all(p.config["train"]["epochs"] == 3 for p in points)
    assert not expected


def test_recipe_note_names_the_family_defaults_the_swept_values_change(tmp_path):
    """analog.device [null, card] on dchn_vgg5 compares two recipes (its digital defaults against
    the card's paper energy): the note names every key that differs and no point sets; none when
    the base sets them, when the sweep changes no family default, or for a model without any."""
    from analog_ep.config.model_specs import DCHN_DIGITAL_DEFAULTS

    dchn = {"model.name": "dchn_vgg5", "data.name": "synthetic"}
    two = load_spec(_spec(tmp_path / "a.yaml", base={"set": dchn}, grid={"analog.device": [None, "memristor"]}))
    note = recipe_note(build_points(two))
    assert note is not None and "\n" not in note and "base.set" in note
    assert note.split("differ in ")[1].split(", which")[0] == ", ".join(sorted(DCHN_DIGITAL_DEFAULTS["ep"]))
    fixed = {**dchn, **DCHN_DIGITAL_DEFAULTS["ep"], "model.feedback_scale": 1.0, "model.feedback_update": "local",
             "compute.precision": "fp32"}
    held = load_spec(_spec(tmp_path / "b.yaml", base={"set": fixed}, grid={"analog.device": [None, "memristor"]}))
    assert recipe_note(build_points(held)) is None
    rates = load_spec(_spec(tmp_path / "c.yaml", base={"set": dchn}, grid={"train.lr": [0.01, 0.02]}))
    assert recipe_note(build_points(rates)) is None
    mlp = load_spec(_spec(tmp_path / "d.yaml", base={"set": TINY}, grid={"analog.device": [None, "memristor"]}))
    assert recipe_note(build_points(mlp)) is None
    # shown keys are capped, the rest counted
    assert recipe_note(build_points(two), shown=2).split(", which")[0].endswith(
        f"and {len(DCHN_DIGITAL_DEFAULTS['ep']) - 2} more")


def test_recipe_note_leaves_out_keys_an_algorithm_does_not_take(tmp_path):
    """ep against bp on a digital vgg_crnn / dchn_vgg5: the energy's model keys (feedback scale and
    update, aux weight) differ only because bp relaxes no energy, so the note does not name them;
    following its advice (its base.set keys at the ep point's values) gives a spec whose every point
    loads. Where the energy keys differ among the points that relax one (two models' ep points),
    the note names them but does not advise base.set for them (the bp points would refuse them)."""
    from analog_ep.config.relaxations import ENERGY_MODEL_KEYS
    from analog_ep.study.sweep import _dotted, recipe_keys

    energy = {f"model.{k}" for k in ENERGY_MODEL_KEYS}
    for model in ("vgg_crnn", "dchn_vgg5"):
        base = {"model.name": model, "data.name": "synthetic"}
        spec = load_spec(_spec(tmp_path / f"{model}.yaml", base={"set": base}, grid={"algorithm": ["ep", "bp"]}))
        points = build_points(spec)
        fixed, paired = recipe_keys(points)
        note = recipe_note(points)
        assert not paired and not energy & set(fixed), (model, fixed)
        assert all(k not in (note or "") for k in energy), note
        assert (note is None) == (not fixed) and all(k in note for k in fixed)
        ep = next(p for p in points if p.config["algorithm"] == "ep")
        held = {**base, **{k: _dotted(ep.config, k) for k in fixed}}
        again = build_points(load_spec(_spec(tmp_path / f"{model}2.yaml", base={"set": held},
                                             grid={"algorithm": ["ep", "bp"]})))
        assert len(again) == 2 and recipe_note(again) is None
    mixed = load_spec(_spec(tmp_path / "m.yaml", base={"set": {"data.name": "synthetic"}},
                            grid={"model.name": ["dchn_vgg5", "vgg_crnn"], "algorithm": ["ep", "bp"]}))
    fixed, paired = recipe_keys(build_points(mixed))
    assert "model.feedback_scale" in paired and not energy & set(fixed)
    note = recipe_note(build_points(mixed))
    assert "model.feedback_scale" in note.split(", which")[0] and "zip" in note
    assert "model.feedback_scale" in note.split("; to hold them fixed, ")[1].split("pair ")[1].split(" with algorithm")[0]
    assert "model.feedback_scale" not in note.split("; to hold them fixed, ")[1].split("pair ")[0]


def test_recipe_note_compares_the_family_values_not_the_broadcast_gains(tmp_path):
    """vgg_crnn's digital default is one gain for every layer: a depth sweep resolves [2.0] * 11 and
    [2.0] * 13 from the same rule, which is no recipe difference; gains the family sets per model
    still differ (dchn_vgg5's [0.7] * 5 against vgg_crnn's [2.0])."""
    crnn = {"model.name": "vgg_crnn", "data.name": "synthetic"}
    depth = build_points(load_spec(_spec(tmp_path / "d.yaml", base={"set": crnn}, grid={"model.depth": [11, 13]})))
    assert [len(p.config["model"]["gains"]) for p in depth] == [11, 13]
    assert all(p.family["model.gains"] == [2.0] for p in depth)
    assert "model.gains" not in (recipe_note(depth) or "")
    models = build_points(load_spec(_spec(tmp_path / "n.yaml", base={"set": {"data.name": "synthetic"}},
                                          grid={"model.name": ["dchn_vgg5", "vgg_crnn"]})))
    assert "model.gains" in recipe_note(models).split(", which")[0]


def test_points_with_equal_configs_are_refused(tmp_path):
    """One gain for every layer and the same gain spelled out per layer resolve to one config (one
    hash): two points would train it twice, so the spec is refused naming both values."""
    spec = _spec(tmp_path / "g.yaml", base={"set": TINY}, grid={"model.gains": [[1.5], [1.5, 1.5]]})
    with pytest.raises(ConfigError) as e:
        build_points(load_spec(spec))
    msg = str(e.value)
    assert "same config" in msg and "model.gains=[1.5]" in msg and "model.gains=[1.5, 1.5]" in msg
    res = runner.invoke(app, ["sweep", str(spec), "--out", str(tmp_path / "out")])
    assert res.exit_code == 2 and res.output.count("\n") == 1 and res.output.startswith("error: ")
    assert not (tmp_path / "out").exists()
    distinct = _spec(tmp_path / "h.yaml", base={"set": TINY}, grid={"model.gains": [[1.5], [1.5, 2.0]]})
    assert len(build_points(load_spec(distinct))) == 2


def test_sweep_prints_the_recipe_note(tmp_path):
    """The note is one line of the sweep's output, before the points run (here they fail fast: no
    data under data.root)."""
    spec = _spec(tmp_path / "r.yaml", base={"set": {"model.name": "dchn_vgg5", "data.name": "mnist",
                                                    "data.root": str(tmp_path / "none")}},
                 grid={"analog.device": [None, "memristor"]})
    res = runner.invoke(app, ["sweep", str(spec), "--out", str(tmp_path / "out")])
    assert res.exit_code == 1, res.output
    lines = [l for l in res.stdout.splitlines() if l.startswith("note: the points also differ in ")]
    assert len(lines) == 1 and "model.feedback_scale" in lines[0]


# -------------------------------------------------------------------------- runs and table
def test_table_rows_and_columns(swept):
    spec, out, summary = swept
    assert summary == {"points": 3, "ran": 3, "skipped": 0, "failed": 0, "unhealthy": 0,
                       "table": str(out / "sweep.csv")}
    rows = read_table(out / "sweep.csv")
    assert list(rows[0]) == ["analog.w_noise_std", "seed", "test_accuracy", "best_test_accuracy", "train_accuracy",
                             "train_loss", "pulses", "seconds", "energy_per_sample_j", "latency_per_sample_s",
                             "gpu_energy_per_sample_j", "area_mm2", "status", "error", "folder"]
    assert [float(r["analog.w_noise_std"]) for r in rows] == [0.0, 0.02, 0.05]
    with h5py.File(out / "sweep.h5") as f:
        assert json.loads(f.attrs["columns"]) == list(rows[0])
        h5 = {c: f[c][()] for c in f}
    for i, r in enumerate(rows):
        assert r["status"] == "finished" and r["error"] == "" and r["seed"] == "0"
        res = read_results(Path(r["folder"]) / "results.h5")
        assert res["status"] == "finished"
        ep = res["epochs"]
        assert float(r["test_accuracy"]) == ep["test_accuracy"][-1] == float(r["best_test_accuracy"])
        assert float(r["train_loss"]) == ep["train_loss"][-1]
        assert float(r["pulses"]) == sum(ep[k].sum() for k in ep if k.startswith("pulses_layer")) > 0
        assert float(r["seconds"]) > 0
        for c in ("test_accuracy", "train_accuracy", "pulses", "seconds", "analog.w_noise_std"):
            assert h5[c][i] == float(r[c])
        assert h5["seed"][i] == 0 and h5["status"][i].decode() == "finished"
        assert h5["folder"][i].decode() == r["folder"]
    assert yaml.safe_load((out / "spec.yaml").read_text()) == yaml.safe_load(spec.read_text())


def test_rerun_skips_finished_points(swept, tmp_path):
    spec, out, _ = swept
    copy = shutil.copytree(out, tmp_path / "out")
    before = {p: p.stat().st_mtime_ns for p in copy.glob("*/results.h5")}
    table = (copy / "sweep.csv").read_text().replace(str(out), str(copy))
    res, summary = _sweep([str(spec), "--out", str(copy), "--json"])
    assert res.exit_code == 0, res.output
    assert summary["ran"] == 0 and summary["skipped"] == 3 and summary["failed"] == 0
    assert {p: p.stat().st_mtime_ns for p in copy.glob("*/results.h5")} == before
    assert (copy / "sweep.csv").read_text() == table


def test_killed_sweep_reruns_only_the_rest(swept, tmp_path):
    spec, out, _ = swept
    copy = shutil.copytree(out, tmp_path / "out")
    rows = read_table(copy / "sweep.csv")
    lost, cut, kept = (copy / Path(r["folder"]).name for r in rows)
    for f in ("results.h5", "checkpoint.pt"):  # killed before its first checkpoint
        (lost / f).unlink()
    with h5py.File(cut / "results.h5", "r+") as f:  # killed after its last epoch's checkpoint
        f.attrs.modify("status", "interrupted")
    kept_mtime = (kept / "results.h5").stat().st_mtime_ns
    res = runner.invoke(app, ["sweep", str(spec), "--out", str(copy)])
    assert res.exit_code == 0, res.output
    lines = res.stdout.strip().splitlines()
    assert "3 points, 1 finished already, running 2" in lines[0]
    assert sum(line.startswith("[") for line in lines) == 2
    assert any(cut.name in line and "(resumed)" in line for line in lines)
    assert lines[-1].startswith("done: 3 points, ran 2, skipped 1; table")
    assert (kept / "results.h5").stat().st_mtime_ns == kept_mtime
    assert _values(copy / "sweep.csv") == _values(out / "sweep.csv")  # resumed and restarted runs are exact


def test_two_workers_give_the_same_table(swept, tmp_path):
    spec, out, _ = swept
    res, summary = _sweep([str(spec), "--out", str(tmp_path / "w2"), "--workers", "2", "--json"])
    assert res.exit_code == 0, res.output
    assert summary["ran"] == 3
    assert _values(tmp_path / "w2" / "sweep.csv") == _values(out / "sweep.csv")


def test_failed_point_is_recorded_and_the_others_run(tmp_path):
    spec = _spec(tmp_path / "f.yaml", base={"set": {**TINY, "data.root": str(tmp_path / "none")}},
                 grid={"data.name": ["mnist", "digits"]})
    res, summary = _sweep([str(spec), "--out", str(tmp_path / "out"), "--json"])
    assert res.exit_code == 1, res.output
    assert summary["failed"] == 1 and summary["ran"] == 2
    bad, good = read_table(tmp_path / "out" / "sweep.csv")
    assert bad["status"] == "failed" and "mnist" in bad["error"].lower() and "\n" not in bad["error"]
    assert math.isnan(float(bad["test_accuracy"]))
    assert good["status"] == "finished" and good["error"] == "" and float(good["test_accuracy"]) > 0
    res = runner.invoke(app, ["sweep", str(spec), "--out", str(tmp_path / "out")])
    assert res.exit_code == 1
    assert "running 1" in res.stdout and "1 failed" in res.stdout.strip().splitlines()[-1]


# ----------------------------------------------------------------------------- executors
@pytest.fixture
def pythonpath(monkeypatch):
    """Job subprocesses import this checkout of analog_ep."""
    root = str(Path(analog_ep.__file__).resolve().parents[1])
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))


def test_dask_local_cluster(swept, tmp_path):
    distributed = pytest.importorskip("distributed")
    _, out, _ = swept
    spec = _tiny_spec(tmp_path / "noise.yaml", noise=(0.0, 0.05))
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        res, summary = _sweep([str(spec), "--out", str(tmp_path / "d"), "--executor", "dask",
                               "--scheduler", cluster.scheduler_address, "--json"])
    assert res.exit_code == 0, res.output
    assert summary["ran"] == 2 and summary["failed"] == 0
    local = _values(out / "sweep.csv")
    got = _values(tmp_path / "d" / "sweep.csv")
    assert len(got) == 2 and all(got[name] == local[name] for name in got)


def test_submitit_local_executor(swept, tmp_path, monkeypatch, pythonpath):
    pytest.importorskip("submitit")
    _, out, _ = swept
    monkeypatch.setenv("ANALOG_EP_SUBMITIT_LOCAL", "1")
    spec = _tiny_spec(tmp_path / "noise.yaml", noise=(0.0, 0.05))
    res, summary = _sweep([str(spec), "--out", str(tmp_path / "s"), "--executor", "slurm", "--json"])
    assert res.exit_code == 0, res.output
    assert summary["ran"] == 2 and summary["failed"] == 0
    assert (tmp_path / "s" / "slurm").is_dir()
    local = _values(out / "sweep.csv")
    got = _values(tmp_path / "s" / "sweep.csv")
    assert len(got) == 2 and all(got[name] == local[name] for name in got)


# ------------------------------------------------------------------------------ bad specs
@pytest.mark.parametrize("sections, key", [
    ({"grid": {"analog.w_noise_sd": [0.0]}}, "grid.analog.w_noise_sd"),
    ({"zip": {"analog.out_bits": [4, 6], "analog.w_noise_std": [0.0, 0.01, 0.02]}}, "zip.analog.w_noise_std"),
    ({"random": {"n": 2, "keys": {"analog.w_noise_std": {"low": 0.1, "high": 0.01}}}},
     "random.keys.analog.w_noise_std"),
    ({"grid": {"analog.out_bits": [4, 0]}}, "analog.out_bits"),
    ({"grid": {"device.dw_mn": [0.01]}}, "device.dw_mn"),
    ({"gird": {"analog.out_bits": [4]}}, "gird"),
])
def test_bad_spec_exits_2_naming_spec_and_key(tmp_path, sections, key):
    spec = _spec(tmp_path / "bad.yaml", base={"device": "memristor", "set": TINY}, **sections)
    res = runner.invoke(app, ["sweep", str(spec), "--out", str(tmp_path / "out")])
    assert res.exit_code == 2
    err = res.stderr.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"error: {spec}: ") and key in err
    assert not (tmp_path / "out").exists()  # nothing run


def test_executor_errors_exit_2(tmp_path, monkeypatch):
    spec = _tiny_spec(tmp_path / "s.yaml")
    for args, words in ((["--executor", "mpi"], "--executor"), (["--workers", "0"], "--workers"),
                        (["--scheduler", "tcp://x:1"], "--executor dask")):
        res = runner.invoke(app, ["sweep", str(spec), "--out", str(tmp_path / "out"), *args])
        assert res.exit_code == 2 and words in res.stderr and len(res.stderr.strip().splitlines()) == 1
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "distributed" else real(name, *a))
    res = runner.invoke(app, ["sweep", str(spec), "--out", str(tmp_path / "out"), "--executor", "dask"])
    assert res.exit_code == 2 and "analog-ep[dask]" in res.stderr
    assert not (tmp_path / "out").exists()
