"""Downsampled ImageNet (Chrabaszcz, Loshchilov & Hutter 2017, arXiv:1707.08819): npz batches.

image-net.org distributes ``Imagenet32_train_npz`` / ``Imagenet64_train_npz`` (``imagenet32`` /
``imagenet64``): ``train_data_batch_1.npz`` ... ``train_data_batch_10.npz`` and ``val_data.npz``.
Each archive holds ``data``, a uint8 array (N, 3 S S) whose rows are channel planar (the R
plane, then G, then B, each S x S row-major, so a row reshapes to (3, S, S)), ``labels`` (N,
1-based class indices 1..1000) and, in the training batches, ``mean`` (not used: normalization
uses fixed constants). The training batches may come in several archives: extract them all
into one folder. ImageNet32 train is 1 281 167 images, 3.9 GB as uint8;
ImageNet64 train is 15.7 GB as uint8 (use ``data.train_size`` for a subset on smaller machines).

Memory: the label arrays are read first (small), the subset is drawn over all of them, and only
the chosen rows of each batch are copied into one preallocated uint8 array, so the peak is the
kept images plus one decompressed batch; a batch none of whose rows are chosen is not read.
Archives are read with ``allow_pickle=False``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

import numpy as np

from ..errors import DataError
from ._files import find_file, resolve_root

NUM_CLASSES = 1000
SIDES = {"imagenet32": 32, "imagenet64": 64}
TRAIN_FILES = tuple(f"train_data_batch_{i}.npz" for i in range(1, 11))
VAL_FILE = "val_data.npz"

Pick = Callable[[int], Optional[np.ndarray]]


def _open(path: Path):
    try:
        archive = np.load(path, allow_pickle=False)
    except OSError as exc:
        raise DataError(f"cannot read file '{path}': {exc.strerror or exc}") from exc
    except Exception as exc:  # zipfile / format errors on a corrupt file
        raise DataError(
            f"file '{path}' is not a readable npz archive ({type(exc).__name__}: {exc}); "
            f"re-download it"
        ) from exc
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(
            f"file '{path}' holds a single array, expected an npz archive with 'data' and "
            f"'labels'; it is not a downsampled ImageNet batch"
        )
    return archive


def _member(archive, path: Path, key: str) -> np.ndarray:
    if key not in archive.files:
        raise DataError(
            f"file '{path}' has no '{key}' entry (entries: {sorted(archive.files)}); it is not a "
            f"downsampled ImageNet batch"
        )
    try:
        return archive[key]
    except Exception as exc:  # truncated member, bad zlib stream, object array
        raise DataError(
            f"file '{path}': cannot read '{key}' ({type(exc).__name__}: {exc}); it is corrupt, "
            f"re-download it"
        ) from exc


def _read_labels(path: Path) -> np.ndarray:
    """The 0-based int64 labels of one archive, checked to be 1..1000 in the file."""
    with _open(path) as archive:
        y = _member(archive, path, "labels")
    if y.ndim != 1 or y.shape[0] == 0 or not np.issubdtype(y.dtype, np.integer):
        raise DataError(
            f"file '{path}': 'labels' has shape {y.shape} and dtype {y.dtype}, expected N >= 1 "
            f"integer labels; it is corrupt"
        )
    if y.min() < 1 or y.max() > NUM_CLASSES:
        bad = int(np.argmax((y < 1) | (y > NUM_CLASSES)))
        raise DataError(
            f"file '{path}': label {int(y[bad])} at index {bad} is outside 1..{NUM_CLASSES} (the "
            f"downsampled ImageNet labels are 1-based); it is corrupt or another dataset"
        )
    return y.astype(np.int64) - 1


def _read_data(path: Path, n: int, side: int, dataset: str) -> np.ndarray:
    flat = 3 * side * side
    with _open(path) as archive:
        x = _member(archive, path, "data")
    if x.ndim != 2 or x.shape != (n, flat) or x.dtype != np.uint8:
        other = {3 * s * s: name for name, s in SIDES.items() if s != side}
        guess = (f"; rows of {x.shape[1]} values are {other[x.shape[1]]} images"
                 if x.ndim == 2 and x.shape[1] in other else "")
        raise DataError(
            f"file '{path}': 'data' has shape {x.shape} and dtype {x.dtype}, expected uint8 "
            f"({n}, {flat}) (one 3x{side}x{side} image per label) for {dataset}{guess}; it is "
            f"corrupt or belongs to another dataset"
        )
    return x


def _load(paths: list[Path], labels: list[np.ndarray], idx: Optional[np.ndarray], side: int,
          dataset: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (n, 3, side, side) uint8 and labels of the global rows ``idx`` (None = all)."""
    counts = [y.shape[0] for y in labels]
    y_all = np.concatenate(labels)
    rows = np.arange(y_all.shape[0]) if idx is None else idx
    out = np.empty((rows.shape[0], 3 * side * side), dtype=np.uint8)
    start = 0
    for path, n in zip(paths, counts):
        lo, hi = np.searchsorted(rows, [start, start + n])
        if hi > lo:
            x = _read_data(path, n, side, dataset)
            out[lo:hi] = x if hi - lo == n else x[rows[lo:hi] - start]
            del x
        start += n
    return out.reshape(-1, 3, side, side), y_all[rows]


def load_downsampled(root: str | None, dataset: str, pick_train: Pick, pick_test: Pick):
    """Return ``(x_train, y_train, x_test, y_test)``: uint8 (n, 3, S, S), int64 0-based (n,).

    ``pick_train`` / ``pick_test`` map the number of available examples to the sorted indices
    to keep (None = all); only those images are kept in memory.
    """
    side = SIDES[dataset]
    base = resolve_root(root, dataset, "the npz batches")
    hint = (
        f"extract image-net.org's downsampled ImageNet archives (Imagenet{side}_train..._npz, "
        f"Imagenet{side}_val_npz) into one folder holding {TRAIN_FILES[0]} .. "
        f"{TRAIN_FILES[-1]} and {VAL_FILE}, and point data.root at it (--set data.root=PATH)"
    )
    # Locate every file before reading any, so a missing one fails fast.
    train_paths = [find_file([base], n, dataset, gz=False, hint=hint) for n in TRAIN_FILES]
    val_path = find_file([base], VAL_FILE, dataset, gz=False, hint=hint)

    train_labels = [_read_labels(p) for p in train_paths]
    val_labels = [_read_labels(val_path)]
    idx_tr = pick_train(sum(y.shape[0] for y in train_labels))
    idx_te = pick_test(val_labels[0].shape[0])
    x_tr, y_tr = _load(train_paths, train_labels, idx_tr, side, dataset)
    x_te, y_te = _load([val_path], val_labels, idx_te, side, dataset)
    return x_tr, y_tr, x_te, y_te
