"""Layered Hopfield network with dense couplings (Scellier & Bengio 2017)."""

from __future__ import annotations

import torch

from ..synapses import Dense
from .base import EnergyNetwork


class HopfieldMLP(EnergyNetwork):
    """Nodes x -> h_1 -> ... -> h_n -> y with dense synapses between consecutive layers.

    Hidden nodes use ``activation`` (clamp[0,1] by default); the output is linear. Weights are
    U(+-gain/sqrt(fan_in)); biases start at zero.
    """

    def __init__(self, in_shape: tuple[int, ...], hidden: list[int], num_classes: int,
                 activation: str = "clamp", gains: list[float] | None = None,
                 generator: torch.Generator | None = None):
        super().__init__(in_shape)
        widths = list(hidden) + [num_classes]
        gains = gains or [1.0] * len(widths)
        prev_shape: tuple[int, ...] = tuple(in_shape)
        for i, width in enumerate(widths):
            last = i == len(widths) - 1
            node = self.add_node((width,), "linear" if last else activation)
            self.add_edge(node - 1, node, Dense(prev_shape, width, gains[i], generator))
            prev_shape = (width,)
