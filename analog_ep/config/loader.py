"""YAML loading, ``--set`` overrides and value checks of the config dataclasses (keys and types:
:mod:`.typed`).

Pure data: no torch. Every error is a :class:`ConfigError` naming the dotted key (and the file),
the bad value, and what would be valid.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import typing
from pathlib import Path
from typing import Any, get_origin

import yaml

from ..errors import ConfigError
from .model_specs import HOPFIELD_ACTIVATIONS, PCN_ACTIVATIONS, get_model_spec, model_names, resolve_default
from .relaxations import CIRCUIT_KEYS, ENERGY_MODEL_KEYS, RELAXATIONS, RELAXING_ALGORITHMS, Relaxation, relaxation_for
from .schema import (ADC_MODEL_PARAMS, NEURON_REFERENCE_TAU_S, UPDATE_DEFAULTS, AnalogConfig, ChipConfig, ModelConfig, PCConfig, RBPConfig, RunConfig,
                     UpdateSettings, resolve_update)
from .typed import build, closest, leaf_keys, merge


def _validate(cfg: RunConfig, where: str = "") -> RunConfig:
    """Value checks beyond types: ranges and cross-field rules."""

    def need(cond: bool, key: str, msg: str) -> None:
        if not cond:
            value = cfg
            for part in key.split("."):
                value = getattr(value, part)
            raise ConfigError(f"{where}{key}: {msg}, got {value!r}")

    need(cfg.train.epochs >= 1, "train.epochs", "must be >= 1")
    need(cfg.train.lr >= 0, "train.lr", "must be >= 0")
    need(cfg.train.lr_ref_fan_in >= 1, "train.lr_ref_fan_in", "must be >= 1")
    need(0 <= cfg.train.momentum < 1, "train.momentum", "must be in [0, 1)")
    need(cfg.train.weight_decay >= 0, "train.weight_decay", "must be >= 0")
    need(cfg.train.eval_every >= 1, "train.eval_every", "must be >= 1")
    if cfg.train.layer_lrs is not None:
        need(all(v >= 0 for v in cfg.train.layer_lrs), "train.layer_lrs", "must be >= 0")
    if cfg.train.lr_min is not None:
        need(cfg.train.lr_min >= 0, "train.lr_min", "must be >= 0 or null (null: train.lr_min_ratio x the rate)")
    need(0 <= cfg.train.lr_min_ratio <= 1, "train.lr_min_ratio", "must be in [0, 1] (the cosine floor as a "
         "fraction of the rate)")
    if cfg.train.clip_grad_norm is not None:
        need(cfg.train.clip_grad_norm > 0, "train.clip_grad_norm", "must be > 0 or null")
    if cfg.train.spectral_cap is not None:
        need(cfg.train.spectral_cap > 0, "train.spectral_cap", "must be > 0 or null")
    need(cfg.train.spectral_cap_iters >= 1, "train.spectral_cap_iters", "must be >= 1")
    need(cfg.data.crop_padding >= 0, "data.crop_padding", "must be >= 0")
    need(cfg.data.batch_size >= 1, "data.batch_size", "must be >= 1")
    need(cfg.data.train_size is None or cfg.data.train_size >= 1, "data.train_size", "must be >= 1 or null")
    need(cfg.data.test_size is None or cfg.data.test_size >= 1, "data.test_size", "must be >= 1 or null")
    need(len(cfg.data.shape) in (1, 2, 3) and all(d >= 1 for d in cfg.data.shape), "data.shape",
         "must be 1 to 3 positive sizes such as [3, 32, 32]")
    need(cfg.data.num_classes >= 2, "data.num_classes", "must be >= 2")
    need(cfg.data.std_scale > 0, "data.std_scale", "must be > 0")
    need(cfg.data.image_size >= 8, "data.image_size", "must be >= 8 (pixels)")
    need(cfg.data.workers >= 0, "data.workers", "must be >= 0 (0 = decode in the main process)")
    # the image size is known once the data is read: analog_ep.data checks data.crop against it
    need(cfg.data.crop is None or cfg.data.crop >= 1, "data.crop", "must be >= 1 (pixels of the center crop) or "
         "null (the whole image)")
    if cfg.data.name == "imagenet":
        need(not cfg.data.augment, "data.augment", "must be empty for imagenet, whose training "
             "transform already is the random-resized crop and flip")
    for key in ("mean", "std"):  # the per-channel count is checked by the loader, which knows the dataset's
        if getattr(cfg.data, key) is not None:
            need(cfg.data.normalize == "standard", f"data.{key}", "applies to data.normalize: standard only")
            need(cfg.data.name != "synthetic", f"data.{key}", "synthetic data is drawn standardized; leave it null")
            need(len(getattr(cfg.data, key)) >= 1, f"data.{key}", "must list one value per channel")
    if cfg.data.std is not None:
        need(all(v > 0 for v in cfg.data.std), "data.std", "must be > 0 for every channel")
    need(len(cfg.model.hidden) >= 1 and all(h >= 1 for h in cfg.model.hidden), "model.hidden",
         "must be a non-empty list of positive widths such as [500, 200]")
    name = cfg.model.name
    spec = get_model_spec(name)  # the model's own layer knowledge (analog_ep.config.model_specs)
    pcn = spec.pcn
    n_syn = spec.validate(cfg.model, need)
    if cfg.pc.bn_freeze:
        need(cfg.model.batchnorm, "pc.bn_freeze", "needs model.batchnorm=true")
    need(cfg.model.width >= 1, "model.width", "must be >= 1")
    if cfg.model.activation is not None:
        if pcn:
            need(cfg.model.activation in PCN_ACTIVATIONS, "model.activation",
                 f"must be one of {', '.join(PCN_ACTIVATIONS)} for a predictive coding network")
        else:
            need(cfg.model.activation in HOPFIELD_ACTIVATIONS, "model.activation",
                 f"must be one of {', '.join(HOPFIELD_ACTIVATIONS)} for {name} (activations with a "
                 "closed-form node update)")
    need(cfg.algorithm in spec.algorithms, "algorithm", f"{cfg.algorithm} does not train {name} (valid for "
         f"it: {', '.join(spec.algorithms)}; predictive coding needs a PCN model: "
         f"pcn_vgg5 ... mupc_resmlp)")
    pc = cfg.pc
    need(pc.steps >= 1, "pc.steps", "must be >= 1")
    need(pc.activity_lr > 0, "pc.activity_lr", "must be > 0")
    need(0 <= pc.activity_momentum <= 1, "pc.activity_momentum", "must be in [0, 1] (1: the velocity never decays, as in Qi et al.'s released configs)")
    need(pc.precision_alpha >= 0, "pc.precision_alpha", "must be >= 0")
    need(pc.precision_k >= 0, "pc.precision_k", "must be >= 0")
    if cfg.algorithm != "pc":
        default = PCConfig()
        for f in dataclasses.fields(PCConfig):
            if f.name != "nudged_update" and getattr(pc, f.name) != getattr(default, f.name):
                raise ConfigError(f"{where}pc.{f.name}: applies to algorithm pc only (got algorithm "
                                  f"{cfg.algorithm!r}); remove it or set algorithm=pc")
    if cfg.algorithm == "rbp":
        if cfg.analog.device is not None:
            raise ConfigError(f"{where}algorithm: rbp (recurrent backpropagation) trains digital weights only, got "
                              f"analog.device {cfg.analog.device!r}; remove --device / analog.device, or set "
                              "algorithm=ep to train on tiles")
    need(cfg.rbp.iters >= 1, "rbp.iters", "must be >= 1 adjoint iterations")
    need(cfg.rbp.rtol >= 0, "rbp.rtol", "must be >= 0 (0: run all rbp.iters)")
    if cfg.algorithm != "rbp":
        for f in dataclasses.fields(RBPConfig):
            if getattr(cfg.rbp, f.name) != getattr(RBPConfig(), f.name):
                raise ConfigError(f"{where}rbp.{f.name}: applies to algorithm rbp only (got algorithm "
                                  f"{cfg.algorithm!r}); remove it or set algorithm=rbp")
    if pc.nudged_update != "mod_pgd":
        need(pcn and cfg.algorithm == "ep", "pc.nudged_update", "applies to EP on a PCN model only")
    if cfg.algorithm not in RELAXING_ALGORITHMS:
        default = ModelConfig()
        for key in ENERGY_MODEL_KEYS:
            need(getattr(cfg.model, key) == getattr(default, key), f"model.{key}",
                 f"belongs to the energy a relaxation minimises; algorithm {cfg.algorithm} (the feed-forward twin) "
                 f"relaxes none: leave it at {getattr(default, key)!r} (or set algorithm=ep / rbp)")
    need(len(cfg.train.adam_betas) == 2 and all(0 <= b < 1 for b in cfg.train.adam_betas), "train.adam_betas",
         "must be two numbers in [0, 1) such as [0.9, 0.999]")
    need(cfg.train.warmup_epochs >= 0, "train.warmup_epochs", "must be >= 0")
    if cfg.train.cosine_epochs is not None:
        need(cfg.train.cosine_epochs >= 1, "train.cosine_epochs", "must be >= 1 or null")
    spec.check_aux_nodes(cfg.model, need)
    need(cfg.ep.aux_kappa >= 0 and cfg.ep.aux_kappa_min >= 0, "ep.aux_kappa", "must be >= 0 (and aux_kappa_min too)")
    need(0 < cfg.ep.aux_decay <= 1, "ep.aux_decay", "must be in (0, 1]")
    need(0 <= cfg.ep.kd_alpha <= 1, "ep.kd_alpha", "must be in [0, 1]")
    need(cfg.ep.kd_temperature > 0, "ep.kd_temperature", "must be > 0")
    if cfg.model.gains is not None:
        need(len(cfg.model.gains) in (1, n_syn) and all(g > 0 for g in cfg.model.gains), "model.gains",
             f"must be {n_syn} positive numbers (one per weight layer), or a single one for every layer")
        if len(cfg.model.gains) != n_syn:  # one gain: every layer's, spelled out in the stored config
            cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, gains=list(cfg.model.gains) * n_syn))
    if cfg.train.layer_lrs is not None:
        n_groups = n_syn + len(cfg.model.aux_nodes)
        need(len(cfg.train.layer_lrs) == n_groups, "train.layer_lrs",
             f"must have {n_groups} entries (one per weight layer, then one per auxiliary readout)")
    a = cfg.analog
    relax = relaxation_for(cfg)
    _check_relaxation(cfg, relax, where)
    if a.device is None:
        no_card = ("has no effect without a device card; add --device NAME (e.g. --device memristor) "
                   "or remove it")
        default = AnalogConfig()
        for f in dataclasses.fields(AnalogConfig):
            value = getattr(a, f.name)
            if f.name in _LEGACY_ANALOG and value == _LEGACY_ANALOG[f.name]:
                continue  # the old default that every stored config carries
            if f.name in UPDATE_DEFAULTS and value == UPDATE_DEFAULTS[f.name]:
                continue  # the value a null resolves to (older stored configs spell it out)
            if f.name != "device" and value != getattr(default, f.name):
                raise ConfigError(f"{where}analog.{f.name}: {no_card}")
        if cfg.device:
            raise ConfigError(f"{where}{leaf_keys(cfg.device, 'device.')[0]}: {no_card}")
    if a.bl is not None:
        need(a.bl >= 1, "analog.bl", "must be >= 1 (pulse slots per update; aihwkit's default is 31)")
    check_update(cfg, resolve_update(None, a), where)
    need(a.max_rows >= 1, "analog.max_rows", "must be >= 1 (a tile of at least 1x1)")
    need(a.max_cols >= 1, "analog.max_cols", "must be >= 1 (a tile of at least 1x1)")
    _check_mapping_keys(cfg, n_syn + len(cfg.model.aux_nodes), where)
    for key in ("inp_bits", "out_bits"):
        if getattr(a, key) is not None:
            need(getattr(a, key) >= 1, f"analog.{key}", "must be >= 1 or null")
    for key in ("inp_bound", "out_bound"):
        if getattr(a, key) is not None:
            need(getattr(a, key) > 0, f"analog.{key}", "must be > 0 or null")
    for key in ("w_noise_std", "out_noise_std"):
        if getattr(a, key) is not None:
            need(getattr(a, key) >= 0, f"analog.{key}", "must be >= 0 or null")
    if a.read_integration is not None:
        m = a.read_integration
        need(isinstance(m, (int, float)) and not isinstance(m, bool) and math.isfinite(m) and m >= 1,
             "analog.read_integration", "must be a number >= 1 (times the card's read window) or null")
    if a.t_inference_s is not None:
        need(a.t_inference_s > 0, "analog.t_inference_s", "must be > 0 seconds or null")
    if a.ir_drop is not None:
        need(0 <= a.ir_drop <= 1, "analog.ir_drop", "must be in [0, 1] or null")
    if a.max_bm_factor is not None:
        need(a.max_bm_factor >= 1, "analog.max_bm_factor", "must be an integer >= 1 or null")
    if a.max_bm_res is not None:
        need(a.max_bm_res > 0, "analog.max_bm_res", "must be > 0 or null")
    if a.bp_backward != "analog" and cfg.algorithm != "bp":
        raise ConfigError(f"{where}analog.bp_backward: is the backprop twin's backward read (algorithm bp), "
                          f"got {a.bp_backward!r} with algorithm {cfg.algorithm!r}; remove it or set algorithm=bp")
    need(cfg.ep.beta > 0, "ep.beta", "must be > 0")
    if cfg.algorithm == "ep" and cfg.ep.nudge == "mse" and cfg.ep.estimator != "one_sided":
        need(cfg.ep.beta < 1, "ep.beta", f"must be < 1 for the {cfg.ep.estimator} estimator with the mse nudge "
             "(the -beta phase of the linear output divides by 1 - beta)")
    if cfg.ep.nudge == "clamp":
        need(cfg.ep.beta <= 1, "ep.beta", "must be <= 1 with the clamp nudge (1 clamps the output fully)")
    need(cfg.solver.free_iters >= 1, "solver.free_iters", "must be >= 1")
    need(cfg.solver.nudge_iters >= 1, "solver.nudge_iters", "must be >= 1")
    need(cfg.solver.tol >= 0, "solver.tol", "must be >= 0")
    need(0 <= cfg.solver.damping < 1, "solver.damping", "must be in [0, 1)")
    if cfg.solver.check_every is not None:
        need(cfg.solver.check_every >= 1, "solver.check_every", "must be >= 1 or null (auto)")
    need(cfg.solver.nudge_rtol >= 0, "solver.nudge_rtol", "must be >= 0 (0: nudged phases stop at solver.tol)")
    if cfg.solver.nudge_rtol:
        need(not pcn and relax.discrete_reads, "solver.nudge_rtol",
             "applies to the iterative nudged phases of a Hopfield-type model only; remove it")
    need(cfg.solver.end_reads >= 1, "solver.end_reads", "must be an integer >= 1 (1: the phase's last sweep)")
    if cfg.solver.end_reads > 1:
        why = ("a PCN's nudged phases run the pcn solver, which does not average" if pcn
               else f"a {cfg.analog.relaxation} digitizes its equilibrium once per phase")
        need(not pcn and relax.discrete_reads, "solver.end_reads",
             "averages the phase ends of a Hopfield-type model's iterative relaxation only; "
             f"set solver.end_reads=1 ({why})")
    if cfg.solver.noise_patience is not None:
        need(cfg.solver.noise_patience >= 1, "solver.noise_patience",
             "must be >= 1 sweeps or null (the relaxation's default)")
    need(0 < cfg.solver.noise_drop < 1, "solver.noise_drop", "must be in (0, 1)")
    if cfg.solver.noise_z is not None:
        need(math.isfinite(cfg.solver.noise_z) and cfg.solver.noise_z >= 0, "solver.noise_z",
             "must be >= 0 (0: off) or null (the relaxation's default)")
        need(not cfg.solver.noise_z or relax.noise_z is not None, "solver.noise_z",
             "applies to analog.relaxation iterative only; remove it")
        need(not cfg.solver.noise_z or (not pcn and cfg.solver.stop != "tol"), "solver.noise_z",
             "is the noise-floor stop's threshold for Hopfield-type relaxations (solver.stop auto or "
             "noise_floor); remove it")
    if cfg.solver.noise_band not in (None, "flat"):   # flat: the band a stored run ran with, inert where z is
        need(relax.noise_z is not None and not pcn and cfg.solver.stop != "tol", "solver.noise_band",
             "is the band of the noise-floor stop's threshold (solver.noise_z) of Hopfield-type iterative "
             "relaxations (solver.stop auto or noise_floor); remove it")
    need(0 < cfg.solver.pcn_step <= 1, "solver.pcn_step", "must be in (0, 1] (1: the closed-form node update)")
    if cfg.solver.pcn_step != 1.0 or cfg.solver.pcn_backtrack:
        key = "solver.pcn_step" if cfg.solver.pcn_step != 1.0 else "solver.pcn_backtrack"
        need(pcn and cfg.algorithm == "ep" and relax.discrete_reads, key,
             "applies to the iterative nudged phases of EP on a PCN model only; remove it")
    if cfg.solver.stop == "noise_floor" and pcn and relax.discrete_reads:
        raise ConfigError(f"{where}solver.stop: {cfg.solver.stop} stops Hopfield-type relaxations and settles; a PCN's "
                          "iterative nudged phase runs its solver.nudge_iters traversals; set solver.stop=tol or "
                          "analog.relaxation=settle")
    if cfg.train.checkpoint_every is not None:
        need(cfg.train.checkpoint_every >= 1, "train.checkpoint_every", "must be >= 1 steps or null")
    need(cfg.train.log_every >= 1, "train.log_every", "must be >= 1 steps")
    if cfg.compute.compile:
        need(cfg.algorithm == "pc", "compute.compile", "compiles the PC step only: set algorithm=pc or compute.compile=false")
        need(cfg.analog.device is None, "compute.compile",
             "is for digital storages (tile reads draw their noise from host generators); set "
             "compute.compile=false with analog.device / --device")
    if cfg.analog.device is not None:
        from ..compute import run_dtype

        need(run_dtype(cfg.compute.precision) is None, "compute.precision",
             "a float64 run is digital only (tiles are simulated in fp32: their precision is the "
             "periphery's DAC and ADC); set compute.precision=fp32 with analog.device / --device")
    acc = cfg.compute.accelerator
    need(acc in ("auto", "cpu", "cuda") or (acc.startswith("cuda:") and acc[5:].isdigit()), "compute.accelerator",
         "must be auto, cpu, cuda or cuda:N")
    if cfg.compute.kernels == "numba":
        try:
            import numba  # noqa: F401  (only to see that it imports)
        except ImportError:
            raise ConfigError(f"{where}compute.kernels: numba asks for the fused CPU kernels, but numba is not "
                              "installed; install the extra (pip install 'analog-ep[numba]') or set "
                              "compute.kernels=auto / torch") from None
    check_chip(cfg.chip, where)
    return cfg


def _check_relaxation(cfg: RunConfig, relax: Relaxation, where: str = "") -> None:
    """``analog.relaxation`` (``relax``, its registry entry: :mod:`.relaxations`) and its
    ``analog.settle_*`` parameters: a relaxation runs only the algorithms of its entry's
    ``algorithms`` (``settle``: EP on a Hopfield-type model or a PCN, PC on a PCN's inference); one
    with the node circuit's constants (``settle``) needs a device card and a
    positive capacitance, leak, step and budget (the step's bound ``tau = C / G_leak``, with the
    card's neuron, where the card is resolved: :func:`analog_ep.analog.cards.check_settle_step`;
    the solvers check their stability bounds, measured per phase); one without discrete reads takes
    no PC precision schedule (which weights discrete activity steps a circuit does not take); one
    without circuit constants refuses a card's ``analog.settle_*`` keys."""
    a = cfg.analog
    if not relax.has_circuit_constants:
        default = AnalogConfig()
        for key in CIRCUIT_KEYS:
            if a.device is not None and getattr(a, key) != getattr(default, key):
                raise ConfigError(f"{where}analog.{key}: applies to analog.relaxation=settle only; set it or "
                                  f"remove {key}")
    elif a.device is None:
        raise ConfigError(f"{where}analog.relaxation: {a.relaxation} runs the neurons on a device card's "
                          "crossbars; add --device NAME (e.g. --device memristor) or set analog.relaxation=iterative")
    if not relax.runs(cfg.algorithm):
        raise ConfigError(f"{where}analog.relaxation: {a.relaxation} relaxes the phases of EP (a Hopfield-type "
                          f"model, or the nudged phases of a PCN) or a PCN's PC inference; got algorithm "
                          f"{cfg.algorithm} on {cfg.model.name}; set analog.relaxation=iterative or algorithm=ep")
    if not relax.discrete_reads and cfg.algorithm == "pc" and cfg.pc.precision != "none":
        raise ConfigError(f"{where}pc.precision: {cfg.pc.precision} weights the discrete activity steps, which a "
                          f"{a.relaxation} does not take (its inference is one continuous flow); set "
                          "pc.precision=none or analog.relaxation=iterative")
    if relax.has_circuit_constants:
        _check_circuit_constants(a, where)


def _check_circuit_constants(a: AnalogConfig, where: str = "") -> None:
    """The node circuit's ``analog.settle_*`` constants: a positive capacitance and leak where
    given (null: the card's), a positive step and budget. The step's bound ``dt <= tau = C /
    G_leak`` needs the card's neuron too: :func:`analog_ep.analog.cards.check_settle_step`."""
    for key, unit in (("settle_capacitance_f", "farads"), ("settle_g_leak_s", "siemens")):
        value = getattr(a, key)
        if value is not None and not value > 0:
            raise ConfigError(f"{where}analog.{key}: must be > 0 {unit} or null (the card's), got {value!r}")
    if a.settle_dt_s is not None:
        if not a.settle_dt_s > 0:
            raise ConfigError(f"{where}analog.settle_dt_s: must be > 0 seconds or null (chosen from tau), got "
                              f"{a.settle_dt_s!r}")
    if a.settle_t_max_s is not None and not a.settle_t_max_s > 0:
        raise ConfigError(f"{where}analog.settle_t_max_s: must be > 0 seconds or null (the sweep budget in time "
                          f"constants), got {a.settle_t_max_s!r}")


_CHIP_UNIT_COSTS = ("feature_nm", "cell_area_f2", "v_read", "t_read_s", "adc_cycle_s", "e_driver_j", "driver_area_um2",
                    "e_add_j", "e_shift_add_j", "shift_add_area_um2", "e_mult_j", "e_activation_j", "e_state_bit_j",
                    "clk_hz", "leakage_w_per_tile", "calib_energy", "calib_latency", "adc_sar_p0_w", "adc_sar_p1_w",
                    "adc_fom_j", "gpu_power_w", "gpu_peak_flops", "neuron_energy_per_tau_j", "e_sram_bit_j", "sram_cell_f2")
"""``chip.*`` unit costs, sizes and rates that must be > 0 (null allowed where the key is optional)."""

_CHIP_COUNTS = ("node_nm", "tile_rows", "tile_cols", "cells_per_weight", "input_bits", "default_bits", "adc_bits",
                "cols_per_adc", "state_bits", "digital_lanes", "chi_bits")
"""``chip.*`` integers that must be >= 1 (null allowed where the key is optional)."""


def check_chip(chip: ChipConfig, where: str = "", prefix: str = "chip.") -> None:
    """Value checks of a :class:`ChipConfig` (keys and types are checked when it is built): unit
    costs > 0, counts >= 1, fractions in (0, 1], the ADC table's lists, and the parameters of the
    chosen ``adc_model`` (:data:`.schema.ADC_MODEL_PARAMS`). One line per error, naming the key."""

    def fail(key: str, msg: str) -> None:
        raise ConfigError(f"{where}{prefix}{key}: {msg}, got {getattr(chip, key)!r}")

    for key in _CHIP_UNIT_COSTS:
        value = getattr(chip, key)
        if value is not None and not value > 0:
            fail(key, "must be > 0 (a unit cost, size or rate; zero or negative is not physical)")
    for key in _CHIP_COUNTS:
        value = getattr(chip, key)
        if value is not None and value < 1:
            fail(key, "must be an integer >= 1" + (" or null" if key in ("tile_rows", "tile_cols", "cells_per_weight",
                                                                         "input_bits", "adc_bits") else ""))
    for key in ("input_activity", "gpu_eta"):
        if not 0 < getattr(chip, key) <= 1:
            fail(key, "must be in (0, 1]")
    bits = chip.adc_table_bits
    if len(bits) < 2 or any(b < 1 for b in bits) or any(b2 <= b1 for b1, b2 in zip(bits, bits[1:])):
        fail("adc_table_bits", "must be a strictly increasing list of at least two bits >= 1 such as [4, 5, 6, 7, 8] "
                               "(other bits are inter- or extrapolated geometrically)")
    for key in ("adc_table_area_um2", "adc_table_energy_j"):
        values = getattr(chip, key)
        if values is None:
            continue
        if len(values) != len(bits):
            fail(key, f"must list one value per entry of {prefix}adc_table_bits ({len(bits)})")
        if any(not v > 0 for v in values):
            fail(key, "must be > 0 for every entry (a unit cost; zero or negative is not physical)")
    if chip.adc_envelope_j is not None and (len(chip.adc_envelope_j) != 2 or any(not v > 0 for v in chip.adc_envelope_j)):
        fail("adc_envelope_j", "must be two energies [e0, e1] > 0 (J) of the envelope e0 + e1 4^bits")
    for key in ADC_MODEL_PARAMS[chip.adc_model]:
        if getattr(chip, key) is None:
            raise ConfigError(f"{where}{prefix}{key}: missing (null), and {prefix}adc_model {chip.adc_model} prices "
                              f"a conversion with it; set it (default {getattr(ChipConfig(), key)!r}) or choose "
                              f"another {prefix}adc_model")


def load_chip_file(path: str | Path) -> dict:
    """A chip file (``--chip FILE``): a YAML mapping of ``chip.*`` keys, either at the top level
    or under one ``chip:`` key, validated like the config's ``chip:`` section (errors name the file
    and the key, with the closest key for a misspelt one). Returns ``{"chip": {...}}``, the
    mapping to merge into the config data above the config file and below ``--set``."""
    p = Path(path)
    where = f"{p}: "
    data = _load_yaml_file(p, "chip file", "--chip")
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: top level must be a mapping of chip keys such as adc_model: survey, "
                          f"got {type(data).__name__}")
    section = data["chip"] if set(data) == {"chip"} else data
    if not isinstance(section, dict):
        raise ConfigError(f"{p}: chip: expected a mapping of chip keys, got {section!r}")
    try:
        _check_renamed({"chip": section})
    except ConfigError as e:
        raise ConfigError(f"{where}{e}") from None
    check_chip(build(ChipConfig, section, "chip.", where), where)
    return {"chip": dict(section)}


