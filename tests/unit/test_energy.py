"""The energy, its gradients and the closed-form node update (DESIGN section 5)."""

import torch

from conftest import tiny_mlp
from analog_ep.models import HopfieldMLP


def _random_box_state(m, b, g):
    states = [torch.rand(b, *s, generator=g, dtype=torch.float64) for s in m.node_shapes]
    states[-1] = torch.randn(b, *m.node_shapes[-1], generator=g, dtype=torch.float64)
    return states


def test_autograd_state_gradient_equals_hand_written():
    m, x, _ = tiny_mlp()
    g = torch.Generator().manual_seed(1)
    states = [s.requires_grad_(True) for s in _random_box_state(m, x.shape[0], g)]
    e = m.energy(x, states).sum()
    auto = torch.autograd.grad(e, states)
    const = m.const_drive(x)
    for k in range(1, m.num_nodes + 1):
        q = 1.0 / m.activations[k - 1].slope
        hand = q * states[k - 1] - m.drive(k, states, const)
        torch.testing.assert_close(auto[k - 1], hand.detach(), rtol=1e-12, atol=1e-12)


def test_autograd_parameter_gradient_equals_correlate():
    m, x, _ = tiny_mlp()
    g = torch.Generator().manual_seed(2)
    states = _random_box_state(m, x.shape[0], g)
    e = m.energy(x, states).mean()
    auto = torch.autograd.grad(e, m.ep_parameters())
    hand = m.energy_grads(x, states)
    for a, h in zip(auto, hand):
        torch.testing.assert_close(a, h, rtol=1e-12, atol=1e-12)


def test_hard_sigmoid_energy_gradient():
    g = torch.Generator().manual_seed(3)
    m = HopfieldMLP((4,), [5], 2, activation="hard_sigmoid", generator=g).double()
    x = torch.randn(3, 4, generator=g, dtype=torch.float64)
    states = [s.requires_grad_(True) for s in _random_box_state(m, 3, g)]
    auto = torch.autograd.grad(m.energy(x, states).sum(), states)
    hand = 2.0 * states[0] - m.drive(1, states, m.const_drive(x))
    torch.testing.assert_close(auto[0], hand.detach())


def test_node_update_is_block_minimizer():
    m, x, _ = tiny_mlp(bias_range=(-1.0, 1.5))
    g = torch.Generator().manual_seed(4)
    states = _random_box_state(m, x.shape[0], g)
    const = m.const_drive(x)
    for k in range(1, m.num_nodes + 1):
        before = m.energy(x, states)
        new = list(states)
        new[k - 1] = m.node_update(k, m.drive(k, states, const))
        after = m.energy(x, new)
        assert (after <= before + 1e-12).all(), f"node {k}: update raised the energy"
        lo, hi = m.activations[k - 1].lo, m.activations[k - 1].hi
        for _ in range(20):  # random feasible perturbations of the block never go lower
            pert = list(new)
            pert[k - 1] = (new[k - 1] + 0.1 * torch.randn(new[k - 1].shape, generator=g, dtype=torch.float64)).clamp(lo, hi)
            assert (m.energy(x, pert) >= after - 1e-12).all()
        # and the update actually changed something for at least one node (not a trivial test)
        states = new
    # stationary: a second update of every node changes nothing
    for k in range(1, m.num_nodes + 1):
        fixed = m.node_update(k, m.drive(k, states, const))
        if k == m.num_nodes:
            torch.testing.assert_close(fixed, states[k - 1])


def test_nudged_output_update_minimizes_total_energy():
    m, x, y = tiny_mlp()
    g = torch.Generator().manual_seed(5)
    states = _random_box_state(m, x.shape[0], g)
    const = m.const_drive(x)
    L = m.num_nodes
    for beta in (0.5, -0.3):
        h = m.drive(L, states, const)
        out = m.node_update(L, h, beta, y).requires_grad_(True)
        s = list(states)
        s[-1] = out
        total = m.energy(x, s) + beta * 0.5 * (out - y).pow(2).sum(1)
        (grad,) = torch.autograd.grad(total.sum(), out)
        assert grad.abs().max() < 1e-12


def test_colouring_is_proper_and_odd_even_for_chain():
    m, _, _ = tiny_mlp(hidden=(4, 4, 4, 4))
    groups = m.colouring()
    assert groups == [[1, 3, 5], [2, 4]]
    colour = {k: c for c, grp in enumerate(groups) for k in grp}
    for e in m.edges:
        if e.pre > 0:
            assert colour[e.pre] != colour[e.post]
