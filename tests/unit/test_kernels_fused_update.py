"""The fused pulsed update (:func:`analog_ep.analog.engine.fused_update`, the numba kernel
:func:`analog_ep.analog.kernels.numba_engine.pulsed_update`) against the storage's step by step
path, which the same storage takes when the fused update is switched off.

Both paths run under ``compute.kernels: numba`` (the step by step path then runs the numba
rounded-count and pulse-round kernels, whose pulses are the fused kernel's): the fused update must
send the same counts and the same pulses on the same streams, bit for bit, and leave the same
wear, pulse total, event statistics, mixed accumulator, write-noise offsets and cleared proposal,
over several updates (each update's streams depend on the step). A separate test compares the
kernel's event statistic with :func:`analog_ep.synapses.counters.row_pulse_stats` on random counts.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from analog_ep.analog import engine as E
from analog_ep.analog import kernels as K
from analog_ep.analog import rules as RU
from analog_ep.analog import storage as ST
from analog_ep.analog.cards import load_device
from analog_ep.analog.periphery import PeripheryParams
from analog_ep.analog.population import sample_device_state, settle
from analog_ep.synapses.counters import row_pulse_stats
from conftest import kernels_mode

pytest.importorskip("numba")


@pytest.fixture
def torch_mode():
    """compute.kernels torch (the reference engine) for the test, restored after."""
    with kernels_mode("torch"):
        yield


@pytest.fixture
def numba_mode():
    with kernels_mode("numba"):
        yield


CARDS = {
    "memristor": lambda: load_device("memristor").params,                         # soft bounds, noisy
    "soft_bounds_write_noise": lambda: RU.SoftBounds(dw_min=0.02, dw_min_dtod=0.1, dw_min_std=0.2,
                                                     up_down_dtod=0.02, w_max_dtod=0.05, w_min_dtod=0.05,
                                                     write_noise_std=0.5, w_max=0.3, w_min=-0.3),
    "soft_bounds_closed_form": lambda: RU.SoftBounds(dw_min=0.02, dw_min_dtod=0.1, up_down_dtod=0.02,
                                                     w_max_dtod=0.05, w_max=0.2, w_min=-0.2),
    "linear_additive_levels": lambda: RU.LinearStep(dw_min=0.02, dw_min_dtod=0.2, dw_min_std=0.3, gamma_up=0.4,
                                                    gamma_down=0.3, mult_noise=False, n_states=41),
    "constant_stuck": lambda: RU.ConstantStep(dw_min=0.02, dw_min_dtod=0.1, dw_min_std=0.3, up_down=0.2,
                                              stuck_at_min_fraction=0.1, stuck_at_max_fraction=0.05),
}


def _pair(card, shape, dtype, steps, monkeypatch, **kw):
    """Two storages of the same weight, one fused and one step by step, after ``steps`` commits of
    the same proposals; plus, per commit, "fused" when the fused kernel ran and the implementation
    ``kernels.ran`` reports for the rounded counts."""
    g = torch.Generator().manual_seed(11)
    w = (torch.randn(shape, generator=g) * 0.3).to(dtype)
    params = CARDS[card]()
    stores = [ST.AnalogStorage(w, params, PeripheryParams(), seed=5, tile_index=2, **kw) for _ in range(2)]
    props = [(torch.randn(shape, generator=g) * 0.05 * (1 + 3 * (k % 2))).to(dtype) for k in range(steps)]
    ran = []
    from analog_ep.analog.kernels import numba_engine as NE
    kernel = NE.pulsed_update
    for fused, s in zip((True, False), stores):
        with monkeypatch.context() as m:
            if not fused:
                m.setattr(ST.E, "fused_update", lambda *a, **k: False)
            m.setattr(NE, "pulsed_update", lambda *a, **k: (ran.append("fused"), kernel(*a, **k))[1])
            for k, p in enumerate(props):
                s.proposal.data.copy_(p)
                if k % 2:                     # some commits find the weight cached, some do not
                    s._stored()
                else:
                    s._sync()
                K.reset_ran()
                s.commit()
                ran.append(K.ran().get("rounded_counts"))
    return stores, ran


def _same(a, b):
    for name in ("w_dev", "wear", "pulses", "write_offset", "chi"):
        x, y = getattr(a, name), getattr(b, name)
        if x is None:
            assert y is None
            continue
        assert torch.equal(x, y), name
    assert torch.equal(a.events.upd, b.events.upd)
    assert a.events.updates == b.events.updates and a.step == b.step
    assert torch.count_nonzero(a.proposal) == 0 and torch.count_nonzero(b.proposal) == 0
    assert a.events.upd[0] > 0 and a.events.upd[1] > 0       # pulses of both signs were sent


@pytest.mark.parametrize("card", list(CARDS))
@pytest.mark.parametrize("update,rounding", [("pulsed", "stochastic"), ("pulsed", "deterministic"),
                                             ("mixed", "stochastic")])
def test_fused_update_equals_step_by_step_path(numba_mode, monkeypatch, card, update, rounding):
    stores, ran = _pair(card, (13, 37), torch.float32, 4, monkeypatch, update=update, rounding=rounding,
                        max_rows=8, max_cols=5, bl=7)
    counts = "numba" if update == "pulsed" else None     # mixed has no rounded counts
    assert ran[:8] == ["fused", counts] * 4 and ran[8:] == [counts] * 4   # the kernel ran (only) when on
    _same(*stores)


@pytest.mark.parametrize("update,rounding", [("pulsed", "stochastic"), ("pulsed", "deterministic"),
                                             ("mixed", "stochastic")])
def test_fused_update_float64_and_conv_weights(numba_mode, monkeypatch, update, rounding):
    stores, _ = _pair("memristor", (6, 3, 3, 3), torch.float64, 3, monkeypatch, update=update, rounding=rounding,
                      max_rows=10, max_cols=4, bl=5)
    _same(*stores)
    stores, _ = _pair("soft_bounds_write_noise", (9, 20), torch.float64, 3, monkeypatch, update=update,
                      rounding=rounding, max_rows=7, max_cols=4)
    _same(*stores)


def test_fused_update_saturates_at_soft_bounds(numba_mode, monkeypatch):
    """Large proposals push devices into their (soft) bounds: the kernel's clamps are the rule's."""
    g = torch.Generator().manual_seed(2)
    w = torch.randn(16, 24, generator=g) * 0.3
    stores = [ST.AnalogStorage(w, CARDS["soft_bounds_write_noise"](), PeripheryParams(), seed=1,
                               max_rows=10, max_cols=6, bl=31) for _ in range(2)]
    for fused, s in zip((True, False), stores):
        with monkeypatch.context() as m:
            if not fused:
                m.setattr(ST.E, "fused_update", lambda *a, **k: False)
            for k in range(3):
                s.proposal.data.copy_(torch.full_like(w, 5.0) * torch.sign(w))
                s.commit()
    _same(*stores)
    st = stores[0].state
    near = torch.minimum(st.w_max - stores[0].w_dev, stores[0].w_dev - st.w_min)
    assert float(near.min()) < 0.02 * float(st.w_max.min())   # some devices sit at their bounds


def test_fused_apply_update_with_counting_off(numba_mode, monkeypatch):
    """``apply_update(delta)`` (the change itself, not a proposal) and ``compute.count_events: false``."""
    g = torch.Generator().manual_seed(4)
    w = torch.randn(12, 18, generator=g) * 0.3
    stores = [ST.AnalogStorage(w, CARDS["memristor"](), PeripheryParams(), max_rows=7, max_cols=5)
              for _ in range(2)]
    deltas = [torch.randn(12, 18, generator=g) * 0.1 for _ in range(3)]
    for fused, s in zip((True, False), stores):
        s.events.enabled = False
        with monkeypatch.context() as m:
            if not fused:
                m.setattr(ST.E, "fused_update", lambda *a, **k: False)
            for d in deltas:
                s.apply_update(d.clone())
    for name in ("w_dev", "wear", "pulses"):
        assert torch.equal(getattr(stores[0], name), getattr(stores[1], name)), name
    assert int(stores[0].pulses) > 0 and int(stores[0].events.upd.abs().sum()) == 0


def test_fused_update_needs_a_kernel(monkeypatch):
    """Under ``compute.kernels: torch`` (and for rules without an affine pulse) the step by step
    path runs."""
    old = K.mode()
    try:
        K.set_mode("torch")
        s = ST.AnalogStorage(torch.randn(4, 6) * 0.3, CARDS["memristor"](), PeripheryParams())
        s.proposal.data.fill_(0.05)
        K.reset_ran()
        s.commit()
        assert K.ran() == {"rounded_counts": "torch", "apply_counts": "torch"}
        K.set_mode("numba")
        exp = RU.ExpStep(dw_min=0.02, dw_min_std=0.1)
        s = ST.AnalogStorage(torch.randn(4, 6) * 0.3, exp, PeripheryParams())
        s.proposal.data.fill_(0.05)
        K.reset_ran()
        s.commit()
        assert K.ran() == {"rounded_counts": "numba", "apply_counts": "torch"}   # the step by step path
        assert int(s.pulses) > 0
    finally:
        K.set_mode(old)


def _stats_by_kernel(n: torch.Tensor, tile_rows, tile_cols) -> torch.Tensor:
    """The kernel's event statistic of counts ``n`` (out, in): run a deterministic update whose
    counts are exactly ``n`` (dw_min 1, w_scale 1, change ``n``) on a noise-free constant-step card."""
    from analog_ep.analog.kernels import numba_engine as NE
    params = RU.ConstantStep(dw_min=1.0, w_max=100.0, w_min=-100.0)
    st = sample_device_state(params, n.shape, torch.Generator().manual_seed(0), dtype=torch.float64)
    w = settle(torch.zeros(n.shape, dtype=torch.float64), st, params)
    counts = torch.empty(n.shape, dtype=torch.int32)
    wear = torch.zeros(n.shape, dtype=torch.int32)
    total = torch.zeros((), dtype=torch.int64)
    stats = torch.zeros(5, dtype=torch.int64)
    NE.pulsed_update(w, n.to(torch.float64), st, params, rule=E.FUSED_RULES[("rounded", "deterministic")],
                     form=False, zero=False, we=None, chi=None, dw_min=1.0, bl=1000, w_scale=1.0,
                     round_key=1, pulse_key=2, pulse=True, counts=counts, wear=wear, total=total, stats=stats,
                     tile_rows=tile_rows, tile_cols=tile_cols)
    assert torch.equal(counts, n.to(torch.int32)) and torch.equal(wear, n.abs().to(torch.int32))
    assert int(total) == int(n.abs().sum())
    assert torch.equal(w, n.to(torch.float64))        # constant step 1, no noise: w moves by n
    return stats


@pytest.mark.parametrize("seed", range(4))
def test_kernel_event_statistic_equals_row_pulse_stats(seed):
    g = torch.Generator().manual_seed(seed)
    out, inn = int(torch.randint(1, 30, (1,), generator=g)), int(torch.randint(1, 40, (1,), generator=g))
    live = torch.rand(out, inn, generator=g) < 0.4
    n = (torch.randn(out, inn, generator=g) * 9 * live).round().to(torch.int32)
    cuts_r = sorted(set(torch.randint(1, inn + 1, (3,), generator=g).tolist()) | {inn})
    cuts_c = sorted(set(torch.randint(1, out + 1, (2,), generator=g).tolist()) | {out})
    tile_rows = list(np.diff([0] + cuts_r))
    tile_cols = list(np.diff([0] + cuts_c))
    tile_rows = [int(t) for t in tile_rows if t > 0]
    tile_cols = [int(t) for t in tile_cols if t > 0]
    ref = row_pulse_stats(n, tile_rows, tile_cols)
    assert torch.equal(_stats_by_kernel(n, tile_rows, tile_cols), ref)


def test_kernel_event_statistic_closed_form():
    """One tile row with a set of 3 and a reset of 2 on two devices of one crossbar row; another
    crossbar row in another tile with a single set of 5."""
    n = torch.zeros(4, 6, dtype=torch.int32)
    n[0, 1], n[3, 1], n[2, 5] = 3, -2, 5
    stats = _stats_by_kernel(n, [3, 3], [2, 2])
    # set 8, reset 2; rows written: (row 1, col block 0), (row 1, col block 1), (row 5, col block 1)
    # row slots: 3 + 2 + 5; pulse rounds: tile (0, 0): 3, tile (0, 1): 2, tile (1, 1): 5 -> 5
    assert stats.tolist() == [8, 2, 3, 10, 5]


def test_storage_state_is_one_object_until_its_buffers_move():
    s = ST.AnalogStorage(torch.randn(5, 7) * 0.3, CARDS["memristor"](), PeripheryParams())
    st = s.state
    assert s.state is st and st.w_max is s.dev_w_max
    s.double()                                     # the buffers are replaced: a new state over them
    assert s.state is not st and s.state.w_max is s.dev_w_max and s.state.w_max.dtype == torch.float64


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_rule_arrays_follow_in_place_changes(dtype):
    """The kernel's device table kept on the state (float32 fields; float64 weights take copies)
    is rebuilt when a field changes in place, the stuck flags included, and for other params."""
    from analog_ep.analog.kernels import numba_engine as NE
    params = CARDS["constant_stuck"]()
    st = sample_device_state(params, (6, 9), torch.Generator().manual_seed(3), dtype=torch.float32)
    dt = np.float32 if dtype == torch.float32 else np.float64
    dev, flags, fp = NE._rule_arrays(dtype, dt, st, params)
    assert NE._rule_arrays(dtype, dt, st, params)[0] is dev and dev[:, NE._STUCK].any()   # kept; some stuck
    st.scale_up.mul_(2.0)
    st.stuck.zero_()
    dev2, _, _ = NE._rule_arrays(dtype, dt, st, params)
    assert np.array_equal(dev2[:, 0], st.scale_up.reshape(-1).to(dtype).numpy()) and dev2.dtype == dt
    assert not dev2[:, NE._STUCK].any()
    other = RU.ConstantStep(dw_min=0.02, dw_min_std=0.0)
    assert NE._rule_arrays(dtype, dt, st, other)[1][1] == 0                  # that card's flags: no noise
    assert NE._rule_arrays(dtype, dt, st, params)[1][1] == 1


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("card", ["memristor", "linear_additive_levels", "constant_stuck"])
def test_device_table_holds_the_state_fields(dtype, card):
    """The device table (one row of interleaved constants per device, what a pulse reads) holds
    exactly the state's fields in the weight's dtype, column by column in the order the pulse
    body takes them (up / down scale, up / down slope, lower / upper bound: a rule without slopes
    repeats the scales), the stuck flags as 0 / 1, the spare column 0; rows start on 32 / 64-byte
    boundaries (one cache line per device)."""
    from analog_ep.analog.kernels import numba_engine as NE
    params = CARDS[card]()
    st = sample_device_state(params, (7, 13), torch.Generator().manual_seed(5), dtype=torch.float32)
    dt = np.float32 if dtype == torch.float32 else np.float64
    dev, _, _ = NE._rule_arrays(dtype, dt, st, params)
    f = {k: getattr(st, k).reshape(-1).to(dtype).numpy() for k in ("scale_up", "scale_down", "w_min", "w_max")}
    slopes = ("nl_up", "nl_down") if "nl_up" in params.state_fields else ("scale_up", "scale_down")
    want = [f["scale_up"], f["scale_down"], *(getattr(st, k).reshape(-1).to(dtype).numpy() for k in slopes),
            f["w_min"], f["w_max"], (st.stuck.reshape(-1) != 0).numpy().astype(dt), np.zeros(91, dt)]
    assert dev.shape == (91, NE._COLS) and dev.dtype == dt and dev.flags.c_contiguous
    for k, col in enumerate(want):
        assert np.array_equal(dev[:, k], col), k
    assert dev.ctypes.data % 64 == 0 and dev.strides[0] == NE._COLS * dev.itemsize
    if card == "constant_stuck":
        assert 0 < dev[:, NE._STUCK].sum() < 91


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("rounding", ["stochastic", "deterministic"])
def test_rounded_counts_kernel_over_chunks(torch_mode, dtype, rounding):
    """``rounded_counts``' numba kernel works in chunks (:data:`numba_engine._CHUNK` devices): more
    devices than a chunk, an odd last chunk, the torch engine's counts bit for bit."""
    from analog_ep.analog.kernels import numba_engine as NE
    n = 2 * NE._CHUNK + 333
    dw = (torch.randn(n, generator=torch.Generator().manual_seed(9)) * 0.03).to(dtype)
    ref = E.rounded_counts(dw, 0.01, rounding, 31, 5)                    # torch (the fixture's mode)
    got = NE.rounded_counts(dw, 0.01, rounding, 31, 5)
    assert torch.equal(ref, got) and int(got.abs().sum()) > 0


