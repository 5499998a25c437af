"""The conv read kernels' fused passes (session 9) against the pass-by-pass composition they
replace, bit for bit, noise included (the same keyed output-noise stream):

* the DAC with layer-scope noise management in one numba pass (:func:`numba_reads._conv_dac`)
  instead of :func:`reads._nm_layer` then :func:`periphery.dac` in torch;
* the forward read's noise-management scale multiplied inside the output stage instead of
  :func:`reads._nm_back` after it;
* the transposed read's output stage, fold and scale in one kernel (:func:`numba_reads._stage_fold`)
  instead of the stage into a (B, C_in k k, Ho Wo) tensor, ``F.fold`` (aten's col2im) and
  ``_nm_back``;
* the max-pool with indices (:func:`numba_reads.max_pool`) against ``F.max_pool2d``, ties and
  NaNs included (ADC outputs sit on a grid: equal values in a window are common).
"""

import pytest
import torch
import torch.nn.functional as F

from analog_ep.analog import kernels as K
from analog_ep.analog import reads as R
from analog_ep.analog.periphery import PeripheryParams
from conftest import kernels_mode


@pytest.fixture
def nr():
    pytest.importorskip("numba")
    from analog_ep.analog.kernels import numba_reads
    with kernels_mode("torch"):
        yield numba_reads


class Keyed:
    """A keyed output-noise draw (the kernels draw from ``key``; ``rows``: data parallel)."""

    def __init__(self, key, rows=None):
        self.key, self.rows = key, rows

    def __call__(self, shape, bm_pass=0):
        raise AssertionError("the kernels draw their own noise")


PERIPHS = {
    "card": dict(inp_bits=7, inp_bound=1.0, out_bits=9, out_bound=12.0, out_noise_std=0.06,
                 noise_management="abs_max"),                      # the memristor card's periphery
    "card_tight": dict(inp_bits=5, inp_bound=0.5, out_bits=6, out_bound=1.0, out_noise_std=0.2,
                       noise_management="abs_max"),                # saturating ADC, inp_bound != 1
    "no_nm": dict(inp_bits=7, inp_bound=1.0, out_bits=9, out_bound=3.0, out_noise_std=0.05),
    "ir_drop": dict(inp_bits=7, inp_bound=1.0, out_bits=9, out_bound=4.0, ir_drop=0.3, out_noise_std=0.05,
                    noise_management="abs_max"),
    "adc_only": dict(out_bits=8, out_bound=2.0),
    "equal": dict(inp_bits=7, inp_bound=1.0, out_bits=9, out_bound=3.0, tiling="equal", noise_management="abs_max"),
}

CASES = [  # (in ch, out ch, k, stride, padding, H, max_rows, max_cols)
    (3, 5, 3, 1, 1, 8, 9, 2),      # several row blocks (forward) and column blocks (transposed)
    (4, 6, 3, 2, 0, 7, 18, 4),     # stride 2, odd size: output padding
    (2, 3, 2, 1, 0, 6, 64, 64),    # one tile
    (6, 4, 3, 1, 1, 5, 512, 512),  # one tile, padding
    (5, 7, 1, 2, 0, 7, 3, 3),      # 1x1 strided (a skip)
]


