"""Digital synapses implementing the read / transposed read / correlate protocol."""

from .base import Synapse
from .dense import Dense
from .conv import Conv, ConvPool, Skip

__all__ = ["Dense", "Synapse", "Conv", "ConvPool", "Skip"]
