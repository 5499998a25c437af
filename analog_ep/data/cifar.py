"""CIFAR-10 / CIFAR-100 python-pickle batches.

Each batch is a pickled dict with bytes keys (``pickle.load(f, encoding="bytes")``):
``b"data"`` a uint8 array (N, 3072) of 3x32x32 images, channels first, row-major, and
``b"labels"`` (CIFAR-10) or ``b"fine_labels"`` (CIFAR-100), N ints. Str keys are accepted too.

The unpickler is restricted to the few globals a numpy-array batch needs, so a hostile file
cannot run code; anything else is reported as a corrupt batch.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from ..errors import DataError
from ._files import find_file, resolve_root

IMAGE_SHAPE = (3, 32, 32)
_FLAT = 3 * 32 * 32

# name -> (subfolder of the official archive, train files, test files, label key, classes)
LAYOUTS = {
    "cifar10": (
        "cifar-10-batches-py",
        tuple(f"data_batch_{i}" for i in range(1, 6)),
        ("test_batch",),
        "labels",
        10,
    ),
    "cifar100": ("cifar-100-python", ("train",), ("test",), "fine_labels", 100),
}

_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
    ("builtins", "bytearray"),
    ("__builtin__", "bytearray"),
}


class _BatchUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load global '{module}.{name}'")
        return super().find_class(module, name)


def _get(batch: dict, key: str):
    if key.encode() in batch:
        return batch[key.encode()]
    return batch.get(key)


def read_batch(path: Path, label_key: str, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Load one batch file: uint8 images (N, 3, 32, 32) and int64 labels (N,)."""
    try:
        with open(path, "rb") as f:
            batch = _BatchUnpickler(f, encoding="bytes").load()
    except OSError as exc:
        raise DataError(f"cannot read file '{path}': {exc.strerror or exc}") from exc
    except Exception as exc:  # unpickling can raise nearly anything on a corrupt file
        raise DataError(
            f"file '{path}' is not a readable CIFAR batch ({type(exc).__name__}: {exc}); "
            f"re-download the python version of the dataset"
        ) from exc
    if not isinstance(batch, dict):
        raise DataError(
            f"file '{path}' holds a {type(batch).__name__}, expected a dict; "
            f"it is not a CIFAR python batch"
        )
    data, labels = _get(batch, "data"), _get(batch, label_key)
    for key, value in (("data", data), (label_key, labels)):
        if value is None:
            raise DataError(
                f"file '{path}' has no '{key}' entry; it is not a CIFAR python batch of this "
                f"dataset (keys: {sorted(str(k) for k in batch)})"
            )
    try:
        x = np.asarray(data)
        y = np.asarray(labels)
    except Exception as exc:
        raise DataError(f"file '{path}': cannot convert data/labels to arrays ({exc})") from exc
    if x.ndim != 2 or x.shape[1] != _FLAT or x.shape[0] == 0:
        raise DataError(
            f"file '{path}': 'data' has shape {x.shape}, expected (N, {_FLAT}) with N >= 1; "
            f"it is corrupt or not a CIFAR batch"
        )
    if x.dtype != np.uint8:
        if not np.issubdtype(x.dtype, np.integer) or x.min() < 0 or x.max() > 255:
            raise DataError(
                f"file '{path}': 'data' has dtype {x.dtype}, expected uint8 pixels 0..255; "
                f"it is corrupt or not a CIFAR batch"
            )
        x = x.astype(np.uint8)
    if y.shape != (x.shape[0],) or not np.issubdtype(y.dtype, np.integer):
        raise DataError(
            f"file '{path}': '{label_key}' has shape {y.shape} and dtype {y.dtype}, expected "
            f"{x.shape[0]} integer labels (one per image); it is corrupt"
        )
    if y.min() < 0 or y.max() >= num_classes:
        bad = int(np.argmax((y < 0) | (y >= num_classes)))
        raise DataError(
            f"file '{path}': label {int(y[bad])} at index {bad} is outside "
            f"0..{num_classes - 1}; it is corrupt or belongs to another dataset"
        )
    return x.reshape((-1,) + IMAGE_SHAPE), y.astype(np.int64)


def load_cifar(root: str | None, dataset: str):
    """Return ``(x_train, y_train, x_test, y_test)``: uint8 (N, 3, 32, 32), int64 (N,)."""
    sub, train_files, test_files, label_key, num_classes = LAYOUTS[dataset]
    base = resolve_root(root, dataset, "the python-pickle batches")
    dirs = [base, base / sub]
    hint = (
        f"extract the python version of '{dataset}' ({sub}) into data.root "
        f"(--set data.root=PATH)"
    )

    # Locate every file before reading any, so a missing one fails fast.
    train_paths = [find_file(dirs, n, dataset, gz=False, hint=hint) for n in train_files]
    test_paths = [find_file(dirs, n, dataset, gz=False, hint=hint) for n in test_files]

    def load(paths):
        parts = [read_batch(p, label_key, num_classes) for p in paths]
        if len(parts) == 1:
            return parts[0]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    x_tr, y_tr = load(train_paths)
    x_te, y_te = load(test_paths)
    return x_tr, y_tr, x_te, y_te
