"""Run health: a pure check over the per-epoch history rows of a run.

A run is *unhealthy* (it finishes, but its numbers should not be trusted) when, in some epoch,

* its training loss explodes: ``train_loss`` above :data:`LOSS_FACTOR` times the first epoch's;
* its test loss is NaN (or infinite): the free phase blew up at evaluation;
* its relaxation stops converging: the training free phase's ``free_converged_fraction`` falls
  below :data:`CONV_LOW` after having been at least :data:`CONV_HIGH` in an earlier epoch. Only a
  drop counts (an analog run with read noise whose free phase never converges is not flagged), and
  nothing is checked when the solver's tolerance is 0 (convergence is then never tested).

:func:`check_health` is called after every epoch by :func:`analog_ep.train.loop.fit`; the first
problem found is recorded in ``results.h5`` (``status: unhealthy``, ``extra/unhealthy_reason``).
"""

from __future__ import annotations

import math

LOSS_FACTOR = 10.0
"""A train loss above this multiple of the first epoch's train loss is an explosion."""
CONV_HIGH = 0.9
"""Free-phase converged fraction that counts as 'converging' in an earlier epoch."""
CONV_LOW = 0.5
"""Free-phase converged fraction below which a previously converging run 'stops converging'."""


def _num(row: dict, key: str) -> float | None:
    v = row.get(key)
    return None if v is None else float(v)


def check_health(history: list[dict], check_convergence: bool = True) -> tuple[int, str] | None:
    """The first problem in ``history`` as ``(epoch, reason)`` (``epoch`` as stored in the row,
    1-based), or None for a healthy run. ``check_convergence=False`` (``solver.tol == 0``) skips
    the convergence rule."""
    first_loss = None
    converging_at = None  # first epoch with free_converged_fraction >= CONV_HIGH
    for i, row in enumerate(history):
        epoch = int(row.get("epoch", i + 1))
        loss = _num(row, "train_loss")
        if first_loss is None:
            first_loss = loss
        elif (loss is not None and first_loss is not None and math.isfinite(first_loss) and first_loss > 0
              and loss > LOSS_FACTOR * first_loss):
            return epoch, (f"train loss exploded at epoch {epoch}: {loss:.4g} > {LOSS_FACTOR:g}x the first "
                           f"epoch's {first_loss:.4g}; lower train.lr or ep.beta")
        test_loss = _num(row, "test_loss")
        if test_loss is not None and not math.isfinite(test_loss):
            return epoch, (f"test loss is {test_loss} at epoch {epoch} (the free phase blew up at evaluation); "
                           f"lower train.lr or check solver.damping")
        frac = _num(row, "free_converged_fraction")
        if check_convergence and frac is not None and math.isfinite(frac):
            if converging_at is not None and frac < CONV_LOW:
                return epoch, (f"relaxation stopped converging at epoch {epoch}: free phase converged fraction "
                               f"{frac:.2f} < {CONV_LOW:g} after {CONV_HIGH:g}+ at epoch {converging_at}; "
                               f"raise solver.free_iters or lower train.lr")
            if converging_at is None and frac >= CONV_HIGH:
                converging_at = epoch
    return None
