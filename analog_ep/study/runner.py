"""The one runner of studies: what ``sweep`` and ``compare`` share.

- **Run folders**: :func:`folder_status` reads a folder's status; :func:`run_folder` resumes or
  starts the run in one folder (a completed run is left alone, an interrupted one resumes from
  its checkpoint when that loads, anything else starts afresh with only its run files replaced,
  after ``train``'s first-phase check of a given settle step; torch's global generator seeded
  from the run's seed by :func:`~analog_ep.train.loop.make_trainer`, as in ``train``) and returns
  the run's own failure as a one-line error (:func:`one_line`).
- **Reading**: :func:`read_epochs` (status and per-epoch results of a folder),
  :func:`last_finite`, :func:`accuracy_curve`.
- **Statistics over seeds**: :func:`mean` and :func:`std` (sample, n - 1) of the finite values.
- **Study folders**: :func:`open_study_dir` is the one place a study opens its folder: a folder
  belongs to one kind of study (``sweep`` or ``compare``, recorded in ``study.json``;
  :func:`study_kind` also recognizes older study folders and run folders by their files), and
  another kind is refused (:func:`check_study_dir`).
- **Tables**: :func:`write_table` (CSV and, optionally, HDF5; temporary files then renames, with
  SIGINT and SIGTERM held until both are in place: :func:`deferred_signals`), :func:`cell` (how a
  value is written in a CSV cell), :func:`write_text`.
- **Figures**: :func:`write_curves` draws test accuracy per epoch per group of runs with
  :func:`analog_ep.report.figures.seed_curves_figure`.

Nothing here knows what a sweep point or a compare variant is; the study modules build their
rows from these pieces.
"""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable

import yaml

from ..errors import AnalogEPError, ConfigError, DivergenceError, Preempted
from ..rundir import RUN_FILES, check_out_dir, open_out_dir, remove_run_files

DONE = ("finished", "unhealthy")
"""Statuses of a run that completed (``unhealthy``: finished but flagged by
:mod:`analog_ep.train.health`)."""
RESUMABLE = ("running", "interrupted", "preempted", "missing")
"""Statuses from which a run resumes when its folder holds a checkpoint."""


# ------------------------------------------------------------------------------ run folders
def folder_status(folder: str | Path) -> str:
    """The status in ``folder/results.h5`` (finished, unhealthy, running, interrupted, diverged, ...),
    ``missing`` without one, ``corrupt`` when unreadable."""
    from ..results import read_results

    path = Path(folder) / "results.h5"
    if not path.is_file():
        return "missing"
    try:
        return read_results(path)["status"] or "corrupt"
    except AnalogEPError:
        return "corrupt"


def one_line(e: BaseException) -> str:
    """An exception as one line: an :class:`AnalogEPError`'s first line as it is, anything else
    prefixed with its type (``RuntimeError: ...``)."""
    msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return msg if isinstance(e, AnalogEPError) else f"{type(e).__name__}: {msg}".rstrip(": ")