def _old_forward(nr, x, w, stride, padding, p, max_rows, w_scale, g_unit, randn):
    """The forward kernel as it was (session 8): torch noise management and DAC, the grouped
    conv, the fused stage, then ``_nm_back``. (Session 10's kernel runs one conv per tile without
    the zero channels: the same bits here; ``test_conv_tile_products`` holds the products to a
    plain float64 read.)"""
    x, s_nm = R._nm_layer(x, p)
    c_out, c_in, kh, kw = w.shape
    sizes = R.conv_block_sizes(c_in, (kh, kw), max_rows, p.tiling)
    nb = len(sizes)
    (sh, sw), (ph, pw) = R._pair(stride), R._pair(padding)
    ho = (x.shape[2] + 2 * ph - kh) // sh + 1
    wo = (x.shape[3] + 2 * pw - kw) // sw + 1
    x_q = R.P.dac(x, p)
    cb = max(sizes)
    xg = R._stack_blocks(x_q, 1, sizes).flatten(1, 2) if nb > 1 or cb != c_in else x_q
    wg = R._stack_blocks(w / w_scale, 1, sizes).transpose(0, 1).reshape(nb * c_out, cb, kh, kw)
    t = F.conv2d(xg, wg, stride=stride, padding=padding, groups=nb).reshape(x.shape[0], nb, c_out * ho * wo)
    cur = None
    if p.ir_drop > 0:
        n = (R._block_counts(sizes, t) * (kh * kw)).view(1, nb, 1)
        c = F.conv2d(xg.abs(), wg.abs(), stride=stride, padding=padding, groups=nb)
        cur = c.reshape(t.shape) / (n * (p.inp_bound * g_unit))
    return R._nm_back(nr._finish(t, cur, None, p, 1.0, w_scale, randn).reshape(x.shape[0], c_out, ho, wo), s_nm)


def _old_transposed(nr, y, w, stride, padding, op, p, max_cols, w_scale, g_unit, randn):
    """The transposed kernel as it was: torch noise management and DAC, the products, the fused
    stage into (B, C_in k k Ho Wo), ``F.fold``, ``_nm_back``."""
    y, s_nm = R._nm_layer(y, p)
    c_out, c_in, kh, kw = w.shape
    b, _, ho, wo = y.shape
    sizes = R.split_sizes(c_out, max_cols, p.tiling)
    nb = len(sizes)
    (sh, sw), (ph, pw), (oph, opw) = R._pair(stride), R._pair(padding), R._pair(op)
    h = (ho - 1) * sh - 2 * ph + kh + oph
    wd = (wo - 1) * sw - 2 * pw + kw + opw
    r = c_in * kh * kw
    y_q = R.P.dac(y, p)
    yb = R._stack_blocks(y_q.reshape(b, c_out, ho * wo), 1, sizes)
    wb = R._stack_blocks((w / w_scale).reshape(c_out, r), 0, sizes).transpose(1, 2)
    t = torch.matmul(wb, yb)
    cur = None
    if p.ir_drop > 0:
        n = R._block_counts(sizes, t).view(1, nb, 1, 1)
        cur = (torch.matmul(wb.abs(), yb.abs()) / (n * (p.inp_bound * g_unit))).reshape(b, nb, r * ho * wo)
    out = nr._finish(t.reshape(b, nb, r * ho * wo), cur, None, p, 1.0, w_scale, randn)
    return R._nm_back(F.fold(out.reshape(b, r, ho * wo), (h, wd), (kh, kw), padding=(ph, pw), stride=(sh, sw)), s_nm)


def _same(a, b):
    assert a.shape == b.shape and a.dtype == b.dtype
    assert torch.equal(a, b), f"max |diff| {float((a - b).abs().max())}"


@pytest.mark.parametrize("name", sorted(PERIPHS))
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_conv_kernels_bit_identical_to_the_pass_by_pass_reads(nr, name, case, dtype):
    c_in, c_out, k, s, pd, hw, mr, mc = case
    p = PeripheryParams(**PERIPHS[name])
    g = torch.Generator().manual_seed(c_in * 100 + c_out * 10 + k)
    x = ((torch.rand((3, c_in, hw, hw), generator=g, dtype=dtype) * 2 - 1) * 1.3)
    x[1] *= 0.01                          # a small sample: noise management scales it up
    w = torch.randn((c_out, c_in, k, k), generator=g, dtype=dtype) * 0.4
    ws = 0.37
    new = nr.conv_forward(x, w, s, pd, p, mr, ws, 1.1, Keyed(41))
    old = _old_forward(nr, x, w, s, pd, p, mr, ws, 1.1, Keyed(41))
    _same(new, old)
    if p.out_noise_std > 0:               # the noise is in it: another key gives another read
        assert not torch.equal(new, nr.conv_forward(x, w, s, pd, p, mr, ws, 1.1, Keyed(42)))
    y = (torch.rand(old.shape, generator=g, dtype=dtype) * 2 - 1) * 0.8
    op = tuple(x.shape[2 + i] - ((old.shape[2 + i] - 1) * s - 2 * pd + k) for i in range(2))
    new_t = nr.conv_transposed(y, w, s, pd, op, p, mc, ws, 1.1, Keyed(43))
    _same(new_t, _old_transposed(nr, y, w, s, pd, op, p, mc, ws, 1.1, Keyed(43)))
    assert new_t.shape == x.shape
    rows = Keyed(43, rows=(1, 5))          # a shard of a larger batch: the noise of its global rows
    _same(nr.conv_transposed(y, w, s, pd, op, p, mc, ws, 1.1, rows),
          _old_transposed(nr, y, w, s, pd, op, p, mc, ws, 1.1, rows))


