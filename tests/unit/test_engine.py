"""The pulse engine (analog_ep.analog.engine): counter-based random streams, pulse counts (rounded
and bit-stream) against plain references, pulse application on both paths against a per-device
loop over the rule's pulse, and write noise."""

import dataclasses
import math

import numpy as np
import pytest
import torch
from scipy import stats

from conftest import noisy_rules, kernels_mode

from analog_ep.analog import devices as D
from analog_ep.analog import engine as E
from analog_ep.analog import pair as PA
from analog_ep.analog import population as PO
from analog_ep.analog import rules as RU
from analog_ep.analog import streams as S
from analog_ep.analog.cards import load_device
from analog_ep.errors import ConfigError

F32, F64 = torch.float32, torch.float64
STUCK = dict(stuck_at_min_fraction=0.15, stuck_at_max_fraction=0.1)


def _gen(seed):
    return torch.Generator().manual_seed(seed)


@pytest.fixture(autouse=True)
def _torch_engine():
    """These tests hold the torch engine to its references bit for bit: the default path runs
    torch's compact rounds (the fused kernel is tested in test_kernels_engine.py)."""
    with kernels_mode("torch"):
        yield


def _corr(a, b):
    return torch.corrcoef(torch.stack([a.double().flatten(), b.double().flatten()]))[0, 1].item()


# ------------------------------------------------------------------------------ streams


def test_stream_key_mixes_every_value_in_order():
    k = S.stream_key(1, 2, 3)
    assert k == S.stream_key(1, 2, 3) and 0 <= k < 2 ** 64
    variants = [(1, 2, 3), (3, 2, 1), (1, 2), (1, 2, 3, 0), (), (1, 2, 4), (0,), (0, 0)]
    assert len({S.stream_key(*v) for v in variants}) == len(variants)
    many = {S.stream_key(s, t, step, p) for s in range(4) for t in range(5) for step in range(25)
            for p in range(4)}
    assert len(many) == 2000
    assert S.stream_key(-1) == S.stream_key(2 ** 64 - 1)  # values are taken mod 2^64
    assert S.stream_key(np.int64(7), 2) == S.stream_key(7, 2)
    with pytest.raises(TypeError):
        S.stream_key(1.5)


@pytest.mark.parametrize("dtype", [F32, F64])
def test_counter_uniform_and_normal_distributions(dtype):
    idx = torch.arange(200_000)
    u = S.counter_uniform(11, idx, 3, dtype)
    assert u.dtype == dtype and u.shape == idx.shape
    assert (u > 0).all() and (u < 1).all()
    assert abs(u.mean().item() - 0.5) < 0.003 and abs(u.var().item() - 1 / 12) < 0.002
    assert stats.kstest(u.double().numpy(), "uniform").pvalue > 1e-3
    x = S.counter_normal(11, idx, 3, dtype)
    assert x.dtype == dtype and torch.isfinite(x).all()
    assert abs(x.mean().item()) < 0.012 and abs(x.std().item() - 1) < 0.01
    assert stats.kstest(x.double().numpy(), "norm").pvalue > 1e-3
    assert abs(stats.skew(x.double().numpy())) < 0.03
    assert abs(stats.kurtosis(x.double().numpy())) < 0.06
    assert (x.abs() > 3).double().mean().item() == pytest.approx(2 * stats.norm.sf(3), rel=0.15)


