"""What a run's learning costs (issue 19, DESIGN section 7b): the model's event counts priced on
the chip of the config (``chip:``) and the run's device card, plus a GPU estimate.

One place turns counts into the figures every command reports:

* :func:`cost_summary` -> ``{"chip": CostReport.to_dict() or None, "gpu": gpu_estimate}``: the chip
  figures for a model with analog layers (digital runs have no crossbar: ``chip`` is None), the
  GPU estimate of the same record's matrix products for every run;
* :func:`row_fields` -> the flat per-epoch metrics ``train`` writes into ``results.h5`` (group
  ``epochs``) and ``--json``: ``energy_per_sample_j``, ``latency_per_sample_s`` (training, per
  training sample), ``inference_energy_per_sample_j`` / ``inference_latency_per_sample_s``,
  ``area_mm2``, ``energy_<phase>_<component>_j`` (per training sample), ``latency_<phase>_s``
  (per training sample), ``gpu_energy_per_sample_j`` /
  ``gpu_latency_per_sample_s``. Unknown
  figures (a card without write physics) are None (NaN in results.h5), never 0.
"""

from __future__ import annotations

import math
import warnings
from typing import Optional

from ..hardware import COMPONENTS, gpu_estimate, price
from ..synapses.counters import diff_counts

__all__ = ["COST_HEADLINES", "cost_summary", "diff_counts", "is_analog", "price_config", "row_fields", "step_cost",
           "variant_figures"]

COST_HEADLINES = ("energy_per_sample_j", "latency_per_sample_s", "inference_energy_per_sample_j",
                  "inference_latency_per_sample_s", "area_mm2", "gpu_energy_per_sample_j", "gpu_latency_per_sample_s")
"""The per-epoch cost metrics every table (runs, sweep, compare) shows."""


def is_analog(record: dict) -> bool:
    """True when some layer of the record lives on tiles."""
    return any(layer.get("analog") for layer in record.get("layers", []))


def cost_summary(record: dict, chip, card=None, *, samples: Optional[int] = None,
                 epochs: Optional[int] = None) -> dict:
    """Price ``record`` (an event-count record or a difference of two) on ``chip`` with ``card``'s
    write physics (None: digital run). ``samples``: training samples the per-sample figures divide
    by (default: the record's). The write-physics warning of a card without a ``write:`` section is
    not repeated here (the caller says it once per run)."""
    chip_part = None
    if is_analog(record):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            chip_part = price(record, chip, card, samples=samples, epochs=epochs).to_dict()
    return {"chip": chip_part, "gpu": gpu_estimate(record, chip, samples=samples)}


def _nan_none(v):
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def row_fields(summary: dict) -> dict:
    """The flat per-epoch metrics of :func:`cost_summary` (module docstring)."""
    out: dict = {}
    gpu = summary["gpu"]
    out["gpu_energy_per_sample_j"] = _nan_none(gpu["train"]["energy_per_sample_j"])
    out["gpu_latency_per_sample_s"] = _nan_none(gpu["train"]["time_per_sample_s"])
    chip = summary["chip"]
    if chip is None:
        return out
    train, infer = chip["train"], chip["inference"]
    n = train["samples"]
    out["energy_per_sample_j"] = _nan_none(train["energy_per_sample_j"])
    out["latency_per_sample_s"] = _nan_none(train["latency_per_sample_s"])
    if infer["samples"]:
        out["inference_energy_per_sample_j"] = _nan_none(infer["energy_per_sample_j"])
        out["inference_latency_per_sample_s"] = _nan_none(infer["latency_per_sample_s"])
    out["area_mm2"] = chip["area_um2"]["chip"]["total"] * 1e-6
    for phase, comps in chip["energy_j"].items():
        if phase == "inference":
            continue
        for c in COMPONENTS:
            v = comps.get(c)
            out[f"energy_{phase}_{c}_j"] = None if v is None or not n else v / n
        t = chip["latency_s"].get(phase)
        out[f"latency_{phase}_s"] = None if t is None or not n else t / n
    # a settle phase's settled time per sample is the history's ``<phase>_settle_time_s`` (the
    # solver's own figure, counted or not, eval included): one name, not repeated here
    return out


