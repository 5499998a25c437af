"""numba kernels for the per-device pulse update, and the backend dispatch.

One scalar function, :func:`_pulse_once`, implements one pulse of every rule exactly as the torch
reference :func:`analog_ep.analog.devices._pulse` does (operation by operation, in float64). It
is compiled twice: ``numba.njit`` for the CPU kernel and ``numba.cuda.jit(device=True)`` for the
GPU kernel (which also runs under the CUDA simulator, ``NUMBA_ENABLE_CUDASIM=1``). Cycle-to-cycle
normals are drawn by torch from the caller's generator, in the order the torch reference consumes
them (see :func:`analog_ep.analog.devices.pulse_noise_counts`), and passed in; so the backends
agree to float32 rounding for the same generator state.

The ``fused`` backend (:func:`fused_update`) is a different kind of kernel: one parallel pass over
the devices that turns the desired change into a pulse count (stochastic or deterministic
rounding, or takes integer counts), settles each weight, applies all of the device's pulses with
the same scalar rule (inlined for the affine rules) and redraws its write noise. Its random numbers
do not come from torch: every device hashes ``(seed, device index, draw index)`` (splitmix64,
:func:`_mix64`) into uniforms and ziggurat normals (:func:`_normal`), with ``seed`` one 64-bit
draw from the caller's torch generator per call. So the result is a pure function of the
generator state (which advances, so runs resume exactly), independent of the number of numba
threads, and equal in distribution (not bitwise) to the torch path; noise-free it is the same.

numba is imported lazily, on the first kernel call.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np
import torch

from ..errors import ConfigError
from .devices import (DeviceParams, DeviceState, Generatorish, as_generator, pulse_noise_counts,
                      settle)
from .devices import _as_counts  # noqa: PLC2701 - shared helper

BACKENDS = ("torch", "numba", "cuda", "fused")

RULE_CODES = {"constant_step": 0, "linear_step": 1, "soft_bounds": 1, "exp_step": 2,
              "pow_step": 3, "piecewise_step": 4, "neurosim": 5}
"""Integer rule ids used inside the kernels (LinearStep and SoftBounds share one update)."""

# layout of the scalar-parameter vector ``sp``
SP_STD, SP_ADDITIVE, SP_A, SP_B, SP_A_UP, SP_A_DOWN, SP_G_UP, SP_G_DOWN, SP_N_LTP, SP_N_LTD, \
    SP_N_STATES = range(11)


def scalar_params(params: DeviceParams) -> np.ndarray:
    """The rule's scalar parameters packed for the kernels (float64, layout ``SP_*``)."""
    sp = np.zeros(11, dtype=np.float64)
    sp[SP_STD] = params.noise_std
    sp[SP_ADDITIVE] = float(params.rule in ("linear_step", "soft_bounds") and not params.mult_noise)
    if params.rule == "exp_step":
        sp[SP_A], sp[SP_B] = params.a, params.b
        sp[SP_A_UP], sp[SP_A_DOWN] = params.A_up, params.A_down
        sp[SP_G_UP], sp[SP_G_DOWN] = params.gamma_up, params.gamma_down
    if params.rule == "neurosim":
        sp[SP_N_LTP], sp[SP_N_LTD] = params.n_levels_ltp, params.n_levels_ltd
    sp[SP_N_STATES] = params.n_states or 0
    return sp


def _piecewise(params: DeviceParams) -> tuple[np.ndarray, np.ndarray]:
    if params.rule == "piecewise_step":
        return (np.asarray(params.piecewise_up, dtype=np.float64),
                np.asarray(params.piecewise_down, dtype=np.float64))
    return np.ones(1), np.ones(1)


# --------------------------------------------------------------------------------------------
# the scalar update (plain Python; compiled for CPU and CUDA)


def _rint(x):
    """Round half to even (as ``torch.round``)."""
    f = math.floor(x)
    r = x - f
    if r > 0.5:
        return f + 1.0
    if r < 0.5:
        return f
    return f + (f % 2.0)


def _quantize(w, wmn, wmx, sp):
    ns = sp[10]
    if ns > 0:
        delta = (wmx - wmn) / (ns - 1.0)
        if delta > 0:
            q = wmn + _rint((w - wmn) / delta) * delta
            return min(max(q, wmn), wmx)
    return w


