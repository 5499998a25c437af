"""HDF5 run store: resolved config, provenance, per-epoch metrics. Written atomically."""

from .store import read_results, write_results

__all__ = ["read_results", "write_results"]
