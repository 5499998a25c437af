"""Full-size ImageNet in ImageFolder layout (``data.name: imagenet``), streamed from disk: file
listing and labels, the evaluation and training transforms against plain Pillow references, the
RandomResizedCrop box against its contract, augmentation independent of workers and batching,
subsets, config keys and error paths. A tiny folder of JPEG/PNG files of different sizes (one
grayscale) is generated into tmp_path (seeded); nothing is downloaded."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
import torch

from analog_ep.config import load_config
from analog_ep.config.schema import DataConfig
from analog_ep.data import NORM_STATS, DataInfo, load_data
from analog_ep.data.imagenet import (ImageFolderSplit, eval_side, random_resized_crop_box,
                                     sample_rng, train_transform)
from analog_ep.errors import ConfigError, DataError

S = 16  # data.image_size of most tests; eval resizes the shorter side to round(16 * 256 / 224) = 18
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# (class folder, file name, (width, height), mode); folders are created in this (unsorted) order
# and the classes are the sorted folder names: n01000000 -> 0, n02000000 -> 1, n03000000 -> 2.
TRAIN = [
    ("n03000000", "a.JPEG", (40, 30), "RGB"),
    ("n03000000", "b.jpg", (30, 50), "L"),       # grayscale
    ("n03000000", "c.png", (25, 25), "RGB"),
    ("n01000000", "y.JpEg", (33, 21), "RGB"),
    ("n01000000", "x.JPEG", (64, 48), "RGB"),
    ("n02000000", "q.JPEG", (48, 48), "RGB"),
    ("n02000000", "p.jpeg", (17, 90), "RGB"),    # tall: RandomResizedCrop often falls back
]
VAL = [
    ("n01000000", "v1.JPEG", (50, 40), "RGB"),
    ("n03000000", "v3.JPEG", (39, 22), "RGB"),
    ("n03000000", "v2.JPEG", (20, 36), "L"),
]  # no val/n02000000: a class may be missing from val
# The loader's order: classes sorted, names sorted within a class.
TRAIN_ORDER = ["n01000000/x.JPEG", "n01000000/y.JpEg", "n02000000/p.jpeg", "n02000000/q.JPEG",
               "n03000000/a.JPEG", "n03000000/b.jpg", "n03000000/c.png"]
TRAIN_LABELS = [0, 0, 1, 1, 2, 2, 2]
VAL_ORDER = ["n01000000/v1.JPEG", "n03000000/v2.JPEG", "n03000000/v3.JPEG"]
VAL_LABELS = [0, 2, 2]
# Evaluation transform at S = 16, worked out by hand: (resized width, height, crop top, left).
# Shorter side -> 18, longer side -> int(18 * long / short); offsets round((side - 16) / 2).
EVAL_GEOMETRY = {
    "n01000000/x.JPEG": (24, 18, 1, 4),     # 64x48: int(18 * 64 / 48) = 24
    "n01000000/y.JpEg": (28, 18, 1, 6),     # 33x21: int(28.28) = 28
    "n02000000/p.jpeg": (18, 95, 40, 1),    # 17x90: int(95.29) = 95; round(39.5) = 40
    "n02000000/q.JPEG": (18, 18, 1, 1),
    "n03000000/a.JPEG": (24, 18, 1, 4),
    "n03000000/b.jpg": (18, 30, 7, 1),
    "n03000000/c.png": (18, 18, 1, 1),
    "n01000000/v1.JPEG": (22, 18, 1, 3),    # 50x40: int(22.5) = 22; round(3.0) = 3
    "n03000000/v2.JPEG": (18, 32, 8, 1),    # 20x36: int(32.4) = 32
    "n03000000/v3.JPEG": (31, 18, 1, 8),    # 39x22: int(31.9) = 31 (not rounded); round(7.5) = 8
}


def make_imagenet(root, seed=0):
    """Write root/train/<wnid>/ and root/val/<wnid>/ with seeded smooth-plus-noise images, plus
    files the loader must ignore (a text file, a hidden folder, a stray file in train/)."""
    from PIL import Image

    rng = np.random.RandomState(seed)
    for split, entries in (("train", TRAIN), ("val", VAL)):
        for wnid, name, (w, h), mode in entries:
            folder = root / split / wnid
            folder.mkdir(parents=True, exist_ok=True)
            yy, xx = np.mgrid[0:h, 0:w]
            base = np.stack([255 * xx / max(w - 1, 1), 255 * yy / max(h - 1, 1),
                             np.full((h, w), 128.0)], axis=-1)
            arr = np.clip(base + rng.randint(-40, 41, (h, w, 3)), 0, 255).astype(np.uint8)
            im = Image.fromarray(arr, "RGB")
            if mode == "L":
                im = im.convert("L")
            im.save(folder / name, format="PNG" if name.endswith(".png") else "JPEG", quality=90)
    (root / "train" / "n01000000" / "notes.txt").write_text("not an image")
    (root / "train" / ".cache").mkdir()
    (root / "train" / ".cache" / "z.JPEG").write_bytes(b"")
    (root / "train" / "LOC_synset_mapping.txt").write_text("n01000000 a\n")


def plain_eval(path, geometry, size=S) -> np.ndarray:
    """Reference: PIL resize to the hand-computed size, crop, channels first; uint8."""
    from PIL import Image

    nw, nh, top, left = geometry
    with Image.open(path) as im:
        rgb = im.convert("RGB")
    rgb = rgb.resize((nw, nh), Image.BILINEAR).crop((left, top, left + size, top + size))
    return np.array(rgb).transpose(2, 0, 1)


def plain_train(path, seed, index, size=S) -> np.ndarray:
    """Reference: the box from the (seed, index) generator, PIL crop + bilinear resize, then a
    mirror when the generator's next draw is below 1/2; uint8 channels first."""
    from PIL import Image

    with Image.open(path) as im:
        rgb = im.convert("RGB")
    rng = sample_rng(seed, index)
    top, left, h, w = random_resized_crop_box(rgb.size[0], rgb.size[1], rng)
    out = np.asarray(rgb.crop((left, top, left + w, top + h)).resize((size, size), Image.BILINEAR))
    if rng.random() < 0.5:
        out = out[:, ::-1]
    return out.transpose(2, 0, 1)


