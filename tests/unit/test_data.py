"""Dataset loading: digits split, IDX and CIFAR parsing, normalization, subsets, synthetic data,
and every error path (tiny files written into tmp_path; no real dataset needed)."""

from __future__ import annotations

import gzip
import pickle
import struct
import typing

import numpy as np
import pytest
import torch

from analog_ep.config.schema import DataConfig
from analog_ep.data import (
    NORM_STATS,
    DataInfo,
    Split,
    available_datasets,
    load_data,
)
from analog_ep.errors import ConfigError, DataError

# ----------------------------------------------------------------------------- writers

IDX_NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def idx_bytes(arr: np.ndarray, magic: int | None = None) -> bytes:
    arr = np.asarray(arr, dtype=np.uint8)
    if magic is None:
        magic = 0x00000800 | arr.ndim
    return struct.pack(">I", magic) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


def write(path, data: bytes, gz: bool):
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


def make_idx_set(root, n_train=6, n_test=4, rows=3, cols=2, gz=True, seed=0):
    """Write a tiny IDX dataset; return the raw uint8 arrays."""
    rng = np.random.RandomState(seed)
    arrays = {
        "train_images": rng.randint(0, 256, (n_train, rows, cols)).astype(np.uint8),
        "train_labels": (np.arange(n_train) % 10).astype(np.uint8),
        "test_images": rng.randint(0, 256, (n_test, rows, cols)).astype(np.uint8),
        "test_labels": ((np.arange(n_test) * 3) % 10).astype(np.uint8),
    }
    arrays["train_images"][0, 0, 0] = 0
    arrays["train_images"][0, 0, 1] = 255
    root.mkdir(parents=True, exist_ok=True)
    for key, arr in arrays.items():
        write(root / IDX_NAMES[key], idx_bytes(arr), gz)
    return arrays


def make_cifar_set(root, dataset="cifar10", n_per_batch=3, subdir=True, str_keys=False,
                   protocol=2):
    rng = np.random.RandomState(1)
    if dataset == "cifar10":
        folder = root / "cifar-10-batches-py" if subdir else root
        train_names = [f"data_batch_{i}" for i in range(1, 6)]
        test_names = ["test_batch"]
        label_key, k = "labels", 10
    else:
        folder = root / "cifar-100-python" if subdir else root
        train_names, test_names, label_key, k = ["train"], ["test"], "fine_labels", 100
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for split, names in (("train", train_names), ("test", test_names)):
        xs, ys = [], []
        for name in names:
            x = rng.randint(0, 256, (n_per_batch, 3072)).astype(np.uint8)
            y = [int(v) for v in rng.randint(0, k, n_per_batch)]
            key = (lambda s: s) if str_keys else (lambda s: s.encode())
            batch = {key("data"): x, key(label_key): y, key("batch_label"): b"x"}
            if dataset == "cifar100":
                batch[key("coarse_labels")] = [0] * n_per_batch
            with open(folder / name, "wb") as f:
                pickle.dump(batch, f, protocol=protocol)
            xs.append(x)
            ys.extend(y)
        out[split] = (np.concatenate(xs), np.array(ys))
    return folder, out


# ----------------------------------------------------------------------------- API basics


def test_available_datasets_matches_config_literal():
    hints = typing.get_type_hints(DataConfig)
    assert available_datasets() == list(typing.get_args(hints["name"]))


def test_split_len_and_info_frozen():
    s = Split(torch.zeros(5, 1, 2, 2), torch.zeros(5, dtype=torch.int64))
    assert len(s) == 5
    info = DataInfo("x", (1, 2, 2), 3)
    with pytest.raises(Exception):
        info.num_classes = 4  # frozen


# ----------------------------------------------------------------------------- digits


