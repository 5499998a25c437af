"""compute.kernels: the fused numba read kernels against the torch reads (the reference).

Noiseless reads: every read kind, tile layouts (fill / equal, several row and column blocks),
DAC / ADC bits on and off, IR drop, per-tile and per-layer noise management, float32 / float64:
equal to the torch read to 1e-5 relative (they compute the same operations in the same order).
Noisy reads (the generator itself: ``test_kernels_normal8.py``): the read's noise against the
torch read's (same std),
seeded (same key -> same read), independent across reads, independent of the data-parallel
sharding. Dispatch: torch on non-CPU tensors, torch under ``torch``, the config error without
numba (exit 2, one line, naming the extra).
"""

import json
import math
import sys

import pytest
import torch
from typer.testing import CliRunner

from analog_ep.analog import kernels as K
from analog_ep.analog import reads as R
from analog_ep.analog.periphery import PeripheryParams
from analog_ep.cli import app
from analog_ep.config import load_config
from analog_ep.errors import ConfigError
from conftest import kernels_mode


@pytest.fixture
def nr():
    """The numba kernels (the test skips without numba); the process mode is torch meanwhile, so
    the reads of :mod:`reads` are the reference."""
    pytest.importorskip("numba")
    from analog_ep.analog.kernels import numba_reads
    with kernels_mode("torch"):
        yield numba_reads


class Keyed:
    """An output-noise draw as the storage makes one: torch normals from a seeded generator, and
    the stream key (and data-parallel rows) the kernels draw their own noise from."""

    def __init__(self, key, rows=None):
        self.key, self.rows = key, rows

    def __call__(self, shape, bm_pass=0):
        g = torch.Generator().manual_seed(self.key if bm_pass == 0 else self.key + bm_pass)
        return torch.randn(tuple(shape), generator=g)


def _periph(**kw):
    return PeripheryParams(**kw)


PERIPHS = {
    "adc": dict(out_bits=6, out_bound=2.0),
    "dac_adc": dict(inp_bits=5, inp_bound=1.0, out_bits=8, out_bound=3.0),
    "sign_dac_adc": dict(inp_bits=1, inp_bound=0.5, out_bits=1, out_bound=0.7),
    "clip_only": dict(inp_bound=0.8, out_bound=1.5),
    "ir_drop": dict(inp_bits=7, inp_bound=1.0, out_bits=9, out_bound=4.0, ir_drop=0.3),
    "ir_drop_no_adc": dict(inp_bound=1.0, ir_drop=0.5),
    "nm_tile": dict(inp_bits=7, inp_bound=1.0, out_bits=9, out_bound=3.0, noise_management="abs_max",
                    nm_scope="tile"),
    "nm_tile_ir": dict(inp_bits=6, inp_bound=1.0, out_bound=3.0, noise_management="abs_max", nm_scope="tile",
                       ir_drop=0.2),
    "equal_adc": dict(inp_bits=7, inp_bound=1.0, out_bits=9, out_bound=3.0, tiling="equal"),
    # layer-scope noise management, run by the read (the dense kernels fuse it into their DAC pass)
    "nm_layer": dict(inp_bits=7, inp_bound=1.0, out_bits=9, out_bound=3.0, noise_management="abs_max"),
    "nm_layer_ir": dict(inp_bits=6, inp_bound=0.5, out_bits=8, out_bound=2.0, noise_management="abs_max",
                        ir_drop=0.2),
}


def _close(a, b):
    a, b = a.detach(), b.detach()
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5 * float(b.abs().max()) + 1e-12)


def _data(shape_x, shape_w, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(shape_x, generator=g, dtype=dtype) * 2 - 1) * 0.9
    w = torch.randn(shape_w, generator=g, dtype=dtype) * 0.3
    return x, w


