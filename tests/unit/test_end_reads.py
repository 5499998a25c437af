"""``solver.end_reads`` (issue 20, session 12): a phase's end averaged over its last K sweeps
(:func:`analog_ep.solvers.base.average_end`).

References: a deliberately plain loop (the phase relaxed by the solver at K = 1, then K - 1 more
one-sweep calls of the same solver, the K states summed and divided by hand); the fused sweep
against the generic one (bit for bit, as ``test_fused_sweep``); closed forms for the counts and
the price (a phase of N sweeps at K costs what N + K - 1 sweeps at K = 1 cost); and theory for
the spread (independent read noise on a converged phase: the end's spread falls by ~sqrt(K))."""

import copy
import subprocess
import sys

import pytest
import torch

from analog_ep.analog.cards import load_device
from analog_ep.config import load_config
from analog_ep.config.schema import ChipConfig
from analog_ep.errors import ConfigError
from analog_ep.hardware import price
from analog_ep.solvers import build_solver
from analog_ep.solvers import hopfield as H
from analog_ep.train.loop import make_trainer


def _trainer(*extra, hidden=24, batch=8, seed=0):
    cfg = load_config(None, ["data.name=digits", f"data.batch_size={batch}", "data.train_size=32",
                             "data.test_size=8", f"model.hidden=[{hidden}]", "analog.device=memristor",
                             "compute.accelerator=cpu", f"seed={seed}", *extra])
    return make_trainer(cfg, None)


def _batch(tr):
    x, y = next(iter(tr.batches(tr.train_set, None)))
    return x, torch.nn.functional.one_hot(y, tr.model.out_features).to(x.dtype)


def _relax(model, x, y, beta=0.0, iters=12, start=None, phase="free", **kw):
    """One phase (``begin_phase``), from zeros or ``start``."""
    model.begin_phase(phase)
    const = model.const_drive(x)
    s0 = model.zero_state(x.shape[0], x) if start is None else start
    return H.relax_async(model, const, s0, beta=beta, target=y, iters=iters, **kw)


def _by_hand(model, x, y, k, beta=0.0, iters=12, start=None):
    """The plain reference: the phase at K = 1 (whole budget), then k - 1 one-sweep calls of the
    same solver, each from the previous one's states, summed in that order and divided by k; the
    mean and the last sweep's states."""
    model.begin_phase("free" if not beta else "nudge+")
    const = model.const_drive(x)
    s0 = model.zero_state(x.shape[0], x) if start is None else start
    s, _ = H.relax_async(model, const, s0, beta=beta, target=y, iters=iters, tol=0.0, stop="tol")
    total = [t.clone() for t in s]
    for _ in range(k - 1):
        s, _ = H.relax_async(model, const, s, beta=beta, target=y, iters=1, tol=0.0, stop="tol")
        total = [t + u for t, u in zip(total, s)]
    return [t / k for t in total], s


def _kernels():
    try:
        import numba  # noqa: F401
        return ["torch", "numba"]
    except ImportError:
        return ["torch"]


@pytest.mark.parametrize("kernels", _kernels())
@pytest.mark.parametrize("beta", [0.0, 0.5])
def test_averaged_end_equals_the_plain_loop(kernels, beta):
    """Noisy reads (the card's output noise, 7/9-bit converters): the solver's K = 4 end equals the
    hand loop's mean of the same four sweeps (the same read-noise draws: the storages' counters
    go on across calls), on the generic sweep and on the fused one."""
    tr = _trainer(f"compute.kernels={kernels}")
    x, y = _batch(tr)
    ref = copy.deepcopy(tr.model)
    tr.model.begin_batch()
    ref.begin_batch()
    start = start_ref = None
    if beta:
        start, _ = _relax(tr.model, x, y, tol=0.0, stop="tol")
        start_ref, _ = _relax(ref, x, y, tol=0.0, stop="tol")
    got, st = _relax(tr.model, x, y, beta=beta, start=start, tol=0.0, stop="tol", end_reads=4,
                     phase="nudge+" if beta else "free")
    want, last = _by_hand(ref, x, y, 4, beta=beta, start=start_ref)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    assert st.sweeps == 12 + 3 and torch.equal(st.steps, torch.full_like(st.steps, 15))
    # averaging changed the state (noise): the same draws' last sweep alone is not the mean
    assert max(float((a - b).abs().max()) for a, b in zip(got, last)) > 1e-3


