"""The model registry: a model registered from outside the package (factory + spec) validates
and builds from a config, with no edit of the schema or the loader."""

import pytest

from analog_ep.config import load_config
from analog_ep.errors import ConfigError
from analog_ep.models import get_model, register_model
from analog_ep.config.model_specs import ModelSpec, _SPECS, get_model_spec, model_names


@pytest.fixture
def toy():
    from analog_ep.models import HopfieldMLP, _MODELS

    def factory(cfg, in_shape, num_classes, generator):  # two hidden layers of width model.width
        return HopfieldMLP(in_shape, [cfg.width, cfg.width], num_classes, cfg.activation or "clamp", cfg.gains,
                           generator)

    def check(model, need):
        need(model.width <= 64, "model.width", "must be <= 64 for toy_mlp")

    register_model("toy_mlp", factory, ModelSpec("toy_mlp", "hopfield", lambda m: 3, frozenset(), check=check))
    yield factory
    _MODELS.pop("toy_mlp")
    _SPECS.pop("toy_mlp")


def test_registered_model_validates_and_builds(toy):
    from analog_ep.train.build import build_model

    assert "toy_mlp" in model_names()
    cfg = load_config(None, ["model.name=toy_mlp", "model.width=8", "model.gains=[1,0.5,0.5]"])
    assert get_model(cfg.model.name) is toy
    model = build_model(cfg, (1, 8, 8), 10)
    assert len(model.edges) == get_model_spec("toy_mlp").weight_layers(cfg.model) == 3
    assert [tuple(s) for s in model.node_shapes] == [(8,), (8,), (10,)]


def test_registered_model_spec_is_enforced(toy):
    with pytest.raises(ConfigError, match=r"^model.gains: must be 3 positive numbers \(one per weight layer\)"):
        load_config(None, ["model.name=toy_mlp", "model.width=8", "model.gains=[1,1]"])
    with pytest.raises(ConfigError, match=r"^model.width: must be <= 64 for toy_mlp, got 128"):
        load_config(None, ["model.name=toy_mlp"])
    with pytest.raises(ConfigError, match=r"^model.channels: toy_mlp has no convolutions"):
        load_config(None, ["model.name=toy_mlp", "model.width=8", "model.channels=[1,2,3,4]"])
    with pytest.raises(ConfigError, match=r"^model.batchnorm: applies to the PCN VGGs and pcn_mlp"):
        load_config(None, ["model.name=toy_mlp", "model.width=8", "model.batchnorm=true"])
    with pytest.raises(ConfigError, match=r"^train.layer_lrs: must have 3 entries"):
        load_config(None, ["model.name=toy_mlp", "model.width=8", "train.layer_lrs=[0.1]"])


def test_unknown_model_lists_the_registered_ones(tmp_path):
    with pytest.raises(ConfigError, match=r"^model.name: invalid value 'nope'; valid: hopfield_mlp, dchn_vgg5, "):
        load_config(None, ["model.name=nope"])
    f = tmp_path / "bad.yaml"
    f.write_text("model: {name: 5}\n")
    with pytest.raises(ConfigError, match=rf"^{f}: model.name: invalid value 5; valid: hopfield_mlp, "):
        load_config(f)


def test_register_model_needs_a_matching_spec():
    with pytest.raises(ValueError, match="give its ModelSpec"):
        register_model("no_spec_model", lambda *a: None)
    with pytest.raises(ValueError, match="spec is named"):
        register_model("a_model", lambda *a: None, ModelSpec("b_model", "pcn", lambda m: 1))
    assert "no_spec_model" not in model_names() and "b_model" not in model_names()


def test_builtin_specs_count_the_built_models_layers():
    """Each built-in spec's layer count is the built model's (tiny widths)."""
    from analog_ep.train.build import build_model

    cases = {
        "hopfield_mlp": ["model.hidden=[5,4]"],
        "dchn_vgg5": ["model.channels=[2,2,2,2]", "data.name=synthetic", "data.shape=[1,16,16]"],
        "vgg_crnn": ["model.channels=[2,2,2,2,2]", "model.depth=13", "data.name=synthetic", "data.shape=[1,32,32]"],
        "mupc_resmlp": ["model.width=4", "model.depth=5"],
        "pcn_mlp": ["model.hidden=[5,4,3]"],
    }
    for name, keys in cases.items():
        cfg = load_config(None, [f"model.name={name}", *keys])
        shape = tuple(cfg.data.shape) if cfg.data.name == "synthetic" else (1, 8, 8)
        model = build_model(cfg, shape, 10)
        assert len(model.edges) == get_model_spec(name).weight_layers(cfg.model), name
