"""Energy-based models and their feed-forward twins; registry ``get_model`` / ``register_model``."""

from __future__ import annotations

from typing import Callable

from ..errors import ConfigError
from .base import ACTIVATIONS, Activation, EnergyNetwork
from .hopfield_mlp import HopfieldMLP

_MODELS: dict[str, Callable] = {}


def register_model(name: str, factory: Callable) -> None:
    """``factory(model_cfg, in_shape, num_classes, generator) -> EnergyNetwork``."""
    _MODELS[name] = factory


def get_model(name: str) -> Callable:
    if name not in _MODELS:
        raise ConfigError(f"model.name: unknown model {name!r}; valid: {', '.join(sorted(_MODELS))}")
    return _MODELS[name]


def _hopfield_mlp(cfg, in_shape, num_classes, generator):
    return HopfieldMLP(in_shape, cfg.hidden, num_classes, cfg.activation, cfg.gains, generator)


register_model("hopfield_mlp", _hopfield_mlp)

__all__ = ["ACTIVATIONS", "Activation", "EnergyNetwork", "HopfieldMLP", "get_model", "register_model"]
