"""The settle integrator against the closed form of its leak (review of session 9).

With every coupling zero, each node is a lone RC circuit driven by a constant current (its bias):
``tau dv/dt = b - v``, so ``v(t) = b + (v0 - b) e^{-t / tau}`` exactly. Exponential Euler
integrates the leak exactly, so after ``n`` steps of any ``dt`` the output node must sit at
``b + (v0 - b) e^{-n dt / tau}`` (explicit Euler, ``(1 - dt / tau)^n``, is 0 at ``dt = tau``), and a
sample's settle time is the first step at which ``|v0 - b| e^{-t / tau}`` falls below ``tol``."""

import math

import pytest
import torch

from conftest import tiny_mlp
from analog_ep.solvers import relax_settle

TAU = 1e-7


@pytest.mark.parametrize("steps_per_tau", [10, 4, 2, 1])
def test_a_lone_node_decays_exactly_at_any_step(steps_per_tau):
    m, x, _ = tiny_mlp(bias_range=(0.2, 0.8))  # every state inside the clip box: the circuit is linear
    with torch.no_grad():
        for syn in m.synapses:
            syn.storage.weight.zero_()
    const = m.const_drive(x)
    g = torch.Generator().manual_seed(1)
    start = [torch.rand(5, s.shape[1], generator=g, dtype=torch.float64) for s in m.zero_state(5, x)]
    dt, tol = TAU / steps_per_tau, 1e-6
    out, st = relax_settle(m, const, start, iters=40, tol=tol, tau_s=TAU, dt_s=dt)
    b, v0 = m.biases[-1].detach(), start[-1]
    n = st.sweeps
    want = b + (v0 - b) * math.exp(-n * dt / TAU)
    assert torch.allclose(out[-1], want, rtol=0, atol=1e-12)
    for k in range(len(out) - 1):  # hidden nodes start charged to their drive: already settled
        assert torch.allclose(out[k], m.biases[k].detach().expand_as(out[k]), rtol=0, atol=1e-15)
    d0 = (v0 - b).abs().amax(1)
    crossing = TAU * torch.log(d0 / tol)  # |v0 - b| e^{-t/tau} = tol
    t = st.settle_time_s
    assert bool(((t >= crossing) & (t < crossing + dt + 1e-18)).all()), (t, crossing)
    assert bool(st.converged.all())