_LEGACY_ANALOG = {"weight_range": 0.5}
"""``analog.*`` values that older versions wrote into every config (their defaults): a stored
digital run's config still loads with them."""


MAPPING_KINDS = ("identity", "omega")
"""Names of the weight mappings (:class:`analog_ep.analog.cards.WeightMapping`)."""


def check_mapping_values(kind: Any, omega: Any, where: str, key: str) -> None:
    """One-line errors of a mapping's values, wherever they come from (``key`` names the section:
    ``mapping.`` / ``device.mapping.`` for a card, ``analog.`` for the run's keys, which spells
    the kind ``analog.mapping``)."""
    kind_key = "analog.mapping" if key == "analog." else f"{key}kind"
    if kind not in MAPPING_KINDS:
        raise ConfigError(f"{where}{kind_key}: unknown weight mapping {kind!r}; valid: {', '.join(MAPPING_KINDS)}")
    if kind == "identity":
        if omega is not None:
            raise ConfigError(f"{where}{key}omega: applies to the omega mapping only ({kind_key} is identity: "
                              f"weights are programmed unscaled), got {omega!r}; remove it or set {kind_key}=omega")
        return
    if omega is None:
        raise ConfigError(f"{where}{key}omega: the omega mapping needs omega, the device units each layer's "
                          f"max |W| maps onto, in (0, 1] (or a list with one per synapse); got None")
    values = list(omega) if isinstance(omega, (list, tuple)) else [omega]
    if not values:
        raise ConfigError(f"{where}{key}omega: an empty list; give one number in (0, 1] or one per synapse")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= 1:
            raise ConfigError(f"{where}{key}omega: must be in (0, 1] (device units of each layer's max |W|), "
                              f"got {omega!r}")


