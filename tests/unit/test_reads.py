"""The four crossbar read kinds (analog_ep.analog.reads) against deliberately plain references.

Each reference is explicit Python loops over samples, tiles and (for convs) output pixels, with
patches taken by index arithmetic, applying per tile and per read:
DAC -> product -> first-order IR drop -> ADC -> digital sum (-> fold by index accumulation for the
transposed conv). The converters are re-written here as a scalar function of the module doc's
formula so the references share nothing with the code under test but the DAC of the inputs.
"""

import math

import pytest
import torch
import torch.nn.functional as F

from analog_ep.analog import periphery as P
from analog_ep.analog import reads as R
from analog_ep.analog.periphery import PeripheryParams
from analog_ep.errors import ConfigError

W_SCALE, G_UNIT = 0.7, 1.25
DT = torch.float64


# ------------------------------------------------------------------------------ plain references
def q(v: float, bits, bound) -> float:
    """One converter on one value: clip to [-bound, bound], then D round(v / D)."""
    if bound is None:
        return v
    v = min(max(v, -bound), bound)
    if bits is None:
        return v
    if bits == 1:
        return bound if v >= 0 else -bound
    d = bound / (2 ** (bits - 1) - 1)
    return round(v / d) * d


class Stage:
    """IR drop + ADC of one read's output line, counting ADC clips (to show they happen)."""

    def __init__(self, p: PeripheryParams):
        self.p, self.clipped = p, 0

    def __call__(self, t: float, cur: float, n_lines: int) -> float:
        p = self.p
        if p.ir_drop > 0:
            rel = min(max(cur / (n_lines * p.inp_bound * G_UNIT), 0.0), 1.0)
            t = t * (1.0 - p.ir_drop * rel)
        if p.out_bound is not None and abs(t) > p.out_bound:
            self.clipped += 1
        return q(t, p.out_bits, p.out_bound)


def dac_list(x, p):
    return P.dac(x, p).tolist()


def ref_dense(x, w, p, max_rows, stage):
    xq, wd = dac_list(x, p), (w / W_SCALE).tolist()
    n_out, n_in = w.shape
    out = [[0.0] * n_out for _ in xq]
    for b, xb in enumerate(xq):
        for start in range(0, n_in, max_rows):
            rows = range(start, min(start + max_rows, n_in))
            for j in range(n_out):
                t = sum(xb[r] * wd[j][r] for r in rows)
                cur = sum(abs(xb[r]) * abs(wd[j][r]) for r in rows)
                out[b][j] += W_SCALE * stage(t, cur, len(rows))
    return torch.tensor(out, dtype=DT)


def ref_dense_t(y, w, p, max_cols, stage):
    yq, wd = dac_list(y, p), (w / W_SCALE).tolist()
    n_out, n_in = w.shape
    out = [[0.0] * n_in for _ in yq]
    for b, yb in enumerate(yq):
        for start in range(0, n_out, max_cols):
            cols = range(start, min(start + max_cols, n_out))
            for i in range(n_in):
                t = sum(yb[c] * wd[c][i] for c in cols)
                cur = sum(abs(yb[c]) * abs(wd[c][i]) for c in cols)
                out[b][i] += W_SCALE * stage(t, cur, len(cols))
    return torch.tensor(out, dtype=DT)


def out_size(n, k, s, pad):
    return (n + 2 * pad - k) // s + 1


def ref_conv(x, w, s, pad, p, max_rows, stage):
    xq, wd = dac_list(x, p), (w / W_SCALE).tolist()
    c_out, c_in, k, _ = w.shape
    _, _, h, wid = x.shape
    ho, wo = out_size(h, k, s, pad), out_size(wid, k, s, pad)
    cb = max_rows // (k * k)
    out = [[[[0.0] * wo for _ in range(ho)] for _ in range(c_out)] for _ in xq]
    for b, xb in enumerate(xq):
        for oh in range(ho):
            for ow in range(wo):
                # the patch read at this pixel: (channel, ki, kj) -> input value (0 outside)
                def px(c, ki, kj):
                    ih, iw = oh * s - pad + ki, ow * s - pad + kj
                    return xb[c][ih][iw] if 0 <= ih < h and 0 <= iw < wid else 0.0
                for start in range(0, c_in, cb):
                    chans = range(start, min(start + cb, c_in))
                    lines = [(c, ki, kj) for c in chans for ki in range(k) for kj in range(k)]
                    for co in range(c_out):
                        t = sum(px(*l) * wd[co][l[0]][l[1]][l[2]] for l in lines)
                        cur = sum(abs(px(*l)) * abs(wd[co][l[0]][l[1]][l[2]]) for l in lines)
                        out[b][co][oh][ow] += W_SCALE * stage(t, cur, len(lines))
    return torch.tensor(out, dtype=DT)


