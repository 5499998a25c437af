"""The read-noise floor of the iterative relaxation (``solver.noise_z``): each read's floor in
closed form (:meth:`AnalogStorage.read_floor`), checked against the spread of repeated reads (the
estimate is the noise a settled state actually sees), the per-sample threshold of a model's sweep
(:func:`floor_threshold`) against a hand computation, and its effect on a relaxation (it stops
settled samples sooner than the patience test alone, on the same states up to the stop); the
band scaled by the node count (``solver.noise_band: max``) against a Monte-Carlo of the largest
of n Gaussian draws, and noise-only relaxations it stops at once."""

import copy
import dataclasses
import math
from statistics import NormalDist

import pytest
import torch

from analog_ep.config import load_config
from analog_ep.solvers import hopfield as H
from analog_ep.solvers.base import NOISE_BANDS, floor_coef, floor_threshold, max_band
from analog_ep.synapses.conv import ConvPool
from analog_ep.train.loop import make_trainer
from conftest import kernels_mode


def _trainer(*extra, hidden=24, batch=16):
    cfg = load_config(None, ["data.name=digits", f"data.batch_size={batch}", "data.train_size=64",
                             "data.test_size=8", f"model.hidden=[{hidden}]",
                             "compute.accelerator=cpu", "compute.kernels=torch", *extra])
    return make_trainer(cfg, None)


def test_read_floor_closed_form():
    """Memristor card (9-bit ADC at +-12, output noise 0.06, abs-max noise management with
    ``inp_bound`` 1): ``c = w_scale sqrt(T (0.06^2 + step^2 / 12))``, ``step = 12 / 255``, per
    read kind with its own tile count; without output noise, or with one draw per phase or batch,
    only the ADC's rounding; digital: none."""
    tr = _trainer("analog.device=memristor", "analog.max_rows=16", "analog.max_cols=512")
    syn = list(tr.model.all_synapses())[1]          # 24 -> 10: forward over 24 lines = 2 tiles of 16 rows
    st = syn.storage
    step = 12.0 / 255
    one = math.sqrt(0.06 ** 2 + step * step / 12)
    c, nmb = syn.read_floor("forward")
    assert nmb == 1.0 and c == pytest.approx(st.w_scale * math.sqrt(2) * one, rel=1e-12)
    c, nmb = syn.read_floor("transposed")           # 10 lines on one tile
    assert nmb == 1.0 and c == pytest.approx(st.w_scale * one, rel=1e-12)
    assert st.read_floor("conv_forward") is None
    tr = _trainer("analog.device=memristor", "analog.out_noise_std=0")
    syn = list(tr.model.all_synapses())[1]
    assert syn.read_floor("forward")[0] == pytest.approx(syn.storage.w_scale * step / math.sqrt(12), rel=1e-12)
    for policy in ("per_phase", "per_batch"):      # one draw for all the sweeps: no floor from it
        tr = _trainer("analog.device=memristor", f"analog.noise_policy={policy}")
        syn = list(tr.model.all_synapses())[1]
        assert syn.read_floor("forward")[0] == pytest.approx(syn.storage.w_scale * step / math.sqrt(12), rel=1e-12)
    tr = _trainer()                                 # digital
    assert list(tr.model.all_synapses())[1].read_floor("forward") == (0.0, None)


@pytest.mark.parametrize("extra", [[], ["analog.out_noise_std=0.12"], ["analog.max_rows=16"]])
def test_read_floor_is_the_spread_of_repeated_reads(extra):
    """Two reads of the same input (fresh output noise per read) differ per output with std
    ``sqrt(2) c m_b`` (``m_b = max |x_b|``): the measured spread over 5120 outputs within 2.5 %
    (seeded; measured 0.98-0.995; a floor without the tile count is 29 % low or 41 % high, one
    scaled by the wrong input magnitude far off; the ADC's rounding term, 2.5 % of the card's
    floor, is held by the closed-form test)."""
    tr = _trainer("analog.device=memristor", *extra)
    syn = list(tr.model.all_synapses())[1]
    g = torch.Generator().manual_seed(0)
    x = torch.rand(512, 24, generator=g) * (0.3 + torch.rand(512, 1, generator=g))
    c, nmb = syn.read_floor("forward")
    m = x.abs().amax(1, keepdim=True) / nmb
    with torch.no_grad():
        tr.model.begin_batch()
        tr.model.begin_phase("free")
        d = (syn.read(x) - syn.read(x)) / (math.sqrt(2) * c * m)
    assert d.std().item() == pytest.approx(1.0, abs=0.025)


def test_floor_threshold_by_hand():
    """The MLP's sweep: the hidden node's floor from the transposed read of the output state, the
    output's from the forward read of the hidden state, through each update's gain (clamp 1; the
    MSE nudge ``1 / (1 + beta)``); the threshold is the larger, per sample."""
    tr = _trainer("analog.device=memristor")
    model = tr.model
    syn = list(model.all_synapses())[1]
    g = torch.Generator().manual_seed(1)
    h, y = torch.rand(6, 24, generator=g), torch.rand(6, 10, generator=g) * 2 - 0.5
    z, beta = 2.5, 0.5
    thr = floor_threshold(model.read_floors(beta), z, "flat")([h, y])
    c_t, _ = syn.read_floor("transposed")
    c_f, _ = syn.read_floor("forward")
    want = torch.maximum(y.abs().amax(1) * floor_coef(z, 1.0, c_t), h.abs().amax(1) * floor_coef(z, 1 / 1.5, c_f))
    assert torch.allclose(thr, want, rtol=1e-6)
    assert floor_threshold(model.read_floors(beta), 0.0, "flat") is None
    assert floor_threshold(None, 3.0, "flat") is None


