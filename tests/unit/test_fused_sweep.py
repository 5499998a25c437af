"""The fused asynchronous sweep (:mod:`analog_ep.analog.kernels.numba_sweep`, issue 20 item 4).

Reference: the generic sweep of :func:`analog_ep.solvers.hopfield.relax_async` (``FUSED`` off: per
colour group ``model.drive`` through the storage's planned read, ``model.node_update``, and
:func:`~analog_ep.solvers.base.run_sweeps`'s residual), run on a deep copy of the same model from
the same storages' state. The fused sweep must give the same bits: states, stats (steps, residual,
converged, settled, sweeps, trace), read indices, read counters and event counts; and it must not
run (falls back to the generic sweep) wherever the model's sweep is not of its form.
"""

import copy

import pytest
import torch

pytest.importorskip("numba")

from analog_ep.analog import kernels as K
from analog_ep.analog.kernels import numba_reads as NR
from analog_ep.analog.kernels import numba_sweep as NS
from analog_ep.config import load_config
from analog_ep.solvers import hopfield as H
from analog_ep.train.loop import make_trainer
from conftest import kernels_mode


@pytest.fixture
def numba_mode():
    with kernels_mode("numba"):
        yield


def _trainer(*extra, hidden=24, batch=8):
    cfg = load_config(None, ["data.name=digits", f"data.batch_size={batch}", "data.train_size=32",
                             "data.test_size=8", f"model.hidden=[{hidden}]", "analog.device=memristor",
                             "compute.accelerator=cpu", "compute.kernels=numba", *extra])
    return make_trainer(cfg, None)


def _batch(tr):
    x, y = next(iter(tr.batches(tr.train_set, None)))
    return x, torch.nn.functional.one_hot(y, tr.model.out_features).to(x.dtype) if y.dim() == 1 else y


class _Spy:
    """Counts the fused sweeps built (wraps :class:`FusedSweep`)."""

    def __init__(self, monkeypatch):
        self.built = 0
        real = NS.FusedSweep

        def make(*a, **k):
            self.built += 1
            return real(*a, **k)
        monkeypatch.setattr(NS, "FusedSweep", make)


def _phases(model, x, y, phases, solver_kw):
    """Relax ``phases`` [(name, beta, iters)] in turn from the zero state (each nudged phase from the
    free phase's states, as EP does); the states and stats of each."""
    out = []
    model.begin_batch()
    const = None
    free = None
    for name, beta, iters in phases:
        model.begin_phase(name)
        if const is None:
            const = model.const_drive(x)
        start = model.zero_state(x.shape[0], x) if free is None else free
        s, st = H.relax_async(model, const, start, beta=beta, target=y, iters=iters, **solver_kw)
        if free is None:
            free = s
        out.append((s, st))
    return out


def _same_stats(a, b):
    for f in ("steps", "residual", "converged", "settled", "trace"):
        u, v = getattr(a, f), getattr(b, f)
        assert (u is None) == (v is None), f
        if u is not None:
            assert torch.equal(u, v), f
    assert a.sweeps == b.sweeps


def _compare(monkeypatch, tr, phases, solver_kw, serial=True):
    monkeypatch.setattr(NR, "_serial", lambda: serial)
    x, y = _batch(tr)
    ref = copy.deepcopy(tr.model)
    spy = _Spy(monkeypatch)
    got = _phases(tr.model, x, y, phases, solver_kw)
    assert spy.built == len(phases)                 # every phase ran the fused sweep
    monkeypatch.setattr(H, "FUSED", False)
    want = _phases(ref, x, y, phases, solver_kw)
    assert spy.built == len(phases)                 # ... and the reference did not
    for (s1, st1), (s2, st2) in zip(got, want):
        assert all(torch.equal(u, v) for u, v in zip(s1, s2))
        _same_stats(st1, st2)
    for a, b in zip(tr.model.all_synapses(), ref.all_synapses()):
        assert a.storage.read_count == b.storage.read_count
        assert torch.equal(a.storage.reads, b.storage.reads)
        assert torch.equal(a.storage.bm_rereads, b.storage.bm_rereads)
    assert tr.model.event_counts() == ref.event_counts()
    return got