def check_analog_mapping(a: Any, where: str = "") -> None:
    """The run's ``analog.weight_range`` / ``analog.mapping`` / ``analog.omega`` (``a``: an
    :class:`AnalogConfig`): the legacy weight_range is in (0, 1] and alone; a set mapping or
    omega is valid (:func:`check_mapping_values`; an omega alone means the omega mapping). Run at
    load and by :func:`analog_ep.analog.cards.effective_mapping`."""
    if a.weight_range is not None:
        if a.mapping is not None or a.omega is not None:
            set_keys = " and ".join(f"analog.{k}" for k in ("mapping", "omega") if getattr(a, k) is not None)
            raise ConfigError(f"{where}analog.weight_range: the legacy mapping (omega = weight_range x the device "
                              f"bound) contradicts {set_keys}, got {a.weight_range!r}; set analog.weight_range=null "
                              f"(or remove {set_keys})")
        if not 0 < a.weight_range <= 1:
            raise ConfigError(f"{where}analog.weight_range: must be in (0, 1] or null, got {a.weight_range!r}")
    if a.mapping is not None:
        if a.mapping not in MAPPING_KINDS:
            check_mapping_values(a.mapping, None, where, "analog.")
        if a.mapping == "identity" and a.omega is not None:
            check_mapping_values("identity", a.omega, where, "analog.")
    if a.omega is not None:
        check_mapping_values("omega", a.omega, where, "analog.")


