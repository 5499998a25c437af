"""The fused numba update (``kernel: fused``): rounding + pulses + write noise in one parallel pass
with counter-based random numbers. Noise-free it equals the torch path; with noise it agrees in
distribution; it respects bounds, levels and stuck devices, and depends only on the seed (not on
threads or blocks)."""

import copy
import dataclasses
import math

import numba
import numpy as np
import pytest
import torch
from scipy import stats

from conftest import noisy_rules

from analog_ep.analog import devices as D
from analog_ep.analog import kernels as K
from analog_ep.analog.cards import load_device
from analog_ep.analog.periphery import PeripheryParams
from analog_ep.analog.tile import AnalogTile

F64 = torch.float64
STEP = 2.0 ** -7  # a power of two: pulse sums are exact in float32 too


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _setup(params, shape, dtype=F64, seed=11):
    st = D.sample_device_state(params, shape, seed, dtype=dtype)
    w = D.program(torch.empty(shape, dtype=dtype).uniform_(-0.8, 0.8, generator=_gen(1)), st, params)
    return st, w


NOISE_FREE = [
    D.ConstantStep(dw_min=0.02, dw_min_dtod=0.2, up_down_dtod=0.05, stuck_at_min_fraction=0.1,
                   stuck_at_max_fraction=0.05),
    D.SoftBounds(dw_min=0.02, dw_min_dtod=0.2, w_max_dtod=0.2, w_min_dtod=0.2),
    D.LinearStep(dw_min=0.02, gamma_up=0.3, gamma_down=0.6, gamma_up_dtod=0.1,
                 mean_bound_reference=False, w_max_dtod=0.1),
    D.ExpStep(dw_min=0.01, up_down=0.26, a=-0.5, b=-0.5, gamma_up=5.0, gamma_down=5.0,
              A_up=-1.18445, A_down=-0.081404, dw_min_dtod=0.2),
    D.PowStep(dw_min=0.02, pow_gamma=1.5, pow_gamma_dtod=0.1, pow_up_down=0.1),
    D.PiecewiseStep(dw_min=0.02, piecewise_up=[2, 1, 0.5, 0.2], piecewise_down=[0.3, 1, 1.5, 2],
                    n_states=41),
    D.NeuroSim(nl_dtod=0.3, n_states=64),
]


@pytest.mark.parametrize("params", NOISE_FREE, ids=lambda p: p.rule)
def test_noise_free_fused_equals_the_torch_per_pulse_loop(params):
    st, w = _setup(params, (30, 40))
    n = torch.randint(-15, 16, (30, 40), generator=_gen(2))
    ref = D.apply_pulses(w, n, st, params, closed_form=False)
    out, total = K.fused_update(w, n, 1.0, st, params, seed=0)
    assert total == int(n.abs().sum())
    if params.rule in ("exp_step", "pow_step"):  # libm exp / pow against torch's: last bits
        assert (out - ref).abs().max().item() <= 1e-12
    else:
        assert torch.equal(out, ref)
    assert torch.equal(D.apply_pulses(w, n, st, params, backend="fused"), out)
    # float32 state and weights: float64 arithmetic inside, so equal to float32 rounding
    st32, w32 = _setup(params, (30, 40), dtype=torch.float32)
    ref32 = D.apply_pulses(w32, n, st32, params, closed_form=False)
    out32 = K.fused_update(w32, n, 1.0, st32, params, seed=0)[0]
    assert out32.dtype == torch.float32 and (out32 - ref32).abs().max().item() <= 1e-6


@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_deterministic_rounding_equals_torch_round(dtype):
    p = D.ConstantStep(dw_min=STEP, w_max=1e4, w_min=-1e4)
    size = 50_000
    st = D.sample_device_state(p, (size,), 0, dtype=dtype)
    r = torch.randn(size, generator=_gen(3), dtype=dtype) * 4
    r[:2000] = torch.arange(-1000, 1000, dtype=dtype) + 0.5  # ties go to even
    dw = r * STEP
    w0 = torch.zeros(size, dtype=dtype)
    out, total = K.fused_update(w0, dw, STEP, st, p, seed=0, rounding="deterministic")
    n_ref = torch.round(dw / STEP)
    assert torch.equal(out, n_ref * STEP)  # exact: every step is a power of two
    assert total == int(n_ref.abs().sum())