def _pulse_once(rule, w, up, xi, wmx, wmn, su, sd, nlu, nld, sp, pw_up, pw_down):
    """One pulse on one device; ``xi`` is its standard normal (0 when noise-free)."""
    if rule == 5:  # NeuroSim G(P)
        rng = wmx - wmn
        if rng <= 0:
            return w
        g = min(max((w - wmn) / rng, 0.0), 1.0)
        if up:
            A = nlu
            N = sp[8]
            step = 1.0
        else:
            A = nld
            N = sp[9]
            step = -1.0
        c = -math.expm1(-N / A)
        if g * c >= 1.0:
            P = N
        else:
            P = min(max(-A * math.log1p(-g * c), 0.0), N)
        P = P + step
        g = -math.expm1(-P / A) / c
        g = g + sp[0] * xi
        g = min(max(g, 0.0), 1.0)
        return _quantize(wmn + g * rng, wmn, wmx, sp)

    if rule == 0:  # ConstantStep
        mag = su if up else sd
    elif rule == 1:  # LinearStep / SoftBounds
        mag = su * (1.0 - nlu * w) if up else sd * (1.0 - nld * w)
    elif rule == 2:  # ExpStep
        bdiff = wmx - wmn
        if bdiff <= 0:
            return w
        z = 2.0 * w / bdiff * sp[2] + sp[3]
        if up:
            mag = max(1.0 - sp[4] * math.exp(sp[6] * z), 0.0) * su
        else:
            mag = max(1.0 - sp[5] * math.exp(-sp[7] * z), 0.0) * sd
    elif rule == 3:  # PowStep
        rng = wmx - wmn
        if rng <= 0:
            return w
        if up:
            mag = su * math.pow(max((wmx - w) / rng, 0.0), nlu)
        else:
            mag = sd * math.pow(max((w - wmn) / rng, 0.0), nld)
    else:  # PiecewiseStep
        n_sec = pw_up.shape[0] - 1
        rng = wmx - wmn
        if n_sec <= 0 or rng <= 0:
            m = pw_up[0] if up else pw_down[0]
        else:
            ws = max((w - wmn) / rng * n_sec, 0.0)
            idx = min(math.floor(ws), n_sec - 1.0)
            t = min(ws - idx, 1.0)
            i = int(idx)
            if up:
                m = (1.0 - t) * pw_up[i] + t * pw_up[i + 1]
            else:
                m = (1.0 - t) * pw_down[i] + t * pw_down[i + 1]
        mag = su * m if up else sd * m

    if sp[1] > 0:  # additive cycle-to-cycle noise (LinearStep / SoftBounds, mult_noise false)
        mag = mag + (su if up else sd) * (sp[0] * xi)
    else:
        mag = mag * (1.0 + sp[0] * xi)
    w_new = w + mag if up else w - mag
    w_new = min(max(w_new, wmn), wmx)
    return _quantize(w_new, wmn, wmx, sp)


# --------------------------------------------------------------------------------------------
# compiled kernels (built lazily)

_CPU = {}
_CUDA = {}


def _cpu_scalar():
    """The scalar helpers compiled for the CPU: ``(rint, quantize, pulse_once)``."""
    if "scalar" not in _CPU:
        import numba

        # compile the helpers and point the scalar function at the compiled versions
        rint = numba.njit(cache=False)(_rint)
        quant = numba.njit(cache=False)(_rebind(_quantize, {"_rint": rint}))
        once = numba.njit(cache=False)(_rebind(_pulse_once, {"_quantize": quant}))
        _CPU["scalar"] = (rint, quant, once)
    return _CPU["scalar"]


def _cpu_kernel():
    if "kernel" not in _CPU:
        import numba

        once = _cpu_scalar()[2]

        @numba.njit(parallel=False, cache=False)
        def kernel(w, n, noise, has_noise, rule, wmx, wmn, su, sd, nlu, nld, stuck, sp,
                   pw_up, pw_down, max_n):
            """Pulse-major loop: the k-th pulse of every device still pulsing, in flat order."""
            ptr = 0
            for k in range(max_n):
                for i in range(w.shape[0]):
                    if stuck[i] != 0:
                        continue
                    m = n[i] if n[i] >= 0 else -n[i]
                    if m > k:
                        xi = 0.0
                        if has_noise:
                            xi = noise[ptr]
                            ptr += 1
                        w[i] = once(rule, w[i], n[i] > 0, xi, wmx[i], wmn[i], su[i], sd[i],
                                    nlu[i], nld[i], sp, pw_up, pw_down)

        _CPU["kernel"] = kernel
    return _CPU["kernel"]