def test_digits_split_fixed_and_unit_values():
    from sklearn.datasets import load_digits

    cfg = DataConfig(name="digits", normalize="unit")
    tr1, te1, info = load_data(cfg, seed=0)
    tr2, te2, _ = load_data(cfg, seed=123)
    assert info == DataInfo("digits", (1, 8, 8), 10)
    assert (len(tr1), len(te1)) == (1437, 360)
    assert tr1.x.dtype == torch.float32 and tr1.y.dtype == torch.int64
    assert tr1.x.shape == (1437, 1, 8, 8) and te1.x.shape == (360, 1, 8, 8)
    # The split never depends on the run seed.
    assert torch.equal(tr1.x, tr2.x) and torch.equal(te1.x, te2.x)
    assert torch.equal(tr1.y, tr2.y) and torch.equal(te1.y, te2.y)
    # Train and test partition the whole set exactly; pixels are images / 16.
    d = load_digits()
    every = np.concatenate([tr1.x.numpy(), te1.x.numpy()]).reshape(-1, 64)
    ref = (d.images.reshape(-1, 64) / 16).astype(np.float32)
    key = lambda a: sorted(map(bytes, (a * 16).round().astype(np.uint8)))  # noqa: E731
    assert key(every) == key(ref)
    assert float(tr1.x.min()) == 0.0 and float(tr1.x.max()) == 1.0
    # Stratified: every class has 35..37 test images.
    counts = torch.bincount(te1.y, minlength=10)
    assert int(counts.min()) >= 35 and int(counts.max()) <= 37


def test_digits_standard_normalization():
    tr, te, _ = load_data(DataConfig(name="digits", normalize="standard"), seed=0)
    assert abs(float(tr.x.mean())) < 0.05
    assert abs(float(tr.x.std()) - 1.0) < 0.05
    unit, _, _ = load_data(DataConfig(name="digits", normalize="unit"), seed=0)
    mean, std = NORM_STATS["digits"]
    torch.testing.assert_close(tr.x, (unit.x - mean[0]) / std[0])
    tr3, _, _ = load_data(DataConfig(name="digits", std_scale=3.0), seed=0)
    torch.testing.assert_close(tr3.x, tr.x / 3)


def test_digits_constants_match_data():
    from sklearn.datasets import load_digits

    x = load_digits().images / 16
    mean, std = NORM_STATS["digits"]
    assert abs(x.mean() - mean[0]) < 1e-4 and abs(x.std() - std[0]) < 1e-4


def test_subset_sizes_and_determinism():
    full, _, _ = load_data(DataConfig(name="digits", normalize="unit"), seed=0)
    cfg = DataConfig(name="digits", train_size=100, test_size=50, normalize="unit")
    a_tr, a_te, _ = load_data(cfg, seed=7)
    b_tr, b_te, _ = load_data(cfg, seed=7)
    c_tr, _, _ = load_data(cfg, seed=8)
    assert (len(a_tr), len(a_te)) == (100, 50)
    assert torch.equal(a_tr.x, b_tr.x) and torch.equal(a_te.y, b_te.y)
    assert not torch.equal(a_tr.x, c_tr.x)
    # The subset is the seeded randperm's first n, kept in the original order.
    g = torch.Generator().manual_seed(7)
    idx = torch.sort(torch.randperm(1437, generator=g)[:100]).values
    assert torch.equal(a_tr.x, full.x[idx]) and torch.equal(a_tr.y, full.y[idx])
    # Full size is the whole split.
    d_tr, _, _ = load_data(DataConfig(name="digits", train_size=1437, normalize="unit"), seed=3)
    assert torch.equal(d_tr.x, full.x)


@pytest.mark.parametrize("key,value", [
    ("train_size", 1438), ("train_size", 0), ("test_size", 361), ("test_size", -1),
])
def test_subset_out_of_range(key, value):
    with pytest.raises(ConfigError) as e:
        load_data(DataConfig(name="digits", **{key: value}), seed=0)
    msg = str(e.value)
    assert f"data.{key}" in msg and str(value) in msg
    assert ("1437" if key == "train_size" else "360") in msg


def test_bad_normalization_settings():
    with pytest.raises(ConfigError, match="data.std_scale"):
        load_data(DataConfig(name="digits", std_scale=0.0), seed=0)


