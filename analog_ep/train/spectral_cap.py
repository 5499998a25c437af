"""``train.spectral_cap``: after each update, every free coupling's operator norm held at most a bound.

A Hopfield-type network's free phase is a contraction while its couplings are small: node ``k``
settles to ``act(W_k s_{k-1} + W_{k+1}^T s_{k+1})``, so with a 1-Lipschitz activation the
fixed-point map's gain is bounded by the layers' largest singular values. Training grows them
(dchn_vgg5 at gains 0.7: 26 free sweeps to 1e-7 at initialisation, 175 after one 10,000-image
epoch; benchmarks/model_defaults_hopfield_s8.md), and EP's estimate needs a settled free state.
The cap scales a tensor ``W`` whose estimated norm ``sigma`` exceeds ``bound`` by
``bound / sigma`` (its direction kept; a tensor under the bound is untouched), once per update,
after the optimizer's step, for EP and for the backprop twin alike. Only the couplings between
free nodes are capped: the input layer's drive is a constant of the free phase.

``sigma`` is estimated by power iteration on the synapse's :meth:`~analog_ep.synapses.base.Synapse.weight_map`
(the dense matrix, or the convolution as a map of its input image), with one persistent unit
vector per layer kept between updates (Miyato et al. 2018's spectral normalisation keeps one the
same way): a few steps per update follow the slowly moving weights. Everything stays on the
weights' device; the scale is ``min(1, bound / sigma)`` as a tensor (no host sync).
The vectors travel in the checkpoint (a resumed run continues bit for bit); a checkpoint without
them (written uncapped, or before this key existed) starts them afresh (20 steps at the first update).
"""

from __future__ import annotations

import torch

from ..errors import ConfigError

FIRST_ITERS = 20
"""Power-iteration steps at the first update (from a random vector: a new run, or a resume from a
checkpoint without vectors)."""


class SpectralCap:
    """The cap of one model: ``apply(model)`` after each optimizer step (:func:`.update.apply_updates`)."""

    def __init__(self, model, bound: float, iters: int = 1, seed: int = 0):
        self.bound = float(bound)
        self.iters = int(iters)
        self.seed = int(seed)
        self.vectors: list[torch.Tensor] | None = None
        for syn, st in _layers(model):
            if type(syn).weight_map is _base_map():
                raise ConfigError(f"train.spectral_cap: {type(syn).__name__} synapses have no operator-norm "
                                  f"estimate; set train.spectral_cap null")
            if st.wants_vectors:
                raise ConfigError("train.spectral_cap: a bit-stream (outer-product pulse) update cannot carry the "
                                  "cap's rescaling; use analog.pulse_scheme=rounded or set train.spectral_cap null")

    def _start(self, synapses, weights) -> None:
        self.vectors = []
        gens: dict = {}
        for syn, w in zip(synapses, weights):
            gen = gens.setdefault(w.device, torch.Generator(device=w.device).manual_seed(self.seed))
            v = torch.randn(1, *syn.map_shape, generator=gen, dtype=w.dtype, device=w.device)
            self.vectors.append(v / v.norm())

    def load(self, vectors: list[torch.Tensor] | None, model) -> None:
        """Take a checkpoint's vectors (None: start afresh at the next update), each on its weight's device."""
        self.vectors = None if vectors is None else [v.to(syn.weight.device) for v, (syn, _) in
                                                      zip(vectors, _layers(model))]

    def sigma(self, syn, weight: torch.Tensor, i: int, iters: int) -> torch.Tensor:
        """Power-iteration estimate of ``weight``'s operator norm (a 0-d tensor), advancing the
        layer's persistent vector ``iters`` steps."""
        v = self.vectors[i]
        for _ in range(iters):
            v = syn.weight_map_t(weight, syn.weight_map(weight, v))
            v = v / v.norm().clamp_min(torch.finfo(v.dtype).tiny)
        self.vectors[i] = v
        return syn.weight_map(weight, v).norm()

    @torch.no_grad()
    def apply(self, model) -> None:
        """Scale each weight (digital: in place; a proposal storage: the shrink added to the
        proposed change ``param``, so the weight after ``commit`` is the capped one) so that its
        estimated operator norm is at most the bound."""
        layers = _layers(model)
        synapses, stores = [syn for syn, _ in layers], [st for _, st in layers]
        weights = [st.weight.detach() if st.param_holds_weight else st.weight.detach() + st.param for st in stores]
        iters = self.iters
        if self.vectors is None:
            self._start(synapses, weights)
            iters = max(iters, FIRST_ITERS)
        for i, (syn, st, w) in enumerate(zip(synapses, stores, weights)):
            scale = (self.bound / self.sigma(syn, w, i, iters)).clamp(max=1.0).to(w.dtype)
            if st.param_holds_weight:
                st.param.mul_(scale)
            else:  # param holds the proposed change: W + p -> scale (W + p)
                st.param.add_(w * (scale - 1))


def _layers(model) -> list:
    """``(synapse, storage)`` of every coupling between two free nodes
    (:meth:`~analog_ep.models.base.EnergyNetwork.free_couplings`): the input layer's weight (the
    clamped image's drive, no feedback) and the biases are not capped."""
    return [(syn, syn.storage) for syn in model.free_couplings()]


def _base_map():
    from ..synapses.base import Synapse

    return Synapse.weight_map
