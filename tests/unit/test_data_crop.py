"""``data.crop``: the center crop of every image dataset (analog_ep.data.load_data's one crop
step), against the slicing closed form, the model's input size that follows, and bad values."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from analog_ep.cli import app
from analog_ep.config.loader import load_config
from analog_ep.config.schema import DataConfig
from analog_ep.data import center_crop, load_data
from analog_ep.errors import ConfigError
from analog_ep.train.build import build_model

from test_data import make_cifar_set, make_idx_set


def test_center_crop_is_the_slicing_closed_form():
    x = torch.arange(2 * 3 * 28 * 28, dtype=torch.float32).reshape(2, 3, 28, 28)
    out = center_crop(x, 20)
    # element (n, c, i, j) of the crop is pixel (n, c, 4 + i, 4 + j): value n*2352 + c*784 + (4+i)*28 + 4+j
    n, c, i, j = torch.meshgrid(*(torch.arange(k) for k in (2, 3, 20, 20)), indexing="ij")
    expect = (n * 3 * 784 + c * 784 + (4 + i) * 28 + (4 + j)).to(torch.float32)
    assert out.shape == (2, 3, 20, 20) and out.is_contiguous()
    assert torch.equal(out, expect)
    # odd margins: 7x6 cut to 4 -> rows 1..4, columns 1..4 (the extra pixel at the bottom / right)
    y = torch.arange(42, dtype=torch.uint8).reshape(1, 1, 7, 6)
    assert torch.equal(center_crop(y, 4)[0, 0], torch.tensor([[r * 6 + col for col in range(1, 5)]
                                                              for r in range(1, 5)], dtype=torch.uint8))
    assert torch.equal(center_crop(x, 28), x)  # the whole image


def test_crop_of_idx_images_equals_cropping_the_raw_pixels(tmp_path):
    raw = make_idx_set(tmp_path, n_train=6, n_test=4, rows=9, cols=8, gz=False)
    cfg = DataConfig(name="fashion_mnist", root=str(tmp_path), crop=4)
    tr, te, info = load_data(cfg, 0)
    assert info.shape == (1, 4, 4)
    mean, std = 0.2860, 0.3530
    for split, key in ((tr, "train_images"), (te, "test_images")):
        # crop before normalizing: rows (9-4)//2 = 2.., columns (8-4)//2 = 2..
        want = (raw[key][:, 2:6, 2:6].astype(np.float32) / np.float32(255) - np.float32(mean)) / np.float32(std)
        np.testing.assert_allclose(split.batch(slice(None))[0][:, 0].numpy(), want, rtol=0, atol=1e-6)
    full, _, _ = load_data(DataConfig(name="fashion_mnist", root=str(tmp_path)), 0)
    assert torch.equal(tr.x, full.x[:, :, 2:6, 2:6])


def test_crop_of_uint8_and_cifar_and_digits_and_synthetic(tmp_path):
    make_cifar_set(tmp_path)
    tr, _, info = load_data(DataConfig(name="cifar10", root=str(tmp_path), crop=24), 0)
    full, _, _ = load_data(DataConfig(name="cifar10", root=str(tmp_path)), 0)
    assert info.shape == (3, 24, 24) and torch.equal(tr.x, full.x[:, :, 4:28, 4:28])
    tr, te, info = load_data(DataConfig(name="digits", crop=5), 0)
    full, full_te, _ = load_data(DataConfig(name="digits"), 0)
    assert info.shape == (1, 5, 5)
    assert torch.equal(tr.x, full.x[:, :, 1:6, 1:6]) and torch.equal(te.x, full_te.x[:, :, 1:6, 1:6])
    tr, _, info = load_data(DataConfig(name="synthetic", shape=[2, 6, 6], crop=2, train_size=4, test_size=3), 1)
    full, _, _ = load_data(DataConfig(name="synthetic", shape=[2, 6, 6], train_size=4, test_size=3), 1)
    assert info.shape == (2, 2, 2) and torch.equal(tr.x, full.x[:, :, 2:4, 2:4])


def test_model_input_follows_the_crop(tmp_path):
    make_idx_set(tmp_path, n_train=6, n_test=4, rows=28, cols=28, gz=False)
    for crop, n_in in ((None, 784), (20, 400)):
        sets = [f"data.root={tmp_path}", "model.hidden=[100]"] + ([f"data.crop={crop}"] if crop else [])
        cfg = load_config("configs/hopfield_mlp_fmnist.yaml", sets)
        _, _, info = load_data(cfg.data, cfg.seed)
        model = build_model(cfg, info.shape, info.num_classes)
        assert tuple(model.synapses[0].storage.weight.shape) == (100, n_in)


@pytest.mark.parametrize("value, words", [(0, "must be >= 1"), (-3, "must be >= 1")])
def test_config_refuses_non_positive_crop(value, words):
    with pytest.raises(ConfigError, match=rf"data\.crop: {words}"):
        load_config(None, [f"data.crop={value}"])


def test_loader_refuses_crop_larger_than_the_image_and_non_images(tmp_path):
    make_idx_set(tmp_path, rows=9, cols=8, gz=False)
    with pytest.raises(ConfigError, match=r"data\.crop=9: mnist images are 9x8; use a value in 1\.\.8"):
        load_data(DataConfig(name="mnist", root=str(tmp_path), crop=9), 0)
    with pytest.raises(ConfigError, match=r"data\.crop=3: needs images"):
        load_data(DataConfig(name="synthetic", shape=[16], crop=3), 0)
    with pytest.raises(ConfigError, match=r"data\.crop=32: does not apply to imagenet"):
        load_data(DataConfig(name="imagenet", root=str(tmp_path / "none"), crop=32), 0)
    with pytest.raises(ConfigError, match=r"data\.crop=2\.5: expected an integer"):
        load_data(DataConfig(name="digits", crop=2.5), 0)


@pytest.mark.parametrize("value", ["0", "29"])
def test_cli_bad_crop_exits_2_with_one_line(tmp_path, value):
    make_idx_set(tmp_path, n_train=6, n_test=4, rows=28, cols=28, gz=False)
    res = CliRunner().invoke(app, ["train", "-c", "configs/hopfield_mlp_fmnist.yaml", "--set",
                                   f"data.root={tmp_path}", "--set", f"data.crop={value}", "--set",
                                   "train.epochs=1", "--out", str(tmp_path / "run")])
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "data.crop" in lines[0], res.output
    assert not (tmp_path / "run" / "results.h5").exists()
