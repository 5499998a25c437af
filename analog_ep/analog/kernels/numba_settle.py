"""The fused node step of a Hopfield settle (numba, CPU): one kernel call per node per step.

An integration step of :func:`analog_ep.solvers.settle.relax_settle` on a model whose every node
is driven by its constant drive plus crossbar reads (:meth:`~analog_ep.models.base.EnergyNetwork.sweep_reads`)
and whose node maps have a kernel form (:meth:`~analog_ep.models.base.EnergyNetwork.sweep_update`:
``clip(slope h, lo, hi)``, the MSE and clamp nudges) runs, after the step's reads (the storages'
converter-free settle reads, with their read noise, in the same order as ``model.drive``), one
pass per node over each sample's row::

    h   = const_k + r_1 (+ r_2)                    # the drive (model.drive: in-edge reads, then out-edge)
    t   = node_update(k, h; beta)                  # T(s): the iterative solver's node update
    u   = (h + t) - node_update(k, h; 0)           # the node target: drive plus nudge current (beta != 0)
    u   = h                                        #   (beta = 0)
    res = max(res, max_c |t - s|)                  # the residual max |T(s) - s| (amax: NaN propagates)
    v'  = lerp(v, u, a)                            # v + a (u - v), a = 1 - e^{-dt / tau}
    s'  = rho_k(v')                                # the node's output (its activation)

``v'`` and ``s'`` are the next step's (written to the other of two buffers: when the stopper
ends the phase on this step's residual, ``s`` is its state). Each float operation is torch's in
the states' dtype (the scalars rounded to that dtype first, as torch's wrapped scalars are), and
``torch.lerp``'s CPU kernel is a fused multiply-add (``fma(a, u - v, v)`` for ``a < 0.5``, else
``fma(a - 1, u - v, u)``), which the kernel calls as LLVM's ``fma`` intrinsic, so the states,
residuals and stop decisions are the torch loop's bit for bit (``tests/unit/test_settle_kernel.py``,
every read kind the settle uses: ideal, noiseless and noisy memristor tiles, IR drop, float32 /
float64, free and nudged phases). What it saves per step: per node about ten small tensor
operations (the drive's adds, two node updates, the nudge current, ``max_abs``, ``lerp``, the
activation) and the residual's ``stack`` / ``amax``.

numba's on-disk cache (``cache=True``) checks only this file: after editing the row bodies it
inlines from :mod:`.numba_sweep` (``_update_row``, ``_clip_row``, ``_residual_row``, ``_stop_row``),
delete ``kernels/__pycache__/numba_settle*.nbi`` / ``*.nbc`` (or touch this file).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from numba import njit
from numba.extending import intrinsic

from . import numba_reads as NR
from .numba_sweep import UPDATES, _clip_row, _residual_row, _stop_row, _update_row


@intrinsic
def _fma(typingctx, a, b, c):
    """``a * b + c`` rounded once (LLVM ``llvm.fma``), as torch's vectorized ``lerp``."""
    sig = a(a, a, a)

    def codegen(context, builder, signature, args):
        return builder.fma(*args)

    return sig, codegen


# settle has no read-noise floor threshold (``solver.noise_z`` is iterative only: ``sm[8]`` = 0), so
# :func:`.numba_sweep._stop_row`'s per-step noise-management scales, L2 norms and coefficients are never read
_NO_FLOOR_SB = np.ones((1, 1, 1), np.float64)
_NO_FLOOR_CZ = np.zeros(1, np.float64)
_NO_FLOOR_WN = np.zeros((1, 1, 1), np.float64)
_NO_FLOOR_CW = np.zeros(1, np.float64)


@njit(cache=True)
def node_step(c0, r1, r2, nr, s, v, y, im, fp, res, first, vn, sn, h, t, u, d, di, last, flags, counts, best,
              sweep, sm, sf):
    """One node's fused settle step over every row (module doc), each part one simple loop (they
    vectorize). ``nr``: reads (1 or 2; ``r2`` unused at 1); ``im``: int flags ``[t mode, t
    slope?, t clip?, nudged (beta != 0), t0 slope?, t0 clip?, act slope?, act clip?]`` (``t0``:
    the node update at beta 0, a clip form); ``fp``: ``[t slope, t lo, t hi, beta, 1 + beta, t0
    slope, t0 lo, t0 hi, act slope, act lo, act hi, a, a - 1]`` in the states' dtype; ``first``:
    this node starts the residual; ``h``, ``t``, ``u``, ``d``: row buffers, ``di`` the integer
    view of ``d``; ``last``: the last node, whose pass runs the stopper's rule on each row once
    its residual is final (:func:`.numba_sweep._stop_row` on the stopper's
    :meth:`~analog_ep.solvers.base.Stopper.kernel_state`, ``sweep`` = the step, ``sm`` / ``sf``
    its int / float parameters at that function's indices)."""
    B, m = s.shape
    tmode, nudged = im[0], im[3] != 0
    a, am1 = fp[11], fp[12]
    small = abs(a) < 0.5
    for b in range(B):
        cb, ra, sb, vb, vnb = c0[b], r1[b], s[b], v[b], vn[b]
        for c in range(m):                                             # the drive
            h[c] = cb[c] + ra[c]
        if nr == 2:
            rb = r2[b]
            for c in range(m):
                h[c] = h[c] + rb[c]
        _update_row(tmode, h, t, y, b, im[1] != 0, im[2] != 0, fp[0], fp[1], fp[2], fp[3], fp[4])  # T(s): at beta
        if nudged:                                                     # u = (h + t) - node_update(h; 0)
            _clip_row(h, u, im[4] != 0, im[5] != 0, fp[5], fp[6], fp[7])
            for c in range(m):
                u[c] = (h[c] + t[c]) - u[c]
            ub = u
        else:
            ub = h
        for c in range(m):                                             # |T(s) - s|
            d[c] = abs(t[c] - sb[c])
        _residual_row(di, di, d, res, b, first)                         # max_c |d| into res[b] (d[0] overwritten)
        if last:
            _stop_row(res, flags, counts, best, sweep, _NO_FLOOR_SB, _NO_FLOOR_CZ, _NO_FLOOR_WN, _NO_FLOOR_CW, sm, sf, b)
        if small:                                                      # torch.lerp(v, u, a): one rounding
            for c in range(m):
                x = vb[c]
                vnb[c] = _fma(a, ub[c] - x, x)
        else:
            for c in range(m):
                x = vb[c]
                vnb[c] = _fma(am1, ub[c] - x, ub[c])
        _clip_row(vnb, sn[b], im[6] != 0, im[7] != 0, fp[8], fp[9], fp[10])


