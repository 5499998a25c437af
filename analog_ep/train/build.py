"""The one place that wires a RunConfig into objects (model with its storages, optimizer; the
learning rule with its solver comes from :func:`analog_ep.algorithms.rules.build_rule`)."""

from __future__ import annotations

import math

import torch

from ..config import RunConfig
from ..config.relaxations import relaxation_for
from ..errors import ConfigError
from ..models import EnergyNetwork, get_model


def resolve_device(cfg: RunConfig, stored_card: dict | None = None):
    """The device card in effect and the effective periphery, or ``(None, None)`` for a digital
    run. A new run reads the card (``analog.device``) and applies the ``device.*`` overrides;
    a resumed run passes ``stored_card`` (the resolved card its checkpoint holds), so an edited
    card file cannot change it. The periphery is the card's with the ``analog.*`` shortcuts on
    top."""
    if cfg.analog.device is None:
        return None, None
    from ..analog.cards import (card_from_dict, check_settle_step, effective_mapping, effective_periphery,
                                effective_update, resolve_card)
    from ..config.loader import check_update

    if stored_card is not None:
        card = card_from_dict(stored_card["card"], stored_card["name"], stored_card["path"])
    else:
        card = resolve_card(cfg.analog.device, cfg.device)
    periph = effective_periphery(card, cfg.analog)
    check_update(cfg, effective_update(card, cfg.analog), card=card.name)  # the card's update: section too
    if periph.read_integration != 1 and not relaxation_for(cfg).discrete_reads:
        # on the effective periphery: the card (its file's periphery:, device.periphery.*) or the shortcut
        raise ConfigError(f"analog.read_integration: widens a discrete read's window (analog.relaxation=iterative), "
                          f"got {periph.read_integration:g} (analog.read_integration or the card's "
                          f"periphery.read_integration) with analog.relaxation={cfg.analog.relaxation}; a "
                          f"{cfg.analog.relaxation} has no discrete reads: set analog.read_integration=1 or "
                          f"analog.relaxation=iterative")
    if relaxation_for(cfg).has_circuit_constants:
        check_settle_step(card, periph, cfg.analog, None if stored_card is not None else cfg.device)  # tau from the card's neuron under the analog.* overrides
    if periph.ir_drop > 0 and periph.inp_bound is None:
        raise ConfigError("analog.ir_drop: IR drop is relative to the DAC full scale; set analog.inp_bound "
                          "(or device.periphery.inp_bound) too")
    effective_mapping(card, cfg.analog)  # a contradictory or impossible mapping is refused here, before a run
    return card, periph


def analog_update(cfg: RunConfig, card=None):
    """The pulse-update settings of an analog run (:class:`analog_ep.config.schema.UpdateSettings`:
    the card's ``update:`` section under the non-null ``analog.*`` keys), for the readers that
    name them (run line, summary, bench); ``card``: the resolved card if at hand."""
    from ..analog.cards import effective_update, resolve_card

    if card is None and cfg.analog.device is not None:
        card = resolve_card(cfg.analog.device, cfg.device)
    return effective_update(card, cfg.analog)


