"""Fused numba kernels of the pulse engine (CPU): :func:`rounded_counts` in one pass, and
:func:`apply_counts` (the compact pulse rounds) in one pass over the devices.

:func:`analog_ep.analog.engine.rounded_counts` in torch runs about fifteen full-tensor passes per
update (the division, the counter-based uniforms' splitmix64 hash in int64 ops, the float
assembly, the compare, the clamp, the cast). This kernel computes every device's count in one
pass with the same arithmetic: the same hash words (:mod:`analog_ep.analog.streams`, uint64
wraparound equals torch's int64), the same exact uniforms (float32: ``(2 a + 1) 2^-24`` from the
low 23 bits ``a`` of int32 lane ``i`` of the words; float64: ``(a + 1/2) 2^-52`` from the top 52
bits of word ``i``), the division in the tensor's dtype, ``floor`` plus ``[u < r - floor(r)]``
(stochastic) or round half to even (deterministic), NaN to 0, clamp to ``[-bl, bl]``. So the
counts are bit-identical to the torch reference (tested), and ``compute.kernels`` chooses it as
it chooses the read kernels (:func:`analog_ep.analog.kernels.select_engine`).

:func:`apply_counts` replaces the torch engine's compact rounds (``nonzero``, gathers, about
twenty tensor passes per round, scatters) for the rules whose pulse has the affine form the rule
declares (:attr:`analog_ep.analog.rules.DeviceParams.pulse_form` ``"affine"``: ConstantStep,
LinearStep, SoftBounds)::

    mag = scale * (1 - slope * w)          (ConstantStep: mag = scale)
    mag = mag * (1 + dw_min_std * xi)      (mult_noise; else mag + scale * (dw_min_std * xi))
    w   = levels(clamp(w + sgn * mag, w_min, w_max))

with ``scale``, ``slope`` the device's up or down constants (:meth:`~analog_ep.analog.rules.
PulsedParams.directional`), device by device: every free device with ``n != 0`` gets
``min(|n|, cap)`` pulses, each through the rule with its own cycle-to-cycle normal. A device's
constants come from one row of an interleaved table (:func:`_device_table`, one cache line per
device), prefetched a few pulsed devices ahead (session 11: the rows' latency, not their count,
was the cost). The normal of
pulse ``k`` of device ``i`` is the torch engine's: Box-Muller on the hash word
``mix(i golden + stream_key(key, k))`` (:func:`analog_ep.analog.streams.normal_from`, same
lanes, same uniforms). float32 evaluates ``log`` and ``cos`` with Cephes' polynomials
(:func:`_log32`, :func:`_cos2pi32`: within 1e-6 of exact Box-Muller of the same uniforms, no libm
call), float64 with libm; the update kernel draws the first pulse's normals of a block of devices
ahead of the pulses (:func:`_first_normals`, vectorized), bit for bit the normals drawn one by one.
Every other operation is the torch engine's, in its order and dtype, so noise-free rounds are
bit-identical and noisy ones differ from the torch engine's by float rounding of the normals
(within 5.5e-7 of exact Box-Muller, torch's own float32 path within 1.8e-6; tested, with the stream's statistics, in ``tests/unit/test_pulse_normals.py``).

:func:`pulsed_update` (session 8, :func:`analog_ep.analog.engine.fused_update`) runs a whole
rounded or mixed update in one pass over the weight, row by row: the change from the optimizer's
proposal (``(W + p) - W`` in the weight's dtype, as the storage's ``commit`` forms it), the count
(:func:`_count_all`, the one definition of the count rules), the pulses
(:func:`_train`, the body :func:`_pulses` runs), ``wear``, the pulse total and the event statistic
of :func:`analog_ep.synapses.counters.row_pulse_stats` (the counting rule is defined there; the
kernel computes the same numbers, tested on random counts), written into the storage's buffers.
So it sends the pulses the step by step path sends, bit for bit (tested over several updates),
without its fifteen-odd full-tensor passes and temporaries.
"""

from __future__ import annotations

import math
import weakref

import numpy as np
import torch
from numba import njit, types
from llvmlite import ir
from numba.core import cgutils
from numba.extending import intrinsic, overload

from ..streams import _KEY0 as _K0
from ..streams import stream_key
from .normal import _G, _M1, _M2
from .normal8 import _COS_P, _LN2_HI, _LN2_LO, _LOG_P, _SIN_P

_M23 = np.uint64((1 << 23) - 1)
_ONE = np.uint64(0x3F800000)
_M52 = np.uint64((1 << 52) - 1)


@njit(inline="always", cache=True)
def _mix(z):
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


_TWO_PI_32 = 2.0 * math.pi * 2.0 ** -32
_LO32 = np.uint64(0xFFFFFFFF)
_TOP = np.uint64(1 << 31)


def _box_muller(z, fp):
    """:func:`analog_ep.analog.streams.normal_from` of one word ``z`` in the dtype of ``fp``
    (numba only: :func:`_box_muller_impl` picks the dtype's arithmetic at compile time)."""
    raise NotImplementedError


@intrinsic
def _f2i(typingctx, x):
    """The bits of a float32 as int32 (a bitcast; vectorizes)."""
    if x != types.float32:
        return None
    return types.int32(x), lambda context, builder, sig, args: builder.bitcast(args[0], ir.IntType(32))


