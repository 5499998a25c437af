"""Synapse references: read_t is the exact adjoint of read and equals autograd; correlate is the
autograd weight gradient of the coupling <post, read(pre)> (DESIGN sections 2 and 5)."""

import math

import pytest
import torch

from analog_ep.errors import ConfigError
from analog_ep.models.base import EnergyNetwork
from analog_ep.synapses import Conv, ConvPool, Dense, Skip

B = 3

# (name, factory) -- every case float64, tiny, seeded
CASES = {
    "conv_s1_p1_even": lambda g: Conv((2, 6, 6), 3, 3, stride=1, padding=1, generator=g),
    "conv_s1_p0_odd": lambda g: Conv((2, 7, 5), 3, 3, stride=1, padding=0, generator=g),
    "conv_s2_p1_even": lambda g: Conv((2, 8, 6), 4, 3, stride=2, padding=1, generator=g),
    "conv_s2_p1_odd": lambda g: Conv((2, 7, 9), 3, 3, stride=2, padding=1, generator=g),
    "conv_s2_p0_even": lambda g: Conv((3, 6, 8), 2, 3, stride=2, padding=0, generator=g),
    "conv_s2_p0_odd": lambda g: Conv((3, 7, 5), 2, 3, stride=2, padding=0, generator=g),
    "conv_s3_k2_p0": lambda g: Conv((2, 8, 7), 2, 2, stride=3, padding=0, generator=g),
    "convpool_p1": lambda g: ConvPool((2, 6, 8), 3, 3, padding=1, pool=2, generator=g),
    "convpool_p0": lambda g: ConvPool((2, 6, 6), 3, 3, padding=0, pool=2, generator=g),
    "convpool_pool1": lambda g: ConvPool((2, 5, 5), 3, 3, padding=1, pool=1, generator=g),
    "skip_even": lambda g: Skip((3, 8, 8), (5, 4, 4), stride=2, generator=g),
    "skip_odd": lambda g: Skip((3, 7, 5), (2, 4, 3), stride=2, generator=g),
    "dense_flat": lambda g: Dense((2, 3, 4), 5, generator=g),
    "dense_vec": lambda g: Dense((7,), 4, generator=g),
}


def _make(name, seed=0):
    g = torch.Generator().manual_seed(seed)
    syn = CASES[name](g).double()
    pre = torch.randn(B, *syn.in_shape, generator=g, dtype=torch.float64)
    post = torch.randn(B, *syn.out_shape, generator=g, dtype=torch.float64)
    return syn, pre, post, g


def _autograd(syn, pre, post):
    """d<post, read(pre)>/dpre and /dW by autograd."""
    with torch.enable_grad():
        pre = pre.detach().clone().requires_grad_(True)
        coupling = (post * syn.read(pre)).sum()
        return torch.autograd.grad(coupling, [pre, syn.weight])


@pytest.mark.parametrize("name", sorted(CASES))
def test_shapes(name):
    syn, pre, post, _ = _make(name)
    with torch.no_grad():
        assert syn.read(pre).shape == (B, *syn.out_shape)
        assert syn.read_t(post, pre).shape == (B, *syn.in_shape)
        assert syn.correlate(post, pre).shape == syn.weight.shape


@pytest.mark.parametrize("name", sorted(CASES))
def test_adjoint_identity(name):
    syn, pre, post, _ = _make(name)
    with torch.no_grad():
        lhs = (post * syn.read(pre)).sum()
        rhs = (syn.read_t(post, pre) * pre).sum()
    assert abs(lhs.item() - rhs.item()) <= 1e-10 * max(1.0, abs(lhs.item()))