# ----------------------------------------------------------------------------- IDX


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_idx_round_trip_unit(tmp_path, gz, name):
    raw = make_idx_set(tmp_path, gz=gz)
    tr, te, info = load_data(DataConfig(name=name, root=str(tmp_path), normalize="unit"), 0)
    assert info == DataInfo(name, (1, 3, 2), 10)
    expected = torch.from_numpy(raw["train_images"].astype(np.float32) / 255).unsqueeze(1)
    assert torch.equal(tr.x, expected)
    assert tr.x[0, 0, 0, 0] == 0.0 and tr.x[0, 0, 0, 1] == 1.0
    assert torch.equal(tr.y, torch.from_numpy(raw["train_labels"].astype(np.int64)))
    assert torch.equal(te.x, torch.from_numpy(raw["test_images"] / np.float32(255)).unsqueeze(1))
    assert torch.equal(te.y, torch.tensor([0, 3, 6, 9]))
    assert tr.x.dtype == torch.float32 and tr.y.dtype == torch.int64


def test_idx_standard_values(tmp_path):
    raw = make_idx_set(tmp_path, gz=False)
    cfg = DataConfig(name="fashion_mnist", root=str(tmp_path), std_scale=2.0)
    tr, _, _ = load_data(cfg, 0)
    expected = (raw["train_images"].astype(np.float64) / 255 - 0.2860) / (2.0 * 0.3530)
    np.testing.assert_allclose(tr.x.squeeze(1).numpy(), expected, rtol=1e-5, atol=1e-6)
    tr_m, _, _ = load_data(DataConfig(name="mnist", root=str(tmp_path)), 0)
    expected = (raw["train_images"].astype(np.float64) / 255 - 0.1307) / 0.3081
    np.testing.assert_allclose(tr_m.x.squeeze(1).numpy(), expected, rtol=1e-5, atol=1e-6)


def test_idx_mixed_gz_and_plain_and_subset(tmp_path):
    raw = make_idx_set(tmp_path, n_train=20, gz=True)
    # Replace one file by its plain version: both spellings are found.
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    write(tmp_path / "t10k-labels-idx1-ubyte", idx_bytes(raw["test_labels"]), gz=False)
    cfg = DataConfig(name="mnist", root=str(tmp_path), normalize="unit", train_size=5,
                     test_size=2)
    tr, te, _ = load_data(cfg, seed=11)
    assert (len(tr), len(te)) == (5, 2)
    g = torch.Generator().manual_seed(11)
    idx = torch.sort(torch.randperm(20, generator=g)[:5]).values.numpy()
    assert torch.equal(tr.y, torch.from_numpy(raw["train_labels"][idx].astype(np.int64)))
    with pytest.raises(ConfigError, match=r"data\.train_size=21.*20"):
        load_data(DataConfig(name="mnist", root=str(tmp_path), train_size=21), 0)


def test_idx_torchvision_layout(tmp_path):
    make_idx_set(tmp_path / "FashionMNIST" / "raw", gz=False)
    tr, te, _ = load_data(DataConfig(name="fashion_mnist", root=str(tmp_path)), 0)
    assert (len(tr), len(te)) == (6, 4)


def test_idx_root_not_set():
    with pytest.raises(ConfigError, match=r"data\.root.*--set data\.root=PATH"):
        load_data(DataConfig(name="mnist"), 0)