def test_fused_end_reads_equal_the_generic_sweep(monkeypatch):
    """The fused sweep runs the extra sweeps in its kernels: the same bits as the generic sweep
    (states, steps, sweeps, trace), with the noise-floor stop ending the phase early."""
    pytest.importorskip("numba")
    from analog_ep.analog.kernels import numba_sweep as NS
    tr = _trainer("compute.kernels=numba")
    x, y = _batch(tr)
    ref = copy.deepcopy(tr.model)
    built = []
    real = NS.FusedSweep
    monkeypatch.setattr(NS, "FusedSweep", lambda *a, **k: built.append(1) or real(*a, **k))
    kw = dict(tol=1e-5, stop="noise_floor", noise_patience=3, noise_drop=0.05, end_reads=5)
    tr.model.begin_batch()
    got, st1 = _relax(tr.model, x, y, iters=60, **kw)
    assert built == [1]
    monkeypatch.setattr(H, "FUSED", False)
    ref.begin_batch()
    want, st2 = _relax(ref, x, y, iters=60, **kw)
    assert built == [1]
    assert all(torch.equal(a, b) for a, b in zip(got, want))
    assert st1.sweeps == st2.sweeps < 60 + 4
    assert torch.equal(st1.steps, st2.steps) and torch.equal(st1.trace, st2.trace)
    assert tr.model.event_counts() == ref.event_counts()


@pytest.mark.parametrize("kernels", _kernels())
def test_k1_is_the_solver_of_today(kernels):
    """K = 1 binds nothing (the solver the config builds is today's) and ``end_reads=1`` runs no
    extra sweep: the same bits, stats and counts as a call without the keyword."""
    cfg = load_config(None, ["data.name=digits", "analog.device=memristor", f"compute.kernels={kernels}"])
    assert "end_reads" not in build_solver(cfg, "hopfield", 1).keywords
    cfg4 = load_config(None, ["data.name=digits", "analog.device=memristor", "solver.end_reads=4"])
    assert build_solver(cfg4, "hopfield", 1).keywords["end_reads"] == 4
    tr = _trainer(f"compute.kernels={kernels}")
    x, y = _batch(tr)
    ref = copy.deepcopy(tr.model)
    tr.model.begin_batch()
    ref.begin_batch()
    a, sa = _relax(tr.model, x, y, tol=1e-5, stop="noise_floor", end_reads=1)
    b, sb = _relax(ref, x, y, tol=1e-5, stop="noise_floor")
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    assert sa.sweeps == sb.sweeps and torch.equal(sa.steps, sb.steps)
    assert tr.model.event_counts() == ref.event_counts()


def test_noise_off_converged_phase_keeps_its_state(monkeypatch):
    """Exact reads, a phase run to convergence, averaging forced on (the gate
    :func:`H._end_reads` patched): the mean of K = 8 further sweeps is the K = 1 state to float
    tolerance (the fixed point does not move)."""
    cfg = ["data.name=digits", "data.batch_size=8", "data.train_size=32", "data.test_size=8", "model.hidden=[24]",
           "compute.accelerator=cpu"]
    tr = make_trainer(load_config(None, cfg), None)
    x, y = _batch(tr)
    monkeypatch.setattr(H, "end_reads_of", lambda model, k: k)
    for beta in (0.0, 0.5):
        a, st1 = _relax(tr.model, x, y, beta=beta, iters=400, tol=1e-7, stop="tol")
        b, st8 = _relax(tr.model, x, y, beta=beta, iters=400, tol=1e-7, stop="tol", end_reads=8)
        assert bool(st1.converged.all()) and st8.sweeps == st1.sweeps + 7
        for u, v in zip(a, b):
            torch.testing.assert_close(u, v, rtol=0, atol=1e-6)