def test_counter_streams_are_pure_functions_of_key_index_counter():
    idx = torch.arange(60_000)
    for dtype in (F32, F64):
        for draw in (S.counter_uniform, S.counter_normal):
            a = draw(5, idx, 2, dtype)
            assert torch.equal(a, draw(5, idx, 2, dtype))
            # one index's value does not depend on which other indices are requested
            sub = torch.tensor([[59_999, 3, 3], [0, 512, 77]])
            assert torch.equal(draw(5, sub, 2, dtype), a[sub])
            assert torch.equal(draw(5, sub.to(torch.int32), 2, dtype), a[sub])
            perm = torch.randperm(60_000, generator=_gen(1))[:5000]
            assert torch.equal(draw(5, perm, 2, dtype), a[perm])
            assert torch.equal(draw(5, idx[1::3], 2, dtype), a[1::3])
    # different keys, counters and neighbouring indices are uncorrelated (5 standard errors)
    a = S.counter_normal(5, idx, 0)
    others = [S.counter_normal(6, idx, 0), S.counter_normal(5, idx, 1),
              S.counter_normal(S.stream_key(5), idx, 0), S.counter_normal(5, idx + 1, 0)]
    for b in others:
        assert abs(_corr(a, b)) < 5 / math.sqrt(idx.numel())
        assert not torch.equal(a, b)
    assert abs(_corr(a[:-1], a[1:])) < 5 / math.sqrt(idx.numel())
    u = S.counter_uniform(5, idx, 0)  # two elements share a hash word: still independent
    assert abs(_corr(u[0::2], u[1::2])) < 5 / math.sqrt(idx.numel() / 2)
    assert abs(_corr(u, S.counter_uniform(5, idx, 1))) < 5 / math.sqrt(idx.numel())


# ------------------------------------------------------------------------------ apply_counts

CASES = [  # every rule, noisy, with device-to-device spread and stuck devices; some quantized
    RU.ConstantStep(dw_min=0.05, dw_min_std=0.3, dw_min_dtod=0.2, up_down=0.1, up_down_dtod=0.05, **STUCK),
    RU.SoftBounds(dw_min=0.05, dw_min_std=0.4, dw_min_dtod=0.2, w_max_dtod=0.1, w_min_dtod=0.1, **STUCK),
    RU.SoftBounds(dw_min=0.05, dw_min_std=0.4, mult_noise=False, n_states=41, **STUCK),
    RU.LinearStep(dw_min=0.05, gamma_up=0.3, gamma_down=0.6, gamma_up_dtod=0.1, dw_min_std=0.3,
                 mean_bound_reference=False, w_max_dtod=0.1, **STUCK),
    RU.ExpStep(dw_min=0.02, up_down=0.26, a=-0.5, b=-0.5, gamma_up=5.0, gamma_down=5.0,
              A_up=-1.18445, A_down=-0.081404, dw_min_std=0.5, dw_min_dtod=0.2, **STUCK),
    RU.PowStep(dw_min=0.05, pow_gamma=1.5, pow_gamma_dtod=0.1, pow_up_down=0.1, dw_min_std=0.3, **STUCK),
    RU.PiecewiseStep(dw_min=0.05, piecewise_up=[2, 1, 0.5, 0.2], piecewise_down=[0.3, 1, 1.5, 2],
                    dw_min_std=0.2, n_states=41, **STUCK),
    RU.NeuroSim(ctoc_std=0.02, nl_dtod=0.3, n_levels_ltp=20, n_levels_ltd=25, n_states=64, **STUCK),
]
IDS = [f"{p.rule}{i}" for i, p in enumerate(CASES)]


def test_cases_cover_every_rule():
    assert {p.rule for p in CASES} == set(RU.RULES)


def reference_apply(w, n, state, params, key):
    """Deliberately plain: device by device, pulse by pulse, one-element tensors through
    the rule object's pulse with the documented noise counter_normal(key, i, k)."""
    shape = w.shape
    w = PO.settle(w, state, params).reshape(-1).clone()
    n = n.reshape(-1).tolist()
    flat = {f: getattr(state, f).reshape(-1) for f in PO.STATE_FIELDS}
    for i in range(w.numel()):
        if int(flat["stuck"][i]) != 0 or n[i] == 0:
            continue
        up = torch.tensor([n[i] > 0])
        s = {f: flat[f][i:i + 1] for f in ("w_max", "w_min", "scale_up", "scale_down", "nl_up", "nl_down")}
        wi = w[i:i + 1]
        for k in range(abs(n[i])):
            xi = S.counter_normal(key, torch.tensor([i]), k, w.dtype) if params.noise_std > 0 else None
            wi = params.pulse(wi, up, xi, s)
        w[i] = wi[0]
    return w.view(shape)


