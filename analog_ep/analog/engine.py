"""The pulse engine: pulse counts (rounded or bit-stream), pulse application, write noise.

Every update of an analog weight goes through here, on the tensors' own device (CPU or CUDA):

1. **Counts.** :func:`rounded_counts` turns a desired change into signed per-device pulse counts
   (stochastic or deterministic rounding, capped at ``bl``); :func:`bitstream_counts` follows
   aihwkit's stochastic pulse trains: the update's vectors become ``bl``-slot bit streams whose
   coincidences step the devices.
2. **Pulses.** :func:`apply_counts` applies the counts through the device's rule. The per-pulse
   physics is the rule object's :meth:`~.rules.DeviceParams.step` (its constants selected once per
   update by :meth:`~.rules.DeviceParams.directional`), defined once per rule; the engine only
   schedules it, and never asks which rule it runs, in *rounds*:
   round ``k`` gives one pulse to every free device with ``|n| > k``. Two paths run the same
   rounds and give bit-identical results on one device:

   * ``compact`` (CPU default): round ``k`` gathers only the devices still pulsing (found with
     ``nonzero``), so the cost is proportional to the pulses actually sent;
   * ``masked`` (default elsewhere): ``rounds`` full-tensor rounds
     ``w = where(|n| > k, pulse(w), w)``, with no data-dependent host sync (``rounds=None``
     costs one sync per call, for ``max |n|``).

   Under ``compute.kernels`` numba (and ``auto`` with numba installed) the default CPU path
   (``path=None``) of rules with an affine pulse
   (``params.pulse_form``) runs the compact rounds as one fused numba pass over the devices
   (:func:`.kernels.numba_engine.apply_counts`: the same rounds, the same cycle-to-cycle stream;
   equal to float rounding of the normals: its float32 ``log`` / ``cos`` are polynomials).

   Rules with an exact closed form for the parameters at hand (``params.has_closed_form``:
   noise-free ConstantStep / LinearStep / SoftBounds without level quantization) take it
   instead (:func:`_closed_form`, around the rule's :meth:`~.rules.DeviceParams.closed_form`).
3. **Write noise** (:func:`write_noise`): devices that received a pulse draw a fresh offset.

**Random numbers are counter-based** (:mod:`.streams`): a stream is named by a 64-bit key that
callers derive from ``(seed, tile, step, purpose)`` with :func:`.streams.stream_key`, on the host,
once per update; a value depends only on ``(key, index, counter)``: not on which other indices
are requested, on the path, on thread counts or on the device. The words, the uniforms, hence
the rounded and the bit-stream counts are bit-identical on CPU and CUDA; the normals and the
rules' physics go through ``log`` / ``cos`` / ``exp``, whose last bit may differ between the two
devices. Within one device, the compact and masked paths give bit-identical weights (the fused
CPU kernel of the default path: equal to float rounding of the normals, whose float32 ``log`` /
``cos`` are polynomials there).

Cycle-to-cycle noise of pulse ``k`` of device ``i`` (flat index) is ``counter_normal(key, i,
k)``; the stochastic rounding of device ``i`` uses ``counter_uniform(key, i, 0)``; the write
noise of device ``i`` ``counter_normal(key, i, 0)``; keys for different purposes must differ.
"""

from __future__ import annotations

import math
import operator
from typing import Optional

import torch

from ..errors import ConfigError
from .kernels import mark_ran as _mark_ran
from .kernels import select_engine as _select_engine
from .population import DeviceState, any_stuck, settle
from .rules import DeviceParams
from .streams import (GOLDEN, GOLDEN_S, hash_words, mix_, normal_from, scaled_range, signed64,
                      stream_key, uniform_range)

PATHS = ("compact", "masked")
ROUNDINGS = ("stochastic", "deterministic")

# --------------------------------------------------------------------------------------------
# pulse counts


def _check_bl(bl) -> int:
    if isinstance(bl, bool) or operator.index(bl) < 1:
        raise ConfigError(f"bl: must be an integer >= 1, got {bl!r}")
    return operator.index(bl)