def _check_mapping_keys(cfg: RunConfig, n_synapses: int, where: str) -> None:
    """``analog.weight_range`` / ``analog.mapping`` / ``analog.omega`` (:func:`check_analog_mapping`)
    and the per-synapse list's length (the card's own mapping is checked by the card)."""
    a = cfg.analog
    check_analog_mapping(a, where)
    if isinstance(a.omega, list) and len(a.omega) != n_synapses:
        raise ConfigError(f"{where}analog.omega: lists {len(a.omega)} omegas, but {cfg.model.name} has "
                          f"{n_synapses} synapses (one per synapse: weight layers, then auxiliary readouts; "
                          f"or one number for all), got {a.omega!r}")


def check_update(cfg: RunConfig, upd: UpdateSettings, where: str = "", card: str = "") -> None:
    """Cross-field checks of the pulse-update settings ``upd`` in effect (:func:`.schema.resolve_update`)
    against the rest of ``cfg``; errors name each key where it was set (``analog.KEY``, ``card
    NAME update.KEY`` or the default). Run at load (without the card: the ``analog.*`` keys alone)
    and again when the card is known (:func:`analog_ep.train.build.resolve_device`). Values a
    card declares for a scheme the run does not use are ignored; an explicit ``analog.KEY`` with
    no effect is refused."""
    a = cfg.analog

    def name(key: str) -> str:
        return upd.named(key, card)

    def explicit(key: str) -> bool:
        return upd.sources.get(key) == "analog"

    pulsed = a.update == "pulsed"
    if upd.pulse_scheme == "bitstream" and (pulsed or explicit("pulse_scheme")):
        scheme = name("pulse_scheme")
        if cfg.train.optimizer != "sgd":
            raise ConfigError(f"{where}train.optimizer: bitstream pulse trains carry the plain gradient's outer "
                              f"products (analog SGD; {scheme} bitstream); got {cfg.train.optimizer!r}: use "
                              "train.optimizer=sgd or analog.pulse_scheme=rounded")
        if not pulsed:
            why = ("mixed transfers whole pulses from its accumulator" if a.update == "mixed"
                   else "ideal sends no pulses")
            raise ConfigError(f"{where}{scheme}: bitstream needs analog.update pulsed, got {a.update!r} "
                              f"({why}); use analog.pulse_scheme=rounded or analog.update=pulsed")
        for key in ("momentum", "weight_decay"):
            value = getattr(cfg.train, key)
            if value > 0:
                raise ConfigError(
                    f"{where}train.{key}: must be 0 with {scheme} bitstream (the trains carry the "
                    f"outer products of the gradient itself, as aihwkit's analog SGD), got {value!r}; set "
                    "train.momentum=0 and train.weight_decay=0, or use analog.pulse_scheme=rounded")
    trains = pulsed and upd.pulse_scheme == "bitstream"
    if upd.pulse_accumulation == "per_vector" and pulsed and upd.pulse_scheme != "bitstream":
        raise ConfigError(f"{where}{name('pulse_accumulation')}: per_vector applies each example's pulse trains, "
                          f"and {name('pulse_scheme')} {upd.pulse_scheme} has no trains (rounded counts); set "
                          "analog.pulse_scheme=bitstream or analog.pulse_accumulation=net")
    if explicit("pulse_accumulation") and upd.pulse_accumulation != "net" and not trains:
        raise ConfigError(f"{where}analog.pulse_accumulation: {upd.pulse_accumulation} schedules bit-stream "
                          f"trains only (analog.pulse_scheme bitstream, analog.update pulsed), got update "
                          f"{a.update!r}: remove it")
    rounds = pulsed and upd.pulse_scheme == "rounded"
    if explicit("rounding") and upd.rounding != "stochastic" and not rounds:
        raise ConfigError(f"{where}analog.rounding: only the rounded pulse scheme rounds (analog.update pulsed, "
                          f"analog.pulse_scheme rounded); it has no effect with update {a.update!r} and scheme "
                          f"{upd.pulse_scheme!r}: remove it")
    for key, off in (("update_management", False), ("bl_management", True)):
        if explicit(key) and getattr(upd, key) is off and not trains:
            raise ConfigError(f"{where}analog.{key}: shapes the bit-stream trains only "
                              "(analog.pulse_scheme bitstream, analog.update pulsed): remove it")