PHASES = [("free", 0.0, 12), ("nudge+", 0.5, 6), ("nudge-", -0.5, 6)]


@pytest.mark.parametrize("extra", [
    [],                                                                   # the card: out noise, 7/9-bit DAC/ADC
    ["analog.w_noise_std=0.03"],                                          # weight read noise per read
    ["analog.w_noise_std=0.03", "analog.noise_policy=per_phase"],
    ["analog.out_noise_std=0", "analog.noise_policy=per_batch"],          # converters only
    ["analog.out_noise_std=0", "analog.inp_bits=null", "analog.out_bits=null"],   # clip-only converters
    ["ep.nudge=clamp"],
    ["model.activation=hard_sigmoid"],
])
@pytest.mark.parametrize("serial", [True, False])
def test_fused_relaxation_equals_the_generic_sweep(numba_mode, monkeypatch, extra, serial):
    tr = _trainer(*extra)
    _compare(monkeypatch, tr, PHASES, dict(tol=0.0, stop="tol"), serial)


@pytest.mark.parametrize("stop,tol,noise", [("tol", 1e-3, "0"), ("tol", 0.1, "0.06"), ("noise_floor", 1e-5, "0.06"),
                                            ("noise_floor", 1e-5, "0")])
def test_fused_stops_where_the_generic_sweep_stops(numba_mode, monkeypatch, stop, tol, noise):
    """Early stops (``tol`` reached on noiseless reads; ``noise_floor`` on noisy ones): the same
    sweeps, steps and flags."""
    tr = _trainer(f"analog.out_noise_std={noise}")
    got = _compare(monkeypatch, tr, [("free", 0.0, 60), ("nudge+", 0.5, 40)],
                   dict(tol=tol, stop=stop, noise_patience=3, noise_drop=0.05))
    assert any(st.sweeps < it for (_, st), it in zip(got, (60, 40)))   # a phase did stop early


def test_sweep_plan_describes_the_chain(numba_mode):
    tr = _trainer()
    x, y = _batch(tr)
    with torch.no_grad():
        plan = tr.model.sweep_plan(tr.model.zero_state(x.shape[0], x), 0.5, y)
    assert [(s.node, s.src, s.kind, s.update) for s in plan] == [(1, 2, "dense_transposed", "clip"),
                                                                 (2, 1, "dense_forward", "mse")]
    assert plan[0].params == (1.0, 0.0, 1.0, 0.0) and plan[1].params[3] == 0.5 and plan[1].target is y


def _plan(tr, beta=0.0, states=None, target=None):
    x, y = _batch(tr)
    with torch.no_grad():
        return tr.model.sweep_plan(states or tr.model.zero_state(x.shape[0], x), beta, y if target is None else target)


@pytest.mark.parametrize("extra", [
    ["compute.kernels=torch"],                                            # torch reads
    ["analog.max_cols=8"],                                                # the 24-line transposed read: 3 tiles
    ["analog.ir_drop=0.1"],                                               # IR drop
    ["model.hidden=[16,12]"],                                             # a node with two reads
    ["model.activation=sigmoid"],                                         # not a clip
    ["ep.nudge=cross_entropy"],                                           # readout outside the energy
    ["model.feedback_scale=0.5"],                                         # a gain on the transposed read
])
def test_no_plan_where_the_sweep_is_not_fused(numba_mode, extra):
    K.set_mode("numba")
    tr = _trainer(*extra)
    assert _plan(tr, 0.5) is None


def test_no_plan_for_digital_storage_autograd_or_other_dtypes(numba_mode):
    cfg = load_config(None, ["data.name=digits", "data.batch_size=8", "data.train_size=16", "data.test_size=8",
                             "model.hidden=[12]", "compute.accelerator=cpu"])
    assert _plan(make_trainer(cfg, None)) is None                      # digital storage: no planned read
    tr = _trainer()
    x, y = _batch(tr)
    s = tr.model.zero_state(x.shape[0], x)
    assert tr.model.sweep_plan(s, 0.0, None) is None                   # autograd on
    with torch.no_grad():
        assert tr.model.sweep_plan(s, 0.5, y.double()) is None         # a target of another dtype
        assert tr.model.sweep_plan(s, 0.5, y[:, :3]) is None           # a target of another shape