def test_noise_free_tile_equals_the_torch_tile():
    card = load_device("ideal")
    p = dataclasses.replace(card.params, dw_min=0.01, stuck_at_min_fraction=0.05)
    w0 = torch.empty(60, 70).uniform_(-0.2, 0.2, generator=_gen(4))
    tiles = {k: AnalogTile(w0, p, PeripheryParams(), rounding="deterministic", seed=5, kernel=k)
             for k in ("torch", "fused")}
    step = tiles["torch"].w_scale * p.dw_min
    for i in range(4):
        delta = torch.randn(60, 70, generator=_gen(10 + i)) * 2.5 * step
        a, b = tiles["torch"].update(delta), tiles["fused"].update(delta)
        assert (a - b).abs().max().item() <= 1e-6
    assert int(tiles["torch"].pulses) == int(tiles["fused"].pulses) > 0
    assert torch.equal(tiles["torch"].w_dev[tiles["torch"].dev_stuck != 0],
                       tiles["fused"].w_dev[tiles["fused"].dev_stuck != 0])


NOISY = [
    D.SoftBounds(dw_min=0.01, dw_min_dtod=0.1, dw_min_std=0.3, w_max_dtod=0.05, w_min_dtod=0.05),
    D.LinearStep(dw_min=0.01, gamma_up=0.3, gamma_down=0.6, dw_min_std=0.5, mult_noise=False),
    D.ConstantStep(dw_min=0.01, dw_min_std=0.5, up_down=0.2),
    D.ExpStep(dw_min=0.01, dw_min_std=0.3),
]


@pytest.mark.parametrize("params", NOISY, ids=lambda p: p.rule)
def test_noisy_fused_agrees_with_torch_in_distribution(params):
    size = 40_000
    st = D.sample_device_state(params, (size,), 0, dtype=F64)
    w0 = D.program(torch.empty(size, dtype=F64).uniform_(-0.5, 0.5, generator=_gen(1)), st, params)
    n = torch.randint(-3, 4, (size,), generator=_gen(2))
    n[n == 0] = 4
    a = D.apply_pulses(w0, n, st, params, 7) - w0
    b = K.fused_update(w0, n, 1.0, st, params, seed=7)[0] - w0
    for sign in (1, -1):
        m = (n * sign) > 0
        da, db = a[m], b[m]
        se = math.sqrt((da.var() + db.var()).item() / m.sum().item())
        assert abs(da.mean().item() - db.mean().item()) < 5 * se
        assert db.std().item() == pytest.approx(da.std().item(), rel=0.03)
    # per device the noise-free part is the same: the difference is pure noise, centred, and as
    # large as between two torch runs with different generators
    diff = b - a
    assert abs(diff.mean().item()) < 5 * diff.std().item() / math.sqrt(size)
    a2 = D.apply_pulses(w0, n, st, params, 8) - w0
    assert diff.std().item() == pytest.approx((a2 - a).std().item(), rel=0.03)
    assert diff.std().item() > 0.1 * a.std().item()


def test_fused_normals_are_standard_normal():
    x = K._fused_normals(123, 200_000)
    assert abs(x.mean()) < 0.01 and abs(x.std() - 1) < 0.01
    assert stats.kstest(x, "norm").pvalue > 1e-3
    tail = (np.abs(x) > K._ZIG_R).mean()  # the ziggurat's tail beyond R is sampled too
    assert tail == pytest.approx(2 * stats.norm.sf(K._ZIG_R), rel=0.35)
    y = K._fused_normals(123, 200_000, pulse=1)  # the next pulse's draws: independent
    assert abs(np.corrcoef(x, y)[0, 1]) < 0.01


