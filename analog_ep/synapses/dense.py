"""Dense (fully connected) synapse: ``read(x) = x W^T``, ``read_t(y) = y W``, ``corr = y^T x``."""

from __future__ import annotations

import math

import torch
from .base import Synapse, l2_norm


class Dense(Synapse):
    """Fully connected coupling between a pre node of any shape (flattened) and a vector node.

    Weight shape (out_features, in_features), initialized U(-g/sqrt(fan_in), g/sqrt(fan_in))
    with gain ``g`` (Scellier et al. 2023; Laborieux et al. 2021).
    """

    def __init__(self, in_shape: tuple[int, ...], out_features: int, gain: float = 1.0,
                 generator: torch.Generator | None = None):
        super().__init__()
        self.in_shape = tuple(in_shape)
        self.out_shape = (out_features,)
        fan_in = math.prod(self.in_shape)
        bound = gain / math.sqrt(fan_in)
        w = (torch.rand(out_features, fan_in, generator=generator) * 2 - 1) * bound
        self._init_storage(w)

    def read(self, pre: torch.Tensor) -> torch.Tensor:
        return self.storage.linear(pre.reshape(pre.shape[0], -1))

    def read_bias(self, pre: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        return self.storage.linear_bias(pre.reshape(pre.shape[0], -1), bias)

    def sweep_read(self, direction: str, state: torch.Tensor) -> tuple | None:
        """``dense_forward`` / ``dense_transposed`` with the storage's one-tile plan of it
        (:meth:`~analog_ep.analog.storage.AnalogStorage.sweep_read_plan`; None where it has none)."""
        kind = "dense_" + direction
        plan = self.storage.sweep_read_plan(kind, state)
        return None if plan is None else (kind, plan)

    def read_floor(self, direction: str) -> tuple[float, float | None] | None:
        """The storage's floor of the ``dense_forward`` / ``dense_transposed`` read."""
        return self.storage.read_floor("dense_" + direction)

    def weight_floor(self, direction: str) -> tuple | None:
        """Either direction sums each output over all the read's input lines with its own weight
        noise: std ``cw ||x_b||_2`` (:func:`~analog_ep.synapses.base.l2_norm`), ``cw`` the
        storage's :meth:`~analog_ep.analog.storage.AnalogStorage.weight_floor`; None without."""
        cw = self.storage.weight_floor()
        return (cw, l2_norm) if cw > 0 else None

    def read_t(self, post: torch.Tensor, pre: torch.Tensor | None = None) -> torch.Tensor:
        return self.storage.linear_t(post).reshape(post.shape[0], *self.in_shape)

    def correlate(self, post: torch.Tensor, pre: torch.Tensor) -> torch.Tensor:
        self.storage.events.correlate(post.shape[0])
        return post.t() @ pre.reshape(pre.shape[0], -1)

    def update_vectors(self, post: torch.Tensor, pre: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return post, pre.reshape(pre.shape[0], -1)

    def weight_map(self, weight: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return v.reshape(v.shape[0], -1) @ weight.t()

    def weight_map_t(self, weight: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        return (u @ weight).reshape(u.shape[0], *self.in_shape)