def test_nudge_rtol_and_sync_take_the_generic_sweep(numba_mode, monkeypatch):
    tr = _trainer()
    x, y = _batch(tr)
    spy = _Spy(monkeypatch)
    model = tr.model
    model.begin_batch()
    model.begin_phase("free")
    const = model.const_drive(x)
    s0 = model.zero_state(x.shape[0], x)
    H.relax_async(model, const, s0, beta=0.5, target=y, iters=3, tol=0.0, nudge_rtol=0.1)
    H.relax_sync(model, const, s0, beta=0.5, target=y, iters=3, tol=0.0)
    assert spy.built == 0
    H.relax_async(model, const, s0, beta=0.5, target=y, iters=3, tol=0.0)
    assert spy.built == 1


def test_one_epoch_of_memristor_training_is_the_same_both_ways(numba_mode, monkeypatch, tmp_path):
    """A whole (tiny) memristor training epoch: the same losses, accuracies, weights and event counts
    with the fused sweep as with the generic one."""
    from analog_ep.train.loop import fit

    def run(fused):
        monkeypatch.setattr(H, "FUSED", fused)
        cfg = load_config(None, ["data.name=digits", "data.batch_size=16", "data.train_size=64", "data.test_size=32",
                                 "model.hidden=[32]", "analog.device=memristor", "compute.accelerator=cpu",
                                 "compute.kernels=numba", "train.epochs=1", "solver.free_iters=8",
                                 "solver.nudge_iters=4"])
        tr = make_trainer(cfg, tmp_path / str(fused))
        rows = []
        fit(tr, progress=False, log=rows.append)
        return tr, [{k: v for k, v in r.items() if "sec" not in k and "time" not in k} for r in rows]

    spy = _Spy(monkeypatch)
    a, ha = run(True)
    assert spy.built > 0
    built = spy.built
    b, hb = run(False)
    assert spy.built == built
    assert len(ha) == 1 and ha == hb
    for u, v in zip(a.model.stored_weights(), b.model.stored_weights()):
        assert torch.equal(u, v)
    assert a.model.event_counts() == b.model.event_counts()


def _eq_nan(u, v):
    return u.shape == v.shape and bool(((u == v) | (u.isnan() & v.isnan())).all())


@pytest.mark.parametrize("serial", [True, False])
def test_nan_propagates_as_in_the_generic_sweep(numba_mode, monkeypatch, serial):
    """A NaN in a start state: the same NaN states, residuals (amax propagates NaN) and steps."""
    monkeypatch.setattr(NR, "_serial", lambda: serial)
    tr = _trainer("analog.out_noise_std=0")
    x, y = _batch(tr)
    ref = copy.deepcopy(tr.model)
    spy = _Spy(monkeypatch)
    outs = []
    for model, fused in ((tr.model, True), (ref, False)):
        monkeypatch.setattr(H, "FUSED", fused)
        model.begin_batch()
        model.begin_phase("free")
        const = model.const_drive(x)
        s0 = model.zero_state(x.shape[0], x)
        s0[0][2, 5] = float("nan")                                  # sample 2's hidden unit 5
        s0[1][4, 1] = float("nan")                                  # sample 4's output 1
        outs.append(H.relax_async(model, const, s0, beta=0.5, target=y, iters=4, tol=1e-3))
    assert spy.built == 1
    (s1, a), (s2, b) = outs
    assert all(_eq_nan(u, v) for u, v in zip(s1, s2))
    assert a.residual.isnan().any() and _eq_nan(a.residual, b.residual) and _eq_nan(a.trace, b.trace)
    assert torch.equal(a.steps, b.steps) and torch.equal(a.converged, b.converged) and a.sweeps == b.sweeps