def test_floor_threshold_without_noise_management_by_hand():
    """Without noise management a read's floor is one number per node (``nm_bound`` None): the
    threshold is ``max_k floor_coef(z, gain_k, c_k)`` for every sample, whatever the states, for
    every call and batch size (the constant per-sample tensors are built once and only read)."""
    tr = _trainer("analog.device=memristor")
    model = tr.model
    for st in (s.storage for s in model.all_synapses()):   # a card field, not a --set key
        st.periph = dataclasses.replace(st.periph, noise_management="none")
    syn = list(model.all_synapses())[1]
    c_t, nm_t = syn.read_floor("transposed")
    c_f, nm_f = syn.read_floor("forward")
    assert nm_t is None and nm_f is None and c_t > 0 and c_f > 0
    z, beta = 2.5, 0.5
    want = max(floor_coef(z, 1.0, c_t), floor_coef(z, 1 / 1.5, c_f))
    thr = floor_threshold(model.read_floors(beta), z, "flat")
    g = torch.Generator().manual_seed(2)
    for b in (6, 6, 3):
        h, y = torch.rand(b, 24, generator=g), torch.rand(b, 10, generator=g)
        got = thr([h, y])
        assert got.shape == (b,) and torch.allclose(got, torch.full((b,), want, dtype=got.dtype), rtol=1e-6)
        got.mul_(0)                                  # a caller's in-place use must not reach the next call


@pytest.mark.parametrize("kernels", ["torch", "numba"])
def test_floor_threshold_stops_settled_samples_sooner(kernels):
    """On the card, each phase with ``noise_z`` 3 stops no later than with the patience test
    alone, and the free phase strictly sooner; the states it stops at are the states the
    patience-only run had at that sweep (the same reads and draws up to there)."""
    tr = _trainer("analog.device=memristor", f"compute.kernels={kernels}", hidden=64, batch=32)
    x, y = next(iter(tr.batches(tr.train_set, None)))
    y = torch.nn.functional.one_hot(y, 10).to(x.dtype)
    runs = {}
    with kernels_mode(kernels), torch.no_grad():
        for z in (0.0, 3.0):
            model = copy.deepcopy(tr.model)
            model.begin_batch()
            model.begin_phase("free")
            const = model.const_drive(x)
            kw = dict(tol=1e-5, stop="noise_floor", noise_patience=3, noise_drop=0.05, noise_z=z, noise_band="flat")
            free, st = H.relax_async(model, const, model.zero_state(x.shape[0], x), iters=40, **kw)
            runs[z] = (free, st)
    (s0, a), (s3, b) = runs[0.0], runs[3.0]
    assert b.sweeps < a.sweeps
    assert bool((b.steps <= a.steps).all())
    assert torch.equal(b.trace, a.trace[:b.sweeps])


def test_a_nudged_phase_under_nudge_rtol_keeps_its_relative_test():
    """Review of session 10: under ``solver.nudge_rtol`` a nudged phase tests each node against
    its displacement from the free state (a node the nudge has not reached has not converged);
    the floor threshold would override that while the nudge spreads, so it does not run there:
    the phase is bit for bit the one without it. Without ``nudge_rtol`` the same phase stops
    sooner with it (the test could fail both ways)."""
    tr = _trainer("analog.device=memristor", "compute.kernels=torch", hidden=64, batch=32)
    x, y = next(iter(tr.batches(tr.train_set, None)))
    y = torch.nn.functional.one_hot(y, 10).to(x.dtype)
    out = {}
    with torch.no_grad():
        for rtol in (0.0, 0.01):
            for z in (0.0, 3.0):
                model = copy.deepcopy(tr.model)
                model.begin_batch()
                model.begin_phase("free")
                const = model.const_drive(x)
                kw = dict(tol=1e-5, stop="noise_floor", noise_patience=3, noise_drop=0.05, noise_band="flat")
                free, _ = H.relax_async(model, const, model.zero_state(x.shape[0], x), iters=40, noise_z=z, **kw)
                model.begin_phase("nudge+")
                out[rtol, z] = H.relax_async(model, const, [s.clone() for s in free], beta=0.5, target=y, iters=40,
                                             noise_z=z, nudge_rtol=rtol, **kw)
    (s_a, a), (s_b, b) = out[0.01, 0.0], out[0.01, 3.0]
    assert a.sweeps == b.sweeps and torch.equal(a.steps, b.steps) and all(torch.equal(p, q) for p, q in zip(s_a, s_b))
    assert out[0.0, 3.0][1].sweeps < out[0.0, 0.0][1].sweeps


# ------------------------------------------------------------------ conv reads (session 11)
def _conv_trainer(kernels, *extra, batch=8):
    """dchn_vgg5 4-8-8-8 on 16x16 synthetic images on the memristor card: node 1 (4, 8, 8) reads
    node 2 (8, 4, 4) through a 3x3 ConvPool (36 rows, 8 columns)."""
    cfg = load_config(None, ["model.name=dchn_vgg5", "model.channels=[4,8,8,8]", "data.name=synthetic",
                             "data.shape=[1,16,16]", f"data.batch_size={batch}", "data.train_size=64",
                             "data.test_size=8", "analog.device=memristor", "compute.accelerator=cpu",
                             f"compute.kernels={kernels}", *extra])
    return make_trainer(cfg, None)


@pytest.mark.parametrize("n, k, s, p", [(8, 3, 1, 1), (9, 3, 2, 1), (7, 1, 2, 0), (5, 3, 1, 0), (2, 3, 1, 1),
                                        (10, 5, 2, 2), (6, 2, 3, 0)])
def test_fold_cover_is_the_most_patches_on_a_pixel(n, k, s, p):
    """The transposed conv read's fold count against a plain second implementation: ``F.fold`` of
    all-ones patches counts the patches on each input pixel; its maximum."""
    from analog_ep.synapses.conv import Conv
    syn = Conv((2, n, n), 3, kernel_size=k, stride=s, padding=p)
    ho = syn.conv_shape[1]
    count = torch.nn.functional.fold(torch.ones(1, k * k, ho * ho), (n, n), k, padding=p, stride=s)
    assert syn.fold_cover == int(count.max())


