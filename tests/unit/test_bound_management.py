"""Bound management, tiling, per-tile noise management and the backprop twin's analog backward
(issue 18, items 3, 4, 8), each against a plain loop written from aihwkit 1.2.0's semantics:
``ForwardBackwardPassIOManaged::forwardVector`` / ``finalizeOutput`` (rpucuda/rpu_forward_backward_pass.cpp:
per sample, each tile its own analog tile, forward only), ``get_split_sizes``
(simulator/tiles/array.py) and ``AnalogFunction.backward`` (simulator/tiles/functions.py)."""

import pytest
import torch
import torch.nn.functional as F
from typer.testing import CliRunner

from analog_ep.analog import reads as R
from analog_ep.analog.cards import effective_periphery, load_device
from analog_ep.analog.periphery import PeripheryParams, adc, bm_passes, dac
from analog_ep.analog.storage import AnalogStorage
from analog_ep.cli import app
from analog_ep.config import load_config
from analog_ep.errors import ConfigError

PARAMS = load_device("memristor").params


def _randn(base):
    def randn(shape, k=0):
        return torch.randn(shape, generator=torch.Generator().manual_seed(base + 1000 * k), dtype=torch.float64)
    return randn


def _noises(randn, shape, p):
    """The draws the production read makes: pass 0 ``randn(shape)``, pass k ``randn(shape, k)``."""
    return [randn(shape) if k == 0 else randn(shape, k) for k in range(bm_passes(p))]


def _tile_read(xv, wt, p, g_unit, noise_of, forward=True, live=None):
    """One tile's read of one sample / patch, aihwkit's loop: ``xv`` (r,) drive (after noise
    management), ``wt`` (n, r) device weights, ``noise_of(k)`` the output noise of pass k.
    Returns (digital output (n,), passes run)."""
    bm = p.bound_management if (forward and p.out_bound is not None) else "none"
    inp_res = 0.0 if p.inp_bits is None else 1.0 / max(2 ** (p.inp_bits - 1) - 1, 1)  # 1 bit: step = bound
    red, k = 1.0, 0
    while True:
        xq = dac(xv / red, p)
        if live is not None:
            xq = xq * live
        t = wt @ xq
        if p.ir_drop > 0:
            cur = (wt.abs() @ xq.abs()) / (xv.numel() * p.inp_bound * g_unit)
            t = t * (1 - p.ir_drop * cur.clamp(0, 1))
        if p.out_noise_std > 0:
            t = t + p.out_noise_std * noise_of(k)
        if bm == "shift" and t.max() > p.out_bound:
            t = t - (t.max() - p.out_bound)
        if bm != "iterative":
            return adc(t, p), 1
        v = t
        if p.out_bits is not None:
            step = p.out_bound / (2 ** (p.out_bits - 1) - 1)
            v = torch.round(t / step) * step
        passed = not bool((v > p.out_bound).any())
        if p.bm_test_negative_bound and bool((v < -p.out_bound).any()):
            passed = False
        stop = passed or int(red) > p.max_bm_factor or (inp_res > 0 and red > p.max_bm_res / inp_res)
        if stop:
            return adc(t, p) * red, k + 1
        red, k = red * 2, k + 1


def _nm(xv, p):
    if p.noise_management == "abs_max" and p.nm_scope == "tile":
        s = xv.abs().max().clamp_min(1e-30) / (p.inp_bound or 1.0)
        return xv / s, s
    return xv, 1.0


def ref_dense(x, w, p, max_lines, w_scale, g_unit, randn, forward=True):
    """Loop over samples and tiles (forward: row blocks of w (out, in); transposed: x is the
    output-side vector and the tiles are blocks of w's rows). Returns (y, rereads)."""
    mat = w if forward else w.t()                      # (n_out, n_drive)
    sizes = R.split_sizes(mat.shape[1], max_lines, p.tiling)
    nb, B = len(sizes), x.shape[0]
    noises = _noises(randn, (B, nb, mat.shape[0], 1), p) if p.out_noise_std > 0 else None
    y = torch.zeros(B, mat.shape[0], dtype=x.dtype)
    rereads, a0 = 0, 0
    for i, n in enumerate(sizes):
        sl = slice(a0, a0 + n)
        a0 += n
        for b in range(B):
            xv, s = _nm(x[b, sl], p)
            out, passes = _tile_read(xv, mat[:, sl] / w_scale, p, g_unit,
                                     lambda k: noises[k][b, i, :, 0], forward)
            y[b] += out * s * w_scale
            rereads += passes - 1
    return y, rereads


