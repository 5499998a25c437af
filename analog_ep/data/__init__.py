"""Datasets: ``load_data(cfg, seed) -> (train, test, info)``, held in memory or streamed.

``cfg.name`` selects the dataset:

- ``digits``: scikit-learn's embedded 8x8 digits (1797 images), shape (1, 8, 8), pixels /16.
  Fixed stratified split, independent of the run seed: 1437 train / 360 test.
- ``mnist``, ``fashion_mnist``: the four standard IDX files (plain or ``.gz``) in ``cfg.root``
  (also looked for in torchvision's ``MNIST/raw`` / ``FashionMNIST/raw`` below it); shape
  (1, rows, cols) from the files, (1, 28, 28) for the real data; pixels /255.
- ``cifar10``, ``cifar100``: the python-pickle batches in ``cfg.root`` or its
  ``cifar-10-batches-py`` / ``cifar-100-python`` subfolder; shape (3, 32, 32); pixels /255;
  cifar100 uses the 100 fine labels.
- ``tiny_imagenet``: the Tiny ImageNet folder (``wnids.txt``, ``train/``, ``val/``) in
  ``cfg.root`` or its ``tiny-imagenet-200`` subfolder; shape (3, 64, 64); 200 classes (as many
  as ``wnids.txt`` lists), label = line index in ``wnids.txt``; test split = ``val/``
  (see :mod:`.tiny_imagenet`).
- ``imagenet``: full-size ImageNet in ImageFolder layout, ``train/<wnid>/*.JPEG`` and
  ``val/<wnid>/*.JPEG`` in ``cfg.root``; shape (3, S, S) with S = ``cfg.image_size``; classes =
  the sorted ``train/`` subfolders (label = index); test split = ``val/``. Streamed, never held
  in memory (see below and :mod:`.imagenet`).
- ``imagenet32``, ``imagenet64``: the downsampled ImageNet npz batches
  (``train_data_batch_1..10.npz``, ``val_data.npz``) in ``cfg.root``; shape (3, 32, 32) /
  (3, 64, 64); 1000 classes, the files' 1-based labels minus 1; test split = validation set
  (see :mod:`.downsampled`).
- ``synthetic``: a learnable random problem of shape ``cfg.shape`` and ``cfg.num_classes``
  classes, drawn from ``seed`` (see :func:`make_synthetic`).

Storage: the small sets are held as float32, already normalized. ``tiny_imagenet`` and
``imagenet32``/``imagenet64`` are held as uint8 pixels (ImageNet32 train would be 15.7 GB as
float32) and normalized per mini-batch by :meth:`Split.batch`, with the same float32
arithmetic, so every consumer reads inputs through ``split.batch(idx)``.

Streamed splits: ``imagenet`` (1.28 M JPEGs) returns :class:`.imagenet.ImageFolderSplit`s, which
hold only the file list and the labels ``y``. ``batch(idx)`` decodes in the calling process with
the evaluation transform (resize, center crop), so the consumers above work unchanged;
``loader(batches, train=, seed=, workers=, pin_memory=)`` yields one ``(x, y)`` per index batch,
decoded by ``cfg.workers`` DataLoader worker processes, with the training augmentation
(random-resized crop and flip, drawn from ``seed`` and the example index only) when ``train``.
A consumer that trains on every split should call ``split.loader`` when the split has one.

Normalization (``cfg.normalize``): ``unit`` keeps pixels in [0, 1]; ``standard`` applies
``(x - mean[c]) / (cfg.std_scale * std[c])`` with the fixed per-channel constants of
:data:`NORM_STATS`, or ``cfg.mean`` / ``cfg.std`` where given (never statistics of the loaded
subset, so every run sees the same transform). Synthetic data is already standardized:
``standard`` leaves it as drawn and ``unit`` squashes it to (0, 1) with a logistic sigmoid.

Center crop (``cfg.crop``, null = none): every image of both splits is cut to its central
``crop x crop`` window (:func:`center_crop`: rows from ``(H - crop) // 2``, columns from
``(W - crop) // 2``) in one place, :func:`load_data`, after the dataset's loader and before any
consumer, and ``info.shape`` becomes (C, crop, crop), so a dense model's input follows (784 ->
400 for 28x28 images and crop 20, NeuroSim's 20x20 MNIST input). The uint8 sets are cropped
before their per-batch normalization; the float32 sets after theirs, which is per channel, so
the same values. ``imagenet`` refuses it (``image_size`` is its center crop), as does a
``synthetic`` ``shape`` that is not (C, H, W).

Subsets: ``cfg.train_size`` / ``cfg.test_size`` (null = all) keep a subset of that size chosen
by ``torch.randperm`` (kept in the original order): the training subset under a generator
seeded with the run ``seed``, the test subset under the fixed seed 0, so runs with different
seeds are scored on the same test examples.
For synthetic data they are the generated sizes (defaults 512 / 128).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from ..config.schema import DataConfig
from ..errors import ConfigError

__all__ = ["DataInfo", "Split", "load_data", "available_datasets", "center_crop", "NORM_STATS"]

DATASETS = ("digits", "mnist", "fashion_mnist", "cifar10", "cifar100", "tiny_imagenet",
            "imagenet", "imagenet32", "imagenet64", "synthetic")

# Held as uint8 pixels and normalized per mini-batch (too large as float32).
PIXEL_DATASETS = ("tiny_imagenet", "imagenet32", "imagenet64")

# Per-channel (mean, std) of the [0, 1] pixels, fixed per dataset. digits: computed once over
# all 1797 images of load_digits() / 16 (mean 0.305260, population std 0.376049). The ImageNet
# sets share the usual ImageNet constants (torchvision's, used by the downsampled-ImageNet paper).
NORM_STATS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "digits": ((0.3053,), (0.3760,)),
    "mnist": ((0.1307,), (0.3081,)),
    "fashion_mnist": ((0.2860,), (0.3530,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "tiny_imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "imagenet32": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "imagenet64": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}

DIGITS_TEST_SIZE = 360
DIGITS_SPLIT_SEED = 0
SYNTHETIC_TRAIN_SIZE = 512
SYNTHETIC_TEST_SIZE = 128
# Synthetic: x = a * mean[class] + sqrt(1 - a^2) * noise, mean and noise standard normal.
SYNTHETIC_SIGNAL = 0.5


@dataclass(frozen=True)
class DataInfo:
    """What a model needs to know about a dataset."""

    name: str
    shape: tuple[int, ...]
    """One example, channels first, e.g. (1, 8, 8), (1, 28, 28), (3, 32, 32)."""
    num_classes: int


@dataclass
class Split:
    """One split held in memory: inputs ``x`` (N, *shape) and int64 labels ``y`` (N,).

    ``x`` is either float32, already normalized (returned as stored), or uint8 pixels 0..255
    (N, C, H, W) normalized per batch: ``x / 255``, then, when ``mean`` and ``std`` (float32,
    (C,), ``std`` already multiplied by ``data.std_scale``) are given, ``(x - mean[c]) /
    std[c]`` -- the float32 operations, in the order, that the float32 sets are normalized with
    at load time. Read inputs with :meth:`batch`, never ``x`` directly.
    """

    x: torch.Tensor
    y: torch.Tensor
    mean: Optional[torch.Tensor] = None
    std: Optional[torch.Tensor] = None

    def __post_init__(self) -> None:
        if self.x.shape[0] != self.y.shape[0]:
            raise ValueError(f"Split: {self.x.shape[0]} inputs but {self.y.shape[0]} labels")
        if (self.mean is None) != (self.std is None):
            raise ValueError("Split: give both mean and std or neither")
        if self.mean is not None:
            if self.x.dtype != torch.uint8 or self.x.dim() < 2:
                raise ValueError("Split: mean/std apply to uint8 pixels (N, C, ...) only")
            c = self.x.shape[1]
            if self.mean.shape != (c,) or self.std.shape != (c,):
                raise ValueError(f"Split: mean and std must have shape ({c},), one per channel")

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def batch(self, idx) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs (float32, normalized) and labels of the examples ``idx`` (a slice, an index
        tensor or array)."""
        x = self.x[idx]
        if x.dtype == torch.uint8:
            x = x.to(torch.float32)
            x /= 255.0
            if self.mean is not None:
                bshape = (1, -1) + (1,) * (x.dim() - 2)
                x -= self.mean.to(x.device).view(bshape)
                x /= self.std.to(x.device).view(bshape)
        return x, self.y[idx]


