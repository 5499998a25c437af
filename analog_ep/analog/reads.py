"""The four crossbar read kinds of a layer on tiles, with the periphery in physical order.

A crossbar drives voltages on one set of lines and reads currents on the other. Every read here,
dense and conv, forward and transposed, is the same chain (DESIGN section 7)::

    x_q = dac(x)                                 # on the driven lines: clip + quantize
    t   = (x_q . w) / w_scale                    # per tile: analog product, in device units
    t   = t * (1 - ir_drop * I)                  # first-order IR drop (per sample, per line)
    t   = t + read_noise_std * xi                # output noise (periphery.PeripheryParams.read_noise_std)
    t_q = adc(t)                                 # that tile's ADC, for that read
    out = w_scale * sum_tiles t_q                # digital sum of the tiles' partials

``w`` is the effective weight ``w_scale * w_dev`` as this read sees it (the caller has already
added the weight read noise); converter bounds, output noise and currents are in device units
(``w_dev * x``), so one card means the same on every layer.

**IR drop** (first order): the current of an output line of a tile, relative to its maximum,

    I = sum_{driven lines r of this tile} |x_q,r| |w_dev,r| / (rows_tile * inp_bound * g_unit)

clamped to [0, 1], where ``rows_tile`` is the number of driven lines the tile uses, ``inp_bound``
the DAC full scale and ``g_unit`` the device weight at full conductance
(:func:`.rules.weight_scale`). It is per sample and per output line: no batch-wide maximum.
For a transposed read the driven lines are the tile's columns and the currents flow on its rows.

**Tiling**: tiles hold at most ``max_rows`` x ``max_cols`` devices.

* dense forward ``y = x W^T`` (W: (out, in)): the input dimension splits into row blocks of
  ``max_rows``; each block's partial has its own ADC. Column blocks change nothing numerically.
* dense transposed ``x' = y W``: the output dimension (the crossbar's columns) splits into blocks
  of ``max_cols``; each block's partial has its own ADC.
* conv forward (W: (C_out, C_in, k, k)): channel-aligned row blocks of
  :func:`conv_channels_per_block` input channels (``cb * k * k`` rows); every output pixel is one
  read, each (block, pixel) partial passes its ADC, then the blocks add. One grouped conv computes
  every block.
* conv transposed (the adjoint of the forward conv): every output pixel ``p`` of the forward conv
  is one transposed read, driving the columns with ``y[:, :, p]`` (blocks of ``max_cols`` output
  channels) and reading one patch (``C_in * k * k`` rows). Each (block, pixel) partial passes its
  ADC, the blocks add, and only then the fold (``F.fold``) adds the overlapping patches.

**Tiling choice** (``p.tiling``, :func:`split_sizes`): ``fill`` (above: blocks of the maximum,
the last short) or ``equal`` (aihwkit's ``get_split_sizes``: ceil(n / max) tiles of nearly equal
size; conv: channels). Either applies to all four read kinds.

**General path** (:func:`_managed`), taken only with per-tile noise management (``abs_max`` with
``nm_scope: tile``, all read kinds) or bound management (``bound_management`` iterative / shift
with an ``out_bound``; forward reads only, aihwkit ignores it backward): every (sample, tile,
conv patch) is one read with its own abs-max scale (over its own input slice; the output is
multiplied back per tile before the digital sum) and its own bound management, as aihwkit's
per-tile ``forwardVector`` on unfolded patches. The forward conv then unfolds its input
(padding lines stay undriven). Otherwise the paths below run, as before.

**Noise management** (``noise_management: abs_max``): with ``nm_scope: layer`` every read
divides each sample's input by its abs-max scale over the whole layer input (:func:`_nm_layer`)
before the DAC and multiplies the read's output back (after the digital sum); with ``nm_scope:
tile`` the general path below scales each tile on its own. The read does it (not the storage), so
a fused kernel runs it in its DAC pass.

**Read counts** (``counter``, :class:`ReadCounter`): every call adds its tile reads (samples x
tiles x conv patches) to ``reads`` and the bound-management re-reads to ``bm_rereads``, in
place on the device, and tells the storage's event counter
(:class:`~analog_ep.synapses.counters.EventCounter`) the vector reads it performed (one per
sample; per sample and output pixel for convs, forward and transposed: the transposed conv
drives every output pixel of the forward conv once) and its re-reads. Reads the caller skips
(a constant drive computed once) are not counted.

**Kernels** (``compute.kernels``, :mod:`.kernels`): each read first asks
:func:`.kernels.select` whether a fused numba kernel runs it (CPU tensors); otherwise the torch
code below runs, the reference and the CUDA path.

**Fast paths**: when the output stage is ideal (:func:`output_stage_ideal`: no ADC bits or bound,
no output noise, no IR drop) the partials need no per-tile treatment and each read is one float
op (``F.linear``, ``y @ w``, ``F.conv2d``, ``F.conv_transpose2d``) on the DAC's output.

**Output noise**: ``randn(shape)`` is called once per read (only when ``out_noise_std > 0``) for
the partials tensor, whose shape is ``(B, n_blocks, out)`` (dense forward), ``(B, n_blocks, in)``
(dense transposed), ``(B, n_blocks, C_out, H_out, W_out)`` (conv forward) and
``(B, n_blocks, C_in * k * k, H_out * W_out)`` (conv transposed, before the fold). The caller
decides when draws repeat (noise policy). Everything stays on the inputs' device and dtype.
"""