def rounded_counts(dw: torch.Tensor, dw_min: float, rounding: str, bl: int, key: int) -> torch.Tensor:
    """Signed pulse counts (int32, shape of ``dw``) for a desired change ``dw`` (device units).

    With ``r = dw / dw_min``: ``stochastic`` rounding sends ``floor(r) + [u < r - floor(r)]``
    pulses (unbiased; ``u = counter_uniform(key, i, 0)`` over the flat index ``i``, in dw's
    dtype), ``deterministic`` ``round(r)`` half to even (NeuroSim's scheme). Counts are clamped
    to ``[-bl, bl]`` (one update sends at most ``bl`` pulses to a device); NaN sends nothing.
    """
    bl = _check_bl(bl)
    if not dw_min > 0:
        raise ConfigError(f"dw_min: must be > 0, got {dw_min!r}")
    if not dw.is_floating_point():
        dw = dw.to(torch.get_default_dtype())
    if rounding not in ROUNDINGS:
        raise ConfigError(f"rounding: unknown rounding {rounding!r}; valid: {', '.join(ROUNDINGS)}")
    kernel = _select_engine("rounded_counts", dw)   # compute.kernels: one fused pass (same bits), or None
    if kernel is not None:
        return kernel(dw, dw_min, rounding, bl, key)
    r = dw / dw_min
    if rounding == "stochastic":
        lo = torch.floor(r)
        u = uniform_range(r.numel(), r.device, key, 0, r.dtype).view(r.shape)
        n = lo.add_((u < r.sub_(lo)).to(lo.dtype))
    elif rounding == "deterministic":
        n = torch.round(r)
    else:
        raise ConfigError(f"rounding: unknown rounding {rounding!r}; valid: {', '.join(ROUNDINGS)}")
    return torch.nan_to_num_(n, nan=0.0).clamp_(-bl, bl).to(torch.int32)