def test_fold_cover_is_computed_once_per_synapse(monkeypatch):
    """Review of session 11: a transposed read's floor asked for the fold count at every
    relaxation; it is computed at its first use and kept on the synapse (a second floor does not
    count the patches again: ``range`` in the module is not called)."""
    import builtins

    from analog_ep.synapses import conv as C
    syn = C.Conv((2, 8, 8), 3, kernel_size=3, stride=1, padding=1)
    first = syn.fold_cover
    calls = []
    monkeypatch.setattr(C, "range", lambda *a: calls.append(a) or builtins.range(*a), raising=False)
    assert syn.fold_cover == first == 9 and calls == []
    fresh = C.Conv((2, 8, 8), 3, kernel_size=3, stride=1, padding=1)
    assert fresh.fold_cover == 9 and calls  # (the spy sees a computation)


def test_conv_read_floor_closed_form():
    """Conv reads on the card: forward ``c = w_scale sqrt(T one^2)`` over its channel blocks,
    transposed ``w_scale sqrt(9 T one^2)`` over its column blocks (the fold adds the 9 patches on an
    interior pixel of a stride-1 3x3 conv); per-patch noise management (``nm_scope: tile``) has no
    single scale, so no floor; a dense storage has no conv floor."""
    step = 12.0 / 255
    one2 = 0.06 ** 2 + step * step / 12
    for extra, t_fwd, t_t in (([], 1, 1), (["analog.max_rows=18", "analog.max_cols=4"], 2, 2),
                              (["analog.max_rows=9", "analog.max_cols=3"], 4, 3)):
        syn = _conv_trainer("torch", *extra).model.edges[1].synapse
        w = syn.storage.w_scale
        assert syn.read_floor("forward") == (pytest.approx(w * math.sqrt(t_fwd * one2), rel=1e-12), 1.0)
        assert syn.read_floor("transposed") == (pytest.approx(w * math.sqrt(9 * t_t * one2), rel=1e-12), 1.0)
    syn = _conv_trainer("torch", "analog.nm_scope=tile").model.edges[1].synapse
    assert syn.read_floor("forward") is None and syn.read_floor("transposed") is None
    dense = _trainer("analog.device=memristor").model.edges[-1].synapse
    assert dense.storage.read_floor("conv_forward") is None and dense.storage.read_floor("conv_transposed") is None


@pytest.mark.parametrize("kernels", ["torch", "numba"])
@pytest.mark.parametrize("extra", [[], ["analog.out_noise_std=0.12"], ["analog.max_rows=18", "analog.max_cols=4"]])
def test_conv_read_floor_is_the_spread_of_repeated_reads(kernels, extra):
    """Two reads of the same input through a conv layer on tiles differ with std ``sqrt(2) c m_b``:
    the forward conv read over all its outputs, and the transposed read of the ConvPool (unpooled
    post state, then the fold) on the interior pixels, which 9 patches cover, each within 2.5 %
    (seeded, 256 samples; measured 0.996-1.005; an estimate wrong by 2x, or without the fold's 9
    (3x low) or the tiles' sqrt(2), fails). The corner pixels, which 4 patches cover, spread
    ``sqrt(4 / 9)`` of it (the fold adds independent partials: the estimate is the largest node's).
    The pooled forward read spreads at most a read's (0.93-0.97 measured: the max of a window's noisy
    reads is 1-Lipschitz)."""
    if kernels == "numba":
        pytest.importorskip("numba")
    tr = _conv_trainer(kernels, *extra)
    model = tr.model
    syn = model.edges[1].synapse
    g = torch.Generator().manual_seed(0)
    b = 256
    x = torch.rand(b, 4, 8, 8, generator=g) * (0.3 + torch.rand(b, 1, 1, 1, generator=g))
    y = torch.rand(b, 8, 4, 4, generator=g) * (0.3 + torch.rand(b, 1, 1, 1, generator=g))
    scale = lambda t, nmb: t.abs().reshape(b, -1).amax(1).view(-1, 1, 1, 1) / nmb   # noqa: E731
    with kernels_mode(kernels), torch.no_grad():
        model.begin_batch()
        model.begin_phase("free")
        c, nmb = syn.read_floor("forward")
        st = syn.storage
        d = (st.conv(x, 1, 1) - st.conv(x, 1, 1)) / (math.sqrt(2) * c * scale(x, nmb))
        pooled = (syn.read(x.clone()) - syn.read(x.clone())) / (math.sqrt(2) * c * scale(x, nmb))
        c, nmb = syn.read_floor("transposed")
        dt = (syn.read_t(y, x) - syn.read_t(y, x)) / (math.sqrt(2) * c * scale(y, nmb))
    assert d.std().item() == pytest.approx(1.0, abs=0.025)
    assert dt[:, :, 1:-1, 1:-1].std().item() == pytest.approx(1.0, abs=0.025)
    corners = dt[:, :, [0, 0, -1, -1], [0, -1, 0, -1]]
    assert corners.std().item() == pytest.approx(2 / 3, abs=0.03)
    assert 0.85 < pooled.std().item() < 1.025


def test_conv_model_floor_threshold_by_hand():
    """dchn_vgg5's sweep: node 2 (a ConvPool's post, a ConvPool's pre) takes the forward read of
    node 1 and the transposed read of node 3, their noises add; the output node the dense read of
    node 4 through the MSE nudge's gain. The threshold is the largest node's, per sample."""
    model = _conv_trainer("torch").model
    floors = model.read_floors(0.5)
    assert floors is not None and len(floors) == 5
    g = torch.Generator().manual_seed(2)
    states = [torch.rand(6, *s, generator=g) * (0.5 + torch.rand(6, *([1] * len(s)), generator=g))
              for s in model.node_shapes]
    z = 3.0
    m = [s.abs().reshape(6, -1).amax(1) for s in states]
    e = [edge.synapse for edge in model.edges]
    f = lambda syn, d: syn.read_floor(d)[0]   # noqa: E731  (nm_bound 1 on the card)
    sig = [m[1] * f(e[1], "transposed"),
           ((m[0] * f(e[1], "forward")) ** 2 + (m[2] * f(e[2], "transposed")) ** 2).sqrt(),
           ((m[1] * f(e[2], "forward")) ** 2 + (m[3] * f(e[3], "transposed")) ** 2).sqrt(),
           ((m[2] * f(e[3], "forward")) ** 2 + (m[4] * f(e[4], "transposed")) ** 2).sqrt(),
           m[3] * f(e[4], "forward") / 1.5]
    want = z * math.sqrt(2) * torch.stack(sig).amax(0)
    assert torch.allclose(floor_threshold(floors, z, "flat")(states), want, rtol=1e-6)


