"""Energy-based models and their feed-forward twins; registry ``get_model`` / ``register_model``.

A model is a factory (builds the network, torch) and a :class:`~analog_ep.config.model_specs.ModelSpec`
(what the config validator needs: accepted ``model.*`` keys, layer count; no torch). Importing
this package loads no torch: the network classes and the built-in factories load on first use, so
``analog_ep.config`` validates ``model.*`` through the spec registry without importing torch.
"""

from __future__ import annotations

import importlib
from typing import Callable

from ..errors import ConfigError
from ..config.model_specs import ModelSpec, get_model_spec, model_names, register_model_spec

_MODELS: dict[str, Callable] = {}

_LAZY = {
    "ACTIVATIONS": ".base", "Activation": ".base", "ClipActivation": ".base", "SigmoidActivation": ".base",
    "EnergyNetwork": ".base",
    "DCHNVGG5": ".convnets", "HopfieldResNet13": ".convnets", "HopfieldMLP": ".hopfield_mlp",
    "MuPCResMLP": ".pcn", "PCNetwork": ".pcn", "PCNMLP": ".pcn", "PCNVGG": ".pcn", "PCN_VGG_LAYOUTS": ".pcn",
    "VGGCRNN": ".vgg_crnn",
}
"""The network classes, imported (with torch) on first access."""


def register_model(name: str, factory: Callable, spec: ModelSpec | None = None) -> None:
    """Register model ``name``: ``factory(model_cfg, in_shape, num_classes, generator) ->
    EnergyNetwork`` and its ``spec`` (a :class:`ModelSpec` named ``name``: the ``model.*`` keys
    it takes and its layer count, which the config loader checks), so ``model.name: NAME``
    validates and builds with no edit of the schema. ``spec`` may be left out when one is
    registered already (:func:`~analog_ep.config.model_specs.register_model_spec`)."""
    if spec is not None:
        if spec.name != name:
            raise ValueError(f"register_model({name!r}): the spec is named {spec.name!r}")
        register_model_spec(spec)
    elif name not in model_names():
        raise ValueError(f"register_model({name!r}): give its ModelSpec (analog_ep.config.model_specs), so configs "
                         "naming it validate")
    _MODELS[name] = factory


def get_model(name: str) -> Callable:
    """The factory of model ``name`` (the built-in ones load with torch on the first call)."""
    importlib.import_module(".factories", __name__)
    if name not in _MODELS:
        raise ConfigError(f"model.name: unknown model {name!r}; valid: {', '.join(sorted(_MODELS))}")
    return _MODELS[name]


def __getattr__(attr: str):
    if attr in _LAZY:
        return getattr(importlib.import_module(_LAZY[attr], __name__), attr)
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


__all__ = ["ACTIVATIONS", "Activation", "ClipActivation", "DCHNVGG5", "EnergyNetwork", "HopfieldMLP", "HopfieldResNet13", "ModelSpec",
           "MuPCResMLP", "PCNVGG", "PCNetwork", "SigmoidActivation", "VGGCRNN", "get_model", "get_model_spec", "model_names",
           "register_model", "register_model_spec"]
