"""Full-size ImageNet (ILSVRC-2012) in ImageFolder layout, streamed from disk.

Layout, in ``data.root``::

    train/<wnid>/*.JPEG    the training images, one folder per class
    val/<wnid>/*.JPEG      the validation images, already sorted into class folders (the test split)

Image files are those ending in ``.jpeg``, ``.jpg`` or ``.png`` (any case); other files and
hidden entries (names starting with ``.``) are ignored. The classes are the sorted names of the
subfolders of ``train/`` and a class's label is its index in that list (1000 classes for
ILSVRC-2012; the same order as torchvision's ``ImageFolder``). Files are taken in class order,
names sorted within a class. A ``val/`` class folder that is not a ``train/`` class is an error,
as is a class folder holding no image.

1.28 million JPEGs cannot be held in memory, so :class:`ImageFolderSplit` keeps only the file
list (one numpy byte-string array, no per-file Python objects that worker processes would
copy-on-access) and the labels, and decodes on demand: :meth:`ImageFolderSplit.batch` in the
calling process with the evaluation transform, :meth:`ImageFolderSplit.loader` in
``torch.utils.data.DataLoader`` worker processes with the training or evaluation transform.

Transforms (Pillow and numpy only; torchvision's ImageNet recipe, which they reproduce):

- every image is converted to RGB first (ILSVRC-2012 holds some grayscale and CMYK JPEGs);
- training: RandomResizedCrop (Szegedy et al. 2015, "Going deeper with convolutions"; the
  torchvision implementation): a box of area ``U(0.08, 1)`` times the image area and aspect
  ratio ``exp(U(log 3/4, log 4/3))``, ``w = round(sqrt(area * ratio))``, ``h = round(sqrt(area /
  ratio))``, accepted when it fits and placed uniformly; after 10 rejected attempts the central
  crop of the whole image clamped to the ratio range. The box is resized to S x S (bilinear,
  Pillow's antialiased filter), then mirrored horizontally with probability 1/2;
- evaluation: the shorter side resized to ``round(S * 256 / 224)`` (the longer side to
  ``int(that * long / short)``; bilinear), then the central S x S crop (offsets
  ``round((side - S) / 2)``);
- pixels become float32 ``x / 255``, then ``(x - mean[c]) / (std_scale * std[c])`` with the
  ImageNet constants under ``data.normalize: standard`` -- the float32 operations, in the order,
  of :meth:`analog_ep.data.Split.batch`.

Training randomness: the crop and flip of example ``i`` are drawn from a numpy Generator seeded
with ``SeedSequence([seed mod 2**64, i])`` (:func:`sample_rng`), so they depend on the loader's
``seed`` and the example only -- not on the worker that decodes it, on the batch it is in, or
on the rank of a data-parallel process holding part of that batch.

Every decoding failure (missing, unreadable or corrupt file) is a one-line :class:`DataError`
naming the file, raised in the calling process also when a worker met it.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Iterator, Optional, Sequence

import numpy as np
import torch

from ..errors import DataError
from ._files import read_rgb as _read_rgb

EXTENSIONS = (".jpeg", ".jpg", ".png")
RRC_SCALE = (0.08, 1.0)
"""RandomResizedCrop: range of the box area as a fraction of the image area."""
RRC_RATIO = (3.0 / 4.0, 4.0 / 3.0)
"""RandomResizedCrop: range of the box aspect ratio (width / height), drawn log-uniformly."""
RRC_ATTEMPTS = 10
"""RandomResizedCrop: boxes drawn before falling back to the central crop."""
EVAL_RESIZE = 256.0 / 224.0
"""Evaluation: the shorter side is resized to round(S * 256 / 224) before the central S crop."""

_LAYOUT = ("data.root must hold train/<wnid>/*.JPEG and val/<wnid>/*.JPEG (ImageFolder layout, "
           "the validation images sorted into class folders)")


def _bilinear():
    from PIL import Image

    return getattr(Image, "Resampling", Image).BILINEAR


# --------------------------------------------------------------------------- transforms


def sample_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of example ``index``'s training augmentation under the loader ``seed``."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(
        [int(seed) % (1 << 64), int(index)])))


def eval_side(size: int) -> int:
    """Shorter side (pixels) the evaluation transform resizes to: round(S * 256 / 224)."""
    return int(round(size * EVAL_RESIZE))


def random_resized_crop_box(width: int, height: int, rng, scale: Sequence[float] = RRC_SCALE,
                            ratio: Sequence[float] = RRC_RATIO,
                            attempts: int = RRC_ATTEMPTS) -> tuple[int, int, int, int]:
    """``(top, left, h, w)`` of a RandomResizedCrop box in a ``width`` x ``height`` image.

    Up to ``attempts`` times: area ``A = width * height * rng.uniform(*scale)``, aspect ratio
    ``r = exp(rng.uniform(log ratio[0], log ratio[1]))``, ``w = round(sqrt(A r))``, ``h =
    round(sqrt(A / r))``; the first box with ``0 < w <= width`` and ``0 < h <= height`` is placed
    at ``top = rng.integers(0, height - h + 1)``, ``left = rng.integers(0, width - w + 1)``.
    Otherwise the central box: the whole image, narrowed (wider than ``ratio[1]``) or shortened
    (taller than ``ratio[0]``) to the nearest ratio, ``top = (height - h) // 2``, ``left =
    (width - w) // 2``. torchvision's ``RandomResizedCrop.get_params``, draw for draw, with
    ``rng`` (a numpy Generator) in place of torch's global generator.
    """
    area = width * height
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    for _ in range(attempts):
        target = area * float(rng.uniform(scale[0], scale[1]))
        r = math.exp(float(rng.uniform(log_lo, log_hi)))
        w = int(round(math.sqrt(target * r)))
        h = int(round(math.sqrt(target / r)))
        if 0 < w <= width and 0 < h <= height:
            top = int(rng.integers(0, height - h + 1))
            left = int(rng.integers(0, width - w + 1))
            return top, left, h, w
    in_ratio = width / height
    if in_ratio < min(ratio):
        w = width
        h = int(round(w / min(ratio)))
    elif in_ratio > max(ratio):
        h = height
        w = int(round(h * max(ratio)))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def eval_transform(img, size: int) -> np.ndarray:
    """Resize the shorter side of the RGB PIL image to :func:`eval_side`, take the central
    ``size`` x ``size`` crop; uint8 (size, size, 3)."""
    width, height = img.size
    side = eval_side(size)
    if width <= height:
        new_w, new_h = side, int(side * height / width)
    else:
        new_w, new_h = int(side * width / height), side
    img = img.resize((new_w, new_h), _bilinear())
    top = int(round((new_h - size) / 2.0))
    left = int(round((new_w - size) / 2.0))
    return np.asarray(img.crop((left, top, left + size, top + size)))


def train_transform(img, size: int, rng) -> np.ndarray:
    """RandomResizedCrop of the RGB PIL image to ``size`` x ``size`` (box from
    :func:`random_resized_crop_box`, bilinear), then a horizontal flip when ``rng.random() <
    0.5``; uint8 (size, size, 3)."""
    width, height = img.size
    top, left, h, w = random_resized_crop_box(width, height, rng)
    img = img.crop((left, top, left + w, top + h)).resize((size, size), _bilinear())
    out = np.asarray(img)
    if rng.random() < 0.5:
        out = out[:, ::-1]
    return out


def read_rgb(path: Path):
    """The image at ``path`` as a loaded RGB PIL image; DataError naming the file otherwise."""
    return _read_rgb(path, " (it was listed when the run started); restore it or restart so the folders are "
                           "listed again", "re-download it or delete it")


# --------------------------------------------------------------------------- streaming


class _Failed:
    """A decoding failure carried back from a worker as a value, so the message stays one line
    (DataLoader would re-raise an exception with the worker's traceback appended)."""

    def __init__(self, message: str) -> None:
        self.message = message


class _Images(torch.utils.data.Dataset):
    """Example ``i``: (uint8 (3, S, S) array, label) or a :class:`_Failed`."""

    def __init__(self, folder: str, files: np.ndarray, labels: np.ndarray, size: int,
                 train: bool, seed: int) -> None:
        self.folder = folder
        self.files = files
        self.labels = labels
        self.size = size
        self.train = train
        self.seed = seed

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def __getitem__(self, i: int):
        path = Path(self.folder) / os.fsdecode(bytes(self.files[i]))
        try:
            img = read_rgb(path)
        except DataError as exc:
            return _Failed(str(exc))
        if self.train:
            pix = train_transform(img, self.size, sample_rng(self.seed, i))
        else:
            pix = eval_transform(img, self.size)
        return np.ascontiguousarray(pix.transpose(2, 0, 1)), int(self.labels[i])


class _Collate:
    """Stack a batch of examples and normalize it: float32 ``x / 255``, then ``(x - mean[c]) /
    std[c]`` (``std`` already times ``std_scale``) -- :meth:`Split.batch`'s arithmetic."""

    def __init__(self, mean: Optional[torch.Tensor], std: Optional[torch.Tensor]) -> None:
        self.mean = mean
        self.std = std

    def __call__(self, items):
        for item in items:
            if isinstance(item, _Failed):
                return item
        x = torch.from_numpy(np.stack([pix for pix, _ in items])).to(torch.float32)
        x /= 255.0
        if self.mean is not None:
            x -= self.mean.view(1, -1, 1, 1)
            x /= self.std.view(1, -1, 1, 1)
        return x, torch.tensor([label for _, label in items], dtype=torch.int64)


def _ignore_stop_signals(worker_id: int) -> None:
    """DataLoader worker: ignore SIGTERM and SIGINT. A cluster (SLURM, torchrun) signals every
    process of the job; the trainer then writes a checkpoint after its step, and the workers must
    live until it has (the main process shuts them down)."""
    import signal

    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class _Stream:
    """What :meth:`ImageFolderSplit.loader` returns: one ``(x, y)`` per index batch, in order."""

    def __init__(self, dataset: _Images, collate: _Collate, batches: list[list[int]],
                 workers: int, pin_memory: bool, seed: int) -> None:
        self.dataset = dataset
        self.collate = collate
        self.batches = batches
        self.workers = workers
        self.pin_memory = pin_memory
        self.seed = seed

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if not self.batches:
            return
        loader = torch.utils.data.DataLoader(
            self.dataset, batch_sampler=self.batches, num_workers=self.workers,
            collate_fn=self.collate, pin_memory=self.pin_memory, persistent_workers=False,
            # DataLoader draws its workers' base seed from this generator: an own one leaves
            # the global torch RNG (and so the trainer's stream) untouched.
            generator=torch.Generator().manual_seed(int(self.seed) % (1 << 63)),
            worker_init_fn=_ignore_stop_signals if self.workers > 0 else None,
        )
        it = iter(loader)
        try:
            for out in it:
                if isinstance(out, _Failed):
                    raise DataError(out.message)
                yield out
        finally:
            del it  # shuts the worker processes down when the consumer stops early


class ImageFolderSplit:
    """One split of an ImageFolder dataset, streamed: the file list and labels, never pixels.

    ``folder``: the split's folder (``root/train`` or ``root/val``); ``files``: numpy byte
    strings, the paths of the examples relative to ``folder`` (``os.fsencode``); ``y``: int64
    labels (N,); ``image_size``: side S of the crops; ``mean`` / ``std``: float32 (3,) with
    ``std`` already multiplied by ``data.std_scale``, or both None (``normalize: unit``).
    """

    def __init__(self, folder: Path, files: np.ndarray, y: torch.Tensor, image_size: int,
                 mean: Optional[torch.Tensor] = None, std: Optional[torch.Tensor] = None) -> None:
        if files.shape[0] != y.shape[0]:
            raise ValueError(f"ImageFolderSplit: {files.shape[0]} files but {y.shape[0]} labels")
        if (mean is None) != (std is None):
            raise ValueError("ImageFolderSplit: give both mean and std or neither")
        self.folder = Path(folder)
        self.files = files
        self.y = y
        self.image_size = int(image_size)
        self.mean = mean
        self.std = std

    @property
    def shape(self) -> tuple[int, int, int]:
        """One example, channels first: (3, S, S)."""
        return (3, self.image_size, self.image_size)

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def path(self, i: int) -> Path:
        """The file of example ``i``."""
        return self.folder / os.fsdecode(bytes(self.files[i]))

    def _dataset(self, train: bool, seed: int) -> _Images:
        return _Images(str(self.folder), self.files, self.y.numpy(), self.image_size, train, seed)

    def _positions(self, idx) -> np.ndarray:
        if isinstance(idx, torch.Tensor):
            idx = idx.detach().cpu().numpy()
        return np.atleast_1d(np.arange(len(self))[idx])

    def batch(self, idx) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs (float32 (B, 3, S, S), normalized; evaluation transform, decoded here) and
        labels of the examples ``idx`` (a slice, an index tensor, array or list)."""
        pos = self._positions(idx)
        if pos.shape[0] == 0:
            return torch.empty((0,) + self.shape), self.y[:0]
        dataset = self._dataset(False, 0)
        out = _Collate(self.mean, self.std)([dataset[int(i)] for i in pos])
        if isinstance(out, _Failed):
            raise DataError(out.message)
        return out

    def loader(self, batches: Sequence[torch.Tensor], *, train: bool, seed: int, workers: int,
               pin_memory: bool) -> _Stream:
        """One ``(x, y)`` per entry of ``batches`` (1-D index tensors), in order, decoded by a
        DataLoader with ``workers`` worker processes (0 = here) and the training (``train``;
        augmentation drawn from ``seed`` and the example index) or evaluation transform.
        ``pin_memory`` pins the batches when CUDA is available. Iterating it again decodes again
        (same tensors: the augmentation depends on ``seed``, not on the pass)."""
        if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 0:
            raise ValueError(f"ImageFolderSplit.loader: workers must be an integer >= 0, "
                             f"got {workers!r}")
        lists = []
        n = len(self)
        for k, b in enumerate(batches):
            b = torch.as_tensor(b)
            if b.dim() != 1 or b.dtype in (torch.bool,) or b.is_floating_point():
                raise ValueError(f"ImageFolderSplit.loader: batch {k} must be a 1-D integer index "
                                 f"tensor, got dtype {b.dtype} and shape {tuple(b.shape)}")
            ids = [int(i) for i in b.tolist()]
            if not ids:
                raise ValueError(f"ImageFolderSplit.loader: batch {k} is empty")
            if min(ids) < 0 or max(ids) >= n:
                raise IndexError(f"ImageFolderSplit.loader: batch {k} indexes outside 0..{n - 1}")
            lists.append(ids)
        pin = bool(pin_memory) and torch.cuda.is_available()
        return _Stream(self._dataset(bool(train), int(seed)), _Collate(self.mean, self.std), lists,
                       int(workers), pin, int(seed))


# --------------------------------------------------------------------------- listing


def _is_image(name: str) -> bool:
    return not name.startswith(".") and name.lower().endswith(EXTENSIONS)


def _subfolders(folder: Path) -> list[str]:
    try:
        with os.scandir(folder) as it:
            return sorted(e.name for e in it if not e.name.startswith(".") and e.is_dir())
    except OSError as exc:
        raise DataError(f"cannot read folder '{folder}': {exc.strerror or exc}") from exc


def _images(folder: Path) -> list[str]:
    try:
        with os.scandir(folder) as it:
            names = sorted(e.name for e in it if _is_image(e.name) and not e.is_dir())
    except OSError as exc:
        raise DataError(f"cannot read folder '{folder}': {exc.strerror or exc}") from exc
    if not names:
        raise DataError(
            f"imagenet: class folder '{folder}' holds no image (.JPEG, .jpg, .jpeg or .png); "
            f"extract its images there or remove the folder"
        )
    return names


def _split_folder(base: Path, name: str) -> Path:
    folder = base / name
    if not folder.is_dir():
        raise DataError(f"imagenet: missing folder '{folder}'; {_LAYOUT}")
    return folder


def _list(folder: Path, classes: Sequence[str], index: dict[str, int]):
    """(relative paths as a numpy byte-string array, int64 labels) of the class folders
    ``classes`` of ``folder``, class by class, names sorted."""
    files: list[bytes] = []
    labels: list[np.ndarray] = []
    for wnid in classes:
        names = _images(folder / wnid)
        files.extend(os.fsencode(f"{wnid}/{n}") for n in names)
        labels.append(np.full(len(names), index[wnid], dtype=np.int64))
    return np.array(files, dtype=np.bytes_), np.concatenate(labels)


def list_imagenet(base: Path) -> tuple[Path, np.ndarray, np.ndarray, Path, np.ndarray, np.ndarray,
                                       list[str]]:
    """List ``base/train`` and ``base/val``: ``(train folder, train files, train labels, val
    folder, val files, val labels, classes)`` (files relative to their folder, see the module
    docstring for order and labels). Every folder is checked before any image is read."""
    train_dir = _split_folder(base, "train")
    val_dir = _split_folder(base, "val")
    classes = _subfolders(train_dir)
    if not classes:
        raise DataError(f"imagenet: folder '{train_dir}' has no class subfolders; {_LAYOUT}")
    index = {w: i for i, w in enumerate(classes)}
    val_classes = _subfolders(val_dir)
    if not val_classes:
        raise DataError(f"imagenet: folder '{val_dir}' has no class subfolders; {_LAYOUT}")
    for wnid in val_classes:
        if wnid not in index:
            raise DataError(
                f"imagenet: class folder '{val_dir / wnid}' is not a class of '{train_dir}'; "
                f"the validation folders must use the training folders' names (wnids)"
            )
    x_tr, y_tr = _list(train_dir, classes, index)
    x_va, y_va = _list(val_dir, val_classes, index)
    return train_dir, x_tr, y_tr, val_dir, x_va, y_va, classes
