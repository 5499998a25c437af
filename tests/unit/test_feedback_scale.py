"""``model.feedback_scale`` (eps): the Hopfield energy with node weights mu_k = eps^(k-1)
(every feedback read scaled by eps per hop). References: a plain loop of the weighted energy's
block minimiser (written here, as in benchmarks/model_defaults_crnn_s15/fb_probe.py), the energy's
monotone descent under exact block minimisation, the feed-forward twin as eps -> 0, and the
implicit gradient of the weighted energy's objective (gradcheck)."""

import pytest
import torch

from conftest import CRNN_PAPER, tiny_mlp
from analog_ep.algorithms.ep import ep_gradient
from analog_ep.algorithms.gradcheck import gradcheck
from analog_ep.algorithms.rbp import adjoint_gradient
from analog_ep.config import load_config
from analog_ep.config.relaxations import with_algorithm
from analog_ep.data import load_data
from analog_ep.errors import ConfigError
from analog_ep.solvers import relax_async
from analog_ep.train.build import build_model

TINY = [*CRNN_PAPER, "model.name=vgg_crnn", "model.channels=[2,2,3,3,3]", "model.aux_nodes=[3,6]", "data.name=synthetic",
        "data.shape=[1,32,32]", "data.num_classes=3", "data.train_size=16", "data.test_size=8",
        "ep.nudge=cross_entropy", "model.gains=[" + ",".join(["2"] * 11) + "]"]


def _crnn(eps, dtype=torch.float64, extra=()):
    cfg = load_config(None, TINY + [f"model.feedback_scale={eps}", *extra])
    train, _, info = load_data(cfg.data, 0)
    default = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        m = build_model(cfg, info.shape, 3)
    finally:
        torch.set_default_dtype(default)
    with torch.no_grad():  # non-zero biases: no unit sits exactly on its clamp kink
        for b in m.biases:
            b.uniform_(-0.1, 0.3, generator=torch.Generator().manual_seed(0))
    x = train.x[:3].to(dtype)
    y = torch.nn.functional.one_hot(train.y[:3], 3).to(dtype)
    return m, x, y


def _mlp(eps):
    m, x, y = tiny_mlp(hidden=(6, 5, 4), gain=2.0)
    m.configure(nudge="mse", colouring="greedy", feedback_scale=eps)
    return m, x, y


def _plain_drive(m, eps, k, x, s):
    """h_k = b_k + sum_in read(s_pre) + sum_out eps^(post - k) read_t(s_post) (readout excluded)."""
    L = m.num_nodes
    h = m.biases[k - 1]
    for e in m._in_edges[k - 1]:
        h = h + e.synapse.read(x if e.pre == 0 else s[e.pre - 1])
    for e in m._out_edges[k - 1]:
        if e.post == L and m.readout:
            continue
        r = e.synapse.read_t(s[e.post - 1], s[k - 1])
        h = h + (r if eps == 1.0 else eps ** (e.post - k) * r)
    return h


def _plain_relax(m, eps, x, sweeps):
    """Odd-then-even exact block minimisation of the weighted energy, a plain loop."""
    L = m.num_nodes
    s = m.zero_state(x.shape[0], x)
    order = [k for k in range(1, L + 1) if k % 2 == 1] + [k for k in range(1, L + 1) if k % 2 == 0]
    for _ in range(sweeps):
        for k in order:
            s[k - 1] = m.node_update(k, _plain_drive(m, eps, k, x, s))
    return s


def _free(m, x, iters=4000, tol=1e-13):
    with torch.no_grad():
        s, st = relax_async(m, m.const_drive(x), m.zero_state(x.shape[0], x), iters=iters, tol=tol)
    return s, st


@pytest.mark.parametrize("make", [_crnn, _mlp])
def test_eps_one_is_the_plain_energy_bit_for_bit(make):
    """At eps 1 the drive, the free phase and EP's estimate are those of the unweighted energy
    (the plain loop without any eps product), bit for bit; the scales are exactly 1."""
    m, x, y = make(1.0)
    assert set(m.ep_grad_scales()) == {1.0}
    with torch.no_grad():
        s, _ = relax_async(m, m.const_drive(x), m.zero_state(x.shape[0], x), iters=7, tol=0.0)
        ref = _plain_relax(m, 1.0, x, 7)
    for a, b in zip(s, ref):
        assert torch.equal(a, b)


MAIN_REF = {  # main at 5a977b5 (before model.feedback_scale existed), the same calls; on this machine
    # the branch at eps 1 reproduced main's states, nudged states and estimate bit for bit (torch.equal)
    "crnn": [6.155331136983204, 248.22420537561024, 107.14535947762627, 3623.7766913075875],
    "mlp": [5.223633631545384, 17.53773633699202, 9.018602661992556, 101.96600812449762],
}


