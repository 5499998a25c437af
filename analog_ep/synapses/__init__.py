"""Synapses implementing the read / transposed read / correlate protocol over a storage backend."""

from .base import Synapse
from .conv import Conv, ConvPool, Skip
from .dense import Dense
from .storage import DigitalStorage, ParameterStorage

__all__ = ["Conv", "ConvPool", "Dense", "DigitalStorage", "ParameterStorage", "Skip", "Synapse"]