def step_cost(trainer, x, y) -> dict:
    """Counts and cost of one training step on ``(x, y)`` and one inference of ``x`` with
    ``trainer``'s model (the same code path training runs: ``trainer.train_step`` and the rule's
    ``predict``), without anything else: ``{"counts": {"train", "inference"}, "cost": ...}``
    (``analog-ep cost``). The trainer's model changes (one update): use a throwaway trainer."""
    import torch

    model = trainer.model
    c0 = model.event_counts()
    model.train()
    trainer.train_step(x, y, x.shape[0])
    c1 = model.event_counts()
    model.eval()
    with torch.no_grad():
        model.begin_batch()
        model.tag_phase("inference")
        trainer.rule.predict(x)
    c2 = model.event_counts()
    train = diff_counts(c0, c1)
    infer = diff_counts(c1, c2)
    card = getattr(model, "device_card", None)
    both = diff_counts(c0, c2)
    return {"counts": {"train": train, "inference": infer},
            "cost": cost_summary(both, trainer.cfg.chip, card, samples=x.shape[0])}


def price_config(cfg) -> dict:
    """``analog-ep cost``: what one training step and one inference of ``cfg`` cost, from the
    counts of one mini-batch (the first ``data.batch_size`` training examples) run through the
    training code path, without training. Rows (``variants``): the config's algorithm as
    configured (on the chip when it has a device card), the backprop twin on the same chip (analog
    configs whose algorithm is not ``bp``), and the GPU estimates of the digital algorithm and of
    the digital backprop twin. A card without write physics is refused (its write cost would be
    unknown): one line naming the card and the missing keys."""
    import dataclasses

    from ..compute import run_dtype
    from ..config.relaxations import with_algorithm
    from ..config.schema import AnalogConfig
    from ..data import load_data
    from ..errors import ConfigError
    from .loop import make_trainer

    train_set, _, info = load_data(cfg.data, cfg.seed)
    x, y = train_set.batch(slice(0, cfg.data.batch_size))
    analog = cfg.analog.device is not None

    def one(c, label: str, where: str) -> dict:
        trainer = make_trainer(c, None, data=(train_set, train_set, info))
        card = getattr(trainer.model, "device_card", None)
        if where == "chip" and card is not None:
            from ..analog.cards import WritePhysics

            missing = (card.write or WritePhysics()).missing()
            if missing:
                raise ConfigError(f"device card {card.name}: analog-ep cost needs its write physics (missing "
                                  f"{', '.join(missing)}); add them to the card's write: section or "
                                  f"--set device.write.{missing[0].split()[0]}=VALUE")
        out = step_cost(trainer, x.to(trainer.device, run_dtype(c.compute.precision)), y.to(trainer.device))
        return {"variant": label, "where": where, "algorithm": c.algorithm, **out}

    digital = dataclasses.replace(cfg, analog=AnalogConfig(), device={})
    rows = []
    if analog:
        rows.append(one(cfg, f"{cfg.algorithm} on the chip", "chip"))
        if cfg.algorithm != "bp":
            rows.append(one(with_algorithm(cfg, "bp"), "bp on the same chip", "chip"))
    rows.append(one(digital, f"{cfg.algorithm} digital (GPU estimate)", "gpu"))
    if cfg.algorithm != "bp":
        rows.append(one(with_algorithm(digital, "bp"), "bp digital (GPU estimate)", "gpu"))
    return {"batch": int(x.shape[0]), "model": cfg.model.name, "dataset": cfg.data.name,
            "device": cfg.analog.device, "chip": dataclasses.asdict(cfg.chip), "variants": rows}


def variant_figures(row: dict) -> dict:
    """Per-sample headline figures of one :func:`price_config` row: energy (J) and latency (s) of
    a training step and of an inference per sample, and area (mm^2) on the chip; the GPU's for a
    ``gpu`` row."""
    cost = row["cost"]
    if row["where"] == "chip":
        c = cost["chip"]
        return {"train_energy_per_sample_j": c["train"]["energy_per_sample_j"],
                "train_latency_per_sample_s": c["train"]["latency_per_sample_s"],
                "inference_energy_per_sample_j": c["inference"]["energy_per_sample_j"],
                "inference_latency_per_sample_s": c["inference"]["latency_per_sample_s"],
                "area_mm2": c["area_um2"]["chip"]["total"] * 1e-6}
    g = cost["gpu"]
    return {"train_energy_per_sample_j": g["train"]["energy_per_sample_j"],
            "train_latency_per_sample_s": g["train"]["time_per_sample_s"],
            "inference_energy_per_sample_j": g["inference"]["energy_per_sample_j"],
            "inference_latency_per_sample_s": g["inference"]["time_per_sample_s"], "area_mm2": None}