@pytest.mark.parametrize("name", sorted(PERIPHS))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_conv_kernels_keep_a_channels_last_input(nr, name, dtype):
    """A channels-last input: the DAC runs in its memory order and the product sees the layout the
    torch DAC kept (the same bits as the pass-by-pass read of that input). A channels-last weight
    (the models' storage) or input gives oneDNN's channels-last product, which the one-tile stage
    reads in place (session 10, :func:`numba_reads._stage_cl`): the same bits as its NCHW copy."""
    p = PeripheryParams(**PERIPHS[name])
    g = torch.Generator().manual_seed(7)
    cl = torch.channels_last
    x = (torch.rand((4, 8, 6, 6), generator=g, dtype=dtype) * 2 - 1)
    w = torch.randn((5, 8, 3, 3), generator=g, dtype=dtype) * 0.3
    for xx, ww in ((x.contiguous(memory_format=cl), w), (x, w.contiguous(memory_format=cl))):
        for key in (3, Keyed(3, rows=(2, 9))):
            key = Keyed(key) if isinstance(key, int) else key
            _same(nr.conv_forward(xx, ww, 1, 1, p, 512, 0.5, 1.0, key),
                  _old_forward(nr, xx, ww, 1, 1, p, 512, 0.5, 1.0, key))
        _same(nr.conv_forward(xx, ww, 2, 0, p, 512, 0.5, 1.0, Keyed(5)),       # stride 2, odd output
              _old_forward(nr, xx, ww, 2, 0, p, 512, 0.5, 1.0, Keyed(5)))
    xq, _ = nr._conv_dac(x.contiguous(memory_format=cl), p)
    assert xq.is_contiguous(memory_format=cl)
    y = (torch.rand((4, 5, 6, 6), generator=g, dtype=dtype) * 2 - 1).contiguous(memory_format=cl)
    _same(nr.conv_transposed(y, w, 1, 1, 0, p, 512, 0.5, 1.0, Keyed(4)),
          _old_transposed(nr, y, w, 1, 1, 0, p, 512, 0.5, 1.0, Keyed(4)))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("k,hw", [(2, 8), (2, 4), (2, 2), (3, 9), (1, 5)])
def test_max_pool_equals_torch_with_ties_and_nans(nr, dtype, k, hw):
    g = torch.Generator().manual_seed(k * 10 + hw)
    y = torch.randint(-3, 4, (5, 6, hw, hw), generator=g).to(dtype) * 0.25   # a coarse grid: many ties
    y[0, 0, 0, 0] = float("nan")
    y[1, 2, -1, -1] = float("nan")
    y[2, 1] = float("-inf")                                                 # a plane of -inf
    y[3, 3, :k, :k] = 0.0
    y[3, 3, 0, 0] = -0.0                                                    # -0 and +0 tie
    y[4, 0, :k, :k] = float("nan")                                          # the last NaN is taken
    y[4, 1, 0, :2] = float("inf")
    out, idx = nr.max_pool(y, k)
    ref, ref_idx = F.max_pool2d(y, k, k, return_indices=True)
    assert torch.equal(idx, ref_idx)
    assert torch.equal(out.isnan(), ref.isnan())
    same = ~ref.isnan()
    assert torch.equal(out[same], ref[same])
    assert torch.equal(torch.signbit(out[same]), torch.signbit(ref[same]))