def _setup(params, shape, dtype, seed=3):
    st = PO.sample_device_state(params, shape, seed, dtype=dtype)
    w0 = torch.empty(shape, dtype=dtype).uniform_(-0.8, 0.8, generator=_gen(seed + 1))
    return st, PA.program(w0, st, params)


@pytest.mark.parametrize("dtype", [F64, F32])
@pytest.mark.parametrize("params", CASES, ids=IDS)
def test_apply_counts_equals_the_per_device_reference(params, dtype):
    st, w = _setup(params, (6, 5), dtype)
    n = torch.randint(-7, 8, (6, 5), generator=_gen(2))
    n[0, :3] = torch.tensor([0, -1, 1])
    key = S.stream_key(9, 1)
    ref = reference_apply(w, n, st, params, key)
    assert (st.stuck != 0).any() and (n[st.stuck == 0] != 0).any()
    for path in ("compact", "masked"):
        out = E.apply_counts(w, n, st, params, key, path=path)
        assert out.dtype == dtype and out.shape == w.shape
        assert torch.equal(out, ref), path
    moved = (n != 0) & (st.stuck == 0)
    settled = PO.settle(w, st, params)
    assert torch.equal(ref[~moved], settled[~moved])  # zero counts and stuck devices stay put
    assert (ref[moved] != settled[moved]).double().mean() > 0.5


@pytest.mark.parametrize("params", [
    RU.ConstantStep(dw_min=0.05, dw_min_dtod=0.2, up_down=0.2, **STUCK),
    RU.SoftBounds(dw_min=0.05, dw_min_dtod=0.2, w_max_dtod=0.1, w_min_dtod=0.1),
    RU.LinearStep(dw_min=0.05, gamma_up=0.3, gamma_down=0.6, gamma_up_dtod=0.1),
], ids=lambda p: p.rule)
def test_noise_free_closed_form_equals_the_reference(params):
    st, w = _setup(params, (6, 5), F64)
    n = torch.randint(-40, 41, (6, 5), generator=_gen(2))
    ref = reference_apply(w, n, st, params, 0)
    assert E._closed_form(PO.settle(w, st, params), n, st, params) is not None
    assert torch.allclose(E.apply_counts(w, n, st, params, 0), ref, rtol=0, atol=1e-12)
    assert torch.equal(E.apply_counts(w, n, st, params, 0, closed_form=False), ref)


def test_closed_form_edge_step_reaching_the_bound():
    p = RU.SoftBounds(dw_min=1.0)  # one up pulse lands on w_max (q = 0): n = 0 must stay put
    st = PO.sample_device_state(p, (4,), 0, dtype=F64)
    w = torch.tensor([0.0, 0.3, -0.5, 0.9], dtype=F64)
    n = torch.tensor([0, 2, -1, 0])
    out = E.apply_counts(w, n, st, p, 0)
    assert torch.equal(out, E.apply_counts(w, n, st, p, 0, closed_form=False))
    assert out.tolist() == [0.0, 1.0, -1.0, 0.9]


@pytest.mark.parametrize("params", CASES, ids=IDS)
def test_compact_and_masked_paths_agree_in_float32(params):
    st, w = _setup(params, (40, 30), F32)
    n = torch.randint(-9, 10, (40, 30), generator=_gen(5), dtype=torch.int32)
    a = E.apply_counts(w, n, st, params, 77, path="compact")
    assert torch.equal(a, E.apply_counts(w, n, st, params, 77, path="masked"))
    assert torch.equal(a, E.apply_counts(w, n, st, params, 77, path="masked", rounds=12))  # idle rounds
    assert torch.equal(a, E.apply_counts(w, n, st, params, 77))  # CPU default: compact
    # a round cap applies the first `rounds` pulses, on both paths
    capped = E.apply_counts(w, n.clamp(-3, 3), st, params, 77, path="masked")
    for path in ("compact", "masked"):
        assert torch.equal(E.apply_counts(w, n, st, params, 77, path=path, rounds=3), capped)


