"""A given ``analog.settle_dt_s`` against the settle's measured step bound (issue 20, review of
session 9): refused at a run's first settle phase before the run folder is touched; clamped to
the bound (counted in the results, one warning) when training moves the bound below it later;
and the bound itself is tight (the linearised integrator grows just above it, decays just below).

References: the bound's closed form ``tau ln((rho + 1) / (rho - 1))`` applied to the rho each
phase measured (a spy on the step decision that calls the real one), the run folder's bytes, a
run without the first-phase check (same weights), and the explicit linear recurrence of the
exponential Euler step on a symmetric coupling of known spectrum.
"""

import math

import pytest
import torch

from analog_ep.config import load_config
from analog_ep.errors import ConfigError
from analog_ep.solvers import settle as ST
from analog_ep.train.first_phase import first_phase_check

TAU = 1e-7
MLP = ["data.name=digits", "model.hidden=[12]", "analog.device=ideal", "analog.relaxation=settle",
       "data.batch_size=8", "data.train_size=32", "data.test_size=8", "solver.free_iters=4", "solver.nudge_iters=2"]
STRONG = ["model.gains=[3,3]"]  # rho about 2.5 at the first free phase: bound about 0.84 tau
DT = 9e-8  # 0.9 tau: stable at the default gains' first phases, above the strong net's bound
NEURON_100NS = "analog.settle_g_leak_s=1e-6"  # a card's neuron at the default 1 uS leak: tau = 100 fF / 1 uS = TAU


def _spy(monkeypatch):
    """Record every Hopfield phase's measured rho (with its margin) as the step decision sees it."""
    rhos = []
    real = ST.exponential_euler_step

    def spy(tau_s, dt_s, rho, model=None):
        rhos.append(rho)
        return real(tau_s, dt_s, rho, model)

    monkeypatch.setattr(ST, "exponential_euler_step", spy)
    return rhos


def _bound(rho):
    return math.inf if rho <= 1 else TAU * math.log((rho + 1) / (rho - 1))


def test_a_bound_that_falls_mid_run_clamps_counts_and_warns_once(tmp_path, monkeypatch):
    """A run whose weights are programmed 4x larger after its second step (rho about 1 -> 2.5):
    the phases whose bound fell below the given step run at half their bound instead of
    refusing; each epoch's row counts them (the closed-form bound on the rho each phase
    measured: the same phases), the results file has the count, one warning line names it."""
    from analog_ep.results import read_results
    from analog_ep.train import fit, make_trainer

    rhos = _spy(monkeypatch)
    t = make_trainer(load_config(None, MLP + ["train.epochs=2", f"analog.settle_dt_s={DT}"]), tmp_path)

    def grow(epoch, i):
        if (epoch, i) == (0, 1):
            for syn in t.model.all_synapses():
                syn.storage.program_weights(4.0 * syn.storage.weight)

    t.on_batch = grow
    lines = []
    info = fit(t, progress=False, warn=lines.append)
    per_epoch = [r["settle_dt_clamped_phases"] for r in t.history]
    expected = sum(_bound(r) <= DT for r in rhos)
    assert expected >= 4 and sum(_bound(r) <= DT for r in rhos[:6]) == 0  # the first two steps were stable
    assert sum(per_epoch) == expected and all(n > 0 for n in per_epoch)
    clamp_lines = [ln for ln in lines if "settle_dt_clamped_phases" in ln]
    assert len(clamp_lines) == 1 and "\n" not in clamp_lines[0]
    assert clamp_lines[0].startswith("warning: ") and "analog.settle_dt_s: 9e-08 s is at or above" in clamp_lines[0]
    assert info["status"] == "finished"
    assert list(read_results(t.results_path)["epochs"]["settle_dt_clamped_phases"]) == per_epoch