_REMOVED = {("analog", "kernel"): "torch"}
"""Keys of older versions: dropped when they hold the value that still means the same (so old
checkpoints' configs load), an error naming the key otherwise."""


def _drop_removed(data: dict, where: str) -> dict:
    for (section, key), same in _REMOVED.items():
        sub = data.get(section)
        if isinstance(sub, dict) and key in sub:
            if sub[key] != same:
                raise ConfigError(f"{where}{section}.{key}: removed (one torch pulse engine runs every update "
                                  f"now), got {sub[key]!r}; delete the key")
            data = {**data, section: {k: v for k, v in sub.items() if k != key}}
    return data


def _parse(data: dict | None, where: str) -> RunConfig:
    """Keys and types only (no value checks)."""
    data = data or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}top level must be a mapping of keys, got {type(data).__name__}")
    try:
        cfg = build(RunConfig, _drop_removed(data, where), "", where, suggest=True)
    except ConfigError as e:
        if str(e).startswith(f"{where}model.name: expected"):  # not a name: list the registered ones
            raise ConfigError(f"{where}model.name: invalid value {data['model']['name']!r}; valid: "
                              f"{', '.join(model_names())}") from None
        raise
    try:
        get_model_spec(cfg.model.name)  # a registered model (analog_ep.models.register_model)
    except ConfigError as e:
        raise ConfigError(f"{where}{e}") from None
    return cfg


