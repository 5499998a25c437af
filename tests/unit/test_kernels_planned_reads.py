"""The storage's planned relaxation reads (session 7): a dense read that a fused one-tile numba kernel
runs goes from the storage straight to :func:`numba_reads.one_tile_read` through a cached plan,
with the phase's key extended by the read index inside the kernel. Reference: the same storage
read through the general path (``_analog`` -> :mod:`reads` -> :func:`kernels.select` -> the
kernel with the storage's keyed draw object), which the plan must equal bit for bit (values,
noise stream, read index, read counts and event counts), under every noise policy, with and
without weight read noise, data-parallel rows, and the one-thread and parallel kernel drivers.
"""

import pytest
import torch

from analog_ep.analog import kernels as K
from analog_ep.analog import streams as S
from analog_ep.analog.periphery import PeripheryParams
from analog_ep.analog.rules import SoftBounds
from analog_ep.analog.storage import AnalogStorage
from conftest import kernels_mode


@pytest.fixture
def numba_mode():
    nb = pytest.importorskip("numba")
    with kernels_mode("numba"):
        yield nb


def _storage(periph, seed=3):
    w = torch.randn(10, 40, generator=torch.Generator().manual_seed(seed)) * 0.2
    return AnalogStorage(w, SoftBounds(), periph, max_rows=64, max_cols=64, seed=seed)


def _unplanned(st):
    """The same storage with the plan switched off: every read takes the general path."""
    st._planned = lambda kind, x: None
    return st


def _reads(st, xs, ys):
    """Two phases of alternating forward / transposed reads, as a relaxation makes them."""
    outs = []
    with torch.no_grad():
        for ph in range(2):
            st.begin_phase("free" if ph == 0 else "nudge+")
            for x, y in zip(xs, ys):
                outs.append(st.linear(x))
                outs.append(st.linear_t(y))
    return outs


@pytest.mark.parametrize("policy", ["per_read", "per_phase", "per_batch"])
@pytest.mark.parametrize("w_noise", [0.0, 0.03])
@pytest.mark.parametrize("threads", ["one", "all"])
def test_planned_reads_equal_the_general_path_bit_for_bit(numba_mode, monkeypatch, policy, w_noise, threads):
    from analog_ep.analog.kernels import numba_reads as NR
    if threads == "all":   # the parallel drivers (what a multi-threaded numba runs)
        monkeypatch.setattr(NR, "_serial", lambda: False)
    else:
        monkeypatch.setattr(NR, "_serial", lambda: True)
    p = PeripheryParams(inp_bits=7, inp_bound=1.0, out_bits=9, out_bound=3.0, out_noise_std=0.06,
                        noise_management="abs_max", w_noise_std=w_noise, noise_policy=policy)
    g = torch.Generator().manual_seed(11)
    xs = [torch.rand(6, 40, generator=g) * 2 - 1 for _ in range(3)]
    ys = [torch.rand(6, 10, generator=g) - 0.5 for _ in range(3)]
    a, b = _storage(p), _unplanned(_storage(p))
    for st in (a, b):
        st.begin_batch()
    K.reset_ran()
    got = _reads(a, xs, ys)
    assert K.ran() == {"dense_forward": "numba", "dense_transposed": "numba"}
    assert a.__dict__["_sites"]["dense_forward"][2] is not None       # the plan ran
    want = _reads(b, xs, ys)
    assert "_sites" not in b.__dict__
    for u, v in zip(got, want):
        assert torch.equal(u, v)
    # the same input in the next phase: another draw, except under per_batch (one draw per batch)
    assert torch.equal(got[0], got[6]) == (policy == "per_batch")
    assert a.read_count == b.read_count == 6
    assert int(a.reads) == int(b.reads) == 2 * 6 * 6        # 24 reads of 6 samples, one tile each
    assert a.events.host == b.events.host


def test_planned_key_is_the_storage_key(numba_mode):
    """The kernel's in-kernel extension of the phase key equals the storage's host key
    ``stream_key(seed, tile, purpose, batch, phase, read)``: a planned read equals the kernel read
    with that key as a keyed draw."""
    from analog_ep.analog.kernels import numba_reads as NR

    class Keyed:
        def __init__(self, key):
            self.key, self.rows = key, None

    p = PeripheryParams(inp_bits=7, inp_bound=1.0, out_bits=9, out_bound=3.0, out_noise_std=0.06,
                        noise_management="abs_max")
    st = _storage(p, seed=5)
    st.begin_batch()
    st.begin_phase("free")
    x = torch.rand(4, 40, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        st.linear(x)
        got = st.linear(x)                     # read 2 of phase 1 of batch 1
    key = S.stream_key(st.seed, st.tile_index, 7, 1, 1, 2)   # purpose _OUT_FWD = 7
    want = NR.dense_forward(x, st._stored(), p, 64, st.w_scale, st.g_unit, Keyed(key))
    assert torch.equal(got, want)


def test_planned_reads_follow_data_parallel_rows(numba_mode):
    """A rank reading rows 2:5 of a global batch of 6 sees the noise a single process gives them."""
    p = PeripheryParams(inp_bits=7, inp_bound=1.0, out_bits=9, out_bound=3.0, out_noise_std=0.06)
    x = torch.rand(6, 40, generator=torch.Generator().manual_seed(4))
    full, shard = _storage(p), _storage(p)
    for st in (full, shard):
        st.begin_batch()
        st.begin_phase("free")
    shard.set_rows((2, 6))
    with torch.no_grad():
        assert torch.equal(full.linear(x)[2:5], shard.linear(x[2:5]))


def test_no_plan_where_the_kernel_does_not_run(numba_mode):
    """Several tiles, IR drop, autograd on, or compute.kernels torch: the general path (no plan)."""
    p = PeripheryParams(inp_bits=7, inp_bound=1.0, out_bits=9, out_bound=3.0, out_noise_std=0.06)
    x = torch.rand(3, 40)
    w = torch.randn(10, 40) * 0.2
    tiles = AnalogStorage(w, SoftBounds(), p, max_rows=16, max_cols=64)
    with torch.no_grad():
        tiles.linear(x)
    assert tiles.__dict__["_sites"]["dense_forward"][2] is None
    ir = _storage(PeripheryParams(inp_bound=1.0, out_bound=3.0, ir_drop=0.2))
    with torch.no_grad():
        ir.linear(x)
    assert ir.__dict__["_sites"]["dense_forward"][2] is None
    st = _storage(p)
    st.linear(x)                                  # autograd on: no plan consulted
    assert "_sites" not in st.__dict__
    K.set_mode("torch")
    K.reset_ran()
    with torch.no_grad():
        st.linear(x)
    assert st.__dict__["_sites"]["dense_forward"][2] is None and K.ran()["dense_forward"] == "torch"