@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_stochastic_rounding_is_unbiased(dtype):
    p = D.ConstantStep(dw_min=STEP, w_max=1e4, w_min=-1e4)
    per, fracs = 40_000, [0.1, 0.37, 0.5, 0.93, -0.25, -1.6, 2.75]
    size = per * len(fracs)
    st = D.sample_device_state(p, (size,), 0, dtype=dtype)
    r = torch.tensor(fracs, dtype=dtype).repeat_interleave(per)
    out, total = K.fused_update(torch.zeros(size, dtype=dtype), r * STEP, STEP, st, p, seed=9)
    n = (out / STEP).reshape(len(fracs), per)
    for f, row in zip(fracs, n):
        assert set(row.unique().tolist()) <= {math.floor(f), math.floor(f) + 1}
        se = math.sqrt((f - math.floor(f)) * (1 - f + math.floor(f)) / per)
        assert abs(row.mean().item() - f) < 5 * se + 1e-12
    assert total == int(n.abs().sum())


def test_stochastic_tile_is_unbiased_and_counts_pulses():
    card = load_device("ideal")
    tile = AnalogTile(torch.zeros(200, 200) + 0.05, card.params, PeripheryParams(), seed=3, kernel="fused")
    step = tile.w_scale * card.params.dw_min
    before = tile.effective_weight().clone()
    tile.update(torch.full((200, 200), 0.3 * step))
    change = (tile.effective_weight() - before) / step
    assert abs(change.mean().item() - 0.3) < 0.01
    assert int(tile.pulses) == int(change.round().abs().sum())


def test_bounds_levels_and_stuck_devices():
    p = D.SoftBounds(dw_min=0.05, dw_min_std=1.0, w_max_dtod=0.2, w_min_dtod=0.2, n_states=17,
                     stuck_at_min_fraction=0.1, stuck_at_max_fraction=0.1, mult_noise=False)
    st, w = _setup(p, (80, 90), dtype=torch.float32)
    lo, hi, free = st.stuck < 0, st.stuck > 0, st.stuck == 0
    start = w.clone()
    for i in range(20):
        dw = torch.randn(80, 90, generator=_gen(i)) * 0.5
        w, total = K.fused_update(w, dw, p.dw_min, st, p, seed=i, settled=i > 0)
        assert total > 0
        assert (w <= st.w_max).all() and (w >= st.w_min).all()
        assert torch.equal(w[lo], st.w_min[lo]) and torch.equal(w[hi], st.w_max[hi])
        delta = ((st.w_max - st.w_min) / 16).double()
        k = (w.double() - st.w_min.double()) / delta
        assert (k - k.round()).abs().max().item() < 1e-4  # on the device's level grid
    assert (w[free] != start[free]).double().mean() > 0.9


def test_unsettled_input_is_settled_first():
    p = D.ConstantStep(dw_min=0.1, stuck_at_max_fraction=0.2, n_states=11)
    st = D.sample_device_state(p, (1000,), 0, dtype=F64)
    w = torch.linspace(-3, 3, 1000, dtype=F64)
    n = torch.zeros(1000, dtype=torch.int64)
    n[::2] = 1
    out = K.fused_update(w, n, 1.0, st, p, seed=0)[0]
    assert torch.equal(out[1::2], D.settle(w, st, p)[1::2])  # no pulse: settled only
    assert torch.equal(out, D.apply_pulses(w, n, st, p, closed_form=False))


