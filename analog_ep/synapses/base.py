"""The synapse protocol: the three operations a crossbar tile performs natively.

==================  ==============================  =====================
crossbar operation  EP use                           digital equivalent
==================  ==============================  =====================
forward read        bottom-up drive ``W s_pre``      ``x @ W.T`` / conv2d
transposed read     top-down feedback ``W^T s_post`` ``y @ W`` / conv_t
outer-product       contrastive Hebbian update       ``y^T x`` / conv_w
==================  ==============================  =====================

Everything above the synapse (models, solvers, EP) uses only these operations. The synapse owns
its storage (:mod:`.storage`): the weight lives there, digital (a float tensor) or analog (a tile
array, put in by the builder), and the training loop changes it only through
``synapse.storage.apply_update(delta)``.
"""

from __future__ import annotations

import torch
from torch import nn

from .storage import DigitalStorage


def abs_max_scale(x: torch.Tensor, bound: float) -> torch.Tensor:
    """A read's ``abs_max`` noise-management scale per sample, ``max(max |x_b|, 1e-30) / bound``
    (the DAC's, :func:`analog_ep.analog.reads._nm_layer`): what the output noise and the ADC's
    rounding of a managed read scale with (:meth:`Synapse.read_floor`)."""
    return x.abs().reshape(x.shape[0], -1).amax(1).clamp_min(1e-30).div(bound)


def l2_norm(x: torch.Tensor) -> torch.Tensor:
    """The L2 norm of each sample's read input, ``||x_b||_2`` over all its lines: what a dense
    read's weight read noise scales with (:meth:`Synapse.weight_floor`)."""
    return torch.linalg.vector_norm(x.reshape(x.shape[0], -1), dim=1)


class Synapse(nn.Module):
    """An edge ``pre -> post`` of an energy-based network with coupling ``<s_post, read(s_pre)>``.

    Subclasses implement ``read``, ``read_t`` and ``correlate`` analytically (no autograd), so
    that ``read_t`` is the exact adjoint of ``read`` and ``correlate`` is the exact gradient of
    the coupling with respect to ``weight``.
    """

    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    storage: nn.Module

    def _init_storage(self, weight: torch.Tensor) -> None:
        self.storage = DigitalStorage(weight)

    @property
    def weight(self) -> nn.Parameter:
        """The weight as the storage holds it (the parameter that receives gradients)."""
        return self.storage.weight

    def update_vectors(self, post: torch.Tensor, pre: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(d, x)`` with ``d`` (N, rows of the weight matrix) and ``x`` (N, columns) such that
        ``correlate(post, pre) == (d.T @ x).reshape(weight.shape)``: the vectors a crossbar's
        outer-product update sees (one pair per sample; per sample and output pixel for convs)."""
        raise NotImplementedError

    def weight_map(self, weight: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """The linear map ``weight`` stands for, applied to a batch ``v`` of ``(B, *map_shape)``
        (plain digital arithmetic on the given tensor, no read path, no event counts): the
        operator whose largest singular value ``train.spectral_cap`` bounds."""
        raise NotImplementedError(f"{type(self).__name__} has no weight map")

    def weight_map_t(self, weight: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """The adjoint of :meth:`weight_map`."""
        raise NotImplementedError(f"{type(self).__name__} has no weight map")

    @property
    def map_shape(self) -> tuple[int, ...]:
        """The shape of one input of :meth:`weight_map` (the pre node's, by default)."""
        return tuple(self.in_shape)

    def read(self, pre: torch.Tensor) -> torch.Tensor:
        """Forward read: the drive this synapse sends to its post node, shape (B, *out_shape)."""
        raise NotImplementedError

    def sweep_read(self, direction: str, state: torch.Tensor) -> tuple | None:
        """A relaxation read (``forward`` of the pre state, ``transposed`` of the post state) as a
        fused sweep runs it (:meth:`~analog_ep.models.base.EnergyNetwork.sweep_plan`): ``(kind,
        plan)``, the storage's planned read kind and its one-tile kernel plan, or None where the
        read takes another path (the default)."""
        return None

    def read_floor(self, direction: str) -> tuple[float, float | None] | None:
        """The noise floor a relaxation read (``forward`` / ``transposed``) puts on each output, as
        :meth:`~analog_ep.analog.storage.AnalogStorage.read_floor` gives it (``(c, nm_bound)``),
        or None where it has no estimate (the default: the noise-floor threshold does not run;
        dense and conv synapses have one)."""
        return None

    def weight_floor(self, direction: str) -> tuple | None:
        """The weight read noise a relaxation read (``forward`` / ``transposed``) puts on each
        output, as ``(cw, norm)``: std ``cw * norm(x)`` per sample for the read's input ``x``
        (:meth:`~analog_ep.analog.storage.AnalogStorage.weight_floor`, ``norm`` the input norm it
        scales with), or None where it adds none or has no estimate (the default: the floor then
        counts the output noise and the ADC alone; dense synapses have one)."""
        return None

    def read_bias(self, pre: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """``read(pre) + bias`` (the bias a digital addition after the read; synapses whose
        digital storage can fuse the addition into the product override this)."""
        return self.read(pre) + bias

    def read_t(self, post: torch.Tensor, pre: torch.Tensor | None = None) -> torch.Tensor:
        """Transposed read: the adjoint of :meth:`read` applied to ``post``, shape (B, *in_shape).

        ``pre`` is the current pre-synaptic state, needed by synapses whose linear map depends
        on it (max-pool unpooling indices)."""
        raise NotImplementedError

    def correlate(self, post: torch.Tensor, pre: torch.Tensor) -> torch.Tensor:
        """Batch-summed gradient of ``<post, read(pre)>`` with respect to ``weight``."""
        raise NotImplementedError