def _flags(form) -> tuple[int, int, int, tuple]:
    mode, (slope, lo, hi, beta) = UPDATES[form[0]], form[1]
    return mode, int(slope != 1.0), int(not (math.isinf(lo) and math.isinf(hi))), (slope, lo, hi)


class NodeStep:
    """The fused step of one node (:func:`node_step`) with its forms and scalars fixed for a
    phase: ``t_form`` / ``t0_form`` / ``act_form`` the :meth:`sweep_update` forms of the node
    update at the phase's beta, at 0 and of the node's activation; ``y`` the output's target."""

    def __init__(self, t_form, t0_form, act_form, beta: float, alpha: float, y, dtype: torch.dtype):
        tm, tsl, tcl, tp = _flags(t_form)
        _, zsl, zcl, zp = _flags(t0_form)
        _, asl, acl, ap = _flags(act_form)
        self.im = np.array([tm, tsl, tcl, int(beta != 0.0), zsl, zcl, asl, acl], np.int64)
        npd = np.dtype(NR._NPDT[dtype])
        a = npd.type(alpha)  # torch.lerp's weight in the states' dtype, and its a - 1 there
        self.fp = np.array([*tp, beta, 1.0 + beta, *zp, *ap, alpha, 0.0], np.float64).astype(npd)
        self.fp[12] = a - npd.type(1.0)
        self.y = None if y is None else y.numpy()
        self.bufs = None  # the row buffers h, t, u, d and d's integer view

    def __call__(self, c0, reads, s, v, res, first, vn, sn, stop=None, sweep: int = 0) -> None:
        r1 = reads[0]
        r2 = reads[1] if len(reads) > 1 else r1
        y = self.y if self.y is not None else s
        bufs = self.bufs
        if bufs is None or bufs[0].shape[0] != s.shape[1]:
            bufs = self.bufs = [np.empty(s.shape[1], s.dtype) for _ in range(4)]
            bufs.append(bufs[3].view(np.int32 if s.dtype == np.float32 else np.int64))
        if stop is None:
            node_step(c0, r1, r2, len(reads), s, v, y, self.im, self.fp, res, first, vn, sn, *bufs, False,
                      *_NO_STOP[s.dtype], sweep, _NO_STOP_M, _NO_STOP[s.dtype][2])
        else:
            node_step(c0, r1, r2, len(reads), s, v, y, self.im, self.fp, res, first, vn, sn, *bufs, True, *stop[:3],
                      sweep, *stop[3:])


_NO_STOP_M = np.zeros(9, np.int64)
_NO_STOP = {np.dtype(d): (np.zeros((3, 1), np.bool_), np.zeros((2, 1), np.int64), np.zeros(7, d))
            for d in (np.float32, np.float64)}


def stop_state(stopper, dtype: torch.dtype) -> tuple:
    """The stopper's buffers and parameters for :func:`node_step`'s last node: ``(flags, counts,
    best, sm, sf)`` as arrays (``sm[6]`` the noise-floor rule runs, ``sm[7]`` its patience;
    ``sf[5]`` tol, ``sf[6]`` 1 - drop, rounded to the states' dtype as torch's wrapped scalars)."""
    flags, counts, best, tol, factor, floor, patience = stopper.kernel_state()
    npd = np.dtype(NR._NPDT[dtype])
    sm = np.zeros(9, np.int64)                     # sm[8] = 0: settle has no floor threshold
    sm[6], sm[7] = int(floor), int(patience)
    sf = np.zeros(7, npd)
    sf[5], sf[6] = npd.type(tol), npd.type(factor)
    return flags.numpy(), counts.numpy(), best.numpy(), sm, sf


def supported(t_form, t0_form, act_form) -> bool:
    """Whether the kernel has these node maps (the update at beta and at 0, the activation)."""
    return (t_form is not None and t0_form is not None and act_form is not None and t_form[0] in UPDATES
            and t0_form[0] == "clip" and act_form[0] == "clip")
