"""Convolutional energy-based networks: DCHN VGG5 and Hopfield-ResNet13.

Both are :class:`EnergyNetwork` graphs, so the solvers, EP, the implicit gradient and the
feed-forward (backprop) twin work on them unchanged.
"""

from __future__ import annotations

import math

import torch

from ..errors import ConfigError
from ..synapses import Conv, ConvPool, Dense, Skip
from .base import EnergyNetwork


def _gains(gains: list[float] | None, n: int, name: str, default: list[float] | None = None) -> list[float]:
    if gains is None:
        return list(default) if default is not None and len(default) == n else [1.0] * n
    if len(gains) != n:
        raise ConfigError(f"model.gains: {name} has {n} weight layers, got {len(gains)} gains")
    return list(gains)


def _input_padding(in_shape: tuple[int, ...], factor: int, name: str) -> int:
    """Extra zero padding of the first convolution so a 28x28 image becomes 32x32 (the usual
    treatment of MNIST-like data in these CIFAR architectures); other sizes must divide."""
    if len(in_shape) != 3:
        raise ConfigError(f"model.name: {name} needs image inputs (C, H, W), got shape {tuple(in_shape)}")
    _, h, w = in_shape
    if h != w:
        raise ConfigError(f"model.name: {name} needs square inputs, got {h}x{w}")
    if h == 28:
        return 2
    if h % factor:
        raise ConfigError(f"data.shape: {name} halves the image {int(math.log2(factor))} times, so its "
                          f"size must be a multiple of {factor} (or 28, padded to 32), got {h}x{w}")
    return 0


class DCHNVGG5(EnergyNetwork):
    """Deep convolutional Hopfield network (Scellier et al. 2023; Laborieux et al. 2021):
    conv3x3-pool2 x4 with ``channels`` (default 128-256-512-512), dense readout to the classes.

    Energy coupling of each conv stage: ``<s_k, P(W_k * s_{k-1})>`` with max-pool ``P`` whose
    unpooling indices are recomputed from the current pre-synaptic state.
    """

    def __init__(self, in_shape, channels, num_classes, activation="clamp", gains=None, generator=None):
        super().__init__(in_shape)
        if len(channels) != 4:
            raise ConfigError(f"model.channels: dchn_vgg5 has 4 conv stages, got {len(channels)} widths")
        pad = _input_padding(in_shape, 16, "dchn_vgg5")
        g = _gains(gains, 5, "dchn_vgg5", [0.4, 0.7, 0.6, 0.3, 0.4])
        shape = tuple(in_shape)
        for i, c in enumerate(channels):
            syn = ConvPool(shape, c, 3, padding=1 + (pad if i == 0 else 0), gain=g[i], generator=generator)
            node = self.add_node(syn.out_shape, activation)
            self.add_edge(node - 1, node, syn)
            shape = syn.out_shape
        node = self.add_node((num_classes,), "linear")
        self.add_edge(node - 1, node, Dense(shape, num_classes, g[4], generator))


class HopfieldResNet13(EnergyNetwork):
    """Hopfield-ResNet13 (E P & Srinivasan 2025): eight 3x3 conv nodes alternating stride 1 and
    stride 2 over four stages of ``channels`` (default 128-256-512-512; 32x32 input gives
    128x32, 128x16, 256x16, 256x8, 512x8, 512x4, 512x4, 512x2), a linear output fed by a dense
    readout (512*2*2 -> classes), and four 1x1 stride-2 skip couplings k -> k+2 for k = 0, 2, 4,
    6 (input to node 2, node 2 to 4, 4 to 6, 6 to 8): 13 weight tensors. ReLU6 activations.
    The skips join even nodes, so odd/even is not a proper colouring; the solver uses the
    greedy colouring of :meth:`EnergyNetwork.colouring`.
    """

    def __init__(self, in_shape, channels, num_classes, activation="relu6", gains=None, generator=None):
        super().__init__(in_shape)
        if len(channels) != 4:
            raise ConfigError(f"model.channels: hopfield_resnet13 has 4 stages, got {len(channels)} widths")
        pad = _input_padding(in_shape, 16, "hopfield_resnet13")
        g = _gains(gains, 13, "hopfield_resnet13", [0.7] * 13)
        shapes = [tuple(in_shape)]
        gi = 0
        for stage, c in enumerate(channels):
            for stride in (1, 2):
                p = 1 + (pad if len(shapes) == 1 else 0)
                syn = Conv(shapes[-1], c, 3, stride=stride, padding=p, gain=g[gi], generator=generator)
                gi += 1
                node = self.add_node(syn.out_shape, activation)
                self.add_edge(node - 1, node, syn)
                shapes.append(syn.out_shape)
        out = self.add_node((num_classes,), "linear")
        self.add_edge(out - 1, out, Dense(shapes[-1], num_classes, g[gi], generator))
        gi += 1
        for k in (0, 2, 4, 6):
            if k == 0 and pad:
                skip = _PaddedSkip(shapes[0], shapes[2], pad, gain=g[gi], generator=generator)
            else:
                skip = Skip(shapes[k], shapes[k + 2], stride=2, gain=g[gi], generator=generator)
            gi += 1
            self.add_edge(k, k + 2, skip)


class _PaddedSkip(Skip):
    """1x1 stride-2 skip from a 28x28 input zero-padded to 32x32 (pad is a fixed linear map,
    so read_t crops and correlate pads: still exact adjoints)."""

    def __init__(self, in_shape, out_shape, pad, gain=1.0, generator=None):
        c, h, w = in_shape
        super().__init__((c, h + 2 * pad, w + 2 * pad), out_shape, stride=2, gain=gain, generator=generator)
        self.pad = pad
        self.in_shape = tuple(in_shape)

    def _padded(self, pre):
        return torch.nn.functional.pad(pre, (self.pad,) * 4)

    def read(self, pre):
        return super().read(self._padded(pre))

    def read_t(self, post, pre=None):
        p = self.pad
        return super().read_t(post)[..., p:-p, p:-p]

    def correlate(self, post, pre):
        return super().correlate(post, self._padded(pre))

    def update_vectors(self, post, pre):
        return super().update_vectors(post, self._padded(pre))