@pytest.mark.parametrize("aux_weight", ["local", "objective"])
@pytest.mark.parametrize("name,make", [("crnn", _crnn), ("mlp", _mlp)])
def test_eps_one_matches_main_reference_values(name, make, aux_weight):
    """Regression against main's values for these tiny models (float64): free output and node 2,
    centered EP estimate at beta 0.1 (sum of |grads|) and both nudged phases' states; at eps 1
    both ``model.aux_weight`` choices give them."""
    m, x, y = make(1.0)
    m.configure(nudge=m.nudge, colouring=m.colouring_method, aux_weight=aux_weight)
    if m.aux_nodes:
        m.aux_kappa = 0.7
    with torch.no_grad():
        free, _ = relax_async(m, m.const_drive(x), m.zero_state(x.shape[0], x), iters=60, tol=0.0)
    res = ep_gradient(m, x, y, free, relax_async, beta=0.1, estimator="centered", free_iters=60, nudge_iters=40,
                      tol=0.0)
    got = [float(free[-1].sum()), float(free[1].sum()), float(sum(g.abs().sum() for g in res.grads)),
           float(sum(t.sum() for p in res.nudged for t in p))]
    assert got == pytest.approx(MAIN_REF[name], rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("make", [_crnn, _mlp])
def test_free_fixed_point_is_the_weighted_block_minimiser(make):
    m, x, _ = make(0.1)
    s, st = _free(m, x)
    assert bool(st.converged.all())
    with torch.no_grad():
        ref = _plain_relax(m, 0.1, x, 400)
    for a, b in zip(s, ref):
        assert (a - b).abs().max().item() < 1e-6
    # and it is not the eps-1 fixed point (the test can fail)
    with torch.no_grad():
        one = _plain_relax(m, 1.0, x, 400)
    assert max((a - b).abs().max().item() for a, b in zip(s, one)) > 1e-3


@pytest.mark.parametrize("make", [_crnn, _mlp])
def test_weighted_energy_does_not_increase_per_sweep(make):
    m, x, _ = make(0.1)
    s = m.zero_state(x.shape[0], x)
    energies = []
    with torch.no_grad():
        const = m.const_drive(x)
        for _ in range(30):
            s, _ = relax_async(m, const, s, iters=1, tol=0.0)
            energies.append(m.energy(x, s))
    e = torch.stack(energies)
    assert bool(((e[1:] - e[:-1]) <= 1e-12 * e.abs()[:-1].clamp_min(1.0)).all())
    assert bool((e[-1] < e[0]).any())
    # the block update is the minimiser: perturbing the fixed point raises the weighted energy
    s, _ = _free(m, x)
    with torch.no_grad():
        e0 = m.energy(x, s)
        g = torch.Generator().manual_seed(1)
        for k in range(1, m.num_nodes):
            t = [v.clone() for v in s]
            t[k - 1] = m.activations[k - 1](t[k - 1] + 1e-3 * torch.randn(t[k - 1].shape, generator=g, dtype=x.dtype))
            assert bool((m.energy(x, t) >= e0 - 1e-12).all())


@pytest.mark.parametrize("make", [_crnn, _mlp])
def test_small_eps_approaches_the_feed_forward_states(make):
    m, x, _ = make(1e-4)
    s, _ = _free(m, x)
    with torch.no_grad():
        ff = m.ff_states(x)
    m.configure(nudge=m.nudge, colouring=m.colouring_method, feedback_scale=1.0)
    one, _ = _free(m, x)
    gap = max((a - b).abs().max().item() for a, b in zip(s, ff))
    assert gap < 1e-3
    assert max((a - b).abs().max().item() for a, b in zip(one, ff)) > 10 * gap


@pytest.mark.parametrize("eps,update", [(0.1, "local"), (0.3, "gradient")])
@pytest.mark.parametrize("make", [_crnn, _mlp])
def test_gradcheck_at_eps_below_one(make, eps, update):
    """EP's estimate on the weighted energy against the implicit gradient of its objective
    (rescaled per layer as the update is under ``local``; the objective's own gradient under
    ``model.feedback_update: gradient``), float64, small beta: cosine > 0.99 per layer; RBP's
    adjoint gives the same."""
    m, x, y = make(eps)
    if m.aux_nodes:
        m.aux_kappa = 0.7
    _set_update(m, update)
    rep = gradcheck(m, x, y, relax_async, [1e-3], "centered", iters=4000, tol=1e-13)
    assert rep["free_converged_fraction"] == 1.0
    for row in rep["layers"]:
        assert row["saturation_changes"] == 0
        assert row["cosine"] > 0.99, row
        assert row["rel_error"] < 2e-2, row
    # RBP's adjoint on the same energy gives the same (rescaled) gradient
    free, _ = _free(m, x)
    grads, _, _ = adjoint_gradient(m, x, y, free, iters=3000, rtol=1e-12)
    res = ep_gradient(m, x, y, free, relax_async, beta=1e-3, estimator="centered", free_iters=4000,
                      nudge_iters=4000, tol=1e-13)
    for a, b in zip(grads, res.grads):
        assert (a - b).norm().item() <= 2e-2 * max(a.norm().item(), 1e-12)


def test_gradcheck_reference_is_not_the_unweighted_objective():
    """Without the per-layer scales the reference differs from EP's estimate (the test above can fail)."""
    m, x, y = _mlp(0.1)
    assert min(m.ep_grad_scales()) < 0.5 or max(m.ep_grad_scales()) > 2


@pytest.mark.parametrize("value", ["0", "-0.5", "1.5"])
def test_bad_feedback_scale_is_one_line(value):
    with pytest.raises(ConfigError, match=r"model.feedback_scale: must be in \(0, 1\]"):
        load_config(None, ["model.name=vgg_crnn", f"model.feedback_scale={value}"])


def test_feedback_scale_refused_where_it_does_not_apply():
    with pytest.raises(ConfigError, match="model.feedback_scale: weights the Hopfield energy"):
        load_config(None, ["model.name=pcn_mlp", "model.feedback_scale=0.5"])
    for name in ("hopfield_mlp", "dchn_vgg5", "hopfield_resnet13", "vgg_crnn"):
        assert load_config(None, [f"model.name={name}", "model.feedback_scale=0.5"]).model.feedback_scale == 0.5


def test_the_bp_twin_refuses_it_and_its_compare_variant_runs_the_plain_pass():
    """bp has no energy: eps set for it is refused (one line naming the key); the config a
    compare / cost bp variant is derived with (``with_algorithm``) resets eps to 1, rbp keeps it."""
    with pytest.raises(ConfigError, match=r"^model\.feedback_scale: belongs to the energy .*algorithm bp"):
        load_config(None, ["model.feedback_scale=0.5", "algorithm=bp"])
    cfg = load_config(None, ["model.feedback_scale=0.5"])
    assert with_algorithm(cfg, "bp").model.feedback_scale == 1.0
    assert with_algorithm(cfg, "rbp").model.feedback_scale == 0.5
    load_config(None, ["model.feedback_scale=0.5", "algorithm=rbp"])


# ------------------------------------------------------------------ model.feedback_update: gradient
def _set_update(m, mode):
    m.configure(nudge=m.nudge, colouring=m.colouring_method, feedback_scale=m.feedback_scale, feedback_update=mode)


@pytest.mark.parametrize("make", [_crnn, _mlp])
def test_gradient_update_is_the_local_update_times_the_inverse_layer_factors(make):
    """``gradient`` multiplies each parameter's local EP term by mu_theta / mu_C, i.e. divides it by
    ``local_grad_scales``; the same phases, so the two estimates differ by exactly those factors."""
    m, x, y = make(0.3)
    if m.aux_nodes:
        m.aux_kappa = 0.7
    free, _ = _free(m, x)
    kw = dict(beta=1e-2, estimator="centered", free_iters=4000, nudge_iters=4000, tol=1e-13)
    local = ep_gradient(m, x, y, free, relax_async, **kw).grads
    _set_update(m, "gradient")
    grad = ep_gradient(m, x, y, free, relax_async, **kw).grads
    scales = m.local_grad_scales()
    assert min(scales) < 0.1  # the factors are far from 1: the test can fail
    assert m.ep_grad_scales() == [1.0] * len(scales)
    for a, b, s in zip(local, grad, scales):
        torch.testing.assert_close(b, a / s, rtol=1e-7, atol=1e-12 * float(a.abs().max() / s))


def test_gradient_update_tends_to_the_twins_backprop_gradient_as_eps_falls():
    """Xie & Seung (2003): with feedback eps -> 0 and layer rates eps^(k-C), the contrastive update
    is backprop's. The MLP's EP update under ``gradient`` against the feed-forward twin's autograd
    gradient (same weights, MSE cost): relative error falls with eps (first order in eps), below 2e-2
    at eps 1e-3, and is large at eps 1 (the plain energy's equilibrium is not the twin's pass).
    Beta 1e-4: the first layer's nudge, beta eps^3, must stay well above float64's resolution."""
    from analog_ep.algorithms.bp import bp_gradient

    errors = {}
    for eps in (1.0, 1e-2, 1e-3):
        m, x, y = _mlp(eps)
        _set_update(m, "gradient")
        bp, _, _ = bp_gradient(m, x, y)
        free, _ = _free(m, x)
        res = ep_gradient(m, x, y, free, relax_async, beta=1e-4, estimator="centered", free_iters=4000,
                          nudge_iters=4000, tol=1e-15)
        num = sum(((a - b) ** 2).sum() for a, b in zip(res.grads, bp)) ** 0.5
        errors[eps] = float(num / sum((b ** 2).sum() for b in bp) ** 0.5)
    assert errors[1e-3] < 2e-2, errors
    assert errors[1e-2] < errors[1.0] and errors[1e-3] < errors[1e-2] / 5, errors
    assert errors[1.0] > 0.1, errors


def test_feedback_update_config():
    """A one-line error where it does not apply (a PCN; the bp twin); the compare / cost bp variant
    resets it with eps; the run builds a model that carries it."""
    with pytest.raises(ConfigError, match="^model.feedback_update: sets EP's update under model.feedback_scale, .*leave it at 'local'"):
        load_config(None, ["model.name=pcn_mlp", "model.feedback_update=gradient"])
    with pytest.raises(ConfigError, match=r"^model\.feedback_update: belongs to the energy .*algorithm bp"):
        load_config(None, ["model.feedback_update=gradient", "algorithm=bp"])
    with pytest.raises(ConfigError, match="model.feedback_update"):
        load_config(None, ["model.feedback_update=global"])
    cfg = load_config(None, TINY + ["model.feedback_scale=0.5", "model.feedback_update=gradient"])
    assert with_algorithm(cfg, "bp").model.feedback_update == "local"
    _, _, info = load_data(cfg.data, 0)
    m = build_model(cfg, info.shape, 3)
    assert m.feedback_update == "gradient" and m.ep_grad_scales() == [1.0] * len(m.ep_parameters())


# ------------------------------------------------------------------ model.aux_weight: objective
def _set_aux(m, eps, aux_weight, update="gradient"):
    m.configure(nudge=m.nudge, colouring=m.colouring_method, feedback_scale=eps, feedback_update=update,
                aux_weight=aux_weight)


def _mlp_aux(eps, aux_weight):
    """The MSE Hopfield MLP (nodes 1-3 hidden, cost node 4) with an auxiliary readout on node 2."""
    from analog_ep.synapses import Dense

    m, x, y = _mlp(eps)
    m.add_aux_readout(2, Dense(m.node_shapes[1], 3, 1.0, torch.Generator().manual_seed(1)).double())
    m.aux_kappa = 0.7
    _set_aux(m, eps, aux_weight)
    return m, x, y


def test_objective_aux_weight_closed_forms():
    """The aux readout's nudge of node k and its weight in the objective, by hand: under ``local``
    node k gets beta kappa W^T (y - p) and the objective weights CE_k by eps^(k-C); under
    ``objective`` node k gets beta kappa eps^(C-k) W^T (y - p) and the objective is the twin's,
    cost + kappa CE_k."""
    eps, beta, k, C = 0.3, 0.2, 2, 4
    for aux_weight, nudge_gain, ce_weight in (("local", 1.0, eps ** (k - C)), ("objective", eps ** (C - k), 1.0)):
        m, x, y = _mlp_aux(eps, aux_weight)
        free, _ = _free(m, x)
        syn, b = m.aux_readouts[0], m.aux_biases[0]
        p = torch.softmax(syn.read(free[k - 1]) + b, dim=1)
        kappa = m.aux_kappa
        m.aux_kappa = 0.0
        bare = m.drive(k, free, m.const_drive(x), beta, y)
        m.aux_kappa = kappa
        want = bare + beta * kappa * nudge_gain * syn.read_t(y - p, free[k - 1])
        torch.testing.assert_close(m.drive(k, free, m.const_drive(x), beta, y), want, rtol=1e-12, atol=1e-14)
        ce = -(y * torch.log_softmax(syn.read(free[k - 1]) + b, dim=1)).sum(1)
        torch.testing.assert_close(m.total_cost(free, y), m.cost(free[-1], y) + kappa * ce_weight * ce,
                                   rtol=1e-12, atol=1e-14)


def test_gradcheck_under_the_objective_aux_weight():
    """EP's estimate on vgg_crnn (aux readouts on nodes 3 and 6, eps 0.3, the layer-scaled update)
    against the implicit gradient of the twin's objective, float64, small beta: cosine > 0.9999 and
    relative error < 1e-4 per layer (about 4e-6 measured), aux readouts included."""
    m, x, y = _crnn(0.3)
    m.aux_kappa = 0.7
    _set_aux(m, 0.3, "objective")
    assert m.ep_grad_scales() == [1.0] * len(m.ep_parameters())
    rep = gradcheck(m, x, y, relax_async, [1e-3], "centered", iters=4000, tol=1e-13)
    assert rep["free_converged_fraction"] == 1.0
    assert sum(row["name"].startswith("aux") for row in rep["layers"]) == 2
    for row in rep["layers"]:
        assert row["saturation_changes"] == 0
        assert row["cosine"] > 0.9999, row
        assert row["rel_error"] < 1e-4, row


def test_objective_aux_weight_tends_to_the_twins_backprop_gradient_as_eps_falls():
    """With an auxiliary readout, the layer-scaled update tends to the twin's gradient of cost +
    kappa CE_aux (autograd through the feed-forward pass at eps 1) under ``objective``; under
    ``local`` it does not (the objective weights CE_aux by eps^(k-C)): the test can fail."""
    from analog_ep.algorithms.bp import bp_gradient

    errors = {}
    for aux_weight in ("objective", "local"):
        for eps in (1e-2, 1e-3):
            m, x, y = _mlp_aux(eps, aux_weight)
            _set_aux(m, 1.0, aux_weight)
            bp, _, _ = bp_gradient(m, x, y)  # the twin: plain pass, CE_aux weighted kappa
            _set_aux(m, eps, aux_weight)
            free, _ = _free(m, x)
            res = ep_gradient(m, x, y, free, relax_async, beta=1e-4, estimator="centered", free_iters=4000,
                              nudge_iters=4000, tol=1e-15)
            num = sum(((a - b) ** 2).sum() for a, b in zip(res.grads, bp)) ** 0.5
            errors[aux_weight, eps] = float(num / sum((b ** 2).sum() for b in bp) ** 0.5)
    assert errors["objective", 1e-3] < 2e-2, errors
    assert errors["objective", 1e-3] < errors["objective", 1e-2] / 5, errors
    assert errors["local", 1e-3] > 0.5, errors


def test_aux_weight_config():
    """One line where it does not apply (a model without aux readouts; the bp twin); the compare /
    cost bp variant resets it; the run builds a model that carries it."""
    with pytest.raises(ConfigError, match="^model.aux_weight: weights the auxiliary readouts .*leave it at 'local'"):
        load_config(None, ["model.name=hopfield_mlp", "model.aux_weight=objective"])
    with pytest.raises(ConfigError, match=r"^model\.aux_weight: belongs to the energy .*algorithm bp"):
        load_config(None, ["model.name=vgg_crnn", "model.aux_weight=objective", "algorithm=bp"])
    with pytest.raises(ConfigError, match="model.aux_weight"):
        load_config(None, ["model.name=vgg_crnn", "model.aux_weight=global"])
    cfg = load_config(None, TINY + ["model.feedback_scale=0.5", "model.aux_weight=objective"])
    assert with_algorithm(cfg, "bp").model.aux_weight == "local"
    assert with_algorithm(cfg, "rbp").model.aux_weight == "objective"
    assert load_config(None, TINY + ["model.aux_weight=objective", "algorithm=rbp"]).model.aux_weight == "objective"
    _, _, info = load_data(cfg.data, 0)
    m = build_model(cfg, info.shape, 3)
    assert m.aux_weight == "objective"
    assert m.local_grad_scales()[-4:] == [1.0] * 4  # the aux readouts' terms carry the cost's weight


def test_configure_keeps_the_energy_keys_it_is_not_given():
    """A reconfigure that names only the nudge and colouring keeps the feedback scale, the update
    and the aux weight (before, each call reset them to 1 / local / local); a new model has those."""
    m, _, _ = _crnn(0.3)
    assert (m.feedback_scale, m.feedback_update, m.aux_weight) == (0.3, "local", "local")
    _set_aux(m, 0.3, "objective")
    m.configure(nudge=m.nudge, colouring=m.colouring_method)
    assert (m.feedback_scale, m.feedback_update, m.aux_weight) == (0.3, "gradient", "objective")
    fresh, _, _ = tiny_mlp()
    assert (fresh.feedback_scale, fresh.feedback_update, fresh.aux_weight) == (1.0, "local", "local")
