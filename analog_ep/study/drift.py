"""``analog-ep drift``: test accuracy of a trained analog network read t seconds after programming.

The run's checkpoint is loaded the way ``--resume`` loads it (the stored card, never the card
file: ``make_trainer(cfg, run, stored_card=ckpt["device"])`` then ``trainer.load(ckpt)``), so
the conductances are the trained ones; no fresh programming noise is added. For every time
``t`` and every draw ``d`` the test set is evaluated with the weights

    W(t) = w_scale * drift(w_dev, t, nu_d),   G(t) = G0 (t / t0)^(-nu)  per conductance of the pair,

where draw ``d`` re-samples every device's drift exponents ``nu_+, nu_- ~ max(drift_nu +
drift_nu_std xi, 0)`` from its own seed (analog seed, tile, draw): the spread over draws is the
spread over device populations. Read noise follows the card's periphery; draw ``d`` reads with
the same noise stream at every ``t`` (common random numbers: the storages' read counters are
set from the checkpoint's plus an offset per draw), so the accuracy differences between times
come from drift alone. For ``t <= t0`` the weights are the programmed ones.

Global drift compensation (``compensation="global"``, aihwkit's ``GlobalDriftCompensation``):
each tile array (layer) reads a fixed calibration input, the all-ones vector, at ``t0`` and at
``t``; its weights are multiplied by ``alpha = sum|W(t0) 1| / sum|W(t) 1|`` during the drifted
evaluation, so the calibration read's summed |output| is restored. Two differences from aihwkit,
which scales the tile's digitized outputs by ``alpha``: the calibration read here is the
noiseless product (aihwkit reads it through the periphery, so its alpha is noisy), and the gain
acts on the weights, before the output noise and the ADC (equivalent without periphery; with
it, the gain also amplifies the signal against the ADC's range and noise instead of scaling
them). A convolution's weight is read as its flattened ``(out, in k k)`` matrix.

The result goes to ``RUN/drift.json`` (temporary file, renamed); ``results.h5`` and
``checkpoint.pt`` are never written.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import torch

from ..analog.streams import stream_key
from ..errors import CheckpointError, ConfigError
from ..train.checkpoint import load_checkpoint, stored_config

DEFAULT_TIMES = (1.0, 60.0, 3600.0, 86400.0, 2592000.0, 31536000.0)
COMPENSATIONS = ("none", "global")
_DRIFT_DRAW = 0x0D71F7  # purpose tag of the drift-exponent streams (unrelated to the storage's)


def parse_times(text: str) -> list[float]:
    """``"1,60,3600"`` -> ``[1.0, 60.0, 3600.0]``: positive finite seconds."""
    try:
        times = [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise ConfigError(f"--times: expected comma-separated seconds such as 1,3600,86400, got {text!r}") from None
    if not times or any(not math.isfinite(t) or t <= 0 for t in times):
        raise ConfigError(f"--times: need positive finite seconds, got {text!r}")
    return times


def sample_drift_exponents(params, shape, key: int, dtype: torch.dtype, device=None
                           ) -> tuple[torch.Tensor, torch.Tensor]:
    """Fresh ``(nu_plus, nu_minus)``, each ``max(drift_nu + drift_nu_std xi, 0)``, drawn on the
    CPU from the stream ``key`` (the same numbers on every torch device), then moved."""
    g = torch.Generator().manual_seed(key)
    x = torch.randn((2, *shape), generator=g, dtype=torch.float64)
    nu = (params.drift_nu + params.drift_nu_std * x).clamp(min=0).to(dtype=dtype, device=device)
    return nu[0], nu[1]


def calibration_read(w: torch.Tensor) -> float:
    """Summed |output| of the all-ones calibration input read through weight ``w`` (noiseless):
    ``sum_o |sum_j W_oj|`` over the flattened ``(out, fan-in)`` matrix."""
    return float(w.detach().reshape(w.shape[0], -1).double().sum(1).abs().sum())


class DriftStudy:
    """A programmed network, evaluated at times after programming (nothing is written to a run).

    ``DriftStudy(RUN)`` loads a trained analog run (``analog-ep drift``);
    :meth:`programmed` wraps a trainer whose storages were just programmed (``analog-ep deploy``:
    a trained network programmed onto a card's tiles, :mod:`analog_ep.study.deploy`)."""

    def __init__(self, run_dir: str | Path):
        from ..train.loop import make_trainer

        run_dir = Path(run_dir)
        if not run_dir.is_dir():
            raise ConfigError(f"{run_dir}: no such run folder; pass the output folder of a train run")
        if not (run_dir / "checkpoint.pt").is_file():
            raise CheckpointError(f"{run_dir / 'checkpoint.pt'}: checkpoint not found; pass the output folder "
                                  "of a train run")
        ckpt = load_checkpoint(run_dir / "checkpoint.pt")
        cfg = stored_config(ckpt, path=run_dir / "checkpoint.pt")
        if cfg.analog.device is None or ckpt.get("device") is None:
            raise ConfigError(f"{run_dir}: a digital run has no conductances to drift (its accuracy does not "
                              "change with time); train with --device CARD (e.g. pcm) for a drift study, or "
                              "program its weights onto a card with analog-ep deploy")
        card = ckpt["device"]
        nu, nu_std = float(card["card"].get("drift_nu", 0.0)), float(card["card"].get("drift_nu_std", 0.0))
        if nu <= 0 and nu_std <= 0:
            raise ConfigError(f"{run_dir}: device card {card['name']!r} has no drift (drift_nu = 0, drift_nu_std = 0): "
                              "its accuracy does not change with time; train on a card with drift (pcm) "
                              "or with --set device.drift_nu=0.05")
        self.ckpt = ckpt
        rng = torch.get_rng_state()  # make_trainer seeds the global RNG, load sets it: leave the caller's untouched
        try:
            trainer = make_trainer(cfg, run_dir, stored_card=card)
            trainer.load(ckpt)
        finally:
            torch.set_rng_state(rng)
        self._attach(trainer, card["name"], run_dir)

    @classmethod
    def programmed(cls, trainer, card_name: str, run_dir: str | Path | None = None) -> "DriftStudy":
        """The study of ``trainer``'s network as its analog storages now hold it (just
        programmed: ``deploy``); the card may have no drift (then only :meth:`evaluate` with
        ``t_s=None`` means anything)."""
        self = cls.__new__(cls)
        self.ckpt = None
        self._attach(trainer, card_name, run_dir)
        return self

    def _attach(self, trainer, card_name: str, run_dir: str | Path | None) -> None:
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.cfg, self.trainer = trainer.cfg, trainer
        self.storages = [s.storage for s in self.trainer.model.all_synapses()]
        self.params = self.storages[0].params
        self.card_name = card_name
        self._counters = [(s.batch, s.phase, s.read_count) for s in self.storages]
        self._n_batches = max(1, math.ceil(len(self.trainer.test_set) / self.cfg.data.batch_size))

    @property
    def has_drift(self) -> bool:
        """Whether the card's conductances drift (``drift_nu`` or ``drift_nu_std`` > 0)."""
        return float(self.params.drift_nu) > 0 or float(self.params.drift_nu_std) > 0

    @property
    def t0_s(self) -> float:
        return float(self.params.t0_s)

    def exponents(self, draw: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Draw ``draw``'s drift exponents of every tile array, from (analog seed, tile, draw)."""
        return [sample_drift_exponents(s.params, s.w_dev.shape, stream_key(s.seed, s.tile_index, _DRIFT_DRAW, draw),
                                       s.w_dev.dtype, s.w_dev.device) for s in self.storages]

    def weights(self, t_s: float, nus) -> list[torch.Tensor]:
        """Every tile array's effective weight at ``t_s`` with exponents ``nus`` (no gain)."""
        return [s.drifted_weight(t_s, nu) for s, nu in zip(self.storages, nus)]

    def gains(self, t_s: float, nus) -> list[float]:
        """Global drift compensation: ``alpha = sum|W(t0) 1| / sum|W(t) 1|`` per tile array."""
        out = []
        for w0, wt in zip(self.weights(self.t0_s, nus), self.weights(t_s, nus)):
            a0, at = calibration_read(w0), calibration_read(wt)
            out.append(a0 / at if at > 0 else 1.0)
        return out

    def evaluate(self, t_s: float | None, draw: int, compensation: str = "none", nus=None) -> dict:
        """Test loss and accuracy at ``t_s`` for draw ``draw`` (``nus``: its exponents, drawn if
        None); also the summed |W| of every layer and the gains applied. ``t_s=None``: the
        weights as programmed (no drift model, no gain: the storages' own weights)."""
        import contextlib

        if compensation not in COMPENSATIONS:
            raise ConfigError(f"--compensation: expected one of none, global, both; got {compensation!r}")
        if t_s is None:
            nus, gains = [None] * len(self.storages), [1.0] * len(self.storages)
        else:
            nus = self.exponents(draw) if nus is None else nus
            gains = self.gains(t_s, nus) if compensation == "global" else [1.0] * len(self.storages)
        for s, (b, p, r) in zip(self.storages, self._counters):  # same read-noise streams at every t
            s.batch, s.phase, s.read_count = b + draw * self._n_batches, p, r
        with contextlib.ExitStack() as stack:
            for s, nu, g in zip(self.storages, nus, gains):
                if t_s is not None:
                    stack.enter_context(s.drifted(t_s, nu, g))
            w_abs = float(sum(s.weight.detach().abs().double().sum() for s in self.storages))
            loss, acc, _ = self.trainer.evaluate(self.trainer.test_set)
        for s, (b, p, r) in zip(self.storages, self._counters):
            s.batch, s.phase, s.read_count = b, p, r
        return {"accuracy": acc, "loss": loss, "weight_abs_sum": w_abs, "gains": gains}

    def run(self, times: list[float], draws: int = 5, compensations=COMPENSATIONS, prepare=None,
            programmed: bool = False) -> dict:
        """The study's result (see :func:`drift_study`). ``prepare(d)``, if given, is called
        before draw ``d`` (``deploy``: programs that draw's programming noise); ``programmed``:
        each draw also evaluates the weights as programmed (``t_s=None``), summarized in the
        result's ``programmed`` row (None otherwise)."""
        if draws < 1:
            raise ConfigError(f"--draws: must be >= 1, got {draws}")
        per = {(t, c): [] for t in times for c in compensations}
        at_programming = []
        for d in range(draws):
            if prepare is not None:
                prepare(d)
            if programmed:
                at_programming.append(self.evaluate(None, d))
            nus = self.exponents(d) if times and compensations else None
            for t in times:
                for c in compensations:
                    per[(t, c)].append(self.evaluate(t, d, c, nus))
        rows = [summarize(t, c, per[(t, c)]) for t in times for c in compensations]
        tested = [r for r in self.trainer.history if "test_accuracy" in r]
        return {"run": str(self.run_dir), "device": self.card_name, "epochs": self.trainer.epoch,
                "test_accuracy": tested[-1]["test_accuracy"] if tested else None,
                "t0_s": self.t0_s, "drift_nu": float(self.params.drift_nu),
                "drift_nu_std": float(self.params.drift_nu_std), "times": list(times), "draws": draws,
                "compensation": list(compensations), "rows": rows,
                "programmed": summarize(None, "none", at_programming) if programmed else None}


def summarize(t_s: float | None, compensation: str, results: list[dict]) -> dict:
    """One row of a study: the draws' evaluations (:meth:`DriftStudy.evaluate`) at ``t_s``
    summarized (mean and population std of the accuracy over the draws)."""
    acc = np.array([r["accuracy"] for r in results])
    return {"t_s": t_s, "compensation": compensation, "accuracy_mean": float(acc.mean()),
            "accuracy_std": float(acc.std()), "draws": len(results), "accuracies": acc.tolist(),
            "loss_mean": float(np.mean([r["loss"] for r in results])),
            "weight_abs_sum": float(np.mean([r["weight_abs_sum"] for r in results])),
            "gain_mean": float(np.mean([np.mean(r["gains"]) for r in results]))}


def drift_study(run_dir: str | Path, times=DEFAULT_TIMES, draws: int = 5, compensation: str = "both",
                save: bool = True) -> dict:
    """Evaluate the run at every ``t`` of ``times`` (seconds after programming) for ``draws``
    draws of the drift exponents, without (``none``), with (``global``) or without and with
    (``both``) global drift compensation. Returns ``{"run", "device", "epochs",
    "test_accuracy" (the run's last), "t0_s", "drift_nu", "drift_nu_std", "times", "draws",
    "compensation", "rows": [{"t_s", "compensation", "accuracy_mean", "accuracy_std", "draws",
    "accuracies", "loss_mean", "weight_abs_sum", "gain_mean"}, ...], "saved"}``; with ``save``
    the same object goes to ``RUN/drift.json`` (``saved``: its path, None if it could not be
    written)."""
    comps = {"none": ("none",), "global": ("global",), "both": COMPENSATIONS}.get(compensation)
    if comps is None:
        raise ConfigError(f"--compensation: expected one of none, global, both; got {compensation!r}")
    if draws < 1:
        raise ConfigError(f"--draws: must be >= 1, got {draws}")
    times = list(times)
    if not times or any(not math.isfinite(float(t)) or float(t) <= 0 for t in times):
        raise ConfigError(f"--times: need positive finite seconds, got {times!r}")
    result = DriftStudy(run_dir).run([float(t) for t in times], draws, comps)
    del result["programmed"]
    result["saved"] = None
    if save:
        path = Path(run_dir) / "drift.json"
        tmp = path.with_name(path.name + ".tmp")
        try:
            tmp.write_text(json.dumps({**result, "saved": str(path)}, indent=1) + "\n")
            os.replace(tmp, path)
            result["saved"] = str(path)
        except OSError:
            pass
    return result


__all__ = ["COMPENSATIONS", "DEFAULT_TIMES", "DriftStudy", "calibration_read", "drift_study", "parse_times",
           "sample_drift_exponents", "summarize"]
