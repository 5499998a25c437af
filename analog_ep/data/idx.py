"""IDX files (MNIST, Fashion-MNIST): a strict numpy parser.

Format (big-endian): 2 zero bytes, a type byte (0x08 = unsigned byte, the only one used here),
a byte with the number of dimensions ``d``, then ``d`` uint32 sizes, then the data, row-major.
Images are magic 0x00000803 (N, rows, cols), labels 0x00000801 (N,).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataError
from ._files import find_file, read_bytes, resolve_root

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801

# Standard file names; each may carry a ``.gz`` suffix.
TRAIN_IMAGES = "train-images-idx3-ubyte"
TRAIN_LABELS = "train-labels-idx1-ubyte"
TEST_IMAGES = "t10k-images-idx3-ubyte"
TEST_LABELS = "t10k-labels-idx1-ubyte"

# Where torchvision keeps the raw files below its root, also searched.
_TORCHVISION_SUBDIR = {"mnist": "MNIST/raw", "fashion_mnist": "FashionMNIST/raw"}


def parse_idx(data: bytes, expected_magic: int, path: Path) -> np.ndarray:
    """Parse IDX ``data`` (already decompressed) into a read-only uint8 array.

    Raises DataError naming ``path`` on a bad magic number, zero-size dimension, truncation or
    trailing bytes.
    """
    kind = "images" if expected_magic == IMAGES_MAGIC else "labels"
    if len(data) < 4:
        raise DataError(
            f"file '{path}' is truncated: {len(data)} bytes, too short for an IDX header; "
            f"re-download it"
        )
    magic = int.from_bytes(data[:4], "big")
    if magic != expected_magic:
        raise DataError(
            f"file '{path}' has bad magic number 0x{magic:08x} (expected 0x{expected_magic:08x} "
            f"for IDX {kind}); it is corrupt or not an IDX {kind} file"
        )
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(
            f"file '{path}' is truncated: {len(data)} bytes, shorter than its {header}-byte IDX "
            f"header; re-download it"
        )
    dims = tuple(int(v) for v in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    if any(d == 0 for d in dims):
        raise DataError(
            f"file '{path}' has a zero-size dimension {dims}; it holds no data, re-download it"
        )
    count = int(np.prod(dims, dtype=np.int64))
    expected = header + count
    if len(data) < expected:
        raise DataError(
            f"file '{path}' is truncated: {len(data)} bytes, expected {expected} for shape "
            f"{dims}; re-download it"
        )
    if len(data) > expected:
        raise DataError(
            f"file '{path}' has {len(data) - expected} unexpected trailing bytes ({len(data)} "
            f"bytes, expected {expected} for shape {dims}); it is corrupt, re-download it"
        )
    return np.frombuffer(data, dtype=np.uint8, count=count, offset=header).reshape(dims)


def read_idx(path: Path, expected_magic: int) -> np.ndarray:
    """Read and parse one IDX file (plain or gzipped)."""
    return parse_idx(read_bytes(path), expected_magic, path)


def _load_pair(img_path: Path, lab_path: Path, dataset: str,
               num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    x = read_idx(img_path, IMAGES_MAGIC)
    y = read_idx(lab_path, LABELS_MAGIC)
    if x.ndim != 3:
        raise DataError(
            f"file '{img_path}' has {x.ndim} dimensions {x.shape}, expected 3 (N, rows, cols); "
            f"it is not an IDX image file"
        )
    if y.ndim != 1:
        raise DataError(
            f"file '{lab_path}' has {y.ndim} dimensions {y.shape}, expected 1 (N,); "
            f"it is not an IDX label file"
        )
    if x.shape[0] != y.shape[0]:
        raise DataError(
            f"{dataset}: image/label count mismatch: '{img_path}' holds {x.shape[0]} images but "
            f"'{lab_path}' holds {y.shape[0]} labels; the files do not belong together"
        )
    top = int(y.max())
    if top >= num_classes:
        bad = int(np.argmax(y >= num_classes))
        raise DataError(
            f"file '{lab_path}' has label {top} at index {bad}, outside 0..{num_classes - 1}; "
            f"it is corrupt or not a {dataset} label file"
        )
    return x, y


def load_idx_dataset(root: str | None, dataset: str, num_classes: int = 10):
    """Return ``(x_train, y_train, x_test, y_test)`` as uint8 arrays, images (N, rows, cols)."""
    base = resolve_root(root, dataset, "the IDX files")
    dirs = [base]
    sub = _TORCHVISION_SUBDIR.get(dataset)
    if sub is not None and (base / sub).is_dir():
        dirs.append(base / sub)
    hint = (
        f"put the standard IDX files of '{dataset}' (plain or .gz) in data.root "
        f"(--set data.root=PATH)"
    )
    # Locate all four files before reading any, so a missing one fails fast.
    paths = [find_file(dirs, n, dataset, gz=True, hint=hint)
             for n in (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)]
    x_tr, y_tr = _load_pair(paths[0], paths[1], dataset, num_classes)
    x_te, y_te = _load_pair(paths[2], paths[3], dataset, num_classes)
    if x_tr.shape[1:] != x_te.shape[1:]:
        raise DataError(
            f"{dataset}: train images are {x_tr.shape[1]}x{x_tr.shape[2]} but test images are "
            f"{x_te.shape[1]}x{x_te.shape[2]}; the files in '{base}' do not belong together"
        )
    return x_tr, y_tr, x_te, y_te