@pytest.mark.parametrize("solver", ["async", "sync"])
def test_conv_floor_threshold_stops_settled_samples_sooner(solver):
    """On a conv model (the generic sweep and the torch ``Stopper``: conv reads have no fused sweep),
    the free phase with ``noise_z`` 3 stops strictly sooner than with the patience test alone, no
    sample later, on the states the patience-only run had at that sweep (the same reads and draws
    up to there); the nudged phase after it likewise no later."""
    tr = _conv_trainer("torch", batch=16)
    x, y = next(iter(tr.batches(tr.train_set, None)))
    y = torch.nn.functional.one_hot(y, 10).to(x.dtype)
    relax = {"async": H.relax_async, "sync": H.relax_sync}[solver]
    runs = {}
    with torch.no_grad():
        for z in (0.0, 3.0):
            model = copy.deepcopy(tr.model)
            model.begin_batch()
            model.begin_phase("free")
            const = model.const_drive(x)
            kw = dict(tol=1e-5, stop="noise_floor", noise_patience=3, noise_drop=0.05, noise_z=z, noise_band="flat")
            free, st = relax(model, const, model.zero_state(x.shape[0], x), iters=60, **kw)
            model.begin_phase("nudge+")
            _, nst = relax(model, const, [s.clone() for s in free], beta=0.5, target=y, iters=30, **kw)
            runs[z] = (st, nst)
    (a, na), (b, nb) = runs[0.0], runs[3.0]
    assert b.sweeps < a.sweeps
    assert bool((b.steps <= a.steps).all())
    assert torch.equal(b.trace, a.trace[:b.sweeps])
    assert nb.sweeps <= na.sweeps