def run_folder(folder: str | Path, cfg, data=None, done: tuple[str, ...] = DONE, create: bool = False) -> dict:
    """Resume or start the run of ``cfg`` in ``folder``: a status in ``done`` is left alone
    (``skipped``); a status in :data:`RESUMABLE` with a ``checkpoint.pt`` resumes from it when it
    loads; anything else starts afresh (torch's global generator seeded from the run's seed by
    :func:`~analog_ep.train.loop.make_trainer`, as ``analog-ep train`` seeds it, whatever runs
    its process ran before; only the folder's run files replaced; ``create``: the folder made
    first). A fresh run whose given ``analog.settle_dt_s`` is above its first settle phase's
    measured bound is refused as ``train`` refuses it
    (:func:`~analog_ep.train.first_phase.first_phase_check`) before the folder is created or its
    files removed: status ``failed``, the refusal's one line as ``error``.
    ``data``: an already loaded ``(train, test, info)``.

    Returns ``{"status", "error", "resumed", "skipped"}`` (status: the skipped folder's, or what
    :func:`~analog_ep.train.loop.fit` returned, or ``diverged`` / ``failed`` with the one-line
    ``error``). :class:`~analog_ep.errors.Preempted` and ``KeyboardInterrupt`` are raised (the run
    has recorded them and kept its checkpoint)."""
    folder = Path(folder)
    out = {"status": "failed", "error": None, "resumed": False, "skipped": False}
    try:
        from ..train.first_phase import first_phase_check
        from ..train.loop import fit, make_trainer, resume_trainer

        state = folder_status(folder)
        if state in done:
            return {**out, "status": state, "skipped": True}
        trainer = None
        if state in RESUMABLE and (folder / "checkpoint.pt").is_file():
            try:
                trainer = resume_trainer(folder, cfg)
                out["resumed"] = True
            except AnalogEPError:
                trainer = None
        if trainer is None:
            trainer = make_trainer(cfg, folder, data=data)
            # as ``train``: a given settle step above its first phase's measured bound is refused
            # (the one line naming the bound and the fix, returned as this run's error) before the
            # folder is created or its old run files removed
            first_phase_check(trainer)
            if create:
                folder.mkdir(parents=True, exist_ok=True)
            remove_run_files(folder)
        out["status"] = fit(trainer, progress=False)["status"]
    except DivergenceError as e:
        out.update(status="diverged", error=one_line(e))
    except Preempted:
        raise
    except Exception as e:  # noqa: BLE001 - a run's failure is returned, the study goes on
        out.update(status="failed", error=one_line(e))
    return out


# ----------------------------------------------------------------------------- study folders
STUDY_FILE = "study.json"
"""The marker of a study folder: ``{"kind": "sweep"}`` or ``{"kind": "compare"}``."""
STUDY_KINDS = ("sweep", "compare")
KIND_FILES = (("sweep", ("sweep.csv", "sweep.h5")), ("compare", ("compare.yaml", "compare.csv")),
              ("run", RUN_FILES))
"""How a folder without ``study.json`` shows its kind: the files each kind writes (study folders
from before the marker, and run folders)."""


def _kind_evidence(folder: Path) -> tuple[str, str] | None:
    """``(kind, what shows it)`` of ``folder``, or None for a folder of no kind (new or empty)."""
    marker = folder / STUDY_FILE
    if marker.is_file():
        try:
            kind = json.loads(marker.read_text()).get("kind")
        except (OSError, ValueError, AttributeError):
            kind = None
        if kind in STUDY_KINDS:
            return kind, STUDY_FILE
    for kind, names in KIND_FILES:
        found = [n for n in names if (folder / n).exists()]
        if found:
            return kind, ", ".join(found)
    return None


def study_kind(folder: str | Path) -> str | None:
    """``sweep``, ``compare`` or ``run`` (a run folder: ``checkpoint.pt`` or ``results.h5``) for
    what ``folder`` holds; None for a missing or empty folder, or one of none of these kinds."""
    found = _kind_evidence(Path(folder))
    return None if found is None else found[0]


def check_study_dir(folder: str | Path, kind: str) -> None:
    """Refuse, writing nothing, a folder that holds another kind of study or a run (``kind``:
    ``sweep``, ``compare``; ``run`` for a run's ``--out``, which refuses study folders only)."""
    folder = Path(folder)
    found = _kind_evidence(folder)
    if found is None or found[0] == kind or (kind == "run" and found[0] == "run"):
        return
    other, evidence = found
    what = "a run folder" if other == "run" else f"a {other} folder"
    mine = "a run" if kind == "run" else f"a {kind}"
    raise ConfigError(f"{folder}: is {what} ({evidence}); a folder holds one study or run, so {mine} cannot "
                      "go there: pick another --out")


