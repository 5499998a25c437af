"""Where a synapse's weight lives: the storage backend a synapse owns.

A storage holds the weight in exactly one place and performs the three crossbar operations on
it (DESIGN section 2):

=================  ==========================================  ==============================
operation          meaning                                     digital storage
=================  ==========================================  ==============================
``linear``         forward read ``y = W x``                    ``x @ W.T``
``linear_t``       transposed read ``x' = W^T y``              ``y @ W``
``conv``           forward read of a convolution               ``conv2d``
``conv_t``         its adjoint                                 ``conv_transpose2d``
``apply_update``   ``W <- W + delta`` as the storage can        ``W += delta``
=================  ==========================================  ==============================

The optimizer proposes a change, the storage disposes: digital storage adds it; the analog
storage (:class:`analog_ep.analog.storage.AnalogStorage`) turns it into device pulses. Either
exposes ``weight`` (an ``nn.Parameter``) for gradients and optimizer state: for the analog
storage it is the weight the devices hold, rewritten only by the storage itself.

Hooks every storage has (no-ops here): ``begin_batch`` / ``begin_phase`` (read-noise policy),
``wants_vectors`` (True when ``apply_update`` needs the update's outer-product vectors, as a
bit-stream pulse scheme does).
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn


def _channels_last(x: torch.Tensor) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x


class DigitalStorage(nn.Module):
    """The weight as a float tensor; reads are float products.

    ``read_dtype`` (``compute.precision: bf16`` sets ``torch.bfloat16``): reads round the input
    and the weight to that dtype, the kernels accumulate their sums in fp32 and round the result
    to that dtype, and the drive comes back in the input's dtype; None = the operands' own dtype
    (exact fp32/fp64 products). Without autograd the rounded weight is cached until the weight
    changes."""

    wants_vectors = False
    pulses = 0
    """Digital storage sends no pulses."""
    read_dtype: torch.dtype | None = None

    def __init__(self, weight: torch.Tensor):
        super().__init__()
        self.weight = nn.Parameter(_channels_last(weight))  # conv kernels in the layout of the reads
        self._w_low: tuple | None = None

    def _operands(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        dt = self.read_dtype
        if dt is None or dt == x.dtype:
            return x, self.weight
        if torch.is_grad_enabled() and self.weight.requires_grad:  # backprop twin: differentiable cast
            return x.to(dt), self.weight.to(dt)
        w = self.weight
        key = (w._version, w.data_ptr(), w.device)
        if self._w_low is None or self._w_low[0] != key:
            self._w_low = (key, w.detach().to(dt))
        return x.to(dt), self._w_low[1]

    def linear(self, x: torch.Tensor) -> torch.Tensor:
        a, w = self._operands(x)
        out = a @ w.t()
        return out if out.dtype == x.dtype else out.to(x.dtype)

    def linear_bias(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """``linear(x) + bias``, one fused product (``addmm``) when no read dtype intervenes."""
        a, w = self._operands(x)
        if a is not x or bias.dtype != x.dtype:
            return self.linear(x) + bias
        return torch.addmm(bias, x, w.t())

    def linear_t(self, y: torch.Tensor) -> torch.Tensor:
        a, w = self._operands(y)
        out = a @ w
        return out if out.dtype == y.dtype else out.to(y.dtype)

    def conv(self, x: torch.Tensor, stride: int, padding: int) -> torch.Tensor:
        """``conv2d`` in channels-last layout (its output, and the max-pool, ReLU and error maps
        computed from it, stay channels-last: on CPU the oneDNN kernels and the max-pool run
        several times faster in that layout than in NCHW)."""
        a, w = self._operands(x)
        out = F.conv2d(_channels_last(a), w, stride=stride, padding=padding)
        return out if out.dtype == x.dtype else out.to(x.dtype)

    def conv_t(self, y: torch.Tensor, stride: int, padding: int, output_padding) -> torch.Tensor:
        a, w = self._operands(y)
        out = F.conv_transpose2d(_channels_last(a), w, stride=stride, padding=padding,
                                 output_padding=output_padding)
        return out if out.dtype == y.dtype else out.to(y.dtype)

    @torch.no_grad()
    def apply_update(self, delta: torch.Tensor, vectors=None) -> None:
        """``W <- W + delta`` (``vectors`` is ignored: the delta is exact)."""
        self.weight.add_(delta)

    def begin_batch(self) -> None:
        pass

    def begin_phase(self) -> None:
        pass

    def drifted(self, t_s: float):
        """Digital weights do not drift: a context that changes nothing."""
        return contextlib.nullcontext()


class ParameterStorage:
    """Adapter giving a free parameter (a bias, which lives in the digital periphery) the
    ``apply_update`` of a storage."""

    wants_vectors = False

    def __init__(self, param: nn.Parameter):
        self.weight = param

    @torch.no_grad()
    def apply_update(self, delta: torch.Tensor, vectors=None) -> None:
        self.weight.add_(delta)


__all__ = ["DigitalStorage", "ParameterStorage"]