def available_datasets() -> list[str]:
    """Names accepted by ``data.name``."""
    return list(DATASETS)


# --------------------------------------------------------------------------- helpers


def _check_size(value, key: str, available: Optional[int], what: str) -> Optional[int]:
    """Validate ``data.train_size`` / ``data.test_size``; ``available`` None means unbounded."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ConfigError(f"{key}: expected an integer or null, got {value!r}")
    value = int(value)
    if available is None:
        if value < 1:
            raise ConfigError(f"{key}={value}: must be at least 1 (or null for the default)")
        return value
    if value < 1 or value > available:
        raise ConfigError(
            f"{key}={value}: {what} has {available} examples available; use a value in "
            f"1..{available} or null for all"
        )
    return value


def _subset(n_avail: int, size: Optional[int], seed: int) -> Optional[np.ndarray]:
    """Sorted indices of a seeded random subset of ``size`` out of ``n_avail``; None = all."""
    if size is None or size == n_avail:
        return None
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(n_avail, generator=g)[:size]
    return torch.sort(idx).values.numpy()


def _to_split(x_raw: np.ndarray, y: np.ndarray, idx: Optional[np.ndarray], scale: float,
              shape: tuple[int, ...], mean_std, std_scale: float) -> Split:
    """Subset, scale to [0, 1] (divide by ``scale``), reshape, optionally standardize."""
    if idx is not None:
        x_raw, y = x_raw[idx], y[idx]
    x = x_raw.astype(np.float32).reshape((x_raw.shape[0],) + shape)
    x /= np.float32(scale)
    if mean_std is not None:
        bshape = (1, len(mean_std[0])) + (1,) * (len(shape) - 1)
        mean = np.asarray(mean_std[0], dtype=np.float32).reshape(bshape)
        std = np.asarray(mean_std[1], dtype=np.float32).reshape(bshape) * np.float32(std_scale)
        x -= mean
        x /= std
    return Split(torch.from_numpy(x), torch.from_numpy(np.array(y, dtype=np.int64, copy=True)))


def _norm_stats(cfg: DataConfig, name: str):
    """``(mean, std)`` of ``standard`` normalization for dataset ``name``: :data:`NORM_STATS`,
    each replaced by ``cfg.mean`` / ``cfg.std`` when given (checked: one finite number per
    channel, std > 0); None for ``unit``, which takes neither."""
    given = {"mean": cfg.mean, "std": cfg.std}
    if cfg.normalize != "standard":
        for key, value in given.items():
            if value is not None:
                raise ConfigError(f"data.{key}={value!r}: applies to data.normalize: standard only")
        return None
    stats = []
    for key, default in zip(("mean", "std"), NORM_STATS[name]):
        value = given[key]
        if value is None:
            stats.append(default)
            continue
        if not isinstance(value, (list, tuple)) or len(value) != len(default) or any(
                isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) for v in value):
            raise ConfigError(f"data.{key}={value!r}: must be {len(default)} finite number(s), one per channel "
                              f"of {name} (the values of another dataset?); use {name}'s own statistics with "
                              f"--set data.mean=null --set data.std=null, or give {len(default)} value(s)")
        if key == "std" and any(v <= 0 for v in value):
            raise ConfigError(f"data.std={value!r}: must be > 0 for every channel")
        stats.append(tuple(float(v) for v in value))
    return tuple(stats)


def _pixel_split(x: np.ndarray, y: np.ndarray, mean_std, std_scale: float) -> Split:
    """A uint8 split (already subset): pixels kept as stored, normalized per batch."""
    mean = std = None
    if mean_std is not None:
        mean = torch.tensor(mean_std[0], dtype=torch.float32)
        std = torch.tensor(mean_std[1], dtype=torch.float32) * torch.tensor(std_scale,
                                                                           dtype=torch.float32)
    return Split(torch.from_numpy(np.ascontiguousarray(x, dtype=np.uint8)),
                 torch.from_numpy(np.array(y, dtype=np.int64, copy=True)), mean, std)


def _load_pixels(cfg: DataConfig, seed: int, std_scale: float) -> tuple[Split, Split, DataInfo]:
    """tiny_imagenet / imagenet32 / imagenet64: subset chosen before the images are read."""
    name = cfg.name

    def pick(value, key: str, what: str, subset_seed: int):
        def choose(n_avail: int) -> Optional[np.ndarray]:
            return _subset(n_avail, _check_size(value, key, n_avail, what), subset_seed)
        return choose

    stats = _norm_stats(cfg, name)
    pick_train = pick(cfg.train_size, "data.train_size", f"the {name} training set", seed)
    pick_test = pick(cfg.test_size, "data.test_size", f"the {name} test set", 0)
    if name == "tiny_imagenet":
        from .tiny_imagenet import IMAGE_SHAPE, load_tiny_imagenet

        x_tr, y_tr, x_te, y_te, num_classes = load_tiny_imagenet(cfg.root, pick_train, pick_test)
        shape = IMAGE_SHAPE
    else:
        from .downsampled import NUM_CLASSES, SIDES, load_downsampled

        x_tr, y_tr, x_te, y_te = load_downsampled(cfg.root, name, pick_train, pick_test)
        shape, num_classes = (3, SIDES[name], SIDES[name]), NUM_CLASSES
    return (_pixel_split(x_tr, y_tr, stats, std_scale), _pixel_split(x_te, y_te, stats, std_scale),
            DataInfo(name, shape, num_classes))


@functools.lru_cache(maxsize=1)
def _digits_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Stratified 1437/360 split of load_digits() under the fixed seed DIGITS_SPLIT_SEED.

    Each class contributes its share of the 360 test images (largest remainder rounding); the
    images are chosen by numpy's legacy RandomState, whose stream is stable across versions.
    Returns (x_train, y_train, x_test, y_test), x as uint8 0..16 (N, 8, 8), original order;
    cached (about 140 kB) and read-only.
    """
    from sklearn.datasets import load_digits  # slow import; only needed here

    d = load_digits()
    x = d.images.astype(np.uint8)
    y = d.target.astype(np.int64)
    n = y.shape[0]
    classes, counts = np.unique(y, return_counts=True)
    quota = counts * DIGITS_TEST_SIZE / n
    take = np.floor(quota).astype(np.int64)
    short = DIGITS_TEST_SIZE - int(take.sum())
    order = np.argsort(-(quota - take), kind="stable")
    take[order[:short]] += 1
    rng = np.random.RandomState(DIGITS_SPLIT_SEED)
    test = np.concatenate([
        rng.permutation(np.flatnonzero(y == c))[:k] for c, k in zip(classes, take)
    ])
    is_test = np.zeros(n, dtype=bool)
    is_test[test] = True
    out = (x[~is_test], y[~is_test], x[is_test], y[is_test])
    for arr in out:
        arr.flags.writeable = False
    return out


