"""Predictive coding networks: closed-form derivatives against autograd, EP on PCNs against the
backprop gradient of the feed-forward twin, PC inference learning against a plain autograd
implementation, precision schedules against their closed forms."""

import math

import pytest
import torch

from analog_ep.algorithms.bp import bp_gradient
from analog_ep.algorithms.gradcheck import pcn_gradcheck
from analog_ep.algorithms.pc import pc_gradient, precision_schedule
from analog_ep.algorithms.pcn_ep import pcn_ep_gradient
from analog_ep.solvers import relax_pcn
from analog_ep.config import load_config
from analog_ep.config import ModelConfig
from analog_ep.errors import ConfigError
from analog_ep.config.model_specs import get_model_spec, pcn_weight_layers
from analog_ep.models.pcn import PC_ACT_GRAD_MUL, PC_ACTIVATIONS, PCN_VGG_LAYOUTS, MuPCResMLP, PCNMLP, PCNVGG

TINY = {"pcn_vgg5": [3, 4, 4, 5], "pcn_vgg7": [3, 3, 4, 4, 5, 5], "pcn_vgg10": [2, 3, 3, 3, 4, 4, 4, 4],
        "pcn_vgg10skip": [2, 3, 3, 3, 4, 4, 4, 4], "pcn_vgg10qi": [2, 3, 3, 3, 4, 4, 4, 4, 5],
        "pcn_vgg15": [2] * 13}


def pcn_nudged_phase(m, x, free, beta, y, iters, rule="mod_pgd", skip_clean=True):
    """One nudged phase by the registered PCN solver: ``(states, stats, energy curve)``."""
    s, st = relax_pcn(m, x, free, beta=beta, target=y, iters=iters, rule=rule, skip_clean=skip_clean)
    return s, st, st.energy


def _vgg(name, activation="relu", nudge="mse", seed=0, size=32):
    g = torch.Generator().manual_seed(seed)
    m = PCNVGG(name, (3, size, size), 10, channels=TINY[name], activation=activation, generator=g).double()
    m.nudge = nudge
    x = torch.randn(6, 3, size, size, dtype=torch.float64, generator=g)
    y = torch.nn.functional.one_hot(torch.arange(6) % 10, 10).double()
    return m, x, y


def _cos(a, b):
    return float((a.flatten() @ b.flatten()) / (a.norm() * b.norm()))


def _perturbed(states, seed=1, scale=0.3):
    g = torch.Generator().manual_seed(seed)
    return [s.detach() + scale * torch.randn(s.shape, dtype=s.dtype, generator=g) for s in states]


@pytest.mark.parametrize("name", sorted(PCN_VGG_LAYOUTS))
def test_layouts_build_and_count_weight_layers(name):
    m, x, _ = _vgg(name)
    assert len(m.edges) == pcn_weight_layers(name) == get_model_spec(name).weight_layers(ModelConfig(name=name))
    states, _ = m.forward_pass(x)
    assert states[-1].shape == (6, 10)
    assert torch.allclose(m.energy(x, states), torch.zeros(6, dtype=torch.float64))  # forward pass: E = 0


def test_published_layouts_at_their_input_sizes():
    vgg10 = PCNVGG("pcn_vgg10", (3, 224, 224), 1000, channels=[1] * 8, generator=torch.Generator().manual_seed(0))
    assert vgg10.node_shapes[7] == (1, 7, 7) and vgg10.node_shapes[8] == (2048,) and vgg10.node_shapes[9] == (1000,)
    skip = PCNVGG("pcn_vgg10skip", (3, 224, 224), 1000, channels=[1] * 8, generator=torch.Generator().manual_seed(0))
    strides = [e.synapse.stride for e in skip.edges if e.pre and e.post - e.pre == 3]
    assert strides == [2, 4]  # 2 -> 5: 56 -> 28; 5 -> 8: 28 -> 7
    vgg5 = PCNVGG("pcn_vgg5", (3, 32, 32), 10, generator=torch.Generator().manual_seed(0))
    assert [s[0] for s in vgg5.node_shapes[:4]] == [128, 256, 512, 512] and vgg5.node_shapes[3] == (512, 2, 2)
    qi5 = PCNVGG("pcn_vgg5", (3, 32, 32), 10, channels=[2] * 4, paddings=[1, 1, 1, 0],
                 generator=torch.Generator().manual_seed(0))
    assert qi5.node_shapes[3] == (2, 1, 1)
    vgg15 = PCNVGG("pcn_vgg15", (3, 64, 64), 200, channels=[1] * 13, generator=torch.Generator().manual_seed(0))
    assert vgg15.node_shapes[12] == (1, 2, 2) and len(vgg15.edges) == 15