@pytest.fixture
def folder(tmp_path):
    make_imagenet(tmp_path)
    return tmp_path


def unit(folder, **kw):
    return load_data(DataConfig(name="imagenet", root=str(folder), normalize="unit", image_size=S,
                                **kw), 0)


def rel(split: ImageFolderSplit, i: int) -> str:
    return split.path(i).relative_to(split.folder).as_posix()


# ----------------------------------------------------------------------------- listing


def test_listing_labels_info_and_no_pixels_held(folder):
    tr, te, info = unit(folder)
    assert isinstance(tr, ImageFolderSplit) and isinstance(te, ImageFolderSplit)
    assert info == DataInfo("imagenet", (3, S, S), 3)
    assert tr.shape == te.shape == (3, S, S)
    assert (len(tr), len(te)) == (7, 3)
    assert [rel(tr, i) for i in range(7)] == TRAIN_ORDER
    assert [rel(te, i) for i in range(3)] == VAL_ORDER
    assert tr.folder == folder / "train" and te.folder == folder / "val"
    assert tr.y.dtype == torch.int64 and tr.y.tolist() == TRAIN_LABELS
    assert te.y.dtype == torch.int64 and te.y.tolist() == VAL_LABELS
    # only the file list and labels: no tensor but y
    assert [k for k, v in vars(tr).items() if isinstance(v, torch.Tensor)] == ["y"]
    assert tr.files.dtype.kind == "S"
    _, _, info224 = load_data(DataConfig(name="imagenet", root=str(folder)), 0)
    assert info224.shape == (3, 224, 224) and eval_side(224) == 256


def test_norm_stats_are_the_imagenet_constants():
    assert NORM_STATS["imagenet"] == (IMAGENET_MEAN, IMAGENET_STD)


# ----------------------------------------------------------------------------- evaluation transform