def ref_conv_t(y, w, s, pad, op, p, max_cols, stage):
    yq, wd = dac_list(y, p), (w / W_SCALE).tolist()
    c_out, c_in, k, _ = w.shape
    _, _, ho, wo = y.shape
    h = (ho - 1) * s - 2 * pad + k + op[0]
    wid = (wo - 1) * s - 2 * pad + k + op[1]
    out = [[[[0.0] * wid for _ in range(h)] for _ in range(c_in)] for _ in yq]
    for b, yb in enumerate(yq):
        for oh in range(ho):
            for ow in range(wo):  # one transposed read per forward output pixel
                patch = {}
                for start in range(0, c_out, max_cols):
                    cols = range(start, min(start + max_cols, c_out))
                    for ci in range(c_in):
                        for ki in range(k):
                            for kj in range(k):
                                t = sum(yb[c][oh][ow] * wd[c][ci][ki][kj] for c in cols)
                                cur = sum(abs(yb[c][oh][ow]) * abs(wd[c][ci][ki][kj]) for c in cols)
                                key = (ci, ki, kj)
                                patch[key] = patch.get(key, 0.0) + W_SCALE * stage(t, cur, len(cols))
                for (ci, ki, kj), v in patch.items():  # the fold: add the patch where it belongs
                    ih, iw = oh * s - pad + ki, ow * s - pad + kj
                    if 0 <= ih < h and 0 <= iw < wid:
                        out[b][ci][ih][iw] += v
    return torch.tensor(out, dtype=DT)


# ------------------------------------------------------------------------------ settings
PERIPH = {
    # DAC bits, ADC bits + a bound that clips, IR drop
    "dac_adc_ir": PeripheryParams(inp_bits=4, inp_bound=1.5, out_bits=5, out_bound=1.0, ir_drop=0.3),
    # coarse ADC, clipping-only DAC, strong IR drop
    "coarse_adc_ir": PeripheryParams(inp_bound=1.0, out_bits=3, out_bound=0.8, ir_drop=0.6),
    # 1-bit DAC (zero inputs would drive +B: padding must stay undriven), clip-only ADC, IR drop
    "sign_dac_clip": PeripheryParams(inp_bits=1, inp_bound=0.5, out_bound=0.3, ir_drop=0.5),
    # ADC only
    "adc_only": PeripheryParams(out_bits=4, out_bound=1.2),
}


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _w(shape, seed):
    """Effective weights W_SCALE * w_dev with w_dev uniform in [-G_UNIT, G_UNIT]."""
    return W_SCALE * G_UNIT * (2 * torch.rand(shape, generator=_gen(seed), dtype=DT) - 1)


def _x(shape, seed, scale=1.0):
    return scale * torch.randn(shape, generator=_gen(seed), dtype=DT)


def _close(a, b):
    torch.testing.assert_close(a, b, atol=1e-10, rtol=0)


def _op(n, k, s, pad):
    return (n + 2 * pad - k) % s


# ------------------------------------------------------------------------------ exact comparisons
@pytest.mark.parametrize("pname", list(PERIPH))
@pytest.mark.parametrize("max_rows", [3, 4, 10, 64])
def test_dense_read_matches_reference(pname, max_rows):
    p = PERIPH[pname]
    x, w = _x((3, 10), 1), _w((5, 10), 2)
    stage = Stage(p)
    _close(R.dense_read(x, w, p, max_rows, W_SCALE, G_UNIT), ref_dense(x, w, p, max_rows, stage))
    assert stage.clipped > 0  # the ADC's bound is reached