def open_study_dir(folder: str | Path, kind: str) -> Path:
    """The one place a study opens its folder: :func:`check_study_dir` and the output-folder
    checks of :func:`~analog_ep.rundir.check_out_dir` (a file, or a path under one, is one
    ``ConfigError`` naming it), then the folder is created (with its parents) and marked as
    ``kind`` in ``study.json``. Returns the folder."""
    if kind not in STUDY_KINDS:
        raise ValueError(f"study kind {kind!r}; valid: {', '.join(STUDY_KINDS)}")
    folder = Path(folder)
    check_study_dir(folder, kind)
    check_out_dir(folder)  # a file, a path under a file, an unwritable place: one line, nothing written
    open_out_dir(folder)
    if not (folder / STUDY_FILE).is_file():
        write_text(folder / STUDY_FILE, json.dumps({"kind": kind}) + "\n")
    return folder


# ---------------------------------------------------------------------------------- reading
def read_epochs(folder: str | Path) -> tuple[str, dict]:
    """A folder's status and its per-epoch results (``{}`` when missing or corrupt)."""
    from ..results import read_results

    status = folder_status(folder)
    if status in ("missing", "corrupt"):
        return status, {}
    return status, read_results(Path(folder) / "results.h5")["epochs"]


def last_finite(ep: dict, key: str) -> float | None:
    """The last finite value of ``ep[key]`` (None when there is none)."""
    import numpy as np

    v = np.asarray(ep.get(key, []), dtype=np.float64)
    v = v[np.isfinite(v)]
    return float(v[-1]) if v.size else None


def accuracy_curve(ep: dict) -> dict[int, float] | None:
    """``{epoch: test accuracy}`` over the evaluated epochs (finite values), None without any."""
    import numpy as np

    if not ep or "test_accuracy" not in ep:
        return None
    acc = np.asarray(ep["test_accuracy"], dtype=np.float64)
    epoch = np.asarray(ep.get("epoch", np.arange(1, acc.size + 1)), dtype=np.float64)
    keep = np.isfinite(acc)
    return dict(zip(epoch[keep].astype(int).tolist(), acc[keep].tolist()))


# ------------------------------------------------------------------------------- statistics
def finite(values: Iterable) -> list[float]:
    """The values that are numbers and finite (None, NaN and infinities dropped), as floats."""
    return [float(v) for v in values if v is not None and math.isfinite(v)]


def mean(values: Iterable) -> float | None:
    """Mean of the finite values; None when there is none."""
    v = finite(values)
    return sum(v) / len(v) if v else None


def std(values: Iterable) -> float | None:
    """Sample standard deviation (n - 1) of the finite values; 0 for one value, None for none."""
    v = finite(values)
    if not v:
        return None
    if len(v) == 1:
        return 0.0
    m = sum(v) / len(v)
    return math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1))


# ----------------------------------------------------------------------------------- tables
def yaml_value(value: Any) -> str:
    """``value`` as the YAML text that ``--set key=TEXT`` parses back to exactly ``value``."""
    text = yaml.safe_dump(value, default_flow_style=True, width=1 << 30)
    if text.endswith("\n...\n"):
        text = text[:-5]
    return text.strip()


def cell(v: Any) -> str:
    """A value as a CSV cell: empty for None, ``true``/``false``, ``repr`` of a float (round
    trips), other non-strings as YAML flow text."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, (int, str)):
        return str(v)
    return yaml_value(v)


def write_text(path: Path, text: str) -> None:
    """Write ``path`` through a temporary file and a rename."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