def test_memristor_card_paths_agree_on_dense_and_conv_shapes():
    p = dataclasses.replace(load_device("memristor").params, **STUCK)
    for shape in ((50, 40), (6, 3, 3, 3)):
        st, w = _setup(p, shape, F32)
        n = torch.randint(-6, 7, shape, generator=_gen(6))
        a = E.apply_counts(w, n, st, p, S.stream_key(1, 2, 3), path="compact")
        b = E.apply_counts(w, n, st, p, S.stream_key(1, 2, 3), path="masked")
        assert torch.equal(a, b) and a.shape == shape
        c = E.apply_counts(w, n, st, p, S.stream_key(1, 2, 4))
        assert not torch.equal(a, c)  # another key, other cycle-to-cycle noise
        assert torch.equal(a[st.stuck != 0], PO.settle(w, st, p)[st.stuck != 0])


def test_apply_counts_inputs_and_errors():
    p = RU.SoftBounds(dw_min=0.05, dw_min_std=0.2)
    st, w = _setup(p, (4, 5), F32)
    n = torch.randint(-3, 4, (4, 5), generator=_gen(1))
    a = E.apply_counts(w, n, st, p, 1)
    assert torch.equal(a, E.apply_counts(w, n.to(torch.int32), st, p, 1))
    assert torch.equal(a, E.apply_counts(w, n.double() + 0.2, st, p, 1))  # float counts are rounded
    assert torch.equal(E.apply_counts(w, torch.zeros_like(n), st, p, 1), PO.settle(w, st, p))
    assert torch.equal(E.apply_counts(w, n, st, p, 1, path="masked", rounds=0), PO.settle(w, st, p))
    with pytest.raises(ConfigError, match="path: unknown engine path 'gpu'; valid: compact, masked"):
        E.apply_counts(w, n, st, p, 1, path="gpu")
    with pytest.raises(ValueError, match="device state has shape"):
        E.apply_counts(w.t(), n.t(), st, p, 1)


def test_settled_in_place_and_strided_weights():
    p = dataclasses.replace(load_device("memristor").params, **STUCK)
    st, w = _setup(p, (30, 20), F32)
    n = torch.randint(-4, 5, (30, 20), generator=_gen(7))
    ref = E.apply_counts(w, n, st, p, 5)
    for path in ("compact", "masked"):
        w2 = PO.settle(w, st, p)  # storage-style: settled weights updated in place
        res = E.apply_counts(w2, n, st, p, 5, path=path, settled=True, out=w2)
        assert res is w2 and torch.equal(w2, ref)
        buf = torch.empty_like(w)
        assert E.apply_counts(w, n, st, p, 5, path=path, out=buf) is buf and torch.equal(buf, ref)
    # a transposed (non-contiguous) weight: flat indices follow its logical row-major order
    st_t, wt = _setup(p, (20, 30), F32)
    wt = wt.t().contiguous().t()  # same values, column-major storage
    st_t = PO.DeviceState(**{k: v.t().contiguous().t() for k, v in st_t.state_dict().items()})
    nt = torch.randint(-4, 5, (20, 30), generator=_gen(8))
    want = E.apply_counts(wt.contiguous(), nt, PO.DeviceState.from_state_dict(
        {k: v.contiguous() for k, v in st_t.state_dict().items()}), p, 6)
    for path in ("compact", "masked"):
        assert torch.equal(E.apply_counts(wt, nt, st_t, p, 6, path=path), want)
    off = torch.zeros(30, 20).t()
    pw = dataclasses.replace(p, write_noise_std=1.0)
    assert torch.equal(E.write_noise(off, nt, pw, 3), E.write_noise(off.contiguous(), nt, pw, 3))


def test_no_nan_after_many_pulses_past_the_bounds():
    for p in noisy_rules():
        st = PO.sample_device_state(p, (16,), 0, dtype=F32)
        w = torch.zeros(16)
        for sign, path in ((1, "compact"), (-1, "masked")):
            w = E.apply_counts(w, torch.full((16,), sign * 500), st, p, 4, path=path)
            assert torch.isfinite(w).all(), p.rule
            assert (w <= st.w_max).all() and (w >= st.w_min).all(), p.rule


