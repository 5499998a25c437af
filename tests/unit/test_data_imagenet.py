"""Tiny ImageNet and downsampled ImageNet (imagenet32 / imagenet64): decoding, labels, uint8
storage with per-batch normalization, subsets, error paths and one training epoch. Every
dataset is generated into tmp_path (seeded, a few images); nothing is downloaded."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from analog_ep.config.schema import DataConfig
from analog_ep.data import NORM_STATS, DataInfo, Split, _pixel_split, _to_split, load_data
from analog_ep.errors import ConfigError, DataError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# ----------------------------------------------------------------------------- writers


def make_downsampled(root, side=32, counts=(3, 1, 2, 1, 1, 1, 2, 1, 1, 1), n_val=4, seed=0,
                     compressed_first=True):
    """Write train_data_batch_1..10.npz and val_data.npz; return (x_train, y_train, x_val,
    y_val) as the files hold them (uint8 rows, 1-based labels), concatenated in file order.
    Image 0 of batch 1 is pure red (R plane 255, G and B 0); image 1 has a ramp in G."""
    rng = np.random.RandomState(seed)
    root.mkdir(parents=True, exist_ok=True)
    flat = 3 * side * side
    xs, ys = [], []
    for i, n in enumerate(counts, start=1):
        x = rng.randint(0, 256, (n, flat)).astype(np.uint8)
        y = rng.randint(1, 1001, n).astype(np.int64)
        if i == 1:
            x[0] = 0
            x[0, :side * side] = 255
            x[1] = 0
            x[1, side * side:2 * side * side] = np.arange(side * side) % 256
            y[:2] = (1, 1000)
        save = np.savez_compressed if (i == 1 and compressed_first) else np.savez
        save(root / f"train_data_batch_{i}.npz", data=x, labels=y,
             mean=x.mean(0).astype(np.float64))
        xs.append(x)
        ys.append(y)
    xv = rng.randint(0, 256, (n_val, flat)).astype(np.uint8)
    yv = rng.randint(1, 1001, n_val).astype(np.int64)
    np.savez(root / "val_data.npz", data=xv, labels=yv)
    return np.concatenate(xs), np.concatenate(ys), xv, yv


WNIDS = ["n09999999", "n01000000", "n05555555"]  # deliberately not sorted: label = line index
COLORS = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]


def make_tiny_imagenet(root, per_class=(3, 2, 4), val=(2, 0, 1, 2, 1)):
    """Write a Tiny ImageNet folder: class k's training images are solid COLORS[k] except one
    seeded noise image per class (and one grayscale image in class 0); the validation images
    are solid colours of the annotated class. Returns (train labels, val labels) in the
    loader's order (wnids order then file name; annotation order)."""
    from PIL import Image

    rng = np.random.RandomState(0)
    root.mkdir(parents=True, exist_ok=True)
    (root / "wnids.txt").write_text("\n".join(WNIDS) + "\n")
    y_train = []
    for k, (wnid, n) in enumerate(zip(WNIDS, per_class)):
        folder = root / "train" / wnid / "images"
        folder.mkdir(parents=True)
        (root / "train" / wnid / f"{wnid}_boxes.txt").write_text("")
        for j in range(n):
            if j == n - 1:
                arr = rng.randint(0, 256, (64, 64, 3)).astype(np.uint8)
                im = Image.fromarray(arr, "RGB")
            else:
                im = Image.new("RGB", (64, 64), COLORS[k])
            if k == 0 and j == 1:
                im = Image.new("L", (64, 64), 128)
            im.save(folder / f"{wnid}_{j}.JPEG", quality=95)
            y_train.append(k)
    (root / "val" / "images").mkdir(parents=True)
    lines = []
    for i, k in enumerate(val):
        Image.new("RGB", (64, 64), COLORS[k]).save(root / "val" / "images" / f"val_{i}.JPEG")
        lines.append(f"val_{i}.JPEG\t{WNIDS[k]}\t0\t0\t63\t63")
    (root / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    (root / "test" / "images").mkdir(parents=True)  # unlabeled, ignored
    return np.array(y_train), np.array(val)


def pillow_decode(path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB")).transpose(2, 0, 1)


# ----------------------------------------------------------------------------- Split API


def test_float_split_batch_is_the_stored_tensor():
    x = torch.randn(5, 1, 2, 2)
    s = Split(x, torch.arange(5))
    bx, by = s.batch(torch.tensor([3, 1]))
    assert torch.equal(bx, x[[3, 1]]) and torch.equal(by, torch.tensor([3, 1]))
    bx, _ = s.batch(slice(1, 4))
    assert torch.equal(bx, x[1:4])


def test_pixel_split_equals_eager_float32_normalization():
    """uint8 + per-batch normalization == the float32 path the small sets use, bit for bit."""
    rng = np.random.RandomState(3)
    raw = rng.randint(0, 256, (7, 3, 4, 5)).astype(np.uint8)
    y = np.arange(7)
    for stats, scale in ((None, 1.0), (NORM_STATS["cifar10"], 1.0), (NORM_STATS["imagenet32"], 3.0)):
        eager = _to_split(raw, y, None, 255.0, (3, 4, 5), stats, scale)
        lazy = _pixel_split(raw, y, stats, scale)
        assert lazy.x.dtype == torch.uint8
        bx, by = lazy.batch(slice(None))
        assert bx.dtype == torch.float32 and torch.equal(bx, eager.x) and torch.equal(by, eager.y)
        idx = torch.tensor([6, 0, 2])
        assert torch.equal(lazy.batch(idx)[0], eager.x[idx])


def test_split_rejects_inconsistent_normalization():
    m = torch.zeros(3)
    with pytest.raises(ValueError, match="both"):
        Split(torch.zeros(2, 3, 1, 1, dtype=torch.uint8), torch.zeros(2, dtype=torch.int64), mean=m)
    with pytest.raises(ValueError, match="uint8"):
        Split(torch.zeros(2, 3, 1, 1), torch.zeros(2, dtype=torch.int64), mean=m, std=m)
    with pytest.raises(ValueError, match=r"\(2,\)"):
        Split(torch.zeros(2, 2, 1, 1, dtype=torch.uint8), torch.zeros(2, dtype=torch.int64),
              mean=m, std=m)


def test_norm_stats_are_the_imagenet_constants():
    for name in ("tiny_imagenet", "imagenet32", "imagenet64"):
        assert NORM_STATS[name] == (IMAGENET_MEAN, IMAGENET_STD)


# ----------------------------------------------------------------------------- downsampled


@pytest.mark.parametrize("name,side", [("imagenet32", 32), ("imagenet64", 64)])
def test_downsampled_round_trip_unit(tmp_path, name, side):
    x_raw, y_raw, xv_raw, yv_raw = make_downsampled(tmp_path, side=side)
    tr, te, info = load_data(DataConfig(name=name, root=str(tmp_path), normalize="unit"), 0)
    assert info == DataInfo(name, (3, side, side), 1000)
    assert (len(tr), len(te)) == (14, 4)
    assert tr.x.dtype == torch.uint8 and tr.x.shape == (14, 3, side, side)
    assert torch.equal(tr.x, torch.from_numpy(x_raw.reshape(-1, 3, side, side)))
    assert torch.equal(tr.y, torch.from_numpy(y_raw - 1)) and tr.y.dtype == torch.int64
    assert torch.equal(te.y, torch.from_numpy(yv_raw - 1))
    assert (int(tr.y[0]), int(tr.y[1])) == (0, 999)
    x, y = tr.batch(slice(0, 2))
    assert x.dtype == torch.float32 and torch.equal(y, tr.y[:2])
    # channel-planar rows: image 0 has R = 255, G = B = 0
    assert torch.all(x[0, 0] == 1.0) and torch.all(x[0, 1:] == 0.0)
    # image 1: G plane is a row-major ramp 0, 1, 2, ... (mod 256)
    ramp = (torch.arange(side * side) % 256).reshape(side, side).float() / 255
    assert torch.equal(x[1, 1], ramp) and torch.all(x[1, 0] == 0) and torch.all(x[1, 2] == 0)
    assert x[1, 1, 0, 5] == pytest.approx(5 / 255) and x[1, 1, 1, 0] == pytest.approx((side % 256) / 255)
    xt, _ = te.batch(slice(None))
    assert torch.equal(xt, torch.from_numpy(xv_raw.reshape(-1, 3, side, side)).float() / 255)


def test_downsampled_standard_normalization(tmp_path):
    x_raw, *_ = make_downsampled(tmp_path)
    tr, _, _ = load_data(DataConfig(name="imagenet32", root=str(tmp_path), std_scale=2.0), 0)
    assert tr.x.dtype == torch.uint8
    x, _ = tr.batch(torch.arange(len(tr)))
    mean = np.array(IMAGENET_MEAN).reshape(1, 3, 1, 1)
    std = np.array(IMAGENET_STD).reshape(1, 3, 1, 1)
    expected = (x_raw.reshape(-1, 3, 32, 32) / 255.0 - mean) / (2.0 * std)
    np.testing.assert_allclose(x.numpy(), expected, rtol=1e-5, atol=1e-6)
    assert x[0, 0, 0, 0].item() == pytest.approx((1 - 0.485) / (2 * 0.229), rel=1e-6)
    assert x[0, 1, 0, 0].item() == pytest.approx(-0.456 / (2 * 0.224), rel=1e-6)


def test_downsampled_subsets_are_seeded_and_span_files(tmp_path):
    x_raw, y_raw, xv_raw, yv_raw = make_downsampled(tmp_path)
    cfg = DataConfig(name="imagenet32", root=str(tmp_path), normalize="unit", train_size=6,
                     test_size=3)
    tr, te, _ = load_data(cfg, seed=5)
    assert (len(tr), len(te)) == (6, 3)
    idx = torch.sort(torch.randperm(14, generator=torch.Generator().manual_seed(5))[:6]).values.numpy()
    assert torch.equal(tr.x, torch.from_numpy(x_raw[idx].reshape(-1, 3, 32, 32)))
    assert torch.equal(tr.y, torch.from_numpy(y_raw[idx] - 1))
    idx_te = torch.sort(torch.randperm(4, generator=torch.Generator().manual_seed(0))[:3]).values.numpy()
    assert torch.equal(te.y, torch.from_numpy(yv_raw[idx_te] - 1))
    tr2, te2, _ = load_data(cfg, seed=5)
    assert torch.equal(tr.x, tr2.x)
    tr3, te3, _ = load_data(cfg, seed=6)
    assert torch.equal(te.x, te3.x)  # the test subset does not depend on the run seed
    with pytest.raises(ConfigError, match=r"data\.train_size=15.*14"):
        load_data(DataConfig(name="imagenet32", root=str(tmp_path), train_size=15), 0)


def test_downsampled_root_not_set():
    with pytest.raises(ConfigError, match=r"data\.root.*imagenet32.*--set data\.root=PATH"):
        load_data(DataConfig(name="imagenet32"), 0)


@pytest.mark.parametrize("missing", ["val_data.npz", "train_data_batch_7.npz"])
def test_downsampled_missing_file(tmp_path, missing):
    make_downsampled(tmp_path)
    (tmp_path / missing).unlink()
    with pytest.raises(DataError) as e:
        load_data(DataConfig(name="imagenet32", root=str(tmp_path)), 0)
    msg = str(e.value)
    assert "\n" not in msg
    assert str(tmp_path / missing) in msg and "data.root" in msg
    assert "train_data_batch_1.npz" in msg and "train_data_batch_10.npz" in msg
    assert "val_data.npz" in msg and "Imagenet32_val_npz" in msg


def test_downsampled_wrong_resolution_is_named(tmp_path):
    make_downsampled(tmp_path, side=64)
    with pytest.raises(DataError, match=r"train_data_batch_1\.npz.*\(3, 3072\).*imagenet64"):
        load_data(DataConfig(name="imagenet32", root=str(tmp_path)), 0)


def test_downsampled_zero_based_labels_refused(tmp_path):
    make_downsampled(tmp_path)
    np.savez(tmp_path / "val_data.npz", data=np.zeros((2, 3072), np.uint8), labels=np.array([0, 5]))
    with pytest.raises(DataError, match=r"val_data\.npz.*label 0 at index 0.*1\.\.1000.*1-based"):
        load_data(DataConfig(name="imagenet32", root=str(tmp_path)), 0)


def test_downsampled_corrupt_or_incomplete_archives(tmp_path):
    make_downsampled(tmp_path)
    path = tmp_path / "train_data_batch_3.npz"
    path.write_bytes(b"PK\x03\x04 this is not a zip archive")
    with pytest.raises(DataError, match=r"train_data_batch_3\.npz.*not a readable npz.*re-download"):
        load_data(DataConfig(name="imagenet32", root=str(tmp_path)), 0)
    np.savez(path, data=np.zeros((1, 3072), np.uint8))
    with pytest.raises(DataError, match=r"train_data_batch_3\.npz.*no 'labels' entry"):
        load_data(DataConfig(name="imagenet32", root=str(tmp_path)), 0)
    np.savez(path, data=np.zeros((1, 3072), np.float32), labels=np.array([3]))
    with pytest.raises(DataError, match=r"train_data_batch_3\.npz.*dtype float32.*uint8"):
        load_data(DataConfig(name="imagenet32", root=str(tmp_path)), 0)


# ----------------------------------------------------------------------------- tiny imagenet


def test_tiny_imagenet_round_trip(tmp_path):
    y_train, y_val = make_tiny_imagenet(tmp_path)
    tr, te, info = load_data(DataConfig(name="tiny_imagenet", root=str(tmp_path), normalize="unit"), 0)
    assert info == DataInfo("tiny_imagenet", (3, 64, 64), 3)
    assert (len(tr), len(te)) == (9, 5)
    assert tr.x.dtype == torch.uint8 and tr.x.shape == (9, 3, 64, 64)
    assert torch.equal(tr.y, torch.from_numpy(y_train)) and tr.y.dtype == torch.int64
    assert torch.equal(te.y, torch.from_numpy(y_val))
    # exactly Pillow's RGB decode, channels first, in wnids order then file name order
    files = [tmp_path / "train" / w / "images" / f"{w}_{j}.JPEG"
             for w, n in zip(WNIDS, (3, 2, 4)) for j in range(n)]
    for k, f in enumerate(files):
        assert np.array_equal(tr.x[k].numpy(), pillow_decode(f)), f
    for i in range(5):
        assert np.array_equal(te.x[i].numpy(), pillow_decode(tmp_path / "val" / "images" / f"val_{i}.JPEG"))
    # solid colours land in the right channel (JPEG: within a few levels)
    x, _ = tr.batch(slice(None))
    assert x.dtype == torch.float32
    red = x[0].mean(dim=(1, 2))
    assert red[0] > 0.98 and red[1] < 0.02 and red[2] < 0.02
    blue = x[5].mean(dim=(1, 2))  # class 2 (third wnid), first image
    assert blue[2] > 0.98 and blue[0] < 0.02 and blue[1] < 0.02
    gray = x[1]  # grayscale file: converted to three equal channels
    assert torch.equal(gray[0], gray[1]) and torch.equal(gray[1], gray[2])
    xv, _ = te.batch(slice(None))
    assert xv[0].mean(dim=(1, 2))[2] > 0.98 and xv[1].mean(dim=(1, 2))[0] > 0.98


def test_tiny_imagenet_standard_subfolder_and_subset(tmp_path):
    make_tiny_imagenet(tmp_path / "tiny-imagenet-200")
    full, _, _ = load_data(DataConfig(name="tiny_imagenet", root=str(tmp_path), normalize="unit"), 0)
    cfg = DataConfig(name="tiny_imagenet", root=str(tmp_path), train_size=4, test_size=2, std_scale=3.0)
    tr, te, _ = load_data(cfg, seed=9)
    assert (len(tr), len(te)) == (4, 2) and tr.x.dtype == torch.uint8
    idx = torch.sort(torch.randperm(9, generator=torch.Generator().manual_seed(9))[:4]).values
    assert torch.equal(tr.x, full.x[idx]) and torch.equal(tr.y, full.y[idx])
    x, _ = tr.batch(slice(None))
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    torch.testing.assert_close(x, (full.x[idx].float() / 255 - mean) / (3.0 * std))
    with pytest.raises(ConfigError, match=r"data\.test_size=6.*5"):
        load_data(DataConfig(name="tiny_imagenet", root=str(tmp_path), test_size=6), 0)


def test_tiny_imagenet_missing_files(tmp_path):
    with pytest.raises(DataError) as e:
        load_data(DataConfig(name="tiny_imagenet", root=str(tmp_path)), 0)
    msg = str(e.value)
    assert str(tmp_path / "wnids.txt") in msg and "tiny-imagenet-200" in msg and "data.root" in msg

    make_tiny_imagenet(tmp_path)
    (tmp_path / "val" / "images" / "val_3.JPEG").unlink()
    with pytest.raises(DataError, match=r"missing file .*val_3\.JPEG.*data\.root"):
        load_data(DataConfig(name="tiny_imagenet", root=str(tmp_path)), 0)
    (tmp_path / "val" / "val_annotations.txt").unlink()
    with pytest.raises(DataError, match=r"val_annotations\.txt"):
        load_data(DataConfig(name="tiny_imagenet", root=str(tmp_path)), 0)
    import shutil

    shutil.rmtree(tmp_path / "train" / WNIDS[1])
    with pytest.raises(DataError, match=rf"missing folder .*{WNIDS[1]}.*class '{WNIDS[1]}'"):
        load_data(DataConfig(name="tiny_imagenet", root=str(tmp_path)), 0)


def test_tiny_imagenet_corrupt_files(tmp_path):
    from PIL import Image

    make_tiny_imagenet(tmp_path)
    ann = tmp_path / "val" / "val_annotations.txt"
    good = ann.read_text()
    ann.write_text(good + "val_9.JPEG\tn00000001\t0\t0\t1\t1\n")
    with pytest.raises(DataError, match=r"val_annotations\.txt' line 6: class id 'n00000001' is not in wnids"):
        load_data(DataConfig(name="tiny_imagenet", root=str(tmp_path)), 0)
    ann.write_text(good)
    bad = tmp_path / "train" / WNIDS[2] / "images" / f"{WNIDS[2]}_1.JPEG"
    bad.write_bytes(b"\xff\xd8\xff garbage")
    with pytest.raises(DataError, match=r"_1\.JPEG' is not a readable image"):
        load_data(DataConfig(name="tiny_imagenet", root=str(tmp_path)), 0)
    Image.new("RGB", (32, 64)).save(bad, format="JPEG")
    with pytest.raises(DataError, match=r"_1\.JPEG' is 32x64 pixels, expected 64x64"):
        load_data(DataConfig(name="tiny_imagenet", root=str(tmp_path)), 0)
    (tmp_path / "wnids.txt").write_text(f"{WNIDS[0]}\n{WNIDS[0]}\n")
    with pytest.raises(DataError, match=r"wnids\.txt.*appears twice"):
        load_data(DataConfig(name="tiny_imagenet", root=str(tmp_path)), 0)


# ----------------------------------------------------------------------------- training


def test_one_epoch_on_generated_imagenet32(tmp_path):
    from analog_ep.config import load_config
    from analog_ep.results import read_results
    from analog_ep.train import fit, make_trainer

    make_downsampled(tmp_path / "data", counts=(2,) * 10, n_val=4)
    cfg = load_config(None, ["data.name=imagenet32", f"data.root={tmp_path / 'data'}",
                             "data.train_size=12", "data.batch_size=6", "data.augment=[flip,crop]",
                             "model.name=dchn_vgg5", "model.channels=[4,4,4,4]", "train.epochs=1",
                             "solver.free_iters=3", "solver.nudge_iters=2"])
    trainer = make_trainer(cfg, tmp_path / "run")
    assert trainer.train_set.x.dtype == torch.uint8 and trainer.num_classes == 1000
    fit(trainer, progress=False)
    r = read_results(tmp_path / "run" / "results.h5")
    assert r["status"] == "finished"
    ep = r["epochs"]
    assert np.isfinite(ep["train_loss"][0]) and np.isfinite(ep["test_loss"][0])
    assert 0.0 <= ep["test_accuracy"][0] <= 1.0


def test_downsampled_explicit_mean_std(tmp_path):
    """data.mean / data.std reach the per-batch normalization of the uint8 sets: equal to the
    constants -> identical batches; other values -> (x - mean) / (std_scale * std)."""
    x_raw, *_ = make_downsampled(tmp_path)
    idx = torch.arange(len(x_raw))
    ref, _, _ = load_data(DataConfig(name="imagenet32", root=str(tmp_path), std_scale=2.0), 0)
    same, _, _ = load_data(DataConfig(name="imagenet32", root=str(tmp_path), std_scale=2.0,
                                      mean=list(IMAGENET_MEAN), std=list(IMAGENET_STD)), 0)
    assert torch.equal(same.batch(idx)[0], ref.batch(idx)[0])
    other, _, _ = load_data(DataConfig(name="imagenet32", root=str(tmp_path), std_scale=2.0,
                                       mean=[0.5, 0.5, 0.5], std=[0.25, 0.5, 1.0]), 0)
    expected = (x_raw.reshape(-1, 3, 32, 32) / 255.0 - 0.5) / (2.0 * np.array([0.25, 0.5, 1.0]).reshape(1, 3, 1, 1))
    np.testing.assert_allclose(other.batch(idx)[0].numpy(), expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(ConfigError, match="data.std"):
        load_data(DataConfig(name="imagenet32", root=str(tmp_path), std=[0.25, 0.5]), 0)