def test_a_clamped_run_preempted_mid_epoch_resumes_as_the_uninterrupted_run(tmp_path, monkeypatch):
    """Review of session 10: a run whose bound fell below its given step, preempted in the middle
    of its second epoch (after clamped phases in both epochs) and resumed through ``train
    --resume`` (``run_training``, with its first-phase check): the resumed run is not refused, it
    clamps the same phases (per-epoch counts, the mid-epoch ones carried in the checkpoint) and
    ends with the uninterrupted run's weights bit for bit."""
    from analog_ep.train import fit, make_trainer
    from analog_ep.train.session import run_training

    over = MLP + ["train.epochs=2", f"analog.settle_dt_s={DT}", "train.schedule_unit=epoch", "data.train_size=48"]

    def trainer(name, stop_at=None):
        t = make_trainer(load_config(None, over), tmp_path / name)

        def hook(epoch, i):
            if (epoch, i) == (0, 1):
                for syn in t.model.all_synapses():
                    syn.storage.program_weights(4.0 * syn.storage.weight)
            if (epoch, i) == stop_at:
                t.sigterm_seen = True  # as the SIGTERM handler: checkpoint after this step, then stop

        t.on_batch = hook
        return t

    a = trainer("a")
    fit(a, progress=False, warn=lambda line: None)
    assert all(r["settle_dt_clamped_phases"] > 0 for r in a.history)
    b = trainer("b", stop_at=(1, 2))
    with pytest.raises(Exception, match="SIGTERM"):
        fit(b, progress=False, warn=lambda line: None)
    assert b.partial is not None and b.partial["settle_dt_clamped"] > 0
    info = run_training(None, [], resume=tmp_path / "b", progress=False)
    assert info["status"] == "finished"
    c = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=False)
    ref = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=False)
    assert [r["settle_dt_clamped_phases"] for r in c["history"]] == [r["settle_dt_clamped_phases"] for r in a.history]
    assert all(torch.equal(ref["model"][k], c["model"][k]) for k in ref["model"] if isinstance(ref["model"][k], torch.Tensor))


def test_a_step_above_the_first_phase_bound_is_refused_before_the_run_folder_is_touched(tmp_path, monkeypatch):
    """``train --out RUN --overwrite`` onto a finished run, with a step above the first phase's
    bound: exit 2, one line naming the bound and the fix, and the old run's files byte for byte
    as they were (``--overwrite`` empties the folder only after the check); a default folder is
    not even created."""
    from typer.testing import CliRunner

    from analog_ep.cli import app

    monkeypatch.chdir(tmp_path)
    run = tmp_path / "run"
    base = ["train", "--out", str(run)] + [a for kv in MLP + ["train.epochs=1"] for a in ("--set", kv)]
    assert CliRunner().invoke(app, base).exit_code == 0
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    bad = [a for kv in STRONG + [f"analog.settle_dt_s={DT}"] for a in ("--set", kv)]
    res = CliRunner().invoke(app, base + ["--overwrite"] + bad)
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.strip().splitlines() if ln]
    assert len(lines) == 1 and lines[0].startswith("error: analog.settle_dt_s: 9e-08 s is at or above"), res.output
    assert "stability bound dt < tau ln((rho + 1) / (rho - 1)) = 7.6" in lines[0] and "lower it or set null" in lines[0]
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before
    res = CliRunner().invoke(app, [a for a in base if a not in ("--out", str(run))] + bad)
    assert res.exit_code == 2 and not (tmp_path / "runs").exists()