def test_fused_commit_then_noisy_reads(numba_mode):
    """A fused commit keeps the storage's own methods and streams: noisy reads after it run and draw
    the reads' stream (the update's cached key prefix once shadowed the storage's ``_key_prefix``
    method; session 10), and the update's pulses follow ``stream_key(seed, tile, step)``: two storages
    of the same seed and tile give equal weights after equal commits, another tile does not."""
    card = load_device("memristor")
    g = torch.Generator().manual_seed(2)
    w = torch.randn(12, 40, generator=g) * 0.2
    x = torch.randn(5, 40, generator=g)
    p = torch.randn(12, 40, generator=g) * 0.05
    outs = []
    for tile in (3, 3, 4):
        s = ST.AnalogStorage(w, card.params, card.periphery, seed=7, tile_index=tile)
        for _ in range(2):
            s.proposal.data.copy_(p)
            s.commit()
        s.begin_batch()
        s.begin_phase("free")
        y = s.linear(x)
        outs.append((s.w_dev.clone(), y))
    assert torch.equal(outs[0][0], outs[1][0]) and torch.equal(outs[0][1], outs[1][1])
    assert not torch.equal(outs[0][0], outs[2][0])
    assert s.step == 2 and int(s.pulses) > 0


@pytest.mark.parametrize("update", ["pulsed", "mixed"])
def test_fused_update_without_pulses(numba_mode, update):
    """An update whose counts are all zero (a zero proposal) sends nothing and changes nothing but
    the step (the kernel's pulse blocks are empty: once ``range`` with a zero step)."""
    card = load_device("memristor")
    s = ST.AnalogStorage(torch.randn(6, 9, generator=torch.Generator().manual_seed(1)) * 0.2, card.params,
                         card.periphery, seed=3, update=update)
    w0 = s.w_dev.clone()
    s.proposal.data.zero_()
    K.reset_ran()
    s.commit()
    assert s.step == 1 and int(s.pulses) == 0 and int(s.wear.sum()) == 0
    assert torch.equal(s.w_dev, w0)