def test_float64_states_equal_the_generic_sweep(numba_mode, monkeypatch):
    """A float64 model (the kernels' other dtype: the residual's integer view is int64)."""
    tr = _trainer()
    x, y = _batch(tr)
    x, y = x.double(), y.double()
    model = tr.model.double()
    ref = copy.deepcopy(model)
    spy = _Spy(monkeypatch)
    outs = []
    for m, fused in ((model, True), (ref, False)):
        monkeypatch.setattr(H, "FUSED", fused)
        outs.append(_phases(m, x, y, PHASES, dict(tol=0.0, stop="tol")))
    assert spy.built == len(PHASES)
    for (s1, a), (s2, b) in zip(*outs):
        assert s1[0].dtype == torch.float64
        assert all(torch.equal(u, v) for u, v in zip(s1, s2))
        _same_stats(a, b)


def _kernel_stopper_run(seq, dtype, tol, floor, patience, drop, check_every=1, scales=None, coefs=None,
                        norms=None, wcoefs=None):
    """Two stoppers fed the same residual rows: one by :meth:`Stopper.update` (torch, the
    reference), one by the fused sweep's kernel rule (:func:`numba_sweep._stop_row` per sample on
    :meth:`Stopper.kernel_state`, then :meth:`Stopper.record`); their flags after each sweep.
    ``scales`` (iters, K, B) and ``coefs`` (K,): the floor threshold's per-step noise-management
    scales and coefficients (the reference gets ``max_k scales coefs``, as
    :func:`~analog_ep.solvers.base.floor_threshold` computes it); None: no threshold. ``norms``
    (iters, K, B) and ``wcoefs`` (K,): the weight-noise terms' L2 norms and coefficients (0: none),
    in quadrature with the step's term where present (the reference as ``floor_threshold``:
    ``stack(parts).square().sum(0).sqrt()``)."""
    from analog_ep.solvers.base import Stopper

    b, iters = seq.shape[1], seq.shape[0]
    kw = dict(stop="noise_floor" if floor else "tol", noisy=True, patience=patience, drop=drop)
    ref = Stopper(torch.zeros(b, 3, dtype=dtype), iters, tol, check_every, **kw)
    got = Stopper(torch.zeros(b, 3, dtype=dtype), iters, tol, check_every, **kw)
    flags, counts, best, t, factor, fl, pat = got.kernel_state()
    npdt = NR._NPDT[dtype]
    import numpy as np
    um = np.array([0, 0, 0, 0, 0, 1, fl, pat, scales is not None], dtype=np.int64)
    uf = np.array([1.0, 0.0, 0.0, 0.0, 1.0, t, factor], dtype=npdt)
    cz = np.array(coefs if coefs is not None else [0.0], dtype=npdt)
    cw = np.array(wcoefs if wcoefs is not None else [0.0] * len(cz), dtype=npdt)
    halts = []
    for n in range(1, iters + 1):
        r = seq[n - 1].clone()
        thr = None
        wn = np.zeros((len(cz), b, 1), dtype=npdt)
        if scales is not None:
            per = []
            for k, c in enumerate(coefs):
                parts = [scales[n - 1, k].mul(c)]
                if wcoefs is not None and wcoefs[k] != 0:
                    parts.append(norms[n - 1, k].mul(wcoefs[k]))
                per.append(parts[0] if len(parts) == 1 else torch.stack(parts).square().sum(0).sqrt())
            thr = torch.stack(per).amax(0)
            sb = scales[n - 1].unsqueeze(2).contiguous().numpy()
            if norms is not None:
                wn = norms[n - 1].unsqueeze(2).contiguous().numpy()
        else:
            sb = np.ones((1, b, 1), dtype=npdt)
        a = ref.update(n, r, threshold=thr)
        rn = r.numpy()
        for i in range(b):
            NS._stop_row(rn, flags.numpy(), counts.numpy(), best.numpy(), n, sb, cz, wn, cw, um, uf, i)
        halts.append((a, got.record(n, r)))
    return ref, got, halts


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("floor,patience,drop", [(True, 1, 0.05), (True, 3, 0.2), (False, 5, 0.05)])
def test_kernel_stop_rule_equals_the_stopper(dtype, floor, patience, drop):
    """The kernel's per-sample rule against :meth:`Stopper.update` on residuals that sit on its
    edges: exactly ``tol`` rounded to the states' dtype (torch compares there, not in double), exactly
    ``best (1 - drop)`` as torch computes it, NaN (``minimum`` propagates it) and inf; every
    buffer and every host flag equal after each sweep."""
    g = torch.Generator().manual_seed(3)
    iters, b, tol = 24, 9, 1e-4                          # float32(1e-4) < 1e-4: a double comparison would differ
    seq = (torch.rand(iters, b, generator=g, dtype=torch.float64) * 0.9 ** torch.arange(iters).unsqueeze(1)
           + 5e-4).to(dtype)
    tol_d = torch.tensor(tol, dtype=dtype)
    seq[3:, 0] = tol_d                                   # exactly tol in the states' dtype: not below it
    seq[5:, 1] = torch.nextafter(tol_d, torch.tensor(0.0, dtype=dtype))   # just below: converged
    seq[4, 2] = float("nan")                             # a NaN residual: best NaN from then on
    seq[2:, 3] = float("inf")
    for n in range(1, iters):                            # sample 4 lands exactly on best (1 - drop)
        prev_best = seq[:n, 4].min()
        seq[n, 4] = (prev_best * (1.0 - drop)) if n % 2 else prev_best * 2
    ref, got, halts = _kernel_stopper_run(seq, dtype, tol, floor, patience, drop)
    assert all(a == b_ for a, b_ in halts)
    for f in ("steps", "done", "_now", "on_floor", "stall"):
        assert torch.equal(getattr(ref, f), getattr(got, f)), f
    assert _eq_nan(ref.best, got.best)
    a, c = ref.stats(iters), got.stats(iters)
    assert torch.equal(a.steps, c.steps) and torch.equal(a.converged, c.converged)
    assert (a.settled is None) == (c.settled is None) and (a.settled is None or torch.equal(a.settled, c.settled))
    assert bool(ref.done[1])                             # just below tol: converged
    if floor:
        assert bool(ref.on_floor.any())
    else:
        assert not bool(ref._now[0])                     # exactly tol: not below it


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_kernel_floor_threshold_equals_the_stopper(dtype):
    """The floor threshold (``solver.noise_z``) in the kernel's rule against :meth:`Stopper.update`
    with the threshold :func:`~analog_ep.solvers.base.floor_threshold` computes (``max_k scale_k
    coef_k``, products in the states' dtype): residuals exactly on the threshold (at most it:
    settled), the float just above it (not), a NaN scale (the threshold NaN: never), an inf
    residual, and a patience no sample reaches; every buffer and host flag equal."""
    g = torch.Generator().manual_seed(5)
    iters, b, coefs = 12, 8, [0.0371, 0.29]              # coefficients not exact in float32
    scales = (torch.rand(iters, 2, b, generator=g, dtype=torch.float64) + 0.2).to(dtype)
    thr = torch.stack([scales[:, k].mul(c) for k, c in enumerate(coefs)]).amax(0)   # (iters, b)
    seq = (thr.double() * (1.5 + torch.rand(iters, b, generator=g, dtype=torch.float64))).to(dtype)
    seq[4:, 0] = thr[4:, 0]                              # exactly on the threshold from sweep 5: settled there
    seq[:, 1] = torch.nextafter(thr[:, 1], torch.tensor(float("inf"), dtype=dtype))   # just above: never
    scales[2:, 0, 2] = float("nan")                      # a NaN scale: a NaN threshold settles nothing
    seq[2:, 2] = 0.0
    seq[:, 3] = float("inf")
    seq[6:, 4] = thr[6:, 4] * 0.5                        # well below from sweep 7
    ref, got, halts = _kernel_stopper_run(seq, dtype, 0.0, True, 100, 0.05, scales=scales, coefs=coefs)
    assert all(a == b_ for a, b_ in halts)
    for f in ("steps", "done", "_now", "on_floor", "stall"):
        assert torch.equal(getattr(ref, f), getattr(got, f)), f
    assert ref.steps[0] == 5 and ref.steps[4] == 7        # settled at the sweep the threshold held
    assert not bool(ref.on_floor[1]) and not bool(ref.on_floor[2]) and not bool(ref.on_floor[3])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_kernel_floor_threshold_with_weight_terms_equals_the_stopper(dtype):
    """The floor threshold with weight read noise terms (session 16): per step the output-noise term
    ``scale coef`` in quadrature with ``||x||_2 cw`` where the step has one (step 0 here; step 1
    none), against :meth:`Stopper.update` with the threshold built as
    :func:`~analog_ep.solvers.base.floor_threshold` builds it: residuals exactly on it (settled),
    the float just above (not), a NaN norm (never), an output-noise coefficient of 0 (the ideal
    card: the weight term alone); every buffer and host flag equal."""
    g = torch.Generator().manual_seed(7)
    iters, b = 12, 8
    for coefs, wcoefs in (([0.0371, 0.29], [0.113, 0.0]), ([0.0, 0.21], [0.0917, 0.0])):
        scales = (torch.rand(iters, 2, b, generator=g, dtype=torch.float64) + 0.2).to(dtype)
        norms = (torch.rand(iters, 2, b, generator=g, dtype=torch.float64) * 4 + 1.0).to(dtype)
        per0 = torch.stack([scales[:, 0].mul(coefs[0]), norms[:, 0].mul(wcoefs[0])]).square().sum(0).sqrt()
        thr = torch.stack([per0, scales[:, 1].mul(coefs[1])]).amax(0)
        assert bool((per0 > scales[:, 1].mul(coefs[1])).any())   # the weight term decides some samples
        seq = (thr.double() * (1.5 + torch.rand(iters, b, generator=g, dtype=torch.float64))).to(dtype)
        seq[4:, 0] = thr[4:, 0]
        seq[:, 1] = torch.nextafter(thr[:, 1], torch.tensor(float("inf"), dtype=dtype))
        norms[2:, 0, 2] = float("nan")
        seq[2:, 2] = 0.0
        seq[6:, 4] = thr[6:, 4] * 0.5
        ref, got, halts = _kernel_stopper_run(seq, dtype, 0.0, True, 100, 0.05, scales=scales, coefs=coefs,
                                              norms=norms, wcoefs=wcoefs)
        assert all(a == b_ for a, b_ in halts)
        for f in ("steps", "done", "_now", "on_floor", "stall"):
            assert torch.equal(getattr(ref, f), getattr(got, f)), f
        assert ref.steps[0] == 5 and ref.steps[4] == 7
        assert not bool(ref.on_floor[1]) and not bool(ref.on_floor[2])


