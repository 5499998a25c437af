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

The protocol every storage implements (digital here; the analog storage
:class:`analog_ep.analog.storage.AnalogStorage` turns changes into device pulses):

* ``weight``: the weight as the storage holds it (reads, shapes; differentiable for the
  backprop twin); ``param``: the ``nn.Parameter`` that receives gradients and optimizer state.
  ``param_holds_weight``: True when ``param`` is the weight itself (digital: the optimizer's
  step on it *is* the update, ``W <- W + delta``), False when ``param`` holds the change the
  optimizer proposes (zero between updates; analog).
* ``commit(vectors)``: after the optimizer's step, make the proposed change take effect (digital:
  nothing left to do; analog: pulses, then ``param`` back to zero); ``apply_update(delta,
  vectors)``: change the weight by ``delta`` directly.
* hooks: ``begin_batch`` / ``begin_phase`` (read-noise policy), ``set_rows`` (data parallel:
  this rank's rows of the global batch), ``sweep_read_plan(kind, x)`` (a fused relaxation
  sweep's one-tile kernel plan of a read; None where there is none), ``wants_vectors`` (True
  when an update needs its outer-product vectors, as a bit-stream pulse scheme does),
  ``read_dtype`` (the precision of digital reads), ``pulses`` (pulses sent so far),
  ``drifted(t_s)`` (a context reading the weight ``t_s`` seconds after programming).
* ``events``: the storage's :class:`~analog_ep.synapses.counters.EventCounter` (the hardware
  events its reads and updates perform, per phase; ``begin_phase(name)`` names the phase, as
  does ``events.set_phase(name)`` without touching the read-noise policy);
  ``sum_counters(all_reduce_)`` sums them over data-parallel ranks.

No code above the synapse asks which storage it holds: the optimizer proposes, the storage
disposes (:mod:`analog_ep.train.update`).
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn

from .counters import digital_counter


def _channels_last(x: torch.Tensor) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x


class _InPlace:
    """The update side of the protocol for a float tensor ``weight``: the optimizer steps it in
    place (``param`` is the weight), and that step is the update."""

    wants_vectors = False
    param_holds_weight = True

    @property
    def param(self) -> nn.Parameter:
        return self.weight

    @torch.no_grad()
    def apply_update(self, delta: torch.Tensor, vectors=None) -> None:
        """``W <- W + delta`` (``vectors`` is ignored: the delta is exact)."""
        self.weight.add_(delta)

    def commit(self, vectors=None) -> None:
        """The optimizer's step on :attr:`param` (the weight) was the update: nothing to do."""

    def sum_counters(self, all_reduce_) -> None:
        """Data parallel: per-rank event counters summed over the ranks; a digital weight counts
        nothing."""


