"""The cost columns of the study tables (issue 19, DESIGN sections 7b and 10): which per-epoch
cost metrics of ``results.h5`` (:data:`analog_ep.train.costs.COST_HEADLINES`) a table shows, how a
run's value is read (its last epoch's) and how a cost is written in a text table (one format for
every command: :func:`fmt_cost`, e.g. ``2.70e-07 J``).

CSV, HDF5 and ``--json`` carry full precision; only the aligned text tables round.
"""

from __future__ import annotations

import math

UNITS = {"j": "J", "s": "s", "mm2": "mm2"}
"""The unit a metric's name ends in (``..._j``, ``..._s``, ``..._mm2``) -> its text unit."""


def last_epoch(ep: dict, key: str) -> float | None:
    """The last epoch's ``ep[key]`` as a float; None when the run has no such column, no epoch,
    or the last epoch's value is unknown (NaN: a card without write physics). The last epoch,
    not the last finite value: an unknown figure stays unknown."""
    import numpy as np

    if key not in ep:
        return None
    a = np.asarray(ep[key], dtype=np.float64).ravel()
    if not a.size or not math.isfinite(a[-1]):
        return None
    return float(a[-1])


def unit_of(key: str) -> str:
    """The unit of a cost column from its name (``energy_per_sample_j`` -> ``J``)."""
    stem = key[: -len("_mean")] if key.endswith("_mean") else key
    return UNITS.get(stem.rsplit("_", 1)[-1], "")


def fmt_cost(v, unit: str = "") -> str:
    """A cost in a text table: three significant digits in exponent form with its unit
    (``2.70e-07 J``), ``-`` when unknown or missing."""
    if v is None or not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
        return "-"
    return f"{v:.2e} {unit}".rstrip()


__all__ = ["UNITS", "fmt_cost", "last_epoch", "unit_of"]