# ------------------------------------------------------------------------------- noiseless: dense
@pytest.mark.parametrize("name", sorted(PERIPHS))
@pytest.mark.parametrize("tiles", [(7, 5), (40, 40), (13, 4)])
def test_dense_reads_equal_torch(nr, name, tiles):
    """Forward and transposed dense reads, several row / column blocks (one block: 40x40)."""
    p = _periph(**PERIPHS[name])
    x, w = _data((6, 30), (17, 30), seed=len(name))
    rows, cols = tiles
    ref = R.dense_read(x, w, p, rows, 0.7, 1.3)
    assert K.select("dense_forward", p, x, None, "numba") is nr.dense_forward
    _close(nr.dense_forward(x, w, p, rows, 0.7, 1.3), ref)
    y = x[:, :17] * 1.5
    _close(nr.dense_transposed(y, w, p, cols, 0.7, 1.3), R.dense_read_t(y, w, p, cols, 0.7, 1.3))


def test_dense_reads_equal_torch_float64_and_bit_identical(nr):
    """float64 runs its own compiled kernel; the plain path is bit-identical to torch."""
    p = _periph(**PERIPHS["dac_adc"])
    x, w = _data((5, 23), (9, 23), torch.float64)
    out = nr.dense_forward(x, w, p, 8, 0.5, 1.0)
    assert out.dtype == torch.float64
    assert torch.equal(out, R.dense_read(x, w, p, 8, 0.5, 1.0))
    x32, w32 = _data((5, 23), (9, 23))
    assert torch.equal(nr.dense_transposed(x32[:, :9], w32, p, 4, 0.5, 1.0),
                       R.dense_read_t(x32[:, :9], w32, p, 4, 0.5, 1.0))


@pytest.mark.parametrize("bound", [1.0, 0.5])
def test_layer_noise_management_is_the_scaled_read_and_the_kernel_bit_identical(nr, bound):
    """Layer-scope abs-max noise management (now run by the read): the read of ``x`` equals the
    read of ``x / s`` without noise management, times ``s`` (``s = max |x| / inp_bound`` per
    sample; aihwkit's ABS_MAX), bit for bit; the one-tile float64 kernel (its DAC pass scales) is
    bit-identical to that too, forward and transposed, and an all-zero sample reads zero."""
    kw = dict(inp_bits=7, inp_bound=bound, out_bits=9, out_bound=3.0)
    p, p0 = _periph(**kw, noise_management="abs_max"), _periph(**kw)
    x, w = _data((5, 23), (9, 23), torch.float64, seed=4)
    x[2] = 0.0
    s = (x.abs().amax(1, keepdim=True).clamp_min(1e-30) / bound)
    ref = R.dense_read(x / s, w, p0, 64, 0.5, 1.0) * s
    got = R.dense_read(x, w, p, 64, 0.5, 1.0)
    assert torch.equal(got, ref)
    assert torch.equal(nr.dense_forward(x, w, p, 64, 0.5, 1.0), ref)
    assert torch.equal(got[2], torch.zeros_like(got[2]))
    y = x[:, :9] * 3.0
    sy = (y.abs().amax(1, keepdim=True).clamp_min(1e-30) / bound)
    ref_t = R.dense_read_t(y / sy, w, p0, 64, 0.5, 1.0) * sy
    assert torch.equal(R.dense_read_t(y, w, p, 64, 0.5, 1.0), ref_t)
    assert torch.equal(nr.dense_transposed(y, w, p, 64, 0.5, 1.0), ref_t)
    assert not torch.equal(ref, R.dense_read(x, w, p0, 64, 0.5, 1.0))   # the scaling matters here


