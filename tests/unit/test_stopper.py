"""The Stopper's per-sample bookkeeping (in place since session 7) against a plain per-sample loop
of its documented rule: ``now = residual < tol`` (or the relative test); with the noise floor,
``progress = residual < best (1 - drop)``, ``best = min(best, residual)``, ``stall = 0 if
progress else stall + 1``, ``on_floor |= stall >= patience``, ``now |= on_floor``; ``steps`` the
first sweep at which ``now`` held; the phase stops (host flag) every ``check_every`` sweeps when
every sample's ``now`` holds. With a floor threshold (``solver.noise_z``) also ``on_floor |=
residual <= threshold``."""

import random

import pytest
import torch

from analog_ep.solvers.base import Stopper


def _reference(seq, rel, iters, tol, check_every, floor, patience, drop, rtol, thr=None):
    """Plain loops over samples and sweeps; returns (stopped at, steps, done, on_floor, best, stall)."""
    b = len(seq[0])
    steps, done = [iters] * b, [False] * b
    best, stall, on_floor = [float("inf")] * b, [0] * b, [False] * b
    n = 0
    for n in range(1, len(seq) + 1):
        r = seq[n - 1]
        now = [rel[n - 1][i] if rtol > 0 else r[i] < tol for i in range(b)]
        if floor:
            for i in range(b):
                progress = r[i] < torch.tensor(best[i]).mul(1.0 - drop).item()
                best[i] = min(best[i], r[i])
                stall[i] = 0 if progress else stall[i] + 1
                on_floor[i] = on_floor[i] or stall[i] >= patience
                if thr is not None:
                    on_floor[i] = on_floor[i] or r[i] <= thr[n - 1][i]
                now[i] = now[i] or on_floor[i]
        for i in range(b):
            if now[i] and not done[i]:
                steps[i] = n
            done[i] = done[i] or now[i]
        if (tol > 0 or floor or rtol > 0) and n % check_every == 0 and n < iters and all(now):
            break
    return n, steps, done, on_floor, best, stall