def test_eval_transform_equals_plain_pil_resize_and_crop(folder):
    tr, te, _ = unit(folder)
    x, y = tr.batch(slice(None))
    assert x.dtype == torch.float32 and x.shape == (7, 3, S, S) and y.tolist() == TRAIN_LABELS
    for i, name in enumerate(TRAIN_ORDER):
        ref = plain_eval(folder / "train" / name, EVAL_GEOMETRY[name])
        assert torch.equal(x[i], torch.from_numpy(ref).float() / 255), name
    xv, _ = te.batch(torch.arange(3))
    for i, name in enumerate(VAL_ORDER):
        ref = plain_eval(folder / "val" / name, EVAL_GEOMETRY[name])
        assert torch.equal(xv[i], torch.from_numpy(ref).float() / 255), name
    gray = x[TRAIN_ORDER.index("n03000000/b.jpg")]  # grayscale file: three equal channels
    assert torch.equal(gray[0], gray[1]) and torch.equal(gray[1], gray[2])
    # every index form selects the same examples
    for idx in (torch.tensor([4, 0]), np.array([4, 0]), [4, 0]):
        bx, by = tr.batch(idx)
        assert torch.equal(bx, x[[4, 0]]) and by.tolist() == [2, 0]


def test_standard_normalization_and_std_scale(folder):
    full, _, _ = unit(folder)
    tr, _, _ = load_data(DataConfig(name="imagenet", root=str(folder), image_size=S, std_scale=3.0), 0)
    x, _ = tr.batch(slice(None))
    u, _ = full.batch(slice(None))
    mean = np.array(IMAGENET_MEAN).reshape(1, 3, 1, 1)
    std = np.array(IMAGENET_STD).reshape(1, 3, 1, 1)
    np.testing.assert_allclose(x.numpy(), (u.numpy().astype(np.float64) - mean) / (3.0 * std),
                               rtol=1e-5, atol=1e-6)


def test_eval_loader_equals_batch(folder):
    tr, te, _ = unit(folder)
    batches = [torch.tensor([6, 1, 2]), torch.tensor([0]), torch.tensor([3, 5, 4])]
    stream = tr.loader(batches, train=False, seed=123, workers=0, pin_memory=True)
    assert len(stream) == 3
    got = list(stream)
    assert len(got) == 3
    for b, (x, y) in zip(batches, got):
        ex, ey = tr.batch(b)
        assert torch.equal(x, ex) and torch.equal(y, ey) and y.dtype == torch.int64


# ----------------------------------------------------------------------------- training transform


def test_train_loader_independent_of_workers_batching_and_pass(folder):
    tr, _, _ = unit(folder)
    state = torch.get_rng_state()
    groupings = [
        [torch.tensor([0, 1, 2, 3]), torch.tensor([4, 5, 6])],
        [torch.tensor([6, 2]), torch.tensor([5]), torch.tensor([0, 4, 3, 1])],
    ]

    def per_index(batches, workers, seed=7):
        out = {}
        for b, (x, y) in zip(batches, tr.loader(batches, train=True, seed=seed, workers=workers,
                                                 pin_memory=False)):
            assert x.shape == (len(b), 3, S, S) and torch.equal(y, tr.y[b])
            for k, i in enumerate(b.tolist()):
                out[i] = x[k]
        return out

    ref = per_index(groupings[0], workers=0)
    assert sorted(ref) == list(range(7))
    for batches in groupings:
        for workers in (0, 2):
            got = per_index(batches, workers)
            for i in range(7):
                assert torch.equal(got[i], ref[i]), (i, workers)
    # the same seed again gives the same crops; another seed other crops
    again = per_index(groupings[1], workers=0)
    assert all(torch.equal(again[i], ref[i]) for i in range(7))
    other = per_index(groupings[0], workers=0, seed=8)
    assert sum(not torch.equal(other[i], ref[i]) for i in range(7)) >= 5
    # training crops are not the evaluation crops
    ev, _ = tr.batch(slice(None))
    assert sum(not torch.equal(ev[i], ref[i]) for i in range(7)) >= 5
    # and exactly the plain crop + resize + flip of the (seed, index) generator
    for i, name in enumerate(TRAIN_ORDER):
        plain = plain_train(folder / "train" / name, 7, i)
        assert torch.equal(ref[i], torch.from_numpy(np.ascontiguousarray(plain)).float() / 255), name
    assert torch.equal(torch.get_rng_state(), state), "the loader must not draw from torch's global RNG"


def test_train_transform_output_size_and_flip_rate(folder):
    from PIL import Image

    with Image.open(folder / "train" / "n02000000" / "p.jpeg") as im:
        tall = im.convert("RGB")
    tiny = Image.new("RGB", (1, 1), (10, 20, 30))
    flips = 0
    for seed in range(200):
        for img in (tall, tiny):
            out = train_transform(img, 12, sample_rng(seed, 3))
            assert out.shape == (12, 12, 3) and out.dtype == np.uint8
        rng = sample_rng(seed, 3)
        random_resized_crop_box(*tall.size, rng)
        flips += rng.random() < 0.5
    assert 70 <= flips <= 130  # p = 1/2 over 200 seeds
    assert np.all(train_transform(tiny, 5, sample_rng(0, 0)) == (10, 20, 30))