from __future__ import annotations

import math
from typing import Callable, Optional, Union

import torch
import torch.nn.functional as F

from ..errors import ConfigError
from . import periphery as P
from .kernels import select as _kernel
from .periphery import PeripheryParams

RandnFn = Callable[[tuple], torch.Tensor]
"""``randn(shape)``: standard normals of that shape on the right device and dtype."""

IntPair = Union[int, tuple]


def output_stage_ideal(p: PeripheryParams) -> bool:
    """True when nothing acts between a tile's product and the digital sum (no ADC bits or bound,
    no output noise, no IR drop): the tiled read then equals the float op on the DAC's output."""
    return (p.out_bits is None and p.out_bound is None and p.read_noise_std == 0
            and p.ir_drop == 0)


def check_tile_shape(max_rows: int, max_cols: int) -> None:
    """ConfigError unless a tile has at least one row and one column."""
    if max_rows < 1 or max_cols < 1:
        raise ConfigError(f"analog.max_rows / analog.max_cols: a tile needs at least 1x1 devices, got "
                          f"{max_rows}x{max_cols}")


def conv_channels_per_block(in_channels: int, kernel: IntPair, max_rows: int) -> int:
    """Input channels per row block of a conv: the most channels whose ``c * k * k`` rows fit
    (``kernel``: k, or (kh, kw)); ConfigError naming ``analog.max_rows`` if not even one fits."""
    kh, kw = _pair(kernel)
    per = max_rows // (kh * kw)
    if per < 1:
        raise ConfigError(f"analog.max_rows: {max_rows} rows cannot hold one input channel of a "
                          f"{kh}x{kw} kernel ({kh * kw} rows); use analog.max_rows >= {kh * kw}")
    return min(per, in_channels)


def _n_blocks(size: int, block: int) -> int:
    return math.ceil(size / block)


def _pair(v: IntPair) -> tuple:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _check(p: PeripheryParams) -> None:
    if p.ir_drop > 0 and p.inp_bound is None:
        raise ConfigError(f"analog.ir_drop: {p.ir_drop} needs analog.inp_bound (the DAC full scale, "
                          "which the relative line current is measured against)")