def _rebind(fn, names: dict):
    """A copy of ``fn`` whose globals resolve ``names`` to the given (compiled) objects."""
    import types

    glb = dict(fn.__globals__)
    glb.update(names)
    return types.FunctionType(fn.__code__, glb, fn.__name__, fn.__defaults__, fn.__closure__)


cuda = None  # numba.cuda, imported by _cuda_kernel (a module global so the simulator can swap it)
_cuda_once = None


def _cuda_body(w, n, noise, has_noise, rule, wmx, wmn, su, sd, nlu, nld, stuck, sp, pw_up,
               pw_down):
    """One thread per device; ``noise[k, i]`` is the normal of pulse k of device i."""
    i = cuda.grid(1)
    if i < w.shape[0] and stuck[i] == 0:
        m = n[i] if n[i] >= 0 else -n[i]
        up = n[i] > 0
        x = w[i]
        for k in range(m):
            xi = noise[k, i] if has_noise else 0.0
            x = _cuda_once(rule, x, up, xi, wmx[i], wmn[i], su[i], sd[i], nlu[i], nld[i], sp,
                           pw_up, pw_down)
        w[i] = x


def _cuda_kernel():
    global cuda, _cuda_once
    if "kernel" not in _CUDA:
        from numba import cuda as numba_cuda

        cuda = numba_cuda
        rint = cuda.jit(device=True)(_rint)
        quant = cuda.jit(device=True)(_rebind(_quantize, {"_rint": rint}))
        _cuda_once = cuda.jit(device=True)(_rebind(_pulse_once, {"_quantize": quant}))
        _CUDA["kernel"] = cuda.jit(_cuda_body)
    return _CUDA["kernel"]


# --------------------------------------------------------------------------------------------
# fused kernel: rounding + all pulses + write noise in one parallel pass, counter-based RNG

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S8, _S11, _S16, _S27, _S30, _S31, _S40 = (np.uint64(k) for k in (8, 11, 16, 27, 30, 31, 40))
_ONE, _LOW8 = np.uint64(1), np.uint64(0xFF)
_TWO_M53 = 1.0 / 9007199254740992.0  # 2^-53
_ZIG_R = 3.6541528853610088  # 256-layer ziggurat of exp(-x^2/2): base strip edge ...
_ZIG_V = 4.92867323399e-3    # ... and the common area of the layers (Marsaglia & Tsang 2000)

# draw streams of one device (counter = stream << 16 | attempt)
_CTR_ROUND = np.uint64(1)           # the stochastic-rounding uniform
_STREAM_WRITE = np.uint64(1 << 16)  # the write-noise normal; pulse k's normal: (k + 2) << 16

FUSED_MODES = {"counts": 0, "stochastic": 1, "deterministic": 2}
"""How the fused kernel gets each device's pulse count (integer counts or rounding of dw / dw_min)."""

FUSED_BLOCK = 1024
"""Devices per work item of the fused kernel (the unit of its parallel loop)."""