@pytest.mark.parametrize("serial,check_every,patience,z,band", [
    (True, 1, 2, 0.0, "flat"), (False, 1, 5, 0.0, "flat"), (False, 3, 3, 0.0, "flat"), (True, 2, 1, 0.0, "flat"),
    (True, 1, 3, 3.0, "flat"), (False, 1, 5, 2.0, "flat"), (False, 2, 3, 3.0, "flat"),
    (True, 1, 50, 1.5, "max"), (False, 1, 50, 2.0, "max"), (False, 2, 3, 3.0, "max")])
def test_fused_noise_floor_stops_with_either_driver(numba_mode, monkeypatch, serial, check_every, patience, z, band):
    """The noise-floor stop on noisy reads, with the parallel and the one-thread kernel drivers,
    host checks every 1-3 sweeps, several patiences and floor thresholds (``noise_z``, flat and
    scaled by the node count: ``noise_band``; patience 50 leaves the stops to the threshold): the
    same sweeps, steps, flags, trace and states as the generic sweep with the torch stopper."""
    tr = _trainer("analog.out_noise_std=0.06")
    got = _compare(monkeypatch, tr, [("free", 0.0, 60), ("nudge+", 0.5, 40), ("nudge-", -0.5, 40)],
                   dict(tol=1e-5, stop="noise_floor", noise_patience=patience, noise_drop=0.05,
                        check_every=check_every, noise_z=z, noise_band=band), serial)
    assert any(st.sweeps < it for (_, st), it in zip(got, (60, 40, 40)))
    assert all(st.settled is not None for _, st in got)