@pytest.mark.parametrize("name", sorted(CASES))
def test_read_t_and_correlate_equal_autograd(name):
    syn, pre, post, _ = _make(name)
    d_pre, d_w = _autograd(syn, pre, post)
    with torch.no_grad():
        syn_t = syn.read_t(post, pre)
        corr = syn.correlate(post, pre)
    torch.testing.assert_close(syn_t, d_pre, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(corr, d_w, rtol=1e-12, atol=1e-12)


def test_convpool_indices_follow_the_current_pre_state():
    syn, pre1, post, g = _make("convpool_p1")
    pre2 = torch.randn(pre1.shape, generator=g, dtype=torch.float64)
    with torch.no_grad():
        r1 = syn.read_t(post, pre1)
        r2 = syn.read_t(post, pre2)
        c1 = syn.correlate(post, pre1)
        c2 = syn.correlate(post, pre2)
    assert not torch.allclose(r1, r2)
    assert not torch.allclose(c1, c2)
    for pre, r, c in ((pre1, r1, c1), (pre2, r2, c2)):
        d_pre, d_w = _autograd(syn, pre, post)
        torch.testing.assert_close(r, d_pre, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(c, d_w, rtol=1e-12, atol=1e-12)
    # read_t differs from the adjoint of a linear map with frozen indices of the other state
    with torch.no_grad():
        assert not torch.allclose(syn.read_t(post, pre1), r2)


def _convpool_ref(syn, pre, post):
    """Autograd gradients of <post, maxpool(conv(pre))> computed without touching ``syn``."""
    with torch.enable_grad():
        p = pre.detach().clone().requires_grad_(True)
        w = syn.weight.detach().clone().requires_grad_(True)
        out = torch.nn.functional.max_pool2d(
            torch.nn.functional.conv2d(p, w, padding=syn.padding), syn.pool)
        return torch.autograd.grad((post * out).sum(), [p, w])


def test_convpool_cache_is_invalidated_by_in_place_changes():
    syn, pre, post, g = _make("convpool_p1")
    other = torch.randn(pre.shape, generator=g, dtype=torch.float64)

    def check():
        d_pre, d_w = _convpool_ref(syn, pre, post)
        torch.testing.assert_close(syn.read_t(post, pre), d_pre, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(syn.correlate(post, pre), d_w, rtol=1e-12, atol=1e-12)

    with torch.no_grad():
        syn.read(pre)
        check()
        pre.copy_(other)  # same tensor, new values: the version counter bumps
        check()
        pre[:, :, :2].mul_(-1.0)  # in place through a view (shared version counter)
        check()
        syn.weight.mul_(-0.5)  # optimizer-style in-place weight update
        check()
        syn.weight.data = syn.weight.data.flip(0)  # new weight storage
        check()
        syn.weight.data.mul_(-1.0)  # bypasses version counters: clear_cache is the contract
        syn.clear_cache()
        check()
    # a fresh tensor of the same shape (possibly at a recycled address) never hits the cache
    for _ in range(5):
        with torch.no_grad():
            syn.read(torch.randn(pre.shape, generator=g, dtype=torch.float64))
            pre = torch.randn(pre.shape, generator=g, dtype=torch.float64)
            check()


def test_convpool_read_and_read_t_share_one_conv():
    syn, pre, post, _ = _make("convpool_p1")
    ref = Conv.read(syn, pre)
    ref = torch.nn.functional.max_pool2d(ref, 2).detach()
    calls = []
    orig = syn._conv
    syn._conv = lambda x: calls.append(1) or orig(x)
    with torch.no_grad():
        r = syn.read(pre)                 # async order: read (post update) then read_t (pre update)
        syn.read_t(post, pre)
        syn.correlate(post, pre)
        assert len(calls) == 1
        calls.clear()
        syn.clear_cache()
        syn.read_t(post, pre)             # sync order: read_t then read on the same state
        r2 = syn.read(pre)
        assert len(calls) == 1
        r3 = syn.read(pre)                # cached values are handed out once, then recomputed
        assert len(calls) == 2
    for out in (r, r2, r3):
        torch.testing.assert_close(out, ref, rtol=0, atol=0)
    assert r2 is not r3
    with pytest.raises(ValueError, match="pre"):
        syn.read_t(post)


def test_convpool_network_energy_gradients():
    """In a small DCHN graph, the hand-written drive and correlate equal autograd of the energy."""
    g = torch.Generator().manual_seed(5)
    net = EnergyNetwork((1, 4, 4))
    n1 = net.add_node((2, 2, 2), "clamp")
    net.add_edge(0, n1, ConvPool((1, 4, 4), 2, generator=g))
    n2 = net.add_node((3, 2, 2), "clamp")
    net.add_edge(n1, n2, Conv((2, 2, 2), 3, generator=g))
    n3 = net.add_node((3,), "linear")
    net.add_edge(n2, n3, Dense((3, 2, 2), 3, generator=g))
    net.add_edge(n1, n3, Dense((2, 2, 2), 3, generator=g))
    net = net.double()
    x = torch.randn(B, 1, 4, 4, generator=g, dtype=torch.float64)
    states = [torch.rand(B, *s, generator=g, dtype=torch.float64) for s in net.node_shapes]
    leaves = [s.clone().requires_grad_(True) for s in states]
    auto = torch.autograd.grad(net.energy(x, leaves).sum(), leaves)
    with torch.no_grad():
        const = net.const_drive(x)
        for k in range(1, net.num_nodes + 1):
            hand = states[k - 1] / net.activations[k - 1].slope - net.drive(k, states, const)
            torch.testing.assert_close(auto[k - 1], hand, rtol=1e-12, atol=1e-12)
    auto_p = torch.autograd.grad(net.energy(x, states).mean(), net.ep_parameters())
    for a, h in zip(auto_p, net.energy_grads(x, states)):
        torch.testing.assert_close(a, h, rtol=1e-12, atol=1e-12)


def test_convpool_network_two_layer_uses_fresh_indices():
    """ConvPool between two state nodes: read_t of node 1 follows node 1's current state."""
    g = torch.Generator().manual_seed(6)
    syn = ConvPool((2, 4, 4), 3, generator=g).double()
    s1a = torch.rand(B, 2, 4, 4, generator=g, dtype=torch.float64)
    s1b = torch.rand(B, 2, 4, 4, generator=g, dtype=torch.float64)
    s2 = torch.rand(B, 3, 2, 2, generator=g, dtype=torch.float64)
    with torch.no_grad():
        syn.read(s1a)           # node 2 update from s1a
        syn.read_t(s2, s1a)     # node 1 update, cache hit
        got = syn.read_t(s2, s1b)  # node 1 moved to s1b
    torch.testing.assert_close(got, _autograd(syn, s1b, s2)[0], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["conv_s1_p1_even", "conv_s2_p1_odd", "convpool_p1", "skip_odd"])
def test_out_shape_matches_conv_arithmetic(name):
    syn, pre, _, _ = _make(name)
    c, h, w = syn.in_shape
    k, s, p = syn.kernel_size, syn.stride, syn.padding
    pool = getattr(syn, "pool", 1)
    ho, wo = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    assert syn.out_shape == (syn.weight.shape[0], ho // pool, wo // pool)


def test_bad_pooling_shape_raises_config_error():
    with pytest.raises(ConfigError, match=r"\(1, 5, 6\).*pool") as exc:
        ConvPool((1, 5, 6), 4, pool=2)
    assert "\n" not in str(exc.value)
    with pytest.raises(ConfigError, match=r"\(2, 9, 9\)"):
        ConvPool((2, 9, 9), 4, pool=3, padding=0)  # conv output 7x7
    ConvPool((2, 9, 9), 4, pool=3)  # 9x9 divides


def test_incompatible_skip_raises_config_error():
    with pytest.raises(ConfigError, match=r"incompatible.*\(3, 8, 8\).*\(5, 3, 4\)") as exc:
        Skip((3, 8, 8), (5, 3, 4), stride=2)
    assert "\n" not in str(exc.value)
    with pytest.raises(ConfigError, match=r"\(4,\)"):
        Skip((3, 8, 8), (4,), stride=2)
    assert Skip((3, 9, 8), (4, 5, 4)).out_shape == (4, 5, 4)


def test_bad_conv_arguments_raise_config_error():
    with pytest.raises(ConfigError, match="in_shape"):
        Conv((3, 8), 4)
    with pytest.raises(ConfigError, match="stride"):
        Conv((3, 8, 8), 4, stride=0)
    with pytest.raises(ConfigError, match=r"\(1, 2, 2\)"):
        Conv((1, 2, 2), 4, kernel_size=5, padding=0)


@pytest.mark.parametrize("cls,args,fan_in", [
    (Conv, ((3, 6, 6), 8), 3 * 9),
    (ConvPool, ((4, 6, 6), 8), 4 * 9),
    (Skip, ((5, 6, 6), (8, 3, 3)), 5),
])
def test_init_bound_and_reproducible(cls, args, fan_in):
    gain = 0.7
    a = cls(*args, gain=gain, generator=torch.Generator().manual_seed(11))
    b = cls(*args, gain=gain, generator=torch.Generator().manual_seed(11))
    c = cls(*args, gain=gain, generator=torch.Generator().manual_seed(12))
    bound = gain / math.sqrt(fan_in)
    assert a.weight.abs().max() <= bound
    assert a.weight.abs().max() > 0.8 * bound  # fills the interval
    assert torch.equal(a.weight, b.weight)
    assert not torch.equal(a.weight, c.weight)
    assert isinstance(a.weight, torch.nn.Parameter)