# ----------------------------------------------------------------------------- RandomResizedCrop box


def test_random_resized_crop_box_contract():
    """For many seeds and image sizes: the box lies inside the image and is either a box that
    some area in [0.08, 1] x image area and ratio in [3/4, 4/3] round to, or the central
    fallback box."""
    sizes = [(1, 1), (2, 7), (17, 90), (90, 17), (48, 48), (64, 48), (500, 375), (1000, 10)]
    seen_fallback = seen_drawn = 0
    for width, height in sizes:
        area = width * height
        ratio = width / height
        if ratio < 0.75:
            fallback = ((height - round(width / 0.75)) // 2, 0, round(width / 0.75), width)
        elif ratio > 4 / 3:
            fallback = (0, (width - round(height * 4 / 3)) // 2, height, round(height * 4 / 3))
        else:
            fallback = (0, 0, height, width)
        tops, lefts = set(), set()
        for seed in range(300):
            top, left, h, w = random_resized_crop_box(width, height, np.random.default_rng(seed))
            assert 1 <= h and 1 <= w and 0 <= top and 0 <= left
            assert top + h <= height and left + w <= width
            # w = round(sqrt(A r)), h = round(sqrt(A / r)) for some A, r in range <=>
            # A in [(w-.5)(h-.5), (w+.5)(h+.5)] and r in [(w-.5)/(h+.5), (w+.5)/(h-.5)] meet them
            drawn = ((w + .5) * (h + .5) >= 0.08 * area and (w - .5) * (h - .5) <= area
                     and (w + .5) / (h - .5) >= 0.75 and (w - .5) / (h + .5) <= 4 / 3)
            assert drawn or (top, left, h, w) == fallback, (width, height, seed)
            seen_drawn += drawn
            seen_fallback += (top, left, h, w) == fallback
            tops.add(top)
            lefts.add(left)
        if (width, height) == (500, 375):
            assert len(tops) > 50 and len(lefts) > 50  # placed at random, not centred
    assert seen_drawn > 1000 and seen_fallback > 100


class Scripted:
    """A stand-in generator returning scripted uniform draws and the low end of integers."""

    def __init__(self, uniforms):
        self.uniforms = list(uniforms)
        self.calls = 0

    def uniform(self, lo, hi):
        self.calls += 1
        return self.uniforms.pop(0) if self.uniforms else hi

    def integers(self, lo, hi):
        assert hi > lo
        return lo


def test_random_resized_crop_box_closed_forms():
    # first attempt accepted: area 0.5 * 100 * 80 = 4000, ratio exp(0) = 1 -> 63 x 63 at (0, 0)
    assert random_resized_crop_box(100, 80, Scripted([0.5, 0.0])) == (0, 0, 63, 63)
    # a box as tall as the image fits: area 0.8 * 8000 = 6400, ratio 1 -> 80 x 80
    first = Scripted([0.8, 0.0])
    assert random_resized_crop_box(100, 80, first) == (0, 0, 80, 80) and first.calls == 2
    # whole image: scale 1, ratio = the image's
    rng = np.random.default_rng(0)
    assert random_resized_crop_box(40, 30, rng, scale=(1, 1), ratio=(4 / 3, 4 / 3)) == (0, 0, 30, 40)
    # every attempt too big (scale 1, ratio 4/3 on a tall image): 10 attempts, then the
    # central crop narrowed to ratio 3/4: 30 x round(30 / 0.75) = 40 rows, top (100 - 40) // 2
    tall = Scripted([])
    assert random_resized_crop_box(30, 100, tall) == (30, 0, 40, 30)
    assert tall.calls == 20  # 10 attempts x (area, ratio)
    # too wide: height kept, width round(10 * 4/3) = 13, left (1000 - 13) // 2 = 493
    assert random_resized_crop_box(1000, 10, Scripted([])) == (0, 493, 10, 13)
    # in-range ratio but no box fits (attempts = 0): the whole image
    assert random_resized_crop_box(50, 45, Scripted([]), attempts=0) == (0, 0, 45, 50)


def test_sample_rng_depends_on_seed_and_index_only():
    a = sample_rng(5, 3).random(4)
    assert np.array_equal(a, sample_rng(5, 3).random(4))
    assert not np.array_equal(a, sample_rng(5, 4).random(4))
    assert not np.array_equal(a, sample_rng(6, 3).random(4))
    assert np.array_equal(sample_rng(-1, 0).random(2), sample_rng(2 ** 64 - 1, 0).random(2))


# ----------------------------------------------------------------------------- subsets


def test_subsets_are_seeded(folder):
    full_tr, full_te, _ = unit(folder)
    tr, te, info = unit(folder, train_size=4, test_size=2)
    assert info.num_classes == 3 and (len(tr), len(te)) == (4, 2)
    idx = torch.sort(torch.randperm(7, generator=torch.Generator().manual_seed(0))[:4]).values
    assert [rel(tr, i) for i in range(4)] == [TRAIN_ORDER[i] for i in idx]
    assert torch.equal(tr.y, full_tr.y[idx])
    assert torch.equal(tr.batch(slice(None))[0], full_tr.batch(idx)[0])
    cfg = DataConfig(name="imagenet", root=str(folder), image_size=S, train_size=4, test_size=2)
    tr5, te5, _ = load_data(cfg, seed=5)
    idx5 = torch.sort(torch.randperm(7, generator=torch.Generator().manual_seed(5))[:4]).values
    assert [rel(tr5, i) for i in range(4)] == [TRAIN_ORDER[i] for i in idx5]
    idx_te = torch.sort(torch.randperm(3, generator=torch.Generator().manual_seed(0))[:2]).values
    for split in (te, te5):  # the test subset does not depend on the run seed
        assert [rel(split, i) for i in range(2)] == [VAL_ORDER[i] for i in idx_te]
    with pytest.raises(ConfigError, match=r"data\.train_size=8.*7"):
        unit(folder, train_size=8)
    with pytest.raises(ConfigError, match=r"data\.test_size=4.*3"):
        unit(folder, test_size=4)


# ----------------------------------------------------------------------------- config


def test_config_keys_and_validation(folder):
    cfg = load_config(None, ["data.name=imagenet", "data.image_size=96", "data.workers=0"])
    assert (cfg.data.name, cfg.data.image_size, cfg.data.workers) == ("imagenet", 96, 0)
    default = load_config(None, [])
    assert (default.data.image_size, default.data.workers) == (224, 4)
    with pytest.raises(ConfigError, match=r"data\.image_size.*>= 8"):
        load_config(None, ["data.image_size=4"])
    with pytest.raises(ConfigError, match=r"data\.workers.*>= 0"):
        load_config(None, ["data.workers=-1"])
    with pytest.raises(ConfigError, match=r"data\.augment.*imagenet"):
        load_config(None, ["data.name=imagenet", "data.augment=[flip]"])
    with pytest.raises(ConfigError, match=r"data\.image_size=4"):
        load_data(DataConfig(name="imagenet", root=str(folder), image_size=4), 0)
    with pytest.raises(ConfigError, match=r"data\.workers=-2"):
        load_data(DataConfig(name="imagenet", root=str(folder), workers=-2), 0)


def test_stream_parts_pickle_for_spawned_workers(folder):
    tr, _, _ = unit(folder)
    stream = tr.loader([torch.tensor([1, 0])], train=True, seed=3, workers=0, pin_memory=False)
    ds = pickle.loads(pickle.dumps(stream.dataset))
    collate = pickle.loads(pickle.dumps(stream.collate))
    x, y = collate([ds[1], ds[0]])
    ex, ey = next(iter(stream))
    assert torch.equal(x, ex) and torch.equal(y, ey)
    with pytest.raises(ValueError, match="1-D integer"):
        tr.loader([torch.tensor([[0]])], train=True, seed=0, workers=0, pin_memory=False)
    with pytest.raises(IndexError, match="outside"):
        tr.loader([torch.tensor([7])], train=True, seed=0, workers=0, pin_memory=False)


# ----------------------------------------------------------------------------- errors


def test_root_not_set_or_missing(tmp_path):
    with pytest.raises(ConfigError, match=r"data\.root.*imagenet.*--set data\.root=PATH"):
        load_data(DataConfig(name="imagenet"), 0)
    with pytest.raises(DataError, match=r"data\.root.*does not exist"):
        load_data(DataConfig(name="imagenet", root=str(tmp_path / "nope")), 0)


@pytest.mark.parametrize("split", ["train", "val"])
def test_missing_split_folder(folder, split):
    import shutil

    shutil.rmtree(folder / split)
    with pytest.raises(DataError) as e:
        unit(folder)
    msg = str(e.value)
    assert "\n" not in msg
    assert f"missing folder '{folder / split}'" in msg and "train/<wnid>" in msg and "val/<wnid>" in msg


def test_empty_class_folders_and_foreign_val_class(folder):
    (folder / "train" / "n04000000").mkdir()
    (folder / "train" / "n04000000" / "readme.txt").write_text("x")
    with pytest.raises(DataError, match=r"class folder '.*n04000000' holds no image"):
        unit(folder)
    (folder / "train" / "n04000000" / "readme.txt").unlink()
    (folder / "train" / "n04000000").rmdir()
    (folder / "val" / "n02000000").mkdir()
    with pytest.raises(DataError, match=r"val.n02000000' holds no image"):
        unit(folder)
    (folder / "val" / "n02000000").rmdir()
    (folder / "val" / "n09999999").mkdir()
    with pytest.raises(DataError, match=r"'.*n09999999' is not a class of '.*train'"):
        unit(folder)


def test_no_class_folders(tmp_path):
    (tmp_path / "train").mkdir()
    (tmp_path / "val").mkdir()
    with pytest.raises(DataError, match=r"train' has no class subfolders"):
        unit(tmp_path)


def test_corrupt_image_is_named_in_batch_and_in_workers(folder):
    bad = folder / "train" / "n02000000" / "q.JPEG"
    bad.write_bytes(b"\xff\xd8\xff garbage, not a JPEG")
    tr, _, _ = unit(folder)  # listing does not decode
    i = TRAIN_ORDER.index("n02000000/q.JPEG")
    assert len(tr.batch([0, 1])[0]) == 2
    with pytest.raises(DataError) as e:
        tr.batch([0, i])
    msg = str(e.value)
    assert "\n" not in msg and f"file '{bad}' is not a readable image" in msg
    for workers in (0, 1):
        stream = tr.loader([torch.tensor([0]), torch.tensor([i, 1])], train=True, seed=0,
                           workers=workers, pin_memory=False)
        it = iter(stream)
        next(it)
        with pytest.raises(DataError) as e:
            next(it)
        msg = str(e.value)
        assert "\n" not in msg and f"file '{bad}' is not a readable image" in msg, workers
    # a truncated JPEG is corrupt too
    good = (folder / "train" / "n01000000" / "x.JPEG").read_bytes()
    bad.write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError, match=r"q\.JPEG' is not a readable image"):
        tr.batch([i])
    bad.unlink()
    with pytest.raises(DataError, match=r"missing file '.*q\.JPEG'"):
        tr.batch([i])


def test_explicit_mean_std(folder):
    """data.mean / data.std reach the streamed splits: equal to the constants -> identical batches;
    other values -> (x - mean) / (std_scale * std); a wrong channel count is refused by key."""
    full, _, _ = unit(folder)
    u, _ = full.batch(slice(None))
    ref, _, _ = load_data(DataConfig(name="imagenet", root=str(folder), image_size=S), 0)
    same, _, _ = load_data(DataConfig(name="imagenet", root=str(folder), image_size=S,
                                      mean=list(IMAGENET_MEAN), std=list(IMAGENET_STD)), 0)
    assert torch.equal(same.batch(slice(None))[0], ref.batch(slice(None))[0])
    other, _, _ = load_data(DataConfig(name="imagenet", root=str(folder), image_size=S, std_scale=2.0,
                                       mean=[0.5, 0.5, 0.5], std=[0.25, 0.5, 1.0]), 0)
    expected = (u.numpy().astype(np.float64) - 0.5) / (2.0 * np.array([0.25, 0.5, 1.0]).reshape(1, 3, 1, 1))
    np.testing.assert_allclose(other.batch(slice(None))[0].numpy(), expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(ConfigError, match="data.mean"):
        load_data(DataConfig(name="imagenet", root=str(folder), image_size=S, mean=[0.5]), 0)
