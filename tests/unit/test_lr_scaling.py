"""Per-layer learning rates from ``train.lr`` (``train.lr_scaling``): closed form per layer."""

import pytest

from analog_ep.config import load_config
from analog_ep.errors import ConfigError
from analog_ep.train.build import build_model, build_optimizer, fan_in_lrs, layer_lrs


def _lrs(overrides, in_shape=(64,)):
    cfg = load_config(None, overrides)
    model = build_model(cfg, in_shape, 10)
    return model.layer_fan_ins(), [g["lr"] for g in build_optimizer(cfg, model).param_groups]


def test_fan_in_rule_closed_form():
    assert fan_in_lrs(0.05, [64, 256, 784, 16], 64) == pytest.approx([0.05, 0.0125, 0.05 * 64 / 784, 0.05])
    assert fan_in_lrs(0.1, [10, 100], 10) == pytest.approx([0.1, 0.01])


def test_default_digits_mlp_per_layer():
    fans, lrs = _lrs([])  # 64-256-10
    assert fans == [64, 256]
    assert lrs == pytest.approx([0.05, 0.05 * 64 / 256])


def test_fashion_mnist_sized_mlp_per_layer():
    fans, lrs = _lrs(["model.hidden=[500,100]", "train.lr=0.1", "train.lr_ref_fan_in=100"], in_shape=(1, 28, 28))
    assert fans == [784, 500, 100]
    assert lrs == pytest.approx([0.1 * 100 / 784, 0.1 * 100 / 500, 0.1])


def test_conv_fan_in_is_channels_times_kernel_area():
    # the rule itself, at the MLP's reference (dchn_vgg5's family defaults set the paper's)
    fans, lrs = _lrs(["model.name=dchn_vgg5", "model.channels=[8,16,16,16]", "train.lr=0.05", "train.lr_ref_fan_in=64"],
                     in_shape=(3, 32, 32))
    assert fans == [3 * 9, 8 * 9, 16 * 9, 16 * 9, 16 * 2 * 2]
    assert lrs == pytest.approx([0.05 * min(1.0, 64 / n) for n in fans])


def test_none_and_layer_lrs_override():
    assert _lrs(["train.lr_scaling=none"])[1] == pytest.approx([0.05, 0.05])
    assert _lrs(["train.layer_lrs=[0.3,0.2]"])[1] == pytest.approx([0.3, 0.2])
    assert _lrs(["train.layer_lrs=[0.3,0.2]", "train.lr_scaling=none"])[1] == pytest.approx([0.3, 0.2])
    cfg = load_config(None, ["model.hidden=[500]"])
    assert layer_lrs(cfg, build_model(cfg, (1, 28, 28), 10)) == pytest.approx([0.05 * 64 / 784, 0.05 * 64 / 500])


def test_ref_fan_in_validated():
    with pytest.raises(ConfigError, match="train.lr_ref_fan_in"):
        load_config(None, ["train.lr_ref_fan_in=0"])