def _nm_layer(x: torch.Tensor, p: PeripheryParams):
    """Layer-scope abs-max noise management (``noise_management: abs_max``, ``nm_scope: layer``,
    aihwkit's NoiseManagementType.ABS_MAX): ``(x / s, s)`` with ``s = max(max |x|, 1e-30) /
    inp_bound`` per sample over the layer's whole input (bound 1 without ``inp_bound``), shaped
    to broadcast over ``x``; ``(x, None)`` otherwise. :func:`_nm_back` multiplies the read's
    output back."""
    if p.noise_management != "abs_max" or p.nm_scope != "layer":
        return x, None
    bound = p.inp_bound if p.inp_bound is not None else 1.0
    s = x.abs().reshape(x.shape[0], -1).amax(1).clamp_min_(1e-30)
    if bound != 1.0:   # x / 1 is exact: skipping it changes no bit
        s = s.div_(bound)
    s = s.view(-1, *([1] * (x.dim() - 1)))
    return x / s, s


def _nm_back(y: torch.Tensor, s: Optional[torch.Tensor]) -> torch.Tensor:
    """The read's output ``y`` (a fresh tensor) times the samples' noise-management scales."""
    if s is None:
        return y
    s = s.view(-1, *([1] * (y.dim() - 1)))
    return y * s if y.requires_grad else y.mul_(s)


def _output_stage(t: torch.Tensor, cur: Optional[torch.Tensor], p: PeripheryParams,
                  randn: Optional[RandnFn]) -> torch.Tensor:
    """IR drop (``cur``: relative current, same shape as ``t``) -> output noise -> ADC, in
    place on ``t`` (a fresh tensor of partials)."""
    if cur is not None:
        t = t.mul_(cur.clamp_(0.0, 1.0).mul_(-p.ir_drop).add_(1.0))
    if p.read_noise_std > 0:
        if randn is None:
            raise ValueError("read_noise_std > 0 needs a randn function")
        t = t.add_(randn(tuple(t.shape)), alpha=p.read_noise_std)
    return P.quantize_(t, p.out_bits, p.out_bound)


def split_sizes(size: int, max_size: int, tiling: str = "fill") -> list[int]:
    """Lines per tile of ``size`` driven lines on tiles of at most ``max_size``: ``fill`` (blocks
    of ``max_size``, the last one short) or ``equal`` (aihwkit's ``get_split_sizes``:
    ``ceil(size / max_size)`` tiles, the first ``size mod tiles`` one line longer)."""
    if tiling == "equal":
        n = _n_blocks(size, max_size)
        base, extra = divmod(size, n)
        return [base + (i < extra) for i in range(n)]
    return [min(max_size, size - i) for i in range(0, size, max_size)]


def _slices(sizes: list[int]) -> list[slice]:
    out, a = [], 0
    for n in sizes:
        out.append(slice(a, a + n))
        a += n
    return out


def _stack_blocks(t: torch.Tensor, dim: int, sizes: list[int], scale: int = 1) -> torch.Tensor:
    """The blocks of ``t`` along ``dim`` (``sizes[i] * scale`` entries each), zero-padded to the
    largest and stacked on a new axis at ``dim``: ``(..., n, ...) -> (..., nb, rmax, ...)``."""
    rmax = max(sizes) * scale
    parts, a = [], 0
    for n in sizes:
        part = t.narrow(dim, a, n * scale)
        a += n * scale
        if n * scale < rmax:
            shape = list(part.shape)
            shape[dim] = rmax - n * scale
            part = torch.cat([part, part.new_zeros(shape)], dim)
        parts.append(part)
    return torch.stack(parts, dim)


def _block_counts(sizes: list[int], like: torch.Tensor) -> torch.Tensor:
    """Lines per block as a float tensor (nb,) on ``like``'s device (a host-to-device copy, no sync)."""
    return torch.tensor(sizes, device=like.device, dtype=like.dtype)