# ------------------------------------------------------------------ the band per node count (session 12)
def _max_abs_normal(n, reps, seed):
    """``reps`` draws of the largest of ``n`` independent |N(0, 1)| (brute force, in chunks)."""
    g = torch.Generator().manual_seed(seed)
    out, chunk = [], max(1, 4_000_000 // n)
    for i in range(0, reps, chunk):
        out.append(torch.randn(min(chunk, reps - i), n, generator=g, dtype=torch.float64).abs().amax(1))
    return torch.cat(out)


@pytest.mark.parametrize("n", [1, 10, 500, 4000])
def test_max_band_against_monte_carlo(n):
    """The largest of ``n`` noise-only changes exceeds ``max_band(z, n)`` as often as one change
    exceeds ``z`` (``p = erfc(z / sqrt 2)``): 20,000 seeded draws of the max of ``n`` |N(0, 1)|,
    within 4.5 binomial stds at z = 1.5 and 2.5. The wrong forms fail the same check: the flat
    band (``z`` for any ``n``), the plain ``sqrt(2 ln n)`` of the Gaussian maximum with ``z``'s
    level left out, and the one-sided tail (``Q`` for ``2 Q``)."""
    reps = 20_000
    m = _max_abs_normal(n, reps, seed=n)
    assert max_band(3.0, 1) == pytest.approx(3.0, abs=1e-12) and max_band(0.0, n) == 0.0
    for z in (1.5, 2.5):
        p = math.erfc(z / math.sqrt(2))
        tol = 4.5 * math.sqrt(p * (1 - p) / reps)
        zn = max_band(z, n)
        assert (1 - math.erfc(zn / math.sqrt(2))) ** n == pytest.approx(1 - p, rel=1e-9)   # the defining equation
        assert (m > zn).double().mean().item() == pytest.approx(p, abs=tol)
        if n > 1:
            one_sided = -NormalDist().inv_cdf(-math.expm1(math.log1p(-p) / n))
            for wrong in (z, math.sqrt(2 * math.log(n)), one_sided):
                assert abs((m > wrong).double().mean().item() - p) > tol
    assert NOISE_BANDS["flat"](3.0, n) == 3.0
    assert all(max_band(3.0, a) < max_band(3.0, b) for a, b in ((1, 10), (10, 500), (500, 4000)))


def test_floor_threshold_max_band_by_hand():
    """``noise_band: max`` on the MLP's sweep: each node's coefficient at its own band, the hidden
    node's ``max_band(z, 24)`` (24 entries per sample), the output's ``max_band(z, 10)``; the
    threshold the larger per sample, for two batch sizes."""
    tr = _trainer("analog.device=memristor")
    model = tr.model
    syn = list(model.all_synapses())[1]
    c_t, _ = syn.read_floor("transposed")
    c_f, _ = syn.read_floor("forward")
    z, beta = 2.5, 0.5
    thr = floor_threshold(model.read_floors(beta), z, "max")
    g = torch.Generator().manual_seed(3)
    for b in (6, 4):
        h, y = torch.rand(b, 24, generator=g), torch.rand(b, 10, generator=g) * 2 - 0.5
        want = torch.maximum(y.abs().amax(1) * floor_coef(max_band(z, 24), 1.0, c_t),
                             h.abs().amax(1) * floor_coef(max_band(z, 10), 1 / 1.5, c_f))
        assert torch.allclose(thr([h, y]), want, rtol=1e-6)
    flat = floor_threshold(model.read_floors(beta), z, "flat")([h, y])
    assert bool((thr([h, y]) > flat * 1.1).all())


def _noise_only(tr, x, iters, **kw):
    """A free phase from the settled state (60 full sweeps before it): every change it makes is
    read noise; patience ``iters`` leaves the stops to the threshold."""
    model = copy.deepcopy(tr.model)
    model.begin_batch()
    model.begin_phase("free")
    const = model.const_drive(x)
    settled, _ = H.relax_async(model, const, model.zero_state(x.shape[0], x), iters=60, tol=0.0, stop="tol")
    return H.relax_async(model, const, settled, iters=iters, tol=1e-7, stop="noise_floor", noise_patience=iters,
                         noise_drop=0.05, **kw)[1]


@pytest.mark.parametrize("kernels", ["torch", "numba"])
def test_noise_only_relaxation_stops_at_once_with_the_max_band(kernels):
    """From a settled state, ``noise_z`` 3 with the band scaled by the node count stops every
    sample within 3 sweeps, on the MLP (both kernels) and on a conv model (node 1: 256 states
    per sample), where the flat band at the same ``z`` sits below the max of the conv nodes'
    noise and keeps some samples running longer (seeded: 3 sweeps against 1)."""
    tr = _trainer("analog.device=memristor", f"compute.kernels={kernels}", hidden=64, batch=32)
    x, _ = next(iter(tr.batches(tr.train_set, None)))
    with kernels_mode(kernels), torch.no_grad():
        st = _noise_only(tr, x, 30, noise_z=3.0, noise_band="max")
    assert st.sweeps <= 3 and bool(st.settled.all())
    tr = _conv_trainer(kernels, batch=16)
    x, _ = next(iter(tr.batches(tr.train_set, None)))
    with kernels_mode(kernels), torch.no_grad():
        got = {band: _noise_only(tr, x, 30, noise_z=3.0, noise_band=band) for band in ("max", "flat")}
    assert got["max"].sweeps <= 3 and bool(got["max"].settled.all())
    assert got["flat"].sweeps > got["max"].sweeps and got["flat"].steps.float().mean() > got["max"].steps.float().mean()


@pytest.mark.parametrize("conv", [False, True])
def test_without_noise_the_band_keeps_tol(conv):
    """Digital reads have no floor: ``stop: noise_floor`` with ``noise_z`` 3 and either band is
    ``tol`` bit for bit (the same states, sweeps and steps)."""
    tr = _conv_trainer("torch", "analog.device=null", batch=8) if conv else _trainer(hidden=32, batch=8)
    x, _ = next(iter(tr.batches(tr.train_set, None)))
    out = []
    with torch.no_grad():
        for kw in (dict(stop="tol"), dict(stop="noise_floor", noise_z=3.0, noise_band="max"),
                   dict(stop="noise_floor", noise_z=3.0, noise_band="flat")):
            model = copy.deepcopy(tr.model)
            model.begin_batch()
            model.begin_phase("free")
            out.append(H.relax_async(model, model.const_drive(x), model.zero_state(x.shape[0], x),
                                     iters=200, tol=1e-4, **kw))
    (s0, a) = out[0]
    assert a.sweeps < 200                                  # tol was reached: a real early stop
    for s1, b in out[1:]:
        assert b.sweeps == a.sweeps and torch.equal(b.steps, a.steps) and torch.equal(b.converged, a.converged)
        assert all(torch.equal(u, v) for u, v in zip(s0, s1))


# ---------------------------------------------------------------------------- weight read noise


def test_weight_floor_closed_form():
    """A read with weight read noise (``w_noise_std`` per read) adds std ``w_noise_std g_unit
    w_scale ||x||_2`` per output (:meth:`AnalogStorage.weight_floor`, the dense synapse's norm the
    L2 norm of its input); one draw per phase or batch sets no floor between sweeps; a digital
    read, or a card without weight noise, none."""
    from analog_ep.synapses.base import l2_norm

    tr = _trainer("analog.device=ideal", "analog.w_noise_std=0.05")
    syn = list(tr.model.all_synapses())[1]
    st = syn.storage
    cw = 0.05 * st.g_unit * st.w_scale
    assert cw > 0 and st.weight_floor() == pytest.approx(cw, rel=1e-12)
    for direction in ("forward", "transposed"):
        assert syn.read_floor(direction) == (0.0, None)          # no output noise, no converters
        assert syn.weight_floor(direction) == (pytest.approx(cw, rel=1e-12), l2_norm)
    for policy in ("per_phase", "per_batch"):
        tr = _trainer("analog.device=ideal", "analog.w_noise_std=0.05", f"analog.noise_policy={policy}")
        assert list(tr.model.all_synapses())[1].weight_floor("forward") is None
    assert list(_trainer("analog.device=memristor").model.all_synapses())[1].weight_floor("forward") is None
    assert list(_trainer().model.all_synapses())[1].weight_floor("forward") is None


@pytest.mark.parametrize("direction", ["forward", "transposed"])
@pytest.mark.parametrize("extra", [[], ["analog.max_rows=16", "analog.max_cols=4"],
                                   ["analog.device=memristor", "analog.out_noise_std=0"]])
def test_weight_floor_is_the_spread_of_repeated_reads(direction, extra):
    """The std of 400 seeded reads of the same inputs (a tile with only weight read noise: the
    ideal card, no output noise, no converters) is ``cw ||x_b||_2`` per output within 3 % (pooled
    over 16 samples x the outputs; about 1 % sampling error); on one tile and on several (24
    lines in 2 tiles of 16 rows forward, 10 in 3 of 4 columns transposed): the tiles' partials
    add the lines' noise; and on the memristor card with its output noise off (its DAC, abs-max
    noise management and ADC in the path: the weight noise's term is the input's L2 norm in
    device units through them). Scaled by ``max |x_b|`` (the output noise's norm) it would be 40 %
    off, by ``sqrt(n) max |x_b|`` more."""
    tr = _trainer(*(["analog.device=ideal"] if not any(k.startswith("analog.device") for k in extra) else []),
                  "analog.w_noise_std=0.05", *extra)
    syn = list(tr.model.all_synapses())[1]                   # 24 -> 10
    cw, norm = syn.weight_floor(direction)
    g = torch.Generator().manual_seed(3)
    n = 24 if direction == "forward" else 10
    x = torch.rand(16, n, generator=g) * (0.3 + torch.rand(16, 1, generator=g))
    read = syn.read if direction == "forward" else syn.read_t
    with torch.no_grad():
        tr.model.begin_batch()
        tr.model.begin_phase("free")
        ys = torch.stack([read(x) for _ in range(400)]).double()
    ratio = (ys.var(0) / (cw * norm(x).double()).square()[:, None]).mean().sqrt().item()
    assert ratio == pytest.approx(1.0, abs=0.03)
    wrong = (ys.var(0) / (cw * x.abs().amax(1).double()).square()[:, None]).mean().sqrt().item()
    assert abs(wrong - 1.0) > 0.3


@pytest.mark.parametrize("card", ["ideal", "memristor"])
def test_weight_noise_is_in_the_floor_threshold(card):
    """The MLP's threshold with weight read noise: per node the read's output-noise term (the
    card's, ``max |x_b|``-scaled; none on the ideal card) and its weight-noise term
    (``||x_b||_2``-scaled) in quadrature, through the update's gain. Before session 15 the
    weight noise was not in it: on the ideal card the threshold was 0."""
    tr = _trainer(f"analog.device={card}", "analog.w_noise_std=0.05")
    model = tr.model
    syn = list(model.all_synapses())[1]
    g = torch.Generator().manual_seed(4)
    h, y = torch.rand(6, 24, generator=g), torch.rand(6, 10, generator=g) * 2 - 0.5
    z, beta = 2.5, 0.5
    thr = floor_threshold(model.read_floors(beta), z, "flat")([h, y])
    assert bool((thr > 0).all())

    def sigma(x, direction):
        c, nmb = syn.read_floor(direction)
        m = x.abs().amax(1) / nmb if nmb is not None else torch.ones(x.shape[0])
        cw, _ = syn.weight_floor(direction)
        return ((c * m) ** 2 + (cw * x.norm(dim=1)) ** 2).sqrt()

    want = z * math.sqrt(2) * torch.maximum(sigma(y, "transposed"), sigma(h, "forward") / 1.5)
    assert torch.allclose(thr, want, rtol=1e-5)


@pytest.mark.parametrize("kernels", ["torch", "numba"])
def test_noise_only_relaxation_with_weight_noise_stops_at_once(kernels):
    """From a settled state on the card with weight read noise 0.05 on top of its output noise,
    ``noise_z`` 3 (max band) stops every sample within 3 sweeps: every change is read noise, and
    the threshold now counts the weight noise's share (without it, before session 15, the phase
    ran its 30 sweeps with 0.78 of the samples settled, 0.72 with numba; seeded). With numba the
    fused sweep runs it (its threshold carries the L2 term since session 16; session 15 declined
    the fused plan under the threshold)."""
    if kernels == "numba":
        pytest.importorskip("numba")
    tr = _trainer("analog.device=memristor", "analog.w_noise_std=0.05", f"compute.kernels={kernels}",
                  hidden=64, batch=32)
    x, _ = next(iter(tr.batches(tr.train_set, None)))
    with kernels_mode(kernels), torch.no_grad():
        st = _noise_only(tr, x, 30, noise_z=3.0, noise_band="max")
        assert st.sweeps <= 3 and bool(st.settled.all())
        if kernels == "numba":
            model = tr.model
            model.begin_batch()
            model.begin_phase("free")
            const = model.const_drive(x)
            states = model.zero_state(x.shape[0], x)
            assert H._sweep_plan(model, const, states, 0.0, None, 0.0) is not None


# ------------------------------------------------------------------ weight read noise on conv reads (session 16)
def _resnet_trainer(*extra, batch=8):
    """hopfield_resnet13 8-8-8-8 on 16x16 synthetic images: node 1 (8, 16, 16) reads node 2
    (8, 8, 8) through a plain 3x3 stride-2 conv (padding 1, output padding 1 back to 16x16)."""
    cfg = load_config(None, ["model.name=hopfield_resnet13", "model.channels=[8,8,8,8]", "data.name=synthetic",
                             "data.shape=[1,16,16]", f"data.batch_size={batch}", "data.train_size=64",
                             "data.test_size=8", "compute.accelerator=cpu", "compute.kernels=torch", *extra])
    return make_trainer(cfg, None)


READS = 600
"""Reads per input of the conv weight-noise spread tests: one weight draw is shared by every
sample and patch of a read, so the spread's sampling error falls with the reads and the output
channels (independent weight rows), not with the elements pooled (8 channels, 600 reads: ~1.5 %)."""


def _patch_energy(syn, x):
    """A plain second implementation of a forward conv read's per-pixel input energy: the
    unfolded patches' sums of squares (B, 1, Ho, Wo)."""
    cols = torch.nn.functional.unfold(x.double(), syn.kernel_size, padding=syn.padding, stride=syn.stride)
    return cols.square().sum(1).view(x.shape[0], 1, *syn.conv_shape[1:])


def _fold_energy(syn, u):
    """A plain second implementation of a transposed conv read's per-pixel input energy: each
    conv output pixel's energy ``||u_p||^2`` spread over its patch's taps and folded (``F.fold``
    adds the patches that cover a pixel) -> (B, 1, H, W); ``u`` the conv-sized (unpooled) input."""
    k = syn.kernel_size
    e = u.double().square().sum(1).reshape(u.shape[0], 1, -1).expand(-1, k * k, -1)
    return torch.nn.functional.fold(e, syn.map_shape[1:], k, padding=syn.padding, stride=syn.stride)


def _conv_pair(model_name, *extra):
    """(trainer, synapse, pre state, post state) of a conv read on small seeded states."""
    if model_name == "dchn_vgg5":
        tr = _conv_trainer("torch", *extra)
    else:
        tr = _resnet_trainer(*extra)
    syn = tr.model.edges[1].synapse
    g = torch.Generator().manual_seed(5)
    b = 16
    x = torch.rand(b, *syn.in_shape, generator=g) * (0.3 + torch.rand(b, 1, 1, 1, generator=g))
    y = torch.rand(b, *syn.out_shape, generator=g) * (0.3 + torch.rand(b, 1, 1, 1, generator=g))
    return tr, syn, x, y


@pytest.mark.parametrize("model_name", ["dchn_vgg5", "hopfield_resnet13"])
def test_conv_weight_floor_norms_against_plain_implementations(model_name):
    """The conv weight floor's norms against plain second implementations: forward, the largest
    unfolded patch's L2 norm; transposed, the largest fold of the patches' energies (a plain conv:
    exactly that; a ConvPool: at least the fold of its actual unpooled input, whatever the argmax,
    and at most the fold of the unpooled map with every conv pixel carrying its window's value,
    the loose bound); ``cw`` the storage's; one draw per phase or batch, or no weight noise: None."""
    tr, syn, x, y = _conv_pair(model_name, "analog.device=ideal", "analog.w_noise_std=0.05")
    st = syn.storage
    cw, fwd = syn.weight_floor("forward")
    cw_t, bwd = syn.weight_floor("transposed")
    assert cw == cw_t == pytest.approx(0.05 * st.g_unit * st.w_scale, rel=1e-12) and cw > 0
    want = _patch_energy(syn, x).amax((1, 2, 3)).sqrt()
    assert torch.allclose(fwd(x).double(), want, rtol=1e-5)
    if model_name == "dchn_vgg5":     # pool 2: the bound over every argmax
        with torch.no_grad():
            actual = _fold_energy(syn, syn._unpool(y, x)).amax((1, 2, 3)).sqrt()
        loose = _fold_energy(syn, torch.repeat_interleave(torch.repeat_interleave(y, 2, 2), 2, 3)).amax((1, 2, 3)).sqrt()
        got = bwd(y).double()
        assert bool((got >= actual * (1 - 1e-6)).all()) and bool((got <= loose * (1 + 1e-6)).all())
        assert bool((got < loose * 0.9).all())        # tighter than counting every conv pixel
    else:                             # a plain stride-2 conv: the fold itself
        assert torch.allclose(bwd(y).double(), _fold_energy(syn, y).amax((1, 2, 3)).sqrt(), rtol=1e-5)
    for policy in ("per_phase", "per_batch"):
        _, s2, _, _ = _conv_pair(model_name, "analog.device=ideal", "analog.w_noise_std=0.05",
                                 f"analog.noise_policy={policy}")
        assert s2.weight_floor("forward") is None and s2.weight_floor("transposed") is None
    _, s3, _, _ = _conv_pair(model_name, "analog.device=memristor")
    assert s3.weight_floor("forward") is None
    _, s4, _, _ = _conv_pair(model_name)                  # digital
    assert s4.weight_floor("transposed") is None


@pytest.mark.parametrize("kernels", ["torch", "numba"])
@pytest.mark.parametrize("model_name", ["dchn_vgg5", "hopfield_resnet13"])
@pytest.mark.parametrize("card", [["analog.device=ideal"], ["analog.device=memristor", "analog.out_noise_std=0"],
                                  ["analog.device=memristor"]])
def test_conv_weight_floor_is_the_spread_of_repeated_reads(kernels, model_name, card):
    """The variance of :data:`READS` seeded conv reads of the same inputs with weight read noise 0.05 is, per
    output element, ``(cw ||x_p||_2)^2`` (forward, ``x_p`` its input patch) or ``cw^2 sum_{p covers
    q} ||y_p||^2`` (transposed: the fold over the unpooled input's patches), plus the read's
    output-noise / ADC term ``(c m_b)^2`` where the card has one (:meth:`read_floor`), pooled over
    16 samples x the elements within 3 % (measured 0.988-1.004; sampling error ~1.5 %); the floor's
    per-sample norm is the largest element's. On the ideal card (weight noise only), the
    memristor card without output noise (its DAC, abs-max noise management and ADC in the path)
    and with it; a ConvPool's and a plain stride-2 conv's reads, torch and numba kernels. Scaled
    by ``max |x_b|`` instead (the output noise's norm) the weight term is 2-4.7x off."""
    if kernels == "numba":
        pytest.importorskip("numba")
    tr, syn, x, y = _conv_pair(model_name, *card, "analog.w_noise_std=0.05", f"compute.kernels={kernels}")
    cw, _ = syn.weight_floor("forward")
    st = syn.storage
    b = x.shape[0]

    def var_out(direction, inp):
        c, nmb = syn.read_floor(direction)
        m = inp.abs().reshape(b, -1).amax(1).double() / nmb if nmb is not None else torch.ones(b, dtype=torch.double)
        return (c * m).square().view(b, 1, 1, 1)

    with kernels_mode(kernels), torch.no_grad():
        tr.model.begin_batch()
        tr.model.begin_phase("free")
        fwd = torch.stack([st.conv(x, syn.stride, syn.padding) for _ in range(READS)]).double()
        u = syn._unpool(y, x) if isinstance(syn, ConvPool) else y     # the argmax of x's (cached) read
        bwd = torch.stack([syn.read_t(y, x) for _ in range(READS)]).double()
    e_f = _patch_energy(syn, x)
    want_f = cw * cw * e_f + var_out("forward", x)
    assert (fwd.var(0) / want_f).mean().sqrt().item() == pytest.approx(1.0, abs=0.03)
    wrong = cw * cw * x.abs().reshape(b, -1).amax(1).double().square().view(b, 1, 1, 1) + var_out("forward", x)
    assert abs((fwd.var(0) / wrong).mean().sqrt().item() - 1.0) > 0.3
    e_t = _fold_energy(syn, u)
    # the output-noise / ADC term on a pixel: one partial per covering patch (read_floor's closed form
    # counts the most, fold_cover), counted by the same fold of ones
    cover = _fold_energy(syn, torch.ones(1, 1, *syn.conv_shape[1:]))
    want_t = cw * cw * e_t + var_out("transposed", y) * cover / syn.fold_cover
    live = want_t.expand_as(bwd[0]) > 0
    assert (bwd.var(0)[live] / want_t.expand_as(bwd[0])[live]).mean().sqrt().item() == pytest.approx(1.0, abs=0.03)
    # the floor's norms bound every element's weight-noise std, and the forward one is attained
    _, fwd_norm = syn.weight_floor("forward")
    _, bwd_norm = syn.weight_floor("transposed")
    assert torch.allclose(fwd_norm(x).double(), e_f.amax((1, 2, 3)).sqrt(), rtol=1e-5)
    assert bool((bwd_norm(y).double() >= e_t.amax((1, 2, 3)).sqrt() * (1 - 1e-6)).all())


@pytest.mark.parametrize("card", ["ideal", "memristor"])
def test_conv_weight_noise_is_in_the_floor_threshold(card):
    """dchn_vgg5's threshold with weight read noise 0.05: per node its reads' output-noise terms
    (the card's, ``max |x_b|``-scaled; none on the ideal card) and their weight-noise terms (the
    largest patch norm forward, the largest fold over the patches transposed: plain second
    implementations, a ConvPool's at every argmax at once) in quadrature, through the node's
    gain; the dense readout's ``||x||_2``. Before session 16 the conv reads had no weight term:
    on the ideal card nodes 1-3, driven by conv reads only, had a floor of 0, and the threshold
    was the dense readout's terms alone (here 1.03-1.9x lower)."""
    model = _conv_trainer("torch", f"analog.device={card}", "analog.w_noise_std=0.05").model
    floors = model.read_floors(0.5)
    g = torch.Generator().manual_seed(6)
    b = 6
    states = [torch.rand(b, *s, generator=g) * (0.5 + torch.rand(b, *([1] * len(s)), generator=g))
              for s in model.node_shapes]
    e = [edge.synapse for edge in model.edges]

    def out_term(syn, d, x):
        c, nmb = syn.read_floor(d)
        return c * (x.abs().reshape(b, -1).amax(1) / nmb if nmb is not None else torch.ones(b))

    def fwd(syn, x):
        if not isinstance(syn, ConvPool):
            return syn.weight_floor("forward")[0] * x.reshape(b, -1).norm(dim=1)
        return syn.weight_floor("forward")[0] * _patch_energy(syn, x).amax((1, 2, 3)).sqrt().float()

    def bwd(syn, y):
        # per pool window, the pre pixels some patch of the window covers get the window's energy
        h, tot = syn.conv_shape[1], 0.0
        for i in range(y.shape[2]):
            for j in range(y.shape[3]):
                win = torch.zeros(1, 1, h, h, dtype=torch.double)
                win[..., i * syn.pool:(i + 1) * syn.pool, j * syn.pool:(j + 1) * syn.pool] = 1.0
                covered = (_fold_energy(syn, win) > 0).double()
                tot = tot + covered * y[:, :, i, j].double().square().sum(1).view(b, 1, 1, 1)
        return syn.weight_floor("transposed")[0] * tot.amax((1, 2, 3)).sqrt().float()

    def node(terms):
        return torch.stack([t.float() for t in terms]).square().sum(0).sqrt()

    s = states
    sig = [node([out_term(e[1], "transposed", s[1]), bwd(e[1], s[1])]),
           node([out_term(e[1], "forward", s[0]), fwd(e[1], s[0]), out_term(e[2], "transposed", s[2]), bwd(e[2], s[2])]),
           node([out_term(e[2], "forward", s[1]), fwd(e[2], s[1]), out_term(e[3], "transposed", s[3]), bwd(e[3], s[3])]),
           node([out_term(e[3], "forward", s[2]), fwd(e[3], s[2]), out_term(e[4], "transposed", s[4]),
                 e[4].weight_floor("transposed")[0] * s[4].norm(dim=1)]),
           node([out_term(e[4], "forward", s[3]), fwd(e[4], s[3])]) / 1.5]
    z = 3.0
    want = z * math.sqrt(2) * torch.stack(sig).amax(0)
    got = floor_threshold(floors, z, "flat")(states)
    assert torch.allclose(got, want, rtol=1e-5)
    assert bool((torch.stack(sig[:3]) > 0).all())     # nodes 1-3: conv reads only (ideal card: 0 before)
    if card == "ideal":    # before: only the dense readout's terms (node 4's transposed read, node 5)
        before = z * math.sqrt(2) * torch.maximum(e[4].weight_floor("transposed")[0] * states[4].norm(dim=1), sig[4])
        assert bool((got > before).all())


@pytest.mark.parametrize("model_name, card", [("dchn_vgg5", "ideal"), ("dchn_vgg5", "memristor"),
                                              ("hopfield_resnet13", "ideal")])
def test_noise_only_conv_relaxation_with_weight_noise_stops_at_once(model_name, card):
    """From a settled state with weight read noise 0.05 (dchn_vgg5 16-16-16-16 on the ideal card
    and on the memristor card on top of its output noise; hopfield_resnet13 8-8-8-8 on the ideal
    card), ``noise_z`` 3 (max band) stops every sample within 3 sweeps: every change is read
    noise, and the threshold counts the conv reads' weight noise. Before session 16 it did not
    (seeded): on the ideal card the phases ran their 30 sweeps with no sample settled, on the
    card 27 sweeps (10.4 per sample)."""
    if model_name == "dchn_vgg5":
        tr = _conv_trainer("torch", f"analog.device={card}", "analog.w_noise_std=0.05", "model.channels=[16,16,16,16]",
                           batch=16)
    else:
        tr = _resnet_trainer(f"analog.device={card}", "analog.w_noise_std=0.05", batch=16)
    x, _ = next(iter(tr.batches(tr.train_set, None)))
    with torch.no_grad():
        st = _noise_only(tr, x, 30, noise_z=3.0, noise_band="max")
    assert st.sweeps <= 3 and bool(st.settled.all())
