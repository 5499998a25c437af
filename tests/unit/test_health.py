"""The run health check over synthetic per-epoch histories."""

import math

from analog_ep.train.health import check_health


def _rows(losses, fracs=None, test_losses=None):
    rows = []
    for i, loss in enumerate(losses):
        row = {"epoch": i + 1, "train_loss": loss}
        if fracs is not None:
            row["free_converged_fraction"] = fracs[i]
        if test_losses is not None and test_losses[i] is not None:
            row["test_loss"] = test_losses[i]
        rows.append(row)
    return rows


def test_healthy_histories():
    assert check_health([]) is None
    assert check_health(_rows([0.5, 0.3, 0.2], [1.0, 0.95, 0.92], [0.4, None, 0.3])) is None
    assert check_health(_rows([0.5, 4.9])) is None  # below 10x


def test_loss_explosion_is_the_first_epoch_above_10x():
    epoch, reason = check_health(_rows([0.4, 0.3, 5.0, 9.0]))
    assert epoch == 3 and "exploded" in reason and "epoch 3" in reason


def test_nan_test_loss():
    epoch, reason = check_health(_rows([0.5, 0.4], test_losses=[0.4, math.nan]))
    assert epoch == 2 and "test loss" in reason


def test_convergence_drop_counts_only_after_converging():
    epoch, reason = check_health(_rows([0.5] * 4, [0.95, 0.7, 0.4, 0.9]))
    assert epoch == 3 and "stopped converging" in reason and "epoch 1" in reason
    # never converged (an analog run with read noise): not a drop
    assert check_health(_rows([0.5] * 3, [0.1, 0.0, 0.2])) is None
    # converging only later, then fine
    assert check_health(_rows([0.5] * 3, [0.3, 0.9, 0.6])) is None
    # solver.tol == 0: convergence is not checked
    assert check_health(_rows([0.5] * 2, [1.0, 0.0]), check_convergence=False) is None


def test_first_problem_wins():
    epoch, reason = check_health(_rows([0.5, 6.0, 0.5], [1.0, 1.0, 0.0]))
    assert epoch == 2 and "exploded" in reason
