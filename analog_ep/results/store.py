"""``results.h5`` layout.

* attrs ``config_yaml``: the resolved configuration (YAML text);
* attrs ``provenance/<key>``: package version, git commit, torch version, seed, host, date;
* group ``epochs``: one 1-D dataset per metric (``epoch``, ``train_loss``, ``train_accuracy``,
  ``test_loss``, ``test_accuracy``, ``seconds``, ``<phase>_mean_steps``,
  ``<phase>_converged_fraction`` ...), one entry per finished epoch (NaN where not measured);
* attrs ``status``: ``running``, ``finished``, ``unhealthy`` (the run finished but its loss
  exploded, its test loss is NaN or its relaxation stopped converging; the reason is in
  ``extra`` attrs ``unhealthy_reason``, see :mod:`analog_ep.train.health`), ``interrupted``,
  ``preempted`` (SIGTERM: a checkpoint was written after the step in progress, or before a test
  pass that it stopped) or ``diverged``;
* group ``traces``: per-step curves averaged over each epoch's batches, one 2-D (or 3-D)
  dataset per name with one row per epoch that recorded it, and ``<name>_epoch`` the epochs:
  ``nudge+_energy`` / ``nudge-_energy`` (EP on a PCN: total energy before and after each nudged
  iteration), ``pc_energy`` (PC: per-step, per-layer energy, shape (epochs, T + 1, L));
* group ``records``: per-epoch structured records as JSON text, one per epoch that has one, and
  ``<name>_epoch`` the epochs: ``event_counts`` (the epoch's hardware event counts, training and
  evaluation, :mod:`analog_ep.synapses.counters`; a chip can price them again later);
* group ``extra`` attrs: an analog run's card record (``device_name``, ``device_card_yaml`` ...)
  and ``unhealthy_reason`` when a health problem was found.

The file is written to a temporary name and renamed, so a reader never sees a partial file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import h5py
import numpy as np

from ..errors import CheckpointError


def write_results(path: str | Path, config_yaml: str, provenance: dict, history: list[dict],
                  status: str = "running", extra: dict | None = None) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    keys: list[str] = []
    trace_keys: list[str] = []
    record_keys: list[str] = []
    for row in history:
        for k, v in row.items():
            target = record_keys if isinstance(v, dict) else trace_keys if isinstance(v, (list, tuple)) else keys
            if k not in target:
                target.append(k)
    with h5py.File(tmp, "w") as f:
        _attr(f, "config_yaml", config_yaml)
        _attr(f, "status", status)
        prov = f.create_group("provenance")
        for k, v in provenance.items():
            _attr(prov, k, "" if v is None else v)
        ep = f.create_group("epochs")
        for k in keys:
            ep.create_dataset(k, data=np.array([row.get(k, np.nan) for row in history], dtype=np.float64))
        if trace_keys:
            tr = f.create_group("traces")
            for k in trace_keys:
                rows = [(row["epoch"], row[k]) for row in history if k in row]
                tr.create_dataset(k, data=np.array([r for _, r in rows], dtype=np.float64))
                tr.create_dataset(k + "_epoch", data=np.array([e for e, _ in rows], dtype=np.float64))
        if record_keys:  # per-epoch records (the epoch's event counts): JSON text, one per epoch that has one
            rec = f.create_group("records")
            for k in record_keys:
                rows = [(row["epoch"], row[k]) for row in history if k in row]
                rec.create_dataset(k, data=[json.dumps(r) for _, r in rows], dtype=h5py.string_dtype())
                rec.create_dataset(k + "_epoch", data=np.array([e for e, _ in rows], dtype=np.float64))
        if extra:
            ex = f.create_group("extra")
            for k, v in extra.items():
                _attr(ex, k, v)
    os.replace(tmp, path)


def _attr(obj, key: str, value) -> None:
    if isinstance(value, str):
        obj.attrs.create(key, value, dtype=h5py.string_dtype())
    else:
        obj.attrs[key] = value


def _str(v):
    return v.decode() if isinstance(v, bytes) else v


def read_results(path: str | Path) -> dict:
    """Return ``{"config_yaml", "status", "provenance": {...}, "epochs": {metric: array},
    "traces": {name: array}, "extra": {...}, "device": name or None}``, the same keys for digital and analog runs:
    ``extra`` holds the analog run's card record (``device_name``, ``device_card_yaml``,
    ``periphery_yaml`` ...) and ``unhealthy_reason`` when a health problem was found (``{}`` for a
    healthy digital run) and ``device`` the card's name (None for a
    digital run)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: results file not found")
    try:
        with h5py.File(path, "r") as f:
            out = {
                "config_yaml": _str(f.attrs["config_yaml"]),
                "status": _str(f.attrs.get("status", "")),
                "provenance": {k: _str(v.item() if hasattr(v, "item") else v)
                               for k, v in f["provenance"].attrs.items()},
                "epochs": {k: f["epochs"][k][()] for k in f["epochs"]},
            }
            out["traces"] = {k: f["traces"][k][()] for k in f["traces"]} if "traces" in f else {}
            out["records"] = ({k: ([json.loads(_str(s)) for s in f["records"][k][()]] if not k.endswith("_epoch")
                                   else f["records"][k][()]) for k in f["records"]} if "records" in f else {})
            out["extra"] = ({k: _str(v.item() if hasattr(v, "item") else v) for k, v in f["extra"].attrs.items()}
                            if "extra" in f else {})
            out["device"] = out["extra"].get("device_name") or None
            return out
    except (OSError, KeyError, ValueError, TypeError, AttributeError) as e:
        raise CheckpointError(f"{path}: unreadable results file ({e})") from e