@pytest.mark.parametrize("pname", list(PERIPH))
@pytest.mark.parametrize("max_cols", [2, 3, 7, 64])
def test_dense_read_t_matches_reference(pname, max_cols):
    p = PERIPH[pname]
    y, w = _x((3, 7), 3), _w((7, 6), 4)
    stage = Stage(p)
    _close(R.dense_read_t(y, w, p, max_cols, W_SCALE, G_UNIT), ref_dense_t(y, w, p, max_cols, stage))
    assert stage.clipped > 0


GEOMS = [  # (stride, padding, H, W)
    (1, 0, 5, 5), (1, 1, 5, 4), (2, 0, 6, 5), (2, 1, 5, 6), (2, 1, 7, 7)]


@pytest.mark.parametrize("pname", list(PERIPH))
@pytest.mark.parametrize("geom", GEOMS)
@pytest.mark.parametrize("max_rows", [9, 18, 100])  # 1 channel per tile, blocks of [2, 1], one tile
def test_conv_read_matches_reference(pname, geom, max_rows):
    p = PERIPH[pname]
    s, pad, h, wid = geom
    x, w = _x((2, 3, h, wid), 5), _w((4, 3, 3, 3), 6)
    stage = Stage(p)
    _close(R.conv_read(x, w, s, pad, p, max_rows, W_SCALE, G_UNIT), ref_conv(x, w, s, pad, p, max_rows, stage))
    assert stage.clipped > 0


@pytest.mark.parametrize("pname", list(PERIPH))
@pytest.mark.parametrize("geom", GEOMS)
@pytest.mark.parametrize("max_cols", [2, 3, 64])  # blocks of [2, 2, 1], [3, 2], one tile
def test_conv_read_t_matches_reference(pname, geom, max_cols):
    p = PERIPH[pname]
    s, pad, h, wid = geom
    w = _w((5, 3, 3, 3), 7)
    op = (_op(h, 3, s, pad), _op(wid, 3, s, pad))
    y = _x((2, 5, out_size(h, 3, s, pad), out_size(wid, 3, s, pad)), 8)
    stage = Stage(p)
    got = R.conv_read_t(y, w, s, pad, op, p, max_cols, W_SCALE, G_UNIT)
    assert got.shape == (2, 3, h, wid)  # the pre node's exact shape
    _close(got, ref_conv_t(y, w, s, pad, op, p, max_cols, stage))
    assert stage.clipped > 0


def test_geometries_cover_output_padding():
    assert any(_op(h, 3, s, pad) or _op(wid, 3, s, pad) for s, pad, h, wid in GEOMS)


# ------------------------------------------------------------------------------ the old bugs
def test_conv_read_t_digitizes_every_read_before_the_fold():
    """Old behaviour: one ADC (and one noise draw) after conv_transpose2d summed k*k reads."""
    p = PeripheryParams(out_bits=4, out_bound=1.0)
    w = _w((4, 3, 3, 3), 9)
    y = _x((2, 4, 3, 3), 10)
    got = R.conv_read_t(y, w, 2, 1, (0, 0), p, 64, W_SCALE, G_UNIT)
    old = W_SCALE * P.adc(F.conv_transpose2d(y, w / W_SCALE, stride=2, padding=1), p)
    assert (got - old).abs().max() > 1e-3
    _close(got, ref_conv_t(y, w, 2, 1, (0, 0), p, 64, Stage(p)))
    # the per-read ADC bounds each patch entry, not the folded sum: folded values exceed the bound
    assert got.abs().max() > W_SCALE * p.out_bound + 1e-9