def test_tile_layouts_differ_and_kernel_follows(nr):
    """fill and equal tilings give different reads (the ADC sees other partials): the kernel
    reproduces each (so a kernel ignoring the layout would fail)."""
    base = dict(out_bits=3, out_bound=1.0)
    x, w = _data((8, 30), (6, 30), seed=3)
    outs = {}
    for tiling in ("fill", "equal"):
        p = _periph(**base, tiling=tiling)
        ref = R.dense_read(x, w, p, 16, 1.0, 1.0)     # 30 rows: 16 + 14 (fill) or 15 + 15 (equal)
        _close(nr.dense_forward(x, w, p, 16, 1.0, 1.0), ref)
        outs[tiling] = ref
    assert not torch.equal(outs["fill"], outs["equal"])


# -------------------------------------------------------------------------------- noiseless: conv
CONV_CASES = [  # (in ch, out ch, k, stride, padding, max_rows, max_cols)
    (3, 5, 3, 1, 1, 9, 2),
    (4, 6, 3, 2, 0, 18, 4),
    (2, 3, 2, 1, 0, 64, 64),
]


@pytest.mark.parametrize("name", ["adc", "dac_adc", "ir_drop", "equal_adc", "clip_only", "nm_layer", "nm_layer_ir"])
@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_reads_equal_torch(nr, name, case):
    c_in, c_out, k, s, pd, mr, mc = case
    p = _periph(**PERIPHS[name])
    g = torch.Generator().manual_seed(c_in * 10 + c_out)
    x = torch.rand((2, c_in, 7, 7), generator=g) * 2 - 1
    w = torch.randn((c_out, c_in, k, k), generator=g) * 0.3
    ref = R.conv_read(x, w, s, pd, p, mr, 0.6, 1.1)
    _close(nr.conv_forward(x, w, s, pd, p, mr, 0.6, 1.1), ref)
    y = torch.rand(ref.shape, generator=g) * 2 - 1
    op = (x.shape[2] - ((ref.shape[2] - 1) * s - 2 * pd + k),) * 2
    _close(nr.conv_transposed(y, w, s, pd, op, p, mc, 0.6, 1.1), R.conv_read_t(y, w, s, pd, op, p, mc, 0.6, 1.1))


# ------------------------------------------------------------------------ through the storage
def _storage(periph, shape=(12, 40), seed=3):
    from analog_ep.analog.storage import AnalogStorage
    from analog_ep.analog.rules import SoftBounds
    w = torch.randn(shape, generator=torch.Generator().manual_seed(seed)) * 0.2
    return AnalogStorage(w, SoftBounds(), periph, max_rows=16, max_cols=5, seed=seed)


@pytest.mark.parametrize("nm", ["none", "abs_max"])
def test_storage_reads_equal_torch_noiseless(nr, nm):
    """Layer-scope noise management (done by the storage around the read) on and off: the
    storage's forward and transposed reads under ``numba`` equal those under ``torch``, and
    count the same reads."""
    p = _periph(inp_bits=7, inp_bound=1.0, out_bits=9, out_bound=2.0, noise_management=nm)
    x = torch.rand(8, 40, generator=torch.Generator().manual_seed(1)) * 3 - 1.5
    y = torch.rand(8, 12, generator=torch.Generator().manual_seed(2)) - 0.5
    outs = {}
    for mode in ("torch", "numba"):
        st = _storage(p)
        K.set_mode(mode)
        K.reset_ran()
        outs[mode] = (st.linear(x), st.linear_t(y), int(st.reads))
        assert K.ran() == {"dense_forward": mode, "dense_transposed": mode}
    K.set_mode("torch")
    _close(outs["numba"][0], outs["torch"][0])
    _close(outs["numba"][1], outs["torch"][1])
    assert outs["numba"][2] == outs["torch"][2] == 8 * 3 + 8 * 3   # 40 rows / 16, 12 cols / 5


