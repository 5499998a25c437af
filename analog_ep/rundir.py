"""Run folders: never destroyed, never shared.

A run folder is one that holds a run's files (``checkpoint.pt`` or ``results.h5``). A new run
refuses such a folder unless the user says ``--overwrite``; default folder names are claimed
with an atomic ``mkdir`` (no ``exist_ok``), adding ``-2``, ``-3``, ... on a collision, so two runs
started in the same second, or in parallel processes, never share a folder. Only the standard
library is imported here (the checks run before torch is loaded).
"""

from __future__ import annotations

import os
import shlex
import tempfile
from pathlib import Path

from .errors import ConfigError

RUN_FILES = ("checkpoint.pt", "results.h5")
"""The files that make a folder a run folder (and that ``--overwrite`` replaces)."""


def run_files(path: str | Path) -> list[str]:
    """The run files present in ``path`` (empty when it is not a run folder)."""
    path = Path(path)
    return [name for name in RUN_FILES if (path / name).exists()]


def is_run_dir(path: str | Path) -> bool:
    return bool(run_files(path))


def device_name(cfg) -> str | None:
    """The device card's name in run and study folder names (the card file's stem, ``memristor``
    for ``devices/memristor.yaml``), or None for a digital run (``cfg.analog.device`` unset)."""
    d = cfg.analog.device
    if d is None:
        return None
    name = Path(d).name
    return name[:-5] if name.endswith(".yaml") else name


def resume_command(path: str | Path) -> str:
    """The shell command that continues the run in ``path``."""
    return f"analog-ep train --resume {shlex.quote(str(path))}"


def _first_existing(path: Path) -> Path:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def check_out_dir(path: str | Path, overwrite: bool = False) -> None:
    """Refuse, writing nothing, an output folder that a new run cannot use: a path that is a
    file (or lies under one), one whose nearest existing folder is not writable, or an existing
    run folder (unless ``overwrite``)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{path}: exists and is not a folder; pick another --out")
    base = _first_existing(path)
    if not base.is_dir():
        raise ConfigError(f"{path}: cannot create the output folder ({base} is a file); pick another --out")
    if not os.access(base, os.W_OK | os.X_OK):
        what = "output folder" if base == path else f"output folder ({base} is not writable)"
        raise ConfigError(f"{path}: cannot write the {what}; pick another --out")
    found = run_files(path)
    if found and not overwrite:
        raise ConfigError(f"{path}: already holds a run ({', '.join(found)}); continue it with --resume {path}, "
                          "replace it with --overwrite, or pick another --out")


def open_out_dir(path: str | Path) -> Path:
    """Create ``path`` (and its parents) if needed and check that a file can be written in it
    (a temporary file, removed at once); any failure is one ``ConfigError`` naming the path."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as e:
        raise ConfigError(f"{path}: cannot write the output folder ({e.strerror or e.__class__.__name__}); "
                          "pick another --out") from None
    return path


def claim_run_dir(path: str | Path, max_tries: int = 10000) -> Path:
    """Create a fresh folder ``path``, or ``path-2``, ``path-3``, ... if taken, atomically: the
    ``mkdir`` that succeeds owns the folder, so concurrent callers always get different ones."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        for i in range(1, max_tries + 1):
            cand = path if i == 1 else path.with_name(f"{path.name}-{i}")
            try:
                cand.mkdir()
                return cand
            except FileExistsError:
                continue
    except OSError as e:
        raise ConfigError(f"{path}: cannot create the output folder ({e.strerror or e.__class__.__name__}); "
                          "pick a writable folder with --out") from None
    raise ConfigError(f"{path}: {max_tries} folders of this name exist already; pick a folder with --out")


def remove_run_files(path: str | Path) -> None:
    """``--overwrite``: delete the old run's files (and their temporary files) in ``path``,
    nothing else."""
    path = Path(path)
    for name in RUN_FILES:
        for p in (path / name, path / (name + ".tmp")):
            try:
                p.unlink()
            except FileNotFoundError:
                pass