def _reads(p, x_dense, x_conv, randn=None, rows=4, cols=2):
    """All four kinds on fixed weights (dense: in 10, out 5; conv: 3 -> 5 channels, k 3)."""
    wd, wc = _w((5, 10), 11), _w((5, 3, 3, 3), 12)
    y_dense = x_dense[:, :5]
    y_conv = torch.cat([x_conv, x_conv[:, :2]], 1)[:, :, :3, :3]  # (B, 5, 3, 3) from a 5x5 input
    return [R.dense_read(x_dense, wd, p, rows, W_SCALE, G_UNIT, randn),
            R.dense_read_t(y_dense, wd, p, cols, W_SCALE, G_UNIT, randn),
            R.conv_read(x_conv, wc, 1, 0, p, 2 * 9, W_SCALE, G_UNIT, randn),
            R.conv_read_t(y_conv, wc, 2, 1, (0, 0), p, cols, W_SCALE, G_UNIT, randn)]


def test_ir_drop_of_a_sample_does_not_depend_on_its_batch():
    p = PeripheryParams(inp_bound=100.0, ir_drop=0.5)
    xd, xc = _x((1, 10), 13), _x((1, 3, 5, 5), 14)
    alone = _reads(p, xd, xc)
    batch = _reads(p, torch.cat([xd, 50 * _x((1, 10), 15)]), torch.cat([xc, 50 * _x((1, 3, 5, 5), 16)]))
    no_ir = _reads(PeripheryParams(inp_bound=100.0), xd, xc)
    for a, b, n in zip(alone, batch, no_ir):
        _close(b[:1], a)
        assert (a - n).abs().max() > 1e-6  # IR drop acts


def test_ir_drop_uses_each_tiles_own_row_count():
    """All lines at the DAC bound through devices at full conductance: every tile, short or not,
    carries its full current and loses exactly ir_drop of its output."""
    p = PeripheryParams(inp_bound=0.5, ir_drop=0.25)
    x = torch.full((2, 10), 0.5, dtype=DT)
    w = torch.full((3, 10), W_SCALE * G_UNIT, dtype=DT)
    for rows in (3, 4, 10):  # tiles of [3, 3, 3, 1], [4, 4, 2], [10]
        _close(R.dense_read(x, w, p, rows, W_SCALE, G_UNIT), 0.75 * x @ w.T)
    y = torch.full((2, 3), -0.5, dtype=DT)
    _close(R.dense_read_t(y, w, p, 2, W_SCALE, G_UNIT), 0.75 * y @ w)
    # half the drive on every line of a tile: half the relative current
    _close(R.dense_read(x / 2, w, p, 4, W_SCALE, G_UNIT), (1 - 0.125) * (x / 2) @ w.T)


def test_first_order_ir_drop_closed_form_on_one_tile():
    """One tile, mixed signs, by hand: a line's output shrinks by ir_drop times its current
    sum_r |x_r| |w_dev,r| relative to all rows at the DAC bound through full conductance."""
    p = PeripheryParams(inp_bound=1.0, ir_drop=0.2)
    w_dev = torch.tensor([[0.5, -1.0, 1.0, 0.25], [0.0, 0.0, 0.0, 0.0]], dtype=DT)
    w = W_SCALE * w_dev
    x = torch.tensor([[1.0, 0.5, 0.0, -1.0]], dtype=DT)
    y = R.dense_read(x, w, p, 4, W_SCALE, 1.0)
    rel = (1 * 0.5 + 0.5 * 1.0 + 0 + 1 * 0.25) / 4
    assert y[0, 0].item() == pytest.approx((x @ w.T)[0, 0].item() * (1 - 0.2 * rel), abs=1e-12)
    assert y[0, 1].item() == 0.0
    # transposed: the 2 columns are the driven lines, the 4 rows carry the currents
    d = torch.tensor([[0.8, -0.6]], dtype=DT)
    xt = R.dense_read_t(d, w, p, 2, W_SCALE, 1.0)
    rel_t = (d.abs() @ w_dev.abs()) / 2
    _close(xt, (d @ w) * (1 - 0.2 * rel_t))


