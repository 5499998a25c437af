"""What the config needs to know about each model, without torch: the model spec registry.

A :class:`ModelSpec` says which ``model.*`` keys a model reads, how many convolution stages its
``model.channels`` list has, its layer count (the length of ``model.gains`` and, with the
auxiliary readouts, of ``train.layer_lrs``) and any check of its own. The config loader
(:mod:`analog_ep.config.loader`) validates ``model.*`` through the spec of ``model.name``, so
``register_model(name, factory, spec)`` (:mod:`analog_ep.models`) adds a model without editing
the schema or the loader. The PCN VGG layouts live here too (pure data): the models build from
them and the specs count their layers from them, so the two cannot disagree.

No torch import: importing this module (and :mod:`analog_ep.models` itself, whose torch parts
load lazily) keeps ``import analog_ep.config`` light.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Mapping, Optional

from ..errors import ConfigError

Need = Callable[[bool, str, str], None]
"""``need(condition, dotted_key, message)``: raise the loader's one-line error for ``dotted_key``
(``{key}: {message}, got {value!r}``) unless ``condition``."""

MODEL_KEYS = ("channels", "paddings", "depth", "batchnorm", "init_fan", "aux_nodes", "feedback_scale")
"""The optional ``model.*`` keys a spec accepts or refuses (``hidden``, ``width``, ``activation``
and ``gains`` are read by the models that need them and ignored by the others)."""

REFUSED = {
    "paddings": "sets the conv paddings of the PCN VGGs only",
    "batchnorm": "applies to the PCN VGGs and pcn_mlp",
    "init_fan": "applies to the PCN VGGs only",
    "aux_nodes": "auxiliary readouts exist for vgg_crnn only",
    "feedback_scale": "weights the Hopfield energy's nodes (hopfield_mlp, dchn_vgg5, hopfield_resnet13, vgg_crnn); "
                      "leave it at 1",
    "feedback_update": "sets EP's update under model.feedback_scale, which only the Hopfield energies have "
                       "(hopfield_mlp, dchn_vgg5, hopfield_resnet13, vgg_crnn); leave it at 'local'",
    "aux_weight": "weights the auxiliary readouts in the energy, which only vgg_crnn has; leave it at 'local'",
}
"""The error of a ``model.*`` key set for a model whose spec does not accept it (``channels``:
``NAME has no convolutions``; ``depth``: ``applies to vgg_crnn and mupc_resmlp, not NAME``)."""

LEARNING_RULES = {"hopfield": {"ep": "ep", "rbp": "rbp", "bp": "bp"},
                  "pcn": {"ep": "pcn_ep", "pc": "pc", "bp": "bp"}}
"""Per model family (the kind of energy), each ``algorithm`` it trains with and the learning rule
(:mod:`analog_ep.algorithms.rules`) that algorithm means for it: the one table both the config
validator and the models (``EnergyNetwork.learning_rules``) read."""

HOPFIELD_ACTIVATIONS = ("clamp", "hard_sigmoid", "relu6", "sigmoid")
"""``model.activation`` values of the Hopfield-type models (each with its closed-form node update
and node energy: :data:`analog_ep.models.base.ACTIVATIONS`)."""

PCN_ACTIVATIONS = ("relu", "leaky_relu", "gelu", "hard_tanh", "tanh", "sigmoid")
"""``model.activation`` values of the predictive coding networks
(:data:`analog_ep.models.pcn.PC_ACTIVATIONS`)."""

LEGACY_DEPTH = 11
"""``model.depth`` value every model accepts: every config's default before depth became optional,
so old runs carry it."""


@dataclass(frozen=True)
class PerDepth:
    """A family default that depends on ``model.depth``: ``by_depth[depth]``, else ``value`` (the
    model's default depth, or a depth it has no entry for). Printed as ``value (depth D: v, ...)``."""

    value: Any
    by_depth: Mapping[int, Any]

    def resolve(self, depth: Any) -> Any:
        return self.by_depth.get(depth, self.value) if isinstance(depth, int) else self.value

    def __str__(self) -> str:
        return f"{self.value} (" + ", ".join(f"depth {d}: {v}" for d, v in sorted(self.by_depth.items())) + ")"


def resolve_default(value: Any, depth: Any) -> Any:
    """A family default's value for a config whose ``model.depth`` is ``depth`` (None: not set)."""
    return value.resolve(depth) if isinstance(value, PerDepth) else value


@dataclass(frozen=True)
class ModelSpec:
    """A model's own layer knowledge, as the config validator needs it."""

    name: str
    """``model.name``."""
    family: Literal["hopfield", "pcn"]
    """``hopfield``: an energy model whose node update is its activation's closed-form block
    minimizer (:data:`HOPFIELD_ACTIVATIONS`); ``pcn``: a predictive coding network (algorithm pc,
    ``pc.nudged_update``, :data:`PCN_ACTIVATIONS`)."""
    weight_layers: Callable[[Any], int]
    """``weight_layers(model_cfg)``: number of weight tensors (the length of ``model.gains``;
    ``train.layer_lrs`` adds one per auxiliary readout)."""
    accepts: frozenset = frozenset()
    """The keys of :data:`MODEL_KEYS` the model reads; the others must keep their defaults."""
    conv_stages: Optional[int] = None
    """Length of ``model.channels`` (one width per stage or conv layer); None = no convolutions."""
    check: Optional[Callable[[Any, Need], None]] = None
    """``check(model_cfg, need)``: the model's own value checks (e.g. its valid depths)."""
    defaults: Mapping[str, Any] = field(default_factory=dict)
    """Family defaults: dotted config key -> value (its paper's training settings, the rate
    scaled for width by the fan-in rule), which :func:`analog_ep.config.loader.load_config`
    applies to every key the user did not set (neither in the ``--config`` file nor by
    ``--set``): schema default < family default < config file < ``--set``. Every algorithm gets
    them (the backprop twin trains with EP's optimizer settings)."""
    algorithm_defaults: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Per ``algorithm`` (``ep`` / ``pc`` / ``bp``), dotted key -> value on top of
    :attr:`defaults` (e.g. ``pc``: predictive coding's optimizer and inference settings)."""
    digital_defaults: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Per ``algorithm``, dotted key -> value on top of :meth:`defaults_for` for a digital run (no
    ``analog.device``): settings measured for the digital reference path that a crossbar cannot
    run (e.g. ``compute.precision: fp64``, refused with a card). A run on a card keeps the others."""

    @property
    def pcn(self) -> bool:
        return self.family == "pcn"

    @property
    def algorithms(self) -> tuple[str, ...]:
        """The ``algorithm`` values that train this model (:data:`LEARNING_RULES`)."""
        return tuple(sorted(LEARNING_RULES[self.family]))

    def defaults_for(self, algorithm: str, *, digital: bool = False) -> dict[str, Any]:
        """The family defaults for ``algorithm``: :attr:`defaults`, then its
        :attr:`algorithm_defaults` on top, then (``digital``: a run without a device card) its
        :attr:`digital_defaults` (dotted key -> value; a value may be a :class:`PerDepth`, which
        :func:`resolve_default` resolves for the config's depth)."""
        out = {**self.defaults, **self.algorithm_defaults.get(algorithm, {})}
        return {**out, **self.digital_defaults.get(algorithm, {})} if digital else out

    def validate(self, model: Any, need: Need) -> int:
        """Check the layer keys of ``model`` (a ModelConfig) against this spec and return the
        number of weight layers (``aux_nodes``: :meth:`check_aux_nodes`, which the loader runs
        with the EP keys)."""
        name = self.name
        if model.channels is not None:
            need(self.conv_stages is not None and "channels" in self.accepts, "model.channels",
                 f"{name} has no convolutions")
            need(len(model.channels) == self.conv_stages and all(c >= 1 for c in model.channels), "model.channels",
                 f"must be {self.conv_stages} positive channel counts for {name}")
        if model.paddings is not None:
            need("paddings" in self.accepts, "model.paddings", REFUSED["paddings"])
            need(len(model.paddings) == self.conv_stages and all(p >= 0 for p in model.paddings), "model.paddings",
                 f"must be {self.conv_stages} paddings >= 0 for {name}")
        if model.batchnorm:
            need("batchnorm" in self.accepts, "model.batchnorm", REFUSED["batchnorm"])
        if model.init_fan is not None:
            need("init_fan" in self.accepts, "model.init_fan", REFUSED["init_fan"])
        if model.feedback_scale != 1.0:
            need("feedback_scale" in self.accepts, "model.feedback_scale", REFUSED["feedback_scale"])
            need(0.0 < model.feedback_scale <= 1.0, "model.feedback_scale", "must be in (0, 1] (1 = the plain energy)")
        if model.feedback_update != "local":
            need("feedback_scale" in self.accepts, "model.feedback_update", REFUSED["feedback_update"])
        if model.aux_weight != "local":
            need("aux_nodes" in self.accepts, "model.aux_weight", REFUSED["aux_weight"])
        if model.depth is not None and "depth" not in self.accepts:
            need(model.depth == LEGACY_DEPTH, "model.depth", f"applies to vgg_crnn and mupc_resmlp, not {name}")
        if self.check is not None:
            self.check(model, need)
        return self.weight_layers(model)

    def check_aux_nodes(self, model: Any, need: Need) -> None:
        if model.aux_nodes:
            need("aux_nodes" in self.accepts, "model.aux_nodes", REFUSED["aux_nodes"])


_SPECS: dict[str, ModelSpec] = {}


def register_model_spec(spec: ModelSpec) -> None:
    """Add (or replace) the spec of ``spec.name``."""
    _SPECS[spec.name] = spec


def get_model_spec(name: str) -> ModelSpec:
    """The spec of model ``name``; an unknown name raises :class:`ConfigError` listing the valid ones."""
    if name not in _SPECS:
        raise ConfigError(f"model.name: invalid value {name!r}; valid: {', '.join(model_names())}")
    return _SPECS[name]


def model_names() -> list[str]:
    """Registered model names, in registration order."""
    return list(_SPECS)


# ------------------------------------------------------------------------------ PCN VGG layouts
PCN_VGG_LAYOUTS = {
    # Kerjan, Hoier & Scellier 2026 (seed 000): conv3x3 128-256-512-512, each act + max-pool 2,
    # dense to the classes; init U(+-sqrt(1/fan_in)).
    "pcn_vgg5": {"channels": [128, 256, 512, 512], "paddings": [1, 1, 1, 1], "pools": [1, 1, 1, 1],
                 "dense": [], "fan": "fan_in"},
    # Qi et al. 2025 Table 3: [128, 128, 256, 256, 512, 512], paddings [1, 1, 1, 0, 1, 0]; pools
    # after convs 1, 3 and 5 as the authors' PCX code (VGG7BN) has them (32 -> 16 -> 16 -> 8 -> 6
    # -> 3 -> 1), one dense layer.
    "pcn_vgg7": {"channels": [128, 128, 256, 256, 512, 512], "paddings": [1, 1, 1, 0, 1, 0],
                 "pools": [1, 0, 1, 0, 1, 0], "dense": [], "fan": "fan_in"},
    # seed 000 VGG10 (224x224): conv64-pool-conv128-pool-conv256-conv256-pool-conv512-conv512-pool-
    # conv512-conv512-pool-dense2048-dense(classes); init with fan_out. Any size divisible by 32.
    "pcn_vgg10": {"channels": [64, 128, 256, 256, 512, 512, 512, 512], "paddings": [1] * 8,
                  "pools": [1, 1, 0, 1, 0, 1, 0, 1], "dense": [2048], "fan": "fan_out"},
    # Qi et al. 2025 VGG15: 13 convs [64, 64, 128, 128, 256 x3, 512 x6] with VGG16's pools, two
    # dense layers (hidden 4096, as the authors' PCX code, VGG_types["VGG15"]).
    "pcn_vgg15": {"channels": [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512],
                  "paddings": [1] * 13, "pools": [0, 1, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1], "dense": [4096],
                  "fan": "fan_in"},
}
PCN_VGG_LAYOUTS["pcn_vgg10skip"] = {**PCN_VGG_LAYOUTS["pcn_vgg10"], "skips": [(2, 5), (5, 8)]}
# Qi et al. 2025's VGG10 (deeper PCNs, arXiv 2506.23800): 9 convs [64, 128, 128, 128, 256, 256, 256,
# 256, 512], all 3x3 stride 1 padding 1, a 2x2 max-pool after conv 3, 5, 7 and 9 (32 -> 16 -> 8 -> 4
# -> 2), then one dense layer to the classes (512 x 2 x 2 -> classes): 10 weight layers. Source: the
# PCX models file of the paper's methods (its get_weights_dict builds the spiking / decaying
# precisions as DESIGN 5b describes the authors' code): VGG_types["VGG10"] = [64, 128, 128, "M", 128,
# 256, "M", 256, 256, "M", 256, 512, "M"], built by VGGNetBN (a conv followed by "M" gets the pool;
# no hidden dense layer when the list ends in "M"); the channels are DESIGN 5b's [64, 128x3, 256x4,
# 512]. PCX's default init: fan_in. Their block is conv -> BatchNorm -> act -> pool; here
# (model.batchnorm) BatchNorm normalizes the pooled map and the activation follows the pool.
PCN_VGG_LAYOUTS["pcn_vgg10qi"] = {"channels": [64, 128, 128, 128, 256, 256, 256, 256, 512], "paddings": [1] * 9,
                                  "pools": [0, 0, 1, 0, 1, 0, 1, 0, 1], "dense": [], "fan": "fan_in"}


def pcn_weight_layers(name: str) -> int:
    """Weight tensors of a PCN VGG layout (convs + dense + skips)."""
    lay = PCN_VGG_LAYOUTS[name]
    return len(lay["channels"]) + len(lay["dense"]) + 1 + len(lay.get("skips", []))


# ------------------------------------------------------------------------------ built-in specs
def _vgg_crnn_depth(model, need: Need) -> None:
    if model.depth is not None:
        need(model.depth in (11, 13), "model.depth", "must be 11 or 13 for vgg_crnn")


def _mupc_depth(model, need: Need) -> None:
    if model.depth is not None:
        need(model.depth >= 2, "model.depth", "must be >= 2 weight layers for mupc_resmlp")


# ------------------------------------------------------------------------------ family defaults
def published_fan_in(channels: list[int]) -> int:
    """The largest fan-in (C_in k k, 3x3 kernels) of a conv stack at its published ``channels``:
    the family defaults' ``train.lr_ref_fan_in``, so that with ``train.lr_scaling: fan_in`` every
    layer of the published width trains at the paper's per-tensor rate and a wider layer gets
    proportionally less (the fan-in rule of the MLP defaults)."""
    return 9 * max(channels[:-1])


def _sgd(lr: float, fan: int, weight_decay: float, **extra: Any) -> dict[str, Any]:
    """The train.* defaults of the convolutional papers: SGD momentum 0.9 at ``lr`` per tensor
    (fan-in scaled from ``fan``), L2 ``weight_decay``, a cosine schedule (whose floor is
    ``train.lr_min_ratio`` of the rate)."""
    return {"train.lr": lr, "train.lr_scaling": "fan_in", "train.lr_ref_fan_in": fan, "train.momentum": 0.9,
            "train.weight_decay": weight_decay, "train.schedule": "cosine", **extra}


_CONV_FAN = published_fan_in([128, 256, 512, 512])  # 4608: every shipped conv model's widest layer
HOPFIELD_CONV_DEFAULTS = {
    # Scellier et al. 2023 (configs/dchn_vgg5_cifar10.yaml): lr 0.03 per tensor, wd 2.5e-4,
    # cosine; centered EP, beta 0.1, odd/even colouring, 60 free and 20 nudged sweeps. Gains 1:
    # with the published gains (0.4, 0.7, 0.6, 0.3, 0.4; a config sets them) neither EP nor the
    # backprop twin leaves chance on Fashion-MNIST (benchmarks/model_defaults_fmnist.md). Rate
    # 0.015 = 0.03 sqrt(32 / 128): the paper's batch-128 rate square-root scaled to the schema's
    # batch 32, EP's best measured rate; on Fashion-MNIST (2,000 images, 2 epochs) EP 0.68 / BP
    # 0.654 there, against EP 0.612 / BP 0.733 at 0.03 and 0.642 / 0.525 at 0.0075
    # (benchmarks/model_defaults_hopfield_s4.md). The backprop twin gets its own best measured rate,
    # 0.12 (DCHN_BP_DEFAULTS; benchmarks/model_defaults_hopfield_s5.md): each rule trains at its best
    # rate, so the twin is no weaker than it can be.
    "dchn_vgg5": {**_sgd(0.015, _CONV_FAN, 2.5e-4), "model.gains": [1.0] * 5, "ep.beta": 0.1,
                  "solver.colouring": "odd_even", "solver.free_iters": 60, "solver.nudge_iters": 20},
    # E P & Srinivasan 2025 (configs/hopfield_resnet13_fmnist.yaml): gradient clipping at 1, L2
    # 2.5e-4, cosine, beta 0.15, 120 free and 50 nudged sweeps (greedy colouring: the skips).
    # Not the paper's: gains 0.6 and Adam at 1e-3 (per tensor, no fan-in rule). The free phase
    # settles only below a gain of about 0.6 (from zeros, tol 1e-4: all of a Fashion-MNIST batch
    # in 40 sweeps at 0.6; at the published 0.7 half of it in 400, at 1 a fifth), and there the
    # forward signal is too small for SGD: the backprop twin stays at chance (0.17) with the
    # paper's SGD and reaches 0.66 with Adam, which rescales each tensor's step
    # (benchmarks/model_defaults_hopfield_s5.md)
    "hopfield_resnet13": {"train.optimizer": "adam", "train.lr": 1e-3, "train.lr_scaling": "none",
                          "train.weight_decay": 2.5e-4, "train.schedule": "cosine", "train.clip_grad_norm": 1.0,
                          "model.gains": [0.6] * 13, "ep.beta": 0.15, "solver.free_iters": 120,
                          "solver.nudge_iters": 50},
    # Lin, Bal & Sengupta 2025 as configs/vgg_crnn_cifar10.yaml reads them: cross-entropy nudge,
    # the auxiliary readouts on nodes 2, 4, 6 with a cosine decay of their strength, 20 nudged
    # sweeps, clip 1, L2 2.5e-4, cosine. Not the paper's (benchmarks/model_defaults_hopfield_s5.md):
    # Adam at 1e-3 per tensor, since at the model's gain 1 (where the free phase still settles) the
    # forward signal through 11 clamped layers is too small for SGD (twin 0.11 with SGD, 0.33 with
    # Adam); 200 free sweeps (from zeros the phase needs about 130-190 at gain 1: with the paper's
    # 60 a tenth of the samples settle, and EP with them stays near chance)
    "vgg_crnn": {"train.optimizer": "adam", "train.lr": 1e-3, "train.lr_scaling": "none",
                 "train.weight_decay": 2.5e-4, "train.schedule": "cosine", "train.clip_grad_norm": 1.0,
                 "model.aux_nodes": [2, 4, 6], "ep.beta": 0.1, "ep.nudge": "cross_entropy",
                 "ep.aux_schedule": "cosine", "solver.colouring": "odd_even", "solver.free_iters": 200,
                 "solver.nudge_iters": 20},
}
"""Family defaults of the Hopfield-type conv models (hopfield_mlp has none: the schema's
defaults are its own)."""

DCHN_DIGITAL = {"model.gains": [0.7] * 5, "train.spectral_cap": 2.0, "compute.precision": "fp64"}
DCHN_EP_DIGITAL = {**DCHN_DIGITAL, "train.lr": 0.12, "ep.beta": 0.15, "model.feedback_scale": 0.02,
                   "model.feedback_update": "gradient"}
DCHN_DIGITAL_DEFAULTS = {"ep": DCHN_EP_DIGITAL, "rbp": DCHN_EP_DIGITAL, "bp": DCHN_DIGITAL}
"""dchn_vgg5's digital defaults (no device card): EP in its feed-forward limit, RBP (the exact
gradient of EP's energy, EP's reference) on that same energy with the same settings (``ep.beta``
included, which RBP does not read, so that the two configs differ in ``algorithm`` alone), and
the twin with the same initialisation and cap. At the paper's energy (feedback 1) the best setting measured, gains
0.7, operator-norm cap 2, beta 0.15 and rate 0.03, stays 2.2 points under its same-settings twin
on Fashion-MNIST (10,000 images, 3 epochs, three seeds; benchmarks/model_defaults_hopfield_s16.md),
and EP's update at a trained checkpoint is not the twin's gradient (the network's equilibrium is
not the feed-forward pass). With feedback scale 0.02 and the layer-scaled update
(``model.feedback_update: gradient``; Xie & Seung 2003) the free state is the feed-forward pass to
O(eps) and EP's update the twin's gradient (per-layer cosine 0.996-0.999 at a trained checkpoint),
so EP trains at the twin's rate 0.12; the nudged states then differ from the free ones by about
beta eps^4 at the first node, below float32's resolution: float64
(benchmarks/model_defaults_hopfield_s17.md). A card keeps the paper's energy."""

CRNN_DIGITAL = {"model.gains": [2.0], "compute.precision": "fp64"}
CRNN_EP_DIGITAL = {**CRNN_DIGITAL, "model.feedback_scale": PerDepth(0.05, {13: 0.087}),
                   "model.feedback_update": "gradient", "model.aux_weight": "objective", "solver.tol": 1e-10}
CRNN_DIGITAL_DEFAULTS = {"ep": CRNN_EP_DIGITAL, "rbp": CRNN_EP_DIGITAL, "bp": CRNN_DIGITAL}
"""vgg_crnn's digital defaults (no device card), dchn_vgg5's route taken to 11 layers: EP in its
feed-forward limit, feedback scale 0.05 with the layer-scaled update, the auxiliary readouts'
cross-entropies weighted as the twin's objective weights them (``model.aux_weight: objective``;
under the local weight the objective weights readout k by eps^(k-C), up to 0.05^-8 for node 2),
float64 with ``solver.tol`` 1e-10, and gain 2 on every layer. The first layer's nudge, beta eps^9,
is 2e-13 at eps 0.05, the smallest eps whose first layer still learns in float64; at depth 13 (C =
12) eps 0.087 keeps beta eps^11 there, where 0.05 would leave 5e-16 and lose the first two layers'
estimates (test_family_defaults). At eps 0.05 the free phase settles at gain 2 in about 23 sweeps
(at eps 1 it needs a gain of 1 and 130-190 sweeps), and gain 2 lifts the twin from 0.286 to 0.527
(Fashion-MNIST, [8,16,32,32,32], 2,000 images, 2 epochs, seed 0); at gain 1 the layers above the last
readout stay far from the twin's gradient (per-layer cosine 0.55-0.82 at init) and EP trails its
twin by 7 points. On 10,000 images (2 epochs, seeds 0-2) EP is 0.42 points under its twin on the
mean, within 2 on every seed (benchmarks/model_defaults_crnn_s18.md). The twin gets gain 2 and
fp64; rbp EP's keys. A card keeps gain 1, eps 1 and fp32."""

DCHN_BP_DEFAULTS = {"train.lr": 0.12}
"""dchn_vgg5 under algorithm bp: the backprop twin's best measured rate, 4x the paper's per-tensor
0.03 (Fashion-MNIST, [16,32,64,64], 2 epochs: 10,000 images 0.804 / 0.838 / 0.866 / 0.875 / 0.870 at
0.015 / 0.03 / 0.06 / 0.12 / 0.24; 2,000 images 0.733 / 0.771 / 0.784 / 0.791 at 0.03 / 0.06 / 0.12 /
0.24; benchmarks/model_defaults_hopfield_s5.md)."""


def _pcn_ep(lr: float, weight_decay: float, beta: float, k: int, fan: int) -> dict[str, Any]:
    """EP on a PCN (Kerjan, Hoier & Scellier 2026): SGD Nesterov, cosine, centered EP with the
    MSE nudge, ``k`` mod-PGD traversals per nudged phase (fixed: ``solver.tol`` 0)."""
    return {**_sgd(lr, fan, weight_decay, **{"train.nesterov": True}), "ep.beta": beta, "solver.nudge_iters": k,
            "solver.tol": 0.0}


PC_VGG_DEFAULTS = {"train.optimizer": "adamw", "train.lr": 1e-3, "train.weight_decay": 1.21e-5,
                   "pc.activity_lr": 0.1, "pc.activity_momentum": 0.5}
"""algorithm pc on the PCN VGGs (Qi et al. 2025's optimizer, AdamW with weight decay 1.21e-5;
the rate and the activity step of plain PC from benchmarks/pcn_fmnist.md): on top of the EP
defaults; ``pc.steps`` per model."""


PC_DEEP_DEFAULTS = {
    # Qi et al. 2025's fixes for deep PCNs: spiking precision (a layer's error counts at the step
    # the output's error reaches it) and forward updates (the weight energy from the initial
    # feed-forward activities), with the activity rate that carries the error down through the
    # spikes (lr 0.5, momentum 0.9: benchmarks/pcn_fmnist.md), and half the PCN VGGs' AdamW rate.
    # Plain PC on pcn_vgg15 stays at chance on Fashion-MNIST (0.1155 against its twin's 0.639,
    # 2,000 images, 2 epochs); with the fixes at lr 1e-3 0.648 / 0.679 (seeds 0 / 1; twin 0.639 /
    # 0.725), at 5e-4 0.690 / 0.7185 (at 2e-3 0.377, seed 1). BatchNorm freezing (the "BF") is not
    # a default: it needs model.batchnorm, which the backprop twin then lacks, and with it PC fell
    # to 0.309 (benchmarks/model_defaults_pcn_s5.md)
    "pcn_vgg15": {"pc.precision": "spiking", "pc.forward_update": True, "pc.activity_lr": 0.5,
                  "pc.activity_momentum": 0.9, "train.lr": 5e-4},
}
"""algorithm pc: per deep PCN VGG, on top of :data:`PC_VGG_DEFAULTS`."""


def _deep_init(name: str, gain: float) -> dict[str, Any]:
    """Init of a deep PCN VGG on small images: ``fan_in`` and the same ``gain`` for every weight
    tensor. At 28x28 (32x32 after the first conv's padding) the layouts' U(+-sqrt(1/fan)) init
    shrinks the forward signal about 2.5x per ReLU layer: at init the output of pcn_vgg10 is
    5e-5 of its input (fan_out, the layout's own: its dense 2048 layer sees 64 x 1 x 1 inputs, not
    the 512 x 7 x 7 of 224x224 images, so fan_out is 32x fan_in there), 8e-7 for pcn_vgg15, and
    neither backprop nor EP leaves chance (benchmarks/model_defaults_pcn_s4.md). The gains keep
    it at 3e-2..6e-2 of the input (not He's sqrt(6), which diverged for backprop at lr 0.02 and 0.005)."""
    return {"model.init_fan": "fan_in", "model.gains": [gain] * pcn_weight_layers(name)}


PCN_DEFAULTS = {
    # Kerjan et al. 2026 VGG5 (configs/pcn_vgg5_mnist_mse.yaml): lr 0.04 per tensor, wd 3e-4,
    # beta 0.02, K 5. pcn_vgg7 (7 nodes: the nudge reaches the input side in 4 traversals) too.
    "pcn_vgg5": (_pcn_ep(0.04, 3e-4, 0.02, 5, published_fan_in(PCN_VGG_LAYOUTS["pcn_vgg5"]["channels"])), 8),
    "pcn_vgg7": (_pcn_ep(0.04, 3e-4, 0.02, 5, published_fan_in(PCN_VGG_LAYOUTS["pcn_vgg7"]["channels"])), 10),
    # Kerjan et al.'s VGG10 (configs/pcn_vgg10_imagenet.yaml): lr 0.02, wd 2e-4, beta 0.05, K 10;
    # fan_in and gains 1.7 (_deep_init; pcn_vgg10skip 1.3: its skips carry the signal, and at 1.7
    # EP was 3.15 points below its twin, at 1.3 (the same init output as pcn_vgg10's) 0.7). The MSE
    # nudge, not the paper's cross-entropy: with it EP was 4.1 points below its twin on
    # Fashion-MNIST, with MSE 1.05 (benchmarks/model_defaults_pcn_s4.md)
    "pcn_vgg10": ({**_pcn_ep(0.02, 2e-4, 0.05, 10, published_fan_in(PCN_VGG_LAYOUTS["pcn_vgg10"]["channels"])),
                   **_deep_init("pcn_vgg10", 1.7)}, 16),
    "pcn_vgg10skip": ({**_pcn_ep(0.02, 2e-4, 0.05, 10,
                                 published_fan_in(PCN_VGG_LAYOUTS["pcn_vgg10skip"]["channels"])),
                       **_deep_init("pcn_vgg10skip", 1.3)}, 16),
    "pcn_vgg10qi": ({**_pcn_ep(0.02, 2e-4, 0.05, 10, published_fan_in(PCN_VGG_LAYOUTS["pcn_vgg10qi"]["channels"])),
                     **_deep_init("pcn_vgg10qi", 1.7)}, 13),
    # 15 nodes: K 10 reaches every node; PC steps 21 (Qi et al.: 15-21); gains 2 (15 layers: at 1.7
    # the init output is 2e-3 of the input, at 2 3e-2); beta 0.02 (Kerjan et al.'s VGG5 value): EP
    # 0.5 points below its twin on Fashion-MNIST, at the VGG10's 0.05 3.0 and at 0.1 26.9
    # (benchmarks/model_defaults_pcn_s4.md)
    "pcn_vgg15": ({**_pcn_ep(0.02, 2e-4, 0.02, 10, published_fan_in(PCN_VGG_LAYOUTS["pcn_vgg15"]["channels"])),
                   **_deep_init("pcn_vgg15", 2.0)}, 21),
}
"""Per PCN VGG: (EP defaults, ``pc.steps`` of algorithm pc)."""

MUPC_DEFAULTS = {"train.optimizer": "adam", "train.lr": 0.1, "train.lr_scaling": "none", "ep.beta": 0.02,
                 "solver.nudge_iters": 8, "solver.tol": 0.0}
"""mupc_resmlp (Innocenti et al. 2025, configs/mupc_resmlp_mnist_d8.yaml): Adam at 0.1 for every
layer (the muPC scalings do the per-layer work), constant rate; EP: beta 0.02 and K 8 (the nudge
reaches all 8 default layers)."""
MUPC_PC_DEFAULTS = {"pc.steps": 8, "pc.activity_lr": 0.0078125}
"""algorithm pc on mupc_resmlp: T = 8 (jpc: the depth; set ``pc.steps`` with ``model.depth``),
activity step jpc's 0.5 / batch 64."""


def _builtin_specs() -> list[ModelSpec]:
    # hopfield_mlp has no convolutions but has always accepted (and ignored) 4 channel counts
    specs = [
        ModelSpec("hopfield_mlp", "hopfield", lambda m: len(m.hidden) + 1, frozenset({"channels", "feedback_scale"}), 4),
        ModelSpec("dchn_vgg5", "hopfield", lambda m: 5, frozenset({"channels", "feedback_scale"}), 4,
                  defaults=HOPFIELD_CONV_DEFAULTS["dchn_vgg5"], algorithm_defaults={"bp": DCHN_BP_DEFAULTS},
                  digital_defaults=DCHN_DIGITAL_DEFAULTS),
        ModelSpec("hopfield_resnet13", "hopfield", lambda m: 13, frozenset({"channels", "feedback_scale"}), 4,
                  defaults=HOPFIELD_CONV_DEFAULTS["hopfield_resnet13"]),
        ModelSpec("vgg_crnn", "hopfield", lambda m: m.depth or 11, frozenset({"channels", "depth", "aux_nodes", "feedback_scale"}), 5,
                  _vgg_crnn_depth, defaults=HOPFIELD_CONV_DEFAULTS["vgg_crnn"],
                  digital_defaults=CRNN_DIGITAL_DEFAULTS),
    ]
    for name in ("pcn_vgg5", "pcn_vgg7", "pcn_vgg10", "pcn_vgg10skip", "pcn_vgg10qi", "pcn_vgg15"):
        n = pcn_weight_layers(name)
        ep, steps = PCN_DEFAULTS[name]
        specs.append(ModelSpec(name, "pcn", lambda m, n=n: n,
                               frozenset({"channels", "paddings", "batchnorm", "init_fan"}),
                               len(PCN_VGG_LAYOUTS[name]["channels"]), defaults=ep,
                               algorithm_defaults={"pc": {**PC_VGG_DEFAULTS, "pc.steps": steps,
                                                          **PC_DEEP_DEFAULTS.get(name, {})}}))
    specs += [
        ModelSpec("mupc_resmlp", "pcn", lambda m: m.depth or 8, frozenset({"depth"}), check=_mupc_depth,
                  defaults=MUPC_DEFAULTS, algorithm_defaults={"pc": MUPC_PC_DEFAULTS}),
        ModelSpec("pcn_mlp", "pcn", lambda m: len(m.hidden) + 1, frozenset({"batchnorm"})),
    ]
    return specs


for _spec in _builtin_specs():
    register_model_spec(_spec)

__all__ = ["LEGACY_DEPTH", "MODEL_KEYS", "ModelSpec", "Need", "PCN_VGG_LAYOUTS", "get_model_spec", "model_names",
           "pcn_weight_layers", "published_fan_in", "register_model_spec"]