@pytest.mark.parametrize("solver", ["async", "sync"])
def test_exact_reads_end_on_their_last_sweep(solver):
    """A digital model (exact reads) ignores ``end_reads``: the same states bit for bit and the
    same sweeps as K = 1, on an unconverged phase (where averaging would change the state); the
    same model on the memristor card does average (its sweeps grow by K - 1)."""
    cfg = ["data.name=digits", "data.batch_size=8", "data.train_size=32", "data.test_size=8", "model.hidden=[24]",
           "compute.accelerator=cpu"]
    tr = make_trainer(load_config(None, cfg), None)
    x, y = _batch(tr)
    relax = {"async": H.relax_async, "sync": H.relax_sync}[solver]
    outs = []
    for k in (1, 4):
        tr.model.begin_phase("free")
        const = tr.model.const_drive(x)
        outs.append(relax(tr.model, const, tr.model.zero_state(8, x), iters=3, tol=0.0, stop="tol", end_reads=k))
    (a, sa), (b, sb) = outs
    assert sa.sweeps == sb.sweeps == 3
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    an = _trainer()
    x, y = _batch(an)
    an.model.begin_batch()
    an.model.begin_phase("free")
    const = an.model.const_drive(x)
    _, sc = relax(an.model, const, an.model.zero_state(8, x), iters=3, tol=0.0, stop="tol", end_reads=4)
    assert sc.sweeps == 3 + 3


def _end_spread(k, reps=24):
    """Spread over ``reps`` independent read-noise streams (each a new phase of the storages:
    other draws) of a noisy free phase's end at K = ``k``, per node, with the clamped input's read
    (``const_drive``: read once per step and shared by its phases, so its noise is common to
    the free and nudged ends and cancels in EP's difference) held fixed."""
    tr = _trainer("analog.inp_bits=null", "analog.out_bits=null")   # read noise only (no converter)
    x, y = _batch(tr)
    m = tr.model
    m.begin_batch()
    m.begin_phase("free")
    const = m.const_drive(x)
    ends = []
    for _ in range(reps):
        m.begin_phase("free")
        s, _ = H.relax_async(m, const, m.zero_state(x.shape[0], x), iters=40, tol=0.0, stop="tol", end_reads=k)
        ends.append(s)
    return [torch.stack([e[i] for e in ends]).std(0).mean() for i in range(len(ends[0]))]


def test_read_noise_spread_falls_by_about_sqrt_k():
    """With the card's read noise on, the phase end's spread over repeated noise streams falls by
    about sqrt(K) against K = 1: 16 reads, 4x for independent sweeps; consecutive sweeps of this
    relaxation correlate weakly (lag-1 ~0.13: ~3.5x), so at least 2.5x and at most 6x, node by
    node. Skipping the average (1x) or dividing by the wrong count fails."""
    one, sixteen = _end_spread(1), _end_spread(16)
    for a, b in zip(one, sixteen):
        assert 2.5 < float(a / b) < 6.0, (float(a), float(b))


def _phase_price(k, iters):
    tr = _trainer(f"solver.end_reads={k}")
    x, y = _batch(tr)
    tr.model.begin_batch()
    _, st = _relax(tr.model, x, y, iters=iters, tol=0.0, stop="tol", end_reads=k)
    rec = tr.model.event_counts()
    return st, rec, price(rec, ChipConfig(), load_device("memristor"))


def test_extra_sweeps_are_counted_and_priced_closed_form():
    """A phase of N sweeps with K = 8 runs, counts and costs exactly what a K = 1 phase of N + 7
    sweeps does (its K - 1 extra sweeps are full sweeps of reads), and the free phase's energy is
    linear in the sweeps: E(N, K) = E(N, 1) + (K - 1) (E(N + 1, 1) - E(N, 1))."""
    st8, rec8, p8 = _phase_price(8, 10)
    st1, rec1, p1 = _phase_price(1, 17)
    assert st8.sweeps == 17 and rec8["phases"]["free"]["sweeps"] == 17
    assert rec8 == rec1
    e = {n: sum(v for v in _phase_price(1, n)[2].energy_j["free"].values() if v is not None) for n in (10, 11)}
    e8 = sum(v for v in p8.energy_j["free"].values() if v is not None)
    assert e8 == pytest.approx(e[10] + 7 * (e[11] - e[10]), rel=1e-9)
    assert p8.latency_s["free"] == pytest.approx(p1.latency_s["free"], rel=1e-12)


@pytest.mark.parametrize("value,needle", [
    ("0", "solver.end_reads"), ("2.5", "solver.end_reads"), ("true", "solver.end_reads")])
def test_bad_end_reads_is_one_line(value, needle):
    with pytest.raises(ConfigError, match=needle):
        load_config(None, ["data.name=digits", f"solver.end_reads={value}"])


@pytest.mark.parametrize("extra,why", [(["analog.relaxation=settle", "analog.device=memristor"], "a settle digitizes"),
                                       (["model.name=pcn_mlp"], "a PCN's nudged phases")])
