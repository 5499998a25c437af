"""What one programming pulse costs: the device card's write physics, priced at a conductance.

A :class:`WriteModel` is the card's ``write:`` section (:class:`analog_ep.analog.cards.WritePhysics`)
plus the card's conductance window, for the layers whose counts carry no mean conductance.
Energy of one pulse (hardware_costs.md §3.1 [code: DNN_NeuroSim_V2.1
``ProcessingUnit.cpp::GetWriteUpdateEstimation``; MLP_NeuroSim_V3.0 ``Cell.cpp``])::

    E_pulse = e_set_j                       (a quoted energy per pulse), else
            = v_set^2 * G * t_set_s         (NeuroSim's E = V_w^2 / R * t_w * n, per pulse)

with G the layer's mean device conductance (the counts' ``g_mean_us``), else the midpoint of the
card's window; the same for reset (depression) pulses. A layer's write energy is
``set_pulses E_set + reset_pulses E_reset``: zero when it sent no pulse, None (unknown, never 0)
when it sent pulses whose cost the card does not give (:meth:`WriteModel.warning`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from ..analog.cards import WRITE_POLARITIES, DeviceCard, WritePhysics, card_g_mid_s, write_warning


@dataclass(frozen=True)
class WriteModel:
    """A card's write physics and conductance window, as the cost model prices them."""

    card: str
    """Name of the device card (or ``"none"`` when there is none)."""
    physics: Optional[WritePhysics]
    """The card's ``write:`` section, None when the card has none."""
    g_mid_s: Optional[float]
    """Midpoint of the card's conductance window (S), None without a card."""
    warning_text: Optional[str] = None
    """The one-line warning when some write cost is unknown (:func:`analog_ep.analog.cards.write_warning`)."""

    @classmethod
    def from_card(cls, card: DeviceCard) -> "WriteModel":
        return cls(card.name, card.write, card_g_mid_s(card), write_warning(card))

    @classmethod
    def none(cls) -> "WriteModel":
        """No device card: every write cost unknown."""
        return cls("none", None, None, "no device card: write energy and latency are reported as unknown (null); "
                                       "pass --device CARD with a write: section")

    def energy_j(self, polarity: str, g_s: Optional[float]) -> Optional[float]:
        """Energy (J) of one ``polarity`` pulse at ``g_s`` (S; None = the window midpoint)."""
        if self.physics is None:
            return None
        return self.physics.energy_j(polarity, g_s if g_s is not None else self.g_mid_s)

    def width_s(self, polarity: str) -> Optional[float]:
        """Width (s) of one ``polarity`` pulse, None when unknown."""
        return None if self.physics is None else self.physics.width_s(polarity)

    def warning(self) -> Optional[str]:
        return self.warning_text


def as_write_model(write: Any) -> WriteModel:
    """A :class:`WriteModel` from what :func:`analog_ep.hardware.price` accepts: a model, a
    :class:`~analog_ep.analog.cards.DeviceCard`, or None (no card)."""
    if write is None:
        return WriteModel.none()
    if isinstance(write, WriteModel):
        return write
    return WriteModel.from_card(write)


__all__ = ["WRITE_POLARITIES", "WriteModel", "as_write_model"]