class ReadCounter:
    """Where a storage counts its reads (int64 tensors on the storage's device, added to in place:
    no host sync). ``reads``: tile reads performed, one per (sample, tile, conv patch) per read
    call, bound-management re-reads excluded; ``bm_rereads``: the extra tile reads of iterative
    bound management (one per re-read pass of each (sample, tile, patch) that saturated).
    ``events`` (optional): the storage's event counter, told each call's vector reads (host
    ints) and re-reads; with it the tile reads are kept on the host (``pending``) until
    :meth:`flush` adds them to ``reads`` (the storage flushes before anyone reads ``reads``), so a
    read costs no device work for counting."""

    def __init__(self, reads: torch.Tensor, bm_rereads: torch.Tensor, events=None):
        self.reads, self.bm_rereads, self.events = reads, bm_rereads, events
        self.pending = 0

    def vector_reads(self, kind: str, vectors: int, n_blocks: int) -> None:
        """``vectors`` input vectors of read ``kind`` each applied to ``n_blocks`` tile blocks."""
        if self.events is None:
            self.reads.add_(vectors * n_blocks)
            return
        self.pending += vectors * n_blocks
        self.events.read(kind, vectors)

    def flush(self) -> None:
        """Add the tile reads kept on the host to ``reads``."""
        if self.pending:
            self.reads.add_(self.pending)
            self.pending = 0

    def rereads(self, kind: str, n: torch.Tensor) -> None:
        self.bm_rereads.add_(n)
        if self.events is not None:
            self.events.rereads(kind, n)


def _count(counter: Optional[ReadCounter], kind: str, vectors: int, n_blocks: int) -> None:
    if counter is not None:
        counter.vector_reads(kind, vectors, n_blocks)


def _nm_tile(p: PeripheryParams) -> bool:
    return p.noise_management == "abs_max" and p.nm_scope == "tile"


def _managed_path(p: PeripheryParams, forward: bool) -> bool:
    """True when a read needs the general per-(sample, tile, patch) path: per-tile noise
    management, or (forward reads only) bound management with an ADC bound to manage."""
    bm = forward and p.bound_management != "none" and p.out_bound is not None
    return bm or _nm_tile(p)


def _saturation(t: torch.Tensor, p: PeripheryParams) -> torch.Tensor:
    """Per (sample, tile, patch) of partials ``t`` (B, nb, n, L) before the ADC: does an output
    saturate it? aihwkit's test (``finalizeOutput``): the discretized, unclipped value ``>
    out_bound``, or ``< -out_bound`` with ``bm_test_negative_bound``. Shape (B, nb, 1, L)."""
    B = p.out_bound
    v = t
    if p.out_bits is not None and p.out_bits >= 2:
        step = P.converter_step(p.out_bits, B)
        v = torch.round(t / step) * step
    sat = (v > B).any(2, keepdim=True)
    if p.bm_test_negative_bound:
        sat = sat | (v < -B).any(2, keepdim=True)
    return sat


CPU_EARLY_STOP = True
"""Iterative bound management on CPU tensors stops once no read saturates (a host read there syncs
no device); False runs every pass as on CUDA (tests check both give the same values and counts)."""