def make_synthetic(shape: tuple[int, ...], num_classes: int, n_train: int, n_test: int,
                   seed: int) -> tuple[Split, Split]:
    """Gaussian class clusters: learnable, roughly standardized, drawn from ``seed``.

    One standard-normal mean pattern per class; an example of class ``c`` (labels uniform) is
    ``a * mean[c] + sqrt(1 - a^2) * noise`` with ``a = SYNTHETIC_SIGNAL`` and standard-normal
    noise, so each pixel has about zero mean and unit variance. Train and test share the means.
    """
    g = torch.Generator().manual_seed(seed)
    dim = math.prod(shape)
    means = torch.randn(num_classes, dim, generator=g)
    a = SYNTHETIC_SIGNAL

    def draw(n: int) -> Split:
        y = torch.randint(num_classes, (n,), generator=g)
        noise = torch.randn(n, dim, generator=g)
        x = a * means[y] + math.sqrt(1.0 - a * a) * noise
        return Split(x.reshape((n,) + shape).contiguous(), y.to(torch.int64))

    train = draw(n_train)
    test = draw(n_test)
    return train, test


def _load_synthetic(cfg: DataConfig, seed: int) -> tuple[Split, Split, DataInfo]:
    raw_shape = list(cfg.shape) if isinstance(cfg.shape, (list, tuple)) else None
    if not raw_shape or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1
                            for s in raw_shape):
        raise ConfigError(
            f"data.shape={cfg.shape!r}: expected a non-empty list of positive integers, "
            f"e.g. [1, 28, 28]"
        )
    shape = tuple(int(s) for s in raw_shape)
    if isinstance(cfg.num_classes, bool) or not isinstance(cfg.num_classes, int) \
            or cfg.num_classes < 2:
        raise ConfigError(f"data.num_classes={cfg.num_classes!r}: must be an integer >= 2")
    n_train = _check_size(cfg.train_size, "data.train_size", None, "synthetic")
    n_test = _check_size(cfg.test_size, "data.test_size", None, "synthetic")
    train, test = make_synthetic(
        shape, cfg.num_classes,
        SYNTHETIC_TRAIN_SIZE if n_train is None else n_train,
        SYNTHETIC_TEST_SIZE if n_test is None else n_test,
        seed,
    )
    if cfg.normalize == "unit":
        train.x = torch.sigmoid(train.x)
        test.x = torch.sigmoid(test.x)
    return train, test, DataInfo("synthetic", shape, cfg.num_classes)