@pytest.mark.parametrize("reads", [["analog.w_noise_std=0.02"], ["analog.device=memristor", NEURON_100NS]], ids=["ideal", "memristor"])
def test_the_first_phase_check_leaves_the_run_as_it_was(tmp_path, reads):
    """The check runs the first phase's decision on the trainer and puts its state back: a run
    through ``run_training`` (with the check) ends with the same weights as the same run through
    ``fit`` alone (ideal tiles with read noise; the memristor card with its periphery)."""
    from analog_ep.train import fit, make_trainer
    from analog_ep.train.session import run_training

    over = MLP + ["train.epochs=1", f"analog.settle_dt_s={DT}"] + reads
    run_training(None, over, out=tmp_path / "a", progress=False)
    a = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=False)["model"]
    t = make_trainer(load_config(None, over), tmp_path / "b")
    fit(t, progress=False)
    b = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=False)["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a if isinstance(a[k], torch.Tensor))


def _leaves(root, skip_ids) -> dict:
    """A plain hash of a trainer's whole state: ``path -> digest`` of every leaf reachable through
    attributes and containers (tensors by their bytes, generators by their state, numbers and
    strings by repr; functions, modules and classes left out)."""
    import enum
    import hashlib
    import types
    import weakref
    from pathlib import PurePath

    import numpy as np

    out, seen = {}, set(skip_ids)

    def walk(o, path):
        if isinstance(o, (int, float, str, bytes, bool, type(None), complex, enum.Enum, PurePath, torch.device,
                          torch.dtype)):
            out[path] = repr(o)
        elif isinstance(o, torch.Tensor):
            t = o.detach().cpu().contiguous()
            out[path] = f"{t.dtype}{tuple(t.shape)}" + hashlib.sha1(t.view(-1).view(torch.uint8).numpy().tobytes()).hexdigest()
        elif isinstance(o, torch.Generator):
            out[path] = hashlib.sha1(o.get_state().numpy().tobytes()).hexdigest()
        elif isinstance(o, np.ndarray):
            out[path] = hashlib.sha1(o.tobytes()).hexdigest()
        elif isinstance(o, (types.FunctionType, types.BuiltinFunctionType, types.MethodType, types.ModuleType, type,
                            weakref.ref)) or id(o) in seen:
            return
        else:
            seen.add(id(o))
            if isinstance(o, dict):
                out[path + "#keys"] = repr([repr(k) for k in o])
                for k, v in list(o.items()):
                    walk(v, f"{path}[{k!r}]")
            elif isinstance(o, (list, tuple)):
                out[path + "#len"] = len(o)
                for i, v in enumerate(o):
                    walk(v, f"{path}[{i}]")
            elif isinstance(o, (set, frozenset)):
                out[path] = repr(sorted(map(repr, o)))
            elif hasattr(o, "__dict__"):
                out[path + "#attrs"] = repr(sorted(vars(o)))
                for k, v in list(vars(o).items()):
                    walk(v, f"{path}.{k}")

    walk(root, "t")
    return out


def _copy_probe(t):
    """The reference decision: the session-10 check, the first phase's step decided on a deep copy
    of the trainer (its data shared) that stops there; the refusal's line, or None."""
    import contextlib
    import copy

    probe = copy.deepcopy(t, {id(t.train_set): t.train_set, id(t.test_set): t.test_set})
    probe.on_batch = lambda epoch, i: (_ for _ in ()).throw(ST.FirstPhaseProbe)
    with ST.first_phase_probe(), contextlib.suppress(ST.FirstPhaseProbe):
        try:
            probe.run_epoch(progress=False)
        except ConfigError as e:
            return str(e)
    return None


VGG = ["model.name=dchn_vgg5", "model.channels=[3,4,4,5]", "data.name=synthetic", "data.shape=[1,16,16]",
       "data.num_classes=3", "analog.relaxation=settle", "data.batch_size=8", "data.train_size=16",
       "data.test_size=8", "solver.free_iters=4", "solver.nudge_iters=2"]


@pytest.mark.parametrize("over, refused", [
    (MLP + [f"analog.settle_dt_s={DT}", "analog.w_noise_std=0.02"], False),
    (MLP + STRONG + [f"analog.settle_dt_s={DT}"], True),
    (MLP + ["analog.device=memristor", NEURON_100NS, f"analog.settle_dt_s={DT}"], False),
    (MLP + STRONG + ["analog.device=memristor", NEURON_100NS, f"analog.settle_dt_s={DT}", "analog.noise_policy=per_batch"], True),
    (MLP + ["analog.device=memristor", NEURON_100NS, f"analog.settle_dt_s={DT}", "analog.pulse_scheme=bitstream",
             "train.momentum=0", "train.weight_decay=0"], False),
    (MLP + STRONG + ["analog.device=memristor", NEURON_100NS, f"analog.settle_dt_s={DT}", "analog.noise_policy=per_phase"], True),
    (MLP + ["model.name=pcn_mlp", "analog.device=memristor", NEURON_100NS, f"analog.settle_dt_s={DT}"], True),
    (MLP + ["model.name=pcn_mlp", "analog.device=memristor", NEURON_100NS, "analog.settle_dt_s=1e-8"], False),
    (VGG + ["analog.device=memristor", NEURON_100NS, "analog.settle_dt_s=5e-8"], False),
], ids=["ideal", "ideal-strong", "memristor", "memristor-strong-per-batch",
    "memristor-bitstream", "memristor-strong-per-phase", "pcn-strong", "pcn", "dchn_vgg5"])
def test_the_first_phase_check_decides_as_on_a_copy_and_leaves_the_trainer_bit_identical(monkeypatch, over,
                                                                                          refused):
    """Review of session 10: the check probes the trainer itself (no deep copy: twice the
    model's memory at a run's start on a GPU). The same decision as the copy's probe (the same
    refusal line, or none), and the trainer bit-identical after it: every leaf of its state
    (weights, conductances, counters, caches, streams, optimizer, rule) hashed before and after,
    torch's global generator, and the settle's step log of the model (a run's first phase still
    refuses). No copy is taken."""
    import copy

    from analog_ep.train import make_trainer

    t = make_trainer(load_config(None, over + ["train.epochs=1"]), None)
    skip = {id(t.train_set), id(t.test_set)}
    before, rng = _leaves(t, skip), torch.get_rng_state()
    reference = _copy_probe(t)
    assert (reference is not None) == refused and ST._STEP_LOG.get(t.model) is None
    assert _leaves(t, skip) == before  # (the copy's probe left it alone too)

    real = copy.deepcopy

    def no_copy(x, *a, **k):  # other deep copies (a counter's host lists) stay allowed
        if isinstance(x, (type(t), torch.nn.Module)):
            raise AssertionError("the first-phase check copied the trainer or its model")
        return real(x, *a, **k)

    monkeypatch.setattr(copy, "deepcopy", no_copy)
    got = None
    try:
        first_phase_check(t)
    except ConfigError as e:
        got = str(e)
    assert got == reference
    after = _leaves(t, skip)
    assert [k for k in before.keys() | after.keys() if before.get(k) != after.get(k)] == []
    assert torch.equal(torch.get_rng_state(), rng) and ST._STEP_LOG.get(t.model) is None


def test_a_probe_that_writes_a_shared_weight_is_a_defect_not_kept():
    """The probe's guard: the state it restores by value comes back (a counter bumped, a cache
    built, a stream drawn), and a large tensor it shares read-only (a weight) written in place
    is named in a RuntimeError instead of being silently kept."""
    from analog_ep.train import make_trainer
    from analog_ep.train.probe import SAVED_NUMEL, preserved

    t = make_trainer(load_config(None, MLP + ["analog.device=memristor", "train.epochs=1"]), None)
    skip = {id(t.train_set), id(t.test_set)}
    before = _leaves(t, skip)
    storage = t.model.synapses[0].storage
    assert storage.w_dev.numel() > SAVED_NUMEL >= storage.reads.numel()
    with preserved(t):
        storage.reads += 5
        storage.cache_for_the_test = torch.ones(3)
        torch.randn(3, generator=t.est_gen)
        t.history.append({"epoch": 1})
    assert _leaves(t, skip) == before
    # a numba kernel's write through a .numpy() view moves no version counter: restored all the same;
    # a numpy array the trainer holds is copied whole and restored
    import numpy as np

    storage.host_array_for_the_test = np.arange(400.0)
    before = _leaves(t, skip)
    with preserved(t):
        v = storage.reads._version
        storage.reads.numpy()[...] += 7
        assert storage.reads._version == v
        storage.host_array_for_the_test[:] = -1.0
    assert _leaves(t, skip) == before
    del storage.host_array_for_the_test
    with pytest.raises(RuntimeError, match=r"wrote trainer\.model\..*\['w_dev'\] in place"):
        with preserved(t):
            storage.w_dev.mul_(2.0)


def test_refused_only_at_a_models_first_phase():
    """The solver itself: the model's first settle phase refuses; a later one clamps to half the
    bound (the default's choice at that rho) and is counted once."""
    from conftest import tiny_mlp

    m, x, y = tiny_mlp(gain=4.0)
    with pytest.raises(ConfigError, match="stability bound"):
        ST.relax_settle(m, m.const_drive(x), m.zero_state(5, x), iters=2, tol=0.0, tau_s=TAU, dt_s=TAU)
    _, ref = ST.relax_settle(m, m.const_drive(x), m.zero_state(5, x), iters=2, tol=0.0, tau_s=TAU)
    _, st = ST.relax_settle(m, m.const_drive(x), m.zero_state(5, x), iters=2, tol=0.0, tau_s=TAU, dt_s=TAU)
    assert st.dt_s == ref.dt_s < TAU / 4
    notes, line = ST.take_step_notes(m)
    assert notes == {"settle_dt_clamped_phases": 1} and "at settle phase 2" in line  # the refused one never ran
    assert ST.take_step_notes(m) == ({"settle_dt_clamped_phases": 0}, None)  # counted and warned once


# ----------------------------------------------------------------------------- the bound is tight
@pytest.mark.parametrize("rho", [1.5, 3.0])
def test_the_linearised_integrator_grows_just_above_the_bound_and_decays_just_below(rho):
    """The exponential Euler step on a linear circuit ``u = K v`` (``K`` symmetric, spectrum
    ``[-rho, 0.9]``, seeded): the solver takes a step 2 % below ``tau ln((rho + 1) / (rho - 1))``
    and refuses one 2 % above; there the state grows by orders of magnitude over 3000 steps,
    below it decays. A bound wrong by a constant factor (even 3 %) fails one side; the ``1 - a
    (1 - mu)`` multiplier at ``mu = -rho`` is the one that crosses -1."""
    g = torch.Generator().manual_seed(7)
    n = 12
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
    mu = torch.linspace(-rho, 0.9, n, dtype=torch.float64)  # rho(K) = rho, from the negative end
    K = q @ torch.diag(mu) @ q.T
    bound = TAU * math.log((rho + 1) / (rho - 1))
    assert ST.exponential_euler_step(TAU, 0.98 * bound, rho) == 0.98 * bound  # the solver takes the step below
    with pytest.raises(ConfigError, match="stability bound"):  # and refuses the one above
        ST.exponential_euler_step(TAU, 1.02 * bound, rho)

    def grow(dt):
        a = -math.expm1(-dt / TAU)
        v = torch.randn(n, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
        v0 = v.norm()
        for _ in range(3000):
            v = v + a * (K @ v - v)  # v <- u + (v - u) e^{-dt / tau}, u = K v
        return (v.norm() / v0).item()

    assert grow(1.02 * bound) > 1e3
    assert grow(0.98 * bound) < 1e-3


def test_ranks_refuse_together(tmp_path, monkeypatch):
    """Under torchrun each rank probes its own shard's first phase; a rank whose own step is
    stable still refuses when another rank's was not (the ranks' verdicts and-ed: here the
    collective answers as if another rank had refused), so no rank trains on alone."""
    from analog_ep.train import make_trainer

    t = make_trainer(load_config(None, MLP + ["train.epochs=1", f"analog.settle_dt_s={DT}"]), tmp_path / "r")
    first_phase_check(t)  # this rank alone: stable, accepted
    monkeypatch.setattr(t.dist, "all_true", lambda flag: torch.zeros((), dtype=torch.bool))
    with pytest.raises(ConfigError, match="another rank's first settle phase"):
        first_phase_check(t)


# ------------------------------------------------------------------------------------ studies
def test_a_sweep_point_above_its_first_phase_bound_is_refused_before_its_folder_is_written(tmp_path):
    """Review of session 10: a study runs ``train``'s first-phase check. A two-point sweep (the
    default gains: stable at the given step; gains 3: above the first phase's bound): the strong
    point is recorded failed with the refusal's one line (the bound and the fix) and its folder is
    never created; the other point finishes. The runner's other caller (``compare``'s
    ``create=True``) leaves an existing folder's files byte for byte as they were."""
    import yaml

    from analog_ep.study.runner import run_folder
    from analog_ep.study.sweep import read_table, run_sweep

    spec = tmp_path / "s.yaml"
    base = dict(kv.split("=", 1) for kv in MLP + ["train.epochs=1", f"analog.settle_dt_s={DT}"])
    spec.write_text(yaml.safe_dump({"base": {"set": {k: yaml.safe_load(v) for k, v in base.items()}},
                                    "grid": {"model.gains": [[1, 1], [3, 3]]}}, sort_keys=False))
    summary = run_sweep(spec, out=tmp_path / "out", workers=1)
    assert summary["failed"] == 1 and summary["ran"] == 2
    good, bad = read_table(tmp_path / "out" / "sweep.csv")
    assert good["status"] == "finished"
    assert bad["status"] == "failed" and "\n" not in bad["error"]
    assert bad["error"].startswith("analog.settle_dt_s: 9e-08 s is at or above"), bad["error"]
    assert "stability bound dt < tau ln((rho + 1) / (rho - 1)) = 7.6" in bad["error"] and "lower it or set null" in bad["error"]
    assert not (tmp_path / "out" / bad["folder"].rsplit("/", 1)[-1]).exists()

    folder = tmp_path / "old"  # a folder holding another run's files: compare's call
    folder.mkdir()
    (folder / "results.h5").write_bytes(b"old results")
    res = run_folder(folder, load_config(None, MLP + STRONG + ["train.epochs=1", f"analog.settle_dt_s={DT}"]),
                     create=True)
    assert res["status"] == "failed" and "stability bound" in res["error"]
    assert [p.name for p in folder.iterdir()] == ["results.h5"] and (folder / "results.h5").read_bytes() == b"old results"
    res = run_folder(tmp_path / "new", load_config(None, MLP + STRONG + ["train.epochs=1", f"analog.settle_dt_s={DT}"]),
                     create=True)
    assert res["status"] == "failed" and not (tmp_path / "new").exists()
