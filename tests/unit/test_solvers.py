"""Relaxation reaches a fixed point and reports correct per-sample statistics."""

import torch

from conftest import assert_async_descends, tiny_mlp
from analog_ep.solvers import get_solver, relax_async, relax_sync
from analog_ep.errors import ConfigError

import pytest


def _residual(m, states, const, beta=0.0, y=None):
    new = m.sync_map(None, states, const, beta, y)
    return max((a - b).abs().max().item() for a, b in zip(new, states))


@pytest.mark.parametrize("solver", [relax_async, relax_sync])
def test_reaches_fixed_point_below_tolerance(solver):
    m, x, y = tiny_mlp()
    const = m.const_drive(x)
    with torch.no_grad():
        s, st = solver(m, const, m.zero_state(x.shape[0], x), iters=2000, tol=1e-11, damping=0.0)
    assert st.converged.all()
    assert (st.residual < 1e-11).all()
    assert _residual(m, s, const) < 1e-9  # a true fixed point of the synchronous map
    assert (st.steps >= 1).all() and (st.steps <= st.sweeps).all()
    assert st.steps.max().item() == st.sweeps  # early stop right when the last sample converged


def test_async_energy_never_increases():
    m, x, y = tiny_mlp(gain=2.0)
    assert_async_descends(m, x, sweeps=30, atol=1e-12)


def test_statistics_when_not_converged():
    m, x, y = tiny_mlp(gain=2.0)
    const = m.const_drive(x)
    s, st = relax_async(m, const, m.zero_state(x.shape[0], x), iters=2, tol=1e-15)
    assert st.sweeps == 2
    assert not st.converged.any()
    assert (st.steps == 2).all()
    # the reported residual is the change of the last sweep
    s3, _ = relax_async(m, const, s, iters=1, tol=0.0)
    s1, _ = relax_async(m, const, m.zero_state(x.shape[0], x), iters=1, tol=0.0)
    expect = torch.stack([(a - b).abs().amax(1) for a, b in zip(s, s1)]).amax(0)
    torch.testing.assert_close(st.residual, expect)


def test_per_sample_steps_differ_and_match_individual_runs():
    m, x, y = tiny_mlp()
    const = m.const_drive(x)
    _, st = relax_async(m, const, m.zero_state(x.shape[0], x), iters=500, tol=1e-10)
    for i in range(x.shape[0]):
        ci = [c[i:i + 1] for c in const]
        _, sti = relax_async(m, ci, m.zero_state(1, x), iters=500, tol=1e-10)
        assert sti.steps.item() == st.steps[i].item()


def test_damped_sync_converges_to_same_point_as_async():
    m, x, y = tiny_mlp()
    const = m.const_drive(x)
    a, _ = relax_async(m, const, m.zero_state(5, x), iters=3000, tol=1e-12)
    b, st = relax_sync(m, const, m.zero_state(5, x), iters=3000, tol=1e-12, damping=0.5)
    assert st.converged.all()
    for u, v in zip(a, b):
        torch.testing.assert_close(u, v, atol=1e-9, rtol=0)


def test_unknown_solver_names_valid_ones():
    with pytest.raises(ConfigError, match="solver.name.*async.*sync"):
        get_solver("newton")