@pytest.mark.parametrize("case", range(16))
def test_stopper_equals_plain_loop(case):
    rnd = random.Random(case)
    b, iters = rnd.choice([1, 3, 7]), 40
    floor = case % 2 == 0
    rtol = 0.1 if case % 3 == 0 else 0.0
    tol = rnd.choice([0.0, 1e-3, 0.05])
    check_every, patience, drop = rnd.choice([1, 3]), rnd.choice([2, 5]), rnd.choice([0.05, 0.2])
    # residuals: a geometric fall onto a noisy floor, per sample (float32, as the states)
    seq, rel = [], []
    for n in range(iters):
        row = [max(0.9 ** n * rnd.uniform(0.5, 1.5), rnd.uniform(0.01, 0.03) * (s + 1)) for s in range(b)]
        seq.append(torch.tensor(row, dtype=torch.float32).tolist())
        rel.append([rnd.random() < 0.1 * n / iters for _ in range(b)])
    # a floor threshold (solver.noise_z) in half the cases: about the floor's level, some rows exactly on it
    thr = None
    if case % 4 < 2:
        thr = [torch.tensor([rnd.uniform(0.01, 0.03) * (s + 1) for s in range(b)], dtype=torch.float32).tolist()
               for _ in range(iters)]
        thr[iters // 2] = list(seq[iters // 2])
    st = Stopper(torch.zeros(b, 5), iters, tol, check_every, "noise_floor" if floor else "tol", noisy=True,
                 patience=patience, drop=drop, rtol=rtol)
    n = 0
    for n in range(1, iters + 1):
        r = torch.tensor(seq[n - 1], dtype=torch.float32)
        t = None if thr is None else torch.tensor(thr[n - 1], dtype=torch.float32)
        if st.update(n, r, torch.tensor(rel[n - 1]) if rtol > 0 else None, t):
            break
    m, steps, done, on_floor, best, stall = _reference(seq, rel, iters, tol, check_every, floor, patience, drop, rtol,
                                                       thr)
    assert n == m
    assert st.steps.tolist() == steps and st.done.tolist() == done
    if floor:
        assert st.on_floor.tolist() == on_floor and st.stall.tolist() == stall
        assert st.best.tolist() == best
    stats = st.stats(n)
    assert stats.sweeps == n and stats.steps.tolist() == steps
    if rtol > 0:   # the relative test's flags stay the caller's (the floor is not or-ed into them)
        assert stats.converged.tolist() == rel[n - 1]


def test_stopper_makes_no_tensor_per_sweep_beyond_the_flag():
    """The state tensors are updated in place: the same objects after every sweep."""
    st = Stopper(torch.zeros(4, 3), 30, 1e-4, 1, "noise_floor", noisy=True)
    ids = [id(t) for t in (st.steps, st.done, st.best, st.stall, st.on_floor)]
    for n in range(1, 10):
        st.update(n, torch.rand(4))
    assert [id(t) for t in (st.steps, st.done, st.best, st.stall, st.on_floor)] == ids


@pytest.mark.parametrize("relaxation,patience,want", [("iterative", None, 3), ("settle", None, 5),
                                                      ("iterative", 5, 5), ("settle", 2, 2)])
def test_noise_patience_null_is_the_relaxations_default(relaxation, patience, want):
    """``solver.noise_patience: null`` binds the relaxation's own default (3 sweeps iterative,
    5 time constants settle: the registry entries' ``noise_patience``); an explicit value binds
    itself."""
    from analog_ep.config import load_config
    from analog_ep.config.relaxations import RELAXATIONS
    from analog_ep.solvers.base import build_solver

    keys = ["data.name=digits", "analog.device=memristor", f"analog.relaxation={relaxation}"]
    if patience is not None:
        keys.append(f"solver.noise_patience={patience}")
    from analog_ep.train.build import resolve_device

    cfg = load_config(None, keys)
    assert cfg.solver.noise_patience == patience
    solver = build_solver(cfg, "hopfield", 1, resolve_device(cfg)[1])
    assert solver.keywords["noise_patience"] == want
    assert {n: r.noise_patience for n, r in RELAXATIONS.items()} == {"iterative": 3, "settle": 5}


@pytest.mark.parametrize("relaxation,z,want", [("iterative", None, 3.0), ("iterative", 0, 0.0), ("iterative", 1.5, 1.5),
                                               ("settle", None, None)])
def test_noise_z_null_is_the_relaxations_default(relaxation, z, want):
    """``solver.noise_z: null`` binds the iterative relaxation's default (3: its registry entry's
    ``noise_z``); an explicit value binds itself; the settle relaxation takes none."""
    from analog_ep.config import load_config
    from analog_ep.config.relaxations import RELAXATIONS
    from analog_ep.solvers.base import build_solver

    keys = ["data.name=digits", "analog.device=memristor", f"analog.relaxation={relaxation}"]
    if z is not None:
        keys.append(f"solver.noise_z={z}")
    from analog_ep.train.build import resolve_device

    cfg = load_config(None, keys)
    solver = build_solver(cfg, "hopfield", 1, resolve_device(cfg)[1])
    assert solver.keywords.get("noise_z") == want
    assert RELAXATIONS["iterative"].noise_z == 3.0 and RELAXATIONS["settle"].noise_z is None


@pytest.mark.parametrize("keys,msg", [(["solver.noise_z=-1"], ">= 0"),
                                      (["solver.noise_z=2", "analog.relaxation=settle"], "iterative only"),
                                      (["solver.noise_z=2", "solver.stop=tol"], "Hopfield-type relaxations"),
                                      (["solver.noise_z=2", "model.name=pcn_mlp"], "Hopfield-type relaxations")])
def test_noise_z_bad_input(keys, msg):
    from analog_ep.config import load_config
    from analog_ep.errors import ConfigError

    with pytest.raises(ConfigError, match=msg) as e:
        load_config(None, ["data.name=digits", "analog.device=memristor", *keys])
    assert "solver.noise_z" in str(e.value)


@pytest.mark.parametrize("band,want", [(None, "max"), ("flat", "flat"), ("max", "max")])
def test_noise_band_null_is_the_default(band, want):
    """``solver.noise_band: null`` binds ``NOISE_BAND`` (``max``); an explicit value binds
    itself; both beside ``noise_z`` only (the settle relaxation takes neither)."""
    from analog_ep.config import load_config
    from analog_ep.solvers.base import NOISE_BAND, NOISE_BANDS, build_solver

    keys = ["data.name=digits", "analog.device=memristor"] + ([f"solver.noise_band={band}"] if band else [])
    assert build_solver(load_config(None, keys), "hopfield", 1).keywords["noise_band"] == want
    assert NOISE_BAND == "max" and set(NOISE_BANDS) == {"flat", "max"}
    from analog_ep.train.build import resolve_device

    cfg = load_config(None, ["data.name=digits", "analog.device=memristor", "analog.relaxation=settle"])
    settle = build_solver(cfg, "hopfield", 1, resolve_device(cfg)[1])
    assert "noise_band" not in settle.keywords


@pytest.mark.parametrize("keys,msg", [(["solver.noise_band=wide"], "flat"),
                                      (["solver.noise_band=max", "analog.relaxation=settle"], "remove it"),
                                      (["solver.noise_band=max", "solver.stop=tol"], "remove it"),
                                      (["solver.noise_band=max", "model.name=pcn_mlp"], "remove it")])
def test_noise_band_bad_input(keys, msg):
    from analog_ep.config import load_config
    from analog_ep.errors import ConfigError

    with pytest.raises(ConfigError, match=msg) as e:
        load_config(None, ["data.name=digits", "analog.device=memristor", *keys])
    assert "solver.noise_band" in str(e.value)


def test_a_run_stored_before_noise_band_resumes_flat():
    """A stored config without ``solver.noise_band`` ran with ``noise_z``'s one band for every
    node: it resumes with ``flat``, under any stop rule and relaxation (``flat`` is accepted
    wherever the threshold is inert)."""
    import dataclasses

    from analog_ep.config import load_config

    for keys in ([], ["solver.stop=tol"], ["analog.relaxation=settle"]):
        stored = dataclasses.asdict(load_config(None, ["data.name=digits", "analog.device=memristor", *keys]))
        del stored["solver"]["noise_band"]
        assert load_config(None, None, base=stored).solver.noise_band == "flat"


@pytest.mark.parametrize("kernels", ["torch", "numba"])
def test_a_noise_floor_phase_reads_the_host_only_every_check_every_sweeps(monkeypatch, kernels):
    """Issue 20 (3), no host sync per sweep: a noisy phase (memristor card) under the noise-floor
    stop reads one host flag per ``check_every`` sweeps and nothing else (``bool``, ``item``,
    ``tolist`` on tensors counted during the solve), on the generic and the fused sweep; it stops
    on a multiple of ``check_every``, before its budget. With ``check_every`` 1 the same count is
    one per sweep (the counter sees the flag reads)."""
    if kernels == "numba":
        pytest.importorskip("numba")
    from analog_ep.config import load_config
    from analog_ep.solvers import hopfield as H
    from analog_ep.train.loop import make_trainer

    cfg = load_config(None, ["data.name=digits", "data.batch_size=8", "data.train_size=32", "data.test_size=8",
                             "model.hidden=[24]", "analog.device=memristor", "compute.accelerator=cpu", "seed=0",
                             f"compute.kernels={kernels}"])
    tr = make_trainer(cfg, None)
    x, y = next(iter(tr.batches(tr.train_set, None)))
    target = torch.nn.functional.one_hot(y, tr.model.out_features).to(x.dtype)
    reads = []
    for name in ("__bool__", "item", "tolist"):
        real = getattr(torch.Tensor, name)
        monkeypatch.setattr(torch.Tensor, name,
                            lambda self, *a, _real=real, _name=name: reads.append(_name) or _real(self, *a))
    got = {}
    for k in (1, 4):
        torch.manual_seed(0)
        tr.model.begin_batch()
        tr.model.begin_phase("free")
        const = tr.model.const_drive(x)
        z = tr.model.zero_state(x.shape[0], x)
        reads.clear()
        _, st = H.relax_async(tr.model, const, z, target=target, iters=60, tol=1e-5, check_every=k,
                              stop="noise_floor", noise_patience=3, noise_drop=0.05, noise_z=3.0)
        got[k] = (st.sweeps, list(reads))
        assert st.sweeps < 60 and st.sweeps % k == 0, (k, st.sweeps)
        assert reads == ["__bool__"] * (st.sweeps // k), (k, st.sweeps, reads)
    assert len(got[1][1]) == got[1][0] >= 2