def test_ir_drop_needs_the_dac_bound():
    p = PeripheryParams(ir_drop=0.1)
    with pytest.raises(ConfigError, match="inp_bound"):
        R.dense_read(_x((1, 4), 0), _w((2, 4), 0), p, 4, W_SCALE, G_UNIT)
    with pytest.raises(ConfigError, match="inp_bound"):
        R.dense_read_t(_x((1, 2), 0), _w((2, 4), 0), p, 4, W_SCALE, G_UNIT)
    with pytest.raises(ConfigError, match="inp_bound"):
        R.conv_read(_x((1, 1, 3, 3), 0), _w((1, 1, 3, 3), 0), 1, 0, p, 9, W_SCALE, G_UNIT)
    with pytest.raises(ConfigError, match="inp_bound"):
        R.conv_read_t(_x((1, 1, 1, 1), 0), _w((1, 1, 3, 3), 0), 1, 0, (0, 0), p, 9, W_SCALE, G_UNIT)


# ------------------------------------------------------------------------------ ideal periphery
@pytest.mark.parametrize("rows,cols", [(1, 1), (3, 2), (9, 3), (18, 4), (1000, 1000)])
def test_ideal_periphery_equals_the_float_op(rows, cols):
    x, w = _x((3, 10), 17), _w((5, 10), 18)
    y = _x((3, 5), 19)
    xc, wc = _x((2, 3, 7, 6), 20), _w((4, 3, 3, 3), 21)
    # ideal, and a non-ideal output stage that changes nothing (huge ADC bound: the tiled path)
    for p in (PeripheryParams(), PeripheryParams(out_bound=1e9)):
        assert R.output_stage_ideal(p) == (p.out_bound is None)
        _close(R.dense_read(x, w, p, rows, W_SCALE, G_UNIT), F.linear(x, w))
        _close(R.dense_read_t(y, w, p, cols, W_SCALE, G_UNIT), y @ w)
        for s, pad in ((1, 0), (1, 1), (2, 1), (2, 0)):
            rows_c = max(rows, 9)
            _close(R.conv_read(xc, wc, s, pad, p, rows_c, W_SCALE, G_UNIT), F.conv2d(xc, wc, stride=s, padding=pad))
            op = (_op(7, 3, s, pad), _op(6, 3, s, pad))
            yc = _x((2, 4, out_size(7, 3, s, pad), out_size(6, 3, s, pad)), 22)
            _close(R.conv_read_t(yc, wc, s, pad, op, p, cols, W_SCALE, G_UNIT),
                   F.conv_transpose2d(yc, wc, stride=s, padding=pad, output_padding=op))


def test_output_stage_ideal():
    assert R.output_stage_ideal(PeripheryParams(inp_bits=3, inp_bound=1.0, w_noise_std=0.1))
    for kw in ({"out_bits": 4, "out_bound": 1.0}, {"out_bound": 1.0}, {"out_noise_std": 0.01},
               {"ir_drop": 0.1, "inp_bound": 1.0}):
        assert not R.output_stage_ideal(PeripheryParams(**kw))


# ------------------------------------------------------------------------------ output noise
class Recorder:
    def __init__(self, seed=0):
        self.shapes, self.draws, self.gen = [], [], _gen(seed)

    def __call__(self, shape):
        self.shapes.append(tuple(shape))
        z = torch.randn(shape, generator=self.gen, dtype=DT)
        self.draws.append(z)
        return z


def test_output_noise_is_one_draw_per_read_on_the_partials():
    std = 0.05
    p = PeripheryParams(out_noise_std=std)
    xd, xc = _x((2, 10), 23), _x((2, 3, 5, 5), 24)
    clean = _reads(PeripheryParams(), xd, xc)
    recs = [Recorder(i) for i in range(4)]
    wd, wc = _w((5, 10), 11), _w((5, 3, 3, 3), 12)
    yc = torch.cat([xc, xc[:, :2]], 1)[:, :, :3, :3]
    noisy = [R.dense_read(xd, wd, p, 4, W_SCALE, G_UNIT, recs[0]),
             R.dense_read_t(xd[:, :5], wd, p, 2, W_SCALE, G_UNIT, recs[1]),
             R.conv_read(xc, wc, 1, 0, p, 18, W_SCALE, G_UNIT, recs[2]),
             R.conv_read_t(yc, wc, 2, 1, (0, 0), p, 2, W_SCALE, G_UNIT, recs[3])]
    expected_shapes = [(2, 3, 5), (2, 3, 10), (2, 2, 5, 3, 3), (2, 3, 27, 9)]
    for rec, shape in zip(recs, expected_shapes):
        assert rec.shapes == [shape]  # once per read, the partials' shape
    # the draws enter each partial before the digital sum (and before the fold), scaled by std
    # in device units: (noisy - clean) / w_scale is std * (sum over tiles of the draws)
    z = [r.draws[0].sum(1) for r in recs]
    _close((noisy[0] - clean[0]) / W_SCALE, std * z[0])
    _close((noisy[1] - clean[1]) / W_SCALE, std * z[1])
    _close((noisy[2] - clean[2]) / W_SCALE, std * z[2])
    _close((noisy[3] - clean[3]) / W_SCALE, std * F.fold(z[3], (5, 5), 3, padding=1, stride=2))