@pytest.mark.parametrize("extra", [["analog.noise_policy=per_phase"], ["analog.w_noise_std=0.03", "analog.noise_policy=per_phase"],
                                   ["ep.nudge=clamp"], ["model.activation=hard_sigmoid"]])
def test_fused_floor_threshold_on_other_peripheries(numba_mode, monkeypatch, extra):
    """The floor threshold (``noise_z`` 3) where its estimate differs: a draw per phase (the ADC's
    rounding alone; with weight read noise too, one draw per phase: no floor term of its own), the
    clamp nudge's gain, a sloped activation: the same stops as the generic sweep with the torch
    stopper. (Weight noise redrawn per read adds an L2-scaled term:
    :func:`test_weight_noise_per_read_runs_fused_under_the_threshold`.)"""
    tr = _trainer("analog.out_noise_std=0.06", *extra)
    built = []
    real = NS.FusedSweep._floor_coefs
    monkeypatch.setattr(NS.FusedSweep, "_floor_coefs", staticmethod(lambda *a: built.append(real(*a)) or built[-1]))
    _compare(monkeypatch, tr, [("free", 0.0, 40), ("nudge+", 0.5, 20), ("nudge-", -0.5, 20)],
             dict(tol=1e-5, stop="noise_floor", noise_patience=3, noise_drop=0.05, noise_z=3.0, noise_band="flat"),
             False)
    assert len(built) == 3 and all(c is not None and min(c) > 0 for c in built)   # the threshold ran in every phase


