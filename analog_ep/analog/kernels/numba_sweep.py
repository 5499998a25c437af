"""The fused asynchronous relaxation sweep (numba, CPU): one kernel per colour group.

A sweep of :func:`analog_ep.solvers.hopfield.relax_async` on a model whose every node is driven
by one planned one-tile analog read (the Hopfield MLP with one hidden layer: node 1 by the
transposed read of the output, node 2 by the forward read of node 1; the model describes it:
:meth:`~analog_ep.models.base.EnergyNetwork.sweep_plan`) runs, per colour group (node ``k``, read
of node ``j``'s state)::

    read bookkeeping (host)           # storage.sweep_read_parts: read index, read weight, counts, key
    t  = x_q(s_j) . w_tile            # torch.mm, as the planned read (:func:`.numba_reads.one_tile_read`)
    -- one numba pass per sample row (:func:`_group`) --
    r  = stage(t)                     # the planned read's output stage (:func:`.numba_reads._stage_row`)
    h  = const_k + r                  # the drive, in the states' dtype
    s_k' = update(h)                  # clip(slope h, lo, hi) | (h + beta y) / (1 + beta) | h + beta (y - h)
    res[b] = max(res[b], max_c |s_k' - s_k|)      # the sweep's per-sample residual (NaN propagates)
    x_q(s_k') = dac(s_k')             # the DAC of the new state for the read that consumes it
                                      # (:func:`.numba_reads._dac_row` with that read's plan)
    -- in the last group's pass, after res[b] is final --
    stop bookkeeping of sample b      # the Stopper's rule (:func:`_stop_row`): now, best, stall,
                                      # on_floor, steps, done, on the stopper's own buffers
    -- or, where the floor threshold has weight read noise terms (their L2 norms need every new
       state), after the last group --
    wn = ||s_src'||_2 per read        # host: the term's own norm (torch), the generic sweep's floats
    stop bookkeeping of every sample  # :func:`_stop`: the same rule, each read's term in quadrature
    -- host, every check_every sweeps --
    stop = all(now)                   # Stopper.record: one flag read, as before

The same read indices, weights, keys and counts as the generic sweep (the storage's bookkeeping
is :meth:`~analog_ep.analog.storage.AnalogStorage.sweep_read_parts`, the same steps as
``_planned_read``), the same DAC / product / output-stage bodies, and each float operation of
the drive, the update, the residual and the stop rule as torch does it in the states' dtype
(the scalars ``beta``, ``1 + beta``, ``slope``, the bounds, ``tol`` and ``1 - drop`` rounded to
that dtype first, as torch's wrapped scalars are), so the states, the residuals and the
stopper's decisions are the generic sweep's bit for bit (``tests/unit/test_fused_sweep.py``).
What it saves: per sweep the drive's and the update's tensor operations, the residual's
``max_abs`` / ``stack`` / ``amax``, the read's DAC call and buffer lookups, and the stopper's
~10 in-place tensor operations (:meth:`~analog_ep.solvers.base.Stopper.update`; the torch
stopper stays the reference and runs every relaxation the fused sweep declines).

numba's on-disk cache (``cache=True``) checks only this file: after editing the row bodies this
module inlines (``numba_reads._stage_row``, ``_dac_row``, ``_key_words``, ``normal8``), delete
``kernels/__pycache__/numba_sweep*.nbi`` / ``*.nbc`` (or touch this file).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from numba import njit, prange

from . import numba_reads as NR
from .normal8 import BLOCK

_D3 = {np.dtype(np.float32): NR._DUMMY[np.float32][0], np.dtype(np.float64): NR._DUMMY[np.float64][0]}
_D2 = {np.dtype(np.float32): NR._DUMMY[np.float32][1], np.dtype(np.float64): NR._DUMMY[np.float64][1]}
_INT = {np.dtype(np.float32): np.zeros(1, np.int32), np.dtype(np.float64): np.zeros(1, np.int64)}

# node updates (:func:`_group_row`'s ``um[0]``): a clip ``clip(slope h, lo, hi)`` (slope and bounds
# each optional: the linear output and a free phase's output are ``h``), the MSE nudge
# ``(h + beta y) / (1 + beta)`` and the clamp nudge ``h + beta (y - h)``
CLIP, MSE, CLAMP = 0, 1, 2
UPDATES = {"clip": CLIP, "mse": MSE, "clamp": CLAMP}


@njit(inline="always", cache=True)
def _clip_row(x, out, has_slope, has_clip, slope, lo, hi):
    """``out = clip(slope x, lo, hi)`` (ClipActivation: the product only where slope != 1, the
    clamp only where a bound is finite; as torch.clamp, NaN stays NaN), one simple loop each;
    ``out`` may be ``x``."""
    m = x.shape[0]
    if has_slope:
        for c in range(m):
            out[c] = x[c] * slope
    else:
        for c in range(m):
            out[c] = x[c]
    if has_clip:
        for c in range(m):
            out[c] = min(max(out[c], lo), hi)


@njit(inline="always", cache=True)
def _update_row(mode, h, out, y, b, has_slope, has_clip, slope, lo, hi, beta, den):
    """``out`` = the node update (:data:`UPDATES` code ``mode``) of the drive row ``h`` of sample
    ``b``: ``clip(slope h, lo, hi)`` (:func:`_clip_row`), the MSE nudge ``(h + beta y) / den``
    (``den`` = 1 + beta) or the clamp nudge ``h + beta (y - h)`` (``y[b]`` the target row, read
    only by the nudges); each element of ``h`` is read before ``out``'s is written, so ``out``
    may be ``h``. The one body of the fused sweep's and the fused settle's node updates."""
    if mode == CLIP:
        _clip_row(h, out, has_slope, has_clip, slope, lo, hi)
    elif mode == MSE:
        yr = y[b]
        for c in range(h.shape[0]):
            out[c] = (h[c] + beta * yr[c]) / den
    else:
        yr = y[b]
        for c in range(h.shape[0]):
            x = h[c]
            out[c] = x + beta * (yr[c] - x)


@njit(inline="always", cache=True)
def _residual_row(vi, iw, fw, res, b, first):
    """Sample ``b``'s residual after one node: ``max_c |d|`` of the row ``d`` (``vi`` its integer
    view) into ``res[b]`` (set when ``first``, else maxed in: amax over nodes, NaN propagates).
    Every ``|d| >= 0``, so its bits order as integers (NaN, sign cleared, above inf: it propagates
    as amax's does) and an integer max reduction vectorizes; ``iw`` / ``fw``: an integer / float
    view of one word that turns the integer max back into the float (it may be ``vi`` / ``d``:
    their first element is then overwritten)."""
    mi = vi[0]
    for c in range(1, vi.shape[0]):
        x = vi[c]
        mi = x if x > mi else mi
    iw[0] = mi
    mx = fw[0]
    if first:
        res[b] = mx
    else:
        r = res[b]
        if mx > r or mx != mx:                                         # amax over nodes: NaN propagates
            res[b] = mx


@njit(inline="always", cache=True)
def _floor_term(sb, cz, wn, cw, i, b):
    """Step ``i``'s read-noise floor for sample ``b`` as :func:`analog_ep.solvers.base.floor_threshold`
    makes a node's: the output-noise term ``sb[i, b] cz[i]`` alone, or, where the read has weight
    read noise (``cw[i]`` != 0), in quadrature with its term ``wn[i, b] cw[i]`` (``wn`` the L2 norm
    of the read's input): ``sqrt(a a + w w)``, torch's ``stack((a, w)).square().sum(0).sqrt()``
    in the states' dtype."""
    a = sb[i, b, 0] * cz[i]
    if cw[i] != 0:
        w = wn[i, b, 0] * cw[i]
        return math.sqrt(a * a + w * w)
    return a


@njit(inline="always", cache=True)
def _stop_row(res, flags, counts, best, sweep, sb, cz, wn, cw, um, uf, b):
    """Sample ``b``'s stop bookkeeping after sweep ``n`` (the last group's residual ``res[b]`` is
    the sweep's): :meth:`analog_ep.solvers.base.Stopper.update`'s rule (``rtol`` 0) on the
    stopper's own buffers (:meth:`~analog_ep.solvers.base.Stopper.kernel_state`: ``flags`` rows
    done / now / on_floor, ``counts`` rows steps / stall; ``sweep`` = n), each comparison and product in the
    states' dtype as torch makes it (``uf[5]`` = tol, ``uf[6]`` = 1 - drop, rounded to that dtype;
    ``um[6]``: the noise-floor rule runs, ``um[7]``: its patience; ``um[8]``: the floor threshold
    runs, :func:`analog_ep.solvers.base.floor_threshold`'s ``max_i`` of step ``i``'s
    :func:`_floor_term`, with ``sb`` (K, B, 1) each step's read's noise-management scale of the
    new states (1 without one), ``cz`` (K,) the steps' :func:`~analog_ep.solvers.base.floor_coef`
    in the states' dtype, ``wn`` (K, B, 1) the L2 norms of the reads' inputs and ``cw`` (K,) their
    weight-noise coefficients, 0 where a read has none)."""
    r = res[b]
    now = r < uf[5]                                                   # residual < tol
    if um[6]:
        bb = best[b]
        progress = r < bb * uf[6]                                     # residual < best (1 - drop)
        if r != r or r < bb:                                          # best = minimum(best, r): NaN propagates
            best[b] = r
        st = 0 if progress else counts[1, b] + 1                      # stall
        counts[1, b] = st
        if st >= um[7]:
            flags[2, b] = True                                        # on_floor |= stall >= patience
        if um[8]:
            t = _floor_term(sb, cz, wn, cw, 0, b)
            for i in range(1, sb.shape[0]):
                x = _floor_term(sb, cz, wn, cw, i, b)
                if x > t or x != x:                                   # amax over nodes: NaN propagates
                    t = x
            if r <= t:
                flags[2, b] = True                                    # on_floor |= residual <= threshold
        now = now or flags[2, b]
    flags[1, b] = now
    if now and not flags[0, b]:
        counts[0, b] = sweep                                          # steps: the first sweep it held
        flags[0, b] = True                                            # done |= now


@njit(inline="always", cache=True)
def _group_row(t3, d3, s_in, ka, kb, ip, sfp, const, old, y, um, uf, rd, new, res, dac,
               starts, nm, dmode, dfp, xq, s_out, b, v, nz, vi, fw, iw):
    """Row (sample) ``b`` of :func:`_group` (the one body both drivers run). Each step one simple
    loop (they vectorize), in torch's order of operations. ``vi``: the integer view of the row
    buffer ``v``; ``iw``: the integer view of the 1-element ``fw``."""
    NR._stage_row(t3, d3, s_in, ka, kb, ip, sfp, rd, b, v, nz)         # rd[b]: the read
    r, c0, o, n = rd[b], const[b], old[b], new[b]
    m = n.shape[0]
    mode = um[0]
    if mode == 0 and not um[1] and (um[2] or um[3]):                  # clip(h, lo, hi), one pass
        lo, hi = uf[1], uf[2]
        for c in range(m):
            x = min(max(c0[c] + r[c], lo), hi)                          # as torch.clamp: NaN stays NaN
            n[c] = x
            v[c] = abs(x - o[c])
    else:
        for c in range(m):
            n[c] = c0[c] + r[c]                                        # the drive
        _update_row(mode, n, n, y, b, um[1] != 0, um[2] != 0 or um[3] != 0, uf[0], uf[1], uf[2], uf[3], uf[4])
        for c in range(m):
            v[c] = abs(n[c] - o[c])
    _residual_row(vi, iw, fw, res, b, um[4] != 0)                     # max_c |n - o|; the first group starts it
    if dac:
        NR._dac_row(new, starts, nm, dmode, dfp, xq, s_out, b)


@njit(parallel=True, fastmath=False, cache=True)
def _group(t3, d3, s_in, key, read, ip, sfp, const, old, y, um, uf, rd, new, res, stp, dac,
           starts, nm, dmode, dfp, xq, s_out, iproto):
    """One colour group of the fused sweep: the read's output stage on the product ``t3`` (1, B, M)
    (``s_in``: the DAC's noise-management scales of the read's input; ``key``, ``read``, ``ip``,
    ``sfp``: the planned read's stream key, index, flags and constants, as
    :func:`.numba_reads._stage`) into ``rd`` (B, M); the drive ``const + rd``; the node update
    (``um`` = (mode, slope?, lo?, hi?, first group, last group, noise floor?, patience), ``uf`` =
    (slope, lo, hi, beta, 1 + beta, tol, 1 - drop) in the states' dtype; ``y`` the target, (B, M),
    for the nudges) into ``new``; the per-sample residual into ``res`` (set by the first group,
    maxed by the others); in the last group (``um[5]``), after its row, the stopper's bookkeeping of
    the sweep on ``stp`` = (flags, counts, best, sweep n, sb, cz, wn, cw) (:func:`_stop_row`; the tuple is unpacked
    before the loop: numba 0.68 loses writes to arrays unpacked from a tuple inside a ``prange``
    body); with ``dac``, the DAC of ``new``
    into ``xq`` / ``s_out`` under the consuming read's plan (``starts``, ``nm``, ``dmode``,
    ``dfp``: :func:`.numba_reads._dac`); ``iproto``: an integer array of the states' width (int32 /
    int64: the residual's integer view). Parallel over samples (:func:`_group1`: one thread)."""
    ka, kb = NR._key_words(key, read, ip[5])
    flags, counts, best, sweep, sb, cz, wn, cw = stp
    stop = um[5] != 0
    m = t3.shape[2]
    mp = (m + BLOCK - 1) // BLOCK * BLOCK
    for b in prange(new.shape[0]):
        v = np.empty(m, dtype=new.dtype)
        nz = np.empty(mp, dtype=np.float32)
        fw = np.empty(1, dtype=new.dtype)
        _group_row(t3, d3, s_in, ka, kb, ip, sfp, const, old, y, um, uf, rd, new, res, dac,
                   starts, nm, dmode, dfp, xq, s_out, b, v, nz, v.view(iproto.dtype), fw, fw.view(iproto.dtype))
        if stop:
            _stop_row(res, flags, counts, best, sweep, sb, cz, wn, cw, um, uf, b)


@njit(fastmath=False, cache=True)
def _group1(t3, d3, s_in, key, read, ip, sfp, const, old, y, um, uf, rd, new, res, stp, dac,
            starts, nm, dmode, dfp, xq, s_out, iproto):
    """:func:`_group` on one thread (the row buffers made once)."""
    ka, kb = NR._key_words(key, read, ip[5])
    m = t3.shape[2]
    mp = (m + BLOCK - 1) // BLOCK * BLOCK
    v = np.empty(m, dtype=new.dtype)
    nz = np.empty(mp, dtype=np.float32)
    fw = np.empty(1, dtype=new.dtype)
    vi, iw = v.view(iproto.dtype), fw.view(iproto.dtype)
    flags, counts, best, sweep, sb, cz, wn, cw = stp
    stop = um[5] != 0
    for b in range(new.shape[0]):
        _group_row(t3, d3, s_in, ka, kb, ip, sfp, const, old, y, um, uf, rd, new, res, dac,
                   starts, nm, dmode, dfp, xq, s_out, b, v, nz, vi, fw, iw)
        if stop:
            _stop_row(res, flags, counts, best, sweep, sb, cz, wn, cw, um, uf, b)


@njit(fastmath=False, cache=True)
def _stop(res, flags, counts, best, sweep, sb, cz, wn, cw, um, uf):
    """The stopper's bookkeeping of sweep ``sweep`` for every sample (:func:`_stop_row`), after the
    sweep's last group: the fused sweep's stop where the floor threshold has weight-noise terms,
    whose L2 norms of the new states (``wn``) the host computes between the two kernels."""
    for b in range(res.shape[0]):
        _stop_row(res, flags, counts, best, sweep, sb, cz, wn, cw, um, uf, b)


class _Step:
    """One colour group's read and update, with its buffers (made once per relaxation): the new
    state's two buffers (the sweeps alternate between them) as tensors and numpy views."""

    def __init__(self, st, const: torch.Tensor, b: int, dt):
        self.node, self.src, self.storage, self.kind = st.node, st.src, st.storage, st.kind
        self.nm, self.starts, self.dmode, self.dfp, self.smode, self.sfp, _ = st.read_plan
        m = const.shape[1]
        self.const = const.detach().contiguous().numpy()
        y = st.target
        self.y = _D2[dt] if y is None else y.detach().contiguous().numpy()
        npdt = dt.type
        slope, lo, hi, beta = st.params
        self.um = np.array([UPDATES[st.update], slope != 1.0, lo != -np.inf, hi != np.inf, 0, 0, 0, 0, 0], dtype=np.int64)
        self.uf = np.array([slope, lo, hi, beta, 1.0 + beta, 0.0, 0.0], dtype=npdt)
        self.rd = np.empty((b, m), dtype=npdt)
        self.tt = torch.empty((b, m), dtype=const.dtype, device=const.device)
        self.t3 = self.tt.numpy().reshape(1, b, m)
        self.out = [torch.empty((b, m), dtype=const.dtype, device=const.device) for _ in range(2)]
        self.out_np = [t.numpy() for t in self.out]
        self.ips: dict = {}


class FusedSweep:
    """The fused sweep of a :meth:`~analog_ep.models.base.EnergyNetwork.sweep_plan` (a list of
    :class:`~analog_ep.models.base.SweepStep`, one per colour group, each node's state read by
    exactly one step) for one relaxation of at most ``iters`` sweeps from ``states``, stopped by
    ``stopper`` (a :class:`~analog_ep.solvers.base.Stopper` without the relative test):
    :meth:`advance` maps the states to the new states, computes the per-sample residual (max over
    nodes of ``max |s_new - s_old|``) as the generic sweep and
    :func:`analog_ep.solvers.base.run_sweeps` do, and runs the stopper's per-sample bookkeeping in
    the last group's kernel (:func:`_stop_row`, on :meth:`~analog_ep.solvers.base.Stopper.kernel_state`);
    the host only reads the stopper's flag (:meth:`~analog_ep.solvers.base.Stopper.record`).

    Buffers, made once: sweep ``n``'s (from 1) states are written into the ``(n - 1) % 2`` buffer
    of each node (so a sweep's states stay valid until two sweeps later: the relaxation keeps only
    the newest and returns the last), its residual into row ``n - 1`` of an (``iters``, B) buffer
    (rows stay: the stopper keeps them all)."""

    def __init__(self, plan: list, const: list[torch.Tensor], states: list[torch.Tensor], iters: int, stopper,
                 z: float, band: str):
        like = states[0]
        b = like.shape[0]
        dt = np.dtype(NR._NPDT[like.dtype])
        self.b, self.d3, self.iproto = b, _D3[dt], _INT[dt]
        self.steps = [_Step(st, const[st.node - 1], b, dt) for st in plan]
        self.steps[0].um[4] = 1
        flags, counts, best, tol, factor, floor, patience = stopper.kernel_state()
        self.stopper, self.flags, self.counts, self.best = stopper, flags.numpy(), counts.numpy(), best.numpy()
        # the floor threshold (z > 0, :func:`analog_ep.solvers.base.floor_threshold`): per step its
        # read's noise-management scale (the DAC's, one block row per step; 1 without one) and coefficient
        sizes = [math.prod(s.shape[1:]) for s in states]
        coefs = self._floor_coefs(plan, z, band, sizes) if floor else None
        self.sb = np.ones((len(plan), b, 1), dtype=dt)
        self.cz = np.array(coefs if coefs is not None else [0.0] * len(plan), dtype=dt)
        # the weight read noise's terms: per step its coefficient (0 where none) and the L2 norms of the
        # new states it reads, computed by the term's own norm between the last group and the stop
        wcoefs = self._weight_coefs(plan, z, band, sizes) if coefs is not None else None
        self.cw = np.array([c for c, _ in wcoefs] if wcoefs is not None else [0.0] * len(plan), dtype=dt)
        self.wn = np.zeros((len(plan), b, 1), dtype=dt)
        self.wn_t = torch.from_numpy(self.wn).squeeze(2)
        self.norms = [] if wcoefs is None else [(i, st.src, norm) for i, (st, (_, norm)) in enumerate(zip(plan, wcoefs))
                                                 if norm is not None]
        last = self.steps[-1]
        # the stop in the last group's pass, or (weight-noise terms: their norms need the whole sweep) after it
        last.um[5:9] = (0 if self.norms else 1, floor, patience, coefs is not None)
        self.last = last
        last.uf[5:7] = (tol, factor)                  # rounded to the states' dtype, as torch's wrapped scalars
        consumer = {s.src: s for s in self.steps}
        # the DAC buffers of each read's input (its source node's state), filled by the step that
        # updates that node (or, for a read before its source's update in the sweep, at the start)
        self.xq, self.xq_t, self.s = {}, {}, {}
        for i, s in enumerate(self.steps):
            n = states[s.src - 1].shape[1]
            xq = np.empty((b, n), dtype=dt)
            self.xq[s.src], self.xq_t[s.src] = xq, torch.from_numpy(xq)
            self.s[s.src] = self.sb[i] if s.nm else _D2[dt]
        self.next = [consumer[s.node] for s in self.steps]   # the read that consumes each step's new state
        order = {s.node: i for i, s in enumerate(self.steps)}
        for i, s in enumerate(self.steps):
            if order[s.src] >= i:        # read before its source's update in this sweep: DAC the start state
                x = states[s.src - 1].detach().contiguous().numpy()
                (NR._dac1 if NR._serial() else NR._dac)(x, s.starts, s.nm, s.dmode, s.dfp, self.xq[s.src],
                                                        self.s[s.src])
        self.run = _group1 if NR._serial() else _group
        self.res = torch.empty((max(int(iters), 1), b), dtype=like.dtype, device=like.device)
        self.res_np = self.res.numpy()
        # the old state each step reads, as numpy (the start states: contiguous copies where needed)
        self.old = {s.node: states[s.node - 1].detach().contiguous().numpy() for s in self.steps}

    @staticmethod
    def _floor_coefs(plan: list, z: float, band: str, sizes: list[int]) -> list[float] | None:
        """Each step's :func:`~analog_ep.solvers.base.floor_coef` (its read's
        :meth:`~analog_ep.analog.storage.AnalogStorage.read_floor` through its update's
        :data:`~analog_ep.models.base.NOISE_GAINS`, at its node's band: ``band`` of ``z`` for the
        node's entries per sample ``sizes[node - 1]``, :func:`~analog_ep.solvers.base.node_bands`,
        the same floats :func:`~analog_ep.solvers.base.floor_threshold` uses), or None where the
        threshold does not run (``z`` 0, a read without an estimate, or one whose scaling is not
        its plan's DAC's)."""
        from ...models.base import NOISE_GAINS
        from ...solvers.base import floor_coef, node_bands
        if not z:
            return None
        zs = node_bands(z, band, sizes)
        out = []
        for st in plan:
            f = st.storage.read_floor(st.kind)
            if f is None or (f[1] is not None) != bool(st.read_plan[0]):
                return None
            out.append(floor_coef(zs[st.node - 1], NOISE_GAINS[st.update](*st.params), f[0]))
        return out

    @staticmethod
    def _weight_coefs(plan: list, z: float, band: str, sizes: list[int]) -> list[tuple] | None:
        """Each step's weight-noise term as :func:`~analog_ep.solvers.base.floor_threshold` builds
        it from :meth:`~analog_ep.models.base.EnergyNetwork.read_floors`: ``(floor_coef(z_k, gain,
        cw), norm)`` from the step's :attr:`~analog_ep.models.base.SweepStep.weight_floor` at its
        node's band, ``(0.0, None)`` where the read has none; None where no step has one."""
        from ...models.base import NOISE_GAINS
        from ...solvers.base import floor_coef, node_bands
        if not z or all(st.weight_floor is None for st in plan):
            return None
        zs = node_bands(z, band, sizes)
        return [(0.0, None) if st.weight_floor is None else
                (floor_coef(zs[st.node - 1], NOISE_GAINS[st.update](*st.params), st.weight_floor[0]), st.weight_floor[1])
                for st in plan]

    def advance(self, n: int, states: list[torch.Tensor]) -> tuple[list[torch.Tensor], bool]:
        """Sweep ``n`` (1, 2, ... in turn) from ``states`` (the states the previous sweep returned,
        or the start states): ``(new states, stop now)`` (the loop of
        :func:`analog_ep.solvers.base.sweep_loop`)."""
        s = list(states)
        i = n - 1
        par = i & 1
        rn = self.res_np[i]
        run, d3, b, old, xq, sc = self.run, self.d3, self.b, self.old, self.xq, self.s
        for st, nxt in zip(self.steps, self.next):
            w_t, key, read, absorb, row0 = st.storage.sweep_read_parts(st.kind, b)
            torch.mm(self.xq_t[st.src], w_t, out=st.tt)
            ik = (row0, absorb)
            ip = st.ips.get(ik)
            if ip is None:
                ip = st.ips[ik] = NR._ip(1, 0, st.nm, st.smode, row0, int(absorb))
            new = st.out_np[par]
            run(st.t3, d3, sc[st.src], np.uint64(key), np.uint64(read), ip, st.sfp, st.const, old[st.node], st.y,
                st.um, st.uf, st.rd, new, rn, (self.flags, self.counts, self.best, n, self.sb, self.cz, self.wn, self.cw),
                True, nxt.starts, nxt.nm, nxt.dmode, nxt.dfp, xq[st.node], sc[st.node], self.iproto)
            old[st.node] = new
            s[st.node - 1] = st.out[par]
        if self.norms:              # the weight-noise terms: the new states' L2 norms (torch), then the stop
            for k, src, norm in self.norms:
                self.wn_t[k].copy_(norm(s[src - 1]))
            last = self.last
            _stop(rn, self.flags, self.counts, self.best, n, self.sb, self.cz, self.wn, self.cw, last.um, last.uf)
        return s, self.stopper.record(n, self.res[i])


__all__ = ["FusedSweep", "UPDATES"]