def build_model(cfg: RunConfig, in_shape: tuple[int, ...], num_classes: int,
                stored_card: dict | None = None, device: torch.device | str | None = None,
                weights: dict | None = None) -> EnergyNetwork:
    """Model initialized from ``cfg.seed`` (the same weights for EP and its backprop twin), or,
    with ``weights`` (the state dict of this config's digital model: ``deploy``'s trained
    weights), loaded from them; with a device card every synapse gets an analog storage
    (:func:`resolve_device`), programmed from those weights. ``model.device_card`` / ``model.periphery`` / ``model.weight_mapping``
    name what is in effect.
    Built on the CPU (seeded draws: the same model on every accelerator), then moved to
    ``device`` (None: stays on the CPU) and cast to ``compute.precision``'s run dtype (fp64:
    float64, from the fp32 initialization); digital reads take its read dtype."""
    from ..compute import read_dtype, run_dtype

    factory = get_model(cfg.model.name)
    gen = torch.Generator().manual_seed(cfg.seed)
    model = factory(cfg.model, tuple(in_shape), num_classes, gen)
    model.configure(nudge=cfg.ep.nudge, colouring=cfg.solver.colouring, feedback_scale=cfg.model.feedback_scale,
                    feedback_update=cfg.model.feedback_update, aux_weight=cfg.model.aux_weight)
    dtype = run_dtype(cfg.compute.precision)
    if dtype is not None:  # fp64 (digital only): every parameter and buffer, before weights load unrounded
        model.to(dtype=dtype)
    if weights is not None:
        model.load_state_dict(weights)
    card, periph = resolve_device(cfg, stored_card)
    model.device_card, model.periphery, model.weight_mapping = card, periph, None
    if card is not None:
        from ..analog.mapping import attach_storage

        model.weight_mapping = attach_storage(model, card, periph, cfg.analog,
                                              cfg.seed if cfg.analog.seed is None else cfg.analog.seed)
    low = read_dtype(cfg.compute.precision)
    for syn in model.all_synapses():  # digital reads take it; tiles read through their periphery
        syn.storage.read_dtype = low
    model.set_event_counting(cfg.compute.count_events)
    if device is not None:
        model.to(device)
    return model


def device_record(model) -> dict | None:
    """What a checkpoint stores to rebuild the card in effect (None for a digital model)."""
    card = getattr(model, "device_card", None)
    if card is None:
        return None
    return {"name": card.name, "path": card.path, "card": card.to_dict()}


def lr_factor(cfg: RunConfig, epoch: int, step: int = 0, steps: int = 1) -> float:
    """Multiplier of every group's learning rate at training step ``step`` (0-based) of
    ``steps`` in ``epoch`` (0-based). ``constant``: 1. Under ``train.schedule_unit: epoch`` the
    step is ignored: ``cosine`` goes from 1 at epoch 0 to the floor at the last epoch;
    ``warmup_cosine`` rises linearly over ``warmup_epochs`` ((e + 1) / (warmup_epochs + 1)),
    then falls by a cosine from 1 to the floor at epoch ``cosine_epochs - 1`` (null = the last
    epoch) and stays there. Under ``schedule_unit: step`` (the default) the position is ``p =
    epoch + step / steps`` epochs: ``cosine`` is ``floor + (1 - floor) (1 + cos(pi p / E)) / 2``
    (1 at the first step, the floor reached after the last one); ``warmup_cosine`` rises as
    ``(p steps + 1) / (warmup_epochs steps)`` up to 1, then falls by a cosine to the floor at
    ``p = cosine_epochs`` (null = ``epochs``) and stays there. The floor is ``lr_min / lr`` when
    ``train.lr_min`` is set (0 at ``lr_min: 0``, as every run stored before ``lr_min_ratio``
    existed), else ``lr_min_ratio``."""
    t_cfg = cfg.train
    if t_cfg.schedule == "constant":
        return 1.0
    if t_cfg.lr_min is None:
        floor = t_cfg.lr_min_ratio
    else:
        floor = t_cfg.lr_min / t_cfg.lr if t_cfg.lr > 0 else 0.0

    def cos(t: float) -> float:
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * min(max(t, 0.0), 1.0)))

    if t_cfg.schedule_unit == "step":
        steps = max(int(steps), 1)
        p = epoch + step / steps
        if t_cfg.schedule == "warmup_cosine":
            w = t_cfg.warmup_epochs
            if p < w:
                return min(1.0, (p * steps + 1) / (w * steps))
            end = t_cfg.cosine_epochs or t_cfg.epochs
            return cos((p - w) / (end - w)) if end > w else floor
        return cos(p / t_cfg.epochs)
    if t_cfg.schedule == "warmup_cosine":
        w = t_cfg.warmup_epochs
        if epoch < w:
            return (epoch + 1) / (w + 1)
        end = (t_cfg.cosine_epochs or t_cfg.epochs) - 1
        if end <= w:
            return 1.0 if epoch <= w else floor
        return cos((epoch - w) / (end - w))
    if t_cfg.epochs <= 1:
        return 1.0
    return cos(min(epoch, t_cfg.epochs - 1) / (t_cfg.epochs - 1))


