"""Checkpoints: weights, optimizer, RNG states, warm-start state, epoch and history.

Saved with ``torch.save`` to a temporary file and renamed; loaded with ``weights_only=True``.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import torch

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