def test_devices_wrappers_use_the_engine():
    p = RU.SoftBounds(dw_min=0.05, dw_min_std=0.3)
    st, w = _setup(p, (5, 4), F64)
    n = torch.randint(-4, 5, (5, 4), generator=_gen(3))
    a = D.apply_pulses(w, n, st, p, 12)
    assert torch.equal(a, E.apply_counts(w, n, st, p, S.stream_key(12)))
    g = _gen(4)  # a generator advances: two calls, two different noise draws
    assert not torch.equal(D.apply_pulses(w, n, st, p, g), D.apply_pulses(w, n, st, p, g))
    assert torch.equal(D.apply_pulses(w, n, st, p, _gen(4)), D.apply_pulses(w, n, st, p, _gen(4)))
    pw = dataclasses.replace(p, write_noise_std=2.0)
    off = D.redraw_write_noise(torch.zeros(5, 4, dtype=F64), n, pw, 12)
    assert torch.equal(off, E.write_noise(torch.zeros(5, 4, dtype=F64), n, pw, S.stream_key(12)))


# ------------------------------------------------------------------------------ rounded counts


@pytest.mark.parametrize("dtype", [F32, F64])
def test_rounded_counts_stochastic_rule_and_cap(dtype):
    dw_min = 0.01
    r = torch.randn(3000, generator=_gen(1), dtype=dtype) * 4
    r[:6] = torch.tensor([1e9, -1e9, float("inf"), float("-inf"), float("nan"), 40.0])
    n = E.rounded_counts(r.view(50, 60) * dw_min, dw_min, "stochastic", 31, 8)
    assert n.dtype == torch.int32 and n.shape == (50, 60)
    n = n.flatten()
    assert n[:6].tolist() == [31, -31, 31, -31, 0, 31]  # huge changes get exactly bl; NaN nothing
    assert n.abs().max() <= 31
    # the documented rule: floor(r) + [u < r - floor(r)], u over the flat index
    rr = (r.view(50, 60) * dw_min / dw_min).flatten()[6:]
    u = S.counter_uniform(8, torch.arange(3000), 0, dtype)[6:]
    expect = (torch.floor(rr) + (u < rr - torch.floor(rr)).to(dtype)).clamp(-31, 31).to(torch.int32)
    assert torch.equal(n[6:], expect)
    other = E.rounded_counts(r.view(50, 60) * dw_min, dw_min, "stochastic", 31, 9).flatten()
    assert not torch.equal(n, other)


@pytest.mark.parametrize("dtype", [F32, F64])
def test_stochastic_rounding_is_unbiased(dtype):
    values = torch.tensor([0.3, -1.7, 2.25, 0.5, -0.05, 3.0], dtype=dtype)
    reps = 40_000
    dw = values.repeat(reps) * 0.02
    total = torch.zeros(len(values), dtype=F64)
    for key in range(3):
        n = E.rounded_counts(dw, 0.02, "stochastic", 31, key).view(reps, len(values))
        lo = torch.floor(values)
        assert ((n == lo.to(torch.int32)) | (n == lo.to(torch.int32) + 1)).all()
        total += n.double().sum(0)
    mean = total / (3 * reps)
    frac = (values - torch.floor(values)).double()
    se = torch.sqrt(frac * (1 - frac) / (3 * reps)).clamp(min=1e-9)
    assert ((mean - values.double()).abs() <= 5 * se + 1e-6).all(), (mean, values)


