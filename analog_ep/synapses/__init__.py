"""Digital synapses implementing the read / transposed read / correlate protocol."""

from .base import Synapse
from .dense import Dense

__all__ = ["Dense", "Synapse"]