def _managed(lhs: torch.Tensor, wb: torch.Tensor, sizes: list[int], p: PeripheryParams, w_scale: float,
             g_unit: float, randn: Optional[RandnFn], forward: bool, counter: Optional[ReadCounter],
             mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """The general read, one crossbar read per (sample, tile, patch) with its own noise
    management scale (``nm_scope: tile``) and bound management (forward reads).

    ``lhs`` (B, nb, r, L): each tile's driven lines before the DAC (rows zero-padded to the
    largest tile), ``wb`` (nb, n, r): each tile's effective weights (zero-padded alike),
    ``mask`` (1 or B, nb, r, L) bool: lines that exist (conv zero padding stays undriven).
    Returns the digital sum over tiles (B, n, L) in effective units.

    Iterative bound management runs :func:`.periphery.bm_passes` passes at most: pass k drives
    ``dac(x / 2^k)``, draws its own output noise (``randn(shape, k)``), passes the ADC and is
    multiplied back by ``2^k``; a (sample, tile, patch) keeps the first pass in which it does
    not saturate (or the last). On CUDA every pass runs (fixed count, masked with ``where``: no
    host sync); on CPU, where a host read syncs nothing, the loop stops once no read saturates,
    which gives the same values (each pass has its own noise stream) and counts."""
    B, nb, r, L = lhs.shape
    s = None
    if _nm_tile(p):
        bound = p.inp_bound if p.inp_bound is not None else 1.0
        s = lhs.abs().amax(2, keepdim=True).clamp_min(1e-30) / bound   # (B, nb, 1, L)
        lhs = lhs / s
    wd = wb / w_scale
    n_lines = _block_counts(sizes, lhs).view(1, nb, 1, 1)
    bm = p.bound_management if (forward and p.out_bound is not None) else "none"
    passes = P.bm_passes(p) if bm == "iterative" else 1
    kind = "forward" if forward else "transposed"
    _count(counter, kind, B * L, nb)
    out = done = None
    for k in range(passes):
        if k and CPU_EARLY_STOP and lhs.device.type == "cpu" and bool(done.all()):
            break  # CPU only: nothing is left to re-read (the skipped passes would change nothing)
        f = float(2 ** k)
        xq = P.dac(lhs / f if k else lhs, p)
        if mask is not None:
            xq = torch.where(mask, xq, torch.zeros((), dtype=xq.dtype, device=xq.device))
        t = torch.matmul(wd, xq)                                             # (B, nb, n, L)
        if p.ir_drop > 0:
            cur = torch.matmul(wd.abs(), xq.abs()).div_(n_lines * (p.inp_bound * g_unit))
            t = t.mul_(cur.clamp_(0.0, 1.0).mul_(-p.ir_drop).add_(1.0))
        if p.read_noise_std > 0:
            if randn is None:
                raise ValueError("read_noise_std > 0 needs a randn function")
            t = t.add_(randn(tuple(t.shape)) if k == 0 else randn(tuple(t.shape), k), alpha=p.read_noise_std)
        if bm == "none":
            out = P.quantize_(t, p.out_bits, p.out_bound)
            break
        if bm == "shift":
            top = t.amax(2, keepdim=True)
            t = torch.where(top > p.out_bound, t - (top - p.out_bound), t)
            out = P.quantize_(t, p.out_bits, p.out_bound)
            break
        sat = _saturation(t, p)
        q = P.quantize_(t, p.out_bits, p.out_bound)
        if k == 0:
            out, done = q, ~sat
        else:
            if counter is not None:
                counter.rereads(kind, (~done).sum())
            out = torch.where(done, out, q.mul_(f))
            done = done | ~sat
    if s is not None:
        out = out * s
    return out.sum(1).mul_(w_scale)


def _tiled(lhs: torch.Tensor, rhs_blocks, lines: list[slice], p: PeripheryParams, w_scale: float,
           g_unit: float, randn: Optional[RandnFn]) -> torch.Tensor:
    """Partials ``lhs[:, lines_i] @ rhs_i`` of every tile (B, nb, n), each through its output
    stage in device units, then the digital sum (back in effective units)."""
    if len(lines) == 1 and p.ir_drop == 0:   # one tile: no stack, no sum (values unchanged)
        t = (lhs[:, lines[0]] @ rhs_blocks[0]).div_(w_scale)
        return _output_stage(t.unsqueeze(1), None, p, randn).squeeze(1).mul_(w_scale)
    t = torch.stack([lhs[:, sl] @ r for sl, r in zip(lines, rhs_blocks)], 1).div_(w_scale)
    cur = None
    if p.ir_drop > 0:
        n = _block_counts([sl.stop - sl.start for sl in lines], t).view(1, -1, 1)
        cur = torch.stack([lhs[:, sl].abs() @ r.abs() for sl, r in zip(lines, rhs_blocks)], 1)
        cur = cur.div_(n * (p.inp_bound * g_unit * w_scale))
    return _output_stage(t, cur, p, randn).sum(1).mul_(w_scale)


# ---------------------------------------------------------------------------------------- dense
def dense_read(x: torch.Tensor, w: torch.Tensor, p: PeripheryParams, max_rows: int, w_scale: float,
               g_unit: float, randn: Optional[RandnFn] = None,
               counter: Optional[ReadCounter] = None) -> torch.Tensor:
    """Forward read ``y = x W^T``: ``x`` (B, in), ``w`` (out, in) -> (B, out). Row blocks of the
    inputs (:func:`split_sizes` with ``p.tiling``) are the tiles (slices of ``w``, no copies)."""
    k = _kernel("dense_forward", p, x, randn)       # compute.kernels: a fused kernel, or None
    if k is not None:
        return k(x, w, p, max_rows, w_scale, g_unit, randn, counter)
    x, s = _nm_layer(x, p)
    return _nm_back(_dense_read(x, w, p, max_rows, w_scale, g_unit, randn, counter), s)


def _dense_read(x: torch.Tensor, w: torch.Tensor, p: PeripheryParams, max_rows: int, w_scale: float,
                g_unit: float, randn: Optional[RandnFn] = None,
                counter: Optional[ReadCounter] = None) -> torch.Tensor:
    _check(p)
    sizes = split_sizes(x.shape[1], max_rows, p.tiling)
    if _managed_path(p, True):
        lhs = _stack_blocks(x, 1, sizes).unsqueeze(-1)                       # (B, nb, r, 1)
        wb = _stack_blocks(w, 1, sizes).transpose(0, 1)                        # (nb, out, r)
        return _managed(lhs, wb, sizes, p, w_scale, g_unit, randn, True, counter).squeeze(-1)
    _count(counter, "forward", x.shape[0], len(sizes))
    x_q = P.dac(x, p)
    if output_stage_ideal(p):
        return F.linear(x_q, w)
    lines = _slices(sizes)
    return _tiled(x_q, [w[:, sl].t() for sl in lines], lines, p, w_scale, g_unit, randn)


def dense_read_t(y: torch.Tensor, w: torch.Tensor, p: PeripheryParams, max_cols: int, w_scale: float,
                 g_unit: float, randn: Optional[RandnFn] = None,
                 counter: Optional[ReadCounter] = None) -> torch.Tensor:
    """Transposed read ``x' = y W``: ``y`` (B, out), ``w`` (out, in) -> (B, in). Column blocks of
    the outputs (:func:`split_sizes` with ``p.tiling``) are the tiles. No bound management
    (aihwkit ignores it on the backward read)."""
    k = _kernel("dense_transposed", p, y, randn)    # compute.kernels: a fused kernel, or None
    if k is not None:
        return k(y, w, p, max_cols, w_scale, g_unit, randn, counter)
    y, s = _nm_layer(y, p)
    return _nm_back(_dense_read_t(y, w, p, max_cols, w_scale, g_unit, randn, counter), s)


def _dense_read_t(y: torch.Tensor, w: torch.Tensor, p: PeripheryParams, max_cols: int, w_scale: float,
                  g_unit: float, randn: Optional[RandnFn] = None,
                  counter: Optional[ReadCounter] = None) -> torch.Tensor:
    _check(p)
    sizes = split_sizes(y.shape[1], max_cols, p.tiling)
    if _managed_path(p, False):
        lhs = _stack_blocks(y, 1, sizes).unsqueeze(-1)                       # (B, nb, r, 1)
        wb = _stack_blocks(w.t(), 1, sizes).transpose(0, 1)                    # (nb, in, r)
        return _managed(lhs, wb, sizes, p, w_scale, g_unit, randn, False, counter).squeeze(-1)
    _count(counter, "transposed", y.shape[0], len(sizes))
    y_q = P.dac(y, p)
    if output_stage_ideal(p):
        return y_q @ w
    lines = _slices(sizes)
    return _tiled(y_q, [w[sl] for sl in lines], lines, p, w_scale, g_unit, randn)


# ----------------------------------------------------------------------------------------- conv
def conv_block_sizes(in_channels: int, kernel: IntPair, max_rows: int, tiling: str = "fill") -> list[int]:
    """Input channels per tile of a conv (channel-aligned row blocks of ``c * kh * kw`` rows):
    :func:`split_sizes` of the channels with :func:`conv_channels_per_block` as the maximum."""
    return split_sizes(in_channels, conv_channels_per_block(in_channels, kernel, max_rows), tiling)


def conv_read(x: torch.Tensor, w: torch.Tensor, stride: IntPair, padding: IntPair, p: PeripheryParams,
              max_rows: int, w_scale: float, g_unit: float, randn: Optional[RandnFn] = None,
              counter: Optional[ReadCounter] = None) -> torch.Tensor:
    """Forward read ``conv2d(x, w)``: ``x`` (B, C_in, H, W), ``w`` (C_out, C_in, kh, kw).

    Every output pixel (patch) of every sample is one read of each channel block's tile. The
    general path (per-tile noise management, bound management) unfolds the patches and runs
    each (sample, tile, patch) read on its own; the plain path is one grouped conv."""
    k = _kernel("conv_forward", p, x, randn)        # compute.kernels: a fused kernel, or None
    if k is not None:
        return k(x, w, stride, padding, p, max_rows, w_scale, g_unit, randn, counter)
    x, s = _nm_layer(x, p)
    return _nm_back(_conv_read(x, w, stride, padding, p, max_rows, w_scale, g_unit, randn, counter), s)


def _conv_read(x: torch.Tensor, w: torch.Tensor, stride: IntPair, padding: IntPair, p: PeripheryParams,
               max_rows: int, w_scale: float, g_unit: float, randn: Optional[RandnFn] = None,
               counter: Optional[ReadCounter] = None) -> torch.Tensor:
    _check(p)
    c_out, c_in, kh, kw = w.shape
    sizes = conv_block_sizes(c_in, (kh, kw), max_rows, p.tiling)
    nb = len(sizes)
    (sh, sw), (ph, pw) = _pair(stride), _pair(padding)
    ho = (x.shape[2] + 2 * ph - kh) // sh + 1
    wo = (x.shape[3] + 2 * pw - kw) // sw + 1
    if _managed_path(p, True):
        kk = kh * kw
        unf = lambda t: F.unfold(t, (kh, kw), padding=(ph, pw), stride=(sh, sw))       # noqa: E731
        lhs = _stack_blocks(unf(x), 1, sizes, kk)                            # (B, nb, r, L)
        mask = None
        if ph or pw:
            ones = torch.ones((1,) + tuple(x.shape[1:]), dtype=x.dtype, device=x.device)
            mask = _stack_blocks(unf(ones), 1, sizes, kk) > 0
        wb = _stack_blocks(w.reshape(c_out, c_in * kk), 1, sizes, kk).transpose(0, 1)  # (nb, C_out, r)
        out = _managed(lhs, wb, [n * kk for n in sizes], p, w_scale, g_unit, randn, True, counter, mask)
        return out.reshape(x.shape[0], c_out, ho, wo)
    _count(counter, "forward", x.shape[0] * ho * wo, nb)
    x_q = P.dac(x, p)
    if output_stage_ideal(p):
        return F.conv2d(x_q, w, stride=stride, padding=padding)
    cb = max(sizes)
    w_dev = w / w_scale
    xg = _stack_blocks(x_q, 1, sizes).flatten(1, 2) if nb > 1 or cb != c_in else x_q
    # grouped weight: group i holds channel block i (zero-padded to cb) -> (nb * C_out, cb, kh, kw)
    wg = _stack_blocks(w_dev, 1, sizes).transpose(0, 1).reshape(nb * c_out, cb, kh, kw)
    t = F.conv2d(xg, wg, stride=stride, padding=padding, groups=nb)
    t = t.reshape(t.shape[0], nb, c_out, *t.shape[2:])                    # (B, nb, C_out, Ho, Wo)
    cur = None
    if p.ir_drop > 0:
        n = (_block_counts(sizes, t) * (kh * kw)).view(1, nb, 1, 1, 1)
        c = F.conv2d(xg.abs(), wg.abs(), stride=stride, padding=padding, groups=nb)
        cur = c.reshape(t.shape) / (n * (p.inp_bound * g_unit))
    return w_scale * _output_stage(t, cur, p, randn).sum(1)


def conv_read_t(y: torch.Tensor, w: torch.Tensor, stride: IntPair, padding: IntPair,
                output_padding: IntPair, p: PeripheryParams, max_cols: int, w_scale: float,
                g_unit: float, randn: Optional[RandnFn] = None,
                counter: Optional[ReadCounter] = None) -> torch.Tensor:
    """Transposed read, the adjoint ``conv_transpose2d(y, w, stride, padding, output_padding)``:
    ``y`` (B, C_out, Ho, Wo), ``w`` (C_out, C_in, kh, kw) -> (B, C_in, H, W), the pre node's shape.

    Each output pixel of the forward conv is one read (driving the columns with ``y[:, :, pixel]``,
    reading a ``C_in * kh * kw`` patch); each (column block, pixel) partial passes IR drop, output
    noise and its ADC (per-tile noise management: its own scale), the column blocks add, and then
    the fold adds the overlapping patches. No bound management (aihwkit ignores it backward).
    """
    k = _kernel("conv_transposed", p, y, randn)     # compute.kernels: a fused kernel, or None
    if k is not None:
        return k(y, w, stride, padding, output_padding, p, max_cols, w_scale, g_unit, randn, counter)
    y, s = _nm_layer(y, p)
    return _nm_back(_conv_read_t(y, w, stride, padding, output_padding, p, max_cols, w_scale, g_unit, randn, counter), s)


def _conv_read_t(y: torch.Tensor, w: torch.Tensor, stride: IntPair, padding: IntPair,
                 output_padding: IntPair, p: PeripheryParams, max_cols: int, w_scale: float,
                 g_unit: float, randn: Optional[RandnFn] = None,
                 counter: Optional[ReadCounter] = None) -> torch.Tensor:
    _check(p)
    c_out, c_in, kh, kw = w.shape
    b, _, ho, wo = y.shape
    sizes = split_sizes(c_out, max_cols, p.tiling)
    nb = len(sizes)
    (sh, sw), (ph, pw), (oph, opw) = _pair(stride), _pair(padding), _pair(output_padding)
    h = (ho - 1) * sh - 2 * ph + kh + oph
    wd = (wo - 1) * sw - 2 * pw + kw + opw
    r = c_in * kh * kw
    fold = lambda cols: F.fold(cols, (h, wd), (kh, kw), padding=(ph, pw), stride=(sh, sw))  # noqa: E731
    if _managed_path(p, False):
        lhs = _stack_blocks(y.reshape(b, c_out, ho * wo), 1, sizes)          # (B, nb, cols, L)
        wb = _stack_blocks(w.reshape(c_out, r).t(), 1, sizes).transpose(0, 1)  # (nb, R, cols)
        return fold(_managed(lhs, wb, sizes, p, w_scale, g_unit, randn, False, counter))
    _count(counter, "transposed", b * ho * wo, nb)
    y_q = P.dac(y, p)
    if output_stage_ideal(p):
        return F.conv_transpose2d(y_q, w, stride=stride, padding=padding, output_padding=output_padding)
    w_dev = w / w_scale
    yb = _stack_blocks(y_q.reshape(b, c_out, ho * wo), 1, sizes)             # (B, nb, cols, L)
    wb = _stack_blocks(w_dev.reshape(c_out, r), 0, sizes).transpose(1, 2)    # (nb, R, cols)
    t = torch.matmul(wb, yb)                                             # (B, nb, R, L)
    cur = None
    if p.ir_drop > 0:
        n = _block_counts(sizes, t).view(1, nb, 1, 1)
        cur = torch.matmul(wb.abs(), yb.abs()) / (n * (p.inp_bound * g_unit))
    return fold(w_scale * _output_stage(t, cur, p, randn).sum(1))        # (B, R, L) -> fold


__all__ = ["RandnFn", "ReadCounter", "output_stage_ideal", "check_tile_shape", "conv_block_sizes",
           "conv_channels_per_block", "split_sizes", "dense_read", "dense_read_t", "conv_read", "conv_read_t"]
