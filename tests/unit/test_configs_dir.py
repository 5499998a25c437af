"""Every shipped experiment config loads, and its model builds for its input shape."""

from pathlib import Path

import pytest

from analog_ep.config import load_config
from analog_ep.train.build import build_model

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml"))
SHAPES = {"cifar10": (3, 32, 32), "cifar100": (3, 32, 32), "fashion_mnist": (1, 28, 28), "mnist": (1, 28, 28),
          "tiny_imagenet": (3, 64, 64), "imagenet": (3, 224, 224), "imagenet32": (3, 32, 32),
          "imagenet64": (3, 64, 64)}


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_loads_and_builds_reduced(path):
    text = path.read_text()
    assert text.startswith("#") and "eported" in text, "each config cites its reported figure"
    name = load_config(path, []).model.name
    stages = {"vgg_crnn": 5, "pcn_vgg7": 6, "pcn_vgg10": 8, "pcn_vgg10skip": 8, "pcn_vgg10qi": 9,
              "pcn_vgg15": 13}.get(name, 4)
    reduce = ["model.width=8"] if name == "mupc_resmlp" else [f"model.channels={[2] * stages}", "model.hidden=[4]"]
    cfg = load_config(path, reduce)
    classes = {"cifar100": 100, "tiny_imagenet": 200, "imagenet": 1000, "imagenet32": 1000,
               "imagenet64": 1000}.get(cfg.data.name, 10)
    model = build_model(cfg, SHAPES[cfg.data.name], classes)
    assert model.out_features == classes