def from_dict(data: dict | None, where: str = "") -> RunConfig:
    """Build and validate a RunConfig from a nested dict (as parsed from YAML)."""
    return _validate(_parse(data, where), where)


def to_dict(cfg: RunConfig) -> dict:
    return dataclasses.asdict(cfg)


def dump_yaml(cfg: RunConfig) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)


def _load_yaml_file(p: Path, what: str, option: str):
    """``yaml.safe_load`` of the file ``p`` (a ``what``, given by ``option``), every failure one
    line naming the file: missing, unreadable, or invalid YAML (with its line)."""
    if not p.is_file():
        raise ConfigError(f"{p}: {what} not found; pass an existing YAML file to {option}")
    try:
        return yaml.safe_load(p.read_text())
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{p}: cannot read {what} ({e.__class__.__name__}: {e})") from e
    except yaml.YAMLError as e:
        line = getattr(getattr(e, "problem_mark", None), "line", None)
        at = f" at line {line + 1}" if line is not None else ""
        raise ConfigError(f"{p}: invalid YAML{at}; fix the syntax") from e


def read_yaml(path: str | Path) -> dict:
    p = Path(path)
    data = _load_yaml_file(p, "config file", "--config")
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"{p}: top level must be a mapping of keys, got {type(data).__name__}")
    return data or {}


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply ``dotted.key=yaml_value`` strings to a nested dict (copied)."""
    import copy

    data = copy.deepcopy(data)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. --set train.epochs=5")
        key, raw = item.split("=", 1)
        key = key.strip()
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError as e:
            raise ConfigError(f"--set {key}: value {raw!r} is not valid YAML") from e
        parts = key.split(".")
        node = data
        cls: Any = RunConfig
        for i, part in enumerate(parts):
            names = {f.name: f for f in dataclasses.fields(cls)}
            prefix = ".".join(parts[:i])
            if part not in names:
                dotted = prefix + "." if prefix else ""
                valid = ", ".join(dotted + n for n in names)
                bad = ".".join(parts[:i + 1])
                close = closest(part, list(names))
                mean = f" did you mean {dotted}{close}?" if close else ""
                raise ConfigError(f"--set {key}: unknown key {bad!r};{mean} valid keys: {valid}")
            ftype = typing.get_type_hints(cls)[part]
            if i < len(parts) - 1 and get_origin(ftype) is dict:  # free-form: device.periphery.out_bits
                node = _subsection(node, parts[:i + 1], key)
                for j in range(i + 1, len(parts) - 1):
                    node = _subsection(node, parts[:j + 1], key)
                if not parts[-1]:
                    raise ConfigError(f"--set {key}: empty key name; e.g. --set device.dw_min_std=0.3")
                node[parts[-1]] = value
                break
            if i == len(parts) - 1:
                if dataclasses.is_dataclass(ftype):
                    raise ConfigError(f"--set {key}: is a section; set one of its keys, e.g. {key}.{dataclasses.fields(ftype)[0].name}=...")
                node[part] = value
            else:
                if not dataclasses.is_dataclass(ftype):
                    raise ConfigError(f"--set {key}: {'.'.join(parts[:i + 1])} is not a section")
                node = node.setdefault(part, {})
                if not isinstance(node, dict):
                    raise ConfigError(f"--set {key}: {'.'.join(parts[:i + 1])} is not a mapping")
                cls = ftype
    return data


def _subsection(node: dict, parts: list[str], key: str) -> dict:
    """``node[parts[-1]]`` as a mapping (created when missing) for ``--set key``."""
    name = parts[-1]
    if not name:
        raise ConfigError(f"--set {key}: empty key name in {'.'.join(parts)!r}")
    if node.get(name) is None:
        node[name] = {}
    if not isinstance(node[name], dict):
        raise ConfigError(f"--set {key}: {'.'.join(parts)} is not a mapping (it holds {node[name]!r})")
    return node[name]


FAMILY_SOURCE = "family default"
"""The source :func:`config_sources` gives a key set by the model's family defaults."""


