"""numba kernels for the per-device pulse update, and the backend dispatch.

One scalar function, :func:`_pulse_once`, implements one pulse of every rule exactly as the torch
reference :func:`analog_ep.analog.devices._pulse` does (operation by operation, in float64). It
is compiled twice: ``numba.njit`` for the CPU kernel and ``numba.cuda.jit(device=True)`` for the
GPU kernel (which also runs under the CUDA simulator, ``NUMBA_ENABLE_CUDASIM=1``). Cycle-to-cycle
normals are drawn by torch from the caller's generator, in the order the torch reference consumes
them (see :func:`analog_ep.analog.devices.pulse_noise_counts`), and passed in; so the backends
agree to float32 rounding for the same generator state.

numba is imported lazily, on the first kernel call.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..errors import ConfigError
from .devices import (DeviceParams, DeviceState, Generatorish, as_generator, pulse_noise_counts,
                      settle)
from .devices import _as_counts  # noqa: PLC2701 - shared helper

BACKENDS = ("torch", "numba", "cuda")

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


def _cpu_kernel():
    if "kernel" not in _CPU:
        import numba

        # compile the helpers and point the scalar function at the compiled versions
        rint = numba.njit(cache=False)(_rint)
        quant = numba.njit(cache=False)(_rebind(_quantize, {"_rint": rint}))
        once = numba.njit(cache=False)(_rebind(_pulse_once, {"_quantize": quant}))

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
# dispatch


def _state_arrays(state: DeviceState) -> list[np.ndarray]:
    return [np.ascontiguousarray(getattr(state, k).detach().reshape(-1).to("cpu", torch.float64)
                                 .numpy())
            for k in ("w_max", "w_min", "scale_up", "scale_down", "nl_up", "nl_down")]


def apply_pulses(w: torch.Tensor, n_pulses, state: DeviceState, params: DeviceParams,
                 generator: Generatorish = None, *, backend: str = "torch") -> torch.Tensor:
    """Apply signed pulse counts with the chosen backend: ``torch`` (the vectorized reference),
    ``numba`` (CPU kernel) or ``cuda`` (numba.cuda kernel; real GPU or the CUDA simulator).

    Same semantics and, for the same generator state, the same random numbers as
    :func:`analog_ep.analog.devices.apply_pulses`.
    """
    if backend == "torch":
        from .devices import apply_pulses as reference

        return reference(w, n_pulses, state, params, generator, backend="torch")
    if backend not in BACKENDS:
        raise ConfigError(f"backend: unknown kernel backend {backend!r}; valid: {', '.join(BACKENDS)}")
    if tuple(state.shape) != tuple(w.shape):
        raise ValueError(f"device state has shape {tuple(state.shape)}, weights {tuple(w.shape)}")
    n = _as_counts(n_pulses, w)
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


__all__ = ["BACKENDS", "RULE_CODES", "scalar_params", "apply_pulses"]
