"""A vectorized counter-based standard normal for the numba read kernels (8 float32 lanes).

``fill_row8(out, ka, kb, g0)`` writes ``out[c]`` (float32, ``len(out)`` a multiple of 16) for
the elements ``g = g0 + c`` of a read: a pure function of the read's 64-bit stream key (as two
32-bit words ``ka``, ``kb``: :func:`key_words`) and the element's index ``g`` within the read
(``g = row * padded_row_length + column``, so every element of a read has its own counter and no
two rows share a run of counters). Two steps, each written as 8-lane LLVM vector code (numba
types ``uint32`` arithmetic as 64-bit, so a plain loop would not vectorize: the block is built
with llvmlite's IR builder in a numba ``intrinsic``; generic vector IR, no target intrinsics):

1. **Words.** ``H(g) = h(h(g + ka) ^ kb)`` mod 2**32, ``h`` the ``lowbias32`` integer hash
   (xorshift-multiply, constants ``0x7feb352d``, ``0x846ca68b``, shifts 16, 15, 16; C. Wellons,
   "Prospecting for hash functions", 2018). ``h`` is a bijection of 32-bit words, so within a read
   the words are distinct; the two keyed rounds make reads with different keys unrelated.
2. **Box-Muller** in float32 (Box & Muller, Ann. Math. Stat. 29, 1958), on the pair of elements
   ``(c, c + 8)`` of each 16-element block: ``u = (floor(H(c) / 2) + 1/2) 2^-31`` in (0, 1),
   ``r = sqrt(-2 log u)``; ``theta = 2 pi (q + t) / 8`` with the octant ``q = H(c + 8) >> 29``
   and ``t = (H(c + 8) mod 2^29 + 1/2) 2^-29``; ``out[c] = r cos theta``, ``out[c + 8] = r sin
   theta``. ``log`` is Cephes' ``logf`` (mantissa in [sqrt(1/2), sqrt(2)), a degree-9
   polynomial, ~1 ulp); ``cos`` and ``sin`` are Cephes' ``cosf`` / ``sinf`` polynomials on
   ``[0, pi / 4]`` (odd octants reflect ``t -> 1 - t``, then the quadrant swaps and signs). No
   libm call, no table, no branch: every lane takes the same path.

Exact Box-Muller up to float32 rounding (a few ulp per value) and the uniforms' resolution: the
largest ``|z|`` is ``sqrt(2 * 32 log 2) = 6.66`` (the normal's mass beyond it is 3e-11).
:func:`reference` computes the same values in float64 with ``math.log`` / ``cos`` / ``sin``
from the same words (the tests' reference).

numba's on-disk cache (``cache=True``) checks only the file that defines a compiled function:
after editing this module, delete ``kernels/__pycache__/*.nbi`` / ``*.nbc`` (or touch
``numba_reads.py``), or :func:`.numba_reads._stage` keeps the old block.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from ..streams import stream_key

_I32, _F32 = ir.IntType(32), ir.FloatType()
_V8I, _V8F = ir.VectorType(_I32, 8), ir.VectorType(_F32, 8)
LANES = 8
BLOCK = 2 * LANES          # elements per vector block (a Box-Muller pair per lane)
H_MUL1, H_MUL2 = 0x7FEB352D, 0x846CA68B

# Cephes logf (x in [sqrt(1/2), sqrt(2)), f = x - 1): log x = f - f^2/2 + f^3 P(f)
_LOG_P = (7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1, 1.4249322787e-1,
          -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1)
_LN2_HI, _LN2_LO = 0.693359375, -2.12194440e-4
# Cephes sinf / cosf on [0, pi/4] (z = a^2)
_SIN_P = (-1.9515295891e-4, 8.3321608736e-3, -1.6666654611e-1)
_COS_P = (2.443315711809948e-5, -1.388731625493765e-3, 4.166664568298827e-2)


def key_words(key: int) -> tuple[np.uint32, np.uint32]:
    """The two 32-bit hash keys of the read with 64-bit stream key ``key``."""
    k = stream_key(key, 2)
    return np.uint32(k & 0xFFFFFFFF), np.uint32(k >> 32)


def _c8i(v: int):
    return ir.Constant(_V8I, [v & 0xFFFFFFFF if v >= 0 else v] * LANES)


def _c8f(v: float):
    return ir.Constant(_V8F, [float(np.float32(v))] * LANES)


def _declare(module, name: str, fnty):
    fn = module.globals.get(name)
    return fn if fn is not None else ir.Function(module, fnty, name)


def _block(builder, module, optr, pos, g, ka, kb):
    """The IR of one 16-element block at ``optr + pos`` for the counters ``g .. g + 15``."""
    def splat(s):
        v = builder.insert_element(ir.Constant(_V8I, ir.Undefined), s, ir.Constant(_I32, 0))
        return builder.shuffle_vector(v, v, ir.Constant(_V8I, [0] * LANES))

    def h(x):
        x = builder.xor(x, builder.lshr(x, _c8i(16)))
        x = builder.mul(x, _c8i(H_MUL1))
        x = builder.xor(x, builder.lshr(x, _c8i(15)))
        x = builder.mul(x, _c8i(H_MUL2))
        return builder.xor(x, builder.lshr(x, _c8i(16)))

    fma = _declare(module, "llvm.fma.v8f32", ir.FunctionType(_V8F, [_V8F, _V8F, _V8F]))

    def poly(x, coeffs):   # Horner with fused multiply-adds (one rounding each; exact IEEE fma)
        y = _c8f(coeffs[0])
        for c in coeffs[1:]:
            y = builder.call(fma, [y, x, _c8f(c)])
        return y

    ga = builder.add(splat(builder.trunc(g, _I32)), ir.Constant(_V8I, list(range(LANES))))
    gb = builder.add(ga, _c8i(LANES))
    vka, vkb = splat(ka), splat(kb)
    h1 = h(builder.xor(h(builder.add(ga, vka)), vkb))
    h2 = h(builder.xor(h(builder.add(gb, vka)), vkb))
    # u in (0, 1); log u (Cephes logf)
    u = builder.fmul(builder.fadd(builder.sitofp(builder.lshr(h1, _c8i(1)), _V8F), _c8f(0.5)), _c8f(2.0 ** -31))
    bits = builder.bitcast(u, _V8I)
    e = builder.sub(builder.lshr(bits, _c8i(23)), _c8i(126))                   # u = m 2^e, m in [1/2, 1)
    m = builder.bitcast(builder.or_(builder.and_(bits, _c8i(0x007FFFFF)), _c8i(0x3F000000)), _V8F)
    small = builder.fcmp_ordered("<", m, _c8f(math.sqrt(0.5)))
    e = builder.select(small, builder.sub(e, _c8i(1)), e)
    f = builder.fsub(builder.select(small, builder.fadd(m, m), m), _c8f(1.0))
    ef = builder.sitofp(e, _V8F)
    z = builder.fmul(f, f)
    y = builder.fmul(builder.fmul(poly(f, _LOG_P), f), z)
    y = builder.fadd(y, builder.fmul(ef, _c8f(_LN2_LO)))
    y = builder.fsub(y, builder.fmul(z, _c8f(0.5)))
    lg = builder.fadd(builder.fadd(f, y), builder.fmul(ef, _c8f(_LN2_HI)))
    sqrt = _declare(module, "llvm.sqrt.v8f32", ir.FunctionType(_V8F, [_V8F]))
    r = builder.call(sqrt, [builder.fmul(lg, _c8f(-2.0))])
    # theta = (q + t) pi / 4: the octant q, t in (0, 1); odd octants use 1 - t
    q = builder.lshr(h2, _c8i(29))
    odd = builder.icmp_unsigned("!=", builder.and_(q, _c8i(1)), _c8i(0))
    frac = builder.and_(h2, _c8i(0x1FFFFFFF))
    frac = builder.select(odd, builder.xor(frac, _c8i(0x1FFFFFFF)), frac)
    a = builder.fmul(builder.fadd(builder.sitofp(frac, _V8F), _c8f(0.5)), _c8f(2.0 ** -29 * math.pi / 4))
    za = builder.fmul(a, a)
    s0 = builder.fadd(builder.fmul(builder.fmul(poly(za, _SIN_P), za), a), a)
    c0 = builder.fadd(builder.fsub(builder.fmul(builder.fmul(poly(za, _COS_P), za), za),
                                   builder.fmul(za, _c8f(0.5))), _c8f(1.0))
    cb, sb = builder.select(odd, s0, c0), builder.select(odd, c0, s0)        # cos, sin of (q & 1 + t) pi/4
    k = builder.lshr(q, _c8i(1))                                             # quadrant: rotate by k pi/2
    kodd = builder.icmp_unsigned("!=", builder.and_(k, _c8i(1)), _c8i(0))
    cr, sr = builder.select(kodd, sb, cb), builder.select(kodd, cb, sb)
    sgn_c = builder.shl(builder.and_(builder.xor(k, builder.lshr(k, _c8i(1))), _c8i(1)), _c8i(31))
    sgn_s = builder.shl(builder.lshr(k, _c8i(1)), _c8i(31))
    cr = builder.bitcast(builder.xor(builder.bitcast(cr, _V8I), sgn_c), _V8F)
    sr = builder.bitcast(builder.xor(builder.bitcast(sr, _V8I), sgn_s), _V8F)
    p0 = builder.gep(optr, [pos])
    p1 = builder.gep(optr, [builder.add(pos, ir.Constant(pos.type, LANES))])
    builder.store(builder.fmul(r, cr), builder.bitcast(p0, _V8F.as_pointer()), align=4)
    builder.store(builder.fmul(r, sr), builder.bitcast(p1, _V8F.as_pointer()), align=4)


@intrinsic
def _block16(typingctx, out, pos, g, ka, kb):
    """``out[pos:pos + 16]`` = the normals of the counters ``g .. g + 15`` (float32 out)."""
    if not (isinstance(out, types.Array) and out.dtype == types.float32 and ka == types.uint32
            and kb == types.uint32):
        return None

    def codegen(context, builder, sig, args):
        aout, apos, ag, aka, akb = args
        optr = context.make_array(sig.args[0])(context, builder, aout).data
        _block(builder, builder.module, optr, apos, ag, aka, akb)
        return context.get_dummy_value()
    return types.void(out, types.intp, types.int64, types.uint32, types.uint32), codegen


@njit(inline="always", cache=True)
def fill_row8(out, ka, kb, g0):
    """``out[c]`` = normal of element ``g0 + c`` for ``c < len(out)`` (float32; ``len(out)`` a
    multiple of 16, ``g0`` a multiple of 16)."""
    for j in range(out.shape[0] // BLOCK):
        _block16(out, j * BLOCK, np.int64(g0 + j * BLOCK), ka, kb)


def padded(m: int) -> int:
    """A row of ``m`` elements padded to whole blocks (the counter stride between rows)."""
    return -(-m // BLOCK) * BLOCK


@njit(cache=True)
def _fill(out, ka, kb, row0):
    mp = out.shape[1]
    for r in range(out.shape[0]):
        fill_row8(out[r], ka, kb, (row0 + r) * mp)


def normals(key: int, rows: int, cols: int, row0: int = 0) -> np.ndarray:
    """The generator's normals of rows ``row0 .. row0 + rows - 1`` (float32, (rows, cols)) of the
    read with stream key ``key``: the values the kernels scale by the output-noise std."""
    ka, kb = key_words(key)
    out = np.empty((rows, padded(cols)), dtype=np.float32)
    _fill(out, ka, kb, row0)
    return out[:, :cols]


def _h(x: int) -> int:
    x &= 0xFFFFFFFF
    x ^= x >> 16
    x = (x * H_MUL1) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * H_MUL2) & 0xFFFFFFFF
    return x ^ (x >> 16)


def reference(key: int, row: int, cols: int) -> np.ndarray:
    """Plain-Python float64 Box-Muller of the same words (``math.log``, ``cos``, ``sin``): the
    values :func:`normals` approximates to float32 rounding."""
    ka, kb = (int(v) for v in key_words(key))
    mp = padded(cols)
    out = np.empty(mp)
    for c0 in range(0, mp, BLOCK):
        for i in range(LANES):
            g = row * mp + c0 + i
            h1 = _h(_h(g + ka) ^ kb)
            h2 = _h(_h(g + LANES + ka) ^ kb)
            u = ((h1 >> 1) + 0.5) * 2.0 ** -31
            theta = 2 * math.pi * ((h2 >> 29) + ((h2 & 0x1FFFFFFF) + 0.5) * 2.0 ** -29) / 8
            r = math.sqrt(-2.0 * math.log(u))
            out[c0 + i], out[c0 + LANES + i] = r * math.cos(theta), r * math.sin(theta)
    return out[:cols]


__all__ = ["BLOCK", "fill_row8", "key_words", "normals", "padded", "reference"]
