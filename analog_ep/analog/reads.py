"""The four crossbar read kinds of a layer on tiles, with the periphery in physical order.

A crossbar drives voltages on one set of lines and reads currents on the other. Every read here,
dense and conv, forward and transposed, is the same chain (DESIGN section 7)::

    x_q = dac(x)                                 # on the driven lines: clip + quantize
    t   = (x_q . w) / w_scale                    # per tile: analog product, in device units
    t   = t * (1 - ir_drop * I)                  # first-order IR drop (per sample, per line)
    t   = t + out_noise_std * xi                 # output noise
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
from .periphery import PeripheryParams

RandnFn = Callable[[tuple], torch.Tensor]
"""``randn(shape)``: standard normals of that shape on the right device and dtype."""

IntPair = Union[int, tuple]


def output_stage_ideal(p: PeripheryParams) -> bool:
    """True when nothing acts between a tile's product and the digital sum (no ADC bits or bound,
    no output noise, no IR drop): the tiled read then equals the float op on the DAC's output."""
    return (p.out_bits is None and p.out_bound is None and p.out_noise_std == 0
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


def _block_sizes(size: int, block: int, nb: int, like: torch.Tensor) -> torch.Tensor:
    """Lines per block (the last block may be short), shape (nb,), on ``like``'s device/dtype."""
    start = torch.arange(nb, device=like.device, dtype=like.dtype) * block
    return (size - start).clamp(max=block)


def _output_stage(t: torch.Tensor, cur: Optional[torch.Tensor], p: PeripheryParams,
                  randn: Optional[RandnFn]) -> torch.Tensor:
    """IR drop (``cur``: relative current, same shape as ``t``) -> output noise -> ADC, in
    place on ``t`` (a fresh tensor of partials)."""
    if cur is not None:
        t = t.mul_(cur.clamp_(0.0, 1.0).mul_(-p.ir_drop).add_(1.0))
    if p.out_noise_std > 0:
        if randn is None:
            raise ValueError("out_noise_std > 0 needs a randn function")
        t = t.add_(randn(tuple(t.shape)), alpha=p.out_noise_std)
    return P.quantize_(t, p.out_bits, p.out_bound)


def _blocks(size: int, block: int) -> list[slice]:
    return [slice(i, min(i + block, size)) for i in range(0, size, block)]


def _tiled(lhs: torch.Tensor, rhs_blocks, lines: list[slice], p: PeripheryParams, w_scale: float,
           g_unit: float, randn: Optional[RandnFn]) -> torch.Tensor:
    """Partials ``lhs[:, lines_i] @ rhs_i`` of every tile (B, nb, n), each through its output
    stage in device units, then the digital sum (back in effective units)."""
    t = torch.stack([lhs[:, sl] @ r for sl, r in zip(lines, rhs_blocks)], 1).div_(w_scale)
    cur = None
    if p.ir_drop > 0:
        n = _block_sizes(lhs.shape[1], lines[0].stop, len(lines), t).view(1, -1, 1)
        cur = torch.stack([lhs[:, sl].abs() @ r.abs() for sl, r in zip(lines, rhs_blocks)], 1)
        cur = cur.div_(n * (p.inp_bound * g_unit * w_scale))
    return _output_stage(t, cur, p, randn).sum(1).mul_(w_scale)


# ---------------------------------------------------------------------------------------- dense
def dense_read(x: torch.Tensor, w: torch.Tensor, p: PeripheryParams, max_rows: int, w_scale: float,
               g_unit: float, randn: Optional[RandnFn] = None) -> torch.Tensor:
    """Forward read ``y = x W^T``: ``x`` (B, in), ``w`` (out, in) -> (B, out). Row blocks of
    ``max_rows`` inputs are the tiles (slices of ``w``, no copies)."""
    _check(p)
    x_q = P.dac(x, p)
    if output_stage_ideal(p):
        return F.linear(x_q, w)
    lines = _blocks(x_q.shape[1], max_rows)
    return _tiled(x_q, [w[:, sl].t() for sl in lines], lines, p, w_scale, g_unit, randn)


def dense_read_t(y: torch.Tensor, w: torch.Tensor, p: PeripheryParams, max_cols: int, w_scale: float,
                 g_unit: float, randn: Optional[RandnFn] = None) -> torch.Tensor:
    """Transposed read ``x' = y W``: ``y`` (B, out), ``w`` (out, in) -> (B, in). Column blocks of
    ``max_cols`` outputs are the tiles."""
    _check(p)
    y_q = P.dac(y, p)
    if output_stage_ideal(p):
        return y_q @ w
    lines = _blocks(y_q.shape[1], max_cols)
    return _tiled(y_q, [w[sl] for sl in lines], lines, p, w_scale, g_unit, randn)


# ----------------------------------------------------------------------------------------- conv
def conv_read(x: torch.Tensor, w: torch.Tensor, stride: IntPair, padding: IntPair, p: PeripheryParams,
              max_rows: int, w_scale: float, g_unit: float, randn: Optional[RandnFn] = None) -> torch.Tensor:
    """Forward read ``conv2d(x, w)``: ``x`` (B, C_in, H, W), ``w`` (C_out, C_in, kh, kw)."""
    _check(p)
    c_out, c_in, kh, kw = w.shape
    cb = conv_channels_per_block(c_in, (kh, kw), max_rows)
    x_q = P.dac(x, p)
    if output_stage_ideal(p):
        return F.conv2d(x_q, w, stride=stride, padding=padding)
    nb = _n_blocks(c_in, cb)
    pad = nb * cb - c_in
    w_dev = w / w_scale
    xg = F.pad(x_q, (0, 0, 0, 0, 0, pad)) if pad else x_q
    # grouped weight: group i holds w[:, i*cb:(i+1)*cb] -> (nb * C_out, cb, kh, kw)
    wg = (F.pad(w_dev, (0, 0, 0, 0, 0, pad)).reshape(c_out, nb, cb, kh, kw).transpose(0, 1)
          .reshape(nb * c_out, cb, kh, kw))
    t = F.conv2d(xg, wg, stride=stride, padding=padding, groups=nb)
    t = t.reshape(t.shape[0], nb, c_out, *t.shape[2:])                    # (B, nb, C_out, Ho, Wo)
    cur = None
    if p.ir_drop > 0:
        n = (_block_sizes(c_in, cb, nb, t) * (kh * kw)).view(1, nb, 1, 1, 1)
        c = F.conv2d(xg.abs(), wg.abs(), stride=stride, padding=padding, groups=nb)
        cur = c.reshape(t.shape) / (n * (p.inp_bound * g_unit))
    return w_scale * _output_stage(t, cur, p, randn).sum(1)


def conv_read_t(y: torch.Tensor, w: torch.Tensor, stride: IntPair, padding: IntPair,
                output_padding: IntPair, p: PeripheryParams, max_cols: int, w_scale: float,
                g_unit: float, randn: Optional[RandnFn] = None) -> torch.Tensor:
    """Transposed read, the adjoint ``conv_transpose2d(y, w, stride, padding, output_padding)``:
    ``y`` (B, C_out, Ho, Wo), ``w`` (C_out, C_in, kh, kw) -> (B, C_in, H, W), the pre node's shape.

    Each output pixel of the forward conv is one read (driving the columns with ``y[:, :, pixel]``,
    reading a ``C_in * kh * kw`` patch); each (column block, pixel) partial passes IR drop, output
    noise and its ADC, the column blocks add, and then the fold adds the overlapping patches.
    """
    _check(p)
    y_q = P.dac(y, p)
    if output_stage_ideal(p):
        return F.conv_transpose2d(y_q, w, stride=stride, padding=padding, output_padding=output_padding)
    c_out, c_in, kh, kw = w.shape
    b, _, ho, wo = y_q.shape
    (sh, sw), (ph, pw), (oph, opw) = _pair(stride), _pair(padding), _pair(output_padding)
    h = (ho - 1) * sh - 2 * ph + kh + oph
    wd = (wo - 1) * sw - 2 * pw + kw + opw
    cols = min(max_cols, c_out)
    nb = _n_blocks(c_out, cols)
    pad = nb * cols - c_out
    r = c_in * kh * kw
    w_dev = w / w_scale
    yb = F.pad(y_q.reshape(b, c_out, ho * wo), (0, 0, 0, pad)).reshape(b, nb, cols, ho * wo)
    wb = F.pad(w_dev.reshape(c_out, r), (0, 0, 0, pad)).reshape(nb, cols, r).transpose(1, 2)  # (nb, R, C)
    t = torch.matmul(wb, yb)                                             # (B, nb, R, L)
    cur = None
    if p.ir_drop > 0:
        n = _block_sizes(c_out, cols, nb, t).view(1, nb, 1, 1)
        cur = torch.matmul(wb.abs(), yb.abs()) / (n * (p.inp_bound * g_unit))
    cols_sum = w_scale * _output_stage(t, cur, p, randn).sum(1)           # (B, R, L)
    return F.fold(cols_sum, (h, wd), (kh, kw), padding=(ph, pw), stride=(sh, sw))


__all__ = ["RandnFn", "output_stage_ideal", "check_tile_shape", "conv_channels_per_block",
           "dense_read", "dense_read_t", "conv_read", "conv_read_t"]
