"""The built-in models' factories, registered (with the specs of :mod:`analog_ep.config.model_specs`) on import;
:func:`analog_ep.models.get_model` imports this module on its first call."""

from __future__ import annotations

from . import register_model
from .convnets import DCHNVGG5, HopfieldResNet13
from .hopfield_mlp import HopfieldMLP
from .pcn import MuPCResMLP, PCNMLP, PCNVGG
from ..config.model_specs import PCN_VGG_LAYOUTS
from .vgg_crnn import VGGCRNN


def _hopfield_mlp(cfg, in_shape, num_classes, generator):
    return HopfieldMLP(in_shape, cfg.hidden, num_classes, cfg.activation or "clamp", cfg.gains, generator)


def _dchn_vgg5(cfg, in_shape, num_classes, generator):
    return DCHNVGG5(in_shape, cfg.channels or [128, 256, 512, 512], num_classes, cfg.activation or "clamp",
                    cfg.gains, generator)


def _hopfield_resnet13(cfg, in_shape, num_classes, generator):
    return HopfieldResNet13(in_shape, cfg.channels or [128, 256, 512, 512], num_classes,
                            cfg.activation or "relu6", cfg.gains, generator)


def _vgg_crnn(cfg, in_shape, num_classes, generator):
    return VGGCRNN(in_shape, cfg.channels or [64, 128, 256, 512, 512], num_classes, cfg.depth or 11,
                   cfg.activation or "clamp", cfg.gains, cfg.aux_nodes, None, generator)


def _pcn_vgg(name):
    def factory(cfg, in_shape, num_classes, generator):
        return PCNVGG(name, in_shape, num_classes, cfg.channels, cfg.paddings, cfg.activation or "relu", cfg.gains,
                      cfg.init_fan, generator, batchnorm=cfg.batchnorm)
    return factory


def _mupc_resmlp(cfg, in_shape, num_classes, generator):
    return MuPCResMLP(in_shape, cfg.width, cfg.depth or 8, num_classes, cfg.activation or "relu", cfg.gains, generator)


register_model("hopfield_mlp", _hopfield_mlp)
register_model("dchn_vgg5", _dchn_vgg5)
register_model("hopfield_resnet13", _hopfield_resnet13)
register_model("vgg_crnn", _vgg_crnn)
for _name in PCN_VGG_LAYOUTS:
    register_model(_name, _pcn_vgg(_name))
register_model("mupc_resmlp", _mupc_resmlp)
register_model("pcn_mlp", lambda cfg, in_shape, num_classes, generator: PCNMLP(
    in_shape, cfg.hidden, num_classes, cfg.activation or "relu", cfg.gains, generator, batchnorm=cfg.batchnorm))

