"""Tiled reads: equal to the untiled layer with ideal periphery; with ADCs they differ exactly by
the per-tile quantization of each block's partial sum."""

import pytest
import torch
import torch.nn.functional as F

from analog_ep.analog.tiles import (conv_channels_per_block, conv_read, conv_read_t, linear_read,
                                    linear_read_t)
from analog_ep.errors import ConfigError

G = torch.Generator().manual_seed(0)


def _quant(t, step=0.05, bound=1.0):
    return (t.clamp(-bound, bound) / step).round() * step


@pytest.mark.parametrize("rows", [1, 3, 7, 16, 100])
def test_linear_split_equals_unsplit(rows):
    x = torch.randn(4, 16, generator=G, dtype=torch.float64)
    w = torch.randn(5, 16, generator=G, dtype=torch.float64)
    torch.testing.assert_close(linear_read(x, w, rows), x @ w.t())
    y = torch.randn(4, 5, generator=G, dtype=torch.float64)
    torch.testing.assert_close(linear_read_t(y, w, rows), y @ w)


def test_linear_adc_is_per_tile():
    x = torch.randn(3, 10, generator=G, dtype=torch.float64)
    w = 0.3 * torch.randn(4, 10, generator=G, dtype=torch.float64)
    got = linear_read(x, w, 4, adc=_quant)
    expect = sum(_quant(x[:, i:i + 4] @ w[:, i:i + 4].t()) for i in (0, 4, 8))
    torch.testing.assert_close(got, expect)
    assert not torch.allclose(got, _quant(x @ w.t()))  # not the same as one ADC on the full sum
    y = torch.randn(3, 4, generator=G, dtype=torch.float64)
    got_t = linear_read_t(y, w, 3, adc=_quant)
    expect_t = _quant(y[:, :3] @ w[:3]) + _quant(y[:, 3:] @ w[3:])
    torch.testing.assert_close(got_t, expect_t)


@pytest.mark.parametrize("stride,padding,rows", [(1, 1, 9), (1, 1, 20), (2, 1, 27), (2, 0, 18), (1, 1, 1000)])
def test_conv_split_equals_unsplit(stride, padding, rows):
    x = torch.randn(2, 5, 9, 9, generator=G, dtype=torch.float64)
    w = torch.randn(4, 5, 3, 3, generator=G, dtype=torch.float64)
    ref = F.conv2d(x, w, stride=stride, padding=padding)
    torch.testing.assert_close(conv_read(x, w, stride, padding, rows), ref)
    y = torch.randn_like(ref)
    op = (9 + 2 * padding - 3) % stride
    ref_t = F.conv_transpose2d(y, w, stride=stride, padding=padding, output_padding=op)
    for cols in (1, 3, 4, 64):
        torch.testing.assert_close(conv_read_t(y, w, stride, padding, op, cols), ref_t)


def test_conv_adc_per_channel_block():
    x = torch.randn(2, 5, 6, 6, generator=G, dtype=torch.float64)
    w = 0.2 * torch.randn(3, 5, 3, 3, generator=G, dtype=torch.float64)
    assert conv_channels_per_block(5, 3, 18) == 2  # 2 channels x 9 rows per tile
    got = conv_read(x, w, 1, 1, 18, adc=_quant)
    expect = sum(_quant(F.conv2d(x[:, i:i + 2], w[:, i:i + 2], padding=1)) for i in (0, 2, 4))
    torch.testing.assert_close(got, expect)
    y = torch.randn(2, 3, 6, 6, generator=G, dtype=torch.float64)
    got_t = conv_read_t(y, w, 1, 1, 0, 2, adc=_quant)
    expect_t = (_quant(F.conv_transpose2d(y[:, :2], w[:2], padding=1))
                + _quant(F.conv_transpose2d(y[:, 2:], w[2:], padding=1)))
    torch.testing.assert_close(got_t, expect_t)


def test_too_small_tile():
    with pytest.raises(ConfigError, match="tile.max_rows"):
        conv_channels_per_block(4, 3, 8)