def _has_key(data: dict, dotted: str) -> bool:
    """Whether the nested mapping ``data`` spells out ``dotted`` (a null value counts: the user
    set it to null)."""
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _put_key(data: dict, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = copy.deepcopy(value)


def family_defaults(data: dict) -> dict[str, Any]:
    """The family defaults (:attr:`analog_ep.config.model_specs.ModelSpec.defaults`, with those of
    the ``algorithm`` and, where ``data`` sets no ``analog.device``, the digital ones) of the model
    that the config data ``data`` names, restricted to the keys
    ``data`` does not set: dotted key -> value. Empty when the model name or algorithm is not
    valid (the parser reports that)."""
    model = data.get("model", {})
    name = model.get("name", ModelConfig.name) if isinstance(model, dict) else None
    algorithm = data.get("algorithm", RunConfig.algorithm)
    if not isinstance(name, str) or name not in model_names() or not isinstance(algorithm, str):
        return {}
    sections = {f.name for f in dataclasses.fields(RunConfig)}
    analog = data.get("analog", {})
    digital = not (isinstance(analog, dict) and analog.get("device") is not None)
    out = {}
    depth = model.get("depth") if isinstance(model, dict) else None
    for key, value in get_model_spec(name).defaults_for(algorithm, digital=digital).items():
        head = key.split(".")[0]
        if head in sections and isinstance(data.get(head, {}), dict) and not _has_key(data, key):
            out[key] = resolve_default(value, depth)
    return out


def with_family_defaults(data: dict) -> dict:
    """``data`` (a copy) with :func:`family_defaults` filled in: the precedence schema default <
    family default < config file < ``--set``, one place for every command that builds a fresh
    config."""
    data = copy.deepcopy(data)
    for key, value in family_defaults(data).items():
        _put_key(data, key, value)
    return data


def _user_data(path: str | Path | None, overrides: list[str] | None, base: dict | None) -> tuple[dict, dict]:
    """The config data the user gave (``base`` <- YAML file <- ``--set``) and the file's data."""
    data = dict(base or {})
    file_data: dict = {}
    if path is not None:
        file_data = read_yaml(path)
        data = merge(data, file_data)
    return apply_overrides(data, overrides or []), file_data


def fresh_family_defaults(path: str | Path | None = None, overrides: list[str] | None = None) -> dict[str, Any]:
    """The family defaults (:func:`family_defaults`) that :func:`load_config` fills in for a fresh
    config from ``path`` and ``overrides``: dotted key -> value, the keys neither sets."""
    return family_defaults(_user_data(path, overrides, None)[0])


def config_sources(path: str | Path | None = None, overrides: list[str] | None = None) -> dict[str, str]:
    """Where each leaf key of the config :func:`load_config` resolves from ``path`` and
    ``overrides`` gets its value: ``--set``, the file's path, ``family default`` (the model's,
    :data:`FAMILY_SOURCE`) or ``default`` (the schema's). Dotted key -> source, for every key
    of :func:`to_dict` (free-form ``device.*`` keys as given)."""
    cfg = load_config(path, overrides)
    user, file_data = _user_data(path, overrides, None)
    over = apply_overrides({}, overrides or [])
    family = family_defaults(user)
    sources = {}
    for key in leaf_keys(to_dict(cfg), ""):
        if _has_key(over, key):
            sources[key] = "--set"
        elif _has_key(file_data, key):
            sources[key] = str(path)
        elif key in family:
            sources[key] = FAMILY_SOURCE
        else:
            sources[key] = "default"
    for key in leaf_keys(over.get("device", {}) or {}, "device."):
        sources[key] = "--set"
    return sources


STORED_BEFORE_KEY: dict[tuple[str, str], object] = {
    ("train", "schedule_unit"): "epoch",  # the cosine moved once per epoch before the key existed
    ("solver", "stop"): "tol",  # every phase stopped by tol before the key existed (its default then)
    ("solver", "noise_z"): 0.0,  # no floor threshold before the key existed (session 10)
    ("solver", "noise_band"): "flat",  # noise_z's one band for every node before the key existed (session 12)
}
"""Keys added after runs were stored, with the value such a run ran with: a stored run (or study)
that lacks the key resumes with that value, not with today's default."""

RENAMED_KEYS: dict[tuple[str, str], tuple[str, float]] = {
    ("chip", "neuron_static_w"): ("neuron_energy_per_tau_j", NEURON_REFERENCE_TAU_S),
}
"""Keys renamed since runs were stored: ``(section, old key) -> (new key, factor)``. A stored config
(``base``) loads the old key's value times the factor under the new key (``neuron_static_w``, W ->
``neuron_energy_per_tau_j``, J per neuron time constant, at NeuRRAM's 1 us cycle it was derived
from, session 15); a file or ``--set`` giving the old key is refused in one line naming the new."""


def _renamed(data: dict) -> dict:
    """``data`` (a stored config) with :data:`RENAMED_KEYS` moved to their new names."""
    for (section, old), (new, factor) in RENAMED_KEYS.items():
        sec = data.get(section)
        if isinstance(sec, dict) and old in sec:
            sec = {k: v for k, v in sec.items() if k != old}
            value = data[section][old]
            sec.setdefault(new, value * factor if isinstance(value, (int, float)) and not isinstance(value, bool)
                           else value)
            data = {**data, section: sec}
    return data


def _check_renamed(data: dict, overrides: list[str] = ()) -> None:
    """A file's (``data``) or ``--set``'s (``overrides``) key renamed since (:data:`RENAMED_KEYS`):
    one line naming the new key."""
    given = {str(item).split("=", 1)[0].strip() for item in overrides}
    for (section, old), (new, factor) in RENAMED_KEYS.items():
        sec = data.get(section)
        if (isinstance(sec, dict) and old in sec) or f"{section}.{old}" in given:
            raise ConfigError(f"{section}.{old}: renamed {section}.{new} (J per neuron time constant: {old} x "
                              f"{factor:g} s, NeuRRAM's cycle); set {section}.{new} instead")


STORED_CIRCUIT_DEFAULTS: dict[str, float] = {"settle_capacitance_f": 1e-13, "settle_g_leak_s": 1e-6}
"""The ``analog.settle_*`` neuron constants every config stored before session 15 spells out (their
defaults then; null = the card's neuron since): a stored run whose relaxation has no circuit
constants (iterative, digital) loads them as null, so it resumes as it ran; a stored settle keeps
them, the neuron it ran with (they override its card's)."""


def _stored_circuit(data: dict) -> dict:
    """``data`` (a stored config) with :data:`STORED_CIRCUIT_DEFAULTS` nulled where its relaxation
    has no circuit constants (an unknown relaxation is left for the validation to name)."""
    analog = data.get("analog")
    if not isinstance(analog, dict):
        return data
    relax = RELAXATIONS.get(analog.get("relaxation", AnalogConfig().relaxation))
    if relax is None or relax.has_circuit_constants:
        return data
    nulled = {k: None for k, v in STORED_CIRCUIT_DEFAULTS.items() if k in analog and analog[k] == v}
    return {**data, "analog": {**analog, **nulled}} if nulled else data


def load_config(path: str | Path | None = None, overrides: list[str] | None = None,
                base: dict | None = None) -> RunConfig:
    """Resolve a RunConfig: schema defaults <- the model family's defaults <- ``base`` dict <- YAML
    file <- ``--set`` overrides. The family defaults (:func:`with_family_defaults`) fill the keys
    that neither the file nor ``--set`` gives, and only for a fresh config: a ``base`` (a stored
    run's or a study's resolved config, which spells out every key it ran with) gets none, so a
    resumed run keeps what it recorded."""
    data = dict(base or {})
    if base is not None:
        for (section, key), ran in STORED_BEFORE_KEY.items():
            if key not in (data.get(section) or {}):
                data[section] = {**(data.get(section) or {}), key: ran}
        data = _renamed(_stored_circuit(data))
    file_cfg = None
    if path is not None:
        file_data = read_yaml(path)
        try:
            _check_renamed(file_data)
        except ConfigError as e:
            raise ConfigError(f"{path}: {e}") from None
        data = merge(data, file_data)
        file_cfg = _parse(data, f"{path}: ")  # keys and types of the file alone: errors name the file
    _check_renamed({}, overrides or [])
    data = apply_overrides(data, overrides or [])
    if base is None:
        data = with_family_defaults(data)
    try:
        return from_dict(data, "")
    except ConfigError as e:
        # value and cross-key rules see the file and the overrides together (the file may set
        # analog.out_bits for a device given by --device); name the file when it alone has the error
        if file_cfg is not None:
            try:
                _validate(file_cfg, f"{path}: ")
            except ConfigError as fe:
                if str(fe) == f"{path}: {e}":
                    raise fe from None
        raise