def ref_conv(x, w, stride, padding, p, max_rows, w_scale, g_unit, randn):
    """Loop over samples, output pixels and channel-block tiles, each patch cut by hand."""
    c_out, c_in, kh, kw = w.shape
    B, _, H, W = x.shape
    xp = F.pad(x, (padding,) * 4)
    ho, wo = (H + 2 * padding - kh) // stride + 1, (W + 2 * padding - kw) // stride + 1
    sizes = R.conv_block_sizes(c_in, (kh, kw), max_rows, p.tiling)
    nb = len(sizes)
    noises = _noises(randn, (B, nb, c_out, ho * wo), p) if p.out_noise_std > 0 else None
    y = torch.zeros(B, c_out, ho, wo, dtype=x.dtype)
    rereads = 0
    for b in range(B):
        for i in range(ho):
            for j in range(wo):
                a0 = 0
                for t_i, n in enumerate(sizes):
                    patch = xp[b, a0:a0 + n, i * stride:i * stride + kh, j * stride:j * stride + kw].reshape(-1)
                    # padding lines are not driven (a 1-bit DAC would drive zeros)
                    live = F.pad(torch.ones(n, H, W, dtype=x.dtype), (padding,) * 4)[
                        :, i * stride:i * stride + kh, j * stride:j * stride + kw].reshape(-1) > 0
                    wt = w[:, a0:a0 + n].reshape(c_out, -1) / w_scale
                    xv, s = _nm(patch, p)
                    pix = i * wo + j
                    out, passes = _tile_read(xv, wt, p, g_unit, lambda k: noises[k][b, t_i, :, pix],
                                             live=live.to(x.dtype))
                    y[b, :, i, j] += out * s * w_scale
                    rereads += passes - 1
                    a0 += n
    return y, rereads


def _counter():
    return R.ReadCounter(torch.zeros((), dtype=torch.int64), torch.zeros((), dtype=torch.int64))


BASE = dict(inp_bits=5, inp_bound=1.0, out_bits=6, out_bound=0.5, out_noise_std=0.05)


@pytest.mark.parametrize("early_stop", [True, False])
@pytest.mark.parametrize("extra", [
    dict(bound_management="iterative"),
    dict(bound_management="iterative", tiling="equal", noise_management="abs_max", nm_scope="tile"),
    dict(bound_management="iterative", inp_bits=None, inp_bound=None, bm_test_negative_bound=False),
    dict(bound_management="iterative", ir_drop=0.2, max_bm_factor=4),
    dict(bound_management="shift"),
    dict(noise_management="abs_max", nm_scope="tile", tiling="equal"),
])
def test_dense_forward_matches_the_per_sample_loop(extra, early_stop, monkeypatch):
    monkeypatch.setattr(R, "CPU_EARLY_STOP", early_stop)
    g = torch.Generator().manual_seed(0)
    p = PeripheryParams(**{**BASE, **extra})
    x = torch.randn(7, 11, generator=g, dtype=torch.float64) * 0.8
    w = torch.randn(5, 11, generator=g, dtype=torch.float64) * 0.6
    c = _counter()
    y = R.dense_read(x, w, p, 4, 1.3, 1.0, _randn(5), c)
    ref, rereads = ref_dense(x, w, p, 4, 1.3, 1.0, _randn(5))
    torch.testing.assert_close(y, ref)
    nb = len(R.split_sizes(11, 4, p.tiling))
    assert int(c.reads) == 7 * nb and int(c.bm_rereads) == rereads
    if p.bound_management == "iterative" and p.inp_bits is not None:
        assert rereads > 0  # the case saturates: the re-reads are exercised


def test_transposed_reads_ignore_bound_management_but_tile_their_noise_management():
    g = torch.Generator().manual_seed(1)
    p = PeripheryParams(**BASE, bound_management="iterative", noise_management="abs_max", nm_scope="tile",
                        tiling="equal")
    y = torch.randn(6, 9, generator=g, dtype=torch.float64)
    w = torch.randn(9, 5, generator=g, dtype=torch.float64)
    c = _counter()
    out = R.dense_read_t(y, w, p, 4, 1.0, 1.0, _randn(3), c)
    ref, rereads = ref_dense(y, w, p, 4, 1.0, 1.0, _randn(3), forward=False)
    torch.testing.assert_close(out, ref)
    assert rereads == 0 and int(c.bm_rereads) == 0