# ----------------------------------------------------------------------------------- noisy reads
def test_noisy_dense_reads_statistics(nr):
    """Output noise only (no converters): the read's noise (noisy minus noiseless) has mean 0
    and std ``out_noise_std * w_scale * sqrt(tiles)`` under the kernel as under torch."""
    std, ws = 0.05, 0.8
    x, w = _data((64, 40), (300, 40))
    quiet = _periph(inp_bits=7, inp_bound=1.0, out_noise_std=0.0, ir_drop=0.0, out_bound=100.0)
    loud = _periph(inp_bits=7, inp_bound=1.0, out_noise_std=std, out_bound=100.0)
    base = R.dense_read(x, w, quiet, 16, ws, 1.0)       # 3 row blocks
    want = std * ws * math.sqrt(3)
    for read in (lambda k: nr.dense_forward(x, w, loud, 16, ws, 1.0, Keyed(k)),
                 lambda k: R.dense_read(x, w, loud, 16, ws, 1.0, Keyed(k))):
        e = read(7) - base
        n = e.numel()
        assert abs(float(e.mean())) < 4 * want / math.sqrt(n)
        assert abs(float(e.std()) / want - 1) < 4 * math.sqrt(0.5 / n)
    r1 = nr.dense_forward(x, w, loud, 16, ws, 1.0, Keyed(7))
    assert torch.equal(r1, nr.dense_forward(x, w, loud, 16, ws, 1.0, Keyed(7)))        # seeded, repeatable
    e1 = r1 - base
    e2 = nr.dense_forward(x, w, loud, 16, ws, 1.0, Keyed(8)) - base                    # the next read
    r = float(torch.corrcoef(torch.stack([e1.flatten(), e2.flatten()]))[0, 1])
    assert abs(r) < 4 / math.sqrt(e1.numel())
    y = x[:, :30]
    quiet_t = R.dense_read_t(y, w[:30], quiet, 7, ws, 1.0)      # 30 columns: 5 blocks of 7 + 2
    et = nr.dense_transposed(y, w[:30], loud, 7, ws, 1.0, Keyed(3)) - quiet_t
    assert abs(float(et.std()) / (std * ws * math.sqrt(5)) - 1) < 4 * math.sqrt(0.5 / et.numel())


def test_noisy_conv_reads_statistics(nr):
    std = 0.1
    p0 = _periph(out_bound=50.0)
    p1 = _periph(out_bound=50.0, out_noise_std=std)
    g = torch.Generator().manual_seed(5)
    x = torch.rand((8, 4, 8, 8), generator=g)
    w = torch.randn((6, 4, 3, 3), generator=g) * 0.2
    e = nr.conv_forward(x, w, 1, 1, p1, 18, 1.0, 1.0, Keyed(11)) - R.conv_read(x, w, 1, 1, p0, 18, 1.0, 1.0)
    assert abs(float(e.std()) / (std * math.sqrt(2)) - 1) < 4 * math.sqrt(0.5 / e.numel())   # 2 channel blocks
    y = torch.rand((8, 6, 8, 8), generator=g)
    et = (nr.conv_transposed(y, w, 1, 1, 0, p1, 6, 1.0, 1.0, Keyed(12))
          - R.conv_read_t(y, w, 1, 1, 0, p0, 6, 1.0, 1.0))
    inner = et[:, :, 1:-1, 1:-1]     # interior pixels: 9 patches fold onto each, 1 column block
    assert abs(float(inner.std()) / (std * 3) - 1) < 4 * math.sqrt(0.5 / inner.numel())


def test_noisy_read_independent_of_sharding(nr):
    """Data parallel: a rank reading rows 5:9 of a global batch of 12 (``randn.rows``) sees the
    noise those samples see in one process."""
    p = _periph(inp_bits=7, inp_bound=1.0, out_bits=9, out_bound=3.0, out_noise_std=0.06)
    x, w = _data((12, 20), (10, 20))
    full = nr.dense_forward(x, w, p, 8, 0.5, 1.0, Keyed(99, rows=(0, 12)))
    shard = nr.dense_forward(x[5:9], w, p, 8, 0.5, 1.0, Keyed(99, rows=(5, 12)))
    assert torch.equal(full[5:9], shard)


