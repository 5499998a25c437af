"""Map a model's synapses onto analog tile arrays (the builder's analog step)."""

from __future__ import annotations

import contextlib

from ..config import AnalogConfig
from .cards import DeviceCard, effective_update
from .periphery import PeripheryParams
from .storage import AnalogStorage


def attach_storage(model, card: DeviceCard, periph: PeripheryParams, cfg: AnalogConfig, seed: int) -> None:
    """Give every synapse of ``model`` (auxiliary readouts included) an :class:`AnalogStorage`
    on ``card`` with periphery ``periph``: its digital weight is programmed into the devices.

    Tile array ``i`` (synapse order of ``model.all_synapses()``) draws its devices and every
    random stream from ``(seed, i)``. The pulse-update settings are the card's ``update:``
    section under the non-null ``analog.*`` keys (:func:`.cards.effective_update`)."""
    upd = effective_update(card, cfg)
    for i, syn in enumerate(model.all_synapses()):
        syn.storage = AnalogStorage(
            syn.weight.detach().clone(), card.params, periph, max_rows=cfg.max_rows, max_cols=cfg.max_cols,
            update=cfg.update, pulse_scheme=upd.pulse_scheme, rounding=upd.rounding, bl=upd.bl,
            update_management=upd.update_management, weight_range=cfg.weight_range, seed=seed, tile_index=i,
            pulse_accumulation=upd.pulse_accumulation, bl_management=upd.bl_management)


@contextlib.contextmanager
def drifted_weights(model, t_s: float):
    """Temporarily read every stored weight ``t_s`` seconds after programming (digital storage
    does not drift); the device state is untouched."""
    with contextlib.ExitStack() as stack:
        for syn in model.all_synapses():
            stack.enter_context(syn.storage.drifted(t_s))
        yield
