"""Tiny ImageNet (the Stanford CS231n ``tiny-imagenet-200`` archive): 64x64 RGB JPEGs.

Layout, in ``data.root`` or its ``tiny-imagenet-200`` subfolder:

- ``wnids.txt``: the class ids (WordNet ids), one per line; a class's label is its line index
  (200 classes in the real archive).
- ``train/<wnid>/images/*.JPEG``: the training images of each class (500 each), taken in
  ``wnids.txt`` order, file names sorted within a class.
- ``val/val_annotations.txt``: tab separated ``filename, wnid, x0, y0, x1, y1`` lines naming
  the images in ``val/images/`` (10 000); used as the test split, in the file's line order.

The unlabeled ``test/`` folder is not used. JPEGs are decoded with Pillow and converted to RGB
(a few Tiny ImageNet images are grayscale); only the images of the chosen subset are decoded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

import numpy as np

from ..errors import DataError
from ._files import find_file, read_rgb, resolve_root

SIDE = 64
IMAGE_SHAPE = (3, SIDE, SIDE)
SUBFOLDER = "tiny-imagenet-200"
_SUFFIXES = (".jpeg", ".jpg")

Pick = Callable[[int], Optional[np.ndarray]]


def _read_text(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DataError(f"cannot read file '{path}': {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise DataError(f"file '{path}' is not UTF-8 text ({exc}); re-download it") from exc


def _read_wnids(path: Path) -> list[str]:
    wnids = [line.strip() for line in _read_text(path) if line.strip()]
    if not wnids:
        raise DataError(f"file '{path}' lists no class ids; it should hold one wnid per line")
    seen: dict[str, int] = {}
    for i, w in enumerate(wnids):
        if w in seen:
            raise DataError(
                f"file '{path}': class id '{w}' appears twice (entries {seen[w] + 1} and "
                f"{i + 1}); it is corrupt, re-download it"
            )
        seen[w] = i
    return wnids


def _train_files(root: Path, wnids: list[str]) -> tuple[list[Path], np.ndarray]:
    files: list[Path] = []
    labels: list[int] = []
    for label, wnid in enumerate(wnids):
        folder = root / "train" / wnid / "images"
        if not folder.is_dir():
            raise DataError(
                f"tiny_imagenet: missing folder '{folder}' for class '{wnid}' of wnids.txt; "
                f"extract the whole tiny-imagenet-200 archive into data.root"
            )
        found = sorted(p for p in folder.iterdir() if p.suffix.lower() in _SUFFIXES)
        if not found:
            raise DataError(
                f"tiny_imagenet: folder '{folder}' holds no .JPEG images; extract the whole "
                f"tiny-imagenet-200 archive into data.root"
            )
        files.extend(found)
        labels.extend([label] * len(found))
    return files, np.asarray(labels, dtype=np.int64)


def _val_files(root: Path, wnids: list[str]) -> tuple[list[Path], np.ndarray]:
    path = find_file(
        [root / "val"], "val_annotations.txt", "tiny_imagenet", gz=False,
        hint="extract the whole tiny-imagenet-200 archive into data.root",
    )
    index = {w: i for i, w in enumerate(wnids)}
    files: list[Path] = []
    labels: list[int] = []
    for lineno, line in enumerate(_read_text(path), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 2 or not fields[0].strip():
            raise DataError(
                f"file '{path}' line {lineno}: expected tab-separated 'filename<TAB>wnid...', got "
                f"{line[:60]!r}; it is corrupt, re-download it"
            )
        name, wnid = fields[0].strip(), fields[1].strip()
        if wnid not in index:
            raise DataError(
                f"file '{path}' line {lineno}: class id '{wnid}' is not in wnids.txt; the files "
                f"do not belong together, re-extract the archive"
            )
        files.append(root / "val" / "images" / name)
        labels.append(index[wnid])
    if not files:
        raise DataError(f"file '{path}' lists no images; re-download it")
    return files, np.asarray(labels, dtype=np.int64)


def _decode(files: list[Path], idx: Optional[np.ndarray]) -> np.ndarray:
    """Decode ``files[idx]`` (all when None) into uint8 (n, 3, 64, 64)."""
    chosen = files if idx is None else [files[i] for i in idx]
    out = np.empty((len(chosen),) + IMAGE_SHAPE, dtype=np.uint8)
    for k, path in enumerate(chosen):
        rgb = np.asarray(read_rgb(path, "; extract the whole tiny-imagenet-200 archive into data.root",
                                  "re-download the archive"))
        if rgb.shape != (SIDE, SIDE, 3):
            raise DataError(
                f"file '{path}' is {rgb.shape[1]}x{rgb.shape[0]} pixels, expected {SIDE}x{SIDE}; "
                f"it is not a Tiny ImageNet image"
            )
        out[k] = rgb.transpose(2, 0, 1)
    return out


def load_tiny_imagenet(root: str | None, pick_train: Pick, pick_test: Pick):
    """Return ``(x_train, y_train, x_test, y_test, num_classes)``: uint8 (n, 3, 64, 64), int64.

    ``pick_train`` / ``pick_test`` map the number of available images to the sorted indices
    to keep (None = all); only those are decoded.
    """
    base = resolve_root(root, "tiny_imagenet", "the Tiny ImageNet folder (wnids.txt, train/, val/)")
    wnids_path = find_file(
        [base, base / SUBFOLDER], "wnids.txt", "tiny_imagenet", gz=False,
        hint="extract the tiny-imagenet-200 archive into data.root (--set data.root=PATH)",
    )
    folder = wnids_path.parent
    wnids = _read_wnids(wnids_path)
    # List every file before decoding any, so a missing folder fails fast.
    train_files, y_tr = _train_files(folder, wnids)
    val_files, y_te = _val_files(folder, wnids)
    idx_tr = pick_train(len(train_files))
    idx_te = pick_test(len(val_files))
    x_tr = _decode(train_files, idx_tr)
    x_te = _decode(val_files, idx_te)
    if idx_tr is not None:
        y_tr = y_tr[idx_tr]
    if idx_te is not None:
        y_te = y_te[idx_te]
    return x_tr, y_tr, x_te, y_te, len(wnids)