def test_qi_vgg10_layout_at_cifar_and_tiny_imagenet_sizes():
    """Qi et al. 2025's VGG10 (the authors' VGG_types["VGG10"]): 9 convs 64-128-128-128-256-256-256-256-512,
    padding 1, 2x2 pools after conv 3, 5, 7, 9, one dense layer from 512 x (size / 16)^2 to the classes."""
    m = PCNVGG("pcn_vgg10qi", (3, 32, 32), 10, generator=torch.Generator().manual_seed(0))
    assert [e.synapse.weight.shape[0] for e in m.edges] == [64, 128, 128, 128, 256, 256, 256, 256, 512, 10]
    assert [s[1] for s in m.node_shapes[:9]] == [32, 32, 16, 16, 8, 8, 4, 4, 2]
    assert m.node_shapes[8] == (512, 2, 2) and m.edges[-1].synapse.weight.shape == (10, 2048)
    assert all(tuple(e.synapse.weight.shape[2:]) == (3, 3) for e in m.edges[:9])
    assert len(m.edges) == pcn_weight_layers("pcn_vgg10qi") == 10
    for e in m.edges:  # fan_in init: U(+-1/sqrt(fan_in))
        w = e.synapse.weight.detach()
        bound = 1 / math.sqrt(math.prod(w.shape[1:]))
        assert float(w.abs().max()) <= bound and float(w.abs().max()) > 0.9 * bound
    tiny = PCNVGG("pcn_vgg10qi", (3, 64, 64), 200, channels=[1] * 9, generator=torch.Generator().manual_seed(0))
    assert tiny.node_shapes[8] == (1, 4, 4) and tiny.node_shapes[9] == (200,)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():  # the forward pass is the plain VGG: conv (+ pool), bias and relu per stage, dense
        for b_ in m.biases:
            b_.normal_(0, 0.1, generator=torch.Generator().manual_seed(2))
        ref = x
        for i, pool in enumerate(PCN_VGG_LAYOUTS["pcn_vgg10qi"]["pools"]):
            ref = torch.nn.functional.conv2d(ref, m.edges[i].synapse.weight, padding=1)
            ref = torch.relu((torch.nn.functional.max_pool2d(ref, 2) if pool else ref) + m.biases[i])
        ref = ref.flatten(1) @ m.edges[-1].synapse.weight.t() + m.biases[-1]
        assert torch.allclose(m.ff_forward(x), ref, atol=1e-5)


@pytest.mark.parametrize("name,activation", [("pcn_vgg10skip", "relu"), ("pcn_vgg7", "gelu"),
                                             ("pcn_vgg5", "leaky_relu"), ("pcn_vgg5", "hard_tanh"),
                                             ("pcn_vgg10qi", "relu")])
def test_state_and_weight_gradients_match_autograd(name, activation):
    """dE/ds (errors and transposed reads) and dE/dtheta (correlates) in closed form equal
    autograd on the energy, away from the forward pass and with precisions."""
    m, x, _ = _vgg(name, activation)
    s = _perturbed(m.forward_pass(x)[0])
    pis = [0.5 + 0.25 * k for k in range(m.num_nodes)]
    grads, _ = m.state_grads(x, s, pis)
    leaf = [t.clone().requires_grad_(True) for t in s]

    def energy(states):
        e = 0
        for k in range(1, m.num_nodes + 1):
            a = m.preact(k, x, states)
            e = e + 0.5 * pis[k - 1] * (states[k - 1] - m.predict(k, a, x, states)).pow(2).sum()
        return e

    ref = torch.autograd.grad(energy(leaf), leaf)
    for g, r in zip(grads, ref):
        assert torch.allclose(g, r, atol=1e-10)
    params = m.ep_parameters()
    ref_w = torch.autograd.grad(m.energy(x, s).mean(), params, allow_unused=True)
    got = m.materialize(m.energy_grad_terms(x, s))
    for gw, rw in zip(got, ref_w):
        assert torch.allclose(gw, torch.zeros_like(gw) if rw is None else rw, atol=1e-10)


