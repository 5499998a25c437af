"""Run health: a pure check over the per-epoch history rows of a run.

A run is *unhealthy* (it finishes, but its numbers should not be trusted) when, in some epoch,

* its training loss explodes: ``train_loss`` above :data:`LOSS_FACTOR` times the first epoch's;
* its test loss is NaN (or infinite): the free phase blew up at evaluation;
* its relaxation stops converging: the training free phase's ``free_converged_fraction`` falls
  below :data:`CONV_LOW` after having been at least :data:`CONV_HIGH` in an earlier epoch. Only a
  drop counts (an analog run with read noise whose free phase never converges is not flagged), and
  nothing is checked when the solver's tolerance is 0 (convergence is then never tested);

and when its test accuracy stays at chance: every evaluated epoch from epoch
:data:`CHANCE_AFTER` on (the first two epochs may still be at chance; a shorter run is not
judged) scores at or below :func:`chance_threshold`, ``p + 3 sqrt(p (1 - p) / n)`` with
``p = 1 / num_classes`` and ``n`` test images: within three standard errors of a classifier that
guesses (digits' 10 classes and 100 test images: 0.19; 10,000 test images: 0.109). A run that
learns anything beats it by its third epoch (digits on 200 images: about 0.4 after two); the
default digits run with 1-bit converters (0.097) does not.

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
CHANCE_AFTER = 3
"""The epoch (1-based) from which a test accuracy at chance counts (earlier ones may be at chance)."""
CHANCE_SE = 3.0
"""Standard errors of a guessing classifier's accuracy that a run must beat (:func:`chance_threshold`)."""


def chance_threshold(num_classes: int, test_size: int) -> float:
    """The test accuracy at or below which a run is at chance: ``p + CHANCE_SE sqrt(p (1 - p) / n)``
    with ``p = 1 / num_classes`` (a guessing classifier's accuracy) and ``n = test_size`` images."""
    p = 1.0 / num_classes
    return p + CHANCE_SE * math.sqrt(p * (1.0 - p) / max(test_size, 1))


def _at_chance(history: list[dict], num_classes: int, test_size: int) -> tuple[int, str] | None:
    """``(first epoch, reason)`` when every evaluated epoch from :data:`CHANCE_AFTER` on (at least
    one) is at or below :func:`chance_threshold`, else None."""
    thr = chance_threshold(num_classes, test_size)
    rows = [(int(r.get("epoch", i + 1)), _num(r, "test_accuracy")) for i, r in enumerate(history)]
    rows = [(e, a) for e, a in rows if a is not None and e >= CHANCE_AFTER]
    if not rows or any(math.isfinite(a) and a > thr for _, a in rows):
        return None
    first, last, acc = rows[0][0], rows[-1][0], rows[-1][1]
    since = f"since epoch {first}" if last > first else f"at epoch {first}"
    return first, (f"test accuracy at chance {since}: {acc:.4g} at epoch {last}, not above {thr:.3g} (chance "
                   f"1/{num_classes} = {1 / num_classes:.3g} plus {CHANCE_SE:g} standard errors over {test_size} "
                   "test images); the network learns nothing: check the converter bits, noise and train.lr")


def _num(row: dict, key: str) -> float | None:
    v = row.get(key)
    return None if v is None else float(v)


def check_health(history: list[dict], check_convergence: bool = True, num_classes: int | None = None,
                 test_size: int | None = None) -> tuple[int, str] | None:
    """The first problem in ``history`` as ``(epoch, reason)`` (``epoch`` as stored in the row,
    1-based), or None for a healthy run. ``check_convergence=False`` (``solver.tol == 0``) skips
    the convergence rule; the chance rule needs ``num_classes`` and ``test_size``."""
    chance = _at_chance(history, num_classes, test_size) if num_classes and test_size else None
    other = _first_problem(history, check_convergence)
    found = [p for p in (other, chance) if p is not None]
    return min(found, key=lambda p: p[0]) if found else None


def _first_problem(history: list[dict], check_convergence: bool) -> tuple[int, str] | None:
    """The loss, NaN and convergence rules: the first row that breaks one."""
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