def center_crop(x: torch.Tensor, crop: int) -> torch.Tensor:
    """The central ``crop x crop`` window of the images ``x`` (..., H, W), contiguous: rows
    ``(H - crop) // 2`` onward, columns ``(W - crop) // 2`` onward (the extra pixel of an odd
    margin falls at the bottom / right). ``crop`` must be in 1..min(H, W)."""
    h, w = int(x.shape[-2]), int(x.shape[-1])
    if not 1 <= crop <= min(h, w):
        raise ValueError(f"center_crop: crop {crop} outside 1..{min(h, w)} for {h}x{w} images")
    top, left = (h - crop) // 2, (w - crop) // 2
    return x[..., top:top + crop, left:left + crop].contiguous()


def _check_crop(crop, name: str, shape: tuple[int, ...]) -> Optional[int]:
    """Validate ``data.crop`` against dataset ``name`` of example ``shape``; None = no crop."""
    if crop is None:
        return None
    if isinstance(crop, bool) or not isinstance(crop, (int, np.integer)):
        raise ConfigError(f"data.crop={crop!r}: expected an integer (pixels) or null")
    crop = int(crop)
    if name == "imagenet":
        raise ConfigError(f"data.crop={crop}: does not apply to imagenet, whose data.image_size already is "
                          f"the center crop; set data.image_size instead and data.crop=null")
    if len(shape) != 3:
        raise ConfigError(f"data.crop={crop}: needs images (C, H, W), but {name} examples have shape "
                          f"{list(shape)}; leave it null")
    if crop < 1 or crop > min(shape[1:]):
        raise ConfigError(f"data.crop={crop}: {name} images are {shape[1]}x{shape[2]}; use a value in "
                          f"1..{min(shape[1:])} or null for the whole image")
    return crop