def test_parallel_drivers_give_the_same_bits(nr, monkeypatch):
    """The parallel drivers (numba's pool above one thread) run the row bodies of the one-thread
    drivers: the same bits."""
    p = PeripheryParams(**PERIPHS["card"])
    g = torch.Generator().manual_seed(11)
    x = torch.rand((3, 4, 6, 6), generator=g) * 2 - 1
    w = torch.randn((5, 4, 3, 3), generator=g) * 0.3
    y = torch.rand((3, 5, 6, 6), generator=g) * 2 - 1
    reads = lambda: (nr.conv_forward(x, w, 1, 1, p, 18, 0.5, 1.0, Keyed(5)),          # noqa: E731
                     nr.conv_forward(x, w.contiguous(memory_format=torch.channels_last), 1, 1, p, 512, 0.5,
                                     1.0, Keyed(5)),
                     nr.conv_transposed(y, w, 1, 1, 0, p, 3, 0.5, 1.0, Keyed(6)), *nr.max_pool(y, 2))
    monkeypatch.setattr(nr, "_SERIAL", True)
    one = reads()
    monkeypatch.setattr(nr, "_SERIAL", False)
    for a, b in zip(one, reads()):
        _same(a, b)


def test_select_pool_rules(nr):
    """The numba max-pool runs NCHW-contiguous float CPU tensors without autograd under numba /
    auto; torch's everywhere else (and ``ran`` says which)."""
    y = torch.rand(2, 3, 4, 4)
    assert K.select_pool(y, 2, "numba") is nr.max_pool and K.ran()["max_pool"] == "numba"
    assert K.select_pool(y, 2, "auto") is nr.max_pool
    assert K.select_pool(y, 2, "torch") is None and K.ran()["max_pool"] == "torch"
    assert K.select_pool(y.contiguous(memory_format=torch.channels_last), 2, "numba") is None
    assert K.select_pool(y.half(), 2, "numba") is None
    assert K.select_pool(torch.empty(2, 3, 4, 4, device="meta"), 2, "numba") is None
    assert K.select_pool(torch.rand(2, 3, 5, 4), 2, "numba") is None          # 2 does not divide 5
    g = y.clone().requires_grad_()
    assert K.select_pool(g, 2, "numba") is None                                 # autograd needs torch's
    with torch.no_grad():
        assert K.select_pool(g, 2, "numba") is nr.max_pool


def test_convpool_on_tiles_pools_as_torch(nr):
    """A ConvPool on analog storage: its read (conv read, then the storage's max-pool) and the
    pooling indices its transposed read uses equal those of the torch pool on the same conv read."""
    from analog_ep.analog.rules import SoftBounds
    from analog_ep.analog.storage import AnalogStorage
    from analog_ep.synapses.conv import ConvPool
    syn = ConvPool((3, 8, 8), 4, generator=torch.Generator().manual_seed(1))
    p = PeripheryParams(inp_bits=7, inp_bound=1.0, out_bits=5, out_bound=1.0, noise_management="abs_max")
    syn.storage = AnalogStorage(syn.weight.detach().clone(), SoftBounds(), p, max_rows=512, max_cols=512, seed=2)
    x = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(3))
    out = {}
    for mode in ("numba", "torch"):
        K.set_mode(mode)
        syn.clear_cache()
        with torch.no_grad():
            conv = syn._conv(x)                          # the read the pool sees (noiseless card)
            out[mode] = (syn.read(x), syn._indices(x), conv)
        assert K.ran()["max_pool"] == mode
    _same(out["numba"][2], out["torch"][2])
    ref, ref_idx = F.max_pool2d(out["torch"][2], 2, 2, return_indices=True)
    _same(out["numba"][0], ref)
    _same(out["numba"][1], ref_idx)
    _same(out["torch"][0], ref)


