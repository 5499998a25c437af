"""A training session: the run-folder policy around :func:`~analog_ep.train.loop.fit`.

What ``analog-ep train`` does between parsing its options and printing, in one function,
:func:`run_training`: resolve the config (a new run's file and overrides, or a resumed run's
own config plus overrides), choose the run folder and refuse one that would destroy or mix a
run (``--out`` onto an existing run without ``--overwrite``, ``--overwrite`` with nothing to
replace, ``--config`` with ``--resume``), claim a fresh default folder
(``runs/<YYYYmmdd-HHMMSS>-<model>-<algorithm>[-<device>]``), name rank 0's folder to every rank
under torchrun, train, and return the summary that ``train --json`` prints.

Every refusal is a :class:`~analog_ep.errors.ConfigError` raised before anything is written or
trained. Only rank 0 (``RANK`` unset or 0) touches the run folder.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from ..errors import ConfigError
from .first_phase import first_phase_check
from ..rundir import check_out_dir, claim_run_dir, device_name, open_out_dir, remove_run_files

NOT_STARTED = "interrupted before training started; nothing was written"
"""What an interruption before :func:`run_training` has chosen its folder leaves behind."""


def is_main_rank() -> bool:
    """Whether this process writes the run folder (torchrun: rank 0 only)."""
    return os.environ.get("RANK", "0") == "0"


def default_run_dir(cfg, now: datetime.datetime | None = None) -> Path:
    """Create and return a new folder ``runs/<YYYYmmdd-HHMMSS>-<model>-<algorithm>[-<device>]``
    (``-2``, ``-3``, ... appended when taken: the atomic mkdir makes it this process's own)."""
    stamp = (now or datetime.datetime.now()).strftime("%Y%m%d-%H%M%S")
    dev = device_name(cfg)
    return claim_run_dir(Path("runs") / f"{stamp}-{cfg.model.name}-{cfg.algorithm}{'-' + dev if dev else ''}")


def device_phrase(cfg) -> str:
    """`` on memristor tiles (pulsed, rounded)`` or an empty string for a digital run."""
    dev = device_name(cfg)
    if dev is None:
        return ""
    a = cfg.analog
    if a.update == "pulsed":
        from .build import analog_update

        upd = analog_update(cfg)
        how = f"{a.update}, {upd.pulse_scheme}" + (", per vector" if upd.pulse_scheme == "bitstream"
                                                    and upd.pulse_accumulation == "per_vector" else "")
    else:
        how = a.update
    return f" on {dev} tiles ({how})"


@dataclass(frozen=True)
class TrainStart:
    """What a session knows when training is about to start (passed to ``on_start``)."""

    config: object
    """The resolved RunConfig."""
    run_dir: Optional[Path]
    """The run folder (None on a rank other than 0 without torchrun's broadcast)."""
    resumed: bool
    """Whether the run continues from a checkpoint (``--resume``)."""
    epoch: int
    """Epochs already done."""
    main_rank: bool
    """Whether this process writes the run folder."""

    def line(self) -> str:
        """The first line ``train`` prints: ``[resuming at epoch K/N: ]training MODEL on DATA with
        ALGORITHM[ (ESTIMATOR EP)][ on CARD tiles (UPDATE, SCHEME)] -> DIR``."""
        cfg = self.config
        n = cfg.train.epochs
        again = ("" if not self.resumed else f"resuming at epoch {self.epoch + 1}/{n}: " if self.epoch < n
                 else f"all {n} epochs already done (raise train.epochs to continue): ")
        return (f"{again}"
                f"training {cfg.model.name} on {cfg.data.name} with {cfg.algorithm}"
                f"{' (' + cfg.ep.estimator + ' EP)' if cfg.algorithm == 'ep' else ''}{device_phrase(cfg)}"
                f" -> {self.run_dir}")


def _resolve(config, overrides, out, resume, overwrite):
    """The config, trainer and ``fresh`` folder (an explicit --out that must not hold another
    run) of a session; every refusal comes before anything is written."""
    from ..config import load_config
    from . import loop
    from .checkpoint import load_checkpoint, stored_config

    main_rank = is_main_rank()
    fresh = out if out is not None and (resume is None or Path(out).resolve() != Path(resume).resolve()) else None
    if overwrite and fresh is None:
        raise ConfigError("--overwrite: nothing to replace; it needs --out DIR naming an existing run "
                          "(--resume DIR alone continues DIR in place)" if resume is not None else
                          "--overwrite: nothing to replace; it needs --out DIR (a default folder is always new)")
    if resume is not None:
        if config is not None:
            raise ConfigError("--config cannot be combined with --resume (the run's own config is used); "
                              "use --set to change keys such as train.epochs")
        path = Path(resume) / "checkpoint.pt"
        cfg = stored_config(load_checkpoint(path), overrides, path)
        if fresh is not None and main_rank:
            check_out_dir(fresh, overwrite)
        trainer = loop.resume_trainer(resume, cfg, out)
    else:
        cfg = load_config(config, overrides)
        if fresh is not None and main_rank:
            check_out_dir(fresh, overwrite)
        trainer = loop.make_trainer(cfg, out)
    return cfg, trainer, fresh


def _open_run_dir(trainer, cfg, out, resume, overwrite, fresh) -> None:
    """Give ``trainer`` its folder: a claimed default one (named to every rank), or the
    explicit/resumed one, checked again, opened and (``--overwrite``) emptied of run files."""
    main_rank = is_main_rank()
    if resume is None and out is None:
        trainer.out_dir = default_run_dir(cfg) if main_rank else None
        if trainer.dist.active:  # every rank names rank 0's folder
            import torch.distributed as tdist

            box = [str(trainer.out_dir) if main_rank else None]
            tdist.broadcast_object_list(box, src=0)
            trainer.out_dir = Path(box[0])
        return
    if main_rank:
        if fresh is not None:
            check_out_dir(fresh, overwrite)  # again: another process may have started a run there
        open_out_dir(trainer.out_dir)
        if overwrite:
            remove_run_files(trainer.out_dir)
    trainer.dist.barrier()
    if resume is not None and fresh is not None:
        trainer.save("running")  # the new folder can be resumed from its first moment


def summarize(trainer, cfg, info: dict) -> dict:
    """The summary of a finished (or unhealthy) session: what ``train --json`` prints."""
    from .costs import COST_HEADLINES

    last = trainer.history[-1] if trainer.history else {}
    tested = [r for r in trainer.history if "test_accuracy" in r]
    return {
        "test_accuracy": tested[-1]["test_accuracy"] if tested else None,
        "test_loss": tested[-1]["test_loss"] if tested else None,
        "train_accuracy": last.get("train_accuracy"),
        "train_loss": last.get("train_loss"),
        "epochs": trainer.epoch,
        "seconds": info["seconds"],
        "accelerator": str(trainer.device),
        "world_size": trainer.dist.world,
        "seconds_per_epoch": (sum(r["seconds"] for r in trainer.history) / len(trainer.history)
                              if trainer.history else None),
        **({"test_accuracy_drift": tested[-1]["test_accuracy_drift"], "t_inference_s": cfg.analog.t_inference_s}
           if tested and "test_accuracy_drift" in tested[-1] else {}),
        "algorithm": cfg.algorithm,
        "model": cfg.model.name,
        "dataset": cfg.data.name,
        "device": device_name(cfg),
        **({"analog_update": cfg.analog.update,
            "pulse_scheme": _analog_update(cfg, trainer).pulse_scheme,
            "pulses": sum(trainer.pulse_counts())} if cfg.analog.device is not None else {}),
        # what the last epoch's learning cost (issue 19): headline figures and the whole breakdown
        **{k: last[k] for k in COST_HEADLINES if k in last},
        "cost": trainer.last_cost,
        "results": str(trainer.results_path),
        "checkpoint": str(trainer.checkpoint_path),
        "status": info["status"],
        "unhealthy_reason": info["unhealthy_reason"],
    }


def _analog_update(cfg, trainer):
    from .build import analog_update

    return analog_update(cfg, getattr(trainer.model, "device_card", None))


def run_training(config: str | Path | None = None, overrides: list[str] | None = None,
                 out: str | Path | None = None, resume: str | Path | None = None, overwrite: bool = False,
                 progress: bool = True, log: Callable[[dict], None] | None = None,
                 on_start: Callable[[TrainStart], None] | None = None) -> dict:
    """Train one run as ``analog-ep train`` does and return its summary (the JSON keys of the
    README's CLI reference).

    ``config``: experiment YAML (a new run) and ``overrides`` (``dotted.key=value`` strings);
    ``out``: the run folder (None: a new ``runs/<time>-<model>-<algorithm>[-<device>]``);
    ``resume``: a run folder to continue from its checkpoint (in place, or in ``out``);
    ``overwrite``: replace the run files of the run in ``out``; ``progress`` / ``log``: passed to
    :func:`~analog_ep.train.loop.fit` (``log`` gets each epoch's row on rank 0 only);
    ``on_start``: called on every rank with a :class:`TrainStart` once the folder is chosen,
    before the first step (the CLI prints its line and remembers the folder for Ctrl-C).
    """
    from . import loop

    main_rank = is_main_rank()
    cfg, trainer, fresh = _resolve(config, list(overrides or []), out, resume, overwrite)
    first_phase_check(trainer)  # a given settle step above its measured bound: refused before any folder is touched
    _open_run_dir(trainer, cfg, out, resume, overwrite, fresh)
    if on_start is not None:
        on_start(TrainStart(cfg, trainer.out_dir, resume is not None, trainer.epoch, main_rank))

    def rank0_log(row: dict) -> None:
        if main_rank:
            log(row)

    info = loop.fit(trainer, progress=progress, log=rank0_log if log is not None else None)
    return summarize(trainer, cfg, info)


__all__ = ["NOT_STARTED", "TrainStart", "default_run_dir", "device_phrase", "is_main_rank", "run_training",
           "summarize"]