# ------------------------------------------------------------------------------------- dispatch
def test_select_rules(monkeypatch):
    p = _periph(**PERIPHS["dac_adc"])
    cpu = torch.zeros(2, 3)
    meta = torch.empty(2, 3, device="meta")          # any tensor not on the CPU: torch
    for mode in ("auto", "torch", "numba"):
        if mode == "numba" and not K.numba_available():
            continue
        assert K.select("dense_forward", p, meta, None, mode) is None
    assert K.select("dense_forward", p, cpu, None, "torch") is None
    assert K.ran()["dense_forward"] == "torch"
    ideal_out = _periph(inp_bits=4, inp_bound=1.0)
    bm = _periph(out_bits=6, out_bound=1.0, bound_management="iterative")
    nm_tile = _periph(**PERIPHS["nm_tile"])
    noisy = _periph(out_bound=1.0, out_noise_std=0.1)
    assert K.AUTO_NUMBA                                                       # auto takes the kernels
    monkeypatch.setattr(K, "AUTO_NUMBA", False)
    assert K.select("dense_forward", p, cpu, None, "auto") is None           # auto = torch (AUTO_NUMBA off)
    if K.numba_available():
        monkeypatch.setattr(K, "AUTO_NUMBA", True)                            # auto takes numba
        assert K.select("dense_forward", p, cpu, None, "auto") is not None
        assert K.select("conv_transposed", p, cpu, None, "auto") is not None
        assert K.select("dense_forward", p, meta, None, "auto") is None
        assert K.select("dense_forward", ideal_out, cpu, None, "auto") is None      # nothing to fuse
        assert K.select("dense_forward", bm, cpu, None, "numba") is None            # bound management: torch
        assert K.select("dense_transposed", bm, cpu, None, "numba") is not None     # (never backward)
        assert K.select("conv_forward", nm_tile, cpu, None, "numba") is None
        assert K.select("dense_forward", nm_tile, cpu, None, "numba") is not None
        assert K.select("dense_forward", noisy, cpu, lambda s: torch.randn(s), "numba") is None   # no key
        assert K.select("dense_forward", noisy, cpu, Keyed(1), "numba") is not None
        assert K.select("dense_forward", p, cpu.half(), None, "numba") is None
    monkeypatch.setattr(K, "AUTO_NUMBA", True)
    monkeypatch.setitem(K._available, "numba", False)                 # auto without numba: torch
    assert K.select("dense_forward", p, cpu, None, "auto") is None


def test_numba_selected_rules(monkeypatch):
    """The one torch-or-numba choice (K.numba_selected) of select_pool, select_engine and the fused
    settle step: the mode takes numba, the tensor is float32 / float64 on the CPU, numba is installed."""
    cpu = torch.zeros(1, 1, 4, 4)
    meta = torch.empty(1, 1, 4, 4, device="meta")
    monkeypatch.setitem(K._available, "numba", True)
    monkeypatch.setattr(K, "AUTO_NUMBA", True)
    for mode, want in (("torch", False), ("auto", True), ("numba", True)):
        assert K.numba_selected(cpu, mode) is want
        assert K.numba_selected(cpu.double(), mode) is want
        assert not K.numba_selected(cpu.half(), mode)
        assert not K.numba_selected(meta, mode)
    monkeypatch.setattr(K, "AUTO_NUMBA", False)                       # auto = torch
    assert not K.numba_selected(cpu, "auto") and K.numba_selected(cpu, "numba")
    monkeypatch.setattr(K, "_state", {"mode": "numba"})               # default: the process's mode
    assert K.numba_selected(cpu)
    monkeypatch.setitem(K._available, "numba", False)                 # numba not installed: torch
    assert not K.numba_selected(cpu, "numba")
    assert K.select_pool(cpu, 2, "numba") is None and K.select_engine("rounded_counts", cpu, None, "numba") is None


