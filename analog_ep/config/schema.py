"""Frozen dataclasses: the one source of defaults for every component.

Each field's comment-docstring (the string literal right after it) states its meaning and
units; ``analog-ep`` reads these for the README's key reference. Dotted names such as
``model.hidden`` address the fields of the nested sections.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Optional, Union

from .relaxations import RELAXATIONS


NEURON_REFERENCE_TAU_S = 1e-6
"""The time constant ``chip.neuron_energy_per_tau_j`` was measured at (NeuRRAM's 1 us integration
cycle): the factor from the renamed ``chip.neuron_static_w`` (W) to it, and the tau a settle record
without its ``settle_tau_s`` (a run before session 15) is priced at."""


@dataclass(frozen=True)
class ModelConfig:
    name: str = "hopfield_mlp"
    """Network architecture, a name registered with ``analog_ep.models.register_model``:
    ``hopfield_mlp`` (layered Hopfield network, dense couplings), ``dchn_vgg5`` (deep
    convolutional Hopfield network, conv-pool x4 + dense readout; Scellier et al. 2023),
    ``hopfield_resnet13`` (8 strided convs, 1x1 stride-2 skips k -> k+2, ReLU6; E P &
    Srinivasan 2025), ``vgg_crnn`` (VGG-11/13 Hopfield network with auxiliary readouts for
    intermediate error signals); predictive coding networks (energy ``sum_k 1/2 ||s_k -
    f_k(s_{k-1})||^2``): ``pcn_vgg5`` (conv 128-256-512-512 each with pool, dense; Kerjan et al.
    2026), ``pcn_vgg7`` / ``pcn_vgg15`` (Qi et al. 2025), ``pcn_vgg10`` (8 convs, dense 2048,
    dense; for 224x224 and 32/64-pixel inputs), ``pcn_vgg10skip`` (plus strided 1x1 skips 2->5
    and 5->8), ``pcn_vgg10qi`` (Qi et al. 2025's VGG10: 9 convs 64-128-128-128-256-256-256-256-512,
    pools after conv 3/5/7/9, dense), ``mupc_resmlp`` (residual MLP with Depth-muP scalings, ``model.width`` x
    ``model.depth``; Innocenti et al. 2025), ``pcn_mlp`` (dense PCN with ``model.hidden``)."""
    hidden: list[int] = field(default_factory=lambda: [256])
    """hopfield_mlp, pcn_mlp: widths of the hidden layers, input to output (units). The input and output
    widths come from the dataset."""
    channels: Optional[list[int]] = None
    """Channels of the convolutional stages: four for dchn_vgg5 / hopfield_resnet13 (null =
    128, 256, 512, 512), five for vgg_crnn (null = 64, 128, 256, 512, 512), one per conv layer
    for the PCN VGGs (4 / 6 / 8 / 8 / 9 / 13 for pcn_vgg5 / 7 / 10 / 10skip / 10qi / 15; null =
    the published widths). Narrow versions run on a CPU."""
    paddings: Optional[list[int]] = None
    """PCN VGGs: zero padding of each 3x3 conv (one per conv layer); null = the layout's
    (pcn_vgg5 1,1,1,1 as Kerjan et al.; Qi et al.'s VGG5 uses 1,1,1,0)."""
    depth: Optional[int] = None
    """vgg_crnn: number of weight layers, 11 (8 conv + 3 dense) or 13 (10 conv + 3 dense), null =
    11; mupc_resmlp: weight layers (>= 2; up to 128 in the paper), null = 8."""
    width: int = 128
    """mupc_resmlp: width N of every hidden layer (units)."""
    batchnorm: bool = False
    """PCN VGGs and pcn_mlp: BatchNorm on every hidden node's pre-activation, ``f_k = act o BN o
    [pool] o conv`` (digital periphery; its shift replaces the node bias). Training uses batch
    statistics, evaluation the running ones; see ``pc.bn_freeze``."""
    init_fan: Optional[Literal["fan_in", "fan_out"]] = None
    """PCN VGGs: initialization U(+-gain sqrt(1/fan)) with fan = fan_in (C_in k k) or fan_out
    (C_out k k); null = the layout's (fan_in for pcn_vgg5/7/10qi/15, fan_out for pcn_vgg10/10skip)."""
    aux_nodes: list[int] = field(default_factory=list)
    """vgg_crnn: 1-based state nodes that get an auxiliary softmax readout (intermediate error
    signals), e.g. [4, 8]."""
    feedback_scale: float = 1.0
    """Hopfield-type models (hopfield_mlp, dchn_vgg5, hopfield_resnet13, vgg_crnn): eps in (0, 1],
    node weights mu_k = eps^(k-1) in the energy, so every transposed (feedback) read of node k+1
    into node k is multiplied by eps (a fixed periphery gain on the tile's transposed read; the
    forward reads unchanged). 1 = the plain energy. The cost enters with the weight of the last
    node in the energy (so the output's nudge is beta as before) and each auxiliary readout with
    the weight ``model.aux_weight`` names. Algorithms that relax no energy (``bp``, the
    feed-forward twin) refuse it; ``compare`` and ``cost`` give their bp variants eps 1. The parameter update is
    rescaled per layer: every weight and bias gets its local EP term as at eps 1 (the weighted
    energy's gradient divided by its node's mu_k), i.e. the gradient of the objective times the
    fixed factor mu_C / mu_k = eps^(C-k) of layer k's node, C the cost's node (1e-9 for
    vgg_crnn's first layer at eps 0.1); RBP's and gradcheck's exact gradients carry the
    same factors. The gain is a digital one after the tile's ADC in the iterative relaxation and an
    analog gain on the transposed current in a settle; the cost model prices neither. eps < 1 runs the torch sweep (no fused kernel) and has no read-noise floor estimate:
    ``solver.noise_z`` is not applied and a noisy phase stops on the patience test alone.
    ``model.feedback_update: gradient`` undoes the per-layer factors."""
    feedback_update: Literal["local", "gradient"] = "local"
    """With ``model.feedback_scale`` eps < 1, what EP's (and RBP's) parameter update is: ``local``
    (each layer's local EP term, i.e. the gradient of the objective times eps^(C-k) for layer k's
    node, C the cost's node: lower layers learn slower) or ``gradient`` (each layer's update times
    the fixed gain mu_k / mu_C = eps^(k-C), a per-layer gain on the pulse counts, so the update is the
    gradient of the objective itself: Xie & Seung 2003's layer-scaled rates; as eps -> 0 the free
    state tends to the feed-forward pass and, without auxiliary readouts or with ``model.aux_weight:
    objective``, the update to the backprop gradient of the feed-forward twin).
    The nudged states' differences at node k shrink as eps^(C-k) beta: a small eps asks a tight
    ``solver.tol`` and, once they near float32's resolution, ``compute.precision: fp64``; on a card
    the gain multiplies the read noise and ADC steps of the lower layers' differences as well.
    Under adam / adamw, which rescale each tensor's step, the choice matters little (SGD's lower
    layers learn slower under ``local``). Gradcheck's and RBP's exact gradients follow the same
    choice. No effect at eps 1; the feed-forward twin refuses it."""
    aux_weight: Literal["local", "objective"] = "local"
    """vgg_crnn under ``model.feedback_scale`` eps < 1: the weight with which each auxiliary
    readout's cross-entropy enters the energy. ``local``: its node's own mu_k, so node k gets
    beta * ep.aux_kappa of its readout's error as at eps 1, and the objective EP descends weights
    readout k's cross-entropy by ep.aux_kappa * eps^(k-C) (at small eps the readouts' terms, up to
    eps^(k_min-C), swamp the output cost). ``objective``: the cost's mu_C, so node k gets beta *
    ep.aux_kappa * eps^(C-k) of its readout's error (the output's nudge reaching node k is
    attenuated alike) and the objective is the feed-forward twin's, the output cost plus
    ep.aux_kappa times every readout's cross-entropy; with ``model.feedback_update: gradient`` EP's
    update then tends to the twin's backprop gradient as eps -> 0. The first node's share, beta
    eps^(C-1), must stay well above float64's resolution (about 1e-13 at these states' scale): at
    11 layers eps 0.1 keeps the first layer's estimate exact, at 0.05 (vgg_crnn's digital default,
    beta 0.1: about 2e-13) its cosine with the gradient falls to 0.7-0.9 while every other layer's
    stays above 0.9, and at 0.03 it is lost. No effect at eps 1 or without auxiliary readouts; the
    feed-forward twin refuses it."""
    activation: Optional[Literal["clamp", "hard_sigmoid", "relu6", "sigmoid", "relu", "leaky_relu", "gelu",
                                 "hard_tanh", "tanh"]] = None
    """Hidden-node nonlinearity: ``clamp`` = clip(x, 0, 1) (Scellier); ``hard_sigmoid`` =
    clip(x/2, 0, 1) (Laborieux); ``relu6`` = clip(x, 0, 6) (Hopfield-ResNet); ``sigmoid`` =
    1 / (1 + exp(-x)) (the logistic hidden layer of aihwkit's examples; in the Hopfield models
    with Hopfield's 1984 node energy s ln s + (1 - s) ln(1 - s), whose block minimizer is
    sigmoid(h), and in the PCNs); for predictive coding networks also ``relu``, ``leaky_relu``
    (slope 0.01), ``gelu``, ``hard_tanh`` (clip(x, -1, 1)), ``tanh``. null = the model's own
    (relu6 for hopfield_resnet13, relu for PCNs, clamp otherwise). The output node is linear."""
    gains: Optional[list[float]] = None
    """Per-synapse multipliers of the U(-1/sqrt(fan_in), 1/sqrt(fan_in)) initialization, one per
    weight layer in construction order, or a single one for every layer (the loader spells it
    out, one per layer, in the run's config); null = the model's published gains (dchn_vgg5:
    0.4, 0.7, 0.6, 0.3, 0.4; hopfield_resnet13: 0.7) or 1 (hopfield_mlp, vgg_crnn). dchn_vgg5's
    family defaults set 1 for every layer on a card and 0.7 in a digital run (its published gains
    do not train on Fashion-MNIST); vgg_crnn's digital family defaults set 2 (one gain, every
    layer's: the feed-forward limit lets the free phase settle there), a card keeps its 1."""


@dataclass(frozen=True)
class DataConfig:
    name: Literal["digits", "mnist", "fashion_mnist", "cifar10", "cifar100", "tiny_imagenet",
                  "imagenet", "imagenet32", "imagenet64", "synthetic"] = "digits"
    """Dataset: ``digits`` (embedded scikit-learn 8x8 digits), ``mnist`` / ``fashion_mnist``
    (IDX files in ``root``), ``cifar10`` / ``cifar100`` (python-pickle batches in ``root``),
    ``tiny_imagenet`` (Tiny ImageNet folder in ``root``, 64x64 JPEGs, 200 classes),
    ``imagenet`` (full-size ImageNet, ``root/train/<wnid>/*.JPEG`` and ``root/val/<wnid>/*.JPEG``,
    streamed from disk: random-resized crops of ``image_size`` for training, resize and center
    crop for evaluation), ``imagenet32`` / ``imagenet64`` (downsampled ImageNet npz batches in
    ``root``, 1000 classes), ``synthetic`` (random tensors of ``shape``)."""
    root: Optional[str] = None
    """Folder holding the dataset files (IDX, CIFAR batches, the Tiny ImageNet folder, the
    ImageNet ``train/`` and ``val/`` folders or the downsampled ImageNet npz files). Unused by
    digits and synthetic."""
    train_size: Optional[int] = None
    """Number of training examples to use (a fixed seeded subset); null = all."""
    test_size: Optional[int] = None
    """Number of test examples to use (a fixed seeded subset); null = all."""
    batch_size: int = 32
    """Mini-batch size (examples) for training and evaluation."""
    shape: list[int] = field(default_factory=lambda: [1, 28, 28])
    """Synthetic only: shape of one example, channels first, e.g. [3, 32, 32]."""
    num_classes: int = 10
    """Synthetic only: number of classes."""
    normalize: Literal["standard", "unit"] = "standard"
    """``standard``: (x - mean) / (std_scale * std) with the dataset's fixed per-channel
    constants (or ``mean`` / ``std``); ``unit``: pixels scaled to [0, 1]."""
    std_scale: float = 1.0
    """Multiplier of the std in standard normalization (DCHN papers use 3)."""
    mean: Optional[list[float]] = None
    """``standard`` normalization: the per-channel means of the [0, 1] pixels, one per channel
    (e.g. [0.4914, 0.4822, 0.4465]); null = the dataset's fixed constants."""
    std: Optional[list[float]] = None
    """``standard`` normalization: the per-channel stds (> 0), one per channel, multiplied by
    ``std_scale``; null = the dataset's fixed constants. Qi et al. 2025 and PCX normalize
    CIFAR-10 with [0.2023, 0.1994, 0.2010], a widespread mis-quote of its std (0.2470, 0.2435,
    0.2616, the default)."""
    augment: list[Literal["flip", "crop"]] = field(default_factory=list)
    """Training-time augmentation of image batches: ``flip`` (random horizontal flip, p = 0.5),
    ``crop`` (random crop after zero-padding by ``crop_padding`` pixels). Drawn from the seed and
    epoch, so resumed runs see the same batches. Must stay empty for ``imagenet`` (its training
    transform is built in)."""
    crop_padding: int = 4
    """Zero padding (pixels) before the random crop of ``augment: [crop]``."""
    image_size: int = 224
    """imagenet: side S of the crops fed to the network (pixels, >= 8); evaluation resizes the
    shorter side to round(S * 256 / 224) before the central crop."""
    workers: int = 4
    """DataLoader worker processes that decode JPEGs for streamed datasets (imagenet); 0 = in the
    main process."""
    crop: Optional[int] = None
    """Center crop of every image (pixels, >= 1 and <= the image's height and width): the
    ``crop x crop`` window starting at row ``(H - crop) // 2``, column ``(W - crop) // 2``, cut
    from every training and test image once, at load time, before the model sees it (so a dense
    model's input is ``C crop^2``: 400 for ``fashion_mnist`` with 20, NeuroSim's 20x20 MNIST
    input). Normalization is per channel, so the cropped pixels are normalized as uncropped.
    Refused for ``imagenet`` (its ``image_size`` is the center crop) and for a ``synthetic``
    ``shape`` that is not (C, H, W). null = the whole image."""


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 10
    """Number of passes over the training set (>= 1; a resumed run may raise it, never below the
    epochs already done)."""
    lr: float = 0.05
    """Learning rate (per unit of estimated gradient) of a weight layer with fan-in
    ``lr_ref_fan_in`` or less; with ``lr_scaling: fan_in`` a layer of larger fan-in gets
    ``lr * lr_ref_fan_in / fan_in``."""
    lr_scaling: Literal["none", "fan_in"] = "fan_in"
    """Per-layer learning rates from ``lr``: ``fan_in``: ``lr * min(1, lr_ref_fan_in / fan_in)``
    with fan_in the inputs per output unit (in_features for dense, C_in k k for conv), so a
    layer's drive changes by about the same amount per step whatever its width (the 64-pixel
    digits and 28x28 / 32x32 images train with one default); ``none``: ``lr`` for every layer
    (per-tensor settings from papers). The bias of a node gets its first input layer's rate.
    ``layer_lrs`` overrides both."""
    lr_ref_fan_in: int = 64
    """``lr_scaling: fan_in``: the fan-in (inputs per output unit, >= 1) whose layers get exactly
    ``lr`` (64 = the 8x8 digits input layer)."""
    layer_lrs: Optional[list[float]] = None
    """Per-synapse learning rates, input side first; overrides ``lr`` and ``lr_scaling`` when
    given."""
    optimizer: Literal["sgd", "adam", "adamw"] = "sgd"
    """Weight optimizer: ``sgd`` (with momentum, optional Nesterov), ``adam`` (Kingma & Ba; L2
    ``weight_decay`` added to the gradient) or ``adamw`` (decoupled weight decay; Loshchilov &
    Hutter), with betas ``adam_betas``. Predictive coding papers train weights with Adam(W)."""
    adam_betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    """adam / adamw: the two moment decay rates, each in [0, 1)."""
    momentum: float = 0.9
    """SGD momentum coefficient in [0, 1)."""
    nesterov: bool = False
    """Use Nesterov momentum."""
    weight_decay: float = 0.0
    """L2 weight decay coefficient (added to the gradient)."""
    eval_every: int = 1
    """Evaluate on the test set every this many epochs (and always after the last)."""
    schedule: Literal["constant", "cosine", "warmup_cosine"] = "constant"
    """Learning-rate schedule: ``constant``, ``cosine`` (annealed from each group's lr to the
    floor over the run; Loshchilov & Hutter 2017) or ``warmup_cosine`` (linear warmup over
    ``warmup_epochs``, then cosine to the floor at epoch ``cosine_epochs``, constant after; Qi et
    al. 2025 use 25 cosine epochs of 50); per training step or per epoch
    (``schedule_unit``). The floor: ``lr_min``, or ``lr_min_ratio`` of the rate when ``lr_min``
    is null."""
    schedule_unit: Literal["step", "epoch"] = "step"
    """How often the schedule moves the rate: ``step`` (every training step: the cosine falls
    smoothly over all ``epochs x steps`` and reaches its floor after the last step, as torch's
    CosineAnnealingLR stepped per iteration, so a 2-epoch trial trains its second epoch between
    50 % and the floor, not at the floor; warmup rises linearly step by step) or ``epoch`` (one
    rate per epoch: cosine from 1 at epoch 0 to the floor at the last epoch; warmup epoch e gets
    (e + 1) / (warmup_epochs + 1)). Runs stored before this key existed resume with ``epoch``,
    which is what they ran."""
    warmup_epochs: int = 0
    """warmup_cosine: epochs of linear warmup (per step: step k of the warmup's ``n`` steps gets
    (k + 1) / n of the rate; per epoch: epoch e < warmup_epochs gets (e + 1) / (warmup_epochs +
    1))."""
    cosine_epochs: Optional[int] = None
    """warmup_cosine: the epoch at which the cosine reaches the floor (null = train.epochs)."""
    lr_min: Optional[float] = None
    """Cosine schedules: final learning rate (same units as ``lr``; 0 anneals to zero); null =
    ``lr_min_ratio`` times each layer's rate. Runs stored before ``lr_min_ratio`` existed say
    ``lr_min: 0.0`` and resume with that floor."""
    lr_min_ratio: float = 0.01
    """Cosine schedules with ``lr_min`` null: the final learning rate as a fraction of each
    layer's rate, in [0, 1] (0.01: the schedule ends at 1% of the rate, not at 0 (per
    epoch: a 2-epoch trial's last epoch trains at 1%); 0 anneals to zero as torch's CosineAnnealingLR with eta_min 0)."""
    clip_grad_norm: Optional[float] = None
    """Rescale the whole gradient (estimate) so its global L2 norm is at most this; null = off
    (Hopfield-ResNet uses 1.0)."""
    spectral_cap: Optional[float] = None
    """After each update, scale every weight tensor between two free nodes (not the input
    layer's: the clamped image's drive has no feedback) down so its operator norm (largest
    singular value of the dense matrix, or of the convolution as a linear map of its pre node)
    is at most this; null = off. Both rules (EP and the backprop twin) get the same cap. It keeps a Hopfield
    network's free phase a contraction while it trains (the fixed-point map of layer ``k`` reads
    ``W_k`` from below and ``W_{k+1}^T`` from above). The norm is estimated by power iteration
    with one persistent vector per layer, on the device (``spectral_cap_iters`` steps per
    update, 20 at the first; the vectors travel in the checkpoint); digital weights and analog storages whose
    change is a proposal (the shrink is added to it); refused with bit-stream updates."""
    spectral_cap_iters: int = 1
    """train.spectral_cap: power-iteration steps per update (>= 1)."""
    checkpoint_every: Optional[int] = None
    """Also write ``checkpoint.pt`` every this many training steps (mini-batches) inside an epoch,
    so a preempted job loses at most that many steps (a resumed run continues from the step, bit
    for bit on the digital path); null = at the end of each epoch and before each test pass only
    (always done)."""
    log_every: int = 20
    """Training steps between host reads of the loop's bookkeeping (loss, accuracy, relaxation
    statistics accumulate on the accelerator): the progress bar and the divergence check
    (non-finite loss or weights) happen at this interval and at the end of each epoch."""


@dataclass(frozen=True)
class EPConfig:
    beta: float = 0.5
    """Nudging strength beta (> 0) of the nudged phases."""
    estimator: Literal["centered", "one_sided", "negative", "random_sign"] = "centered"
    """Gradient estimator: ``centered`` (phases +beta and -beta, error O(beta^2)),
    ``one_sided`` (free and +beta, error O(beta)), ``negative`` (free and -beta),
    ``random_sign`` (free and a random +-beta per mini-batch)."""
    nudge: Literal["mse", "clamp", "cross_entropy"] = "mse"
    """How the output is nudged toward the one-hot target ``y``: ``mse`` adds beta/2 ||s_L - y||^2
    to the energy (``s_L <- (h_L + beta y) / (1 + beta)``); ``clamp`` moves the output a fraction
    beta of the way to the target (``s_L <- (1 - beta) h_L + beta y``; beta = 1 clamps it fully,
    contrastive Hebbian learning); ``cross_entropy`` makes the output a softmax readout outside
    the energy and nudges the last hidden node by ``-beta dCE/ds`` (Laborieux et al. 2021); the
    backprop twin then trains on cross-entropy too."""
    aux_kappa: float = 1.0
    """Strength (relative to beta) of the auxiliary readouts' nudges and losses at epoch 0."""
    aux_schedule: Literal["constant", "linear", "exponential", "cosine"] = "constant"
    """Decay of the auxiliary strength over epochs: ``linear`` / ``cosine`` from aux_kappa to
    aux_kappa_min at the last epoch; ``exponential``: aux_kappa * aux_decay^epoch (floored at
    aux_kappa_min)."""
    aux_kappa_min: float = 0.0
    """Final (or floor) auxiliary strength."""
    aux_decay: float = 0.9
    """Per-epoch factor of the exponential auxiliary schedule, in (0, 1]."""
    teacher: Optional[str] = None
    """Run folder (with checkpoint.pt) of a trained teacher, e.g. the backprop twin: auxiliary
    targets become (1 - kd_alpha) onehot(y) + kd_alpha softmax(teacher logits / kd_temperature)."""
    kd_alpha: float = 0.5
    """Weight of the teacher's soft targets in the auxiliary targets, in [0, 1]."""
    kd_temperature: float = 4.0
    """Distillation temperature (> 0) applied to the teacher's logits."""
    warm_start: bool = True
    """Start each training free phase from the previous mini-batch's free state (zeros at
    evaluation)."""


@dataclass(frozen=True)
class RBPConfig:
    """algorithm rbp (recurrent backpropagation, :mod:`analog_ep.algorithms.rbp`): the adjoint
    ``lambda = (dT/ds)^T lambda + dL/ds`` iterated at the free fixed point."""

    iters: int = 200
    """Most adjoint iterations per mini-batch (>= 1), each one vector-Jacobian product through
    the synchronous node map (about the cost of one synchronous sweep); the adjoint converges at
    about half the free phase's rate per sweep, so give it about twice the free phase's sweeps."""
    rtol: float = 1e-3
    """Relative stop of the adjoint (dimensionless, >= 0): a sample has converged when, at every
    node, the change of its adjoint in one iteration is below ``rtol`` times the adjoint's
    largest magnitude there; checked every ``solver.check_every`` iterations. 0 = all
    ``iters``."""


@dataclass(frozen=True)
class PCConfig:
    nudged_update: Literal["mod_pgd", "pgd"] = "mod_pgd"
    """EP on PCNs: the node update of the nudged phases: ``mod_pgd`` ``s_k <- act(a_k + Delta_k)``
    (Kerjan et al. 2026's choice) or ``pgd`` ``s_k <- proj(act(a_k) + Delta_k)`` (projection onto
    s >= 0 for ReLU layers). Iterations per phase: ``solver.nudge_iters`` (K)."""
    steps: int = 8
    """algorithm pc: activity steps T per mini-batch (Qi et al.: VGG5 5-8, VGG7 7-13, VGG10 10-16,
    VGG15 15-21)."""
    activity_lr: float = 0.1
    """algorithm pc: step size of the activity updates ``s <- s - lr dE/ds``."""
    activity_momentum: float = 0.0
    """algorithm pc: momentum of the activity SGD, in [0, 1] (0 = plain gradient descent; 1 = the
    velocity never decays, as in Qi et al.'s released configs)."""
    activity_nesterov: bool = False
    """algorithm pc: Nesterov momentum for the activity updates."""
    precision: Literal["none", "spiking", "decaying"] = "none"
    """algorithm pc: precision schedule of the layers' energies during the activity steps (Qi et
    al. 2025): ``spiking``: precision 1 at the step the error first reaches the layer (step L-k
    for layer k of L), ``precision_alpha`` after, 0 before; ``decaying``: exp(-k (t - t_k))
    normalized over the remaining steps (``precision_k``); ``none``: 1."""
    precision_alpha: float = 0.001
    """spiking precision: the precision after the spike, >= 0."""
    precision_k: float = 1.0
    """decaying precision: the decay rate k per step, >= 0."""
    bn_freeze: bool = False
    """algorithm pc with ``model.batchnorm``: BatchNorm freezing (Qi et al. 2025): the activity
    steps use batch statistics without touching the running statistics, which move once per
    batch, in the pass whose predictions the weight update uses (the weight-update pass; with
    ``forward_update`` the forward pass); false = every pass that computes predictions moves
    them (as PCX)."""
    forward_update: bool = False
    """algorithm pc: weight update on the energy ``1/2 ||s_k* - f_k(s_{k-1}^0)||^2`` (predictions
    from the initial feed-forward activities; Qi et al. 2025)."""


@dataclass(frozen=True)
class SolverConfig:
    name: Literal["async", "sync"] = "async"
    """Relaxation schedule: ``async`` (colour groups in turn, exact block-coordinate descent) or
    ``sync`` (every node from the old states, optionally damped). Solvers are registered per
    kind of energy: predictive coding networks relax with ``async`` (even-then-odd traversals)."""
    colouring: Literal["greedy", "odd_even"] = "greedy"
    """Async only: node colouring that sets the update order. ``greedy``: a proper colouring of
    any coupling graph (skips included); ``odd_even``: layer parity (Laborieux et al. 2021),
    rejected where a synapse joins two nodes of the same parity."""
    free_iters: int = 30
    """Maximum sweeps of the free phase (training and evaluation); predictive coding networks
    reach their free minimum (the forward pass) exactly, without a sweep."""
    nudge_iters: int = 10
    """Maximum sweeps of each nudged phase."""
    tol: float = 1e-4
    """Early-stop tolerance: a sample has converged when max |s_new - s_old| < tol."""
    damping: float = 0.0
    """Sync only: s <- damping * s_old + (1 - damping) * update, in [0, 1)."""
    check_every: Optional[int] = None
    """Sweeps between convergence checks (each check reads one flag on the host: a GPU sync).
    The residual and per-sample steps are still computed after every sweep, on the device;
    only the early stop waits for a check, so up to ``check_every - 1`` extra sweeps run past
    convergence. null = 1 for one CPU process (a check costs nothing there), 8 on CUDA or under
    torchrun (a check is then an all-reduce over the ranks)."""
    stop: Literal["auto", "tol", "noise_floor"] = "auto"
    """When a sample of an iterative phase stops. ``auto``: ``noise_floor`` wherever the
    relaxation implements it (Hopfield-type solvers and every settle; on noiseless reads it is
    ``tol`` exactly, so digital runs stop as before), ``tol`` for a PCN's iterative phases.
    ``tol``: its residual max |s_new - s_old| fell
    below ``tol`` (a noisy analog read never gets there: such phases run their whole budget).
    ``noise_floor``: also when its residual has stopped falling, i.e. sits on the floor that
    the read noise of the periphery sets: a sample is *settled* when its residual is below
    ``tol``, or when ``noise_patience`` sweeps in a row failed to bring it below ``1 -
    noise_drop`` times the smallest residual it had reached (a relaxation that still contracts
    shrinks its residual geometrically, one that sits on the noise floor only fluctuates). Per
    sample, on the device; the host reads the all-settled flag every ``check_every`` sweeps as
    with ``tol``. ``converged`` keeps its meaning (residual below ``tol``); the samples stopped
    on the floor are reported as settled (``<phase>_settled_fraction``). Digital phases, whose
    residual keeps falling, stop at ``tol`` as before."""
    nudge_rtol: float = 0.0
    """Nudged phases of a Hopfield-type model's iterative relaxation (EP): a sample has converged
    when, at every node, its residual max |s_new - s_old| is below ``nudge_rtol`` times the
    node's displacement max |s - s_free| from the free fixed point the phase started from
    (dimensionless, >= 0), instead of below ``tol``. Both shrink with the nudge, so the test
    means the same at any ``ep.beta``, where ``tol`` stops a small nudge before it has reached
    the lower layers (a node the nudge has not reached, residual and displacement 0, has not
    converged); up to ``nudge_iters`` sweeps as before. 0 = off (nudged phases stop at ``tol``)."""
    end_reads: int = 1
    """Hopfield-type models' iterative relaxation (EP, RBP): the state a phase hands on is the
    mean of its last ``end_reads`` sweeps' states: once the phase stops by its rule (``stop``,
    ``tol``, the budget), ``end_reads - 1`` more sweeps of the same relaxation run and the
    ``end_reads`` states are averaged (``solvers.base.sweep_loop``). The relaxation keeps its
    states in digital logic, so on tiles this is ``end_reads - 1`` more reads of the same crossbars
    and converters (counted as sweeps, priced by the cost model) plus a per-neuron accumulator
    for the mean (``end_reads - 1`` adds and one scale per neuron per phase, digital, not priced).
    The phase end's read noise falls by up to ``sqrt(end_reads)``: less where consecutive sweeps
    correlate or a converged state's ADC rounding is not dithered by the noise (1.3-1.7x at 16 on
    dchn_vgg5, ``benchmarks/analog_conv_fmnist_s12.md``). Averaging is useful with
    ``analog.noise_policy: per_read`` (the cards' physical policy: every read draws its own
    noise); ``per_phase`` / ``per_batch`` reuse one draw in a phase, so the extra sweeps average
    the same draw. Every phase of the relaxation
    averages (free, nudged and the prediction's: one place, the phase end); per-sample ``steps``
    include the extra sweeps. Only noisy reads are averaged (a device card with read noise or
    converters): a digital run, and the digital twin of an analog one (``bench``, ``compare``,
    ``cost``), ends on its last sweep and pays no extra sweep; ``algorithm: bp`` does not relax
    and ignores it. Integer >= 1; 1 = the last sweep's state (no extra sweep)."""
    noise_patience: Optional[int] = None
    """``stop: noise_floor``: sweeps in a row without a new low of the residual (by the factor
    ``1 - noise_drop``) after which a sample counts as settled on the noise floor (>= 1); under
    ``analog.relaxation: settle``, node time constants (``noise_patience tau / dt`` steps).
    null = the relaxation's default (its ``noise_patience``: ``config.relaxations.RELAXATIONS``): 3 sweeps for
    ``iterative`` (5 before session 9; 3 and 2 trained the Fashion-MNIST Hopfield MLP on the
    memristor card to the same test accuracy as 5, within seed noise, in fewer sweeps:
    ``benchmarks/speed_fmnist_s9_stop.md``), 5 time constants for ``settle``."""
    noise_drop: float = 0.05
    """``stop: noise_floor``: the relative fall of a sample's smallest residual that counts as
    progress, in (0, 1)."""
    noise_z: Optional[float] = None
    """``stop: noise_floor``, iterative relaxation: a sample also counts as settled once its
    residual is at most ``noise_z sqrt(2)`` times the largest read-noise std its periphery puts on
    a node in one sweep (output noise and the ADC's rounding, scaled by each read's abs-max noise
    management; the weight read noise, ``w_noise_std`` per read, scaled by the L2 norm of a dense
    read's input, of a forward conv read's largest input patch, or of the patches a transposed
    conv read folds onto a pixel (the largest such sum; a max-pooled one over every argmax); the
    dense reads' term in the fused numba sweep too since session 16; through the node update:
    ``solvers.base.floor_threshold``), i.e. once it changes
    no more than two noisy reads of a settled state differ by (>= 0; 0 = off, only the
    ``noise_patience`` test). Dense and conv reads (a transposed conv read adds the noise of every
    patch its fold puts on a pixel); the residual is a max over a sample's nodes, so a model with
    thousands of unclipped nodes per sample sits above z = 3 (dchn_vgg5 32-64-64-64: 3.6; one band
    of 3 for every node, ``noise_band: flat``, changes no stop there, of 4 cuts a step from 38
    sweeps to 23: ``benchmarks/speed_fmnist_s11_conv.md``; ``noise_band: max`` scales it per node);
    undamped sweeps only (``solver.damping`` > 0 keeps the patience test: a damped state
    carries part of the old state's noise), not in nudged phases under ``solver.nudge_rtol`` (it
    would override their relative test while the nudge spreads); Hopfield-type models with ``stop`` auto or
    ``noise_floor`` only (refused elsewhere). null = the relaxation's default (its ``noise_z``: ``config.relaxations.RELAXATIONS``): 3 for ``iterative`` (session
    10: the same test accuracy as without it in about half the sweeps:
    ``benchmarks/speed_fmnist_s10_stop.md``); ``settle`` has none. ``noise_z`` is a per-draw
    z: ``noise_band`` says how it carries to a node of many entries."""
    noise_band: Optional[Literal["flat", "max"]] = None
    """``noise_z``'s band per node (``solvers.base.NOISE_BANDS``). ``flat``: ``noise_z`` for every
    node, whatever its size (session 10's threshold). ``max``: node ``k`` of ``n_k`` entries per
    sample gets ``z_n = Q^-1((1 - (1 - p)^(1/n_k)) / 2)``, ``p = erfc(noise_z / sqrt 2)``: the level
    the largest of ``n_k`` noise-only changes exceeds as often as one change exceeds ``noise_z``
    (``solvers.base.max_band``; at ``noise_z`` 3: 3.0 for 1 entry, 3.64 for 10, 4.55 for 500, 4.98
    for 4,340): each node's band from its own size. The stop compares a sample's residual, its
    max over nodes, with the largest of the nodes' thresholds, so the widest node's band gates
    every node: a small readout may still move by up to that band when the phase stops (a
    per-node comparison is a possible refinement). Computed once per phase from the states' shapes. null = ``solvers.base.NOISE_BAND``:
    ``max`` (session 12: the Fashion-MNIST MLP on the memristor card at the same test accuracy,
    3 seeds x 3 epochs, in 9.5 sweeps per EP step instead of 14.2; dchn_vgg5 32-64-64-64 in
    26.7 instead of 37.7: ``benchmarks/speed_fmnist_s12_stop.md``); a run stored before the key
    existed resumes with ``flat``, what it ran. ``max`` is refused where ``noise_z`` does not apply."""
    pcn_step: float = 1.0
    """EP on a PCN, iterative relaxation: the step ``eta`` in (0, 1] of each hidden node update
    of the nudged phases, ``s_k <- s_k + eta (u_k - s_k)`` (``u_k`` the ``pc.nudged_update``
    rule's closed form, a unit gradient step on ``s_k``; the same fixed points). 1 = the closed
    form itself (Kerjan et al. 2026). The unit step contracts only while the energy's curvature
    in ``s_k``, ``1 + ||J_{k+1}||^2``, is below 2 (layer gains below 1); a step below ``2 / (1 +
    ||J||^2)`` descends at any gain (:mod:`analog_ep.solvers.pcn`)."""
    pcn_backtrack: bool = False
    """EP on a PCN, iterative relaxation: a sample of a nudged phase that the divergence guard
    would stop (its energy ``E + beta C`` risen far above its lowest) goes back to its
    lowest-energy states and halves its node step (``pcn_step`` to start), and goes on, instead
    of staying frozen; costs one extra read of every node per traversal. A sample the guard
    never stops runs exactly as without it (digitally: on tiles the extra reads draw their own
    noise). false = the guard stops it."""


@dataclass(frozen=True)
class AnalogConfig:
    device: Optional[str] = None
    """Device card (a name from ``analog-ep devices list`` or a YAML path) holding every weight
    on simulated crossbar tiles; null = digital. ``--device`` on the CLI sets it."""
    relaxation: Literal[tuple(RELAXATIONS)] = "iterative"
    """How a phase relaxes on the chip (DESIGN section 7c; one entry each in
    ``config.relaxations.RELAXATIONS``, whose names are the valid values). ``iterative``: each sweep is a
    digital step around analog reads (DAC -> crossbar -> ADC -> next state in logic), the
    solver ``solver.name``. ``settle``: the neurons are analog circuits on the crossbar lines;
    each node voltage integrates the currents of the crossbars it touches (forward read from
    below and transposed read from above at once) against its leak, ``C dv/dt = -G_leak v +
    I_in + I_nudge``, through the neuron's nonlinearity, with no converter in the loop; each
    phase's equilibrium is digitized once (solver ``settle``, :mod:`analog_ep.solvers.settle`).
    EP: the phases of a Hopfield-type model, the nudged phases of a PCN (its value nodes
    integrate the error currents: the PC energy's gradient flow); PC (``algorithm: pc``): a PCN's
    inference, the same circuit with the output held at the target (no precision schedule).
    Needs a device card. Parameters: ``settle_capacitance_f``, ``settle_g_leak_s``,
    ``settle_dt_s``, ``settle_t_max_s``."""
    settle_capacitance_f: Optional[float] = None
    """``relaxation: settle``: node capacitance C in farads (> 0); overrides the card's
    ``periphery.settle_capacitance_f``. null = the card's, else 100 fF (a neuron's integrating
    capacitor). With the leak it sets the node time constant ``tau = C / G_leak``. The neuron is a
    virtual-ground integrator: its input holds the crossbar's line at virtual ground, so the
    array's conductances drive the node with their current but do not load it (no
    ``sum_j G_ij`` added to its leak; the settled states are the iterative fixed point) and the
    neuron has its own leak."""
    settle_g_leak_s: Optional[float] = None
    """``relaxation: settle``: the node's leak conductance G_leak in siemens (> 0); overrides the
    card's ``periphery.settle_g_leak_s``. null = the card's (the shipped cards: their conductance
    span ``g_max - g_min``, one unit device weight), else 1 uS. The currents of the crossbars are
    in units of G_leak times a state (a drive ``h`` of 1 is the current that holds the node at 1
    against its leak)."""
    settle_dt_s: Optional[float] = None
    """``relaxation: settle``: integrator step in seconds (> 0, at most tau = C / G_leak). A
    Hopfield-type model integrates with exponential Euler (the leak exact at any step, first order
    in the coupling), stable below ``tau ln((rho + 1) / (rho - 1))`` where ``rho``, the spectral
    radius of the node targets' Jacobian measured at each phase's start, exceeds 1; a PCN with
    explicit Euler, stable below ``2 tau / lambda`` (its measured stiffness). A step above the
    first phase's bound is refused naming it (before ``train`` touches its folder; a ``sweep``
    point or ``compare`` run is recorded failed with that line before its folder is written); a
    later phase whose bound training moved below it runs at the default's share of its bound, counted per
    epoch (``settle_dt_clamped_phases``) with one warning. null = tau / 4 (Hopfield-type; half the
    bound where that is less), min(tau / 10, bound / 4) (PCN)."""
    settle_t_max_s: Optional[float] = None
    """``relaxation: settle``: the settle time budget of one phase in seconds (> 0); the phase
    stops earlier when every sample's residual is below ``solver.tol`` (noise off) or, with
    ``solver.stop: noise_floor``, has settled on its noise floor. null = the phase's sweep
    budget in time constants: ``solver.free_iters * tau`` for the free phase,
    ``solver.nudge_iters`` of the phase's own slowest time constants for a nudged phase of a
    Hopfield-type model (``tau / r``, ``r`` its slowest rate measured at the phase's start, at
    least 0.05: a negative nudge slows the output loop), ``solver.nudge_iters * tau`` for a PCN's
    nudged phase, ``pc.steps * pc.activity_lr * tau`` for PC's inference (the activity steps'
    flow time)."""
    update: Literal["pulsed", "mixed", "ideal"] = "pulsed"
    """How weights change: ``pulsed`` (device pulses chosen by ``pulse_scheme``, each stepping
    the device through its update rule), ``mixed`` (digital accumulator transfers whole pulses
    when |chi| >= dw_min), ``ideal`` (exact change within the device bounds; ablation)."""
    pulse_scheme: Optional[Literal["rounded", "bitstream"]] = None
    """Pulsed updates: ``rounded``: per-device pulse counts from the desired change, stochastic or
    deterministic rounding (``analog.rounding``; deterministic = NeuroSim's scheme), at most
    ``bl`` pulses per device per update; ``bitstream``: aihwkit's stochastic pulse trains: the
    pre (x) and error (d) vectors of the update become ``bl``-slot stochastic pulse streams whose
    coincidences step the devices, with update management balancing x and d (Gokmen & Vlasov,
    Front. Neurosci. 10:333, 2016). Needs ``update: pulsed``, ``train.momentum: 0`` and
    ``train.weight_decay: 0``. null = the card's ``update.pulse_scheme``, else ``rounded``
    (:data:`UPDATE_DEFAULTS`)."""
    pulse_accumulation: Optional[Literal["net", "per_vector"]] = None
    """``pulse_scheme: bitstream``: how a mini-batch's trains reach the devices. ``net``: the
    coincidences of all the batch's vectors are netted per device (up and down pulses of
    different examples cancel) and the net count, capped at ``bl``, is sent once; ``per_vector``:
    aihwkit's ``RPUPulsed::updateMatrix``: the batch is applied vector by vector, each example's
    coincidences pulse the devices (each pulse meeting the rule's step, cycle-to-cycle noise and
    write noise) before the next example's. Rounded counts have no trains: ``per_vector`` with
    ``pulse_scheme: rounded`` is refused. null = the card's ``update.pulse_accumulation``, else
    ``net``."""
    rounding: Optional[Literal["stochastic", "deterministic"]] = None
    """``pulse_scheme: rounded``: stochastic (unbiased) or deterministic (nearest) rounding of the
    desired change to pulse counts. null = the card's ``update.rounding``, else ``stochastic``."""
    bl: Optional[int] = None
    """Pulse slots per update (>= 1): the cap of a rounded update (at most ``bl`` pulses per
    device) and the length of the bitstream trains (aihwkit's ``desired_bl``, default 31; with
    ``bl_management`` the longest train). null = the card's ``update.bl``, else 31."""
    update_management: Optional[bool] = None
    """``pulse_scheme: bitstream``: balance the two trains (aihwkit's ``update_management``):
    the pulse probabilities ``A |x|`` and ``B |d|`` get A and B rescaled by sqrt(max|d| /
    max|x|) and its inverse (product A B = lr / (dw_min bl) kept), so the largest x and the
    largest d fire with the same probability; false = A = B = sqrt(lr / (dw_min bl)). Applies
    per vector under both accumulations. null = the card's ``update.update_management``, else
    true."""
    bl_management: Optional[bool] = None
    """``pulse_scheme: bitstream``: aihwkit's ``update_bl_management``: each vector's train length
    is adapted, ``BL_n = min(bl, ceil(lr max|x_n| max|d_n| / dw_min))``, with ``A = B =
    sqrt(lr / (dw_min BL_n))`` before the balancing (:func:`analog_ep.analog.engine.train_probabilities`).
    aihwkit's presets (``PresetUpdateParameters``) turn it on. null = the card's
    ``update.bl_management``, else false."""
    max_rows: int = 512
    """Rows (inputs) per tile; a layer with more inputs spans several tiles, each with its own
    ADC pass; convolutions use channel-aligned blocks of in_channels * k * k rows."""
    max_cols: int = 512
    """Columns (outputs) per tile; the transposed read splits the outputs over these."""
    mapping: Optional[Literal["identity", "omega"]] = None
    """How weights are programmed into the devices (``W = w_scale * w_dev`` per synapse; aihwkit's
    MappingParameter): ``identity`` = aihwkit's default (weight_scaling_omega 0): ``w_scale = 1``,
    the devices hold the weights unscaled, and a weight beyond a device's bounds is clipped at
    programming; ``omega`` = aihwkit's weight scaling: each synapse's initial max |W| maps onto
    ``omega`` device units and the outputs are multiplied back digitally. Overrides the card's
    ``mapping.kind``; null = the card's (with neither this, ``omega`` nor ``weight_range`` set and
    no ``mapping:`` section on the card: ``weight_range`` 0.5, the mapping of older runs)."""
    omega: Optional[Union[float, list[float]]] = None
    """``mapping: omega``: the device units each synapse's initial max |W| maps onto, in (0, 1]
    (aihwkit's ``weight_scaling_omega``), or a list with one value per synapse in
    ``model.all_synapses()`` order (weight layers, then auxiliary readouts). Set alone it means
    ``mapping: omega``; overrides the card's ``mapping.omega``; null = the card's."""
    weight_range: Optional[float] = None
    """Legacy mapping of older configs and stored runs: the largest initial |weight| of each
    synapse maps onto this fraction (in (0, 1]) of the device's smaller bound min(|w_min|,
    |w_max|) (the omega mapping with omega = weight_range x bound). Contradicts ``mapping`` /
    ``omega`` (refused); null = the card's mapping (``analog.mapping``)."""
    seed: Optional[int] = None
    """Construction seed of the device-to-device draws, programming and update noise; null = the
    run seed."""
    inp_bits: Optional[int] = None
    """DAC bits (>= 1); overrides the card's ``periphery.inp_bits`` (and
    ``device.periphery.inp_bits``); null = keep the card's (unquantized if it has none)."""
    inp_bound: Optional[float] = None
    """DAC full scale in state units (> 0; after noise management when the periphery has
    ``noise_management: abs_max``); overrides the card's ``periphery.inp_bound`` (and
    ``device.periphery.inp_bound``); null = keep the card's (no clipping if it has none)."""
    out_bits: Optional[int] = None
    """ADC bits per tile partial sum (>= 1); overrides the card's ``periphery.out_bits`` (and
    ``device.periphery.out_bits``); null = keep the card's (unquantized if it has none)."""
    out_bound: Optional[float] = None
    """ADC full scale in device units of w_dev * x (> 0); overrides the card's
    ``periphery.out_bound`` (and ``device.periphery.out_bound``); null = keep the card's (no
    clipping if it has none)."""
    w_noise_std: Optional[float] = None
    """Weight read noise, std relative to the device weight bound max(|w_min|, |w_max|);
    overrides the card's ``periphery.w_noise_std`` (and ``device.periphery.w_noise_std``);
    null = keep the card's (0 if it has none)."""
    out_noise_std: Optional[float] = None
    """Output noise std before each ADC (device units of w_dev * x); overrides the card's
    ``periphery.out_noise_std`` (and ``device.periphery.out_noise_std``); null = keep the
    card's (0 if it has none)."""
    read_integration: Optional[float] = None
    """m >= 1: every discrete read integrates the column currents over m times the card's read
    window before its one ADC conversion, so white output noise falls to ``out_noise_std /
    sqrt(m)`` while the read's latency and its window-bound energy (the array's;
    not the drivers', priced per drive, nor the ADC's) grow m times in the cost model; overrides the card's ``periphery.read_integration``;
    null = the card's (1 if it has none: the card's read as it is). Iterative relaxation only (a
    settle has no discrete reads: its noise bandwidth is its node time constant)."""
    ir_drop: Optional[float] = None
    """First-order IR-drop coefficient in [0, 1]; overrides the card's ``periphery.ir_drop``
    (and ``device.periphery.ir_drop``); null = keep the card's (0 if it has none)."""
    t_inference_s: Optional[float] = None
    """If set, the last evaluation is repeated with every conductance drifted to this time after
    programming (seconds; power law G(t) = G0 (t/t0)^-nu of the card), reported as
    ``test_accuracy_drift``."""
    noise_policy: Optional[Literal["per_read", "per_phase", "per_batch"]] = None
    """When read noise is redrawn: every read, once per relaxation phase, or once per mini-batch;
    overrides the card's ``periphery.noise_policy`` (and ``device.periphery.noise_policy``);
    null = keep the card's (per_read if it has none)."""
    bound_management: Optional[Literal["none", "iterative", "shift"]] = None
    """What a forward read does when a tile output saturates the ADC (aihwkit's
    BoundManagementType): ``none`` clips, ``iterative`` re-reads with halved inputs, ``shift``
    shifts the outputs below the bound (:class:`analog_ep.analog.periphery.PeripheryParams`);
    overrides the card's ``periphery.bound_management``; null = keep the card's (none if it has
    none)."""
    max_bm_factor: Optional[int] = None
    """Iterative bound management: the largest input reduction 2^k tried (aihwkit's
    ``max_bm_factor``); null = the card's (1000)."""
    max_bm_res: Optional[float] = None
    """Iterative bound management: stop once 2^k exceeds ``max_bm_res / inp_res`` (aihwkit's
    ``max_bm_res``); null = the card's (0.25)."""
    bm_test_negative_bound: Optional[bool] = None
    """Iterative bound management: outputs below ``-out_bound`` count as saturated too (aihwkit's
    ``bm_test_negative_bound``); null = the card's (true)."""
    tiling: Optional[Literal["fill", "equal"]] = None
    """How a layer splits into tiles: ``fill`` (blocks of max_rows, the last one short) or
    ``equal`` (aihwkit's equal split); null = the card's (fill)."""
    nm_scope: Optional[Literal["layer", "tile"]] = None
    """Scope of abs-max noise management: ``layer`` (one max over the layer's input) or ``tile``
    (aihwkit: each tile's own max, per sample and conv patch); null = the card's (layer)."""
    bp_backward: Literal["analog", "ideal"] = "analog"
    """``algorithm: bp`` on tiles: the input gradient of a forward read. ``analog`` (aihwkit,
    ``simulator/tiles/functions.py``): the analog transposed read of the output gradient through
    the periphery (noise, DAC, ADC; counted as a read); ``ideal``: the straight-through estimator
    (the float product ``g W``). The weight gradient is the ideal outer product either way (it
    becomes pulses). EP and PC take no autograd gradients through reads."""


@dataclass(frozen=True)
class ComputeConfig:
    accelerator: str = "auto"
    """Torch device of the model, tiles, device state, data batches, solver states and random
    streams: ``auto`` (CUDA when present, else CPU), ``cpu``, ``cuda`` or ``cuda:N``
    (``--accelerator`` on the CLI; ``--device`` is the device card). Under ``torchrun`` each
    rank takes ``cuda:LOCAL_RANK``."""
    precision: Literal["fp32", "tf32", "bf16", "fp64"] = "fp32"
    """Arithmetic of the digital run. ``fp32``; ``tf32`` (TensorFloat-32 matmuls and convolutions
    on CUDA, fp32 elsewhere); ``bf16`` (the synapse reads, forward and transposed: inputs and
    weights rounded to bfloat16, the kernel's sums accumulated in fp32, each drive rounded to
    bfloat16 and returned as fp32); under these three, states, the contrastive correlations and
    the weight updates stay fp32. ``fp64``: the whole run in float64 (the model, cast after the
    fp32 run's initialization, so both start from the same weights; states and solver work,
    data batches, targets, the EP correlations and updates, the optimizer state, the
    checkpoint): the digital reference of small-beta / small ``model.feedback_scale`` EP, whose
    nudged states differ from the free ones below fp32's resolution; on CPU a conv net's epoch
    takes about 3x fp32's time (float64 convolutions: benchmarks/fp64_s17.md). Digital only:
    analog reads are simulated in fp32 (their precision is the periphery's DAC and ADC), so
    ``fp64`` with ``analog.device`` is refused (``deploy`` of an fp64 run programs fp32 tiles).
    A resumed run keeps its fp32 / fp64 arithmetic. gradcheck compares the estimate with an
    exact float64 reference."""
    deterministic: bool = False
    """Deterministic kernels (``torch.use_deterministic_algorithms``, no cuDNN autotuning), so a
    resumed GPU run repeats the uninterrupted one bit for bit; slower on GPU, no effect on CPU
    results."""
    compile: bool = False
    """``algorithm: pc`` on digital storages: compile the PC step (forward pass, activity steps,
    weight gradients) with ``torch.compile`` (TorchInductor; on CPU it needs a C++ compiler),
    which fuses its many small operations (dense PCNs compile to one graph; conv PCNs break into
    many at the conv read cache, with less to gain). The first step of each batch shape pays the
    compilation (tens of seconds on CPU); gradients equal the eager step's up to float
    rounding."""
    count_events: bool = True
    """Count the hardware events every storage performs (per phase and read kind: vector reads,
    driven rows, DAC and ADC conversions, cell reads, partial-sum additions, bound-management
    re-reads, MACs; per update: set / reset pulses, rows written, row slots, pulse rounds; per
    phase: samples, sweeps, neuron updates), which ``model.event_counts()`` reports and the
    cost model prices (issue 19). False skips all counting (``bench`` measures the overhead);
    nothing a run computes depends on it."""
    kernels: Literal["auto", "torch", "numba"] = "auto"
    """Which implementation runs the analog tiles' reads (:mod:`analog_ep.analog.kernels`):
    ``torch`` (the reference, and the only one on CUDA); ``numba`` (fused CPU kernels: DAC, each
    tile's product, IR drop, output noise from a counter-based generator, each tile's ADC and
    the partial sum in one pass per read; needs the extra, ``pip install 'analog-ep[numba]'``);
    ``auto`` (numba where it can run, else torch: with the fused pulse rounds the kernels take 26-28 %
    of an EP step's CPU time off, above the 20 % bar for the default; benchmarks/kernels_numba.md,
    speed_fmnist.md). Reads without a kernel (bound management, conv reads with per-tile noise
    management, an ideal output stage) run torch under every setting. Noiseless reads agree to
    float rounding; noisy reads draw other (equally distributed, seeded) output noise; the pulse
    rounds (affine rules) draw torch's stream and agree to float rounding of its normals (float32 evaluates log / cos as polynomials)."""


ADC_MODEL_PARAMS = {"table": ("adc_table_energy_j",), "neurosim_sar": ("adc_sar_p0_w", "adc_sar_p1_w"),
                    "survey": ("adc_fom_j", "adc_envelope_j")}
"""The ``chip.*`` keys each ADC model (``chip.adc_model``) prices a conversion with; a model whose
keys are null is refused at load (:func:`analog_ep.config.loader.check_chip`). The models
themselves: :mod:`analog_ep.hardware.adc`."""


@dataclass(frozen=True)
class ChipConfig:
    """The chip that runs the simulated network, for the cost model (:mod:`analog_ep.hardware`;
    DESIGN section 7b): it prices the events the simulation counted and never changes a
    simulation. Every default is cited to ``../shared/hardware_costs.md`` (section and its own
    provenance tag). Set keys with ``--set chip.KEY=VALUE`` or a chip file
    (:func:`analog_ep.config.loader.load_chip_file`). A misspelt key names the closest one."""

    suggest_keys: ClassVar[bool] = True
    node_nm: int = 32
    """CMOS technology node (nm) the periphery defaults are taken at; informational: unit costs
    are not rescaled, set them for another node. hardware_costs.md §8.2 technology.node_nm [code:
    NeuroSim V2.1 / MLP V3.0 Param.cpp: 32 nm]."""
    feature_nm: float = 56.0
    """Feature size F (nm) of the cell area ``cell_area_f2 F^2``: NeuroSim uses the wire width,
    56 nm at 32 nm. hardware_costs.md §8.2 tile.F_nm [code: DNN_NeuroSim_V1.4 Param.cpp]."""
    cell_area_f2: float = 48.0
    """Area of one cell (device) in F^2: 48 = 1T1R 4F x 12F (DNN+NeuroSim V1.4); 16 = 4F x 4F
    (V2.1); 4 = passive crossbar 2F x 2F. hardware_costs.md §1.2, §8.2 [code: V1.4 / V2.1
    Param.cpp]."""
    tile_rows: Optional[int] = None
    """Rows of one physical array, for area: a layer of R x C weights occupies ceil(R /
    tile_rows) x ceil(C / tile_cols) full arrays; null = the simulation's tiles (the counts'
    ``tile_rows``, from ``analog.max_rows``). NeuroSim's sub-array is 128 x 128, hardware_costs.md
    §8.2 tile.rows [code: NeuroSim Param.cpp]."""
    tile_cols: Optional[int] = None
    """Columns of one physical array, for area (as ``tile_rows``); null = the simulation's tiles
    (``analog.max_cols``). hardware_costs.md §8.2 tile.cols [code: NeuroSim Param.cpp: 128]."""
    cells_per_weight: Optional[int] = None
    """Devices per weight: 2 for a differential pair G+ - G- (hardware_costs.md §8.2
    tile.cells_per_weight), 1 with a shared reference column; null = the counts'
    ``cells_per_weight``. Multiplies the cells read and the cell area."""
    v_read: float = 0.2
    """Read voltage V_r (V) on a driven row; array energy per cell read ``V_r^2 G t_read``.
    hardware_costs.md §8.2 device.V_read_V (0.1-0.5 V; NeuroSim 0.5-0.55 V at older nodes, about
    0.25-0.28 V at 14 nm and below) [code: NeuroSim Param.cpp; inferred]."""
    t_read_s: float = 1.0e-8
    """Read pulse width t_read (s), per input bit-plane (bit_serial) or the full-scale pulse
    (amplitude / pwm). hardware_costs.md §1.2 [code: DNN_NeuroSim V1.4 / V2.1 Param.cpp: 10 ns]."""
    input_encoding: Literal["bit_serial", "amplitude", "pwm"] = "bit_serial"
    """How inputs reach the rows: ``bit_serial`` (NeuroSim: one bit-plane per read cycle, B =
    ``input_bits`` cycles per vector read, each converted by the ADCs and shift-added);
    ``amplitude`` (one analog voltage level per row per read) or ``pwm`` (one pulse of width
    proportional to the input per row per read): one read cycle and one conversion per vector
    read. hardware_costs.md §1.1, §8.3 [code: NeuroSim; inferred]."""
    input_bits: Optional[int] = None
    """bit_serial: bit-planes B per vector read; null = each layer's DAC bits from the counts
    (``dac_bits``), ``default_bits`` where the simulation's DAC is ideal. hardware_costs.md §8.2
    input_encoding.bits (NeuroSim 8-bit activations) [paper: V1.4 manual]."""
    input_activity: float = 0.5
    """Mean fraction of driven rows carrying a '1' bit (bit_serial) or mean normalized drive
    (amplitude, pwm duty), in (0, 1]; scales the array energy (a row at 0 V draws no cell
    current). hardware_costs.md §8.2 input_encoding.activity [inferred]."""
    default_bits: int = 8
    """Bits priced for a converter the simulation models as ideal (``dac_bits`` / ``adc_bits``
    null in the counts) when ``input_bits`` / ``adc_bits`` are null. hardware_costs.md §8.2
    (NeuroSim 8-bit activations) [paper: V1.4 manual]."""
    adc_model: Literal["table", "neurosim_sar", "survey"] = "table"
    """Energy per ADC conversion by bits b (:mod:`analog_ep.hardware.adc`): ``table``: the
    ``adc_table_energy_j`` entry for b (ISAAC-style SAR at 32 nm; geometric inter- and
    extrapolation between / beyond the entries), hardware_costs.md §2.3 [code: hwcomponents-library
    isaac.py]; ``neurosim_sar``: NeuroSim V1.4's SAR fit at 22 nm, ``E = (adc_sar_p0_w +
    adc_sar_p1_w b) (b + 1) adc_cycle_s`` (column current counted in the array term),
    hardware_costs.md §2.3 [code: V1.4 SarADC.cpp]; ``survey``: the Walden figure of merit
    ``adc_fom_j 2^b``, never below the survey's best-design envelope ``e0 + e1 4^b``
    (``adc_envelope_j``), hardware_costs.md §2.1-2.2 [code: bmurmann/ADC-survey; inferred]. NeuroSim's
    fit is 10-25x below the other two (hardware_costs.md §9)."""
    adc_bits: Optional[int] = None
    """ADC bits b priced per conversion; null = each layer's ADC bits from the counts
    (``adc_bits``, the periphery's out_bits), ``default_bits`` where the simulation's ADC is
    ideal. NeuroSim V1.4 default 5, V2.1 6, hardware_costs.md §8.2 adc.bits [code]."""
    cols_per_adc: int = 8
    """Output lines sharing one ADC (column multiplexing; the same on the row-side bank of the
    transposed reads): a tile has ceil(lines / cols_per_adc) ADCs working in parallel, each
    converting its lines in sequence, min(lines, cols_per_adc) conversions per read cycle.
    hardware_costs.md §2.3, §8.3 [code: NeuroSim V1.4 / V2.1 Param.cpp numColMuxed 8; MLP V3.0
    16]."""
    adc_cycle_s: float = 1.0e-9
    """ADC clock period (s): a conversion takes ``(b + 1) adc_cycle_s``, NeuroSim's SAR latency
    ``(log2(levelOutput) + 1) x 1 ns``, for every ``adc_model``. hardware_costs.md §2.3, §8.2
    adc.t_conv_s [code: V1.4 SarADC.cpp]."""
    adc_table_bits: list[int] = field(default_factory=lambda: [4, 5, 6, 7, 8])
    """Bits of the ``adc_table_energy_j`` / ``adc_table_area_um2`` entries, strictly increasing.
    hardware_costs.md §2.3 [code: hwcomponents-library isaac.py]."""
    adc_table_energy_j: Optional[list[float]] = field(
        default_factory=lambda: [0.79e-12, 0.99e-12, 1.20e-12, 1.42e-12, 1.67e-12])
    """adc_model table: energy per conversion (J) at each of ``adc_table_bits``: ISAAC-style SAR,
    32 nm, 1.2 GS/s (8 b from Kull et al. ISSCC 2013, lower bits per Saberi et al. 2011).
    hardware_costs.md §2.3 [code: hwcomponents-library isaac.py IsaacADC]."""
    adc_table_area_um2: list[float] = field(default_factory=lambda: [361.0, 477.0, 627.0, 845.0, 1200.0])
    """Area of one ADC (um^2) at each of ``adc_table_bits`` (geometric inter- and extrapolation),
    used by every adc_model: ISAAC-style SAR, 32 nm. hardware_costs.md §2.3 [code: hwcomponents-library
    isaac.py]."""
    adc_sar_p0_w: Optional[float] = 4.375e-6
    """adc_model neurosim_sar: bits-independent SAR power (W), ``P = p0 + p1 b``.
    hardware_costs.md §2.3 [code: DNN_NeuroSim_V1.4 SarADC.cpp::GetColumnPower, 22 nm LP]."""
    adc_sar_p1_w: Optional[float] = 0.538e-6
    """adc_model neurosim_sar: SAR power per bit (W). hardware_costs.md §2.3 [code: V1.4
    SarADC.cpp::GetColumnPower]."""
    adc_fom_j: Optional[float] = 30.0e-15
    """adc_model survey: Walden figure of merit (J per conversion step), ``E = FOM_W 2^b``; the
    survey median of SAR designs of 5-9 ENOB is 27-36 fJ/step. hardware_costs.md §2.2, §8.2
    adc.fom_walden_J_per_step [inferred from code data: bmurmann/ADC-survey]."""
    adc_envelope_j: Optional[list[float]] = field(default_factory=lambda: [0.27e-12, 0.145e-18])
    """adc_model survey: the best-design energy envelope ``E_min = e0 + e1 4^b`` as [e0, e1] (J),
    a floor under the FOM energy. hardware_costs.md §2.2 [code: ADC-survey energy_plot.ipynb
    recipe; inferred]."""
    e_driver_j: float = 0.05e-12
    """Row driver / DAC energy (J) per driven row per read cycle (a bit-plane for bit_serial, the
    one analog level for amplitude / pwm), whatever the bit (as hardware_costs.md §8.6's worked
    example: 128 rows x 8 bit-planes x 0.05 pJ = 51 pJ per read). hardware_costs.md §8.2
    input_encoding.E_driver_per_row_per_bit_J (range 0.01-0.42 pJ; ISAAC's 1-bit DAC 0.42 pJ at
    32 nm) [code: isaac.py; inferred]."""
    driver_area_um2: float = 0.17
    """Area of one row (or column) driver / DAC (um^2). hardware_costs.md §2.4 [code:
    hwcomponents-library isaac.py IsaacDAC, 32 nm]."""
    e_add_j: float = 0.05e-12
    """Digital addition (J): each partial-sum addition of tile outputs, and part of each neuron
    update and digital multiply-accumulate; 16-bit add at 45 nm. hardware_costs.md §4.1, §8.2
    digital.E_add_J [2nd: Horowitz ISSCC 2014]."""
    e_shift_add_j: float = 0.021e-12
    """Shift-and-add (J) per ADC conversion of a bit-plane (bit_serial only), 16-bit.
    hardware_costs.md §4.1 [code: hwcomponents-library isaac.py, 32 nm]."""
    shift_add_area_um2: float = 60.0
    """Area of one shift-and-add unit (um^2), one per ADC. hardware_costs.md §4.1, §8.7 [code:
    isaac.py, 32 nm]."""
    e_mult_j: float = 1.0e-12
    """Digital multiplication (J): part of each neuron update and of each digital
    multiply-accumulate (the update's correlation, digital layers); 16-bit multiply at 45 nm.
    hardware_costs.md §4.1, §8.2 digital.E_mult_J [2nd: Horowitz]."""
    e_activation_j: float = 0.05e-12
    """Activation function (J) per neuron update (clip / ReLU compare). hardware_costs.md §4.1,
    §8.2 digital.E_activation_J [inferred from Horowitz values]."""
    e_state_bit_j: float = 0.02e-12
    """State storage (J) per bit read or written: each neuron update reads and writes its
    ``state_bits`` (2 state_bits accesses). hardware_costs.md §8.2 digital.E_reg_per_bit_J
    [inferred]."""
    state_bits: int = 16
    """Bits of a stored neuron state. hardware_costs.md §8.2 digital.state_bits [inferred]."""
    digital_lanes: int = 128
    """Digital units working in parallel (neuron updates, multiply-accumulates of the update's
    correlation and of digital layers): latency = operations / digital_lanes / clk_hz; one per
    column of a 128-column array, as NeuroSim's per-column neuron periphery [inferred]."""
    clk_hz: float = 1.0e9
    """Digital clock (Hz): one cycle per digital operation per lane, per partial-sum adder tree
    level. hardware_costs.md §8.2 digital.clk_Hz [code: NeuroSim V1.4 / V2.1]."""
    leakage_w_per_tile: float = 1.0e-6
    """Leakage power (W) of one physical array with its periphery, drawn during every phase's
    latency. hardware_costs.md §8.2 digital.leakage_W_per_tile (MLP+NeuroSim V3.0: 105.65 uW for
    all its analog arrays) [paper; inferred]."""
    calib_energy: float = 1.0
    """Multiplier of the CMOS energies (drivers, ADC, digital); NeuroSim's post-layout factor
    zeta = 1.22 (1 = not used). hardware_costs.md §4.2 [code: V1.4 Param.cpp]."""
    calib_latency: float = 1.0
    """Multiplier of the read (sensing) cycle latency; NeuroSim's beta = 1.4 (1 = not used).
    hardware_costs.md §4.2 [code: V1.4 Param.cpp]."""
    update_scheme: Literal["row_by_row", "parallel"] = "row_by_row"
    """How pulses reach the devices: ``row_by_row`` (NeuroSim: each row in turn, SET then RESET:
    ``sum_rows (max_j n_set + max_j n_reset) t_w``, the counts' ``row_slots``; tiles in parallel)
    or ``parallel`` (the RPU papers' outer product: every device of a tile at once, the counts'
    ``pulse_rounds`` x t_w). hardware_costs.md §3.1, §8.4 [code: DNN_NeuroSim_V2.1
    ProcessingUnit.cpp; paper: Gokmen & Vlasov 2016]."""
    neuron_energy_per_tau_j: float = 0.25e-12
    """Energy (J) one analog neuron circuit (the integrator / op-amp holding a node's voltage)
    draws per time constant of its node while a phase settles (``analog.relaxation: settle``,
    DESIGN section 7c): a settle phase costs ``neuron_energy_per_tau_j x nodes x settle time /
    tau``, tau = C / G_leak the neurons' own time constant (the card's
    ``periphery.settle_capacitance_f`` / ``settle_g_leak_s`` under the ``analog.*`` overrides).
    Per time constant, because an integrator's bias current (its power) grows with the bandwidth
    it must have: a design twice as fast draws twice the power for half the time, so the energy
    per time constant is the design-invariant figure. Default: NeuRRAM's analog integrator, 0.25
    pJ per integration over its 1 us cycle at 130 nm, 1.8 V (Wan et al., Nature 608, 2022) [code:
    Accelergy-Project/hwcomponents-library ``library/neurram.py`` NeurramAnalogIntegrator,
    energy 0.25 pJ, global_cycle_period 1e-6 s, leak 5 nW; one cycle taken as one time constant];
    not in hardware_costs.md (its §8.4 names the term ``P_neuron_analog`` without a figure).
    Replaces ``chip.neuron_static_w`` (W, not scaled with the bandwidth; before session 15): a
    stored config's value loads as ``neuron_static_w x 1 us``, and a record without the phase's
    tau (a run before session 15) is priced at that 1 us."""
    chi_bits: int = 16
    """Bits of the digital accumulator chi per weight (``analog.update: mixed``): SRAM traffic
    ``weights x updates x 2 (read, write) x 2 (accumulate, transfer) x chi_bits x e_sram_bit_j``
    and area ``weights x chi_bits x sram_cell_f2 F^2``. hardware_costs.md §8.4 (batch_accumulate's
    ``N_w b_dW E_sram`` per accumulation) with b_dW = the 16-bit state width of §8.2 [inferred]."""
    e_sram_bit_j: float = 0.16e-12
    """SRAM access energy (J) per bit read or written: the mixed update's accumulator chi.
    hardware_costs.md §4.1, §8.2 digital.E_sram_per_bit_J (8 KB SRAM, 64-bit access ~10 pJ at
    45 nm) [2nd: Horowitz ISSCC 2014]."""
    sram_cell_f2: float = 280.0
    """Area of one SRAM bit cell in F^2 (the accumulator's area): 10F x 28F above 14 nm.
    hardware_costs.md §8.7 [code: DNN_NeuroSim_V1.4 Param.cpp]."""
    gpu: Literal["a100_sxm", "h100_sxm"] = "a100_sxm"
    """GPU of the estimate for digital runs (:func:`analog_ep.hardware.gpu_estimate`): presets
    ``a100_sxm`` (400 W, 312 TFLOP/s BF16 dense) and ``h100_sxm`` (700 W, 989.4 TFLOP/s BF16
    dense). hardware_costs.md §7.1, §8.2 gpu [2nd: Lambda Labs, glennklockwood.com]."""
    gpu_power_w: Optional[float] = None
    """GPU board power P (W) while training; null = the preset's TDP (a power cap scales it).
    hardware_costs.md §7.1, §7.3."""
    gpu_peak_flops: Optional[float] = None
    """GPU peak arithmetic rate F_peak (FLOP/s); null = the preset's BF16 dense tensor peak.
    hardware_costs.md §7.1."""
    gpu_eta: float = 0.2
    """Fraction of the peak reached, in (0, 1]: 0.2 for large CNNs at batch >= 256 (ResNet-50
    AMP on an A100 measures 0.21), 0.01-0.05 for small MLPs at small batch. hardware_costs.md
    §7.2-7.3, §8.2 gpu.eta [inferred]."""


@dataclass(frozen=True)
class RunConfig:
    seed: int = 0
    """Seed of initialization, data order and estimator randomness."""
    algorithm: Literal["ep", "bp", "pc", "rbp"] = "ep"
    """``ep``: Equilibrium Propagation on the energy-based network (a PCN's free phase is its
    forward pass); ``bp``: backprop on its feed-forward twin (same architecture, initialization,
    data order and seed); ``pc``: predictive coding inference learning (PCN models only; keys
    under ``pc.*``); ``rbp``: recurrent backpropagation, the exact gradient of the loss at EP's
    free fixed point (Hopfield-type models, digital only; keys under ``rbp.*``)."""
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    ep: EPConfig = field(default_factory=EPConfig)
    solver: SolverConfig = field(default_factory=SolverConfig)
    pc: PCConfig = field(default_factory=PCConfig)
    rbp: RBPConfig = field(default_factory=RBPConfig)
    analog: AnalogConfig = field(default_factory=AnalogConfig)
    compute: ComputeConfig = field(default_factory=ComputeConfig)
    chip: ChipConfig = field(default_factory=ChipConfig)
    device: dict[str, Any] = field(default_factory=dict)
    """Card field overrides, validated against the card: ``--set device.dw_min_std=0.3``,
    ``--set device.n_states=64``, ``--set device.periphery.out_bits=6`` give ``{dw_min_std: 0.3,
    n_states: 64, periphery: {out_bits: 6}}``, applied on top of the ``analog.device`` card
    (which they need); the resolved card is stored with the run. The card's ``rule`` (and
    ``source``, ``description``) cannot be overridden."""


UPDATE_DEFAULTS = {"pulse_scheme": "rounded", "pulse_accumulation": "net", "bl": 31, "update_management": True,
                   "bl_management": False, "rounding": "stochastic"}
"""The pulse-update keys (``analog.KEY`` and a card's ``update:`` section) and the values a run
takes when neither says anything. Precedence: these defaults < the card's ``update:`` section <
a non-null ``analog.KEY`` (:func:`resolve_update`)."""

UPDATE_KEYS = tuple(UPDATE_DEFAULTS)


@dataclass(frozen=True)
class UpdateSettings:
    """The pulse-update settings a run uses, resolved by :func:`resolve_update`; ``sources`` maps
    each key to where its value came from: ``analog`` (``analog.KEY``), ``card`` (the card's
    ``update:`` section) or ``default`` (:data:`UPDATE_DEFAULTS`)."""

    pulse_scheme: str
    pulse_accumulation: str
    bl: int
    update_management: bool
    bl_management: bool
    rounding: str
    sources: dict = field(default_factory=dict, compare=False)

    def named(self, key: str, card: str = "") -> str:
        """How an error names ``key``: ``analog.KEY``, ``card NAME update.KEY`` or ``KEY (default)``."""
        src = self.sources.get(key, "default")
        if src == "analog":
            return f"analog.{key}"
        if src == "card":
            return f"card {card + ' ' if card else ''}update.{key}"
        return f"{key} (default)"


def resolve_update(card_update: Optional[dict], analog_cfg: Any) -> UpdateSettings:
    """The pulse-update settings in effect: :data:`UPDATE_DEFAULTS`, then the card's ``update:``
    section (a dict of the keys it sets, or None), then every non-null ``analog.KEY``."""
    values, sources = dict(UPDATE_DEFAULTS), {k: "default" for k in UPDATE_KEYS}
    for key, value in (card_update or {}).items():
        if value is not None:
            values[key], sources[key] = value, "card"
    for key in UPDATE_KEYS:
        value = getattr(analog_cfg, key, None)
        if value is not None:
            values[key], sources[key] = value, "analog"
    if values["pulse_scheme"] != "bitstream" and sources["pulse_accumulation"] == "card":
        # the card's accumulation schedules bit-stream trains; a run that overrides the scheme to
        # rounded counts has none, so the card's value does not apply (net: counts sent once)
        values["pulse_accumulation"], sources["pulse_accumulation"] = "net", "default"
    return UpdateSettings(**values, sources=sources)


PERIPHERY_KEYS = ("inp_bits", "inp_bound", "out_bits", "out_bound", "w_noise_std", "out_noise_std", "read_integration",
                  "ir_drop",
                  "noise_policy", "bound_management", "max_bm_factor", "max_bm_res", "bm_test_negative_bound",
                  "tiling", "nm_scope", "settle_capacitance_f", "settle_g_leak_s")
"""The ``analog.*`` periphery shortcuts (documented here once): each non-null one overrides the
same-named key of the card's ``periphery:`` section, so the order of precedence is card file <
``--set device.periphery.KEY`` < ``analog.KEY`` (null keeps the card's value). Applied by
:func:`analog_ep.analog.cards.effective_periphery`; a resumed run may change them."""