def test_mupc_scalings_weights_and_gradients():
    m = MuPCResMLP((1, 8, 8), 16, 6, 10, generator=torch.Generator().manual_seed(0)).double()
    scales = [e.scale for e in m.edges]
    assert scales[0] == pytest.approx(1 / 8) and scales[-1] == pytest.approx(1 / 16)
    assert all(s == pytest.approx(1 / math.sqrt(16 * 6)) for s in scales[1:-1])
    w = torch.cat([e.synapse.weight.flatten() for e in m.edges[1:-1]])
    w = w.detach()
    assert abs(float(w.std()) - 1) < 0.05 and abs(float(w.mean())) < 0.05  # N(0, 1)
    assert [e.preact for e in m.edges] == [None] + ["relu"] * 5 and m.residual == [False] + [True] * 4 + [False]
    x = torch.randn(5, 1, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    s = _perturbed(m.forward_pass(x)[0])
    leaf = [t.clone().requires_grad_(True) for t in s]
    ref = torch.autograd.grad(m.energy(x, leaf).sum(), leaf)
    for g, r in zip(m.state_grads(x, s)[0], ref):
        assert torch.allclose(g, r, atol=1e-10)
    # depth-muP forward: z_l = z_{l-1} + a W phi(z_{l-1})
    z, _ = m.forward_pass(x)
    e = m.edges[2]
    expect = z[1] + e.scale * torch.relu(z[1]) @ e.synapse.weight.t()
    assert torch.allclose(z[2], expect)


@pytest.mark.parametrize("name", ["pcn_vgg5", "pcn_vgg10skip", "pcn_vgg10qi"])
@pytest.mark.parametrize("nudge", ["mse", "cross_entropy"])
def test_centered_ep_matches_backprop_at_small_beta(name, nudge):
    """Kerjan et al. 2026: EP on a PCN -> the backprop gradient of the feed-forward twin as beta -> 0."""
    m, x, y = _vgg(name, nudge=nudge)
    rep = pcn_gradcheck(m, x, y, [1e-6], "centered", iters=30)
    assert len(rep["layers"]) == len(m.edges)
    for row in rep["layers"]:
        assert row["cosine"] >= 0.99, row


def test_estimators_and_rules_converge_to_backprop():
    m, x, y = _vgg("pcn_vgg5")
    ref, _, _ = bp_gradient(m, x, y)
    for est, beta, tol in [("centered", 1e-6, 1e-3), ("one_sided", 1e-7, 1e-3), ("negative", 1e-7, 1e-3)]:
        for rule in ("mod_pgd", "pgd"):
            res = pcn_ep_gradient(m, x, y, beta=beta, estimator=est, nudge_iters=30, rule=rule)
            for g, r in zip(res.grads, ref):
                if r.norm() > 0:
                    assert (g - r).norm() / r.norm() < tol, (est, rule)
    # a larger beta: centered is O(beta^2), one-sided O(beta)
    c = pcn_ep_gradient(m, x, y, beta=1e-2, estimator="centered", nudge_iters=30)
    o = pcn_ep_gradient(m, x, y, beta=1e-2, estimator="one_sided", nudge_iters=30)
    err = lambda r_: sum((g - r).norm() ** 2 for g, r in zip(r_.grads, ref)) ** 0.5
    assert err(c) < err(o)


@pytest.mark.parametrize("rule", ["pgd", "mod_pgd"])
def test_nudged_fixed_point_is_stationary_for_the_total_energy(rule):
    """PGD with ReLU: at its fixed point every positive hidden unit has dE/ds = 0 (KKT point of
    E + beta C on s >= 0); mod-PGD (relu(a + Delta)) agrees on the units with a > 0. The MSE
    output minimizes 1/2||s_L - a_L||^2 + beta C."""
    m, x, y = _vgg("pcn_vgg5")
    with torch.no_grad():
        free, _ = m.forward_pass(x)
    beta = 0.02
    s, st, energy = pcn_nudged_phase(m, x, free, beta, y, 60, rule)
    assert float(st.residual.max()) < 1e-10
    assert energy.shape == (61,) and float(energy[0]) == pytest.approx(beta * float(m.cost(free[-1], y).mean()))
    assert float(energy[-1]) < float(energy[0])
    with torch.no_grad():
        grads, (a, _, _) = m.state_grads(x, s)
    for k in range(1, m.num_nodes):
        active = (s[k - 1] > 0) if rule == "pgd" else (s[k - 1] > 0) & (a[k - 1] > 0)
        assert active.sum() > 0 and grads[k - 1][active].abs().max() < 1e-9
    out_grad = grads[-1] + beta * (s[-1] - y)
    assert out_grad.abs().max() < 1e-9


def test_precision_schedules_closed_form():
    L, T = 4, 6
    sp = precision_schedule("spiking", L, T, alpha=0.01, dtype=torch.float64)
    for k in range(1, L + 1):
        first = L - k
        for t in range(T):
            expect = 0.0 if t < first else (1.0 if t == first else 0.01)
            assert sp[t, k - 1] == expect
    dec = precision_schedule("decaying", L, T, k_decay=1.0, dtype=torch.float64)
    for k in range(1, L + 1):
        first = L - k
        w = [math.exp(-(t - first)) for t in range(first, T)]
        for t in range(T):
            expect = 0.0 if t < first else math.exp(-(t - first)) / sum(w)
            assert float(dec[t, k - 1]) == pytest.approx(expect)
        assert float(dec[:, k - 1].sum()) == pytest.approx(1.0)
    assert torch.equal(precision_schedule("none", L, T), torch.ones(T, L))
    with pytest.raises(ConfigError):
        precision_schedule("wavy", L, T)


def _plain_pc(m, x, y, steps, lr, momentum, nesterov, pis, forward_update):
    """Deliberately plain PC: activities as autograd leaves, the energy written out, torch's
    SGD on the activities, the weight gradient by autograd."""
    s0, _ = m.forward_pass(x)
    s0 = [t.detach() for t in s0]
    hidden = [t.clone().requires_grad_(True) for t in s0[:-1]]
    opt = torch.optim.SGD(hidden, lr=lr, momentum=momentum, nesterov=nesterov)

    def energy(states, pi, params_from=None):
        e = 0
        src = states if params_from is None else params_from
        for k in range(1, m.num_nodes + 1):
            a = m.preact(k, x, src)
            e = e + 0.5 * pi[k - 1] * (states[k - 1] - m.predict(k, a, x, src)).pow(2).sum()
        return e

    trajectory = []
    for t in range(steps):
        trajectory.append([h.detach().clone() for h in hidden] + [y])
        opt.zero_grad()
        energy(hidden + [y], [float(p) for p in pis[t]]).backward()
        opt.step()
    final = [h.detach() for h in hidden] + [y]
    trajectory.append(final)
    params = m.ep_parameters()
    e = energy(final, [1.0] * m.num_nodes, params_from=s0 if forward_update else None) / x.shape[0]
    g = torch.autograd.grad(e, params, allow_unused=True)
    return [torch.zeros_like(p) if gi is None else gi for p, gi in zip(params, g)], trajectory


@pytest.mark.parametrize("precision,momentum,nesterov,forward", [
    ("none", 0.0, False, False), ("spiking", 0.5, True, True), ("decaying", 0.9, False, False)])
def test_pc_gradient_matches_a_plain_autograd_implementation(precision, momentum, nesterov, forward):
    m, x, y = _vgg("pcn_vgg5")
    T = 6
    pis = precision_schedule(precision, m.num_nodes, T, 0.01, 1.0, torch.float64)
    ref, trajectory = _plain_pc(m, x, y, T, 0.1, momentum, nesterov, pis, forward)
    res = pc_gradient(m, x, y, steps=T, lr=0.1, momentum=momentum, nesterov=nesterov, precision=precision,
                      alpha=0.01, k_decay=1.0, forward_update=forward)
    for g, r in zip(res.grads, ref):
        assert torch.allclose(g, r, atol=1e-10)
    # the energy trace (pi = 1) before every step and at the end, and the last step's residual
    assert res.energy.shape == (T + 1, m.num_nodes)
    for row, states in zip(res.energy, trajectory):
        assert torch.allclose(row, m.layer_energies(x, states), rtol=1e-12, atol=0)
    change = torch.stack([(p - q).abs().reshape(x.shape[0], -1).amax(1)
                          for p, q in zip(trajectory[-1][:-1], trajectory[-2][:-1])]).amax(0)
    assert torch.allclose(res.stats["pc"].residual, change, rtol=1e-9, atol=0)


@pytest.mark.parametrize("nudge", ["mse", "cross_entropy"])
def test_pc_gradient_on_a_dense_network_matches_the_plain_closed_form(nudge):
    """pc_gradient (reads held from the forward pass, deltas only where read, the fused relu
    derivative, the energy trace from the error norms) against the closed form written out with
    plain tensor operations on a 2-hidden-layer relu MLP, in float32 as training runs."""
    g = torch.Generator().manual_seed(3)
    m = PCNMLP((1, 6, 6), [12, 9], 4, generator=g)
    m.nudge = nudge
    with torch.no_grad():
        for b_ in m.biases:
            b_.copy_(0.1 * torch.randn(b_.shape, generator=g))
    x = torch.randn(5, 1, 6, 6, generator=g)
    y = torch.nn.functional.one_hot(torch.tensor([0, 1, 2, 3, 1]), 4).float()
    (W1, W2, W3), (b1, b2, b3) = [e.synapse.weight.detach() for e in m.edges], [b_.detach() for b_ in m.biases]
    T, lr, B = 7, 0.2, 5
    relu = lambda a: torch.where(a > 0, a, torch.zeros_like(a))  # noqa: E731
    drelu = lambda a: (a > 0).to(a.dtype)  # noqa: E731
    xf = x.reshape(B, -1)
    a1 = xf @ W1.t() + b1
    s1 = relu(a1)
    s2 = relu(s1 @ W2.t() + b2)
    a3_0 = s2 @ W3.t() + b3
    energy = []

    def errors(s1, s2):
        a2, a3 = s1 @ W2.t() + b2, s2 @ W3.t() + b3
        e1, e2 = s1 - relu(a1), s2 - relu(a2)
        if nudge == "mse":
            e3, d3 = y - a3, y - a3
            e_out = 0.5 * (e3 ** 2).sum(1).mean()
        else:
            e3, d3 = torch.zeros_like(a3), y - torch.softmax(a3, 1)
            e_out = -(y * torch.log_softmax(a3, 1)).sum(1).mean()
        energy.append(torch.stack([0.5 * (e1 ** 2).sum(1).mean(), 0.5 * (e2 ** 2).sum(1).mean(), e_out]))
        return e1, e2, drelu(a1) * e1, drelu(a2) * e2, d3

    for _ in range(T):
        e1, e2, _, d2, d3 = errors(s1, s2)
        n1, n2 = s1 - lr * (e1 - d2 @ W2), s2 - lr * (e2 - d3 @ W3)
        last = torch.maximum((n1 - s1).abs().amax(1), (n2 - s2).abs().amax(1))
        s1, s2 = n1, n2
    _, _, d1, d2, d3 = errors(s1, s2)
    ref = [-(d1.t() @ xf) / B, -(d2.t() @ s1) / B, -(d3.t() @ s2) / B, -d1.mean(0), -d2.mean(0), -d3.mean(0)]
    res = pc_gradient(m, x, y, steps=T, lr=lr)
    for got, want in zip(res.grads, ref):
        assert torch.allclose(got, want, rtol=1e-5, atol=1e-7)
    assert torch.allclose(res.energy, torch.stack(energy), rtol=1e-5, atol=1e-7)
    assert torch.allclose(res.stats["pc"].residual, last, rtol=1e-5, atol=1e-7)
    assert torch.equal(res.output, a3_0)


def test_pc_with_many_small_steps_approaches_backprop_direction():
    """PC approximates backprop (Whittington & Bogacz 2017); the cosine is informative only, but
    it must be clearly positive on every layer for a converged inference."""
    m, x, y = _vgg("pcn_vgg5")
    rep = pcn_gradcheck(m, x, y, [], "centered", pc=dict(steps=100, lr=0.2))
    assert rep["estimator"] == "pc" and all(r["beta"] is None for r in rep["layers"])
    assert min(r["cosine"] for r in rep["layers"]) > 0.5


def test_activation_derivatives():
    x = torch.linspace(-3, 3, 101, dtype=torch.float64).requires_grad_(True)
    for name, (f, df) in PC_ACTIVATIONS.items():
        (g,) = torch.autograd.grad(f(x).sum(), x)
        keep = (x.detach().abs() - 1).abs() > 1e-6  # away from the kinks of relu / hard_tanh
        keep &= x.detach().abs() > 1e-6
        assert torch.allclose(df(x.detach())[keep], g[keep], atol=1e-6), name


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fused_derivative_products_equal_the_plain_product(dtype):
    """act'(a) * e in one kernel (PC_ACT_GRAD_MUL) equals the derivative times e, exactly,
    at the kinks too (relu' and hard_tanh' are 0 at 0 and +-1; leaky relu's slope at 0 is 0.01)."""
    g = torch.Generator().manual_seed(0)
    a = torch.cat([torch.randn(500, generator=g, dtype=dtype) * 2,
                   torch.tensor([0.0, -0.0, 1.0, -1.0, 1e-30, -1e-30], dtype=dtype)])
    e = torch.randn(a.shape, generator=g, dtype=dtype)
    m = PCNMLP((4,), [3] * 6, 2, activation="relu")
    m.pc_act_names = ["relu", "leaky_relu", "hard_tanh", "gelu", "tanh", "sigmoid", "linear"]
    assert set(PC_ACT_GRAD_MUL) < set(PC_ACTIVATIONS) == set(m.pc_act_names)
    for k, name in enumerate(m.pc_act_names, start=1):
        assert torch.equal(m.act_grad_mul(k, a, e), PC_ACTIVATIONS[name][1](a) * e), name


def test_config_rules_for_predictive_coding():
    cfg = load_config(None, ["model.name=pcn_vgg5", "algorithm=pc", "pc.precision=spiking", "train.optimizer=adamw"])
    assert cfg.pc.precision == "spiking"
    with pytest.raises(ConfigError, match="algorithm: pc"):
        load_config(None, ["algorithm=pc"])  # hopfield_mlp is not a PCN
    with pytest.raises(ConfigError, match="pc.steps: applies to algorithm pc only"):
        load_config(None, ["model.name=pcn_vgg5", "pc.steps=4"])
    with pytest.raises(ConfigError, match="model.channels"):
        load_config(None, ["model.name=pcn_vgg7", "model.channels=[1,2,3,4]"])
    with pytest.raises(ConfigError, match="model.activation"):
        load_config(None, ["model.name=pcn_vgg5", "model.activation=clamp"])
    with pytest.raises(ConfigError, match="model.activation"):
        load_config(None, ["model.activation=gelu"])  # a Hopfield node update is a clip
    with pytest.raises(ConfigError, match="model.depth"):
        load_config(None, ["model.name=mupc_resmlp", "model.depth=1"])
    with pytest.raises(ConfigError, match="train.optimizer"):
        load_config(None, ["analog.device=memristor", "analog.pulse_scheme=bitstream", "train.momentum=0",
                           "train.optimizer=adam"])


@pytest.mark.parametrize("batch_stats", [True, False])
def test_batchnorm_transpose_and_parameter_gradients_match_autograd(batch_stats):
    """With BatchNorm on every hidden node (batch statistics couple the samples), the closed-form
    dE/ds and dE/dtheta (gamma and beta included) equal autograd on the energy."""
    g = torch.Generator().manual_seed(0)
    m = PCNVGG("pcn_vgg5", (3, 32, 32), 10, channels=TINY["pcn_vgg5"], generator=g, batchnorm=True).double()
    with torch.no_grad():
        for bn in m.bn.values():
            bn.weight.uniform_(0.5, 1.5, generator=g)
            bn.bias.uniform_(-0.2, 0.2, generator=g)
            bn.running_mean.uniform_(-0.1, 0.1, generator=g)
            bn.running_var.uniform_(0.5, 2.0, generator=g)
    m.train(batch_stats)
    x = torch.randn(6, 3, 32, 32, dtype=torch.float64, generator=g)
    with torch.no_grad():
        s = _perturbed(m.forward_pass(x)[0])
        grads, _ = m.state_grads(x, s)
        got = m.materialize(m.energy_grad_terms(x, s))
    leaf = [t.clone().requires_grad_(True) for t in s]
    ref = torch.autograd.grad(m.energy(x, leaf).sum(), leaf)
    for a, r in zip(grads, ref):
        assert torch.allclose(a, r, atol=1e-9)
    params = m.ep_parameters()
    assert len(params) == len(got) == len(m.edges) + m.num_nodes + 2 * 4
    ref_w = torch.autograd.grad(m.energy(x, s).mean(), params, allow_unused=True)
    for a, r in zip(got, ref_w):
        assert torch.allclose(a, torch.zeros_like(a) if r is None else r, atol=1e-9)


def test_batchnorm_running_statistics_follow_the_freezing_rule():
    """Without freezing every prediction pass of the activity steps moves the running statistics
    (as PCX); with bn_freeze only the weight-update pass does: one update per mini-batch."""
    g = torch.Generator().manual_seed(0)
    m = PCNVGG("pcn_vgg5", (3, 32, 32), 10, channels=TINY["pcn_vgg5"], generator=g, batchnorm=True).double()
    x = torch.randn(6, 3, 32, 32, dtype=torch.float64, generator=g)
    y = torch.nn.functional.one_hot(torch.arange(6) % 10, 10).double()
    bn = m.bn["1"]

    def moved(**kw):
        bn.running_mean.zero_()
        bn.running_var.fill_(1.0)
        pc_gradient(m, x, y, steps=5, lr=0.1, **kw)
        # after u updates with the same batch mean mu: running_mean = (1 - 0.9^u) mu
        with torch.no_grad():
            r = m._reads(1, x, [])
        mu = r.mean((0, 2, 3))
        ratio = (bn.running_mean / mu).mean()
        return round(float(torch.log(1 - ratio) / math.log(0.9)))

    assert moved(bn_freeze=True) == 1
    assert moved(bn_freeze=False) > 5
    assert moved(bn_freeze=True, forward_update=True) == 1


def test_frozen_batchnorm_with_forward_updates_keeps_the_forward_pass_statistics():
    """With forward updates the weight energy uses the forward pass's predictions, so BatchNorm
    freezing takes the running statistics from that pass (Qi et al.'s code runs its learning
    pass from the initial activities): a deep BatchNorm node's running mean after one batch is
    0.1 x the forward pass's batch mean of its reads, not the relaxed states'."""
    g = torch.Generator().manual_seed(0)
    m = PCNVGG("pcn_vgg5", (3, 32, 32), 10, channels=TINY["pcn_vgg5"], generator=g, batchnorm=True).double()
    x = torch.randn(6, 3, 32, 32, dtype=torch.float64, generator=g)
    y = torch.nn.functional.one_hot(torch.arange(6) % 10, 10).double()
    with torch.no_grad():
        s0, _ = m.forward_pass(x)
    for bn in m.bn.values():
        bn.running_mean.zero_()
        bn.running_var.fill_(1.0)
    res = pc_gradient(m, x, y, steps=5, lr=0.5, bn_freeze=True, forward_update=True)
    for k in (2, 3):
        with torch.no_grad():
            fwd_mean = m._reads(k, x, s0).mean((0, 2, 3))
        torch.testing.assert_close(m.bn[str(k)].running_mean, 0.1 * fwd_mean, rtol=1e-12, atol=1e-14)
    assert any(float(gr.abs().max()) > 0 for gr in res.grads)
    # without forward updates the statistics come from the relaxed states, which differ here
    for bn in m.bn.values():
        bn.running_mean.zero_()
        bn.running_var.fill_(1.0)
    pc_gradient(m, x, y, steps=5, lr=0.5, bn_freeze=True)
    with torch.no_grad():
        fwd_mean = m._reads(3, x, s0).mean((0, 2, 3))
    assert not torch.allclose(m.bn["3"].running_mean, 0.1 * fwd_mean, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name,nudge", [("pcn_vgg10skip", "mse"), ("pcn_vgg7", "cross_entropy")])
def test_skipping_nodes_the_nudge_has_not_reached_is_exact(name, nudge):
    m, x, y = _vgg(name, nudge=nudge)
    with torch.no_grad():
        free, _ = m.forward_pass(x)
    for iters in (1, 2, 7):
        a, st_a, en_a = pcn_nudged_phase(m, x, free, 0.05, y, iters, skip_clean=True)
        b, st_b, en_b = pcn_nudged_phase(m, x, free, 0.05, y, iters, skip_clean=False)
        for p, q in zip(a, b):
            assert torch.equal(p, q)
        torch.testing.assert_close(en_a, en_b, rtol=1e-12, atol=1e-15)
        assert torch.equal(st_a.residual, st_b.residual)
    m2 = MuPCResMLP((1, 8, 8), 8, 7, 10, generator=torch.Generator().manual_seed(0)).double()
    x2 = torch.randn(4, 1, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    y2 = torch.nn.functional.one_hot(torch.arange(4), 10).double()
    with torch.no_grad():
        f2, _ = m2.forward_pass(x2)
    a, _, _ = pcn_nudged_phase(m2, x2, f2, 0.1, y2, 3, skip_clean=True)
    b, _, _ = pcn_nudged_phase(m2, x2, f2, 0.1, y2, 3, skip_clean=False)
    for p, q in zip(a, b):
        assert torch.equal(p, q)


@pytest.mark.parametrize("case", ["mupc", "vgg10skip_ce_spiking", "vgg5_bn", "vgg5_bn_freeze_forward"])
def test_pc_skipping_nodes_the_error_has_not_reached_is_exact(case):
    """pc_gradient's wavefront skip against recomputing every node on every step: the same
    gradients, energy trace, residual and BatchNorm running statistics, for T below and above
    the number of layers."""
    kw = {}
    if case == "mupc":
        g = torch.Generator().manual_seed(0)
        m = MuPCResMLP((1, 8, 8), 8, 9, 10, generator=g).double()
        m.nudge = "mse"
        x = torch.randn(4, 1, 8, 8, dtype=torch.float64, generator=g)
        y = torch.nn.functional.one_hot(torch.arange(4), 10).double()
        kw = dict(momentum=0.5)
    elif case == "vgg10skip_ce_spiking":
        m, x, y = _vgg("pcn_vgg10skip", nudge="cross_entropy")
        kw = dict(precision="spiking", alpha=0.01, momentum=0.9, nesterov=True)
    else:
        g = torch.Generator().manual_seed(0)
        m = PCNVGG("pcn_vgg5", (3, 32, 32), 10, channels=TINY["pcn_vgg5"], generator=g, batchnorm=True).double()
        m.nudge = "mse"
        x = torch.randn(6, 3, 32, 32, dtype=torch.float64, generator=g)
        y = torch.nn.functional.one_hot(torch.arange(6) % 10, 10).double()
        if case == "vgg5_bn_freeze_forward":
            kw = dict(bn_freeze=True, forward_update=True, precision="decaying")
    for T in (1, 3, m.num_nodes + 2):
        runs = []
        for skip in (True, False):
            for bn in m.bn.values():
                bn.running_mean.zero_()
                bn.running_var.fill_(1.0)
            r = pc_gradient(m, x, y, steps=T, lr=0.2, skip_clean=skip, **kw)
            runs.append((r, [t.clone() for bn in m.bn.values() for t in (bn.running_mean, bn.running_var)]))
        (a, bn_a), (b, bn_b) = runs
        for p, q in zip(a.grads, b.grads):
            torch.testing.assert_close(p, q, rtol=1e-13, atol=1e-15)
        torch.testing.assert_close(a.energy, b.energy, rtol=1e-13, atol=1e-15)
        torch.testing.assert_close(a.stats["pc"].residual, b.stats["pc"].residual, rtol=1e-13, atol=1e-15)
        for p, q in zip(bn_a, bn_b):
            torch.testing.assert_close(p, q, rtol=1e-13, atol=1e-15)
        assert any(float(gr.abs().max()) > 0 for gr in a.grads)


def test_configs_written_before_depth_became_optional_still_load():
    """Runs written before this change store model.depth: 11 for every model; they must load
    (resume, runs tables) while a deliberate depth on a model without one is still refused."""
    assert load_config(None, ["model.depth=11"]).model.depth == 11
    assert load_config(None, ["model.name=dchn_vgg5", "model.depth=11"]).model.name == "dchn_vgg5"
    with pytest.raises(ConfigError, match="model.depth"):
        load_config(None, ["model.depth=13"])


def test_fused_bias_read_equals_the_read_plus_the_bias():
    """A node with one input edge reads ``read(pre) + b`` in one product (addmm) on a digital
    storage: the same value as the read and the addition, with a read dtype (bf16) too, and the
    model's pre-activation equals the unfused path's (``record`` takes the plain reads)."""
    from analog_ep.synapses.dense import Dense

    g = torch.Generator().manual_seed(0)
    d = Dense((7,), 5, generator=g).double()
    x = torch.randn(3, 7, dtype=torch.float64, generator=g)
    b = torch.randn(5, dtype=torch.float64, generator=g)
    torch.testing.assert_close(d.read_bias(x, b), d.read(x) + b, rtol=1e-14, atol=1e-15)
    d.storage.read_dtype = torch.bfloat16
    assert torch.equal(d.read_bias(x, b), d.read(x) + b)
    m = PCNMLP((1, 4, 4), [6, 5], 10, generator=torch.Generator().manual_seed(1)).double()
    xs = torch.randn(4, 1, 4, 4, dtype=torch.float64, generator=g)
    with torch.no_grad():
        s, a = m.forward_pass(xs)
        for k in range(1, m.num_nodes + 1):
            plain = m._reads(k, xs, s, record=[]) + m.biases[k - 1]
            torch.testing.assert_close(a[k - 1], plain, rtol=1e-13, atol=1e-14)
            torch.testing.assert_close(m.preact(k, xs, s), plain, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("case", ["vgg5_bn_centered", "vgg10skip_ce_one_sided", "mupc_negative"])
def test_pcn_ep_reuses_the_phases_reads_exactly(case):
    """EP on a PCN starts each nudged phase from the forward pass's reads and takes the weight
    gradient from each phase's last reads: the same gradient as reading every node again at
    the phases' states (the generic phase_estimate)."""
    from analog_ep.algorithms.ep import nudge_betas, phase_estimate

    if case == "vgg5_bn_centered":
        g = torch.Generator().manual_seed(0)
        m = PCNVGG("pcn_vgg5", (3, 32, 32), 10, channels=TINY["pcn_vgg5"], generator=g, batchnorm=True).double()
        m.nudge = "mse"
        x = torch.randn(6, 3, 32, 32, dtype=torch.float64, generator=g)
        y = torch.nn.functional.one_hot(torch.arange(6) % 10, 10).double()
        est = "centered"
    elif case == "vgg10skip_ce_one_sided":
        m, x, y = _vgg("pcn_vgg10skip", nudge="cross_entropy")
        est = "one_sided"
    else:
        m = MuPCResMLP((1, 8, 8), 8, 7, 10, generator=torch.Generator().manual_seed(0)).double()
        m.nudge = "mse"
        x = torch.randn(4, 1, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
        y = torch.nn.functional.one_hot(torch.arange(4), 10).double()
        est = "negative"
    res = pcn_ep_gradient(m, x, y, beta=0.05, estimator=est, nudge_iters=4)
    betas = nudge_betas(est, 0.05, None)
    # the phases started from the forward pass's reads reach the states of phases that read again
    for bt, s_res in zip(betas, res.nudged):
        s_ref, _, _ = pcn_nudged_phase(m, x, res.free, bt, y, 4)
        for p, q in zip(s_res, s_ref):
            torch.testing.assert_close(p, q, rtol=1e-12, atol=1e-14)
    ref, _ = phase_estimate(m, x, y, res.free, res.nudged, betas)
    for p, q in zip(res.grads, ref):
        torch.testing.assert_close(p, q, rtol=1e-10, atol=1e-13)
    assert any(float(p.abs().max()) > 0 for p in res.grads)


def test_pcn_solver_reports_like_the_hopfield_solvers():
    """The registered PCN relaxation reports steps (the first traversal whose change was below
    ``tol``), converged flags, the residual and a per-traversal residual trace as the Hopfield
    solvers do; it runs all ``iters`` traversals (K), so the states equal those of a phase with
    ``tol`` 0."""
    from analog_ep.solvers import get_solver

    m, x, y = _vgg("pcn_vgg5")
    assert get_solver("async", "pcn") is relax_pcn
    with pytest.raises(ConfigError, match="does not relax a pcn energy; valid for this model: async"):
        get_solver("sync", "pcn")
    with torch.no_grad():
        free, _ = m.forward_pass(x)
    s, st = relax_pcn(m, x, free, beta=0.02, target=y, iters=60, tol=1e-9)
    assert st.sweeps == 60 and st.trace.shape == (60,) and bool(st.converged.all())
    assert 1 < int(st.steps.max()) < 60 and float(st.trace[0]) > 1e-9
    # the batch's trace falls below tol once every sample has: never before its slowest sample
    first = int(torch.nonzero(st.trace < 1e-9)[0]) + 1
    assert first >= int(st.steps.max()) and torch.equal(st.trace[-1], st.residual.max())
    ref, st_ref = relax_pcn(m, x, free, beta=0.02, target=y, iters=60, tol=0.0)
    for p, q in zip(s, ref):
        assert torch.equal(p, q)
    assert not bool(st_ref.converged.any()) and torch.equal(st.trace, st_ref.trace)
