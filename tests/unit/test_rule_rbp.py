"""``algorithm: rbp`` (recurrent backpropagation, analog_ep/algorithms/rbp.py): the adjoint fixed
point iterated on the device gives the exact gradient at the free fixed point. References: the
GMRES solution of the same adjoint system (implicit_gradient, itself checked against finite
differences in test_ep_gradient.py), EP's centered estimate as beta -> 0 (Scellier & Bengio
2017), and plain SGD's update -lr g."""

import math

import pytest
import torch
from typer.testing import CliRunner

from conftest import CRNN_PAPER, DCHN_PAPER, tiny_mlp
from analog_ep.algorithms import rules as R
from analog_ep.algorithms.ep import ep_gradient
from analog_ep.algorithms.gradcheck import saturation_changes
from analog_ep.algorithms.implicit import implicit_gradient
from analog_ep.algorithms.rbp import adjoint_gradient, rbp_gradient
from analog_ep.cli import app
from analog_ep.config import load_config
from analog_ep.data import load_data
from analog_ep.errors import ConfigError
from analog_ep.solvers import relax_async
from analog_ep.train import make_trainer
from analog_ep.train.build import build_model

TIGHT = dict(iters=5000, rtol=1e-13)


def _rel(a, b):
    num = math.sqrt(sum(((u - v) ** 2).sum().item() for u, v in zip(a, b)))
    den = math.sqrt(sum((v ** 2).sum().item() for v in b))
    return num / den


def _cos(a, b):
    u = torch.cat([t.reshape(-1) for t in a])
    v = torch.cat([t.reshape(-1) for t in b])
    return float(u @ v / (u.norm() * v.norm()))


def _free(m, x):
    s, st = relax_async(m, m.const_drive(x), m.zero_state(x.shape[0], x), iters=5000, tol=1e-14)
    assert st.converged.all()
    return s


def _built(overrides, seed=0, n=2):
    """A float64 model from a config and ``n`` images of its synthetic data set, one-hot targets."""
    cfg = load_config(None, overrides)
    train, _, info = load_data(cfg.data, seed)
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        m = build_model(cfg, info.shape, info.num_classes)
    finally:
        torch.set_default_dtype(default)
    x = train.x[:n].double()
    y = torch.nn.functional.one_hot(train.y[:n], info.num_classes).double()
    return m, x, y


def _dchn():
    """test_convnets' tiny DCHN VGG5 (channels 3-4-4-5, 16x16, the published gains)."""
    return _built(["seed=3", "model.name=dchn_vgg5", "model.channels=[3,4,4,5]", "data.name=synthetic",
                   "data.shape=[1,16,16]", "data.num_classes=3", "data.train_size=8", "data.test_size=4",
                   *DCHN_PAPER, "model.gains=[0.4,0.7,0.6,0.3,0.4]"], seed=3)


def _crnn():
    """test_vgg_crnn's tiny VGG-11 with auxiliary readouts on nodes 3 and 6 (kappa 0.7) and soft
    auxiliary targets: the objective is the output cost plus the readouts' cross-entropies."""
    m, x, y = _built([*CRNN_PAPER, "model.name=vgg_crnn", "model.channels=[2,2,3,3,3]", "model.aux_nodes=[3,6]",
                      "data.name=synthetic", "data.shape=[1,32,32]", "data.num_classes=3", "data.train_size=16",
                      "data.test_size=8", "model.gains=[" + ",".join(["1.5"] * 11) + "]"])
    with torch.no_grad():  # non-zero biases: no unit sits exactly on its clamp kink
        for b in m.biases:
            b.uniform_(-0.1, 0.3, generator=torch.Generator().manual_seed(0))
    m.aux_kappa = 0.7
    y_aux = 0.5 * y + 0.5 * torch.softmax(torch.randn(2, 3, generator=torch.Generator().manual_seed(0),
                                                      dtype=torch.float64), 1)
    return m, x, (y, y_aux)