@pytest.mark.parametrize("extra", [
    dict(bound_management="iterative"),
    dict(bound_management="iterative", tiling="equal", noise_management="abs_max", nm_scope="tile", inp_bits=1),
])
def test_conv_forward_matches_the_per_patch_loop(extra):
    g = torch.Generator().manual_seed(2)
    p = PeripheryParams(**{**BASE, **extra})
    x = torch.randn(2, 5, 5, 5, generator=g, dtype=torch.float64)
    w = torch.randn(3, 5, 3, 3, generator=g, dtype=torch.float64) * 0.4
    c = _counter()
    y = R.conv_read(x, w, 2, 1, p, 18, 1.0, 1.0, _randn(7), c)        # 2 channels per tile: 2+2+1 / 2+2+1
    ref, rereads = ref_conv(x, w, 2, 1, p, 18, 1.0, 1.0, _randn(7))
    torch.testing.assert_close(y, ref)
    assert int(c.reads) == 2 * 3 * 9 and int(c.bm_rereads) == rereads
    assert rereads > 0 or bm_passes(p) == 1  # a 1-bit DAC allows no re-read (max_bm_res / inp_res = 0.25)


def test_conv_transposed_with_tile_noise_management_matches_a_loop_over_tiles():
    g = torch.Generator().manual_seed(3)
    p = PeripheryParams(**BASE, noise_management="abs_max", nm_scope="tile", tiling="equal",
                        bound_management="iterative")
    w = torch.randn(5, 2, 3, 3, generator=g, dtype=torch.float64) * 0.5
    y = torch.randn(2, 5, 3, 3, generator=g, dtype=torch.float64)
    out = R.conv_read_t(y, w, 1, 0, 0, p, 2, 1.0, 1.0, _randn(9))
    sizes = R.split_sizes(5, 2, "equal")                       # [2, 2, 1]
    noise = _randn(9)((2, len(sizes), 2 * 9, 9))
    cols = torch.zeros(2, 2 * 9, 9, dtype=torch.float64)
    for b in range(2):
        for pix in range(9):
            a0 = 0
            for i, n in enumerate(sizes):
                yv, s = _nm(y[b, a0:a0 + n].reshape(n, 9)[:, pix], p)
                o, _ = _tile_read(yv, w[a0:a0 + n].reshape(n, -1).t(), p, 1.0,
                                  lambda k: noise[b, i, :, pix], forward=False)
                cols[b, :, pix] += o * s
                a0 += n
    torch.testing.assert_close(out, F.fold(cols, (5, 5), (3, 3)))


def test_defaults_keep_the_existing_paths_and_equal_tiling_splits_as_aihwkit():
    assert R.split_sizes(784, 512) == [512, 272] and R.split_sizes(784, 512, "equal") == [392, 392]
    assert R.split_sizes(10, 4, "equal") == [4, 3, 3] and R.split_sizes(8, 4, "equal") == [4, 4]
    p = PeripheryParams()
    assert (p.bound_management, p.tiling, p.nm_scope) == ("none", "fill", "layer")
    assert (p.max_bm_factor, p.max_bm_res, p.bm_test_negative_bound) == (1000, 0.25, True)
    assert bm_passes(PeripheryParams(bound_management="iterative")) == 11                  # 2^10 > 1000
    assert bm_passes(PeripheryParams(bound_management="iterative", inp_bits=7, inp_bound=1.0)) == 5  # 16 > 0.25*63


def test_shift_moves_a_saturating_read_below_the_bound_and_leaves_others():
    p = PeripheryParams(out_bound=1.0, bound_management="shift")
    w = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]], dtype=torch.float64)
    x = torch.tensor([[3.0, 1.0], [0.2, -0.4]], dtype=torch.float64)
    y = R.dense_read(x, w, p, 8, 1.0, 1.0)
    torch.testing.assert_close(y[0], torch.tensor([3.0, 1.0, 2.0], dtype=torch.float64) - 2.0)  # max at the bound
    torch.testing.assert_close(y[1], x[1] @ w.t())


def _store(w, periph, **kw):
    return AnalogStorage(w, PARAMS, periph, seed=4, **kw)