def test_idx_root_missing(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(DataError) as e:
        load_data(DataConfig(name="mnist", root=str(missing)), 0)
    assert str(missing) in str(e.value) and "data.root" in str(e.value)


def test_idx_file_missing(tmp_path):
    make_idx_set(tmp_path, gz=True)
    (tmp_path / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(DataError) as e:
        load_data(DataConfig(name="mnist", root=str(tmp_path)), 0)
    msg = str(e.value)
    assert str(tmp_path / "t10k-images-idx3-ubyte") + "'" in msg
    assert str(tmp_path / "t10k-images-idx3-ubyte.gz") in msg
    assert "data.root" in msg


@pytest.mark.parametrize("gz", [True, False])
def test_idx_bad_magic(tmp_path, gz):
    raw = make_idx_set(tmp_path, gz=gz)
    path = write(tmp_path / IDX_NAMES["train_images"],
                 idx_bytes(raw["train_images"], magic=0x00000801 + 0x100), gz)
    with pytest.raises(DataError, match="bad magic number 0x00000901") as e:
        load_data(DataConfig(name="mnist", root=str(tmp_path)), 0)
    assert str(path) in str(e.value)


def test_idx_labels_file_with_images_magic(tmp_path):
    raw = make_idx_set(tmp_path, gz=False)
    write(tmp_path / IDX_NAMES["train_labels"], idx_bytes(raw["train_images"]), gz=False)
    with pytest.raises(DataError, match="bad magic.*expected 0x00000801"):
        load_data(DataConfig(name="mnist", root=str(tmp_path)), 0)


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("cut", [2, 10, 1])  # inside magic, inside dims, inside data
def test_idx_truncated(tmp_path, gz, cut):
    raw = make_idx_set(tmp_path, gz=gz)
    data = idx_bytes(raw["test_images"])
    data = data[:cut] if cut > 1 else data[:-1]
    path = write(tmp_path / IDX_NAMES["test_images"], data, gz)
    with pytest.raises(DataError, match="truncated") as e:
        load_data(DataConfig(name="fashion_mnist", root=str(tmp_path)), 0)
    assert str(path) in str(e.value)


def test_idx_trailing_bytes(tmp_path):
    raw = make_idx_set(tmp_path, gz=False)
    path = write(tmp_path / IDX_NAMES["train_labels"], idx_bytes(raw["train_labels"]) + b"\0",
                 gz=False)
    with pytest.raises(DataError, match="trailing") as e:
        load_data(DataConfig(name="mnist", root=str(tmp_path)), 0)
    assert str(path) in str(e.value)


def test_idx_count_mismatch(tmp_path):
    raw = make_idx_set(tmp_path, gz=True)
    write(tmp_path / IDX_NAMES["train_labels"], idx_bytes(raw["train_labels"][:5]), gz=True)
    with pytest.raises(DataError, match="count mismatch.*6 images.*5 labels"):
        load_data(DataConfig(name="mnist", root=str(tmp_path)), 0)


def test_idx_label_out_of_range(tmp_path):
    raw = make_idx_set(tmp_path, gz=False)
    labels = raw["train_labels"].copy()
    labels[2] = 10
    path = write(tmp_path / IDX_NAMES["train_labels"], idx_bytes(labels), gz=False)
    with pytest.raises(DataError, match="label 10 at index 2") as e:
        load_data(DataConfig(name="mnist", root=str(tmp_path)), 0)
    assert str(path) in str(e.value)


def test_idx_bad_gzip(tmp_path):
    raw = make_idx_set(tmp_path, gz=True)
    # Not gzip at all, and a gzip stream cut in half.
    path = tmp_path / (IDX_NAMES["train_images"] + ".gz")
    path.write_bytes(b"hello world, definitely not gzip")
    with pytest.raises(DataError, match="gzip") as e:
        load_data(DataConfig(name="mnist", root=str(tmp_path)), 0)
    assert str(path) in str(e.value)
    full = gzip.compress(idx_bytes(raw["train_images"]))
    path.write_bytes(full[: len(full) // 2])
    with pytest.raises(DataError, match="gzip") as e:
        load_data(DataConfig(name="mnist", root=str(tmp_path)), 0)
    assert str(path) in str(e.value)


def test_idx_train_test_size_mismatch(tmp_path):
    make_idx_set(tmp_path, gz=False)
    write(tmp_path / IDX_NAMES["test_images"],
          idx_bytes(np.zeros((4, 5, 5), dtype=np.uint8)), gz=False)
    with pytest.raises(DataError, match="3x2.*5x5"):
        load_data(DataConfig(name="mnist", root=str(tmp_path)), 0)


def test_idx_unreadable_path_is_dataerror(tmp_path):
    make_idx_set(tmp_path, gz=False)
    (tmp_path / IDX_NAMES["train_images"]).unlink()
    (tmp_path / IDX_NAMES["train_images"]).mkdir()  # a folder where a file should be
    with pytest.raises(DataError, match="missing file"):
        load_data(DataConfig(name="mnist", root=str(tmp_path)), 0)


# ----------------------------------------------------------------------------- CIFAR


@pytest.mark.parametrize("subdir", [True, False])
@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_cifar10_round_trip(tmp_path, subdir, protocol):
    _, raw = make_cifar_set(tmp_path, "cifar10", subdir=subdir, protocol=protocol)
    tr, te, info = load_data(DataConfig(name="cifar10", root=str(tmp_path), normalize="unit"), 0)
    assert info == DataInfo("cifar10", (3, 32, 32), 10)
    assert (len(tr), len(te)) == (15, 3)
    x, y = raw["train"]
    assert torch.equal(tr.x, torch.from_numpy(x.reshape(-1, 3, 32, 32) / np.float32(255)))
    assert torch.equal(tr.y, torch.from_numpy(y.astype(np.int64)))
    # Channel layout: the first 1024 values are the red plane, row-major.
    assert tr.x[0, 0, 1, 0] == x[0, 32] / np.float32(255)
    assert tr.x[0, 1, 0, 0] == x[0, 1024] / np.float32(255)
    _, yt = raw["test"]
    assert torch.equal(te.y, torch.from_numpy(yt.astype(np.int64)))


def test_cifar_standard_per_channel(tmp_path):
    _, raw = make_cifar_set(tmp_path, "cifar10")
    tr, _, _ = load_data(DataConfig(name="cifar10", root=str(tmp_path), std_scale=3.0), 0)
    x = raw["train"][0].reshape(-1, 3, 32, 32).astype(np.float64) / 255
    mean = np.array([0.4914, 0.4822, 0.4465]).reshape(1, 3, 1, 1)
    std = np.array([0.2470, 0.2435, 0.2616]).reshape(1, 3, 1, 1)
    np.testing.assert_allclose(tr.x.numpy(), (x - mean) / (3 * std), rtol=1e-5, atol=1e-5)


def test_cifar100_fine_labels_str_keys(tmp_path):
    _, raw = make_cifar_set(tmp_path, "cifar100", n_per_batch=7, str_keys=True)
    tr, te, info = load_data(DataConfig(name="cifar100", root=str(tmp_path), train_size=4), 1)
    assert info == DataInfo("cifar100", (3, 32, 32), 100)
    assert (len(tr), len(te)) == (4, 7)
    assert torch.equal(te.y, torch.from_numpy(raw["test"][1].astype(np.int64)))


def test_cifar_errors(tmp_path):
    with pytest.raises(ConfigError, match="data.root"):
        load_data(DataConfig(name="cifar10"), 0)
    folder, _ = make_cifar_set(tmp_path, "cifar10")
    cfg = DataConfig(name="cifar10", root=str(tmp_path))
    (folder / "data_batch_3").unlink()
    with pytest.raises(DataError) as e:
        load_data(cfg, 0)
    assert str(tmp_path / "data_batch_3") in str(e.value)
    assert str(folder / "data_batch_3") in str(e.value)
    # Corrupt pickle: truncated, and garbage.
    good = (folder / "test_batch").read_bytes()
    for bad in (good[: len(good) // 2], b"garbage bytes", b""):
        make_cifar_set(tmp_path, "cifar10")
        (folder / "test_batch").write_bytes(bad)
        with pytest.raises(DataError, match="test_batch"):
            load_data(cfg, 0)


@pytest.mark.parametrize("batch,match", [
    ([1, 2, 3], "expected a dict"),
    ({b"data": np.zeros((2, 3072), np.uint8)}, "no 'labels'"),
    ({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, "shape"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, "one per image"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}, "label 10 at index 1"),
    ({b"data": np.full((2, 3072), 300, np.int32), b"labels": [0, 1]}, "uint8"),
])
def test_cifar_bad_batch_content(tmp_path, batch, match):
    folder, _ = make_cifar_set(tmp_path, "cifar10", subdir=False)
    with open(folder / "data_batch_2", "wb") as f:
        pickle.dump(batch, f)
    with pytest.raises(DataError, match=match) as e:
        load_data(DataConfig(name="cifar10", root=str(tmp_path)), 0)
    assert "data_batch_2" in str(e.value)


def test_cifar_legacy_numpy_core_pickle(tmp_path):
    # The official batches were pickled by Python 2 / numpy 1.x: 'numpy.core.multiarray'.
    folder, _ = make_cifar_set(tmp_path, "cifar10", subdir=False)
    x = np.arange(2 * 3072).astype(np.uint8).reshape(2, 3072)
    blob = pickle.dumps({b"data": x, b"labels": [4, 7], b"batch_label": b"t"}, protocol=2)
    blob = blob.replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")
    assert b"numpy.core.multiarray\n" in blob
    (folder / "test_batch").write_bytes(blob)
    _, te, _ = load_data(DataConfig(name="cifar10", root=str(tmp_path), normalize="unit"), 0)
    assert torch.equal(te.y, torch.tensor([4, 7]))
    assert torch.equal(te.x, torch.from_numpy(x.reshape(2, 3, 32, 32) / np.float32(255)))


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_cifar_refuses_arbitrary_globals(tmp_path, capsys):
    folder, _ = make_cifar_set(tmp_path, "cifar10", subdir=False)
    with open(folder / "test_batch", "wb") as f:
        pickle.dump({b"data": _Evil(), b"labels": [0]}, f)
    with pytest.raises(DataError, match="refusing"):
        load_data(DataConfig(name="cifar10", root=str(tmp_path)), 0)
    assert "pwned" not in capsys.readouterr().out


# ----------------------------------------------------------------------------- synthetic


def test_synthetic_shapes_and_determinism():
    cfg = DataConfig(name="synthetic", shape=[3, 4, 5], num_classes=4)
    tr, te, info = load_data(cfg, seed=5)
    assert info == DataInfo("synthetic", (3, 4, 5), 4)
    assert tr.x.shape == (512, 3, 4, 5) and te.x.shape == (128, 3, 4, 5)
    assert tr.x.dtype == torch.float32 and tr.y.dtype == torch.int64
    assert int(tr.y.min()) >= 0 and int(tr.y.max()) == 3
    tr2, te2, _ = load_data(cfg, seed=5)
    assert torch.equal(tr.x, tr2.x) and torch.equal(te.y, te2.y)
    tr3, _, _ = load_data(cfg, seed=6)
    assert not torch.equal(tr.x, tr3.x)
    assert abs(float(tr.x.mean())) < 0.15 and abs(float(tr.x.std()) - 1) < 0.15
    small, small_te, _ = load_data(
        DataConfig(name="synthetic", shape=[2], train_size=10, test_size=3), seed=0)
    assert (len(small), len(small_te)) == (10, 3)


def test_synthetic_unit_is_sigmoid_of_standard():
    std, _, _ = load_data(DataConfig(name="synthetic", shape=[1, 3, 3]), seed=2)
    unit, _, _ = load_data(DataConfig(name="synthetic", shape=[1, 3, 3], normalize="unit"), 2)
    torch.testing.assert_close(unit.x, torch.sigmoid(std.x))
    assert float(unit.x.min()) > 0 and float(unit.x.max()) < 1


def test_synthetic_is_learnable():
    cfg = DataConfig(name="synthetic", shape=[1, 4, 4], num_classes=5)
    tr, te, _ = load_data(cfg, seed=0)
    xtr, xte = tr.x.flatten(1), te.x.flatten(1)
    means = torch.stack([xtr[tr.y == c].mean(0) for c in range(5)])
    pred = torch.cdist(xte, means).argmin(1)
    acc = float((pred == te.y).float().mean())
    assert acc > 0.6  # chance is 0.2


@pytest.mark.parametrize("kw,key", [
    ({"shape": []}, "data.shape"),
    ({"shape": [1, 0]}, "data.shape"),
    ({"num_classes": 1}, "data.num_classes"),
    ({"train_size": 0}, "data.train_size"),
    ({"test_size": -3}, "data.test_size"),
])
def test_synthetic_bad_settings(kw, key):
    with pytest.raises(ConfigError, match=key):
        load_data(DataConfig(name="synthetic", **kw), 0)


# ----------------------------------------------------------------------------- names


def test_unknown_dataset_name():
    with pytest.raises(ConfigError) as e:
        load_data(DataConfig(name="foo"), 0)  # type: ignore[arg-type]
    msg = str(e.value)
    assert "data.name" in msg and "'foo'" in msg
    for name in available_datasets():
        assert name in msg


# ----------------------------------------------------------------------------- data.mean / data.std

QI_CIFAR10_STD = [0.2023, 0.1994, 0.2010]  # Qi et al. 2025 / PCX: a mis-quote of CIFAR-10's std


def test_explicit_mean_std_equal_to_the_constants_give_identical_tensors(tmp_path):
    make_cifar_set(tmp_path, "cifar10")
    mean, std = NORM_STATS["cifar10"]
    for scale in (1.0, 3.0):
        ref, ref_te, _ = load_data(DataConfig(name="cifar10", root=str(tmp_path), std_scale=scale), 0)
        got, got_te, _ = load_data(DataConfig(name="cifar10", root=str(tmp_path), std_scale=scale,
                                              mean=list(mean), std=list(std)), 0)
        assert torch.equal(got.x, ref.x) and torch.equal(got_te.x, ref_te.x)
    dm, ds = NORM_STATS["digits"]
    ref, _, _ = load_data(DataConfig(name="digits"), 0)
    got, _, _ = load_data(DataConfig(name="digits", mean=list(dm), std=list(ds)), 0)
    assert torch.equal(got.x, ref.x)


def test_a_different_std_gives_the_closed_form_transform(tmp_path):
    _, raw = make_cifar_set(tmp_path, "cifar10")
    tr, te, _ = load_data(DataConfig(name="cifar10", root=str(tmp_path), std=QI_CIFAR10_STD), 0)
    x = raw["train"][0].reshape(-1, 3, 32, 32).astype(np.float64) / 255
    mean = np.array(NORM_STATS["cifar10"][0]).reshape(1, 3, 1, 1)  # only the std was given
    std = np.array(QI_CIFAR10_STD).reshape(1, 3, 1, 1)
    np.testing.assert_allclose(tr.x.numpy(), (x - mean) / std, rtol=1e-5, atol=1e-5)
    xt = raw["test"][0].reshape(-1, 3, 32, 32).astype(np.float64) / 255
    np.testing.assert_allclose(te.x.numpy(), (xt - mean) / std, rtol=1e-5, atol=1e-5)
    # both given, with std_scale on top: (x - m) / (scale * s)
    tr2, _, _ = load_data(DataConfig(name="cifar10", root=str(tmp_path), mean=[0.5, 0.25, 0.0],
                                     std=QI_CIFAR10_STD, std_scale=2.0), 0)
    m2 = np.array([0.5, 0.25, 0.0]).reshape(1, 3, 1, 1)
    np.testing.assert_allclose(tr2.x.numpy(), (x - m2) / (2 * std), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kw,key", [
    ({"std": [0.2, 0.2]}, "data.std"),                 # 2 values for 3 channels
    ({"mean": [0.5, 0.5, 0.5, 0.5]}, "data.mean"),
    ({"std": [0.2, 0.0, 0.2]}, "data.std"),            # std <= 0
    ({"std": [0.2, -0.1, 0.2]}, "data.std"),
    ({"mean": [0.5, float("nan"), 0.5]}, "data.mean"),  # non-finite
    ({"std": [0.2, float("inf"), 0.2]}, "data.std"),
    ({"mean": [0.5, 0.5, 0.5], "normalize": "unit"}, "data.mean"),
])
def test_bad_mean_std_are_refused_naming_the_key(tmp_path, kw, key):
    make_cifar_set(tmp_path, "cifar10")
    with pytest.raises(ConfigError, match=key):
        load_data(DataConfig(name="cifar10", root=str(tmp_path), **kw), 0)


def test_mean_std_through_the_config_loader():
    from analog_ep.config import load_config

    cfg = load_config(None, ["data.name=cifar10", "data.std=[0.2023, 0.1994, 0.2010]"])
    assert cfg.data.std == QI_CIFAR10_STD and cfg.data.mean is None
    for override, key in (("data.std=[0.2, 0, 0.2]", "data.std"), ("data.mean=[0.5, .nan, 0.5]", "data.mean"),
                          ("data.std=[]", "data.std")):
        with pytest.raises(ConfigError, match=key):
            load_config(None, ["data.name=cifar10", override])
    with pytest.raises(ConfigError, match="data.mean"):
        load_config(None, ["data.name=cifar10", "data.normalize=unit", "data.mean=[0.5, 0.5, 0.5]"])
    with pytest.raises(ConfigError, match="data.std"):
        load_config(None, ["data.name=synthetic", "data.std=[1.0]"])
    with pytest.raises(ConfigError, match="data.std"):
        load_data(DataConfig(name="synthetic", std=[1.0]), 0)