def test_end_reads_refused_where_no_iterative_hopfield_phase_averages(extra, why):
    """The refusal names the key and the reason of its own case (a settle, a PCN)."""
    with pytest.raises(ConfigError, match="solver.end_reads") as err:
        load_config(None, ["data.name=digits", "solver.end_reads=4", *extra])
    assert why in str(err.value)


def test_cli_bad_end_reads_exits_2_with_one_line():
    r = subprocess.run([sys.executable, "-m", "analog_ep", "train", "--set", "data.name=digits",
                        "--set", "solver.end_reads=0", "--json"], capture_output=True, text=True)
    assert r.returncode == 2
    lines = [ln for ln in r.stderr.strip().splitlines() if ln]
    assert len(lines) == 1 and "solver.end_reads" in lines[0] and "Traceback" not in r.stderr


def test_bench_full_budget_counts_the_extra_sweeps():
    """``bench`` at tol 0: every phase runs its budget plus K - 1 sweeps, and the reported budget
    says so (5 + 2 x 2 + 3 x (3 - 1) = 15)."""
    from analog_ep.bench import bench
    cfg = load_config(None, ["model.hidden=[16]", "data.batch_size=8", "solver.free_iters=5",
                             "solver.nudge_iters=2", "solver.tol=0", "solver.end_reads=3",
                             "analog.device=memristor", "solver.stop=tol"])
    r = bench(cfg, repeats=1, warmup=0)
    assert r["ep_sweeps_per_step"] == 15 == r["ep_sweeps_budget"]
    digital = bench(load_config(None, ["model.hidden=[16]", "data.batch_size=8", "solver.free_iters=5",
                                       "solver.nudge_iters=2", "solver.tol=0", "solver.end_reads=3"]),
                    repeats=1, warmup=0)
    assert digital["ep_sweeps_per_step"] == 9 == digital["ep_sweeps_budget"]   # exact reads: no extra sweep


def test_compare_variants_with_end_reads_validate():
    """``compare`` on an analog base with ``end_reads`` builds every variant (the backprop twin
    ignores the key: it does not relax; the digital EP twin ends on its last sweep)."""
    from analog_ep.study.compare import build_variants
    _, runs = build_variants(None, ["data.name=digits", "model.hidden=[16]", "analog.device=memristor",
                                    "solver.end_reads=4"], 1)
    assert {r["variant"] for r in runs} == {"ep-digital", "ep-analog", "ep-mixed", "bp-digital", "bp-analog"}
    assert all(r["cfg"].solver.end_reads == 4 for r in runs)


def test_bench_sweep_timer_times_one_read():
    """``bench``'s ``sweep_s`` is one sweep: with a card and K = 3 the timed call runs one sweep
    (the phase end's extra reads are inside ``ep_step_s``), continuing from the previous output."""
    from analog_ep.algorithms.rules import build_rule
    tr = _trainer("solver.end_reads=3", "solver.tol=0", "solver.stop=tol")
    x, y = _batch(tr)
    rule = build_rule(tr.cfg, copy.deepcopy(tr.model), tr.device)
    assert rule.solver.keywords["end_reads"] == 3
    sweep, _ = rule.sweep_timer(x, y)
    for _ in range(2):
        st = sweep()
        assert st.sweeps == 1 and torch.equal(st.steps, torch.ones_like(st.steps))


@pytest.mark.parametrize("kernels", _kernels())
def test_unsettled_at_the_budget_stays_unsettled(kernels):
    """A phase that reaches its budget with no sample settled reports none settled, whatever the
    extra sweeps of K do: with ``noise_drop`` 0.99 every sweep after the first stalls, so patience
    4 is reached at sweep 5, inside the K = 6 extra sweeps but after the budget of 3; the stats
    are the K = 1 phase's (settled, steps + K - 1)."""
    tr = _trainer(f"compute.kernels={kernels}")
    x, y = _batch(tr)
    ref = copy.deepcopy(tr.model)
    kw = dict(iters=3, tol=1e-12, stop="noise_floor", noise_patience=4, noise_drop=0.99, noise_z=0.0)
    tr.model.begin_batch()
    ref.begin_batch()
    _, st = _relax(tr.model, x, y, end_reads=6, **kw)
    _, st1 = _relax(ref, x, y, **kw)
    assert st.settled is not None and not bool(st1.settled.any())
    assert torch.equal(st.settled, st1.settled)
    assert st.sweeps == 3 + 5 and torch.equal(st.steps, st1.steps + 5)
