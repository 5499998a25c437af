"""``analog-ep runs``: one table of the run folders found under some folders.

A run folder is a folder holding ``results.h5``. Each row: the run's path, the config keys whose
values differ between the runs found (dotted keys flattened from each run's stored config; keys
equal in every readable run are left out), the device (card name or ``digital``), the status,
epochs done, final and best test accuracy, final train accuracy and loss, pulses (the sum of
``pulses_layer*`` over epochs, 0 for digital), seconds (training seconds summed over epochs,
evaluation excluded) and what the learning costs (:data:`COST_COLUMNS`, the last epoch's figures
of ``results.h5``, issue 19): energy and latency per training sample on the chip (analog runs) and
the GPU estimate of the same run's matrix products (every run; the figure to read for a digital
run). Empty (JSON null) where unknown or where an older results file has no such column. A
results file that cannot be read is listed with status ``unreadable``.
"""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path

import numpy as np
import yaml

from ..errors import AnalogEPError, ConfigError
from ..results import read_results
from .costcols import fmt_cost, last_epoch, unit_of

#: the cost columns (last epoch of ``results.h5``; J and s per training sample)
COST_COLUMNS = ("energy_per_sample_j", "latency_per_sample_s", "gpu_energy_per_sample_j", "gpu_latency_per_sample_s")
#: the table's columns after ``path`` and the differing config keys
COLUMNS = ("device", "status", "epochs", "test_accuracy", "best_test_accuracy", "train_accuracy",
           "train_loss", "pulses", "seconds", *COST_COLUMNS)

_MISSING = object()


def find_runs(folders: list[str | Path]) -> list[Path]:
    """Every folder holding ``results.h5`` at or under ``folders`` (recursively), sorted, each once."""
    found: dict[str, Path] = {}
    for folder in folders:
        p = Path(folder)
        if p.is_file() and p.name == "results.h5":
            p = p.parent
        if not p.is_dir():
            raise ConfigError(f"{folder}: no such folder; pass folders holding run folders (with results.h5)")
        for r in [p / "results.h5", *sorted(p.rglob("*/results.h5"))]:
            if r.is_file():
                found.setdefault(os.path.normpath(r.parent), r.parent)
    return [found[k] for k in sorted(found)]


