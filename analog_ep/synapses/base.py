"""The synapse protocol: the three operations a crossbar tile performs natively.

==================  ==============================  =====================
crossbar operation  EP use                           digital equivalent
==================  ==============================  =====================
forward read        bottom-up drive ``W s_pre``      ``x @ W.T`` / conv2d
transposed read     top-down feedback ``W^T s_post`` ``y @ W`` / conv_t
outer-product       contrastive Hebbian update       ``y^T x`` / conv_w
==================  ==============================  =====================

Everything above the synapse (models, solvers, EP) uses only these operations, so an analog
synapse backed by simulated tiles can replace a digital one without changes elsewhere.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class DigitalBackend:
    """Float matrix products: the default backend of every synapse. An analog backend (a tile
    array, :class:`analog_ep.analog.tile.AnalogTile`) implements the same four operations
    through simulated crossbars."""

    @staticmethod
    def linear(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return x @ w.t()

    @staticmethod
    def linear_t(y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return y @ w

    @staticmethod
    def conv(x: torch.Tensor, w: torch.Tensor, stride: int, padding: int) -> torch.Tensor:
        return F.conv2d(x, w, stride=stride, padding=padding)

    @staticmethod
    def conv_t(y: torch.Tensor, w: torch.Tensor, stride: int, padding: int, output_padding) -> torch.Tensor:
        return F.conv_transpose2d(y, w, stride=stride, padding=padding, output_padding=output_padding)


DIGITAL = DigitalBackend()


class Synapse(nn.Module):
    """An edge ``pre -> post`` of an energy-based network with coupling ``<s_post, read(s_pre)>``.

    Subclasses implement ``read``, ``read_t`` and ``correlate`` analytically (no autograd), so
    that ``read_t`` is the exact adjoint of ``read`` and ``correlate`` is the exact gradient of
    the coupling with respect to ``weight``.
    """

    weight: nn.Parameter
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]

    @property
    def backend(self):
        """Where the reads happen: :data:`DIGITAL`, or the analog tile array the builder attached
        as ``synapse.tile`` (:class:`analog_ep.analog.tile.AnalogTile`), which then also owns
        the weight's device state."""
        return self._modules.get("tile") or DIGITAL

    def read(self, pre: torch.Tensor) -> torch.Tensor:
        """Forward read: the drive this synapse sends to its post node, shape (B, *out_shape)."""
        raise NotImplementedError

    def read_t(self, post: torch.Tensor, pre: torch.Tensor | None = None) -> torch.Tensor:
        """Transposed read: the adjoint of :meth:`read` applied to ``post``, shape (B, *in_shape).

        ``pre`` is the current pre-synaptic state, needed by synapses whose linear map depends
        on it (max-pool unpooling indices)."""
        raise NotImplementedError

    def correlate(self, post: torch.Tensor, pre: torch.Tensor) -> torch.Tensor:
        """Batch-summed gradient of ``<post, read(pre)>`` with respect to ``weight``."""
        raise NotImplementedError
