"""The conv read kernels' tile products (session 10) against a plain float64 implementation of the
crossbar read: per channel-block tile an ``unfold`` and a matrix product in float64 (forward), per
column tile a matrix product then ``F.fold`` (transposed), the tile's IR drop and ADC, the digital
sum, the layer noise-management scale.

The kernels compute each tile's product with oneDNN / BLAS in float32 (forward: one ``conv2d`` per
tile over its own channels), so their partials differ from the exact ones by float rounding only:

* without an ADC, every output equals the plain read to float tolerance (a bound from the rows a
  partial sums and their magnitudes, ``|w| . |x|``);
* with an ADC, an output may differ from the plain read only where a tile's exact partial lies
  within that float tolerance of an ADC level boundary, by one level per such tile (the ADC sees
  a product on the other side of the boundary); everywhere else the converted outputs agree to
  float tolerance, and such outputs are rare.

Noise off (the output noise is the same keyed stream before and after; ``test_kernels_conv_fused``
checks it bit for bit against the pass-by-pass reads).
"""

import math

import pytest
import torch
import torch.nn.functional as F

from analog_ep.analog import periphery as P
from analog_ep.analog import reads as R
from analog_ep.analog.periphery import PeripheryParams
from conftest import kernels_mode


@pytest.fixture
def nr():
    pytest.importorskip("numba")
    from analog_ep.analog.kernels import numba_reads
    with kernels_mode("torch"):
        yield numba_reads


PERIPHS = {   # no output noise: the products are what is compared
    "no_adc": dict(inp_bits=7, inp_bound=1.0, noise_management="abs_max", out_bound=1e6),
    "no_adc_ir": dict(inp_bits=7, inp_bound=1.0, ir_drop=0.3, out_bound=1e6),
    "card": dict(inp_bits=7, inp_bound=1.0, out_bits=9, out_bound=12.0, noise_management="abs_max"),
    "fine_adc": dict(inp_bits=7, inp_bound=1.0, out_bits=13, out_bound=2.0, noise_management="abs_max"),
    "ir_adc": dict(inp_bits=7, inp_bound=1.0, out_bits=9, out_bound=4.0, ir_drop=0.3),
    "equal": dict(inp_bits=7, inp_bound=1.0, out_bits=10, out_bound=3.0, tiling="equal"),
}

CASES = [  # (in ch, out ch, k, stride, padding, H, max_rows, max_cols)
    (64, 16, 3, 1, 1, 8, 512, 512),   # the model's 576-row layer: tiles of 56 + 8 channels, one column tile
    (20, 6, 3, 2, 1, 9, 27, 4),       # 3 channels a tile (7 tiles, the last short), stride 2, odd size
    (7, 5, 3, 1, 0, 6, 36, 2),        # 4 + 3 channels, no padding; 3 column tiles
    (5, 7, 1, 2, 0, 7, 3, 3),         # 1x1 strided
    (6, 9, 3, 1, 1, 5, 512, 512),     # one tile each way
]


def _eps(dtype):
    return 2.0 ** -24 if dtype == torch.float32 else 2.0 ** -53


def _tol(t, mag, rows, dtype):
    """Float rounding of a tile partial ``t`` summed over ``rows`` products of magnitude sum ``mag``
    in ``dtype`` (a blocked sum's error grows as sqrt(rows) units of ``mag``; the scale and
    divisions around it, units of ``|t|``), with a margin of 4."""
    return 4 * _eps(dtype) * (math.sqrt(rows) * mag + 4 * t.abs())


def _quantize(t, p):
    return P.quantize_(t.clone(), p.out_bits, p.out_bound)


def _near(t, tol, p):
    """Partials whose exact value ``t`` lies within ``tol`` of an ADC level boundary (a rounding
    threshold below the full scale): the ADC may put a float-rounded product on either side."""
    if p.out_bits is None:
        return torch.zeros_like(t, dtype=torch.bool)
    step = p.out_bound / (2 ** (p.out_bits - 1) - 1)
    frac = t / step - torch.floor(t / step)
    return ((frac - 0.5).abs() * step <= tol) & (t.abs() < p.out_bound)