@pytest.mark.parametrize("serial,band,extra", [(True, "flat", []), (False, "max", []),
                                              (False, "max", ["analog.out_noise_std=0"])])
def test_weight_noise_per_read_runs_fused_under_the_threshold(numba_mode, monkeypatch, serial, band, extra):
    """Weight read noise redrawn per read (0.05, the memristor card's output noise on, or off: the
    ADC's rounding and the weight term; the ideal card has no fused read) adds an L2-scaled term to the floor threshold
    (:meth:`~analog_ep.synapses.base.Synapse.weight_floor`): the fused sweep carries it (its stop
    after the last group, on the new states' norms; before session 16 such phases took the
    generic sweep) and gives the generic sweep's states, stats, reads and counts bit for bit, the
    weight terms in every phase's threshold; the threshold stops phases early (seeded)."""
    tr = _trainer("analog.w_noise_std=0.05", *extra, hidden=64, batch=16)
    built = []
    real = NS.FusedSweep._weight_coefs
    monkeypatch.setattr(NS.FusedSweep, "_weight_coefs", staticmethod(lambda *a: built.append(real(*a)) or built[-1]))
    got = _compare(monkeypatch, tr, [("free", 0.0, 40), ("nudge+", 0.5, 30), ("nudge-", -0.5, 30)],
                   dict(tol=1e-5, stop="noise_floor", noise_patience=30, noise_drop=0.05, noise_z=3.0,
                        noise_band=band), serial)
    assert len(built) == 3 and all(c is not None and all(w > 0 for w, _ in c) for c in built)
    assert all(st.sweeps < it for (_, st), it in zip(got, (40, 30, 30)))


def test_weight_noise_threshold_float64_equals_the_generic_sweep(numba_mode, monkeypatch):
    """The weight-noise floor terms on a float64 model (the L2 norms and the quadrature in float64)."""
    tr = _trainer("analog.w_noise_std=0.05", hidden=64, batch=16)
    x, y = _batch(tr)
    x, y = x.double(), y.double()
    model = tr.model.double()
    ref = copy.deepcopy(model)
    spy = _Spy(monkeypatch)
    kw = dict(tol=1e-5, stop="noise_floor", noise_patience=30, noise_drop=0.05, noise_z=3.0, noise_band="max")
    outs = []
    for m, fused in ((model, True), (ref, False)):
        monkeypatch.setattr(H, "FUSED", fused)
        outs.append(_phases(m, x, y, PHASES, kw))
    assert spy.built == len(PHASES)
    for (s1, a), (s2, b) in zip(*outs):
        assert s1[0].dtype == torch.float64 and a.sweeps < 12
        assert all(torch.equal(u, v) for u, v in zip(s1, s2))
        _same_stats(a, b)