def _apply_crop(crop, train, test, info: DataInfo):
    """:func:`load_data`'s one crop step: both splits' images and ``info.shape`` (see the module
    docstring). The streamed imagenet never gets here (refused by :func:`_check_crop`)."""
    crop = _check_crop(crop, info.name, info.shape)
    if crop is None:
        return train, test, info
    for split in (train, test):
        split.x = center_crop(split.x, crop)
    return train, test, DataInfo(info.name, (info.shape[0], crop, crop), info.num_classes)


# --------------------------------------------------------------------------- entry point


def _load_imagenet(cfg: DataConfig, seed: int, std_scale: float):
    """imagenet: streamed ImageFolder splits (file lists and labels only; see :mod:`.imagenet`)."""
    from ._files import resolve_root
    from .imagenet import ImageFolderSplit, list_imagenet

    size = cfg.image_size
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 8:
        raise ConfigError(f"data.image_size={size!r}: must be an integer >= 8 (pixels), e.g. 224")
    workers = cfg.workers
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 0:
        raise ConfigError(f"data.workers={workers!r}: must be an integer >= 0 (0 = decode in the "
                          f"main process)")
    _norm_stats(cfg, "imagenet")  # checked before the folders are listed
    base = resolve_root(cfg.root, "imagenet", "the ImageNet train/ and val/ class folders")
    tr_dir, f_tr, y_tr, va_dir, f_va, y_va, classes = list_imagenet(base)
    idx_tr = _subset(len(y_tr), _check_size(cfg.train_size, "data.train_size", len(y_tr),
                                            "the imagenet training set"), seed)
    idx_va = _subset(len(y_va), _check_size(cfg.test_size, "data.test_size", len(y_va),
                                            "the imagenet test set"), 0)
    if idx_tr is not None:
        f_tr, y_tr = f_tr[idx_tr], y_tr[idx_tr]
    if idx_va is not None:
        f_va, y_va = f_va[idx_va], y_va[idx_va]
    mean = std = None
    stats = _norm_stats(cfg, "imagenet")
    if stats is not None:
        mean = torch.tensor(stats[0], dtype=torch.float32)
        std = torch.tensor(stats[1], dtype=torch.float32) * torch.tensor(std_scale, dtype=torch.float32)
    size = int(size)
    train = ImageFolderSplit(tr_dir, f_tr, torch.from_numpy(y_tr), size, mean, std)
    test = ImageFolderSplit(va_dir, f_va, torch.from_numpy(y_va), size, mean, std)
    return train, test, DataInfo("imagenet", (3, size, size), len(classes))