class DigitalStorage(_InPlace, nn.Module):
    """The weight as a float tensor; reads are float products.

    ``read_dtype`` (``compute.precision: bf16`` sets ``torch.bfloat16``): reads round the input
    and the weight to that dtype, the kernels accumulate their sums in fp32 and round the result
    to that dtype, and the drive comes back in the input's dtype; None = the operands' own dtype
    (exact fp32/fp64 products). Without autograd the rounded weight is cached until the weight
    changes."""

    pulses = 0
    """Digital storage sends no pulses."""
    read_dtype: torch.dtype | None = None

    def __init__(self, weight: torch.Tensor):
        super().__init__()
        self.weight = nn.Parameter(_channels_last(weight))  # conv kernels in the layout of the reads
        self._w_low: tuple | None = None
        self.events = digital_counter(weight)
        """Event counts: the multiply-accumulates of every product (reads; the backprop twin's
        backward pass; correlations) and the updates."""

    def _counted(self, kind: str, x: torch.Tensor, out: torch.Tensor, vectors: int) -> torch.Tensor:
        """Count a product of ``vectors`` vector reads of ``kind`` (and, when autograd will
        differentiate it, its backward pass: :meth:`EventCounter.count_backward`)."""
        ev = self.events
        if ev.enabled:
            ev.read(kind, vectors)
            if out.requires_grad:
                ev.count_backward(out, x.requires_grad, self.weight.requires_grad, vectors)
        return out

    @torch.no_grad()
    def apply_update(self, delta: torch.Tensor, vectors=None) -> None:
        """``W <- W + delta`` (``vectors`` is ignored: the delta is exact); one update counted."""
        self.weight.add_(delta)
        self.events.update()

    def commit(self, vectors=None) -> None:
        """The optimizer's step on :attr:`param` (the weight) was the update: one update counted."""
        self.events.update()

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
        return self._counted("forward", x, out if out.dtype == x.dtype else out.to(x.dtype), x.shape[0])

    def linear_bias(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """``linear(x) + bias``, one fused product (``addmm``) when no read dtype intervenes."""
        a, w = self._operands(x)
        if a is not x or bias.dtype != x.dtype:
            return self.linear(x) + bias
        return self._counted("forward", x, torch.addmm(bias, x, w.t()), x.shape[0])

    def linear_t(self, y: torch.Tensor) -> torch.Tensor:
        a, w = self._operands(y)
        out = a @ w
        return self._counted("transposed", y, out if out.dtype == y.dtype else out.to(y.dtype), y.shape[0])

    def conv(self, x: torch.Tensor, stride: int, padding: int) -> torch.Tensor:
        """``conv2d`` in channels-last layout (its output, and the max-pool, ReLU and error maps
        computed from it, stay channels-last: on CPU the oneDNN kernels and the max-pool run
        several times faster in that layout than in NCHW)."""
        a, w = self._operands(x)
        out = F.conv2d(_channels_last(a), w, stride=stride, padding=padding)
        out = out if out.dtype == x.dtype else out.to(x.dtype)
        return self._counted("forward", x, out, out.shape[0] * out.shape[2] * out.shape[3])

    def conv_t(self, y: torch.Tensor, stride: int, padding: int, output_padding) -> torch.Tensor:
        a, w = self._operands(y)
        out = F.conv_transpose2d(_channels_last(a), w, stride=stride, padding=padding,
                                 output_padding=output_padding)
        out = out if out.dtype == y.dtype else out.to(y.dtype)
        return self._counted("transposed", y, out, y.shape[0] * y.shape[2] * y.shape[3])

    def max_pool(self, y: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``k`` x ``k`` max-pool (stride ``k``) of a conv read's output, with the argmax indices
        (``ConvPool``): torch's (the channels-last reads above keep it fast)."""
        return F.max_pool2d(y, k, k, return_indices=True)

    def begin_batch(self) -> None:
        pass

    def begin_phase(self, name: str | None = None) -> None:
        """A relaxation phase starts: digital reads draw no noise; the events count under
        ``name`` (None: the phase they count under stays)."""
        if name is not None:
            self.events.set_phase(name)

    def sum_counters(self, all_reduce_) -> None:
        """Data parallel: the per-rank event counts summed over the ranks
        (:meth:`EventCounter.sum_over_ranks`)."""
        self.events.sum_over_ranks(all_reduce_)

    def event_record(self, name: str) -> dict:
        """This layer's entry of the event-count record: a float weight (one value per weight, no
        converters, no conductance)."""
        return self.events.record(name, None, None, None, 1)

    def set_rows(self, rows: tuple[int, int] | None) -> None:
        """Data parallel: digital reads draw no noise, so the rows of the batch do not matter."""

    def drifted(self, t_s: float):
        """Digital weights do not drift: a context that changes nothing."""
        return contextlib.nullcontext()

    noisy_reads = False
    """Digital reads are exact: no noise floor (``solver.stop: noise_floor`` is ``tol`` here)."""

    def read_floor(self, kind: str, fold: int = 1) -> tuple[float, None]:
        """A relaxation read's noise floor (:meth:`~analog_ep.analog.storage.AnalogStorage.read_floor`):
        a digital read adds none."""
        return 0.0, None

    def weight_floor(self) -> float:
        """A relaxation read's weight read noise per unit input norm
        (:meth:`~analog_ep.analog.storage.AnalogStorage.weight_floor`): a digital weight has none."""
        return 0.0

    noisy_settle_reads = False
    """A settle's reads of a digital weight are exact too."""

    def settle_reads(self, noise_scale: float = 1.0):
        """A settling relaxation's reads (:meth:`~analog_ep.analog.storage.AnalogStorage.settle_reads`):
        a digital weight has no converters and draws no noise, so a context that changes nothing."""
        return contextlib.nullcontext()

    def digitize_state(self, s: torch.Tensor) -> torch.Tensor:
        """A settled state's read-out: digital states need no conversion."""
        return s

    def sweep_read_plan(self, kind: str, x: torch.Tensor) -> None:
        """A fused sweep's planned read (:meth:`~analog_ep.analog.storage.AnalogStorage.sweep_read_plan`):
        a digital weight has none (its reads are torch products)."""
        return None


class ParameterStorage(_InPlace):
    """Adapter giving a free parameter (a bias or a BatchNorm scale, which live in the digital
    periphery) the update side of the storage protocol."""

    def __init__(self, param: nn.Parameter):
        self.weight = param


__all__ = ["DigitalStorage", "ParameterStorage"]