FOLDS = [  # (C_in, k (kh, kw), padding (ph, pw), Ho, Wo): stride-1 geometries of the transposed read
    (32, (3, 3), (1, 1), 16, 16),   # dchn_vgg5's conv 2 (same conv)
    (64, (3, 3), (1, 1), 4, 4),     # its conv 4
    (3, (3, 3), (0, 0), 5, 7),      # valid conv, non-square map
    (2, (5, 5), (2, 2), 6, 6),      # larger kernel and padding
    (4, (2, 3), (0, 1), 5, 4),      # non-square kernel, padding on one axis
    (5, (3, 3), (2, 2), 3, 3),      # padding wider than the kernel's reach: border pixels get nothing
    (3, (1, 1), (0, 0), 4, 6),      # 1x1
]


@pytest.mark.parametrize("geom", FOLDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_stride_one_fold_through_the_bordered_image_is_aten_col2im(nr, geom, dtype):
    """Session 12: a stride-1 fold adds whole rows into a zero-bordered image and copies its
    interior (:func:`numba_reads._fold_row_pad`): bit for bit ``F.fold`` (aten's col2im) and the
    row-clipped fold it replaces, on partials whose sum depends on the order of the adds (random
    magnitudes over eight decades: adding a pixel's patches in another order changes its bits,
    checked)."""
    import numpy as np
    c_in, (kh, kw), (ph, pw), ho, wo = geom
    h, w = ho - 1 - 2 * ph + kh, wo - 1 - 2 * pw + kw
    g = torch.Generator().manual_seed(c_in * 7 + kh * 3 + ph)
    col = (torch.randn((c_in * kh * kw, ho * wo), generator=g, dtype=dtype)
           * 10.0 ** torch.randint(-4, 5, (c_in * kh * kw, ho * wo), generator=g).to(dtype))
    ref = F.fold(col.unsqueeze(0), (h, w), (kh, kw), padding=(ph, pw)).reshape(-1)
    geo = np.array([c_in, kh, kw, ho, wo, h, w, 1, 1, ph, pw, 0], dtype=np.int64)
    assert nr._pads(geo)
    img = torch.full((c_in * h * w,), float("nan"), dtype=dtype)
    pad = np.full(nr._pad_size(geo), np.nan, dtype=col.numpy().dtype)        # stale contents are cleared
    nr._fold_row_pad(col.numpy().reshape(-1), img.numpy(), pad, geo)
    _same(img, ref)
    old = torch.empty_like(img)
    nr._fold_row(col.numpy().reshape(-1), old.numpy(), geo)
    _same(old, ref)
    if kh * kw > 1:   # the data is order-sensitive: a pixel's patches summed in aten's order (0 + p_0 + p_1
        # ...: each patch offset's fold alone is exact) give ref, summed last to first they do not
        kk = kh * kw
        parts = [F.fold((col * (torch.arange(c_in * kk) % kk == i).to(dtype).unsqueeze(1)).unsqueeze(0),
                        (h, w), (kh, kw), padding=(ph, pw)).reshape(-1) for i in range(kk)]
        fwd, rev = parts[0], parts[-1]
        for i in range(1, kk):
            fwd, rev = fwd + parts[i], rev + parts[kk - 1 - i]
        _same(fwd, ref)
        assert not torch.equal(rev, ref)


def test_a_strided_fold_keeps_the_clipped_rows(nr):
    """Stride 2 (or an output padding) does not take the bordered image (:func:`numba_reads._pads`)."""
    import numpy as np
    assert not nr._pads(np.array([4, 3, 3, 4, 4, 7, 7, 2, 2, 1, 1, 0], dtype=np.int64))
    assert nr._pad_size(np.array([4, 3, 3, 4, 4, 7, 7, 2, 2, 1, 1, 0], dtype=np.int64)) == 1
    assert not nr._pads(np.array([4, 3, 3, 4, 4, 5, 5, 1, 1, 1, 1, 0], dtype=np.int64))   # h != Ho + k - 1 - 2p
