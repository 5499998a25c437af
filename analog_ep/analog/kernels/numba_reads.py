"""The fused numba read kernels (CPU): the four read kinds of :mod:`analog_ep.analog.reads` with
the same signatures, chosen by :func:`analog_ep.analog.kernels.select`.

Each read keeps the reference's physical order and arithmetic (in the tensors' dtype, operation
by operation, so noiseless reads equal the torch reads to float rounding)::

    x_q = dac(x)                      # numba, one pass (per-tile abs-max scales first, nm_scope tile)
    t_i = x_q[tile i] . w[tile i]     # each tile's product: BLAS (torch.mm), as the reference
    -- one fused numba pass per (sample, tile) row, parallel over samples --
    v = t_i / w_scale                 # device units
    v = v * (1 - ir_drop * clamp(I, 0, 1))      # IR drop (I from the |x_q| . |w| products)
    v = v + read_noise_std * xi       # output noise: the vectorized counter-based Box-Muller (.normal8)
    v = adc(v)                        # that tile's ADC
    out += v (* s_i, per-tile noise management)  # the digital sum of the tiles' partials
    out = w_scale * out

Each pass is a simple loop that vectorizes (AVX2 here): the DAC's divide and quantize are one
loop per row (:func:`_scale_q_any`), its abs-max an 8-lane vector max (:func:`_absmax`); a one-tile
row (the relaxation's planned reads) runs its whole stage in one loop (:func:`_one_pass_any`), the
converter mode a compile-time constant of each loop. Fusing changes no operation and no order
(``tests/unit/test_kernels_fused_passes.py``: bit for bit against the pass-by-pass arithmetic).

Convolutions compute their products with torch (forward: one ``conv2d`` per channel-block tile
over its own channels, or the one tile's conv whose channels-last output the stage reads in place,
:func:`_stage_cl`; transposed: the reference's matmul) and run the same fused output stage. Their DAC takes its layer-scope noise management in the same pass as
the dense reads' (:func:`_conv_dac`); the transposed conv runs the output stage of each sample's
(C_in k k, Ho Wo) partials, their fold onto the pre node (aten's col2im order) and the
noise-management scale in one kernel (:func:`_stage_fold`), and the max-pool after a forward read
(``ConvPool``, :func:`max_pool`) is one pass with aten's values and indices (session 9: the same
bits as the pass-by-pass reads, ``tests/unit/test_kernels_conv_fused.py``).

Output noise of element ``c`` of the (global sample ``b``, tile ``i``) row is the float32
normal of counter ``(b * n_tiles + i) * padded(M) + c`` (:mod:`.normal8`) under the read's key
words ``key_words(randn.key)`` (``randn.key``: the storage's stream key of that read); ``randn.rows = (start, n)`` (data parallel) offsets ``b`` by this
rank's first row, so a sample's noise does not depend on the sharding.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from threading import get_ident as _ident

import numba
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic

from .. import periphery as P
from .. import reads as R
from ..streams import _KEY0 as _K0
from .normal import _G, _M1, _M2
from .normal8 import BLOCK, fill_row8

_KEY0 = np.uint64(_K0)

# DAC / ADC modes of :func:`_q` (the periphery's quantize): 0 none, 1 clip, 2 sign, 3 clip + round
_NONE, _CLIP, _SIGN, _ROUND = 0, 1, 2, 3


def _qmode(bits, bound) -> tuple:
    """(mode, bound, step) of :func:`analog_ep.analog.periphery.quantize` with ``bits``, ``bound``."""
    if bound is None:
        return _NONE, 1.0, 1.0
    if bits is None:
        return _CLIP, float(bound), 1.0
    if bits == 1:
        return _SIGN, float(bound), 1.0
    return _ROUND, float(bound), P.converter_step(bits, float(bound))


@njit(inline="always", cache=True)
def _q_row(v, mode, bound, step):
    """quantize, in place on the 1-D row ``v``: clip to [-bound, bound] (modes 1-3), then sign
    (mode 2) or round to the step (mode 3); mode 0 leaves ``v``. One simple loop per mode (they
    vectorize)."""
    if mode == 0:
        return
    lo = -bound
    if mode == 1:
        for c in range(v.shape[0]):
            v[c] = min(max(v[c], lo), bound)
    elif mode == 2:
        for c in range(v.shape[0]):
            v[c] = bound if v[c] >= 0 else lo
    else:
        for c in range(v.shape[0]):
            v[c] = np.rint(min(max(v[c], lo), bound) / step) * step


@njit(inline="always", cache=True)
def _q1(x, mode, lo, bound, step):
    """:func:`_q_row` of one value (the same operations): the fused passes call it with ``mode``
    a constant, so each of their loops compiles without the branch (and vectorizes)."""
    if mode == 1:
        return min(max(x, lo), bound)
    if mode == 2:
        return bound if x >= 0 else lo
    if mode == 3:
        return np.rint(min(max(x, lo), bound) / step) * step
    return x


@njit(inline="always", cache=True)
def _scale_q(src, dst, sc, mode, lo, bound, step):
    """``dst = q(src / sc)`` in one pass (``mode`` a constant: :func:`_scale_q_any`)."""
    for r in range(src.shape[0]):
        dst[r] = _q1(src[r] / sc, mode, lo, bound, step)


@njit(inline="always", cache=True)
def _scale_q_any(src, dst, sc, mode, bound, step):
    """:func:`_scale_q` for a runtime ``mode``: the DAC's divide and quantize of a row fused, the
    same operations per element as the divide pass then :func:`_q_row` (bit-identical)."""
    lo = -bound
    if mode == 3:
        _scale_q(src, dst, sc, 3, lo, bound, step)
    elif mode == 1:
        _scale_q(src, dst, sc, 1, lo, bound, step)
    elif mode == 2:
        _scale_q(src, dst, sc, 2, lo, bound, step)
    else:
        _scale_q(src, dst, sc, 0, lo, bound, step)


_AL = 8   # lanes of the abs-max pass's vector


@intrinsic
def _absmax_lanes(typingctx, row, n8, init):
    """``max(init, |row[0]|, ..., |row[n8 - 1]|)`` (``n8`` a multiple of 8; ``row`` 1-D, C
    layout) with 8 running maxima, one per lane (vector IR: numba's ``max`` reduction stays scalar
    without fastmath). The same value as the serial ``m = max(m, abs(row[r]))``: that step keeps
    ``m`` unless ``|row[r]| > m`` (a NaN never enters), so its result is the largest non-NaN
    ``|row[r]|`` (or ``init``), whatever the order; equal non-negative floats have equal bits
    (``abs`` makes every zero +0)."""
    if not (isinstance(row, types.Array) and row.ndim == 1 and row.layout == "C"
            and row.dtype in (types.float32, types.float64)):
        return None
    dt = row.dtype

    def codegen(context, builder, sig, args):
        arow, an8, ainit = args
        ptr = context.make_array(sig.args[0])(context, builder, arow).data
        vty = ir.VectorType(context.get_value_type(dt), _AL)
        i32, i64 = ir.IntType(32), ir.IntType(64)
        init = builder.insert_element(ir.Constant(vty, ir.Undefined), ainit, ir.Constant(i32, 0))
        init = builder.shuffle_vector(init, init, ir.Constant(ir.VectorType(i32, _AL), [0] * _AL))
        name = f"llvm.fabs.v{_AL}f{dt.bitwidth}"
        fabs = builder.module.globals.get(name) or ir.Function(builder.module, ir.FunctionType(vty, [vty]), name)
        pre = builder.block
        loop, done = builder.append_basic_block("absmax.loop"), builder.append_basic_block("absmax.done")
        builder.cbranch(builder.icmp_signed(">", an8, ir.Constant(i64, 0)), loop, done)
        builder.position_at_end(loop)
        i, acc = builder.phi(i64), builder.phi(vty)
        i.add_incoming(ir.Constant(i64, 0), pre)
        acc.add_incoming(init, pre)
        a = builder.call(fabs, [builder.load(builder.bitcast(builder.gep(ptr, [i]), vty.as_pointer()),
                                             align=dt.bitwidth // 8)])
        acc2 = builder.select(builder.fcmp_ordered(">", a, acc), a, acc)      # max(acc, a): acc unless a > acc
        i2 = builder.add(i, ir.Constant(i64, _AL))
        i.add_incoming(i2, loop)
        acc.add_incoming(acc2, loop)
        builder.cbranch(builder.icmp_signed("<", i2, an8), loop, done)
        builder.position_at_end(done)
        res = builder.phi(vty)
        res.add_incoming(init, pre)
        res.add_incoming(acc2, loop)
        m = builder.extract_element(res, ir.Constant(i32, 0))
        for lane in range(1, _AL):
            e = builder.extract_element(res, ir.Constant(i32, lane))
            m = builder.select(builder.fcmp_ordered(">", e, m), e, m)
        return m
    return dt(row, types.int64, dt), codegen


@njit(inline="always", cache=True)
def _absmax(row, init):
    """``max(init, max |row|)`` ignoring NaNs (the DAC's abs-max scale): 8 lanes, then the tail."""
    n = row.shape[0]
    n8 = n - n % _AL
    m = _absmax_lanes(row, n8, init)
    for r in range(n8, n):
        m = max(m, abs(row[r]))
    return m


@njit(inline="always", cache=True)
def _dac_row(x, starts, nm, mode, fp, xq, s, b):
    """Row ``b`` of :func:`_dac` (the one body both drivers run, so they give the same bits)."""
    nm_bound, tiny, bound, step = fp[0], fp[1], fp[2], fp[3]
    nb = starts.shape[0] - 1
    row, qrow = x[b], xq[b]
    if nm == 2:
        sc = _absmax(row, tiny) / nm_bound
        s[b, 0] = sc
        _scale_q_any(row, qrow, sc, mode, bound, step)
    else:
        for i in range(nb):
            a, e = starts[i], starts[i + 1]
            src, dst = row[a:e], qrow[a:e]
            if nm == 1:
                sc = _absmax(src, tiny) / nm_bound
                s[b, i] = sc
                _scale_q_any(src, dst, sc, mode, bound, step)
            else:
                for r in range(src.shape[0]):
                    dst[r] = src[r]
                _q_row(dst, mode, bound, step)


@njit(parallel=True, fastmath=False, cache=True)
def _dac(x, starts, nm, mode, fp, xq, s):
    """DAC of ``x`` (B, n) into ``xq``; with ``nm`` 1 (``nm_scope: tile``) each tile ``i`` (lines
    ``starts[i]:starts[i+1]``) of each sample is first divided by its abs-max scale ``s[b, i] =
    max(max |x|, tiny) / nm_bound``; with ``nm`` 2 (``nm_scope: layer``) the whole row by one
    scale ``s[b, 0]`` over all its lines. ``fp`` (the data's dtype): (nm_bound, tiny, DAC bound,
    DAC step). Parallel over samples (:func:`_dac1`: the same rows on one thread)."""
    for b in prange(x.shape[0]):
        _dac_row(x, starts, nm, mode, fp, xq, s, b)


@njit(fastmath=False, cache=True)
def _dac1(x, starts, nm, mode, fp, xq, s):
    """:func:`_dac` on one thread (no parallel region to enter: numba runs one thread)."""
    for b in range(x.shape[0]):
        _dac_row(x, starts, nm, mode, fp, xq, s, b)


@njit(inline="always", cache=True)
def _absorb(h, v):
    """One value absorbed into a stream key, as :func:`analog_ep.analog.streams.stream_key`."""
    h = _mix(h + _G)
    return _mix(h ^ v)


@njit(inline="always", cache=True)
def _mix(z):
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@njit(inline="always", cache=True)
def _one_pass(src, nz, acc, div, std, lo, bound, step, ws, sl, zero, mode, noisy):
    """A one-tile row's whole output stage in one pass (``mode``, ``noisy`` constants:
    :func:`_one_pass_any`): ``acc = ((0 + adc(src / div [+ std nz])) * ws) * sl``, the operations
    of :func:`_stage_row`'s passes per element in their order (``sl`` 1 without the layer scale:
    a product by one is exact)."""
    for c in range(acc.shape[0]):
        x = src[c] / div
        if noisy:
            x = x + std * nz[c]
        acc[c] = ((zero + _q1(x, mode, lo, bound, step)) * ws) * sl


@njit(inline="always", cache=True)
def _one_pass_any(src, nz, acc, div, std, bound, step, ws, sl, zero, mode, noisy):
    """:func:`_one_pass` for runtime ``mode`` and ``noisy``: one compiled loop per combination."""
    lo = -bound
    if noisy:
        if mode == 3:
            _one_pass(src, nz, acc, div, std, lo, bound, step, ws, sl, zero, 3, True)
        elif mode == 1:
            _one_pass(src, nz, acc, div, std, lo, bound, step, ws, sl, zero, 1, True)
        elif mode == 2:
            _one_pass(src, nz, acc, div, std, lo, bound, step, ws, sl, zero, 2, True)
        else:
            _one_pass(src, nz, acc, div, std, lo, bound, step, ws, sl, zero, 0, True)
    elif mode == 3:
        _one_pass(src, nz, acc, div, std, lo, bound, step, ws, sl, zero, 3, False)
    elif mode == 1:
        _one_pass(src, nz, acc, div, std, lo, bound, step, ws, sl, zero, 1, False)
    elif mode == 2:
        _one_pass(src, nz, acc, div, std, lo, bound, step, ws, sl, zero, 2, False)
    else:
        _one_pass(src, nz, acc, div, std, lo, bound, step, ws, sl, zero, 0, False)


@njit(inline="always", cache=True)
def _stage_row(t, cur, s, ka, kb, ip, fp, out, b, v, nz):
    """Row (sample) ``b`` of :func:`_stage`, with the row buffers ``v`` (M) and ``nz`` (padded M,
    float32); the one body both drivers run, so they give the same bits."""
    _stage_row_to(t, cur, s, ka, kb, ip, fp, out[b], b, v, nz)


@njit(inline="always", cache=True)
def _stage_row_to(t, cur, s, ka, kb, ip, fp, acc, b, v, nz):
    """:func:`_stage_row` into the row ``acc`` (M) instead of ``out[b]`` (the transposed conv's
    fused fold stages a sample's partials in a row buffer: :func:`_stage_fold`)."""
    blocks_first, has_cur, has_s, mode, row0 = ip[0], ip[1], ip[2], ip[3], ip[4]
    ir, div, std, bound, step, ws = fp[0], fp[1], fp[2], fp[3], fp[4], fp[5]
    one = fp[6]
    zero = fp[7]
    if blocks_first:
        nb, m = t.shape[0], t.shape[2]
    else:
        nb, m = t.shape[1], t.shape[2]
    mp = nz.shape[0]
    if nb == 1 and not has_cur and has_s != 1:   # one tile (the planned reads): one fused pass
        src = t[0, b] if blocks_first else t[b, 0]
        if std > 0:
            fill_row8(nz, ka, kb, (row0 + b) * mp)
        _one_pass_any(src, nz, acc, div, std, bound, step, ws, s[b, 0] if has_s == 2 else one, zero, mode,
                      std > 0)
        return
    for c in range(m):
        acc[c] = zero
    for i in range(nb):
        src = t[i, b] if blocks_first else t[b, i]
        for c in range(m):
            v[c] = src[c] / div
        if has_cur:
            g = cur[i, b] if blocks_first else cur[b, i]
            for c in range(m):
                v[c] = v[c] * (min(max(g[c], zero), one) * ir + one)
        if std > 0:
            fill_row8(nz, ka, kb, ((row0 + b) * nb + i) * mp)
            for c in range(m):
                v[c] = v[c] + std * nz[c]
        _q_row(v, mode, bound, step)
        if has_s == 1:
            sc = s[b, i]
            for c in range(m):
                acc[c] += v[c] * sc
        else:
            for c in range(m):
                acc[c] += v[c]
    for c in range(m):
        acc[c] *= ws
    if has_s == 2:
        sl = s[b, 0]
        for c in range(m):
            acc[c] *= sl


@njit(inline="always", cache=True)
def _key_words(key, read, absorb):
    """The read's normal8 key words: ``key_words(k)`` of ``k = key`` or, with ``absorb``,
    ``k = extend_key(key, read)`` (the per-read key from its phase's prefix key, as
    :meth:`~analog_ep.analog.storage.AnalogStorage._key`)."""
    if absorb:
        key = _absorb(key, np.uint64(read))
    k2 = _absorb(_absorb(_KEY0, key), np.uint64(2))     # stream_key(key, 2): .normal8.key_words
    return np.uint32(k2 & np.uint64(0xFFFFFFFF)), np.uint32(k2 >> np.uint64(32))


@njit(parallel=True, fastmath=False, cache=True)
def _stage(t, cur, s, key, read, ip, fp, out):
    """The fused output stage. ``t``: each tile's product, (nb, B, M) when ``ip[0]``
    (blocks first) else (B, nb, M), C-contiguous; ``cur``: the IR drop's relative currents alike
    (used when ``ip[1]``); ``s`` (B, nb): per-tile noise-management scales (``ip[2]`` 1) or the
    layer scale ``s[b, 0]`` (``ip[2]`` 2: multiplies the sum last, as :func:`reads._nm_back`);
    ``key``: the read's stream key (uint64), or with ``ip[5]`` its phase's prefix key, extended by
    ``read`` (int64, >= 0) here (:func:`_key_words`); ``ip``: (blocks first, IR drop, scales, ADC mode, first
    global row, absorb read); ``fp`` (the data's dtype):
    (-ir_drop, divisor, read_noise_std, ADC bound, ADC step, w_scale). Writes ``out`` (B, M) =
    ``w_scale * sum_i adc(irdrop(t_i / divisor) + noise) [* s_i]`` [``* s_b``]. Per (sample, tile) row,
    simple loops over an L1 row buffer (each vectorizes), parallel over samples (:func:`_stage1`:
    the same rows on one thread)."""
    ka, kb = _key_words(key, read, ip[5])
    m = t.shape[2]
    mp = (m + BLOCK - 1) // BLOCK * BLOCK       # the counter stride of a row (.normal8.padded)
    for b in prange(out.shape[0]):
        v = np.empty(m, dtype=out.dtype)
        nz = np.empty(mp, dtype=np.float32)
        _stage_row(t, cur, s, ka, kb, ip, fp, out, b, v, nz)


@njit(fastmath=False, cache=True)
def _stage1(t, cur, s, key, read, ip, fp, out):
    """:func:`_stage` on one thread (no parallel region to enter, the row buffers made once)."""
    ka, kb = _key_words(key, read, ip[5])
    m = t.shape[2]
    mp = (m + BLOCK - 1) // BLOCK * BLOCK
    v = np.empty(m, dtype=out.dtype)
    nz = np.empty(mp, dtype=np.float32)
    for b in range(out.shape[0]):
        _stage_row(t, cur, s, ka, kb, ip, fp, out, b, v, nz)


@njit(inline="always", cache=True)
def _stage_cl_row(t, s, ka, kb, ip, fp, out, b, nz, v):
    """Row (sample) ``b`` of :func:`_stage_cl`: the channels-last product ``t[b]`` (Ho Wo, C_out)
    transposed into the row buffer ``v`` (C_out Ho Wo: the NCHW row, in blocks of 16 pixels so the
    reads stay in cache lines), then :func:`_stage_row_to`'s one-tile pass on it: the same values,
    noise counter and operations per element as the stage of the product copied to NCHW."""
    has_s, mode, row0 = ip[2], ip[3], ip[4]
    div, std, bound, step, ws = fp[1], fp[2], fp[3], fp[4], fp[5]
    one = fp[6]
    zero = fp[7]
    n_pix, n_ch = t.shape[1], t.shape[2]
    if std > 0:
        fill_row8(nz, ka, kb, (row0 + b) * nz.shape[0])
    src = t[b]
    for p0 in range(0, n_pix, 16):
        p1 = min(n_pix, p0 + 16)
        for c in range(n_ch):
            for q in range(p0, p1):
                v[c * n_pix + q] = src[q, c]
    _one_pass_any(v, nz, out[b], div, std, bound, step, ws, s[b, 0] if has_s == 2 else one, zero, mode, std > 0)


@njit(parallel=True, fastmath=False, cache=True)
def _stage_cl(t, s, key, read, ip, fp, out):
    """The fused output stage of a one-tile read whose product is channels-last: ``t`` (B, Ho Wo,
    C_out) C-contiguous, ``out`` (B, C_out Ho Wo); ``s``, ``key``, ``read``, ``ip``, ``fp`` as
    :func:`_stage` (no IR drop, no per-tile scales). Parallel over samples (:func:`_stage_cl1`:
    the same rows on one thread). Replaces the copy of the product to NCHW (a tensor through
    memory) by a transpose into a per-sample row buffer."""
    ka, kb = _key_words(key, read, ip[5])
    m = t.shape[1] * t.shape[2]
    mp = (m + BLOCK - 1) // BLOCK * BLOCK
    for b in prange(out.shape[0]):
        nz = np.empty(mp, dtype=np.float32)
        v = np.empty(m, dtype=out.dtype)
        _stage_cl_row(t, s, ka, kb, ip, fp, out, b, nz, v)


@njit(fastmath=False, cache=True)
def _stage_cl1(t, s, key, read, ip, fp, out):
    """:func:`_stage_cl` on one thread (the row buffers made once)."""
    ka, kb = _key_words(key, read, ip[5])
    m = t.shape[1] * t.shape[2]
    mp = (m + BLOCK - 1) // BLOCK * BLOCK
    nz = np.empty(mp, dtype=np.float32)
    v = np.empty(m, dtype=out.dtype)
    for b in range(out.shape[0]):
        _stage_cl_row(t, s, ka, kb, ip, fp, out, b, nz, v)


@njit(inline="always", cache=True)
def _fold_row(col, img, g):
    """col2im of one sample (``F.fold`` on CPU: aten's ``col2im``, in its order): ``img`` (C_in H W,
    flat) is zeroed, then every column entry ``col[(c_col Ho + h_col) Wo + w_col]`` (c_col = (c, dh,
    dw) over C_in k k) is added to the pixel it reads, c_col, h_col, w_col ascending, so each pixel
    sums its patches in aten's order (the same bits). ``g``: (C_in, kh, kw, Ho, Wo, H, W, sh, sw,
    ph, pw)."""
    c_in, kh, kw, ho, wo, h, w, sh, sw, ph, pw = g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8], g[9], g[10]
    for e in range(img.shape[0]):
        img[e] = 0
    for c_col in range(c_in * kh * kw):
        w_off = c_col % kw
        h_off = (c_col // kw) % kh
        c_im = c_col // kh // kw
        # the columns whose pixel w_col sw - pw + w_off lies in [0, w): one add each (w_col -> pixel
        # is one to one), so skipping the others changes no sum and the inner loop has no branch
        w_lo = max(0, (pw - w_off + sw - 1) // sw)
        w_hi = min(wo, (w - 1 + pw - w_off) // sw + 1) if w - 1 + pw - w_off >= 0 else 0
        n = w_hi - w_lo
        if n <= 0:
            continue
        for h_col in range(ho):
            h_im = h_col * sh - ph + h_off
            if h_im < 0 or h_im >= h:
                continue
            dst = (c_im * h + h_im) * w - pw + w_off + w_lo * sw
            src = (c_col * ho + h_col) * wo + w_lo
            if sw == 1:   # contiguous: a simple loop on two views (it vectorizes)
                _add_into(img[dst:dst + n], col[src:src + n], n)
            else:
                for j in range(n):
                    img[dst + j * sw] += col[src + j]


@njit(inline="always", cache=True)
def _fold_row_pad(col, img, pad, g):
    """:func:`_fold_row` of a stride-1 read through a zero-bordered image ``pad`` (C_in, Ho + kh
    - 1, Wo + kw - 1: the image with its padding lines, flat): every column row adds whole
    ``Wo``-long rows (no clipped ends, no skipped rows: loops that vectorize), then the interior
    (the padding lines dropped) is copied to ``img``. An interior pixel receives the same adds
    as in :func:`_fold_row`, in the same order (c_col ascending, from 0), and the adds that land
    on the border are the ones :func:`_fold_row` skips: the same bits."""
    c_in, kh, kw, ho, wo, h, w, ph, pw = g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[9], g[10]
    hp = ho + kh - 1
    wp = wo + kw - 1
    for e in range(c_in * hp * wp):
        pad[e] = 0
    for c_col in range(c_in * kh * kw):
        w_off = c_col % kw
        h_off = (c_col // kw) % kh
        c_im = c_col // kh // kw
        for h_col in range(ho):
            dst = (c_im * hp + h_col + h_off) * wp + w_off
            src = (c_col * ho + h_col) * wo
            _add_into(pad[dst:dst + wo], col[src:src + wo], wo)
    for c in range(c_in):
        for i in range(h):
            _copy_into(img[(c * h + i) * w:(c * h + i + 1) * w], pad[(c * hp + i + ph) * wp + pw:], w)


@njit(inline="always", cache=True)
def _copy_into(dst, src, n):
    """``dst[i] = src[i]`` for ``i < n``."""
    for i in range(n):
        dst[i] = src[i]


@njit(inline="always", cache=True)
def _add_into(dst, src, n):
    """``dst[i] += src[i]`` for ``i < n``."""
    for i in range(n):
        dst[i] += src[i]


@njit(inline="always", cache=True)
def _stage_fold_row(t, cur, s, ka, kb, ip, fp, g, snm, out, b, v, nz, acc, pad):
    """Row (sample) ``b`` of :func:`_stage_fold`: the output stage of its partials into ``acc``
    (:func:`_stage_row_to`), their fold into ``out[b]`` (:func:`_fold_row`; stride 1:
    :func:`_fold_row_pad` through ``pad``, :func:`_pad_size` long), then, with ``g[11]``, the
    layer-scope noise-management scale ``snm[b, 0]`` (:func:`reads._nm_back`: after the fold)."""
    _stage_row_to(t, cur, s, ka, kb, ip, fp, acc, b, v, nz)
    img = out[b]
    if _pads(g):   # stride 1: the fold through the bordered image (whole rows)
        _fold_row_pad(acc, img, pad, g)
    else:
        _fold_row(acc, img, g)
    if g[11]:
        sl = snm[b, 0]
        for e in range(img.shape[0]):
            img[e] *= sl


@njit(inline="always", cache=True)
def _pads(g):
    """Whether the fold of the geometry ``g`` runs through a bordered image (:func:`_fold_row_pad`):
    stride 1, the image plus its padding lines exactly the span of the patches (no output padding)."""
    return (g[7] == 1 and g[8] == 1 and g[5] + 2 * g[9] == g[3] + g[1] - 1
            and g[6] + 2 * g[10] == g[4] + g[2] - 1)


@njit(inline="always", cache=True)
def _pad_size(g):
    """Length of :func:`_fold_row_pad`'s bordered image for the geometry ``g`` (1 where it is not used)."""
    if _pads(g):
        return g[0] * (g[3] + g[1] - 1) * (g[4] + g[2] - 1)
    return 1


@njit(parallel=True, fastmath=False, cache=True)
def _stage_fold(t, cur, s, key, read, ip, fp, g, snm, out):
    """The transposed conv read after its products: :func:`_stage` on each sample's partials
    ``t`` (B, nb, C_in k k Ho Wo), then the fold onto the pre node ``out`` (B, C_in H W) and the
    noise-management scale, per sample in a row buffer (no (B, C_in k k, Ho Wo) tensor, no second
    pass); parallel over samples (:func:`_stage_fold1`: the same rows on one thread)."""
    ka, kb = _key_words(key, read, ip[5])
    m = t.shape[2]
    mp = (m + BLOCK - 1) // BLOCK * BLOCK
    for b in prange(out.shape[0]):
        v = np.empty(m, dtype=out.dtype)
        nz = np.empty(mp, dtype=np.float32)
        acc = np.empty(m, dtype=out.dtype)
        pad = np.empty(_pad_size(g), dtype=out.dtype)
        _stage_fold_row(t, cur, s, ka, kb, ip, fp, g, snm, out, b, v, nz, acc, pad)


@njit(fastmath=False, cache=True)
def _stage_fold1(t, cur, s, key, read, ip, fp, g, snm, out):
    """:func:`_stage_fold` on one thread (the row buffers made once)."""
    ka, kb = _key_words(key, read, ip[5])
    m = t.shape[2]
    mp = (m + BLOCK - 1) // BLOCK * BLOCK
    v = np.empty(m, dtype=out.dtype)
    nz = np.empty(mp, dtype=np.float32)
    acc = np.empty(m, dtype=out.dtype)
    pad = np.empty(_pad_size(g), dtype=out.dtype)
    for b in range(out.shape[0]):
        _stage_fold_row(t, cur, s, ka, kb, ip, fp, g, snm, out, b, v, nz, acc, pad)


@njit(inline="always", cache=True)
def _pool_window(y, k, w, oh, ow):
    """The flat index aten's CPU max-pool (``cpu_max_pool``, NCHW) picks in window (``oh``,
    ``ow``) of the plane ``y``: it scans rows then columns from ``-inf`` at the window's first
    index and takes a value when it is larger or NaN (so the first of equal maxima, the last NaN)."""
    i = oh * k * w + ow * k
    mv = -np.inf
    for ih in range(oh * k, oh * k + k):
        for iw in range(ow * k, ow * k + k):
            e = ih * w + iw
            a = y[e]
            if a > mv or a != a:
                mv = a
                i = e
    return i


@njit(inline="always", cache=True)
def _pool_plane(y, out, idx, k, h, w):
    """``k`` x ``k`` max-pool (stride ``k``) of one H x W plane ``y`` (flat) into ``out`` / ``idx``
    (flat Ho x Wo): the index of :func:`_pool_window` and the value there. For ``k`` 2 without
    NaN, the same index without a branch per value (ADC outputs tie often, so the scan's branches
    mispredict): ``m`` the window's maximum, the index the first of the four (scan order) equal
    to ``m`` (``-0 == +0``: the first zero, as the scan keeps it); an output row with a NaN is
    redone by :func:`_pool_window`."""
    ho, wo = h // k, w // k
    if k != 2:
        for oh in range(ho):
            for ow in range(wo):
                i = _pool_window(y, k, w, oh, ow)
                out[oh * wo + ow] = y[i]
                idx[oh * wo + ow] = i
        return
    for oh in range(ho):
        r0 = 2 * oh * w
        nan = False
        for ow in range(wo):
            e0 = r0 + 2 * ow
            a0, a1, a2, a3 = y[e0], y[e0 + 1], y[e0 + w], y[e0 + w + 1]
            m = max(max(a0, a1), max(a2, a3))
            j = np.int64(a0 != m) * (1 + np.int64(a1 != m) * (1 + np.int64(a2 != m)))   # first equal: 0..3
            i = e0 + (j & 1) + (j >> 1) * w
            out[oh * wo + ow] = y[i]
            idx[oh * wo + ow] = i
            nan |= (a0 != a0) | (a1 != a1) | (a2 != a2) | (a3 != a3)
        if nan:
            for ow in range(wo):
                i = _pool_window(y, 2, w, oh, ow)
                out[oh * wo + ow] = y[i]
                idx[oh * wo + ow] = i


@njit(parallel=True, fastmath=False, cache=True)
def _max_pool(y, k, h, w, out, idx):
    """:func:`_pool_plane` of every plane of ``y`` (B C, H W), parallel over planes
    (:func:`_max_pool1`: one thread)."""
    for i in prange(y.shape[0]):
        _pool_plane(y[i], out[i], idx[i], k, h, w)


@njit(fastmath=False, cache=True)
def _max_pool1(y, k, h, w, out, idx):
    """:func:`_max_pool` on one thread."""
    for i in range(y.shape[0]):
        _pool_plane(y[i], out[i], idx[i], k, h, w)


_SERIAL = numba.config.NUMBA_NUM_THREADS == 1
"""numba's thread pool holds one thread (``NUMBA_NUM_THREADS=1``): no parallel region can run more."""


def _serial() -> bool:
    """True when numba runs one thread here: the kernels' one-thread drivers then skip the parallel
    region (same rows, same bits). Decided by the pool's size (a later ``numba.set_num_threads(1)``
    under a larger pool keeps the parallel drivers: the same bits)."""
    return _SERIAL


_DUMMY = {np.float32: (np.zeros((1, 1, 1), np.float32), np.zeros((1, 1), np.float32)),
          np.float64: (np.zeros((1, 1, 1), np.float64), np.zeros((1, 1), np.float64))}
_PLANS: dict = {}


def _plan(p, dt, div: float, w_scale: float):
    """The output stage's packed constants for one (periphery, dtype, divisor, scale): cached
    (keyed by the periphery's identity, checked: hashing its fields costs more than the lookup)."""
    k = (id(p), dt, div, w_scale)
    pl = _PLANS.get(k)
    if pl is None or pl[2] is not p:
        if len(_PLANS) > 256:
            _PLANS.clear()
        mode, bound, step = _qmode(p.out_bits, p.out_bound)
        pl = _PLANS[k] = (mode, np.array([-p.ir_drop, div, p.read_noise_std, bound, step, w_scale, 1.0, 0.0],
                                         dtype=dt), p)
    return pl[0], pl[1]


_IPS: dict = {}


def _ip(*flags: int) -> np.ndarray:
    """The output stage's integer flags as an int64 array (cached: one per combination)."""
    a = _IPS.get(flags)
    if a is None:
        if len(_IPS) > 256:
            _IPS.clear()
        a = _IPS[flags] = np.array(flags, dtype=np.int64)
    return a


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy()


def _noise_key(p, randn, b: int) -> tuple[int, int]:
    """The output-noise stream of a read of ``b`` rows: ``(key, first row)`` of the keyed draw
    ``randn`` (host ints; a draw for a row slice of a larger batch starts at its own row), or
    ``(0, 0)`` without output noise."""
    if p.read_noise_std <= 0:
        return 0, 0
    rows = getattr(randn, "rows", None)
    return int(randn.key), int(rows[0]) if rows is not None and rows[1] != b else 0


def _finish(t: torch.Tensor, cur, s, p, div: float, w_scale: float, randn, blocks_first: bool = False,
            s_mode: int = 1) -> torch.Tensor:
    """Run :func:`_stage` on the products ``t`` (contiguous; (nb, B, M) when ``blocks_first``,
    else (B, nb, M)) -> (B, M) tensor; ``s``: noise-management scales per tile (``s_mode`` 1) or
    per sample in ``s[:, 0]`` (``s_mode`` 2)."""
    dt = np.float32 if t.dtype == torch.float32 else np.float64
    b = t.shape[1] if blocks_first else t.shape[0]
    out = torch.empty((b, t.shape[2]), dtype=t.dtype, device=t.device)
    mode, fp = _plan(p, dt, div, w_scale)
    key, row0 = _noise_key(p, randn, b)
    d3, d2 = _DUMMY[dt]
    ip = _ip(int(blocks_first), int(cur is not None), 0 if s is None else s_mode, mode, row0, 0)
    (_stage1 if _serial() else _stage)(t.detach().numpy(), d3 if cur is None else cur.contiguous().numpy(),
                                       d2 if s is None else s, np.uint64(key), 0, ip, fp, out.numpy())
    return out


_STARTS: dict = {}
_NM_TILE, _NM_LAYER = 1, 2   # abs-max noise management of a dense kernel: per tile, per layer


def _dac_dense(x: torch.Tensor, sizes: list, p, nm: int):
    """(x_q, s): the DAC of ``x`` (B, n) with optional abs-max scales ``s`` (B, nb): per tile
    (``nm`` 1), or per sample over the layer in ``s[:, 0]`` (``nm`` 2)."""
    x = x.detach().contiguous()
    dt = np.float32 if x.dtype == torch.float32 else np.float64
    k = (tuple(sizes), id(p), dt)
    pl = _STARTS.get(k)
    if pl is None or pl[3] is not p:
        if len(_STARTS) > 256:
            _STARTS.clear()
        mode, bound, step = _qmode(p.inp_bits, p.inp_bound)
        nm_bound = p.inp_bound if p.inp_bound is not None else 1.0
        pl = _STARTS[k] = (np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64), mode,
                           np.array([nm_bound, 1e-30, bound, step], dtype=dt), p)
    starts, mode, fp, _ = pl
    xq = torch.empty_like(x)
    s = np.empty((x.shape[0], len(sizes)), dtype=dt) if nm else _DUMMY[dt][1]
    (_dac1 if _serial() else _dac)(x.numpy(), starts, nm, mode, fp, xq.numpy(), s)
    return xq, (s if nm else None)


def _dense(lhs: torch.Tensor, w_blocks, sizes: list, p, w_scale: float, g_unit: float, randn) -> torch.Tensor:
    """A dense read on tiles: ``lhs`` (B, n) the driven lines, ``w_blocks(i)`` tile ``i``'s weights
    (lines x outputs) in effective units. The plain path divides the products by ``w_scale``
    (as :func:`reads._tiled`); per-tile noise management divides the weights first (as
    :func:`reads._managed`)."""
    nm = _NM_TILE if R._nm_tile(p) else (_NM_LAYER if p.noise_management == "abs_max" else 0)
    xq, s = _dac_dense(lhs, sizes, p, nm)
    if len(sizes) == 1 and nm != _NM_TILE and p.ir_drop == 0:   # one tile: one product, no slicing
        t = torch.mm(xq, w_blocks(0)).unsqueeze(0)                    # (1, B, M)
        return _finish(t, None, s, p, w_scale, w_scale, randn, blocks_first=True, s_mode=nm)
    lines = R._slices(sizes)
    nb, b = len(sizes), lhs.shape[0]
    ws = [w_blocks(i) for i in range(nb)]
    tile = nm == _NM_TILE
    if tile:
        ws = [wi / w_scale for wi in ws]
    m = ws[0].shape[1]
    t = torch.empty((nb, b, m), dtype=lhs.dtype, device=lhs.device)
    for i, sl in enumerate(lines):
        torch.mm(xq[:, sl], ws[i], out=t[i])
    cur = None
    if p.ir_drop > 0:
        cur = torch.empty_like(t)
        for i, sl in enumerate(lines):
            torch.mm(xq[:, sl].abs(), ws[i].abs(), out=cur[i])
        n = R._block_counts(sizes, t).view(-1, 1, 1)
        cur = cur.div_(n * (p.inp_bound * g_unit * (1.0 if tile else w_scale)))
    return _finish(t, cur, s, p, 1.0 if tile else w_scale, w_scale, randn, blocks_first=True, s_mode=nm)


_ONE_TILE: dict = {}
_NPDT = {torch.float32: np.float32, torch.float64: np.float64}   # the kernels' dtypes (kernels.select)


def _one_tile(p, dt, n: int, max_size: int, w_scale: float):
    """The packed plan of a dense read of ``n`` driven lines that fits one tile, with no IR drop
    and no per-tile noise management (the common read: one DAC pass, one product, one output
    stage), or None for any other read. Cached per (periphery, dtype, lines, tile size, scale),
    the periphery by identity (checked), so such a read makes no plan at all."""
    k = (id(p), dt, n, max_size, w_scale)
    pl = _ONE_TILE.get(k)
    if pl is None or pl[-1] is not p:
        if len(_ONE_TILE) > 256:
            _ONE_TILE.clear()
        sizes = R.split_sizes(n, max_size, p.tiling)
        plan = None
        if len(sizes) == 1 and not R._nm_tile(p) and p.ir_drop == 0:
            nm = _NM_LAYER if p.noise_management == "abs_max" else 0
            dmode, dbound, dstep = _qmode(p.inp_bits, p.inp_bound)
            nm_bound = p.inp_bound if p.inp_bound is not None else 1.0
            smode, sfp = _plan(p, dt, w_scale, w_scale)
            plan = (nm, np.array([0, n], dtype=np.int64), dmode,
                    np.array([nm_bound, 1e-30, dbound, dstep], dtype=dt), smode, sfp, {})
        pl = _ONE_TILE[k] = (plan, p)
    return pl[0]


def one_tile_plan(p, dtype: torch.dtype, n: int, max_size: int, w_scale: float):
    """:func:`_one_tile` for a torch dtype (float32 / float64): the plan of a one-tile dense read of
    ``n`` driven lines, or None."""
    return _one_tile(p, _NPDT[dtype], n, max_size, w_scale)


def _one_tile_read(lhs: torch.Tensor, w_t: torch.Tensor, plan, p, randn) -> torch.Tensor:
    """:func:`_dense`'s one-tile path (same kernels, same arguments, so the same bits) without
    its per-read bookkeeping (:func:`one_tile_read` with the stream of the keyed draw ``randn``)."""
    key, row0 = _noise_key(p, randn, lhs.shape[0])
    return one_tile_read(lhs, w_t, plan, key, 0, False, row0)


def one_tile_read(lhs: torch.Tensor, w_t: torch.Tensor, plan, key: int, read: int, absorb: bool,
                  row0: int) -> torch.Tensor:
    """A dense read that fits one tile (``plan``: :func:`_one_tile`): the DAC pass into a numpy
    buffer, one ``torch.mm`` with the tile's (lines x outputs) weights ``w_t``, the output stage
    into a fresh numpy array (the DAC output and the product go to scratch buffers the plan keeps
    per (rows, outputs, thread): a read is not re-entered, and threads do not share them). The output noise's stream: ``key`` (0 without output noise) or, with
    ``absorb``, ``extend_key(key, read)`` computed in the kernel (``key`` the phase's prefix key:
    the storage's per-read key without a host hash per read); ``row0`` the first global row
    (data parallel). The storage's relaxation reads call this directly
    (:meth:`~analog_ep.analog.storage.AnalogStorage.linear`); the same bits as
    :func:`dense_forward` / :func:`dense_transposed` with the draw of that key."""
    nm, starts, dmode, dfp, smode, sfp, bufs = plan
    x = lhs.detach() if lhs.requires_grad else lhs
    if not x.is_contiguous():
        x = x.contiguous()
    if w_t.requires_grad:
        w_t = w_t.detach()
    xn = x.numpy()
    b, m = xn.shape[0], w_t.shape[1]
    bk = (b, m, _ident())
    buf = bufs.get(bk)
    if buf is None:   # the read's scratch (DAC output, scales, product), kept per (rows, outputs, thread)
        if len(bufs) > 8:
            bufs.clear()
        xq = np.empty_like(xn)
        tt = torch.empty((b, m), dtype=lhs.dtype, device=lhs.device)
        buf = bufs[bk] = [xq, torch.from_numpy(xq), np.empty((b, 1), dtype=xn.dtype) if nm else
                          _DUMMY[xn.dtype.type][1], tt, tt.numpy().reshape(1, b, m), None, None, None, None]
    xq, xq_t, s, tt, t3, k_int, k_u64, ip_key, ip = buf
    if key is not k_int:            # the phase's key as uint64, converted once per key object
        k_u64 = buf[6] = np.uint64(key)
        buf[5] = key
    if ip_key != (row0, absorb):    # the stage's flags, kept with the scratch
        ip = buf[8] = _ip(1, 0, nm, smode, row0, int(absorb))
        buf[7] = (row0, absorb)
    one = _serial()
    (_dac1 if one else _dac)(xn, starts, nm, dmode, dfp, xq, s)
    torch.mm(xq_t, w_t, out=tt)
    out = np.empty((b, m), dtype=xn.dtype)
    (_stage1 if one else _stage)(t3, _DUMMY[xn.dtype.type][0], s, k_u64, read, ip, sfp, out)
    return torch.from_numpy(out)


def dense_forward(x, w, p, max_rows, w_scale, g_unit, randn=None, counter=None):
    """:func:`analog_ep.analog.reads.dense_read` as a fused kernel."""
    plan = _one_tile(p, _NPDT[x.dtype], x.shape[1], max_rows, w_scale)
    if plan is not None:
        R._count(counter, "forward", x.shape[0], 1)
        return _one_tile_read(x, w.t(), plan, p, randn)
    R._check(p)
    sizes = R.split_sizes(x.shape[1], max_rows, p.tiling)
    R._count(counter, "forward", x.shape[0], len(sizes))
    lines = R._slices(sizes)
    return _dense(x, lambda i: w[:, lines[i]].t(), sizes, p, w_scale, g_unit, randn)


def dense_transposed(y, w, p, max_cols, w_scale, g_unit, randn=None, counter=None):
    """:func:`analog_ep.analog.reads.dense_read_t` as a fused kernel."""
    plan = _one_tile(p, _NPDT[y.dtype], y.shape[1], max_cols, w_scale)
    if plan is not None:
        R._count(counter, "transposed", y.shape[0], 1)
        return _one_tile_read(y, w, plan, p, randn)
    R._check(p)
    sizes = R.split_sizes(y.shape[1], max_cols, p.tiling)
    R._count(counter, "transposed", y.shape[0], len(sizes))
    lines = R._slices(sizes)
    return _dense(y, lambda i: w[lines[i]], sizes, p, w_scale, g_unit, randn)


_CL = torch.channels_last


def _conv_dac(x: torch.Tensor, p):
    """The DAC of a conv read's input ``x`` (B, C, H, W) with its layer-scope abs-max noise
    management fused (:func:`_dac_dense` on each sample's C H W values: the same operations as
    :func:`reads._nm_layer` then :func:`periphery.dac`, as the dense kernels run them): ``(x_q,
    s)``, ``x_q`` in ``x``'s memory format (the layout the torch DAC keeps, so the product that
    follows runs the same algorithm), ``s`` (B, 1) numpy scales or None."""
    nm = _NM_LAYER if (p.noise_management == "abs_max" and p.nm_scope == "layer") else 0
    b = x.shape[0]
    cl = x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=_CL)
    # every DAC operation is per element but the abs-max (order-free), so a channels-last
    # sample is converted in its memory order, and x_q keeps that layout
    flat = x.permute(0, 2, 3, 1).reshape(b, -1) if cl else x.reshape(b, -1)
    xq, s = _dac_dense(flat, [flat.shape[1]], p, nm)
    xq = xq.view(b, x.shape[2], x.shape[3], x.shape[1]).permute(0, 3, 1, 2) if cl else xq.view(x.shape)
    return xq, s


def conv_forward(x, w, stride, padding, p, max_rows, w_scale, g_unit, randn=None, counter=None):
    """:func:`analog_ep.analog.reads.conv_read` (plain path) with the DAC and its layer-scope
    noise management in one pass (:func:`_conv_dac`), the tiles' products (one tile: the
    reference's conv, its channels-last output read in place by :func:`_stage_cl`; several:
    :func:`_conv_tiles`, one conv per tile without the reference's zero channels), and the fused
    output stage, which multiplies the noise-management scale last (as :func:`reads._nm_back`)."""
    R._check(p)
    c_out, c_in, kh, kw = w.shape
    sizes = R.conv_block_sizes(c_in, (kh, kw), max_rows, p.tiling)
    nb = len(sizes)
    (sh, sw), (ph, pw) = R._pair(stride), R._pair(padding)
    ho = (x.shape[2] + 2 * ph - kh) // sh + 1
    wo = (x.shape[3] + 2 * pw - kw) // sw + 1
    R._count(counter, "forward", x.shape[0] * ho * wo, nb)
    x_q, s_nm = _conv_dac(x, p)
    w_dev = w / w_scale
    if nb > 1:   # one conv per tile on its own channels (no zero-padded group): blocks first
        return _conv_tiles(x_q, w_dev, sizes, stride, padding, ho, wo, p, w_scale, g_unit, randn, s_nm)
    wg = R._stack_blocks(w_dev, 1, sizes).transpose(0, 1).reshape(c_out, c_in, kh, kw)
    t = F.conv2d(x_q, wg, stride=stride, padding=padding)
    if p.ir_drop == 0 and not t.is_contiguous() and t.is_contiguous(memory_format=_CL):
        return _finish_cl(t, s_nm, p, w_scale, randn)   # oneDNN's channels-last output, read in place
    t = t.reshape(t.shape[0], 1, c_out * ho * wo)                        # (B, 1, C_out Ho Wo)
    cur = None
    if p.ir_drop > 0:
        n = (R._block_counts(sizes, t) * (kh * kw)).view(1, nb, 1)
        c = F.conv2d(x_q.abs(), wg.abs(), stride=stride, padding=padding)
        cur = c.reshape(t.shape) / (n * (p.inp_bound * g_unit))
    return _finish(t, cur, s_nm, p, 1.0, w_scale, randn, s_mode=_NM_LAYER).reshape(x.shape[0], c_out, ho, wo)


def _finish_cl(t: torch.Tensor, s, p, w_scale: float, randn) -> torch.Tensor:
    """:func:`_finish` of a one-tile conv product ``t`` (B, C_out, Ho, Wo) in channels-last memory
    (:func:`_stage_cl`: no copy to NCHW first) -> an NCHW (B, C_out, Ho, Wo) tensor; ``s``: the
    layer noise-management scales (B, 1) or None."""
    b, c, ho, wo = t.shape
    dt = np.float32 if t.dtype == torch.float32 else np.float64
    out = torch.empty((b, c, ho, wo), dtype=t.dtype, device=t.device)
    mode, fp = _plan(p, dt, 1.0, w_scale)
    key, row0 = _noise_key(p, randn, b)
    ip = _ip(0, 0, 0 if s is None else _NM_LAYER, mode, row0, 0)
    (_stage_cl1 if _serial() else _stage_cl)(t.detach().permute(0, 2, 3, 1).numpy().reshape(b, ho * wo, c),
                                             _DUMMY[dt][1] if s is None else s, np.uint64(key), 0, ip, fp,
                                             out.numpy().reshape(b, c * ho * wo))
    return out


def _conv_tiles(x_q, w_dev, sizes, stride, padding, ho, wo, p, w_scale, g_unit, randn, s_nm):
    """The products of a conv read on several channel-block tiles: tile ``i``'s partial is
    ``conv2d`` over its own input channels (NCHW, as a group of the reference's grouped conv, but
    without the zero channels that pad the short tile to the largest: a 576-row layer on 512-row
    tiles is 56 + 8 channels, not 2 x 56), written to the tiles-first products (nb, B, C_out Ho Wo)
    that the fused output stage reads; the IR drop's currents alike. The partials are the same
    dot products as the grouped conv's (zero channels add nothing), summed by oneDNN in its own
    order for that shape (``tests/unit/test_conv_tile_products.py``: float tolerance without an
    ADC, one level at a level boundary with it)."""
    b, c_out = x_q.shape[0], w_dev.shape[0]
    kh, kw = w_dev.shape[2], w_dev.shape[3]
    nb = len(sizes)
    t = torch.empty((nb, b, c_out * ho * wo), dtype=x_q.dtype, device=x_q.device)
    cur = torch.empty_like(t) if p.ir_drop > 0 else None
    if cur is not None:   # each tile's line count x (inp_bound g_unit), as the reference's divisor
        den = (R._block_counts(sizes, t) * (kh * kw)) * (p.inp_bound * g_unit)
    for i, sl in enumerate(R._slices(sizes)):
        xi = x_q[:, sl].contiguous()
        wi = w_dev[:, sl].contiguous()
        t[i].view(b, c_out, ho, wo).copy_(F.conv2d(xi, wi, stride=stride, padding=padding))
        if cur is not None:
            cur[i].view(b, c_out, ho, wo).copy_(
                F.conv2d(xi.abs(), wi.abs(), stride=stride, padding=padding).div_(den[i]))
    return _finish(t, cur, s_nm, p, 1.0, w_scale, randn, blocks_first=True,
                   s_mode=_NM_LAYER).reshape(b, c_out, ho, wo)


def conv_transposed(y, w, stride, padding, output_padding, p, max_cols, w_scale, g_unit, randn=None,
                    counter=None):
    """:func:`analog_ep.analog.reads.conv_read_t` (plain path): the DAC with its layer-scope noise
    management in one pass (:func:`_conv_dac`), the reference's products, then per sample in one
    kernel (:func:`_stage_fold`) the output stage of its (C_in k k, Ho Wo) partials, their fold
    onto the pre node (aten's col2im order) and the noise-management scale (after the fold, as
    the reference)."""
    R._check(p)
    c_out, c_in, kh, kw = w.shape
    b, _, ho, wo = y.shape
    sizes = R.split_sizes(c_out, max_cols, p.tiling)
    nb = len(sizes)
    (sh, sw), (ph, pw), (oph, opw) = R._pair(stride), R._pair(padding), R._pair(output_padding)
    h = (ho - 1) * sh - 2 * ph + kh + oph
    wd = (wo - 1) * sw - 2 * pw + kw + opw
    r = c_in * kh * kw
    R._count(counter, "transposed", b * ho * wo, nb)
    y_q, s_nm = _conv_dac(y, p)
    w_dev = w / w_scale
    if nb == 1:   # one column tile: the same operands as the stacks of one block, without their copies
        yb = y_q.reshape(b, 1, c_out, ho * wo)                                   # (B, 1, cols, L)
        wb = w_dev.reshape(1, c_out, r).transpose(1, 2)                          # (1, R, cols)
    else:
        yb = R._stack_blocks(y_q.reshape(b, c_out, ho * wo), 1, sizes)         # (B, nb, cols, L)
        wb = R._stack_blocks(w_dev.reshape(c_out, r), 0, sizes).transpose(1, 2)  # (nb, R, cols)
    t = torch.matmul(wb, yb)                                                 # (B, nb, R, L)
    cur = None
    if p.ir_drop > 0:
        n = R._block_counts(sizes, t).view(1, nb, 1, 1)
        cur = (torch.matmul(wb.abs(), yb.abs()) / (n * (p.inp_bound * g_unit))).reshape(b, nb, r * ho * wo)
    t = t.reshape(b, nb, r * ho * wo)
    dt = np.float32 if t.dtype == torch.float32 else np.float64
    out = torch.empty((b, c_in, h, wd), dtype=t.dtype, device=t.device)
    mode, fp = _plan(p, dt, 1.0, w_scale)
    key, row0 = _noise_key(p, randn, b)
    d3, d2 = _DUMMY[dt]
    ip = _ip(0, int(cur is not None), 0, mode, row0, 0)
    g = np.array([c_in, kh, kw, ho, wo, h, wd, sh, sw, ph, pw, int(s_nm is not None)], dtype=np.int64)
    (_stage_fold1 if _serial() else _stage_fold)(t.detach().numpy(), d3 if cur is None else cur.contiguous().numpy(),
                                                 d2, np.uint64(key), 0, ip, fp, g, d2 if s_nm is None else s_nm,
                                                 out.numpy().reshape(b, c_in * h * wd))
    return out


def max_pool(y: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``F.max_pool2d(y, k, k, return_indices=True)`` of an NCHW-contiguous CPU tensor (no
    autograd) whose H and W ``k`` divides: the same values and indices (aten's scan order and
    tie / NaN rule, :func:`_pool_plane`), one pass instead of aten's NCHW kernel."""
    b, c, h, w = y.shape
    out = torch.empty((b, c, h // k, w // k), dtype=y.dtype, device=y.device)
    idx = torch.empty((b, c, h // k, w // k), dtype=torch.int64, device=y.device)
    (_max_pool1 if _serial() else _max_pool)(y.detach().numpy().reshape(b * c, h * w), k, h, w,
                                              out.numpy().reshape(b * c, -1), idx.numpy().reshape(b * c, -1))
    return out, idx


__all__ = ["conv_forward", "conv_transposed", "max_pool", "dense_forward", "dense_transposed", "one_tile_plan", "one_tile_read"]