def test_deterministic_for_a_seed_and_independent_of_threads_and_blocks(monkeypatch):
    p = load_device("memristor").params
    p = dataclasses.replace(p, write_noise_std=2.0, stuck_at_min_fraction=0.02)
    st, w = _setup(p, (300, 257), dtype=torch.float32)
    dw = torch.randn(300, 257, generator=_gen(5)) * 0.02

    def run(seed):
        off = torch.zeros_like(w)
        out, total = K.fused_update(w, dw, p.dw_min, st, p, seed, write_offset=off)
        return out, total, off

    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = run(42)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = run(42)
    finally:
        numba.set_num_threads(threads)
    monkeypatch.setattr(K, "FUSED_BLOCK", 7)
    small_blocks = run(42)
    for a, b in ((one, two), (one, small_blocks)):
        assert torch.equal(a[0], b[0]) and a[1] == b[1] and torch.equal(a[2], b[2])
    other = run(43)
    assert not torch.equal(one[0], other[0])
    moved = one[2] != 0  # write noise: fresh exactly where pulses were, of the card's size
    assert moved.double().mean() > 0.3
    assert one[2][moved].std().item() == pytest.approx(2.0 * p.dw_min, rel=0.05)


def test_tile_seeds_from_its_generator_and_resumes_exactly():
    card = load_device("memristor")
    w0 = torch.empty(40, 50).uniform_(-0.1, 0.1, generator=_gen(0))
    deltas = [torch.randn(40, 50, generator=_gen(20 + i)) * 0.003 for i in range(6)]
    a = AnalogTile(w0, card.params, PeripheryParams(), seed=1, kernel="fused")
    b = AnalogTile(w0, card.params, PeripheryParams(), seed=1, kernel="fused")
    state0 = a.update_gen.get_state()
    for d in deltas[:3]:
        a.update(d)
    assert not torch.equal(a.update_gen.get_state(), state0)  # the generator advances
    saved = copy.deepcopy(a.state_dict())
    for d in deltas[3:]:
        a.update(d)
    b.load_state_dict(saved)
    for d in deltas[3:]:
        b.update(d)
    assert torch.equal(a.w_dev, b.w_dev) and int(a.pulses) == int(b.pulses)
    assert torch.equal(a.effective_weight(), b.effective_weight())


def test_mixed_precision_with_the_fused_kernel():
    card = load_device("ideal")
    tile = AnalogTile(torch.full((2, 2), 0.1), card.params, PeripheryParams(), update="mixed", seed=0,
                      kernel="fused")
    step = tile.w_scale * card.params.dw_min
    before = tile.effective_weight().clone()
    for _ in range(3):
        tile.update(torch.full((2, 2), 0.4 * step))
    torch.testing.assert_close(tile.effective_weight() - before, torch.full((2, 2), step), atol=1e-6, rtol=0)
    assert int(tile.pulses) == 4


@pytest.mark.parametrize("params", noisy_rules(), ids=lambda p: p.rule)
def test_no_nan_after_ten_thousand_pulses_past_the_bounds(params):
    st = D.sample_device_state(params, (6,), 0, dtype=torch.float32)
    w = torch.zeros(6)
    for i, sign in enumerate((1, -1)):
        w = K.fused_update(w, torch.full((6,), sign * 10_000), 1.0, st, params, seed=i)[0]
        assert torch.isfinite(w).all()
        assert (w <= st.w_max).all() and (w >= st.w_min).all()
    # huge or non-finite desired changes: no pulses for the non-finite, no NaN anywhere
    dw = torch.tensor([float("nan"), float("inf"), -float("inf"), 1e30, -50.0, 50.0])
    out, total = K.fused_update(w, dw, 1.0, st, params, seed=3)
    assert torch.isfinite(out).all() and total == 100


def test_bad_arguments():
    p = D.ConstantStep()
    st = D.sample_device_state(p, (4,), 0)
    with pytest.raises(ValueError, match="shape"):
        K.fused_update(torch.zeros(4), torch.zeros(5), 0.01, st, p, 0)
    with pytest.raises(Exception, match="rounding"):
        K.fused_update(torch.zeros(4), torch.zeros(4), 0.01, st, p, 0, rounding="up")
    with pytest.raises(ValueError, match="out"):
        K.fused_update(torch.zeros(4), torch.zeros(4), 0.01, st, p, 0, out=torch.zeros(4, dtype=F64))
