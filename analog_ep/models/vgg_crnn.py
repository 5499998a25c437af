"""Deep convolutional Hopfield VGG (CRNN) with intermediate error signals.

VGG-11 / VGG-13 layouts (Simonyan & Zisserman 2015) as energy-based networks: five stages of
3x3 convolutions, the last of each stage coupled through a 2x2 max-pool (ConvPool), then two
hidden dense nodes and the output: 8 + 3 = 11 or 10 + 3 = 13 weight layers. Auxiliary softmax
readouts on chosen intermediate nodes receive local error signals (the label, or a mixture with a
teacher's distillation targets) whose strength ``kappa`` decays over epochs; each readout and
every synapse still learns from quantities local to it (EP with intermediate error signals).
"""

from __future__ import annotations

from ..errors import ConfigError
from ..synapses import Conv, ConvPool, Dense
from .base import EnergyNetwork
from .convnets import _gains, _input_padding

LAYOUTS = {11: [1, 1, 2, 2, 2], 13: [2, 2, 2, 2, 2]}


class VGGCRNN(EnergyNetwork):
    """``channels``: widths of the 5 stages (default 64-128-256-512-512); ``dense``: width of the
    two hidden dense nodes (default: the last stage width); ``aux_nodes``: 1-based state nodes
    that get an auxiliary readout to the classes."""

    def __init__(self, in_shape, channels, num_classes, depth=11, activation="clamp", gains=None,
                 aux_nodes=(), dense=None, generator=None):
        super().__init__(in_shape)
        if depth not in LAYOUTS:
            raise ConfigError(f"model.depth: vgg_crnn supports depth 11 or 13, got {depth}")
        if len(channels) != 5:
            raise ConfigError(f"model.channels: vgg_crnn has 5 stages, got {len(channels)} widths")
        pad = _input_padding(in_shape, 32, "vgg_crnn")
        # gain 1 (ours): the largest at which the free phase from zeros still settles in a few
        # hundred sweeps (1.5: not in 300 for some samples; benchmarks/model_defaults_hopfield_s5.md)
        g = _gains(gains, depth, "vgg_crnn", [1.0] * depth)
        shape, gi = tuple(in_shape), 0
        for stage, (n_conv, c) in enumerate(zip(LAYOUTS[depth], channels)):
            for j in range(n_conv):
                p = 1 + (pad if gi == 0 else 0)
                if j == n_conv - 1:
                    syn = ConvPool(shape, c, 3, padding=p, gain=g[gi], generator=generator)
                else:
                    syn = Conv(shape, c, 3, stride=1, padding=p, gain=g[gi], generator=generator)
                node = self.add_node(syn.out_shape, activation)
                self.add_edge(node - 1, node, syn)
                shape, gi = syn.out_shape, gi + 1
        width = dense or channels[-1]
        for _ in range(2):
            node = self.add_node((width,), activation)
            self.add_edge(node - 1, node, Dense(shape, width, g[gi], generator))
            shape, gi = (width,), gi + 1
        out = self.add_node((num_classes,), "linear")
        self.add_edge(out - 1, out, Dense(shape, num_classes, g[gi], generator))
        for k in aux_nodes:
            if not 1 <= k < out:
                raise ConfigError(f"model.aux_nodes: node {k} is not an intermediate node of this vgg_crnn "
                                  f"(valid: 1..{out - 1})")
            self.add_aux_readout(k, Dense(self.node_shapes[k - 1], num_classes, 1.0, generator))