@pytest.mark.parametrize("dtype", [F32, F64])
def test_deterministic_rounding_is_round_half_even(dtype):
    step = 2.0 ** -7  # a power of two: r = dw / dw_min is exact
    r = torch.randn(5000, generator=_gen(2), dtype=dtype) * 5
    r[:40] = torch.arange(-20, 20, dtype=dtype) + 0.5  # ties go to the even neighbour
    n = E.rounded_counts(r * step, step, "deterministic", 12, 0)
    expect = np.clip(np.round(r.double().numpy()), -12, 12).astype(np.int32)  # numpy: half to even
    assert np.array_equal(n.numpy(), expect)
    assert n[:40].tolist() == [int(np.clip(2 * round(k / 2 + 0.25), -12, 12)) for k in range(-20, 20)]
    with pytest.raises(ConfigError, match="rounding: unknown rounding 'nearest'"):
        E.rounded_counts(r, step, "nearest", 12, 0)
    with pytest.raises(ConfigError, match="bl: must be an integer >= 1"):
        E.rounded_counts(r, step, "deterministic", 0, 0)


# ------------------------------------------------------------------------------ bit streams


def reference_bitstream(d, x, lr, dw_min, bl, gen, um=True, blm=False):
    """aihwkit's StochasticCompressed pulse trains, plainly: vector by vector, slot by slot,
    Bernoulli bits from torch.rand (its own random numbers); the probabilities written out from
    aihwkit's calculateBlAB / performUpdateManagement."""
    d, x = d.double(), x.double()
    net = torch.zeros(d.shape[1], x.shape[1], dtype=F64)
    total = torch.zeros_like(net)
    for dn, xn in zip(d, x):
        dmax, xmax = dn.abs().max().item(), xn.abs().max().item()
        if dmax == 0 or xmax == 0:
            continue
        k = lr * xmax * dmax / dw_min
        slots = min(bl, max(1, math.ceil(k))) if blm else bl
        a = b = math.sqrt(lr / (slots * dw_min))
        if um:
            dval = dmax * min(1.0, bl / k)
            a, b = a * math.sqrt(dval / xmax), b * math.sqrt(xmax / dval)
        p, q = (a * xn.abs()).clamp(max=1), (b * dn.abs()).clamp(max=1)
        for _ in range(slots):
            bx = (torch.rand(p.shape, generator=gen, dtype=F64) < p).double() * torch.sign(xn)
            bd = (torch.rand(q.shape, generator=gen, dtype=F64) < q).double() * torch.sign(dn)
            net += torch.outer(bd, bx)
            total += torch.outer(bd.abs(), bx.abs())
    return net, total


def _sample(fn, reps):
    draws = [fn(i) for i in range(reps)]
    net = torch.stack([a.double() for a, _ in draws])
    total = torch.stack([b.double() for _, b in draws])
    return net, total


def _agree(a, b, label):
    """Per-device means of two samples agree within 5 standard errors (+ a floor)."""
    se = torch.sqrt(a.var(0) / len(a) + b.var(0) / len(b))
    gap = (a.mean(0) - b.mean(0)).abs()
    assert (gap <= 5 * se + 0.02).all(), (label, gap.max().item(), (gap / (se + 1e-9)).max().item())


@pytest.mark.parametrize("um,blm,lr", [(True, False, 0.01), (False, False, 0.01), (True, False, 0.2),
                                       (True, True, 0.01)],
                         ids=["um", "no_um", "um_saturated", "um_bl_management"])
def test_bitstream_counts_match_the_plain_reference_in_distribution(um, blm, lr):
    g = _gen(7)
    d = torch.randn(3, 4, generator=g)
    x = torch.randn(3, 5, generator=g)
    dw_min, bl, reps = 0.01, 7, 500
    eng = _sample(lambda k: E.bitstream_counts(d, x, lr, dw_min, bl, S.stream_key(3, k), um,
                                               bl_management=blm), reps)
    gref = _gen(8)
    ref = _sample(lambda k: reference_bitstream(d, x, lr, dw_min, bl, gref, um, blm), reps)
    _agree(eng[0], ref[0], "net")
    _agree(eng[1], ref[1], "total")
    ratio = eng[1].var(0).mean() / ref[1].var(0).mean()
    assert 0.8 < ratio.item() < 1.25
    if lr == 0.01:  # no probability reaches 1: unbiased, E[net] = lr sum_n outer(d, x) / dw_min
        se = eng[0].std(0) / math.sqrt(reps)
        assert ((eng[0].mean(0) - lr * d.t() @ x / dw_min).abs() <= 5 * se + 0.02).all()
    assert (eng[0].abs() <= eng[1]).all()


