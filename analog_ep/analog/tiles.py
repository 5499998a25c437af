"""Tiled crossbar reads: a layer spread over tiles of at most ``max_rows`` x ``max_cols`` devices.

A crossbar computes currents on its columns from voltages on its rows. For a weight matrix
``W`` (out x in) the forward read drives the rows with the layer input, so the *input* dimension
is split into row blocks of at most ``max_rows``; each block's partial sum passes through its own
ADC and the partial sums add digitally (aihwkit's convention, and DESIGN section 7). The
transposed read drives the columns with the post-synaptic state: the *output* dimension is split
into blocks of at most ``max_cols`` and each block's partial result has its own ADC. Column
blocks of a forward read (and row blocks of a transposed one) only select which ADC digitizes
an output; they change nothing numerically and need no work.

Convolutions map channel-aligned row blocks: input channels are grouped so that
``channels * k * k <= max_rows``; one grouped convolution computes every block's partial sums
in a single call (``groups = number of blocks``), and the transposed read uses a grouped
transposed convolution over blocks of output channels (``channels <= max_cols``).

``dac`` and ``adc`` are callables (identity when the periphery is ideal): ``dac`` acts on the
inputs of a read, ``adc`` on each block's partial sums (shape (B, n_blocks, ...)), so a tile's
ADC clips and quantizes its own partial sum. Everything is vectorized over blocks and batch.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

from ..errors import ConfigError

Fn = Callable[[torch.Tensor], torch.Tensor]


def _identity(t: torch.Tensor) -> torch.Tensor:
    return t


def check_tile_shape(max_rows: int, max_cols: int) -> None:
    if max_rows < 1 or max_cols < 1:
        raise ConfigError(f"tile: max_rows and max_cols must be >= 1 (a tile of at least 1x1), got "
                          f"{max_rows}x{max_cols}")


def n_blocks(size: int, block: int) -> int:
    return math.ceil(size / block)


def linear_read(x: torch.Tensor, w: torch.Tensor, max_rows: int, dac: Fn = _identity,
                adc: Fn = _identity) -> torch.Tensor:
    """``y = W x`` with the input dimension split over row blocks: ``x`` (B, in), ``w`` (out, in)."""
    b, n_in = x.shape
    nb = n_blocks(n_in, max_rows)
    x = dac(x)
    if nb == 1:
        return adc(F.linear(x, w).unsqueeze(1)).squeeze(1)
    pad = nb * max_rows - n_in
    xb = F.pad(x, (0, pad)).view(b, nb, max_rows)
    wb = F.pad(w, (0, pad)).view(w.shape[0], nb, max_rows)
    partial = torch.einsum("bir,oir->bio", xb, wb)
    return adc(partial).sum(1)


def linear_read_t(y: torch.Tensor, w: torch.Tensor, max_cols: int, dac: Fn = _identity,
                  adc: Fn = _identity) -> torch.Tensor:
    """``x' = W^T y`` with the output dimension split over column blocks: ``y`` (B, out)."""
    b, n_out = y.shape
    nb = n_blocks(n_out, max_cols)
    y = dac(y)
    if nb == 1:
        return adc((y @ w).unsqueeze(1)).squeeze(1)
    pad = nb * max_cols - n_out
    yb = F.pad(y, (0, pad)).view(b, nb, max_cols)
    wb = F.pad(w, (0, 0, 0, pad)).view(nb, max_cols, w.shape[1])
    partial = torch.einsum("bic,icn->bin", yb, wb)
    return adc(partial).sum(1)


def conv_channels_per_block(in_channels: int, kernel: int, max_rows: int) -> int:
    """Input channels per row block: the largest count whose ``c * k * k`` rows fit a tile."""
    per = max_rows // (kernel * kernel)
    if per < 1:
        raise ConfigError(f"tile.max_rows: {max_rows} rows cannot hold one input channel of a "
                          f"{kernel}x{kernel} kernel ({kernel * kernel} rows); use max_rows >= {kernel * kernel}")
    return min(per, in_channels)


def conv_read(x: torch.Tensor, w: torch.Tensor, stride: int, padding: int, max_rows: int,
              dac: Fn = _identity, adc: Fn = _identity) -> torch.Tensor:
    """``conv2d(x, w)`` with channel-aligned row blocks; ``w`` (C_out, C_in, k, k)."""
    c_out, c_in, k, _ = w.shape
    cb = conv_channels_per_block(c_in, k, max_rows)
    nb = n_blocks(c_in, cb)
    x = dac(x)
    if nb == 1:
        out = F.conv2d(x, w, stride=stride, padding=padding)
        return adc(out.unsqueeze(1)).squeeze(1)
    pad = nb * cb - c_in
    xg = F.pad(x, (0, 0, 0, 0, 0, pad))
    # grouped weight: block i holds w[:, i*cb:(i+1)*cb] -> (nb * C_out, cb, k, k)
    wg = F.pad(w, (0, 0, 0, 0, 0, pad)).view(c_out, nb, cb, k, k).transpose(0, 1).reshape(nb * c_out, cb, k, k)
    out = F.conv2d(xg, wg, stride=stride, padding=padding, groups=nb)
    out = out.view(out.shape[0], nb, c_out, *out.shape[2:])
    return adc(out).sum(1)


def conv_read_t(y: torch.Tensor, w: torch.Tensor, stride: int, padding: int, output_padding,
                max_cols: int, dac: Fn = _identity, adc: Fn = _identity) -> torch.Tensor:
    """The adjoint ``conv_transpose2d(y, w)`` with blocks of at most ``max_cols`` output
    channels (the crossbar's columns)."""
    c_out, c_in, k, _ = w.shape
    cb = min(max_cols, c_out)
    nb = n_blocks(c_out, cb)
    y = dac(y)
    if nb == 1:
        out = F.conv_transpose2d(y, w, stride=stride, padding=padding, output_padding=output_padding)
        return adc(out.unsqueeze(1)).squeeze(1)
    pad = nb * cb - c_out
    yg = F.pad(y, (0, 0, 0, 0, 0, pad))
    wg = F.pad(w, (0, 0, 0, 0, 0, 0, 0, pad))  # (nb * cb, C_in, k, k): group i = out channels of block i
    out = F.conv_transpose2d(yg, wg, stride=stride, padding=padding, output_padding=output_padding, groups=nb)
    out = out.view(out.shape[0], nb, c_in, *out.shape[2:])
    return adc(out).sum(1)
