"""The settle's per-phase spectral-radius measurement, warm-started within an EP step (issue 20,
``settle._phase_rate``): the first phase of a step runs the cold power iteration, a later phase
with the same clamped input starts from the vector the previous phase ended with and runs
``WARM_POWER_ITERS``. Reference: the explicit Jacobian of the node targets (autograd) and its
eigenvalues (torch.linalg), on small random models at the phases' real start points (the free
equilibrium of the iterative solver)."""

import math

import pytest
import torch

from conftest import tiny_mlp
from analog_ep.solvers import relax_async
from analog_ep.solvers import settle as ST


def _targets_fn(m, const, beta, y):
    """The node targets u(v) of relax_settle (drives plus nudge current through s = rho(v)),
    written out again."""
    L = m.num_nodes

    def f(v):
        s = [act(vk) for act, vk in zip(m.activations, v)]
        h = [m.drive(k, s, const, beta, y) for k in range(1, L + 1)]
        t = [m.node_update(k, hk, beta, y) for k, hk in enumerate(h, start=1)]
        return [hk + tk - m.node_update(k, hk) for k, (hk, tk) in enumerate(zip(h, t), start=1)]
    return f


def _dense_rho(f, v, i):
    """Spectral radius of the Jacobian of ``f`` at sample ``i`` (dense autograd, eigvals)."""
    shapes = [vk[i:i + 1].shape for vk in v]
    sizes = [math.prod(sh) for sh in shapes]

    def flat(z):
        vv = [vk.clone() for vk in v]
        for k, (p, sh) in enumerate(zip(torch.split(z, sizes), shapes)):
            vv[k][i:i + 1] = p.reshape(sh)
        return torch.cat([u[i:i + 1].reshape(-1) for u in f(vv)])

    z = torch.cat([vk[i:i + 1].reshape(-1) for vk in v])
    J = torch.autograd.functional.jacobian(flat, z)
    return torch.linalg.eigvals(J).abs().max().item()


def _start(m, const, x):
    s = relax_async(m, const, m.zero_state(x.shape[0], x), iters=20000, tol=1e-13)[0]
    return [m.drive(k, s, const) for k in range(1, m.num_nodes)] + [s[-1]]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("hidden", [(6,), (6, 5)])
def test_warm_started_estimate_times_the_margin_is_never_below_the_spectral_radius(seed, hidden):
    """An EP step's three phases (free, nudge+, nudge-) through _phase_rate: every sample's
    estimate times STIFFNESS_MARGIN is at least the explicit Jacobian's spectral radius, and the
    batch's largest (what the step bound and budget use) is within 5 % below it and not above."""
    m, x, y = tiny_mlp(hidden=hidden, gain=2.0, seed=seed)
    const = m.const_drive(x)
    v = _start(m, const, x)
    ST._WARM.pop(m, None)
    for n, beta in enumerate((0.0, 0.5, -0.5)):
        f = _targets_fn(m, const, beta, y)
        with torch.no_grad():
            got = 1.0 - ST._phase_rate(m, const, f, v)
        assert (ST._WARM[m][0] is const) and len(ST._WARM[m][1]) == m.num_nodes
        want = torch.tensor([_dense_rho(f, v, i) for i in range(x.shape[0])], dtype=got.dtype)
        assert (got * ST.STIFFNESS_MARGIN >= want - 1e-9).all(), (beta, got, want)
        assert want.max() * 0.95 <= got.max() <= want.max() * (1 + 1e-6), (beta, got.max(), want.max())


def test_the_first_phase_of_a_step_is_the_cold_estimate_and_a_later_one_is_warm():
    """A new clamped input (the next step, or a resumed run) runs the cold iteration exactly
    (bit-identical to slowest_rate); the same input continues from the stored vector with
    WARM_POWER_ITERS iterations, bit-identical to running them by hand from that vector."""
    m, x, y = tiny_mlp(hidden=(6,), gain=2.0, seed=0)
    const = m.const_drive(x)
    v = _start(m, const, x)
    f0, f1 = _targets_fn(m, const, 0.0, y), _targets_fn(m, const, 0.5, y)
    with torch.no_grad():
        first = ST._phase_rate(m, const, f0, v)
        assert torch.equal(first, ST.slowest_rate(f0, v))
        stored = ST._WARM[m][1]
        second = ST._phase_rate(m, const, f1, v)
        assert torch.equal(second, ST._power_rate(f1, v, ST.WARM_POWER_ITERS, stored)[0])
        assert not torch.equal(second, ST._power_rate(f1, v, ST.WARM_POWER_ITERS)[0])  # it did start warm
        other = list(const)  # the next step: a new clamped input, cold again
        assert torch.equal(ST._phase_rate(m, other, f0, v), ST.slowest_rate(f0, v))


def test_a_sample_whose_warm_vector_vanished_starts_from_the_random_vector():
    m, x, y = tiny_mlp(hidden=(6,), gain=2.0, seed=0)
    const = m.const_drive(x)
    v = _start(m, const, x)
    f = _targets_fn(m, const, 0.0, y)
    with torch.no_grad():
        _, u = ST._power_rate(f, v, ST.SLOW_POWER_ITERS)
        for uk in u:
            uk[0] = 0.0
        warm = ST._power_rate(f, v, 1, u)[0]
        cold = ST._power_rate(f, v, 1)[0]
    assert warm[0] == cold[0] and not torch.equal(warm[1:], cold[1:])