def _ir(t, mag, n_lines, p, g_unit):
    if p.ir_drop == 0:
        return t
    return t * (1 - p.ir_drop * (mag / (n_lines * p.inp_bound * g_unit)).clamp(0, 1))


def _plain_forward(x, w, s, pd, p, max_rows, ws, g_unit):
    """(out, tolerance, near tiles per output), float64, shapes of the read's output."""
    xs, snm = R._nm_layer(x, p)
    xq = P.dac(xs, p)
    wd = w / ws                                      # the device weights in the read's dtype
    c_out, c_in, k, _ = w.shape
    b = x.shape[0]
    sizes = R.conv_block_sizes(c_in, k, max_rows, p.tiling)
    tot = tol = near = 0
    for sl, n in zip(R._slices(sizes), sizes):
        u = F.unfold(xq[:, sl].double(), k, padding=pd, stride=s)          # (B, n k k, L)
        wi = wd[:, sl].double().reshape(c_out, -1)
        t, mag = wi @ u, wi.abs() @ u.abs()                                  # (B, C_out, L)
        t = _ir(t, mag, n * k * k, p, g_unit)
        e = _tol(t, mag, n * k * k, x.dtype)
        tot = tot + _quantize(t, p)
        tol = tol + e
        near = near + _near(t, e, p).long()
    sc = torch.ones(b, 1, 1, dtype=torch.float64) if snm is None else snm.double().view(b, 1, 1)
    ho = (x.shape[2] + 2 * pd - k) // s + 1
    shape = (b, c_out, ho, (x.shape[3] + 2 * pd - k) // s + 1)
    return ((ws * tot * sc).reshape(shape), (ws * tol * sc).reshape(shape), near.reshape(shape),
            (ws * sc).reshape(b, 1, 1, 1))


def _plain_transposed(y, w, s, pd, op, p, max_cols, ws, g_unit, hw):
    ys, snm = R._nm_layer(y, p)
    yq = P.dac(ys, p)
    wd = w / ws
    c_out, c_in, k, _ = w.shape
    b, _, ho, wo = y.shape
    r = c_in * k * k
    sizes = R.split_sizes(c_out, max_cols, p.tiling)
    tot = tol = near = 0
    for sl, n in zip(R._slices(sizes), sizes):
        yi = yq[:, sl].double().reshape(b, n, ho * wo)
        wi = wd[sl].double().reshape(n, r).t()                               # (R, n)
        t, mag = wi @ yi, wi.abs() @ yi.abs()                                # (B, R, L)
        t = _ir(t, mag, n, p, g_unit)
        e = _tol(t, mag, n, y.dtype)
        tot = tot + _quantize(t, p)
        tol = tol + e + 8 * _eps(y.dtype) * _quantize(t, p).abs()           # the fold's sums
        near = near + _near(t, e, p).double()
    fold = lambda c: F.fold(c, hw, k, padding=pd, stride=s)                  # noqa: E731
    sc = torch.ones(b, 1, 1, 1, dtype=torch.float64) if snm is None else snm.double().view(b, 1, 1, 1)
    return ws * fold(tot) * sc, ws * fold(tol) * sc, fold(near).round().long(), ws * sc


def _level(p):
    return 1.0 if p.out_bits is None else p.out_bound / (2 ** (p.out_bits - 1) - 1)


def _check(out, ref, tol, near, unit, p):
    """Every output within ``tol`` of the plain read, but one level per near tile where a tile's
    partial sits on a level boundary; returns the fraction of outputs a level away."""
    d = out.double() - ref
    lv = unit * _level(p)                                       # one ADC level in output units
    k = torch.round(d / lv) if p.out_bits is not None else torch.zeros_like(d)
    assert bool((k.abs() <= near).all()), "an output moved by more levels than its tiles on a boundary"
    slack = tol + 1e-9 * lv if p.out_bits is not None else tol
    assert bool(((d - k * lv).abs() <= slack).all()), f"max excess {float(((d - k * lv).abs() - slack).max())}"
    return float((k != 0).double().mean())


@pytest.mark.parametrize("name", sorted(PERIPHS))
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_conv_tile_products_equal_the_plain_read_but_for_float_order(nr, name, case, dtype):
    c_in, c_out, k, s, pd, hw, mr, mc = case
    p = PeripheryParams(**PERIPHS[name])
    g = torch.Generator().manual_seed(c_in * 100 + c_out * 10 + k)
    x = (torch.rand((3, c_in, hw, hw), generator=g, dtype=dtype) * 2 - 1) * 1.3
    x[1] *= 0.01
    w = torch.randn((c_out, c_in, k, k), generator=g, dtype=dtype) * 0.4
    ws, gu = 0.37, 1.1
    out = nr.conv_forward(x, w, s, pd, p, mr, ws, gu)
    ref, tol, near, unit = _plain_forward(x, w, s, pd, p, mr, ws, gu)
    moved = _check(out, ref, tol, near, unit, p)
    y = (torch.rand(out.shape, generator=g, dtype=dtype) * 2 - 1) * 0.8
    op = tuple(x.shape[2 + i] - ((out.shape[2 + i] - 1) * s - 2 * pd + k) for i in range(2))
    out_t = nr.conv_transposed(y, w, s, pd, op, p, mc, ws, gu)
    ref_t, tol_t, near_t, unit_t = _plain_transposed(y, w, s, pd, op, p, mc, ws, gu, (hw, hw))
    moved_t = _check(out_t, ref_t, tol_t, near_t, unit_t, p)
    assert moved <= 0.01 and moved_t <= 0.01


def test_the_check_sees_a_wrong_product(nr, monkeypatch):
    """The check above fails for a product off by more than float rounding (one input channel of a
    tile dropped), with and without an ADC."""
    real = F.conv2d

    def drop_first_channel(x, w, *a, **kw):
        return real(x[:, 1:], w[:, 1:], *a, **kw) if x.shape[1] > 1 else real(x, w, *a, **kw)

    g = torch.Generator().manual_seed(5)
    x = torch.rand((2, 64, 6, 6), generator=g) * 2 - 1
    w = torch.randn((8, 64, 3, 3), generator=g) * 0.4
    monkeypatch.setattr(nr.F, "conv2d", drop_first_channel)
    for name in ("no_adc", "card"):
        p = PeripheryParams(**PERIPHS[name])
        out = nr.conv_forward(x, w, 1, 1, p, 512, 0.37, 1.1)
        with pytest.raises(AssertionError):
            _check(out, *_plain_forward(x, w, 1, 1, p, 512, 0.37, 1.1), p)


def test_pooled_read_on_two_tiles_moves_at_most_one_level(nr):
    """A ConvPool on analog storage of a 576-row layer (two tiles): its pooled read under the numba
    kernels and under the torch reference (the grouped conv) agree but for outputs one level apart,
    and those are rare."""
    from analog_ep.analog import kernels as K
    from analog_ep.analog.rules import SoftBounds
    from analog_ep.analog.storage import AnalogStorage
    from analog_ep.synapses.conv import ConvPool
    syn = ConvPool((64, 8, 8), 16, generator=torch.Generator().manual_seed(1))
    p = PeripheryParams(**PERIPHS["card"])
    syn.storage = AnalogStorage(syn.weight.detach().clone(), SoftBounds(), p, max_rows=512, max_cols=512, seed=2)
    x = torch.rand(4, 64, 8, 8, generator=torch.Generator().manual_seed(3))
    out = {}
    for mode in ("numba", "torch"):
        K.set_mode(mode)
        syn.clear_cache()
        with torch.no_grad():
            out[mode] = syn.read(x)
        assert K.ran()["conv_forward"] == mode
    s = x.abs().reshape(4, -1).amax(1).view(4, 1, 1, 1)           # the layer noise-management scale
    lv = syn.storage.w_scale * s * _level(p)
    k = torch.round((out["numba"] - out["torch"]) / lv)
    assert bool(((out["numba"] - out["torch"] - k * lv).abs() <= 1e-5 * lv).all())
    assert bool((k.abs() <= 1).all()) and float((k != 0).float().mean()) <= 0.01