def test_numba_missing_is_a_config_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "numba", None)                   # import numba -> ImportError
    monkeypatch.setattr(K, "_available", {})
    assert not K.numba_available()
    with pytest.raises(ConfigError, match=r"compute.kernels: .*pip install 'analog-ep\[numba\]'"):
        K.set_mode("numba")
    with pytest.raises(ConfigError, match=r"compute.kernels: .*analog-ep\[numba\]"):
        load_config(None, ["compute.kernels=numba"])
    load_config(None, ["compute.kernels=auto"])                       # auto and torch need no numba
    res = CliRunner().invoke(app, ["train", "--device", "memristor", "--set", "compute.kernels=numba"])
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "analog-ep[numba]" in lines[0], res.output
    with pytest.raises(ConfigError, match="compute.kernels: must be one of auto, torch, numba"):
        K.check_mode("fast")


def test_bench_reports_kernels():
    pytest.importorskip("numba")
    args = ["--device", "memristor", "--set", "model.hidden=[16]", "--set", "data.batch_size=8",
            "--set", "solver.free_iters=4", "--set", "solver.nudge_iters=2", "--repeats", "1", "--warmup", "0",
            "--json"]
    old = K.mode()
    try:
        for mode in ("torch", "numba"):
            res = CliRunner().invoke(app, ["bench", *args, "--set", f"compute.kernels={mode}"])
            assert res.exit_code == 0, res.output
            r = json.loads(res.stdout.strip().splitlines()[-1])
            assert r["kernels"] == {"mode": mode, "ran": {"dense_forward": mode, "dense_transposed": mode,
                                                          "rounded_counts": mode,   # the engine's counts
                                                          "apply_counts": mode}}    # and its pulse rounds
    finally:
        K.set_mode(old)


# ------------------------------------------------------------------------------ the pulse engine
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(50, 79), (7, 13), (1,)])
@pytest.mark.parametrize("rounding", ["stochastic", "deterministic"])
def test_rounded_counts_kernel_is_bit_identical_to_torch(nr, dtype, shape, rounding):
    """The fused rounded-counts kernel (compute.kernels: numba) gives the torch engine's counts bit
    for bit: odd and even sizes (float32 takes two devices per hash word), NaN (no pulse), +-inf
    and huge changes (clamped to bl), halves (deterministic: to even), every key its own counts."""
    from analog_ep.analog import engine as E
    g = torch.Generator().manual_seed(sum(shape))
    dw = torch.randn(shape, generator=g, dtype=dtype) * 0.05
    flat = dw.view(-1)
    flat[0] = float("nan")
    if flat.numel() > 5:
        flat[1], flat[2], flat[3], flat[4], flat[5] = float("inf"), -1e30, 0.025, -0.015, 0.35
    outs = {}
    for mode in ("torch", "numba"):
        K.set_mode(mode)
        outs[mode] = [E.rounded_counts(dw, 0.01, rounding, 31, key) for key in (7, 8)]
        assert K.ran()["rounded_counts"] == mode
    K.set_mode("torch")
    for a, b in zip(outs["torch"], outs["numba"]):
        assert b.dtype == torch.int32 and b.shape == dw.shape
        assert torch.equal(a, b)
    assert int(outs["numba"][0].view(-1)[0]) == 0
    if flat.numel() > 5:
        assert outs["numba"][0].view(-1)[1:3].tolist() == [31, -31]
        assert int(outs["numba"][0].abs().sum()) > 0
        if rounding == "deterministic":
            assert outs["numba"][0].view(-1)[3:5].tolist() == [2, -2]     # 2.5 -> 2, -1.5 -> -2
        elif flat.numel() > 100:
            assert not torch.equal(outs["numba"][0], outs["numba"][1])   # another key, other roundings


