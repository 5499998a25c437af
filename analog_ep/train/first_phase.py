"""The first-phase check of a run: an unstable given ``analog.settle_dt_s`` refused before the
run folder is touched.

The settle solver (:mod:`analog_ep.solvers.settle`) refuses a given step at or above its measured
stability bound at a model's first settle phase; the bound depends on the weights and the batch,
so the config loader cannot check it. :func:`first_phase_check` runs that first phase's decision
on the trainer before ``train`` (:mod:`analog_ep.train.session`) or a study's runner
(:mod:`analog_ep.study.runner`) claims, empties or writes the run folder, and puts the trainer
back as it was (:func:`analog_ep.train.probe.preserved`). It lives here, with its callers, since
it runs a training step: solvers never import ``train`` (DESIGN section 3).
"""

from __future__ import annotations

import contextlib

import torch

from ..config.relaxations import relaxation_for
from ..errors import ConfigError
from ..solvers.settle import SETTLE_STEP_FIX, FirstPhaseProbe, first_phase_probe, probed_step_log
from .probe import preserved


def first_phase_check(trainer) -> None:
    """Refuse an unstable given ``analog.settle_dt_s`` at the run's first settle phase before the
    run folder is claimed, emptied or written (``train`` calls it after building the trainer, a
    study's runner before it touches the run's folder): the trainer itself runs its next training
    step up to the first settle phase's step decision
    (:func:`~analog_ep.solvers.settle.first_phase_probe`): the same batch, weights, streams and
    start states as the run's own first phase, so the same bound; then everything the step's
    start changed is put back (:func:`~analog_ep.train.probe.preserved`: the weights are only
    read, shared, never copied; counters, caches, streams and the settle's step log of the model
    restored, :func:`~analog_ep.solvers.settle.probed_step_log`), so the run is as if never
    probed. Nothing to check without a given step, when the run has no epoch left, or for a run
    restored from its checkpoint (its first phase ran: :func:`~analog_ep.solvers.settle.restored`)."""
    cfg = trainer.cfg
    if (not relaxation_for(cfg).has_circuit_constants or cfg.analog.settle_dt_s is None
            or trainer.epoch >= cfg.train.epochs):
        return
    if trainer.epoch > 0 or trainer.partial is not None:
        return

    def stop(*args):  # a step that settled nothing ends before its update: one step is enough to know
        raise FirstPhaseProbe

    refused = None
    with probed_step_log(trainer.model) as log, preserved(trainer, extra=(log,)):
        trainer.apply_updates = stop  # (an instance attribute: dropped again on the way out)
        with first_phase_probe(), contextlib.suppress(FirstPhaseProbe):
            try:
                trainer.run_epoch(progress=False)
            except ConfigError as e:
                refused = e
    # torchrun: each rank measured its own shard's bound; they refuse together (one rank leaving
    # alone would leave the others waiting in their first collective)
    agreed = trainer.dist.all_true(torch.tensor(refused is None, device=trainer.device))
    if refused is not None:
        raise refused
    if not bool(agreed):
        raise ConfigError(f"analog.settle_dt_s: {cfg.analog.settle_dt_s:g} s is at or above the stability bound "
                          f"another rank's first settle phase measured; {SETTLE_STEP_FIX}")


__all__ = ["first_phase_check"]