def _count_matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Exact ``a @ b`` (int32) of small-integer int8 matrices: int8 x int8 -> int32 on CPU
    (``torch._int_mm``), float32 elsewhere (exact below 2^24)."""
    if a.device.type == "cpu" and hasattr(torch, "_int_mm"):
        try:
            return torch._int_mm(a, b)
        except (RuntimeError, NotImplementedError):  # pragma: no cover - older builds
            pass
    return (a.to(torch.float32) @ b.to(torch.float32)).to(torch.int32)


def _bits(p: torch.Tensor, key: int, slots: int, n_total: int, n0: int,
          active: Optional[torch.Tensor]) -> torch.Tensor:
    """Bernoulli(p) bits of the vectors ``n0 .. n0 + Nc - 1`` (of ``n_total``) for their
    probabilities ``p`` (rows, Nc), in ``slots``-slot trains: a bool tensor ``(rows, S/2, 2 Nc)``,
    ``S = 2 ceil(slots / 2)``, whose element ``(r, h, 2c + l)`` is slot ``t = 2h + l`` of vector
    ``n0 + c`` (so ``.view(rows, -1)`` orders the columns by (h, c, l), the same for every row).
    Slots ``t >= slots`` never fire; ``active`` (Nc, S) masks slots off.

    Slots ``2h`` and ``2h + 1`` of ``(r, n)`` are the low and high 32-bit halves of word ``(r S/2
    + h) n_total + n`` of stream ``(key, counter 0)``, whatever the blocks. A half ``s`` (read as
    signed int32) fires when ``s + 2^31 < round(p 2^32)``: probability ``p`` to 2^-33, never for
    ``p = 0``, and ``1 - 2^-32`` for ``p = 1``. On CPU the hash runs in blocks of about
    :data:`_HASH_BLOCK` words (in cache)."""
    rows, Nc = p.shape
    dev = p.device
    H = (slots + 1) // 2
    t = (torch.round(p.to(torch.float64) * 2.0 ** 32) - 2.0 ** 31).clamp_(-(2.0 ** 31), 2.0 ** 31 - 1)
    t = t.to(torch.int32).repeat_interleave(2, dim=1).unsqueeze(1)  # (rows, 1, 2 Nc)
    bits = torch.empty((rows, H, 2 * Nc), dtype=torch.bool, device=dev)
    n_scaled = scaled_range(Nc, dev).view(1, 1, Nc)  # c golden
    row_mult = signed64(n_total * GOLDEN)  # (r S/2 + h) -> (r S/2 + h) n_total golden
    offset = signed64(n0 * GOLDEN + stream_key(key, 0))
    step = max(1, _HASH_BLOCK // (H * Nc)) if dev.type == "cpu" else rows
    z = tmp = None
    for r0 in range(0, rows, step):
        r1 = min(r0 + step, rows)
        size = (r1 - r0) * H * Nc
        if z is None:
            z = torch.empty(size, dtype=torch.int64, device=dev)
            tmp = torch.empty(size, dtype=torch.int64, device=dev)
        part = torch.arange(r0 * H, r1 * H, dtype=torch.int64, device=dev).mul_(row_mult).add_(offset)
        zb = torch.add(part.view(r1 - r0, H, 1), n_scaled, out=z[:size].view(r1 - r0, H, Nc))
        mix_(zb.view(-1), tmp[:size])
        torch.lt(zb.view(torch.int32).view(r1 - r0, H, 2 * Nc), t[r0:r1], out=bits[r0:r1])
    if 2 * H > slots:
        bits[:, H - 1, 1::2] = False
    if active is not None:  # (Nc, S) -> (S/2, 2 Nc)
        bits &= active.view(Nc, H, 2).transpose(0, 1).reshape(H, 2 * Nc)
    return bits


def train_probabilities(d: torch.Tensor, x: torch.Tensor, lr: float, dw_min: float, bl: int,
                        update_management: bool = True, *, bl_management: bool = False
                        ) -> tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor]]:
    """The per-slot firing probabilities of :func:`bitstream_counts` and :func:`per_vector_pulses`:
    ``p`` (N, in) of the x lines, ``q`` (N, out) of the d lines (float64), and the slots ``BL_n``
    (N,) each vector uses under ``bl_management`` (else None). Vectors whose ``d`` or ``x`` is all
    zero (or ``lr = 0``) get zero probabilities.

    aihwkit 1.2.0, ``src/rpucuda/rpu_pulsed_meta_parameter.cpp``,
    ``PulsedUpdateMetaParameter::performUpdateManagement`` (called per vector by
    ``SparseBitLineMaker::makeCounts`` with the vector's ``x_abs_max``, ``d_abs_max`` and
    ``max_BL = desired_BL``), after ``calculateBlAB`` (``fixed_BL`` or ``update_bl_management``:
    ``BL = desired_BL``, ``A = B = sqrt(lr / (dw_min BL))``), with ``um_grad_scale = 1``::

        if d_abs_max == 0 or x_abs_max == 0:  BL = 0 (nothing sent)
        k = lr x_abs_max d_abs_max / dw_min
        update_bl_management:  BL = min(ceil(k), desired_BL);  A = B = sqrt(lr / (dw_min BL))
        update_management:     d_val = d_abs_max * (desired_BL / k if k > desired_BL else 1)
                               A *= sqrt(x_abs_max / d_val);  B *= sqrt(d_val / x_abs_max)
        prob(x_j) = B |x_j|,   prob(d_i) = A |d_i|     (both clipped at 1)

    Here ``bl`` is ``desired_BL`` and ``bl_management`` is ``update_bl_management`` (our default
    false keeps the fixed ``bl``; aihwkit's ``UpdateParameters`` default is true)."""
    f64 = torch.float64
    dd, xx = d.to(f64), x.to(f64)
    dmax, xmax = dd.abs().amax(1), xx.abs().amax(1)  # (N,)
    live = (dmax > 0) & (xmax > 0)
    if not lr > 0:
        live = torch.zeros_like(live)
    dmax_s = torch.where(live, dmax, torch.ones_like(dmax))
    xmax_s = torch.where(live, xmax, torch.ones_like(xmax))
    k = lr * xmax_s * dmax_s / dw_min  # the vector's largest desired pulse count
    bl_n = None
    if bl_management:
        bl_n = torch.ceil(k).clamp_(1, bl)
        c = torch.sqrt(lr / (bl_n * dw_min))
    else:
        c = torch.full_like(k, math.sqrt(max(lr, 0.0) / (bl * dw_min)))
    if update_management:
        d_val = dmax_s * torch.clamp(bl / k, max=1.0)  # aihwkit: avoid clipping of x
        a_x = c * torch.sqrt(d_val / xmax_s)
        a_d = c * torch.sqrt(xmax_s / d_val)
    else:
        a_x = a_d = c
    a_x = torch.where(live, a_x, torch.zeros_like(a_x))
    a_d = torch.where(live, a_d, torch.zeros_like(a_d))
    p = (a_x.unsqueeze(1) * xx.abs()).clamp_(max=1.0)
    q = (a_d.unsqueeze(1) * dd.abs()).clamp_(max=1.0)
    return p, q, bl_n


def _check_trains(who: str, d: torch.Tensor, x: torch.Tensor, lr: float, dw_min: float, bl: int) -> int:
    """The arguments of a bit-stream update (``d`` (N, out), ``x`` (N, in), ``dw_min > 0``,
    ``lr >= 0``); returns the checked ``bl``."""
    bl = _check_bl(bl)
    if d.dim() != 2 or x.dim() != 2 or d.shape[0] != x.shape[0]:
        raise ValueError(f"{who}: need d (N, out) and x (N, in), got {tuple(d.shape)}, {tuple(x.shape)}")
    if not dw_min > 0 or not lr >= 0:
        raise ConfigError(f"{who}: need dw_min > 0 and lr >= 0, got {dw_min!r}, {lr!r}")
    return bl


def bitstream_counts(d: torch.Tensor, x: torch.Tensor, lr: float, dw_min: float, bl: int, key: int,
                     update_management: bool = True, *, bl_management: bool = False
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """aihwkit's stochastic pulse trains (``PulseType.StochasticCompressed``): signed net pulses
    and total coincidences per device, both int32 ``(out, in)``.

    The desired update (device units) is ``dW = lr * sum_n outer(d[n], x[n])`` with ``d`` (N,
    out) and ``x`` (N, in). For each vector ``n``, ``x_j`` fires in each of ``bl`` time slots
    with probability ``p_j = min(1, A_n |x_nj|)``, ``d_i`` with ``q_i = min(1, B_n |d_ni|)``,
    and each coincidence steps device ``(i, j)`` by one pulse of sign ``sign(d_ni) sign(x_nj)``
    (one train per line carries both signs: "compressed"). Unclipped, ``E[net] = bl A_n B_n
    sum_n d x = dW / dw_min``. Counts are two matmuls of the (out, N bl) and (N bl, in) 0/+-1
    bit matrices (exact integer arithmetic); ``net`` is the signed sum, ``total`` (the wear) the
    number of coincidences. One vector sends at most ``bl`` pulses to a device; vectors with
    ``d`` or ``x`` all zero send nothing.

    Followed from aihwkit (``src/rpucuda/rpu_pulsed_meta_parameter.cpp``:
    ``calculateBlAB`` / ``performUpdateManagement``; ``src/rpucuda/sparse_bit_line_maker.cpp``:
    ``generateCounts``), with ``fixed_BL`` (the slot count is ``bl``), ``um_grad_scale = 1`` and
    no probability discretization (``res = 0``)::

        A_n = B_n = sqrt(lr / (bl dw_min))                 (no update management)
        k_n = lr xmax_n dmax_n / dw_min
        d'_n = dmax_n * min(1, bl / k_n)                   (aihwkit: "avoid clipping of x")
        A_n *= sqrt(d'_n / xmax_n),  B_n *= sqrt(xmax_n / d'_n)      (update management)

    so with update management the largest ``x`` and ``d`` of a vector fire with the same
    probability ``sqrt(k_n / bl)`` while ``k_n <= bl``; beyond, x's probability is 1 and d's
    saturates. ``bl_management=True`` adds aihwkit's ``update_bl_management`` (its default):
    vector ``n`` uses only its first ``BL_n = min(bl, ceil(k_n))`` slots and ``A_n = B_n =
    sqrt(lr / (BL_n dw_min))`` before the balancing.

    Bits: ``x`` of vector ``n`` in slot ``t`` uses the stream ``stream_key(key, 0)``, ``d`` the
    stream ``stream_key(key, 1)`` (see :func:`_bits`); ``bl`` is rounded up to an even number of
    slots whose last never fires when ``bl`` is odd. Probabilities: :func:`train_probabilities`.
    """
    bl = _check_trains("bitstream_counts", d, x, lr, dw_min, bl)
    N, out, inn = d.shape[0], d.shape[1], x.shape[1]
    xx, dd = x.detach().to(torch.float64), d.detach().to(torch.float64)
    p, q, bl_n = train_probabilities(dd, xx, lr, dw_min, bl, update_management,
                                     bl_management=bl_management)
    S = 2 * ((bl + 1) // 2)
    active = None
    if bl_n is not None:  # (N, S): slot t of vector n is live when t < BL_n
        active = torch.arange(S, device=d.device).unsqueeze(0) < bl_n.unsqueeze(1)
    sgn_x = torch.sign(xx).to(torch.int8).t().repeat_interleave(2, dim=1)  # (in, 2N)
    sgn_d = torch.sign(dd).to(torch.int8).t().repeat_interleave(2, dim=1)  # (out, 2N)
    kx, kd = stream_key(key, 0), stream_key(key, 1)
    budget = _BITS_BUDGET if d.device.type == "cpu" else 16 * _BITS_BUDGET
    chunk = max(1, budget // ((inn + out) * S))  # vectors per block: bounds the bit matrices
    net = total = None
    for n0 in range(0, N, chunk):
        n1 = min(n0 + chunk, N)
        act = None if active is None else active[n0:n1]
        ux = _bits(p.t()[:, n0:n1], kx, bl, N, n0, act).view(torch.int8)  # (in, S/2, 2 Nc) 0/1
        ud = _bits(q.t()[:, n0:n1], kd, bl, N, n0, act).view(torch.int8)  # (out, S/2, 2 Nc)
        sx = ux * sgn_x[:, 2 * n0:2 * n1].unsqueeze(1)
        sd = ud * sgn_d[:, 2 * n0:2 * n1].unsqueeze(1)
        ud, sd = ud.view(out, -1), sd.view(out, -1)
        ux, sx = ux.view(inn, -1).t(), sx.view(inn, -1).t()
        net_c, total_c = _count_matmul(sd, sx), _count_matmul(ud, ux)
        net = net_c if net is None else net.add_(net_c)
        total = total_c if total is None else total.add_(total_c)
    return net, total


# --------------------------------------------------------------------------------------------
# applying pulses


def _gather_state(state: DeviceState, params: DeviceParams, idx: Optional[torch.Tensor]) -> dict:
    """The flat device-state tensors the rule reads (``params.state_fields``), at ``idx``."""
    s = {}
    for f in params.state_fields:
        t = getattr(state, f).reshape(-1)
        s[f] = t if idx is None else t.index_select(0, idx)
    return s


_BLOCK = 1 << 20
"""Pulsed devices per block of the compact path (bounds its temporaries on huge layers)."""
_HASH_BLOCK = 1 << 17
"""Hash words per block of the bit-stream generator on CPU (a block's temporaries stay in cache)."""
_BITS_BUDGET = 1 << 25
"""Bytes of bit matrices per block of vectors in :func:`bitstream_counts` on CPU (x 16 on GPU):
the counts of the blocks add up, so memory stays bounded for any number of vectors."""


def _compact(flat: torch.Tensor, nf: torch.Tensor, free: Optional[torch.Tensor], state, params,
             key: int, noisy: bool, cap: Optional[int]) -> torch.Tensor:
    """Compacted rounds (in place on ``flat``): round k touches only the devices with |n| > k.
    The pulsed devices are processed in blocks of :data:`_BLOCK` (devices are independent)."""
    act = nf.bool()
    if free is not None:
        act &= free
    idx_all = torch.nonzero(act).squeeze(1)
    for start in range(0, idx_all.numel(), _BLOCK):
        _compact_block(flat, nf, idx_all[start:start + _BLOCK], state, params, key, noisy, cap)
    return flat


def _compact_block(flat, nf, idx, state, params, key, noisy, cap) -> None:
    ns = nf.index_select(0, idx)
    lo, hi = torch.aminmax(ns)
    rounds = max(-int(lo), int(hi))
    if cap is not None:
        rounds = min(rounds, cap)
    ws = flat.index_select(0, idx)
    sub = params.directional(ns > 0, _gather_state(state, params, idx))
    hb = idx * GOLDEN_S if noisy else None
    m = None
    for k in range(rounds):
        if k > 0:
            if m is None:
                m = ns.abs()
            sel = torch.nonzero(m > k).squeeze(1)
            if sel.numel() < m.numel():  # some devices are done: write back, keep the others
                flat.index_copy_(0, idx, ws)
                idx, m, ws = (t.index_select(0, sel) for t in (idx, m, ws))
                sub = {f: (t if f.startswith("_") else t.index_select(0, sel)) for f, t in sub.items()}
                if noisy:
                    hb = hb.index_select(0, sel)
        xi = normal_from(hash_words(hb, key, k), flat.dtype) if noisy else None
        ws = params.step(ws, xi, sub)
    flat.index_copy_(0, idx, ws)


def _masked(flat: torch.Tensor, nf: torch.Tensor, free: torch.Tensor, state, params, key: int,
            noisy: bool, rounds: int) -> torch.Tensor:
    """``rounds`` full-tensor rounds ``w = where(|n| > k, pulse(w), w)`` (no host sync)."""
    nabs = torch.where(free, nf.abs(), torch.zeros_like(nf))
    sub = params.directional(nf > 0, _gather_state(state, params, None))
    hb = scaled_range(flat.numel(), flat.device) if noisy else None
    for k in range(rounds):
        xi = normal_from(hash_words(hb, key, k), flat.dtype) if noisy else None
        flat = torch.where(nabs > k, params.step(flat, xi, sub), flat)
    return flat


def _closed_form(w: torch.Tensor, n: torch.Tensor, state: DeviceState, params: DeviceParams
                 ) -> Optional[torch.Tensor]:
    """Exact multi-pulse update of rules with a closed form (or None if not applicable): stuck
    devices get no pulses, the rule's :meth:`~.rules.DeviceParams.closed_form` moves the others
    by ``|n|`` pulses, then one clip to each device's bounds (n = 0 and stuck devices: ``w + 0 =
    w``, and ``w`` is settled, so the clip keeps it)."""
    if not params.has_closed_form:
        return None
    dtype = w.dtype
    up = n > 0
    na = n.abs().to(dtype)
    if w.device.type != "cpu" or any_stuck(state.stuck):
        na = na * state.free.to(dtype)  # stuck devices: no pulses
    w_n = params.closed_form(w, na, up, {f: getattr(state, f) for f in params.state_fields})
    if w_n is None:
        return None
    return torch.clamp(w_n, state.w_min, state.w_max)


def apply_counts(w: torch.Tensor, n: torch.Tensor, state, params, key: int, *,
                 rounds: Optional[int] = None, path: Optional[str] = None,
                 closed_form: bool = True, settled: bool = False,
                 out: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Apply signed pulse counts ``n`` (n > 0 up, n < 0 down; any integer dtype, shape of ``w``)
    to the devices ``w``; return the new weights (dtype and shape of ``w``).

    ``w`` is first :func:`.population.settle`-d. Round ``k`` (k = 0, 1, ...) gives pulse ``k`` to
    every free device with ``|n| > k``, through the rule's :meth:`~.rules.DeviceParams.step`, with the
    cycle-to-cycle normal ``counter_normal(key, i, k)`` of device ``i`` (flat index; drawn only
    when ``params.noise_std > 0``). Stuck devices never move.

    ``rounds``: the number of rounds (``None``: ``max |n|``, one host sync per call on the
    masked path); devices with ``|n| > rounds`` get only ``rounds`` pulses, on both paths.
    ``path``: ``"compact"`` or ``"masked"`` (module docstring; ``None``: compact on CPU, masked
    elsewhere); both give the same bits. With ``path=None`` on CPU, ``compute.kernels`` may run the
    compact rounds as the fused numba kernel instead (affine rules; equal to float rounding of the
    normals); a named path always runs torch's. ``closed_form=False`` forces the rounds where the exact
    noise-free closed form would apply.

    ``settled=True`` promises that ``w`` is already settled (as a storage that only ever writes
    settled weights keeps it) and skips the full-tensor settle. ``out`` (may be ``w`` itself):
    write the result there and return it; with ``settled=True, out=w`` the compact path touches
    only the pulsed devices (its cost is then proportional to the pulses sent).
    """
    if tuple(state.shape) != tuple(w.shape):
        raise ValueError(f"device state has shape {tuple(state.shape)}, weights {tuple(w.shape)}")
    fused = path is None  # the default path may run the fused kernel (compute.kernels); a named path is torch's
    if path is None:
        path = "compact" if w.device.type == "cpu" else "masked"
    elif path not in PATHS:
        raise ConfigError(f"path: unknown engine path {path!r}; valid: {', '.join(PATHS)}")
    if out is not None and (out.shape != w.shape or out.dtype != w.dtype):
        raise ValueError(f"out must have the shape and dtype of w, got {tuple(out.shape)} {out.dtype}")
    n = torch.as_tensor(n, device=w.device)
    if n.is_floating_point():
        n = torch.round(n).to(torch.int64)
    n = n.expand(w.shape)
    cap = None if rounds is None else max(int(rounds), 0)
    base = w if settled else settle(w, state, params)  # settle returns a new tensor
    if closed_form and params.has_closed_form:
        nc = n if cap is None else n.clamp(-cap, cap)
        fast = _closed_form(base, nc, state, params)
        if fast is not None:
            return fast if out is None else out.copy_(fast)
    nf = n.reshape(-1)
    noisy = params.noise_std > 0
    if path == "compact":
        if out is not None and out.is_contiguous():
            target = out if out.data_ptr() == base.data_ptr() else out.copy_(base)
        else:
            target = (base.clone(memory_format=torch.contiguous_format) if base is w
                      else base.contiguous())
        kernel = _select_engine("apply_counts", target, params) if fused else None  # compute.kernels, or None
        if kernel is not None:
            kernel(target.view(-1), nf, state, params, key, cap)
        else:
            stuck = state.stuck.reshape(-1)
            free = (stuck == 0) if (w.device.type != "cpu" or any_stuck(stuck)) else None
            _compact(target.view(-1), nf, free, state, params, key, noisy, cap)
        return target if out is None or target is out else out.copy_(target)
    free = state.free.reshape(-1)
    if cap is None:
        cap = int(nf.abs().max()) if nf.numel() else 0
    flat = _masked(base.reshape(-1), nf, free, state, params, key, noisy, cap).view(w.shape)
    return flat if out is None else out.copy_(flat)


FUSED_RULES = {("rounded", "stochastic"): 0, ("rounded", "deterministic"): 1, ("mixed", None): 2}
"""The count rules the fused update runs: ``(rule, rounding)`` -> the kernel's code (rounded counts
with :func:`rounded_counts`' rounding; ``mixed``: the storage's accumulator, truncated)."""


def fused_update(w: torch.Tensor, src: torch.Tensor, state: DeviceState, params: DeviceParams, *, rule: str,
                 rounding: Optional[str], form: bool, zero: bool, we: Optional[torch.Tensor],
                 chi: Optional[torch.Tensor], dw_min: float, bl: int, w_scale: float,
                 round_key: int, pulse_key: int, counts: torch.Tensor, wear: torch.Tensor, total: torch.Tensor,
                 stats: Optional[torch.Tensor], tile_rows, tile_cols) -> bool:
    """One pulsed update as one fused pass (``compute.kernels``; :func:`.kernels.numba_engine.pulsed_update`),
    the same as the storage's step by step path: the change (``src``; with ``form``, the proposal
    ``p`` taken as ``(we + p) - we``, ``we`` the effective weight),
    the counts of ``change / w_scale`` (:func:`rounded_counts` with ``stream_key(round_key, 0)``, or
    ``mixed``'s accumulator ``chi``) into ``counts``, the pulses (:func:`apply_counts`, ``rounds =
    bl``, stream ``pulse_key``, on the settled ``w`` in place), ``wear += |n|``, ``total += sum
    |n|`` and ``stats`` = :func:`analog_ep.synapses.counters.row_pulse_stats` of the counts (None:
    not computed).
    ``zero``: clear ``src`` after. False (nothing done) when no kernel runs these tensors; the
    caller then takes the step by step path.

    The device rule stays here: a card with an exact closed form takes it (:func:`apply_counts`
    after the kernel's counts, as the step by step path does); rules whose pulse the kernel has no
    form for take the step by step path. Reported (:func:`.kernels.ran`) as the numba
    ``rounded_counts`` (rounded rule) and ``apply_counts`` (pulses in the kernel) it runs."""
    code = FUSED_RULES.get((rule, rounding if rule == "rounded" else None))
    tensors = [t for t in (w, src, we, chi) if t is not None]
    if (code is None or (form and we is None)
            or any(t.dtype != w.dtype or t.device != w.device or not t.is_contiguous() for t in tensors)
            or tuple(src.shape) != tuple(w.shape) or tuple(state.shape) != tuple(w.shape)):
        return False
    kernel = _select_engine("pulsed_update", w, params)
    if kernel is None:
        return False
    closed = params.has_closed_form
    kernel(w, src, state, params, rule=code, form=form, zero=zero, we=we, chi=chi, dw_min=dw_min,
           bl=_check_bl(bl), w_scale=w_scale, round_key=round_key, pulse_key=pulse_key, pulse=not closed,
           counts=counts, wear=wear, total=total, stats=stats, tile_rows=tile_rows, tile_cols=tile_cols)
    if rule == "rounded":                   # bench's report: the steps the kernel ran
        _mark_ran("rounded_counts", "numba")
    if closed:
        apply_counts(w, counts, state, params, pulse_key, rounds=bl, settled=True, out=w)
    else:
        _mark_ran("apply_counts", "numba")
    return True


ACCUMULATIONS = ("net", "per_vector")
"""How a batch's pulse trains reach the devices (``analog.pulse_accumulation``): ``net``
(:func:`bitstream_counts`, the net count sent once) or ``per_vector`` (:func:`per_vector_pulses`)."""

_PER_VECTOR_BUDGET = 1 << 25
"""Bytes of per-vector count matrices (N_c, out, in) per block in :func:`per_vector_pulses` (x 16
on GPU)."""


def per_vector_pulses(w: torch.Tensor, d: torch.Tensor, x: torch.Tensor, lr: float, dw_min: float, bl: int,
                      key: int, pulse_key: int, state, params, update_management: bool = True, *,
                      bl_management: bool = False, path: Optional[str] = None,
                      closed_form: bool = True, on_counts=None) -> tuple[torch.Tensor, torch.Tensor]:
    """aihwkit's vector-by-vector update of a batch (``RPUPulsed::updateMatrix`` loops
    ``updateVector`` over the batch, ``src/rpucuda/rpu.cpp``; each vector runs
    ``PulsedRPUWeightUpdater::updateVectorWithDevice``, ``src/rpucuda/rpu_weight_updater.cpp``:
    the sparse bit-line maker makes that vector's trains, then for each slot ``k < BL`` every
    coincidence gets one ``doSparseUpdate`` pulse), in place on the settled weights ``w``.

    Vector ``n`` (in batch order) fires exactly the bits :func:`bitstream_counts` draws for it
    (same ``key``, same probabilities :func:`train_probabilities`: update management and
    ``bl_management`` per vector, from that vector's ``max|x_n|``, ``max|d_n|``). Its coincidences
    on device ``(i, j)`` are ``c = sum_t x_jt d_it`` pulses, all of sign ``sign(d_ni) sign(x_nj)``
    (one vector's pulses on a device all go one way, so their order within the train does not
    matter); they are applied through the rule (:func:`apply_counts`, ``rounds = bl``) with the
    cycle-to-cycle normals of stream ``stream_key(pulse_key, n)``, before vector ``n + 1``. So the
    sum over the vectors of the signed counts is the ``net`` of :func:`bitstream_counts`, but
    up and down pulses of different examples are sent in turn (each meets the rule's
    state-dependent step and its own noise) instead of cancelling, and no per-device cap applies
    beyond ``bl`` per vector.

    Returns ``(w, sent)``: the new weights (``w`` itself) and the pulses sent per device (int32,
    all vectors). ``on_counts`` (optional) is called with each vector's signed counts (out, in),
    in order (the storage's event counter: each vector is one write of the crossbar). Write noise is left to the caller (:func:`write_noise` with ``sent``): aihwkit
    redraws the apparent weight of a device on every pulse it gets (``update_once`` of
    ``rpu_linearstep_device.cpp`` and the other step devices), so after the batch only the last
    draw remains: one fresh draw per device that got any pulse has the same distribution.

    The coincidence counts of a block of vectors are one batched matmul of their 0/+-1 bit
    matrices ((N_c, out, S) @ (N_c, S, in), exact in float32); the vector loop has a fixed
    number of rounds per vector (``bl``) on the masked path and no host sync there."""
    bl = _check_trains("per_vector_pulses", d, x, lr, dw_min, bl)
    N, out, inn = d.shape[0], d.shape[1], x.shape[1]
    if w.shape != (out, inn):
        raise ValueError(f"per_vector_pulses: weights {tuple(w.shape)} do not match d, x ({out}, {inn})")
    xx, dd = x.detach().to(torch.float64), d.detach().to(torch.float64)
    p, q, bl_n = train_probabilities(dd, xx, lr, dw_min, bl, update_management, bl_management=bl_management)
    S = 2 * ((bl + 1) // 2)
    H = S // 2
    active = None
    if bl_n is not None:
        active = torch.arange(S, device=d.device).unsqueeze(0) < bl_n.unsqueeze(1)
    sgn_x = torch.sign(xx).to(torch.float32)  # (N, in)
    sgn_d = torch.sign(dd).to(torch.float32)  # (N, out)
    kx, kd = stream_key(key, 0), stream_key(key, 1)
    budget = _PER_VECTOR_BUDGET if d.device.type == "cpu" else 16 * _PER_VECTOR_BUDGET
    chunk = max(1, budget // (4 * out * inn + 4 * (out + inn) * S))
    sent = torch.zeros(w.shape, dtype=torch.int32, device=w.device)
    for n0 in range(0, N, chunk):
        n1 = min(n0 + chunk, N)
        nc = n1 - n0
        act = None if active is None else active[n0:n1]
        # bits (rows, S/2, 2 Nc), element (r, h, 2c + l) = slot 2h + l of vector n0 + c
        bx = _bits(p.t()[:, n0:n1], kx, bl, N, n0, act).view(inn, H, nc, 2)
        bd = _bits(q.t()[:, n0:n1], kd, bl, N, n0, act).view(out, H, nc, 2)
        bx = bx.permute(2, 1, 3, 0).reshape(nc, S, inn).to(torch.float32) * sgn_x[n0:n1].unsqueeze(1)
        bd = bd.permute(2, 0, 1, 3).reshape(nc, out, S).to(torch.float32) * sgn_d[n0:n1].unsqueeze(2)
        counts = torch.bmm(bd, bx).to(torch.int32)  # (Nc, out, in): signed coincidences per vector
        for c in range(nc):
            n = counts[c]
            apply_counts(w, n, state, params, stream_key(pulse_key, n0 + c), rounds=bl, path=path,
                         closed_form=closed_form, settled=True, out=w)
            sent.add_(n.abs())
            if on_counts is not None:
                on_counts(n)
    return w, sent


def write_noise(offset: torch.Tensor, n: torch.Tensor, params, key: int, *,
                path: Optional[str] = None) -> torch.Tensor:
    """aihwkit write noise: every device that received a pulse (``n != 0``) gets a fresh offset
    ``write_noise_std * dw_min * counter_normal(key, i, 0)`` (flat index ``i``); the others keep
    theirs. Returns ``offset`` itself when the card has no write noise, else a new tensor.
    ``path``: ``"compact"`` draws only for the pulsed devices (CPU default), ``"masked"`` for all
    (default elsewhere); same values."""
    std = getattr(params, "write_noise_std", 0.0) * getattr(params, "dw_min", 0.0)
    if std <= 0:
        return offset
    if path is None:
        path = "compact" if offset.device.type == "cpu" else "masked"
    n = torch.as_tensor(n, device=offset.device).expand(offset.shape)
    if path == "compact":
        out = offset.clone(memory_format=torch.contiguous_format).view(-1)
        idx = torch.nonzero(n.reshape(-1) != 0).squeeze(1)
        if idx.numel():
            z = hash_words(idx * GOLDEN_S, key, 0)
            out.index_copy_(0, idx, normal_from(z, offset.dtype).mul_(std))
        return out.view(offset.shape)
    if path != "masked":
        raise ConfigError(f"path: unknown engine path {path!r}; valid: {', '.join(PATHS)}")
    z = hash_words(scaled_range(offset.numel(), offset.device), key, 0)
    fresh = normal_from(z, offset.dtype).view(offset.shape).mul_(std)
    return torch.where(n != 0, fresh, offset)


__all__ = ["ACCUMULATIONS", "FUSED_RULES", "fused_update", "PATHS", "ROUNDINGS", "rounded_counts",
           "train_probabilities", "bitstream_counts",
           "per_vector_pulses", "apply_counts", "write_noise"]