def test_bitstream_coincidences_share_the_line_pulses():
    # one vector: devices on one d line see the same d bits, so their totals covary:
    # cov(total_ij, total_ij') = bl q_i (1 - q_i) p_j p_j'
    d, x = torch.tensor([[0.9, -0.3]]), torch.tensor([[0.8, 1.0, -0.6]])
    lr, dw_min, bl, reps = 0.05, 0.01, 9, 1500
    p, q, _ = E.train_probabilities(d, x, lr, dw_min, bl)
    _, tot = _sample(lambda k: E.bitstream_counts(d, x, lr, dw_min, bl, k), reps)
    cov = torch.cov(torch.stack([tot[:, 0, 0], tot[:, 0, 1]]))[0, 1].item()
    expect = bl * q[0, 0] * (1 - q[0, 0]) * p[0, 0] * p[0, 1]
    assert cov == pytest.approx(expect.item(), rel=0.2)  # about 3 standard errors
    assert tot[:, 0, 0].mean().item() == pytest.approx((bl * p[0, 0] * q[0, 0]).item(), rel=0.03)


def test_bitstream_one_vector_sends_at_most_bl_pulses():
    g = _gen(9)
    for lr in (0.01, 1.0, 100.0):
        d, x = torch.randn(1, 6, generator=g), torch.randn(1, 7, generator=g)
        for key in range(20):
            net, total = E.bitstream_counts(d, x, lr, 0.01, 5, key)
            assert net.dtype == torch.int32 and net.shape == (6, 7)
            assert (net.abs() <= total).all() and (total <= 5).all()
            if lr == 100.0:  # saturated: the largest d and x lines fire in every slot
                i, j = d.abs().argmax().item(), x.abs().argmax().item()
                assert total[i, j].item() == 5
                assert net[i, j].item() == 5 * int(torch.sign(d[0, i] * x[0, j]))
    net, total = E.bitstream_counts(d, x, 1.0, 0.01, 5, 0, bl_management=True)
    assert (total <= 5).all()
    tiny = E.bitstream_counts(d, x, 1e-5, 0.01, 31, 0, bl_management=True)[1]
    assert (tiny <= 1).all()  # BL_n = ceil(k_n) = 1 slot


def test_update_management_balances_the_two_trains():
    g = _gen(10)
    d, x = torch.randn(6, 8, generator=g) * 3, torch.rand(6, 11, generator=g) * 0.2
    lr, dw_min, bl = 0.01, 0.01, 31
    p, q, bl_n = E.train_probabilities(d, x, lr, dw_min, bl)
    assert bl_n is None and p.shape == (6, 11) and q.shape == (6, 8)
    k = lr * x.abs().amax(1).double() * d.abs().amax(1).double() / dw_min
    assert (k < bl).all()
    assert torch.allclose(p.amax(1), q.amax(1), rtol=1e-12)  # max x prob == max d prob
    assert torch.allclose(p.amax(1), torch.sqrt(k / bl), rtol=1e-12)
    dd, xx = d.double(), x.double()
    assert torch.allclose(bl * p.unsqueeze(1) * q.unsqueeze(2),  # bl p q = lr |d x| / dw_min
                          lr * (dd.unsqueeze(2) * xx.unsqueeze(1)).abs() / dw_min, rtol=1e-12)
    p0, q0, _ = E.train_probabilities(d, x, lr, dw_min, bl, update_management=False)
    c = math.sqrt(lr / (bl * dw_min))
    assert torch.allclose(p0, c * xx.abs()) and torch.allclose(q0, (c * dd.abs()).clamp(max=1))
    # beyond bl (aihwkit "avoid clipping of x"): the x train peaks at 1, the d train saturates
    p2, q2, _ = E.train_probabilities(d, x, 1.0, dw_min, bl)
    assert torch.allclose(p2.amax(1), torch.ones(6, dtype=F64)) and (q2.amax(1) == 1).all()
    # update_bl_management: BL_n = min(bl, ceil(k_n)) slots, still balanced
    p3, q3, bl_n = E.train_probabilities(d, x, lr, dw_min, bl, bl_management=True)
    assert torch.equal(bl_n, torch.ceil(k).clamp(1, bl))
    assert torch.allclose(p3.amax(1), torch.sqrt(k / bl_n), rtol=1e-12)
    assert torch.allclose(p3.amax(1), q3.amax(1), rtol=1e-12)