@intrinsic
def _i2f(typingctx, x):
    """An int32's bits as float32 (a bitcast)."""
    if x != types.int32:
        return None
    return types.float32(x), lambda context, builder, sig, args: builder.bitcast(args[0], ir.FloatType())


def _prefetch_fn(module: ir.Module, ptr: ir.Type) -> ir.Function:
    """``llvm.prefetch`` (``void (ptr, i32 rw, i32 locality, i32 cache)``) declared in ``module``
    for the pointer type ``ptr``, its name's overload suffix mangled by llvmlite from the type as
    its IR layer spells it (``Module.declare_intrinsic``, as numba's own ``llvm.memset``):
    ``llvm.prefetch.p0i8`` for a typed ``i8*`` (the IR layer's pointers before llvmlite 0.45, and
    numba's still: LLVM 17+ reads it as ``ptr`` and remangles the name), ``llvm.prefetch.p0`` for an
    opaque ``ptr``."""
    i32 = ir.IntType(32)
    return module.declare_intrinsic("llvm.prefetch", (ptr,), ir.FunctionType(ir.VoidType(), [ptr, i32, i32, i32]))


@intrinsic
def _prefetch(typingctx, arr, idx):
    """A software prefetch (``llvm.prefetch``: read, high locality) of ``arr[idx]``'s cache line, a
    1-d or 2-d (row ``idx``) C array: a hint, no effect on any value."""
    if not isinstance(arr, types.Array) or not isinstance(idx, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        aty, _ = sig.args
        ary = context.make_array(aty)(context, builder, args[0])
        zero = context.get_constant(types.intp, 0)
        ind = [args[1]] + [zero] * (aty.ndim - 1)
        ptr = cgutils.get_item_pointer2(context, builder, ary.data, cgutils.unpack_tuple(builder, ary.shape),
                                        cgutils.unpack_tuple(builder, ary.strides), aty.layout, ind)
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        builder.call(_prefetch_fn(builder.module, i8p), [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()
    return types.void(arr, idx), codegen


_F = np.float32
_LOGP = tuple(_F(c) for c in _LOG_P)
_SINP = tuple(_F(c) for c in _SIN_P)
_COSP = tuple(_F(c) for c in _COS_P)
_HALF, _ONE32 = _F(0.5), _F(1.0)
_LN2H, _LN2L, _PI4_20 = _F(_LN2_HI), _F(_LN2_LO), _F(math.pi / 4 * 2.0 ** -20)


@njit(inline="always", cache=True)
def _log32(x):
    """``log x`` of a float32 ``x > 0`` (normal, finite): Cephes' ``logf`` (the read kernels'
    :mod:`.normal8` polynomial, without fused multiply-adds): ``x = m 2^e``, ``m`` in
    ``[sqrt(1/2), sqrt(2))``, ``f = m - 1``, ``log x = f - f^2 / 2 + f^3 P(f) + e log 2`` (~1 ulp)."""
    b = _f2i(x)
    mb = (b & 0x007FFFFF) | 0x3F000000                     # m = x 2^-e in [1/2, 1)
    small = np.int32(mb < 0x3F3504F3)                        # m < sqrt(1/2) (its float32 bits)
    e = (b >> 23) - 126 - small
    f = _i2f(np.int32(mb + (small << 23))) - _ONE32          # m or 2 m (exponent + 1), minus 1
    ef = _F(e)
    z = f * f
    p = _LOGP[0]
    p = p * f + _LOGP[1]
    p = p * f + _LOGP[2]
    p = p * f + _LOGP[3]
    p = p * f + _LOGP[4]
    p = p * f + _LOGP[5]
    p = p * f + _LOGP[6]
    p = p * f + _LOGP[7]
    p = p * f + _LOGP[8]
    y = p * f * z + ef * _LN2L - z * _HALF
    return (f + y) + ef * _LN2H


@njit(inline="always", cache=True)
def _cos2pi32(a):
    """``cos(2 pi a 2^-23)`` for an integer ``0 <= a < 2^23`` in float32, reduced exactly: octant
    ``q = a >> 20``, ``t = (a mod 2^20) 2^-20`` (odd octants ``1 - t``), then Cephes' ``sinf`` /
    ``cosf`` polynomials on ``[0, pi / 4]`` and the quadrant's swap and sign (no branch)."""
    q = a >> 20
    fr = a & 0xFFFFF
    odd = q & 1
    t = _F(fr + odd * (0x100000 - 2 * fr)) * _PI4_20        # odd octants: 1 - t
    z = t * t
    s = ((_SINP[0] * z + _SINP[1]) * z + _SINP[2]) * z * t + t
    c = ((_COSP[0] * z + _COSP[1]) * z + _COSP[2]) * z * z - z * _HALF + _ONE32
    k = q >> 1
    sel = -((odd ^ k) & 1)                                   # all ones: the sine (bit ops: no branch)
    v = (_f2i(s) & sel) | (_f2i(c) & ~sel)
    return _i2f(np.int32(v ^ (((k ^ (k >> 1)) & 1) << 31)))   # quadrants 1, 2: negative


@overload(_box_muller, jit_options={"cache": True})
def _box_muller_impl(z, fp):
    """float32: uniforms ``u1 = a 2^-23 + 2^-24`` and ``u2 = b 2^-23`` from the low 23 bits ``a``,
    ``b`` of the high and low lanes (those of :func:`analog_ep.analog.streams.normal_from`), and
    ``sqrt(-2 log u1) cos(2 pi u2)`` with :func:`_log32` and :func:`_cos2pi32` (polynomials, no
    libm call: the same normal as torch's ``log`` / ``cos`` of the same uniforms to a few float32
    ulps); float64: ``(u + 1/2) 2^-32`` and ``u 2^-32`` from the whole unsigned lanes ``u``, libm's
    ``log`` / ``cos``. ``fp[3]`` = -2, ``fp[4..6]`` = 2^-23, 1 - 2^-24, 2 pi."""
    if fp.dtype == types.float32:
        def impl32(z, fp):
            one = fp[1]
            u1 = (np.float32(np.int32(z >> np.uint64(32) & _M23)) * fp[4] + one) - fp[5]
            return math.sqrt(_log32(u1) * fp[3]) * _cos2pi32(np.int32(z & _M23))
        return impl32

    def impl64(z, fp):   # a lane read as signed int32 s: s + 2^31 = the unsigned lane with its top bit flipped
        u1 = (np.float64((z >> np.uint64(32)) ^ _TOP) + 0.5) * 2.0 ** -32
        th = np.float64((z & _LO32) ^ _TOP) * _TWO_PI_32
        return math.sqrt(math.log(u1) * -2.0) * math.cos(th)
    return impl64


@njit(inline="always", cache=True)
def _pulse(wi, scale, slope, sgn, xi, lo_b, hi_b, has_slope, noisy, mult, levels, fp):
    """One pulse of direction ``sgn`` (+-1) through the affine rule with the normal ``xi``: the
    new weight (:func:`_train`'s body)."""
    one = fp[1]
    mag = scale * (one - slope * wi) if has_slope else scale
    if noisy:
        if mult:
            mag = mag * (one + fp[0] * xi)
        else:
            mag = mag + scale * (fp[0] * xi)
    wn = min(max(wi + mag * sgn, lo_b), hi_b)
    if levels:
        dl = (hi_b - lo_b) / fp[7]
        if dl > fp[2]:
            q = lo_b + np.rint((wn - lo_b) / dl) * dl
            wn = min(max(q, lo_b), hi_b)
    return wn


@njit(inline="always", cache=True)
def _train(wi, m, up, su, sd, ku, kd, lo_b, hi_b, hb, keys, xi0, has_slope, noisy, mult, levels, fp):
    """``m >= 1`` pulses (up or down) of one free device at ``wi`` through the affine rule (the
    device's up / down constants ``su``, ``sd``, slopes ``ku``, ``kd``, bounds ``lo_b`` / ``hi_b``);
    pulse ``k`` draws the normal of the hash word ``mix(hb + keys[k])``, ``hb = i golden``, pulse
    0's given as ``xi0`` (:func:`_update` draws those ahead, :func:`_first_normals`). The new
    weight. The direction selects the constants by arithmetic (``x 1 + y 0 = x`` exactly), not by
    a branch: up and down pulses alternate at random, and a mispredicted branch per pulse cost more
    than the rule; the first pulse is straight-line code (most devices get one). Shared by
    :func:`_pulses` and :func:`_update` (one definition of the pulse)."""
    one = fp[1]
    upf = one if up else fp[2]
    dnf = one - upf
    sgn = upf - dnf
    scale = su * upf + sd * dnf
    slope = ku * upf + kd * dnf
    wi = _pulse(wi, scale, slope, sgn, xi0, lo_b, hi_b, has_slope, noisy, mult, levels, fp)
    for k in range(1, m):
        xi = _box_muller(_mix(hb + keys[k]), fp) if noisy else xi0
        wi = _pulse(wi, scale, slope, sgn, xi, lo_b, hi_b, has_slope, noisy, mult, levels, fp)
    return wi


@njit(inline="always", cache=True)
def _first_normals(live, t0, nb, k0, fp, zb, xb):
    """``xb[t]`` = the normal of pulse 0 of device ``live[t0 + t]`` for ``t < nb`` (the word
    ``mix(i golden + k0)``, then :func:`_box_muller`): two independent loops (the words, then the
    Box-Muller, which vectorizes in float32), ahead of the pulses that read them."""
    for t in range(nb):
        zb[t] = _mix(np.uint64(live[t0 + t]) * _G + k0)
    for t in range(nb):
        xb[t] = _box_muller(zb[t], fp)


@njit(inline="always", cache=True)
def _consts(fp):
    """The float constants as a tuple (registers): read from the array inside the pulse loop, every
    store to the weight could alias them and forces their reload (measured: +0.6 ms on 45k pulses)."""
    return (fp[0], fp[1], fp[2], fp[3], fp[4], fp[5], fp[6], fp[7])


_PULSE_BLOCK = 1024
"""Pulsed devices per block of :func:`_update`'s pulses (their first normals drawn ahead)."""

_AHEAD = 16
"""Listed devices ahead whose table row, weight and count the pulse loop prefetches."""

_STUCK = 6
"""Column of :func:`_device_table` holding the stuck flag (1: the device never moves)."""
_COLS = 8
"""Columns of the device table: up / down scale, up / down slope, lower / upper bound, stuck, and
one spare (a float32 row is 32 bytes, a float64 row 64: a pulsed device's constants in one cache
line)."""


def _device_table(dt, su, sd, ku, kd, wmin, wmax, stuck) -> np.ndarray:
    """The per-device constants a pulse reads, interleaved (an array of structs, ``(n, 8)`` in
    dtype ``dt``, rows aligned to 32 / 64 bytes): ``su, sd, ku, kd, w_min, w_max, stuck (0 / 1),
    0``. A pulsed device reads its constants from one cache line instead of seven arrays (the
    pulses visit ~11 % of the devices at sorted, scattered indices: nearly every line of every
    separate array was fetched). The values are the arrays' own (exact copies in ``dt``)."""
    n = su.shape[0]
    item = np.dtype(dt).itemsize
    raw = np.empty(n * _COLS + 64 // item, dtype=dt)
    off = (-raw.ctypes.data % 64) // item
    tab = raw[off:off + n * _COLS].reshape(n, _COLS)
    for k, a in enumerate((su, sd, ku, kd, wmin, wmax)):
        tab[:, k] = a
    tab[:, _STUCK] = stuck != 0
    tab[:, _STUCK + 1] = 0
    return tab


@njit(cache=True)
def _pulses(w, n, dev, keys, flags, fp, live):
    """The compact rounds of :func:`analog_ep.analog.engine.apply_counts`, device by device, in
    place on the flat ``w``. ``n`` (int32): signed counts; ``dev``: the device table
    (:func:`_device_table`: up / down scales and slopes, bounds, stuck); ``keys``: ``stream_key(key,
    k)`` of pulse ``k`` (its length caps the pulses); ``flags``: (has_slope, noisy, mult_noise,
    n_states or 0); ``fp`` (w's dtype): (dw_min_std, 1, 0, -2, 2^-23, 1 - 2^-24, 2 pi, n_states - 1);
    ``live``: a buffer of ``n``'s size. The devices with ``n != 0`` are listed first (in index
    order, without a branch), then pulsed with the table row and weight of the device
    :data:`_AHEAD` places on prefetched (as :func:`_update`'s pulses): each device's pulses depend
    on its own values only, so the order of the devices is the one of a plain scan."""
    cap = keys.shape[0]
    if cap == 0:
        return
    has_slope, noisy, mult, levels = flags[0], flags[1], flags[2], flags[3]
    fp = _consts(fp)
    nl = 0
    for i in range(w.shape[0]):
        live[nl] = i
        nl += n[i] != 0
    for t in range(nl):
        ip = live[min(t + _AHEAD, nl - 1)]
        _prefetch(dev, ip)
        _prefetch(w, ip)
        i = live[t]
        if dev[i, _STUCK] != 0:
            continue
        c = n[i]
        m = min(abs(c), cap)
        hb = np.uint64(i) * _G
        xi0 = _box_muller(_mix(hb + keys[0]), fp) if noisy else fp[2]
        w[i] = _train(w[i], m, c > 0, dev[i, 0], dev[i, 1], dev[i, 2], dev[i, 3], dev[i, 4], dev[i, 5], hb,
                      keys, xi0, has_slope, noisy, mult, levels, fp)


def _stochastic(r, counts, a, k0, blf):
    """Stochastic rounding of the devices ``a + i`` (``a`` even) from ``r[i]`` into ``counts[i]``
    (numba only; the dtype's arithmetic chosen at compile time): float32: the uniform of device ``i``
    ``(2 b + 1) 2^-24``, ``b`` the low 23 bits of lane ``i & 1`` of the word ``mix(j golden + k0)``,
    ``j = (a + i) >> 1`` (:func:`_round_lanes`, a chunk of words at a time); float64: ``(b + 1/2)
    2^-52``, ``b`` the top 52 bits of the word ``mix((a + i) golden + k0)``."""
    raise NotImplementedError


@overload(_stochastic, jit_options={"cache": True})
def _stochastic_impl(r, counts, a, k0, blf):
    if r.dtype == types.float32:
        def impl32(r, counts, a, k0, blf):
            n = r.shape[0]
            h = np.uint64(a >> 1)
            nw = (n + 1) >> 1
            zb = np.empty(min(nw, _WORDS), dtype=np.uint64)
            lanes = zb.view(np.uint32)  # little-endian: lane i & 1 of word i >> 1 is lanes[i]
            for w0 in range(0, nw, _WORDS):     # the words of a chunk, then its counts (vectorizes)
                m = min(_WORDS, nw - w0)
                for k in range(m):
                    zb[k] = _mix((h + np.uint64(w0 + k)) * _G + k0)
                i0 = 2 * w0
                i1 = min(i0 + 2 * m, n)
                _round_lanes(r[i0:i1], counts[i0:i1], lanes, blf)
        return impl32

    def impl64(r, counts, a, k0, blf):
        for i in range(r.shape[0]):
            z = _mix(np.uint64(a + i) * _G + k0)
            u = (np.float64((z >> np.uint64(12)) & _M52) + 0.5) * 2.0 ** -52
            f = np.floor(r[i])
            c = f + 1.0 if u < r[i] - f else f
            if c != c:
                c = 0.0
            counts[i] = np.int32(min(max(c, -blf), blf))
    return impl64


def _round_even(r, blf):
    """Round half to even, NaN to 0, clamp to ``[-bl, bl]`` (numba only, in ``r``'s dtype)."""
    raise NotImplementedError


@overload(_round_even, jit_options={"cache": True})
def _round_even_impl(r, blf):
    if r == types.float32:
        def impl32(r, blf):
            c = np.float32(np.rint(r))
            if c != c:
                c = np.float32(0.0)
            return np.int32(min(max(c, -blf), blf))
        return impl32

    def impl64(r, blf):
        c = np.rint(r)
        if c != c:
            c = 0.0
        return np.int32(min(max(c, -blf), blf))
    return impl64


def _trunc(x):
    """``trunc`` in ``x``'s dtype (numba only)."""
    raise NotImplementedError


@overload(_trunc, jit_options={"cache": True})
def _trunc_impl(x):
    if x == types.float32:
        return lambda x: np.float32(np.trunc(x))
    return lambda x: np.trunc(x)


_WORDS = 2048
"""Hash words per chunk of :func:`_count_all`'s float32 stochastic rounding (a 16 KB buffer)."""


@njit(inline="always", cache=True)
def _round_lanes(r, counts, lanes, blf):
    """float32 stochastic rounding of ``r[j]`` with the uniform ``(2 a + 1) 2^-24``, ``a`` the low
    23 bits of the 32-bit lane ``lanes[j]`` (:func:`_stochastic`'s float32 rounding; a loop over
    independent devices: it vectorizes)."""
    for j in range(r.shape[0]):
        x = r[j]
        u = np.float32(np.int32(lanes[j] & np.uint32(0x7FFFFF)) * 2 + 1) * np.float32(2.0 ** -24)
        f = np.float32(np.floor(x))
        c = f + np.float32(1.0) if u < x - f else f
        if c != c:
            c = np.float32(0.0)
        counts[j] = np.int32(min(max(c, -blf), blf))


@njit(inline="always", cache=True)
def _count_all(r, counts, chi, a, k0, rule, blf, dwm):
    """The counts of the flat devices ``a + i`` (``a`` even) from ``r[i]``, the change in device
    units (``d / w_scale``, and ``/ dw_min`` for the rounded rules), into ``counts[i]`` (int32;
    ``counts`` and ``chi`` are the range's views): the one definition of the count rules, for
    :func:`rounded_counts` and :func:`pulsed_update`. ``rule`` 0: stochastic rounding, the uniform
    of device ``i`` from the hash word ``mix(j golden + k0)``, ``j = i >> 1`` and lane ``i & 1``
    for float32, ``j = i`` for float64 (:func:`_stochastic`); 1: round half to
    even (:func:`_round_even`); 2: mixed, ``x = chi + r``, ``n = clamp(trunc(x / dw_min))``,
    ``chi = x - n dw_min``. NaN counts 0, clamped to ``[-bl, bl]``. A device's count depends on
    its index only, so ranges that split ``[0, n)`` give the counts of one call."""
    n = r.shape[0]
    if rule == 0:          # one loop per count rule (no per-device branch on the rule)
        _stochastic(r, counts, a, k0, blf)
    elif rule == 1:
        for i in range(n):
            counts[i] = _round_even(r[i], blf)
    else:
        for i in range(n):
            x = chi[i] + r[i]
            t = min(max(_trunc(x / dwm), -blf), blf)
            chi[i] = x - t * dwm
            counts[i] = np.int32(t)


_CHUNK = 4096
"""Devices per chunk of :func:`_counts` (even: a chunk starts on a float32 rounding word)."""


@njit(cache=True)
def _counts(dw, dw_min, k0, rule, blf, out):
    """:func:`rounded_counts`' kernel: ``r = dw / dw_min`` (in ``dw``'s dtype) chunk by chunk into
    a small buffer (no temporary of the weight's size), then the counts of rule ``rule`` (0
    stochastic, 1 round half to even) by :func:`_count_all`."""
    n = dw.shape[0]
    buf = np.empty(min(n, _CHUNK), dtype=dw.dtype)
    for a in range(0, n, _CHUNK):
        m = min(_CHUNK, n - a)
        r = buf[:m]
        src = dw[a:a + m]
        for i in range(m):
            r[i] = src[i] / dw_min
        _count_all(r, out[a:a + m], r, a, k0, rule, blf, dw_min)


@njit(cache=True, error_model="numpy")
def _update(w, src, we, chi, counts, wear, dev, keys, flags, fp,
            k0, uflags, ufp, cb_of, rb_of, ncb, nrb, stats, total, live):
    """One pulsed update of the flat weight ``w`` (in place) in four passes:

    1. (flat, over the devices) the change ``d``: ``src`` itself, or (``uflags[1]``) the optimizer's proposal
       ``src`` taken as ``(we + p) - we`` with ``we`` the effective weight (written back to
       ``src``), ``src`` zeroed after (``uflags[2]``); the count from ``d / w_scale``
       (:func:`_count_all`, ``uflags[0]``: 0 stochastic rounding with the hash words of ``k0``,
       1 round half to even, 2 mixed: ``chi += d / w_scale``, ``n = clamp(trunc(chi / dw_min))``, ``chi -= n
       dw_min``) into ``counts`` (int32);
    2. (flat, without a branch) the list of the devices with ``n != 0``, in index order;
    3. (over the list) per listed device ``wear += |n|``, the set / reset sums, the largest set and
       reset count of its crossbar row (``in``) in its column block ``cb_of[out]``: a device with
       ``n = 0`` adds nothing to any of them, so the list gives the full pass's numbers;
    4. (over the list, ``uflags[4]``) ``|n|`` pulses (``keys`` cap) of each listed free device through
       :func:`_train`, its constants from the device table ``dev`` (:func:`_device_table`: one
       cache line), in blocks of :data:`_PULSE_BLOCK` whose first normals are drawn ahead
       (:func:`_first_normals`); the table row, weight and count of the device :data:`_AHEAD`
       places on prefetched (their latency was the cost of the table without it). Then ``total[0] += sum |n|`` and (``uflags[5]``) ``stats`` (int64, aligned with
       :func:`analog_ep.synapses.counters.row_pulse_stats`) = that function's statistic: set and
       reset pulses, and from the rows' largest counts per tile (row block ``rb_of[in]``) the rows
       written, row slots and pulse rounds.

    ``ufp`` (w's dtype): (w_scale, dw_min, bl); ``uflags``: (count rule, form, zero, bl, pulse,
    count events); ``live``: a buffer of ``n`` entries for the list of pulsed devices."""
    n = w.shape[0]
    inner = rb_of.shape[0]
    rule, form, zero, pulse, count = uflags[0], uflags[1], uflags[2], uflags[4], uflags[5]
    has_slope, noisy, mult, levels = flags[0], flags[1], flags[2], flags[3]
    ws, dwm, blf, zero_f = ufp[0], ufp[1], ufp[2], fp[2]
    cap = keys.shape[0]
    # the change in device units, r = d / w_scale (/ dw_min for the rounded counts), in passes
    # without branches or hashing (vector divisions); in place when src is the proposal (cleared after)
    r = src if zero else np.empty_like(src)
    if form:               # the proposal as the optimizer's step on the float weight makes it
        if rule == 2:
            for i in range(n):
                e = we[i]
                r[i] = ((e + src[i]) - e) / ws
        else:
            for i in range(n):
                e = we[i]
                r[i] = ((e + src[i]) - e) / ws / dwm
    elif rule == 2:
        for i in range(n):
            r[i] = src[i] / ws
    else:
        for i in range(n):
            r[i] = src[i] / ws / dwm
    _count_all(r, counts, chi, 0, k0, rule, blf, dwm)
    if zero:
        src[:] = zero_f
    nl = 0
    for i in range(n):              # the devices to pulse, listed without a branch
        live[nl] = i
        nl += counts[i] != 0
    up_m = np.zeros((ncb, inner), dtype=np.int32)
    dn_m = np.zeros((ncb, inner), dtype=np.int32)
    setp = np.int64(0)
    resetp = np.int64(0)
    sends = pulse and cap > 0
    fp = _consts(fp)
    blk = max(min(nl, _PULSE_BLOCK), 1)     # no pulsed device: one empty block
    xb = np.zeros(blk, dtype=w.dtype)
    zb = np.empty(blk, dtype=np.uint64)
    k0p = keys[0] if cap > 0 else np.uint64(0)
    row = -1
    rend = 0                                # the end of row ``row`` (flat index)
    for t in range(nl):
        i = live[t]
        c = counts[i]
        while i >= rend:
            row += 1
            rend += inner
        j = i - (rend - inner)
        cb = cb_of[row]
        u = max(c, 0)
        dn = max(-c, 0)
        wear[i] += u + dn
        setp += u
        resetp += dn
        up_m[cb, j] = max(up_m[cb, j], u)
        dn_m[cb, j] = max(dn_m[cb, j], dn)
    if sends:
        for t0 in range(0, nl, blk):
            nb = min(blk, nl - t0)
            if noisy:
                _first_normals(live, t0, nb, k0p, fp, zb, xb)
            for t in range(nb):
                tp = min(t0 + t + _AHEAD, nl - 1)
                ip = live[tp]
                _prefetch(dev, ip)
                _prefetch(w, ip)
                _prefetch(counts, ip)
                i = live[t0 + t]
                c = counts[i]
                wi = _train(w[i], min(abs(c), cap), c > 0, dev[i, 0], dev[i, 1], dev[i, 2], dev[i, 3],
                            dev[i, 4], dev[i, 5], np.uint64(i) * _G, keys, xb[t], has_slope, noisy, mult,
                            levels, fp)
                if dev[i, _STUCK] == 0:
                    w[i] = wi
    total[0] += setp + resetp
    if not count:
        return
    written = np.int64(0)
    slots = np.int64(0)
    tu = np.zeros((nrb, ncb), dtype=np.int32)
    td = np.zeros((nrb, ncb), dtype=np.int32)
    for b in range(ncb):
        for j in range(inner):
            u, dn = up_m[b, j], dn_m[b, j]
            written += u + dn > 0
            slots += u + dn
            rb = rb_of[j]
            tu[rb, b] = max(tu[rb, b], u)
            td[rb, b] = max(td[rb, b], dn)
    rounds = 0
    for a in range(nrb):
        for b in range(ncb):
            rounds = max(rounds, tu[a, b] + td[a, b])
    stats[0] = setp
    stats[1] = resetp
    stats[2] = written
    stats[3] = slots
    stats[4] = rounds


_GEOMETRY: dict = {}


def _geometry(tile_rows, tile_cols):
    """``(cb_of, rb_of)``: the column block of each output line and the row block of each input
    line (int64; cached per tiling)."""
    ck = (tuple(tile_rows), tuple(tile_cols))
    g = _GEOMETRY.get(ck)
    if g is None:
        if len(_GEOMETRY) > 64:
            _GEOMETRY.clear()
        g = _GEOMETRY[ck] = (np.repeat(np.arange(len(tile_cols)), tile_cols).astype(np.int64),
                             np.repeat(np.arange(len(tile_rows)), tile_rows).astype(np.int64))
    return g


_SCRATCH: dict = {}


def _scratch(n: int) -> np.ndarray:
    """A kept int64 buffer of ``n`` entries for :func:`_update`'s list of pulsed devices (a fresh
    3 MB list per update of the 784x500 layer cost its page faults, ~0.2 ms); one per size."""
    a = _SCRATCH.get(n)
    if a is None:
        if len(_SCRATCH) > 8:
            _SCRATCH.clear()
        a = _SCRATCH[n] = np.empty(n, dtype=np.int64)
    return a


_NONE = {np.float32: np.empty(0, dtype=np.float32), np.float64: np.empty(0, dtype=np.float64)}
_NO_STATS = np.zeros(5, dtype=np.int64)


def pulsed_update(w: torch.Tensor, src: torch.Tensor, state, params, *, rule: int, form: bool, zero: bool,
                  we, chi, dw_min: float, bl: int, w_scale: float, round_key: int, pulse_key: int,
                  pulse: bool, counts: torch.Tensor, wear: torch.Tensor, total: torch.Tensor,
                  stats, tile_rows, tile_cols) -> None:
    """:func:`_update` on CPU tensors (``w``, ``src``, ``we``, ``chi``: the weight's
    contiguous layout and dtype, ``None`` where absent; ``counts`` / ``wear`` int32 of its shape;
    ``total`` the int64 pulse total (0-dim); ``stats`` an int64 (5,) tensor that receives the
    update's event statistic, or None). The
    rounding stream is ``stream_key(round_key, 0)`` (as :func:`rounded_counts`), the pulses'
    ``stream_key(pulse_key, k)`` (as :func:`apply_counts`)."""
    dt = np.float32 if w.dtype == torch.float32 else np.float64
    out_lines = w.shape[0]
    cb_of, rb_of = _geometry(tile_rows, tile_cols)
    if cb_of.shape[0] != out_lines or cb_of.shape[0] * rb_of.shape[0] != w.numel():
        raise ValueError(f"tiles {tile_rows} x {tile_cols} do not cover the weight {tuple(w.shape)}")
    dev, flags, fp = _rule_arrays(w.dtype, dt, state, params)
    ck = (rule, form, zero, bl, pulse, stats is not None, w_scale, dw_min, dt)
    small = _SMALL.get(ck)
    if small is None:
        if len(_SMALL) > 64:
            _SMALL.clear()
        small = _SMALL[ck] = (np.array([rule, int(form), int(zero), bl, int(pulse), int(stats is not None)],
                                       dtype=np.int64), np.array([w_scale, dw_min, bl], dtype=dt))
    uflags, ufp = small
    _update(_np(w), src.view(-1).numpy(), _NONE[dt] if we is None else we.view(-1).numpy(),
            _NONE[dt] if chi is None else _np(chi), _np(counts), _np(wear), dev,
            _keys(pulse_key, int(bl)), flags, fp,
            np.uint64(stream_key(round_key, 0)), uflags, ufp, cb_of, rb_of, len(tile_cols), len(tile_rows),
            _NO_STATS if stats is None else _np(stats), _np(total), _scratch(w.numel()))


_SMALL: dict = {}
_VIEWS: dict = {}


def _np(t: torch.Tensor) -> np.ndarray:
    """The flat numpy view of a contiguous CPU tensor, kept for the storage's buffers that every
    update passes again (the weight, accumulator, counts, wear, statistics, total: a
    ``.view(-1).numpy()`` costs a few us): valid while the tensor is alive and keeps its memory
    (the same data pointer, size and dtype)."""
    e = _VIEWS.get(id(t))
    if (e is not None and e[0]() is t and e[1] == t.data_ptr() and e[2].size == t.numel()
            and e[3] == t.dtype):
        return e[2]
    a = t.view(-1).numpy()  # (a non-contiguous tensor raises: a copy would lose the kernel's writes)
    key = id(t)
    _VIEWS[key] = (weakref.ref(t, lambda _, k=key: _VIEWS.pop(k, None)), t.data_ptr(), a, t.dtype)  # dropped with t
    return a


def supports(params) -> bool:
    """Whether :func:`apply_counts` runs ``params``' rule: its pulse has the affine form
    (:attr:`~analog_ep.analog.rules.DeviceParams.pulse_form`)."""
    return getattr(params, "pulse_form", None) == "affine"


_KEYS: dict = {}
_KEY0 = np.uint64(_K0)


@njit(cache=True)
def _key_array(key, cap, out):
    """``out[k] = stream_key(key, k)`` for ``k < cap``: the streams' absorb (``h = mix(h + G)``,
    ``h = mix(h ^ v)``, :func:`analog_ep.analog.streams.extend_key`) in uint64 arithmetic."""
    h = _mix(_mix(_KEY0 + _G) ^ key)
    h = _mix(h + _G)
    for k in range(cap):
        out[k] = _mix(h ^ np.uint64(k))


def _keys(key: int, cap: int) -> np.ndarray:
    """``stream_key(key, k)`` for ``k < cap`` (uint64; the last few cached): one numba pass (the
    host hash of ~4 x cap 64-bit mixes cost ~0.3 ms per update)."""
    ck = (key, cap)
    a = _KEYS.get(ck)
    if a is None:
        if len(_KEYS) > 16:
            _KEYS.clear()
        a = _KEYS[ck] = np.empty(cap, dtype=np.uint64)
        _key_array(np.uint64(key), cap, a)
    return a


def _rule_arrays(dtype: torch.dtype, dt, state, params):
    """A device rule's per-device constants as the pulse body :func:`_train` reads them (the one
    copy :func:`apply_counts` and :func:`pulsed_update` share): ``(dev, flags, fp)``: the device
    table (:func:`_device_table`: step scales, the nonlinearity slopes (or the scales again),
    bounds and stuck flags, interleaved, in the weight's dtype), the flags (slope, noise,
    multiplicative noise, levels) and the float constants (noise std, levels - 1, ...).

    Kept on ``state`` (a storage hands the same object while its buffers stay the same) for the
    same ``dtype`` and ``params`` while no field was changed in place (the tensors' versions: a
    field changed anywhere rebuilds the table from the state's tensors, so it always holds their
    values): the conversions cost ~65 us an update, more than the small layer's kernel."""
    names = ("w_max", "w_min", "scale_up", "scale_down", "nl_up", "nl_down", "stuck")
    tensors = [getattr(state, f) for f in names]
    # params are frozen dataclasses kept alive by the memo: their identity stands for every field
    key = (dtype, id(params), tuple(t._version for t in tensors), tuple(id(t) for t in tensors))
    memo = state.__dict__.get("_kernel_arrays")
    if memo is not None and memo[0] == key:
        return memo[1]
    fields = [t.reshape(-1) for t in tensors[:4]]
    has_slope = "nl_up" in params.state_fields
    fields += ([t.reshape(-1) for t in tensors[4:6]] if has_slope else fields[2:4])
    wmax, wmin, su, sd, ku, kd = [f.to(dtype).contiguous().numpy() for f in fields]
    dev = _device_table(dt, su, sd, ku, kd, wmin, wmax, tensors[6].reshape(-1).numpy())
    levels = params.n_states or 0
    fp = np.array([params.noise_std, 1.0, 0.0, -2.0, 2.0 ** -23, 1.0 - 2.0 ** -24, 2.0 * math.pi,
                   max(levels - 1, 1)], dtype=dt)
    flags = np.array([int(has_slope), int(params.noise_std > 0), int(bool(getattr(params, "mult_noise", True))),
                      levels], dtype=np.int64)
    out = (dev, flags, fp)
    state.__dict__["_kernel_arrays"] = (key, out, params, tensors)
    return out


def apply_counts(flat: torch.Tensor, nf: torch.Tensor, state, params, key: int, cap) -> torch.Tensor:
    """The compact rounds of :func:`analog_ep.analog.engine.apply_counts` on the contiguous flat
    CPU weights ``flat`` (in place; returned): signed counts ``nf`` (flat), ``min(|n|, cap)``
    pulses per free device (``cap`` None: ``max |n|``) with the engine's cycle-to-cycle stream
    ``key``. Rules with :func:`supports` only."""
    dt = np.float32 if flat.dtype == torch.float32 else np.float64
    n = nf if nf.dtype == torch.int32 else nf.to(torch.int32)
    n = n.contiguous()
    if cap is None:
        cap = int(n.abs().max()) if n.numel() else 0
    dev, flags, fp = _rule_arrays(flat.dtype, dt, state, params)
    _pulses(flat.numpy(), n.numpy(), dev, _keys(key, max(int(cap), 0)), flags, fp, _scratch(flat.numel()))
    return flat


def rounded_counts(dw: torch.Tensor, dw_min: float, rounding: str, bl: int, key: int) -> torch.Tensor:
    """:func:`analog_ep.analog.engine.rounded_counts` (float32 / float64 CPU tensors, validated
    arguments) as one fused pass; bit-identical counts."""
    src = dw.detach().contiguous().reshape(-1)
    out = torch.empty(src.shape, dtype=torch.int32, device=src.device)
    dt = np.float32 if src.dtype == torch.float32 else np.float64
    _counts(src.numpy(), dt(dw_min), np.uint64(stream_key(key, 0)), 0 if rounding == "stochastic" else 1,
            dt(bl), out.numpy())
    return out.view(dw.shape)


__all__ = ["apply_counts", "pulsed_update", "rounded_counts", "supports"]
