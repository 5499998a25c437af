"""Checkpoints: weights, optimizer, RNG states, warm-start state, epoch and history.

Saved with ``torch.save`` to a temporary file and renamed; loaded with ``weights_only=True``.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import torch
import yaml

from ..config import RunConfig, load_config
from ..errors import CheckpointError


def save_checkpoint(path: str | Path, payload: dict) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found; pass the output folder of an earlier "
                              "run to --resume")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile) as e:
        raise CheckpointError(f"{path}: unreadable checkpoint ({e.__class__.__name__}); "
                              "start a new run or resume from another folder") from e


def stored_config(ckpt: dict, overrides: list[str] | None = None, path: str | Path = "checkpoint.pt") -> RunConfig:
    """A checkpoint's stored config (its ``config_yaml``, as the run saved it) with ``overrides``
    (``--set KEY=VALUE``) on top, or the run's own config without them: the one parse of a stored
    run's config that ``train --resume`` (:mod:`.session`, :func:`.loop.resume_trainer`), ``bench
    --from`` (:func:`analog_ep.bench.load_run`), a distillation teacher (:class:`.teacher.Teacher`),
    ``drift`` (:mod:`analog_ep.study.drift`) and ``deploy`` (:func:`analog_ep.study.deploy.load_source`)
    share. A checkpoint without a readable config is refused (:class:`CheckpointError`, one line
    naming ``path``, the checkpoint's file); bad overrides are refused as for a new run."""
    text = ckpt.get("config_yaml") if isinstance(ckpt, dict) else None
    try:
        base = yaml.safe_load(text) if isinstance(text, str) else None
    except yaml.YAMLError:
        base = None
    if not isinstance(base, dict):
        raise CheckpointError(f"{path}: no readable config in the checkpoint (its config_yaml is missing or not a "
                              "YAML mapping); pass the folder of a run analog-ep train wrote")
    return load_config(None, list(overrides or []), base=base)