def flatten(d: dict, prefix: str = "") -> dict:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists stay values, empty mappings add no key."""
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _last_finite(a) -> float | None:
    a = np.asarray(a, dtype=np.float64)
    a = a[np.isfinite(a)]
    return float(a[-1]) if a.size else None


def _best(a) -> float | None:
    a = np.asarray(a, dtype=np.float64)
    a = a[np.isfinite(a)]
    return float(a.max()) if a.size else None


def run_row(run_dir: Path) -> tuple[dict, dict | None, str | None]:
    """``(row without config keys, flattened config or None, error or None)`` for one run folder."""
    row = {"path": str(run_dir), **{c: None for c in COLUMNS}}
    try:
        r = read_results(run_dir / "results.h5")
        cfg = yaml.safe_load(r["config_yaml"])
        if not isinstance(cfg, dict):
            raise AnalogEPError(f"{run_dir / 'results.h5'}: the stored config is not a mapping")
    except (AnalogEPError, yaml.YAMLError, UnicodeDecodeError) as e:
        row["status"] = "unreadable"
        return row, None, str(e).splitlines()[0] if str(e) else e.__class__.__name__
    ep = r["epochs"]
    pulses = sum(float(np.nansum(v)) for k, v in ep.items() if k.startswith("pulses_layer"))
    row.update({
        "device": r["device"] or "digital",
        "status": r["status"] or "unknown",
        "epochs": int(len(ep["epoch"])) if "epoch" in ep else 0,
        "test_accuracy": _last_finite(ep.get("test_accuracy", [])),
        "best_test_accuracy": _best(ep.get("test_accuracy", [])),
        "train_accuracy": _last_finite(ep.get("train_accuracy", [])),
        "train_loss": _last_finite(ep.get("train_loss", [])),
        "pulses": int(round(pulses)),
        "seconds": float(np.nansum(ep["seconds"])) if "seconds" in ep else 0.0,
        **{c: last_epoch(ep, c) for c in COST_COLUMNS},
    })
    return row, flatten(cfg), None


def runs_table(folders: list[str | Path]) -> dict:
    """``{"runs": [row, ...], "keys": [differing config keys], "errors": {path: message}}``.

    Each row holds ``path``, ``config`` (``{key: value}`` for the differing keys; a key the run's
    config lacks, or every key of an unreadable run, is left out) and :data:`COLUMNS`. Raises :class:`ConfigError` when
    no run folder is found."""
    dirs = find_runs(folders)
    if not dirs:
        raise ConfigError(f"no run found (a folder holding results.h5) under {', '.join(map(str, folders))}")
    rows, cfgs, errors = [], [], {}
    for d in dirs:
        row, cfg, err = run_row(d)
        rows.append(row)
        cfgs.append(cfg)
        if err is not None:
            errors[row["path"]] = err
    readable = [c for c in cfgs if c is not None]
    keys: list[str] = []
    for c in readable:
        for k in c:
            if k not in keys:
                keys.append(k)
    differ = [k for k in keys if any(_canon(c.get(k, _MISSING)) != _canon(readable[0].get(k, _MISSING))
                                     for c in readable)]
    for row, cfg in zip(rows, cfgs):
        row["config"] = {k: cfg[k] for k in differ if cfg is not None and k in cfg}
    rows = [{"path": r["path"], "config": r["config"], **{c: r[c] for c in COLUMNS}} for r in rows]
    return {"runs": rows, "keys": differ, "errors": errors}


def _canon(v):
    return v if v is _MISSING else json.dumps(v, sort_keys=True, default=str)


def cell(v, digits: int | None = None) -> str:
    """A table / CSV cell: empty for None, JSON for lists and mappings, ``repr``-exact floats
    (or ``digits`` decimals)."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if digits is not None and math.isfinite(v):
            return f"{v:.{digits}f}"
        return repr(v)
    if isinstance(v, (list, dict)):
        return json.dumps(v)
    return str(v)


def config_cell(config: dict, key: str) -> str:
    """A config value's cell: ``null`` for None (a key set to null), empty where the run's
    config lacks the key."""
    if key not in config:
        return ""
    return "null" if config[key] is None else cell(config[key])


def header(table: dict) -> list[str]:
    return ["path", *table["keys"], *COLUMNS]


def flat_rows(table: dict, digits: int | None = None) -> list[list[str]]:
    return [[cell(r["path"]), *(config_cell(r["config"], k) for k in table["keys"]),
             *(cell(r[c], digits) for c in COLUMNS)] for r in table["runs"]]


def write_csv(table: dict, path: str | Path) -> None:
    """The table as CSV (full precision), written to a temporary file and renamed."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(header(table))
            w.writerows(flat_rows(table))
        os.replace(tmp, path)
    except OSError as e:
        raise ConfigError(f"{path}: cannot write the CSV file ({e.strerror or e})") from e


def format_table(table: dict) -> list[str]:
    """Aligned text lines (accuracies and losses with 4 decimals, seconds with 1, costs as
    :func:`~analog_ep.study.costcols.fmt_cost`; ``-`` where there is no value)."""
    head = header(table)
    body = []
    for r in table["runs"]:
        cells = [cell(r["path"]), *(config_cell(r["config"], k) or "-" for k in table["keys"])]
        for c in COLUMNS:
            v = r[c]
            if c in COST_COLUMNS:
                cells.append(fmt_cost(v, unit_of(c)))
            else:
                cells.append(cell(v, 1 if c == "seconds" else 4) if isinstance(v, float) else cell(v) or "-")
        body.append(cells)
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]
    numeric = set(range(len(head) - len(COLUMNS) + 2, len(head)))  # epochs onwards: right-aligned
    return ["  ".join(c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(line, widths))).rstrip()
            for line in [head, *body]]


__all__ = ["COLUMNS", "COST_COLUMNS", "find_runs", "flatten", "runs_table", "write_csv", "format_table", "flat_rows",
           "header", "cell", "config_cell"]