def test_storage_counts_reads_and_rereads_in_its_state_dict():
    g = torch.Generator().manual_seed(5)
    w = torch.randn(4, 6, generator=g) * 0.3
    s = _store(w, PeripheryParams(**BASE, bound_management="iterative", noise_management="abs_max"),
               max_rows=4)
    s.linear(torch.randn(3, 6, generator=g))
    s.linear_t(torch.randn(3, 4, generator=g))
    sd = s.state_dict()
    assert sd["reads"].dtype == torch.int64 and int(sd["reads"]) == 3 * 2 + 3 * 1
    assert int(sd["bm_rereads"]) > 0
    old = {k: v for k, v in sd.items() if k not in ("reads", "bm_rereads")}  # a checkpoint from before
    s2 = _store(w, PeripheryParams())
    s2.load_state_dict(old)
    assert int(s2.reads) == 0


@pytest.mark.parametrize("conv", [False, True])
def test_bp_backward_analog_is_the_transposed_read_and_ideal_the_float_product(conv):
    g = torch.Generator().manual_seed(6)
    noisy = PeripheryParams(**BASE, noise_management="abs_max")
    w = torch.randn(4, 3, 3, 3, generator=g) * 0.3 if conv else torch.randn(4, 6, generator=g) * 0.3
    x0 = torch.randn(2, 3, 5, 5, generator=g) if conv else torch.randn(5, 6, generator=g)
    fwd = (lambda s, x: s.conv(x, 2, 1)) if conv else (lambda s, x: s.linear(x))

    def grads(periph, mode):
        s = _store(w, periph, bp_backward=mode)
        x = x0.clone().requires_grad_(True)
        y = fwd(s, x)
        up = torch.randn(y.shape, generator=torch.Generator().manual_seed(8))
        (y * up).sum().backward()
        return x.grad, s.param.grad, up, s

    # ideal periphery: both modes give the float gradients
    for a, b in zip(grads(PeripheryParams(), "analog")[:2], grads(PeripheryParams(), "ideal")[:2]):
        torch.testing.assert_close(a, b)
    gx, gw, up, s = grads(noisy, "analog")
    twin = _store(w, noisy)                       # same seed: the same noise streams, read for read
    with torch.no_grad():
        fwd(twin, x0)                             # read 1
        explicit = twin.conv_t(up, 2, 1, (0, 0)) if conv else twin.linear_t(up)  # read 2
    torch.testing.assert_close(gx, explicit)
    assert int(s.reads) == int(twin.reads)
    wf = s.weight.detach()
    ideal_gw = (torch.nn.grad.conv2d_weight(x0, w.shape, up, stride=2, padding=1) if conv else up.t() @ x0)
    torch.testing.assert_close(gw, ideal_gw)
    gx_i, gw_i, _, _ = grads(noisy, "ideal")
    ideal_gx = (torch.nn.grad.conv2d_input(x0.shape, wf, up, stride=2, padding=1) if conv else up @ wf)
    torch.testing.assert_close(gx_i, ideal_gx)
    torch.testing.assert_close(gw_i, ideal_gw)
    assert (gx - ideal_gx).abs().max() > 1e-3     # the analog read differs from the float product


def test_config_keys_validate_with_one_line_errors():
    cfg = load_config(None, ["analog.device=memristor", "analog.bound_management=iterative",
                             "analog.tiling=equal", "analog.nm_scope=tile", "analog.max_bm_factor=8"])
    p = effective_periphery(load_device("memristor"), cfg.analog)
    assert (p.bound_management, p.tiling, p.nm_scope, p.max_bm_factor) == ("iterative", "equal", "tile", 8)
    assert cfg.analog.bp_backward == "analog"
    for over, needle in ((["analog.bound_management=foo"], "analog.bound_management"),
                         (["analog.bp_backward=exact", "algorithm=bp"], "analog.bp_backward"),
                         (["analog.bp_backward=ideal"], "analog.bp_backward"),
                         (["analog.max_bm_factor=0"], "analog.max_bm_factor")):
        with pytest.raises(ConfigError, match=needle) as e:
            load_config(None, ["analog.device=memristor", *over])
        assert "\n" not in str(e.value)
    with pytest.raises(ConfigError, match="iterative") as e:
        PeripheryParams(bound_management="sometimes")
    assert "none, iterative, shift" in str(e.value)


def test_cli_unknown_bound_management_exits_2_with_one_line():
    res = CliRunner().invoke(app, ["train", "--device", "memristor", "--set", "analog.bound_management=foo"])
    assert res.exit_code == 2, res.output
    err = res.stderr.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and "analog.bound_management" in err
    assert "iterative" in err and "Traceback" not in res.output