def test_zero_vectors_send_nothing():
    d = torch.tensor([[0.0, 0.0, 0.0], [0.5, -1.0, 0.2], [0.3, 0.1, 0.0]])
    x = torch.tensor([[1.0, 2.0], [0.0, 0.0], [0.7, -0.4]])  # vectors 0 and 1 are dead
    p, q, _ = E.train_probabilities(d, x, 0.5, 0.01, 31)
    assert torch.isfinite(p).all() and torch.isfinite(q).all()
    assert (p[:2] == 0).all() and (q[:2] == 0).all() and (p[2] > 0).all()
    for key in range(10):
        total = E.bitstream_counts(d, x, 0.5, 0.01, 31, key)[1]
        assert (total <= 31).all()  # only vector 2 sends
        assert (total[2] == 0).all()  # d[2, 2] = 0 in the only live vector
    zero = E.bitstream_counts(torch.zeros(4, 3), x[:1].expand(4, 2), 0.5, 0.01, 31, 0)
    assert not zero[0].any() and not zero[1].any()
    assert not E.bitstream_counts(d, x, 0.0, 0.01, 31, 0)[1].any()  # lr = 0


def test_bitstream_is_a_pure_function_of_its_key():
    g = _gen(11)
    d, x = torch.randn(16, 20, generator=g), torch.randn(16, 30, generator=g)
    a = E.bitstream_counts(d, x, 0.02, 0.01, 31, 5)
    assert all(torch.equal(s, t) for s, t in zip(a, E.bitstream_counts(d, x, 0.02, 0.01, 31, 5)))
    assert all(torch.equal(s, t) for s, t in zip(a, E.bitstream_counts(d.double(), x.double(),
                                                                        0.02, 0.01, 31, 5)))
    assert not torch.equal(a[1], E.bitstream_counts(d, x, 0.02, 0.01, 31, 6)[1])
    old = E._HASH_BLOCK, E._BITS_BUDGET  # the CPU blocks (rows, vectors) do not change the bits
    try:
        E._HASH_BLOCK, E._BITS_BUDGET = 64, 3000
        assert all(torch.equal(s, t) for s, t in zip(a, E.bitstream_counts(d, x, 0.02, 0.01, 31, 5)))
    finally:
        E._HASH_BLOCK, E._BITS_BUDGET = old


# ------------------------------------------------------------------------------ write noise


def test_write_noise_redraws_only_pulsed_devices():
    p = RU.ConstantStep(dw_min=0.01, write_noise_std=3.0)
    size = 100_000
    offset = torch.randn(size, generator=_gen(1), dtype=F64) * 0.05
    n = torch.zeros(size, dtype=torch.int32)
    n[: size // 2] = torch.randint(1, 4, (size // 2,), generator=_gen(2)) * (
        torch.randint(0, 2, (size // 2,), generator=_gen(3)) * 2 - 1)
    out = E.write_noise(offset, n, p, 21)
    assert torch.equal(out[size // 2:], offset[size // 2:])
    assert out[: size // 2].std().item() == pytest.approx(3.0 * 0.01, rel=0.02)
    assert torch.equal(out[: size // 2], 0.03 * S.counter_normal(21, torch.arange(size // 2), 0, F64))
    assert torch.equal(out, E.write_noise(offset, n, p, 21, path="masked"))
    conv = E.write_noise(offset.view(10, 10, 1000).float(), n.view(10, 10, 1000), p, 21)
    assert conv.shape == (10, 10, 1000) and conv.dtype == F32
    assert E.write_noise(offset, n, RU.ConstantStep(dw_min=0.01), 21) is offset  # no write noise
