"""Map a model's synapses onto analog tile arrays (the builder's analog step)."""

from __future__ import annotations

import dataclasses

from ..config import AnalogConfig
from ..errors import ConfigError
from .cards import DeviceCard, load_device
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


