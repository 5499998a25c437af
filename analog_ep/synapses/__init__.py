"""Digital synapses implementing the read / transposed read / correlate protocol."""

from .base import DIGITAL, DigitalBackend, Synapse
from .dense import Dense
from .conv import Conv, ConvPool, Skip

__all__ = ["DIGITAL", "DigitalBackend", "Dense", "Synapse", "Conv", "ConvPool", "Skip"]