def test_fused_sweep_runs_no_torch_stopper_update(numba_mode, monkeypatch):
    """The fused sweep keeps the stop bookkeeping in its kernel: no :meth:`Stopper.update` (the
    torch ops per sweep), one :meth:`Stopper.record` per sweep; the generic sweep the reverse."""
    from analog_ep.solvers import base as SB

    calls = {"update": 0, "record": 0}
    for name in calls:
        real = getattr(SB.Stopper, name)

        def counted(self, *a, _real=real, _name=name):
            calls[_name] += 1
            return _real(self, *a)
        monkeypatch.setattr(SB.Stopper, name, counted)
    tr = _trainer("analog.out_noise_std=0.06")
    x, y = _batch(tr)
    (_, st), = _phases(tr.model, x, y, [("free", 0.0, 30)], dict(tol=1e-5, stop="noise_floor"))
    assert calls == {"update": 0, "record": st.sweeps}
    monkeypatch.setattr(H, "FUSED", False)
    (_, st2), = _phases(tr.model, x, y, [("free", 0.0, 30)], dict(tol=1e-5, stop="noise_floor"))
    assert calls == {"update": st2.sweeps, "record": st.sweeps}


def _subclasses(cls):
    for c in cls.__subclasses__():
        yield c
        yield from _subclasses(c)


def test_every_model_that_changes_drive_or_update_changes_their_fused_forms():
    """The fused sweep asks the model for :meth:`sweep_reads` / :meth:`sweep_update` (no type checks):
    a model class that overrides ``drive`` (``node_update``) must override ``sweep_reads``
    (``sweep_update``) too, or the kernel would run the base class's sweep."""
    import analog_ep.models  # noqa: F401  (every model class)
    from analog_ep.models.base import EnergyNetwork as EN

    classes = list(_subclasses(EN))
    assert len(classes) >= 4
    for c in classes:
        assert c.drive is EN.drive or c.sweep_reads is not EN.sweep_reads, c
        assert c.node_update is EN.node_update or c.sweep_update is not EN.sweep_update, c


def test_fused_forms_of_activations_synapses_and_nudges(numba_mode):
    """Who answers what: a clip activation its clip, a sigmoid none; a dense synapse on analog
    storage its planned read, on digital storage none; a conv synapse none; the MSE / clamp nudge
    its update, the cross-entropy none."""
    from analog_ep.models.base import ACTIVATIONS

    assert ACTIVATIONS["hard_sigmoid"].sweep_update() == ("clip", (0.5, 0.0, 1.0, 0.0))
    assert ACTIVATIONS["sigmoid"].sweep_update() is None
    tr = _trainer()
    x, _ = _batch(tr)
    s = tr.model.zero_state(x.shape[0], x)
    syn = tr.model.edges[1].synapse
    with torch.no_grad():
        kind, plan = syn.sweep_read("forward", s[0])
        assert kind == "dense_forward" and plan == syn.storage.sweep_read_plan("dense_forward", s[0])
        assert syn.sweep_read("transposed", s[1])[0] == "dense_transposed"
    assert tr.model.sweep_update(2, 0.5) == ("mse", (1.0, -float("inf"), float("inf"), 0.5))
    assert tr.model.sweep_update(2, 0.0) == ("clip", (1.0, -float("inf"), float("inf"), 0.0))
    tr.model.nudge = "cross_entropy"
    assert tr.model.sweep_update(2, 0.5) is None and tr.model.sweep_reads(1) is None
    cfg = load_config(None, ["data.name=digits", "data.batch_size=8", "data.train_size=16", "data.test_size=8",
                             "model.hidden=[12]", "compute.accelerator=cpu"])
    dig = make_trainer(cfg, None).model
    with torch.no_grad():
        assert dig.edges[1].synapse.sweep_read("forward", torch.zeros(8, 12)) is None
    from analog_ep.synapses import Conv
    assert Conv((1, 4, 4), 2, 3).sweep_read("forward", torch.zeros(1, 1, 4, 4)) is None