def test_output_noise_has_the_configured_std():
    std = 0.03
    p = PeripheryParams(out_noise_std=std)
    x, w = _x((4000, 8), 25), _w((6, 8), 26)
    g = _gen(27)
    noisy = R.dense_read(x, w, p, 8, W_SCALE, G_UNIT, lambda s: torch.randn(s, generator=g, dtype=DT))
    d = (noisy - x @ w.T) / W_SCALE
    assert d.std().item() == pytest.approx(std, rel=0.03)
    assert d.mean().abs().item() < 6 * std / math.sqrt(d.numel())  # unbiased


def test_no_output_noise_means_no_draw():
    def boom(shape):
        raise AssertionError("randn called without output noise")

    for p in (PeripheryParams(), PeripheryParams(out_bits=4, out_bound=1.0),
              PeripheryParams(inp_bound=2.0, ir_drop=0.2)):
        _reads(p, _x((2, 10), 28), _x((2, 3, 5, 5), 29), randn=boom)


# ------------------------------------------------------------------------------ tiles and devices
def test_conv_channels_per_block():
    assert R.conv_channels_per_block(5, 3, 18) == 2
    assert R.conv_channels_per_block(5, 3, 1000) == 5
    assert R.conv_channels_per_block(5, 1, 3) == 3
    with pytest.raises(ConfigError, match="analog.max_rows"):
        R.conv_channels_per_block(4, 3, 8)
    with pytest.raises(ConfigError, match="analog.max_rows"):
        R.conv_read(_x((1, 4, 5, 5), 0), _w((2, 4, 3, 3), 0), 1, 1, PeripheryParams(), 8, W_SCALE, G_UNIT)
    with pytest.raises(ConfigError, match="analog.max_rows"):
        R.check_tile_shape(0, 4)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_reads_stay_on_the_inputs_device_and_dtype(dtype):
    """On the meta device any tensor made on the CPU (or a host sync) would fail."""
    p = PeripheryParams(inp_bits=4, inp_bound=1.0, out_bits=6, out_bound=2.0, out_noise_std=0.01, ir_drop=0.2)
    dev = torch.device("meta")

    def randn(shape):
        return torch.randn(shape, device=dev, dtype=dtype)

    xd, xc = torch.empty(2, 10, device=dev, dtype=dtype), torch.empty(2, 3, 5, 5, device=dev, dtype=dtype)
    wd, wc = torch.empty(5, 10, device=dev, dtype=dtype), torch.empty(5, 3, 3, 3, device=dev, dtype=dtype)
    yc = torch.empty(2, 5, 3, 3, device=dev, dtype=dtype)
    outs = [R.dense_read(xd, wd, p, 4, W_SCALE, G_UNIT, randn),
            R.dense_read_t(xd[:, :5], wd, p, 2, W_SCALE, G_UNIT, randn),
            R.conv_read(xc, wc, 1, 0, p, 18, W_SCALE, G_UNIT, randn),
            R.conv_read_t(yc, wc, 2, 1, (0, 0), p, 2, W_SCALE, G_UNIT, randn)]
    for o, shape in zip(outs, [(2, 5), (2, 10), (2, 5, 3, 3), (2, 3, 5, 5)]):
        assert o.device == dev and o.dtype == dtype and tuple(o.shape) == shape
