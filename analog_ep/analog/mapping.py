"""Map a model's synapses onto analog tile arrays (the builder's analog step)."""

from __future__ import annotations

import contextlib
from typing import Optional

from ..config import AnalogConfig
from .cards import DeviceCard, WeightMapping, effective_mapping, effective_update
from .periphery import PeripheryParams
from .storage import AnalogStorage


def attach_storage(model, card: DeviceCard, periph: PeripheryParams, cfg: AnalogConfig, seed: int,
                   mapping: Optional[WeightMapping] = None) -> WeightMapping:
    """Give every synapse of ``model`` (auxiliary readouts included) an :class:`AnalogStorage`
    on ``card`` with periphery ``periph``: its digital weight is programmed into the devices
    with the weight mapping ``mapping`` (None: :func:`~.cards.effective_mapping` of the card
    and ``cfg``), which is returned.

    Tile array ``i`` (synapse order of ``model.all_synapses()``) draws its devices and every
    random stream from ``(seed, i)`` and takes the ``i``-th omega of a per-synapse list. The
    pulse-update settings are the card's ``update:`` section under the non-null ``analog.*`` keys
    (:func:`.cards.effective_update`)."""
    if mapping is None:
        mapping = effective_mapping(card, cfg)
    upd = effective_update(card, cfg)
    synapses = model.all_synapses()
    omegas = mapping.omegas(len(synapses))
    for i, (syn, omega) in enumerate(zip(synapses, omegas)):
        syn.storage = AnalogStorage(
            syn.weight.detach().clone(), card.params, periph, max_rows=cfg.max_rows, max_cols=cfg.max_cols,
            update=cfg.update, pulse_scheme=upd.pulse_scheme, rounding=upd.rounding, bl=upd.bl,
            update_management=upd.update_management, seed=seed, tile_index=i, mapping=mapping.kind, omega=omega,
            bp_backward=cfg.bp_backward, pulse_accumulation=upd.pulse_accumulation,
            bl_management=upd.bl_management)
    return mapping


@contextlib.contextmanager
def drifted_weights(model, t_s: float):
    """Temporarily read every stored weight ``t_s`` seconds after programming (digital storage
    does not drift); the device state is untouched."""
    with contextlib.ExitStack() as stack:
        for syn in model.all_synapses():
            stack.enter_context(syn.storage.drifted(t_s))
        yield
