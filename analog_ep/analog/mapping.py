"""Map a model's synapses onto analog tile arrays (the builder's analog step)."""

from __future__ import annotations

import contextlib
import dataclasses

import torch

from ..config import AnalogConfig
from ..errors import ConfigError
from .cards import DeviceCard, load_device
from .devices import drift
from .periphery import PeripheryParams
from .tile import AnalogTile

PERIPHERY_KEYS = ("inp_bits", "inp_bound", "out_bits", "out_bound", "w_noise_std", "out_noise_std", "ir_drop",
                  "noise_policy")


def periphery_for(card: DeviceCard, cfg: AnalogConfig) -> PeripheryParams:
    """The card's periphery (ideal when it has none) with the config's non-null keys on top."""
    base = dataclasses.asdict(card.periphery) if card.periphery is not None else {}
    for key in PERIPHERY_KEYS:
        value = getattr(cfg, key)
        if value is not None:
            base[key] = value
    try:
        return PeripheryParams(**base)
    except ConfigError as e:
        raise ConfigError(f"analog.{e}") from None


def attach_tiles(model, cfg: AnalogConfig, seed: int) -> DeviceCard:
    """Put every synapse of ``model`` (auxiliary readouts included) on tiles of ``cfg.device``.

    Each synapse gets its own tile array with device draws from ``seed + index``; its digital
    ``weight`` becomes the effective weight the devices store after programming."""
    card = load_device(cfg.device)
    periph = periphery_for(card, cfg)
    synapses = [e.synapse for e in model.edges] + list(model.aux_readouts)
    for i, syn in enumerate(synapses):
        tile = AnalogTile(syn.weight.detach(), card.params, periph, cfg.max_rows, cfg.max_cols, cfg.update,
                          cfg.rounding, cfg.weight_range, seed=1000003 * (i + 1) + seed, kernel=cfg.kernel)
        syn.tile = tile
        syn.weight.data.copy_(tile.effective_weight())
    model.device_card = card
    return card




@contextlib.contextmanager
def drifted_weights(model, t_s: float):
    """Temporarily replace every tiled weight by its value read ``t_s`` seconds after
    programming (:func:`.devices.drift`: each conductance of the pair drifts with its own
    exponent); the stored device state is untouched."""
    saved = []
    with torch.no_grad():
        for syn in model.all_synapses():
            tile = syn._modules.get("tile")
            if tile is None:
                continue
            saved.append((syn.weight, syn.weight.detach().clone()))
            w = drift(tile.w_dev + tile.write_offset, t_s, tile.state, tile.params)
            syn.weight.copy_(tile.w_scale * w)
    try:
        yield
    finally:
        with torch.no_grad():
            for weight, value in saved:
                weight.copy_(value)