@pytest.mark.parametrize("max_rows", [64, 16])          # one tile, then 3 row tiles (40 lines: 16 + 16 + 8)
def test_noisy_read_draws_the_documented_normals(nr, max_rows):
    """The output noise of element ``c`` of the (global sample ``b``, tile ``i``) row is
    ``std * normal8(key, row (b * n_tiles + i), column c)`` (numba_reads module doc): the kernel's
    noisy read equals a torch reimplementation of the output stage with those normals, in the
    kernel's float32 order (divide by ``w_scale``, add ``std * z``, clip to the ADC bound, sum the
    tiles, times ``w_scale``), bit for bit."""
    from analog_ep.analog.kernels import normal8 as N8
    std, ws, bound = 0.07, 0.8, 1.5
    x, w = _data((12, 40), (9, 40))
    p = _periph(out_noise_std=std, out_bound=bound)
    got = nr.dense_forward(x, w, p, max_rows, ws, 1.0, Keyed(4242, rows=(3, 20)))   # rows 3..14 of 20
    sizes = R.split_sizes(40, max_rows, p.tiling)
    nb = len(sizes)
    z = torch.from_numpy(N8.normals(4242, 20 * nb, 9)).reshape(20, nb, 9)[3:15]
    acc = torch.zeros(12, 9)
    a = 0
    for i, n in enumerate(sizes):
        t = x[:, a:a + n] @ w[:, a:a + n].t()
        a += n
        v = (t / ws + torch.tensor(std, dtype=torch.float32) * z[:, i]).clamp(-bound, bound)
        acc = acc + v
    assert torch.equal(got, acc * ws)


WARM_PROBE = """
import json, sys
from analog_ep.analog import kernels as K
from analog_ep.config import load_config
from analog_ep.train.loop import make_trainer
TINY = ["data.train_size=16", "data.test_size=8", "data.batch_size=8", "model.hidden=[8]"]
MODS = ["numba", "numba.core.registry", "analog_ep.analog.kernels.numba_reads",
        "analog_ep.analog.kernels.numba_engine", "analog_ep.analog.kernels.numba_sweep",
        "analog_ep.analog.kernels.numba_settle"]
out = {}
make_trainer(load_config(None, TINY), None)
out["digital"] = [m in sys.modules for m in MODS]
make_trainer(load_config(None, TINY + ["analog.device=memristor", "compute.kernels=torch"]), None)
out["analog_torch"] = [m in sys.modules for m in MODS]
out["warm_before"] = bool(K._available.get("warm"))
t = make_trainer(load_config(None, TINY + ["analog.device=memristor"]), None)
out["analog"] = [m in sys.modules for m in MODS]
out["warm"] = bool(K._available.get("warm"))
print(json.dumps(out))
"""


def test_make_trainer_pays_numbas_start_up_for_a_model_on_analog_tiles():
    """K.warm, called by make_trainer for a model on a device card whose reads the numba kernels
    run: numba and the kernel modules (reads, engine, sweep, settle) are loaded and numba's CPU
    contexts refreshed (``K._available["warm"]``) when the trainer is built (a fresh process), so
    the first training step does not pay for them; a digital model, or compute.kernels torch,
    loads none of them."""
    pytest.importorskip("numba")
    import subprocess

    res = subprocess.run([sys.executable, "-c", WARM_PROBE], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["digital"] == [False] * 6 and out["analog_torch"] == [False] * 6 and not out["warm_before"]
    assert out["analog"] == [True] * 6 and out["warm"]


def test_warm_runs_only_where_the_kernels_run(monkeypatch):
    pytest.importorskip("numba")
    monkeypatch.setattr(K, "_state", {"mode": "torch"})
    assert not K.warm(torch.zeros(1))
    monkeypatch.setattr(K, "_state", {"mode": "auto"})
    assert not K.warm(torch.zeros(1, device="meta")) and not K.warm(torch.zeros(1, dtype=torch.float16))
    assert K.warm(torch.zeros(1)) and K._available["warm"]