MODELS = {"hopfield_mlp": tiny_mlp, "dchn_vgg5": _dchn, "vgg_crnn": _crnn}


@pytest.mark.parametrize("name", list(MODELS))
def test_adjoint_iteration_equals_gmres_gradient(name):
    m, x, y = MODELS[name]()
    free = _free(m, x)
    exact, info = implicit_gradient(m, x, y, free)
    assert info["adjoint_residual"] < 1e-10
    grads, st, lam = adjoint_gradient(m, x, y, free, **TIGHT)
    assert bool(st.converged.all()) and st.sweeps < TIGHT["iters"]
    assert _rel(grads, exact) < 1e-6
    for g, e in zip(grads, exact):  # every tensor, readouts and biases included
        assert (g - e).norm().item() <= 1e-6 * max(e.norm().item(), 1e-12) + 1e-14
    if name == "vgg_crnn":  # the auxiliary readouts' explicit gradients are part of it
        aux = m.ep_parameters()[-2 * len(m.aux_nodes):]
        assert all(grads[len(grads) - len(aux) + i].abs().sum() > 0 for i in range(len(aux)))


@pytest.mark.parametrize("name", ["hopfield_mlp", "dchn_vgg5"])
def test_centered_ep_tends_to_rbp_as_beta_falls(name):
    m, x, y = MODELS[name]()
    free = _free(m, x)
    grads, _, _ = adjoint_gradient(m, x, y, free, **TIGHT)
    errs = []
    for beta in (0.01, 0.005, 0.0025):
        res = ep_gradient(m, x, y, free, relax_async, beta=beta, estimator="centered", free_iters=5000,
                          nudge_iters=5000, tol=1e-14)
        assert saturation_changes(m, free, res.nudged) == 0  # no unit crosses a kink: EP is O(beta^2)
        errs.append(_rel(res.grads, grads))
        assert _cos(res.grads, grads) >= 0.999
    assert errs[0] > errs[1] > errs[2], errs
    # O(beta^2): halving beta divides the error by about 4
    assert all(2.5 < a / b < 5.5 for a, b in zip(errs, errs[1:])), errs


def test_relative_stop_checks_every_check_every_and_budget_caps():
    m, x, y = tiny_mlp()
    free = _free(m, x)
    _, st, _ = adjoint_gradient(m, x, y, free, iters=5000, rtol=1e-8, check_every=7)
    assert bool(st.converged.all()) and st.sweeps % 7 == 0 and st.sweeps < 5000
    # a budget of 3 iterations: the output's error has reached 2 layers back, not converged
    g3, st3, lam3 = adjoint_gradient(m, x, y, free, iters=3, rtol=1e-8)
    assert st3.sweeps == 3 and not bool(st3.converged.any())
    assert all(t.abs().sum() > 0 for t in lam3)
    # rtol 0: the whole budget, no early stop
    _, st0, _ = adjoint_gradient(m, x, y, free, iters=40, rtol=0.0)
    assert st0.sweeps == 40


def test_rbp_gradient_runs_eps_free_phase_then_the_adjoint():
    """The free phase is EP's (same solver call from the same start: the same fixed point), the
    phases are reported as ``free`` and ``adjoint``, and the gradient is the exact one."""
    m, x, y = tiny_mlp()
    init = m.zero_state(x.shape[0], x)
    res = rbp_gradient(m, x, y, init, relax_async, free_iters=5000, tol=1e-14, **TIGHT)
    ep = ep_gradient(m, x, y, init, relax_async, beta=0.01, estimator="centered", free_iters=5000, nudge_iters=1,
                     tol=1e-14)
    for a, b in zip(res.free, ep.free):
        assert torch.equal(a, b)
    assert set(res.stats) == {"free", "adjoint"}
    exact, _ = implicit_gradient(m, x, y, res.free)
    assert _rel(res.grads, exact) < 1e-6