def _ziggurat_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(k, w, f)`` of a 256-layer ziggurat for 53-bit magnitudes (Marsaglia & Tsang's ``zigset``).

    Layer ``i`` spans ``x < x_i`` (``x_255 = R``; layer 0 is the base strip with the tail); a draw
    ``x = mag w_i`` is accepted at once when ``mag < k_i`` (``x`` under ``x_{i-1}``).
    """
    m1 = 2.0 ** 53
    n = 256
    k = np.zeros(n, dtype=np.uint64)
    w = np.zeros(n)
    f = np.zeros(n)
    dn = tn = _ZIG_R
    q = _ZIG_V / math.exp(-0.5 * dn * dn)
    k[0] = np.uint64((dn / q) * m1)
    k[1] = 0
    w[0] = q / m1
    w[n - 1] = dn / m1
    f[0] = 1.0
    f[n - 1] = math.exp(-0.5 * dn * dn)
    for i in range(n - 2, 0, -1):
        dn = math.sqrt(-2.0 * math.log(_ZIG_V / dn + math.exp(-0.5 * dn * dn)))
        k[i + 1] = np.uint64((dn / tn) * m1)
        tn = dn
        f[i] = math.exp(-0.5 * dn * dn)
        w[i] = dn / m1
    return k, w, f


_ZK, _ZW, _ZF = _ziggurat_tables()


def _mix64(z):
    """splitmix64's finalizer: a bijective 64-bit hash (Steele, Lea & Flood, OOPSLA 2014)."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


def _device_key(seed, i):
    """Key of device ``i``: ``splitmix64(seed + (i + 1) golden)``; its draws are
    ``_mix64(key + ctr golden)``, a splitmix64 stream started at the key."""
    return _mix64(seed + (np.uint64(i) + _ONE) * _GOLDEN)


def _draw(key, ctr):
    return _mix64(key + ctr * _GOLDEN)


def _uniform(z):
    """Uniform in [0, 1) from the top 53 bits of a 64-bit hash."""
    return np.float64(z >> _S11) * _TWO_M53


def _normal(key, stream, zk, zw, zf):
    """Standard normal of one draw stream of one device: ziggurat (exact; ~1% of draws take a
    second hash or an exp / log). Low 8 bits: layer, bit 8: sign, top 53 bits: magnitude."""
    ctr = stream
    while True:
        z = _draw(key, ctr)
        ctr += _ONE
        i = np.int64(z & _LOW8)
        neg = ((z >> _S8) & _ONE) != 0
        mag = z >> _S11
        x = np.float64(mag) * zw[i]
        if mag < zk[i]:
            return -x if neg else x
        if i == 0:  # the tail beyond R (Marsaglia 1964)
            while True:
                xx = -math.log1p(-_uniform(_draw(key, ctr))) / _ZIG_R
                yy = -math.log1p(-_uniform(_draw(key, ctr + _ONE)))
                ctr += _ONE + _ONE
                if yy + yy > xx * xx:
                    return -(_ZIG_R + xx) if neg else _ZIG_R + xx
        elif (zf[i - 1] - zf[i]) * _uniform(_draw(key, ctr)) + zf[i] < math.exp(-0.5 * x * x):
            return -x if neg else x
        else:
            ctr += _ONE


def _round_stochastic(r, z):
    """``floor(r) + [u < r - floor(r)]`` with ``u`` uniform from the hash ``z`` (53 bits), as int;
    non-finite or huge ``r``: 0."""
    lo = np.floor(r)
    nf = lo + np.float64(_uniform(z) < r - lo)
    return np.int64(nf if abs(nf) < 4.0e18 else 0.0)


def _round_stochastic_f32(r, z):
    """:func:`_round_stochastic` for float32 ``r``: all in float32, ``u`` on the 2^-24 grid of
    ``torch.rand`` (float64 arithmetic here would keep LLVM from vectorizing the loop)."""
    lo = np.floor(r)
    u = np.float32(np.int64(z >> _S40)) * np.float32(5.9604644775390625e-08)
    nf = lo + np.float32(u < r - lo)
    return np.int64(nf if abs(nf) < np.float32(4.0e18) else np.float32(0.0))


def _round_half_even(r):
    """``torch.round(r)`` (half to even) as int, branch-free; non-finite or huge ``r``: 0."""
    f = np.floor(r)
    d = r - f
    odd = f - 2.0 * np.floor(f * 0.5)  # f mod 2, exact for |f| < 2^53
    nf = f + np.float64(d > 0.5) + np.float64(d == 0.5) * odd
    return np.int64(nf if abs(nf) < 4.0e18 else 0.0)


def _round_half_even_f32(r):
    """:func:`_round_half_even` in float32 (exact: every step is)."""
    half = np.float32(0.5)
    f = np.floor(r)
    d = r - f
    odd = f - np.float32(2.0) * np.floor(f * half)
    nf = f + np.float32(d > half) + np.float32(d == half) * odd
    return np.int64(nf if abs(nf) < np.float32(4.0e18) else np.float32(0.0))


def _fused_block(start, stop, w, out, dw, counts, mode, dmin, seed, settled, rule, wmx, wmn, su,
                 sd, nlu, nld, stuck, sp, pw_up, pw_down, noisy, offset, wn_std, zk, zw, zf):
    """Count, settle, pulse and redraw the write noise of devices ``start .. stop-1``; returns
    their ``sum |n|``.

    ``quant``, ``once``, ``prange``, ``round_stochastic`` and ``round_half_even`` are not module
    globals: :func:`_rebind` supplies the compiled helpers (float32 or float64 variants) when
    the kernel is built, so static checkers report them as undefined.

    Branch-free loops compute the counts and the settled weights; the devices to pulse are
    compacted into a list, which then takes one pulse per round and keeps the devices with pulses
    left. (Data-dependent branches per device - pulse or not, up or down, how many - mispredict
    about half the time and cost more than the arithmetic.) ``settled``: ``w`` is known to be
    settled and ``out`` is ``w``; only the pulsed devices are read, settled and written.
    """
    size = stop - start
    additive = sp[1] > 0
    std = sp[0]
    quantized = sp[10] > 0
    cnt = np.empty(size, dtype=np.int64)
    idx = np.empty(size, dtype=np.int64)
    xs = np.empty(size, dtype=np.float64)
    # pulse counts
    if mode == 0:
        for j in range(size):
            cnt[j] = counts[start + j]
    elif mode == 1:  # stochastic rounding: floor(r) + [u < r - floor(r)]
        for j in range(size):
            cnt[j] = round_stochastic(dw[start + j] / dmin,
                                      _draw(_device_key(seed, start + j), _CTR_ROUND))
    else:  # deterministic: half to even, as torch.round
        for j in range(size):
            cnt[j] = round_half_even(dw[start + j] / dmin)
    part = 0
    for j in range(size):
        n = cnt[j]
        part += max(n, -n)
    # settle every device (clip, levels, stuck at their bound)
    if not settled:
        for i in range(start, stop):
            hi = np.float64(wmx[i])
            lb = np.float64(wmn[i])
            x = min(max(np.float64(w[i]), lb), hi)
            if quantized:
                x = quant(x, lb, hi, sp)
            st = stuck[i]
            x = lb if st < 0 else x
            out[i] = hi if st > 0 else x
    # write noise: fresh on every device that received pulses (stuck ones too, as the torch path)
    if wn_std > 0:
        for i in range(start, stop):
            if cnt[i - start] != 0:
                offset[i] = wn_std * _normal(_device_key(seed, i), _STREAM_WRITE, zk, zw, zf)
    # the free devices with pulses, in a compact list
    c = 0
    for i in range(start, stop):
        idx[c] = i
        c += np.int64((cnt[i - start] != 0) & (stuck[i] == 0))
    # pulse rounds: round k pulses every device with |n| > k
    k = 0
    while c > 0:
        kept = 0
        stream = np.uint64(k + 2) << _S16
        for t in range(c):
            i = idx[t]
            n = cnt[i - start]
            up = n > 0
            hi = np.float64(wmx[i])
            lb = np.float64(wmn[i])
            if k > 0:
                x = xs[t]
            else:
                x = np.float64(out[i])
                if settled:  # settle(x) of a free device (idempotent on settled input)
                    x = min(max(x, lb), hi)
                    if quantized:
                        x = quant(x, lb, hi, sp)
            xi = _normal(_device_key(seed, i), stream, zk, zw, zf) if noisy else 0.0
            if rule <= 1:  # ConstantStep, LinearStep, SoftBounds: _pulse_once inlined, op for op
                # both directions loaded, then selected: no data-dependent branch
                s_up = np.float64(su[i])
                s_dn = np.float64(sd[i])
                k_up = np.float64(nlu[i])
                k_dn = np.float64(nld[i])
                s = s_up if up else s_dn
                mag = s if rule == 0 else s * (1.0 - (k_up if up else k_dn) * x)
                if additive:
                    mag = mag + s * (std * xi)
                else:
                    mag = mag * (1.0 + std * xi)
                x = x + (mag if up else -mag)  # x + (-mag) == x - mag exactly
                x = min(max(x, lb), hi)
                if quantized:
                    x = quant(x, lb, hi, sp)
            else:
                x = once(rule, x, up, xi, hi, lb, np.float64(su[i]), np.float64(sd[i]),
                         np.float64(nlu[i]), np.float64(nld[i]), sp, pw_up, pw_down)
            out[i] = x
            idx[kept] = i
            xs[kept] = x
            m = max(n, -n)
            kept += np.int64(m > k + 1)
        c = kept
        k += 1
    return part


def _fused_body(w, out, dw, counts, mode, dmin, seed, settled, rule, wmx, wmn, su, sd, nlu, nld,
                stuck, sp, pw_up, pw_down, noisy, offset, wn_std, zk, zw, zf, block):
    """Every device, in parallel blocks of ``block`` (:func:`_fused_block`); returns ``sum |n|``.

    Every random number is a hash of ``(seed, device, draw)``, so the result does not depend on
    the blocks or threads. (The work is in a separate function: inside a ``prange`` body numba
    reloads the array descriptors around every store, which keeps LLVM from optimizing loops.)
    """
    size = w.shape[0]
    n_blocks = (size + block - 1) // block
    total = 0
    for b in prange(n_blocks):
        start = b * block
        total += _fused_block(start, min(start + block, size), w, out, dw, counts, mode, dmin,
                              seed, settled, rule, wmx, wmn, su, sd, nlu, nld, stuck, sp, pw_up,
                              pw_down, noisy, offset, wn_std, zk, zw, zf)
    return total


def _fused_kernel(f32: bool = True):
    """The compiled fused kernel; ``f32``: the rounding helpers for float32 changes."""
    key = "fused32" if f32 else "fused64"
    if key not in _CPU:
        import numba

        _, quant, once = _cpu_scalar()
        jit = numba.njit(cache=False)
        mix = jit(_mix64)
        draw = jit(_rebind(_draw, {"_mix64": mix}))
        uniform = jit(_uniform)
        helpers = {"_mix64": mix, "_draw": draw, "_uniform": uniform,
                   "_device_key": jit(_rebind(_device_key, {"_mix64": mix}))}
        helpers["_normal"] = jit(_rebind(_normal, helpers))
        helpers.update(quant=quant, once=once, prange=numba.prange)
        if f32:
            helpers["round_stochastic"] = jit(_round_stochastic_f32)
            helpers["round_half_even"] = jit(_round_half_even_f32)
        else:
            helpers["round_stochastic"] = jit(_rebind(_round_stochastic, helpers))
            helpers["round_half_even"] = jit(_round_half_even)
        helpers["_fused_block"] = jit(_rebind(_fused_block, helpers))
        _CPU[key] = numba.njit(parallel=True, fastmath=False, cache=False)(
            _rebind(_fused_body, helpers))
        _CPU["normals"] = jit(_rebind(_normals_body, helpers))
    return _CPU[key]


def _normals_body(seed, n, stream, zk, zw, zf):
    out = np.empty(n, dtype=np.float64)
    for i in range(n):
        out[i] = _normal(_device_key(seed, i), stream, zk, zw, zf)
    return out


def _fused_normals(seed: int, n: int, pulse: int = 0) -> np.ndarray:
    """The normals the fused kernel draws for pulse ``pulse`` of devices ``0 .. n-1`` (for tests)."""
    _fused_kernel()
    return _CPU["normals"](np.uint64(int(seed) & 0xFFFFFFFFFFFFFFFF), n,
                           np.uint64(pulse + 2) << _S16, _ZK, _ZW, _ZF)


def draw_seed(generator: Generatorish = None) -> int:
    """One 64-bit seed for the fused kernel from a torch generator (advances it by one draw)."""
    g = as_generator(generator)
    return int(torch.randint(-2 ** 63, 2 ** 63 - 1, (), generator=g, dtype=torch.int64))


def _flat_np(t: torch.Tensor) -> np.ndarray:
    """A flat contiguous CPU numpy view (a copy only when needed)."""
    return t.detach().reshape(-1).contiguous().cpu().numpy()


def fused_update(w: torch.Tensor, dw_dev: torch.Tensor, dw_min: float, state: DeviceState,
                 params: DeviceParams, seed: int, rounding: str = "stochastic", *,
                 write_offset: Optional[torch.Tensor] = None, out: Optional[torch.Tensor] = None,
                 settled: bool = False) -> tuple[torch.Tensor, int]:
    """Round a desired change and apply the pulses in one parallel pass; ``(w_new, sum |n|)``.

    ``dw_dev`` is the desired change in device units; each device gets ``n = round(dw_dev /
    dw_min)`` pulses, ``rounding`` ``"stochastic"`` (``floor(r) + [u < r - floor(r)]``,
    unbiased) or ``"deterministic"`` (half to even, as ``torch.round``), with ``r = dw_dev /
    dw_min`` computed in ``dw_dev``'s precision as torch does. An integer ``dw_dev`` is taken as
    the signed counts themselves (``dw_min`` and ``rounding`` unused). Non-finite changes give no
    pulses. ``sum |n|`` counts stuck devices too (as ``AnalogTile.pulses`` does).

    Semantics of :func:`analog_ep.analog.devices.apply_pulses`: ``w`` is settled first, each pulse
    follows the rule with cycle-to-cycle noise, is clipped to the device's bounds and rounded to
    its levels; stuck devices never move. Every rule is supported. Computes in float64 and stores
    in ``w``'s dtype, so noise-free it equals the torch path to float rounding (exactly, in
    float64, against its per-pulse loop).

    ``write_offset``: if the rule has ``write_noise_std``, the offsets of the devices with ``n !=
    0`` are redrawn in place (as :func:`analog_ep.analog.devices.redraw_write_noise`). ``out``:
    receives the new weights (a contiguous CPU tensor of ``w``'s dtype; may be ``w`` itself).
    ``settled=True`` promises that ``w`` is already settled (e.g. the previous result): devices
    without pulses are then not touched at all, which saves a pass over the bounds.

    All random numbers derive from ``seed`` (any int, e.g. :func:`draw_seed`) by a counter-based
    hash per device: the result depends only on the inputs and ``seed``, not on the number of
    numba threads (``numba.set_num_threads``), which the parallel loop uses.
    """
    if tuple(state.shape) != tuple(w.shape) or tuple(dw_dev.shape) != tuple(w.shape):
        raise ValueError(f"device state has shape {tuple(state.shape)}, weights {tuple(w.shape)}, "
                         f"changes {tuple(dw_dev.shape)}")
    if dw_dev.is_floating_point():
        if rounding not in ("stochastic", "deterministic"):
            raise ConfigError(f"rounding: must be 'stochastic' or 'deterministic', got {rounding!r}")
        mode = FUSED_MODES[rounding]
        if dw_dev.dtype not in (torch.float32, torch.float64):
            dw_dev = dw_dev.float()
        dw_np = _flat_np(dw_dev)
        dmin = dw_np.dtype.type(dw_min)  # r = dw / dw_min in dw's precision, as torch
        cnt_np = np.zeros(1, dtype=np.int64)
    else:
        mode = 0
        cnt_np = _flat_np(dw_dev.to(torch.int64))
        dw_np = np.zeros(1, dtype=np.float32)
        dmin = np.float32(1.0)
    if out is None:
        res = torch.empty(w.shape, dtype=w.dtype)
    else:
        if (out.device.type != "cpu" or not out.is_contiguous() or out.shape != w.shape
                or out.dtype != w.dtype):
            raise ValueError("out: must be a contiguous CPU tensor of the weights' shape and dtype")
        res = out
    out_np = res.detach().view(-1).numpy()
    if settled:  # work in place in ``res``: untouched devices keep w
        if res.data_ptr() != w.data_ptr():
            res.detach().copy_(w.detach())
        w_np = out_np
    else:
        w_np = _flat_np(w)
    arrays = [_flat_np(getattr(state, k)) for k in ("w_max", "w_min", "scale_up", "scale_down",
                                                      "nl_up", "nl_down")]
    stuck = _flat_np(state.stuck)
    wn_std = float(getattr(params, "write_noise_std", 0.0) * getattr(params, "dw_min", 0.0))
    if write_offset is not None and wn_std > 0:
        if write_offset.device.type != "cpu" or not write_offset.is_contiguous():
            raise ValueError("write_offset: must be a contiguous CPU tensor")
        off_np = write_offset.detach().view(-1).numpy()
    else:
        wn_std, off_np = 0.0, np.zeros(1, dtype=out_np.dtype)
    pw_up, pw_down = _piecewise(params)
    seed_u = np.uint64(int(seed) & 0xFFFFFFFFFFFFFFFF)
    kernel = _fused_kernel(dw_np.dtype == np.float32)
    total = kernel(w_np, out_np, dw_np, cnt_np, mode, dmin, seed_u, bool(settled),
                   RULE_CODES[params.rule], *arrays, stuck, scalar_params(params), pw_up, pw_down,
                   params.noise_std > 0, off_np, wn_std, _ZK, _ZW, _ZF, FUSED_BLOCK)
    if out is None and w.device.type != "cpu":
        res = res.to(w.device)
    return res, int(total)


# --------------------------------------------------------------------------------------------
# dispatch


def _state_arrays(state: DeviceState) -> list[np.ndarray]:
    return [np.ascontiguousarray(getattr(state, k).detach().reshape(-1).to("cpu", torch.float64)
                                 .numpy())
            for k in ("w_max", "w_min", "scale_up", "scale_down", "nl_up", "nl_down")]


def apply_pulses(w: torch.Tensor, n_pulses, state: DeviceState, params: DeviceParams,
                 generator: Generatorish = None, *, backend: str = "torch") -> torch.Tensor:
    """Apply signed pulse counts with the chosen backend: ``torch`` (the vectorized reference),
    ``numba`` (CPU kernel) or ``cuda`` (numba.cuda kernel; real GPU or the CUDA simulator), or
    ``fused`` (the parallel CPU kernel of :func:`fused_update`).

    ``numba`` and ``cuda``: same semantics and, for the same generator state, the same random
    numbers as :func:`analog_ep.analog.devices.apply_pulses`. ``fused``: same semantics, its own
    counter-based random numbers seeded by one draw from ``generator`` (made only when the rule
    is noisy), so statistically equal and, noise-free, equal to float rounding.
    """
    if backend == "torch":
        from .devices import apply_pulses as reference

        return reference(w, n_pulses, state, params, generator, backend="torch")
    if backend not in BACKENDS:
        raise ConfigError(f"backend: unknown kernel backend {backend!r}; valid: {', '.join(BACKENDS)}")
    if tuple(state.shape) != tuple(w.shape):
        raise ValueError(f"device state has shape {tuple(state.shape)}, weights {tuple(w.shape)}")
    n = _as_counts(n_pulses, w)
    if backend == "fused":
        seed = draw_seed(generator) if params.noise_std > 0 else 0
        return fused_update(w, n, 1.0, state, params, seed)[0]
    w0 = settle(w, state, params)
    n_abs = n.abs()
    free = state.free
    counts = pulse_noise_counts(n_abs, free)
    if not counts:
        return w0
    noisy = params.noise_std > 0
    g = as_generator(generator, w.device)
    draws = ([torch.randn(c, generator=g, dtype=w.dtype, device=w.device) for c in counts]
             if noisy else [])
    sp = scalar_params(params)
    pw_up, pw_down = _piecewise(params)
    rule = RULE_CODES[params.rule]
    n_np = np.ascontiguousarray(n.reshape(-1).cpu().numpy())
    stuck = np.ascontiguousarray(state.stuck.reshape(-1).cpu().numpy())
    w_np = np.ascontiguousarray(w0.detach().reshape(-1).to("cpu", torch.float64).numpy())
    arrays = _state_arrays(state)

    if backend == "numba":
        noise = (torch.cat(draws).to("cpu", torch.float64).numpy() if noisy
                 else np.zeros(1, dtype=np.float64))
        _cpu_kernel()(w_np, n_np, noise, noisy, rule, *arrays, stuck, sp, pw_up, pw_down,
                      len(counts))
        out = w_np
    else:
        kernel = _cuda_kernel()
        size = w_np.shape[0]
        if noisy:  # dense (pulse, device) layout: noise[k, i] for the k-th pulse of device i
            dense = torch.zeros(len(counts), size, dtype=torch.float64)
            n_flat = n_abs.reshape(-1).cpu()
            free_flat = free.reshape(-1).cpu()
            for k, d in enumerate(draws):
                pos = torch.nonzero((n_flat > k) & free_flat).squeeze(1)
                dense[k, pos] = d.to("cpu", torch.float64)
            noise = dense.numpy()
        else:
            noise = np.zeros((1, 1), dtype=np.float64)
        dev = [cuda.to_device(a) for a in (w_np, n_np, noise)]
        dev_arrays = [cuda.to_device(a) for a in arrays]
        threads = 128
        blocks = (size + threads - 1) // threads
        kernel[blocks, threads](dev[0], dev[1], dev[2], noisy, rule, *dev_arrays,
                                        cuda.to_device(stuck), cuda.to_device(sp),
                                        cuda.to_device(pw_up), cuda.to_device(pw_down))
        out = dev[0].copy_to_host()
    return torch.from_numpy(out).to(device=w.device, dtype=w.dtype).reshape(w.shape)


__all__ = ["BACKENDS", "RULE_CODES", "FUSED_MODES", "scalar_params", "apply_pulses", "draw_seed",
           "fused_update"]