def load_data(cfg: DataConfig, seed: int) -> tuple[Split, Split, DataInfo]:
    """Return ``(train, test, info)`` for ``cfg`` (see the module docstring), center-cropped to
    ``cfg.crop`` when given.

    Raises ConfigError for invalid settings (unknown name, missing ``data.root``, bad subset
    size, bad crop) and DataError for missing or corrupt files.
    """
    if cfg.crop is not None and cfg.name == "imagenet":
        _check_crop(cfg.crop, "imagenet", (3, cfg.image_size, cfg.image_size))  # refused before any listing
    return _apply_crop(cfg.crop, *_load_uncropped(cfg, seed))


def _load_uncropped(cfg: DataConfig, seed: int) -> tuple[Split, Split, DataInfo]:
    """:func:`load_data` without the crop."""
    name = cfg.name
    if name not in DATASETS:
        raise ConfigError(f"data.name: unknown dataset {name!r}; valid: {', '.join(DATASETS)}")
    if cfg.normalize not in ("standard", "unit"):
        raise ConfigError(
            f"data.normalize: unknown value {cfg.normalize!r}; valid: standard, unit"
        )
    std_scale = cfg.std_scale
    if isinstance(std_scale, bool) or not isinstance(std_scale, (int, float)) \
            or not math.isfinite(std_scale) or std_scale <= 0:
        raise ConfigError(f"data.std_scale={std_scale!r}: must be a finite number > 0")

    if name == "synthetic":
        for key in ("mean", "std"):
            if getattr(cfg, key) is not None:
                raise ConfigError(f"data.{key}={getattr(cfg, key)!r}: synthetic data is drawn standardized; "
                                  "leave it null")
        return _load_synthetic(cfg, seed)
    if name == "imagenet":
        return _load_imagenet(cfg, seed, float(std_scale))
    if name in PIXEL_DATASETS:
        return _load_pixels(cfg, seed, float(std_scale))

    stats = _norm_stats(cfg, name)  # checked before any file is read
    if name == "digits":
        x_tr, y_tr, x_te, y_te = _digits_split()
        scale, shape, num_classes = 16.0, (1, 8, 8), 10
    elif name in ("mnist", "fashion_mnist"):
        from .idx import load_idx_dataset

        x_tr, y_tr, x_te, y_te = load_idx_dataset(cfg.root, name, num_classes=10)
        scale, shape, num_classes = 255.0, (1,) + tuple(int(s) for s in x_tr.shape[1:]), 10
    else:
        from .cifar import IMAGE_SHAPE, LAYOUTS, load_cifar

        x_tr, y_tr, x_te, y_te = load_cifar(cfg.root, name)
        scale, shape, num_classes = 255.0, IMAGE_SHAPE, LAYOUTS[name][4]

    n_train = _check_size(cfg.train_size, "data.train_size", x_tr.shape[0],
                          f"the {name} training set")
    n_test = _check_size(cfg.test_size, "data.test_size", x_te.shape[0],
                         f"the {name} test set")
    train = _to_split(x_tr, y_tr, _subset(x_tr.shape[0], n_train, seed), scale, shape, stats,
                      float(std_scale))
    test = _to_split(x_te, y_te, _subset(x_te.shape[0], n_test, 0), scale, shape, stats,
                     float(std_scale))
    return train, test, DataInfo(name, shape, num_classes)