TRAIN = ["algorithm=rbp", "data.train_size=32", "data.test_size=16", "data.batch_size=16", "model.hidden=[12]",
         "train.momentum=0", "train.lr_scaling=none", "train.lr=0.1", "solver.tol=1e-7", "solver.free_iters=400",
         "rbp.rtol=1e-7", "rbp.iters=2000"]


def test_one_sgd_step_moves_the_weights_by_minus_lr_times_the_exact_gradient(tmp_path):
    t = make_trainer(load_config(None, TRAIN), tmp_path)
    assert type(t.rule) is R.RBP
    x, y = t.train_set.batch(slice(0, 16))
    m = t.model
    with torch.no_grad():  # the free phase the rule runs: EP's solver from zeros (no warm state yet)
        free, st = t.rule.solver(m, m.const_drive(x), m.zero_state(16, x), iters=400, tol=1e-7)
    assert bool(st.converged.all())
    target = torch.nn.functional.one_hot(y, 10).to(x.dtype)
    exact, info = implicit_gradient(m, x, target, free, rtol=1e-6)  # float32: GMRES to its precision
    assert info["adjoint_residual"] < 1e-5
    before = [w.detach().clone() for w in m.ep_parameters()]
    _, _, stats = t.train_step(x, y)
    assert set(stats) == {"free", "adjoint"} and bool(stats["adjoint"].converged.all())
    for a, b, g in zip(before, m.ep_parameters(), exact):
        torch.testing.assert_close(b.detach() - a, -0.1 * g, rtol=2e-4, atol=1e-7)
    assert t.rule.warm is not None  # the next free phase starts from this one, as EP's


def test_training_records_the_adjoint_phase(tmp_path):
    from analog_ep.train import fit

    cfg = load_config(None, TRAIN + ["train.epochs=1", "rbp.rtol=1e-3", "rbp.iters=100", "solver.tol=1e-4"])
    rows = []
    fit(make_trainer(cfg, tmp_path), progress=False, log=rows.append)
    row = rows[-1]
    assert row["adjoint_converged_fraction"] == 1.0 and 0 < row["adjoint_mean_steps"] < 100
    assert row["free_converged_fraction"] == 1.0


def test_refusals_name_the_key_and_the_fix():
    with pytest.raises(ConfigError, match=r"^algorithm: rbp .*digital weights only.*'memristor'.*remove --device"):
        load_config(None, ["algorithm=rbp", "analog.device=memristor"])
    with pytest.raises(ConfigError, match=r"^rbp.iters: applies to algorithm rbp only .*set algorithm=rbp"):
        load_config(None, ["rbp.iters=5"])
    with pytest.raises(ConfigError, match=r"^rbp.rtol: must be >= 0"):
        load_config(None, ["algorithm=rbp", "rbp.rtol=-1"])
    with pytest.raises(ConfigError, match=r"^rbp.iters: must be >= 1"):
        load_config(None, ["algorithm=rbp", "rbp.iters=0"])
    with pytest.raises(ConfigError, match=r"^algorithm: rbp does not train pcn_mlp"):
        load_config(None, ["algorithm=rbp", "model.name=pcn_mlp"])
    res = CliRunner().invoke(app, ["train", "--set", "algorithm=rbp", "--device", "memristor"])
    assert res.exit_code == 2, res.output
    err = res.stderr.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: algorithm: rbp"), err


def test_gradcheck_reports_rbp_against_gmres():
    cfg = load_config(None, ["algorithm=rbp", "model.hidden=[6]", "rbp.rtol=1e-12"])
    m, x, y = tiny_mlp(hidden=(6,))
    rule = R.build_rule(cfg, m)
    rep = rule.gradcheck(x, y, [0.1], iters=5000, tol=1e-13)
    assert rep["estimator"] == "rbp" and rep["free_converged_fraction"] == 1.0
    assert len(rep["layers"]) == 2 and all(r["beta"] is None for r in rep["layers"])
    assert all(r["rel_error"] < 1e-6 and r["cosine"] > 1 - 1e-9 for r in rep["layers"])