def aux_kappa(cfg: RunConfig, epoch: int) -> float:
    """Strength of the auxiliary readouts during ``epoch`` (0-based), decayed by
    ``ep.aux_schedule`` from ``ep.aux_kappa`` toward ``ep.aux_kappa_min``."""
    k0, k1, ep = cfg.ep.aux_kappa, cfg.ep.aux_kappa_min, cfg.ep
    if ep.aux_schedule == "constant":
        return k0
    if ep.aux_schedule == "exponential":
        return max(k1, k0 * ep.aux_decay ** epoch)
    t = min(epoch, cfg.train.epochs - 1) / max(cfg.train.epochs - 1, 1)
    if ep.aux_schedule == "linear":
        return k0 + (k1 - k0) * t
    return k1 + (k0 - k1) * 0.5 * (1.0 + math.cos(math.pi * t))


def fan_in_lrs(lr: float, fan_ins: list[int], ref_fan_in: int) -> list[float]:
    """The ``lr_scaling: fan_in`` rule: ``lr * min(1, ref_fan_in / fan_in)`` per weight layer.

    A step ``dW = -lr g`` on a layer with ``fan_in`` inputs per unit changes each unit's drive by
    a sum of ``fan_in`` terms, so the step that keeps the relaxation (and the training) stable
    falls as ``1 / fan_in``; layers at or below the reference keep ``lr``."""
    return [lr * min(1.0, ref_fan_in / n) for n in fan_ins]


def layer_lrs(cfg: RunConfig, model: EnergyNetwork) -> list[float]:
    """Learning rate of each of ``model.layer_groups()``: ``train.layer_lrs`` when given, else
    ``train.lr`` scaled by ``train.lr_scaling``."""
    if cfg.train.layer_lrs:
        return list(cfg.train.layer_lrs)
    n = len(model.layer_groups())
    if cfg.train.lr_scaling == "none":
        return [cfg.train.lr] * n
    return fan_in_lrs(cfg.train.lr, model.layer_fan_ins(), cfg.train.lr_ref_fan_in)


def _fused(cls, params, **kw) -> torch.optim.Optimizer:
    """``cls`` with its fused kernel (one kernel for all parameters: on this CPU Adam's step is
    2.5x faster than the default per-tensor loop) where torch has one for these parameters'
    device and dtype, else torch's default implementation. Same update rule either way."""
    try:
        return cls(params, fused=True, **kw)
    except (RuntimeError, TypeError, ValueError):
        return cls(params, **kw)


def build_optimizer(cfg: RunConfig, model: EnergyNetwork) -> torch.optim.Optimizer:
    groups = model.layer_groups()
    lrs = layer_lrs(cfg, model)
    if len(lrs) != len(groups):
        raise ConfigError(f"train.layer_lrs: needs {len(groups)} entries (one per weight layer), got {len(lrs)}")
    params = [{"params": g, "lr": lr, "base_lr": lr} for g, lr in zip(groups, lrs)]
    t = cfg.train
    if t.optimizer == "sgd":
        return _fused(torch.optim.SGD, params, lr=t.lr, momentum=t.momentum, nesterov=t.nesterov and t.momentum > 0,
                      weight_decay=t.weight_decay)
    if t.optimizer in ("adam", "adamw"):
        cls = torch.optim.Adam if t.optimizer == "adam" else torch.optim.AdamW
        return _fused(cls, params, lr=t.lr, betas=tuple(t.adam_betas), weight_decay=t.weight_decay)
    raise ConfigError(f"train.optimizer: unknown optimizer {t.optimizer!r}; valid: sgd, adam, adamw")