HELD_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def deferred_signals(signums: tuple = HELD_SIGNALS):
    """Hold ``signums`` (Ctrl-C, SIGTERM) while the block runs and deliver them, once each, to
    the handlers in place before it when it ends (normally or not), so a table write is never
    cut in half. Only the main thread receives Python signals: elsewhere a plain block."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    got: list[int] = []

    def hold(signum, frame) -> None:
        got.append(signum)

    old = {s: signal.signal(s, hold) for s in signums}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)
        for s in dict.fromkeys(got):
            signal.raise_signal(s)  # the restored handler runs now (it may raise)


def write_table(rows: list[dict], columns: list[str], csv_path: Path, h5_path: Path | None = None,
                numeric: tuple[str, ...] = (), integer: tuple[str, ...] = ()) -> Path:
    """The table as ``csv_path`` (a header, then :func:`cell` per value; a missing value of a
    ``numeric`` column is ``nan``, elsewhere empty) and, with ``h5_path``, as HDF5 (one dataset
    per column in column order, the order in the ``columns`` attribute as JSON; ``integer``
    columns int64, ``numeric`` columns and all-number columns float64 with NaN for missing,
    anything else strings). Both files are written to temporary names and renamed, with SIGINT
    and SIGTERM held until both are in place (:func:`deferred_signals`): the two files always
    hold the same rows and no temporary file is left. Returns ``csv_path``."""
    tmps = [p.with_name(p.name + ".tmp") for p in (csv_path, h5_path) if p is not None]
    with deferred_signals():
        try:
            _write_files(rows, columns, csv_path, h5_path, numeric, integer)
        finally:
            for tmp in tmps:
                tmp.unlink(missing_ok=True)
    return csv_path


def _write_files(rows: list[dict], columns: list[str], csv_path: Path, h5_path: Path | None,
                 numeric: tuple[str, ...], integer: tuple[str, ...]) -> None:
    """:func:`write_table`'s two temporary files, then the two renames."""
    tmp_csv = csv_path.with_name(csv_path.name + ".tmp")
    with open(tmp_csv, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(columns)
        for r in rows:
            w.writerow(["nan" if c in numeric and r.get(c) is None else cell(r.get(c)) for c in columns])
    if h5_path is not None:
        import h5py
        import numpy as np

        tmp = h5_path.with_name(h5_path.name + ".tmp")
        with h5py.File(tmp, "w", track_order=True) as f:
            f.attrs["columns"] = json.dumps(columns)
            for c in columns:
                values = [r.get(c) for r in rows]
                if c in integer:
                    f.create_dataset(c, data=np.array(values, dtype=np.int64))
                elif c in numeric or (values and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                     for v in values)):
                    f.create_dataset(c, data=np.array([np.nan if v is None else v for v in values],
                                                      dtype=np.float64))
                else:
                    f.create_dataset(c, data=[cell(v) for v in values], dtype=h5py.string_dtype())
        os.replace(tmp, h5_path)
    os.replace(tmp_csv, csv_path)


def read_table(path: str | Path) -> list[dict]:
    """The rows of a CSV table as dicts of strings."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# ---------------------------------------------------------------------------------- figures
def write_curves(out: Path, groups: dict[str, list[Path]], stem: str = "curves") -> list[str]:
    """``out/<stem>.png`` and ``.svg``: test accuracy per epoch for each group of run folders
    (in the order given), the mean over its runs with a min-max band
    (:func:`~analog_ep.report.figures.seed_curves_figure`); folders without results are left out.
    Returns both paths."""
    from ..report.figures import save_figure, seed_curves_figure

    curves = {}
    for name, folders in groups.items():
        found = [c for c in (accuracy_curve(read_epochs(f)[1]) for f in folders) if c is not None]
        if found:
            curves[name] = found
    png, svg = save_figure(seed_curves_figure(curves), out, stem, tight=True)
    return [str(png), str(svg)]


__all__ = ["DONE", "RESUMABLE", "STUDY_FILE", "accuracy_curve", "cell", "check_study_dir",
           "deferred_signals", "finite", "folder_status", "last_finite", "mean", "one_line", "open_study_dir",
           "read_epochs", "read_table", "run_folder", "std", "study_kind", "write_curves", "write_table",
           "write_text", "yaml_value"]
