from contextlib import contextmanager

import pytest
import torch


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    yield


def tiny_mlp(in_dim=8, hidden=(6, 5), out=3, seed=0, bias_range=(-0.3, 0.7), gain=1.0):
    """A float64 Hopfield MLP with non-trivial biases (so some units sit inside the box)."""
    from analog_ep.models import HopfieldMLP

    g = torch.Generator().manual_seed(seed)
    m = HopfieldMLP((in_dim,), list(hidden), out, gains=[gain] * (len(hidden) + 1), generator=g).double()
    with torch.no_grad():
        for b in m.biases:
            b.uniform_(*bias_range, generator=g)
    x = torch.randn(5, in_dim, generator=g, dtype=torch.float64)
    y = torch.nn.functional.one_hot(torch.randint(0, out, (5,), generator=g), out).double()
    return m, x, y


def noisy_rules():
    """One strongly noisy parameter set per device update rule (for saturation / NaN tests)."""
    from analog_ep.analog import rules as D

    return [
        D.ConstantStep(dw_min=0.01, dw_min_std=0.5),
        D.SoftBounds(dw_min=0.01, dw_min_std=2.0, mult_noise=False),
        D.LinearStep(dw_min=0.01, gamma_up=0.5, gamma_down=2.0, dw_min_std=1.0),
        D.ExpStep(dw_min=0.00135, up_down=0.26, a=-0.5, b=-0.5, gamma_up=5, gamma_down=5,
                  A_up=-1.18, A_down=-0.08, dw_min_std=5.0),
        D.PowStep(dw_min=0.01, pow_gamma=0.5, dw_min_std=1.0),
        D.PiecewiseStep(dw_min=0.01, piecewise_up=[0, 1, 3], piecewise_down=[3, 1, 0], dw_min_std=1.0),
        D.NeuroSim(nl_ltp=9.0, nl_ltd=-9.0, ctoc_std=0.05, nl_dtod=1.0),
    ]


def assert_async_descends(model, x, sweeps, atol):
    """Single asynchronous sweeps from zeros never raise any sample's energy (exact
    block-coordinate descent)."""
    from analog_ep.solvers import relax_async

    const = model.const_drive(x)
    s = model.zero_state(x.shape[0], x)
    prev = model.energy(x, s)
    for _ in range(sweeps):
        s, _ = relax_async(model, const, s, iters=1, tol=0.0)
        e = model.energy(x, s)
        assert (e <= prev + atol).all()
        prev = e


def build_float64(overrides, seed=0, n=4):
    """A float64 model built from a config (``load_config(None, overrides)`` with its storages), and
    one training batch of ``n`` with one-hot targets: ``(cfg, model, x, y)``."""
    from analog_ep.config import load_config
    from analog_ep.data import load_data
    from analog_ep.train.build import build_model

    cfg = load_config(None, [f"seed={seed}", "data.train_size=16", "data.test_size=8"] + list(overrides))
    train, _, info = load_data(cfg.data, seed)
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        model = build_model(cfg, info.shape, info.num_classes)
    finally:
        torch.set_default_dtype(default)
    x = train.x[:n].double().reshape(n, *info.shape)
    y = torch.nn.functional.one_hot(train.y[:n], info.num_classes).double()
    return cfg, model, x, y


def scaled_pcn_mlp_phase(scale: float, **relax_kw):
    """EP's nudged phase (beta 0.1, tol 1e-6) on the record's pcn_mlp 16-32-32-10 (ReLU; its
    weights times ``scale``: 6 makes the unit node step diverge, benchmarks/model_defaults_fmnist.md),
    from the forward pass of 8 seeded Gaussian inputs: ``relax_pcn``'s ``(states, stats)``;
    ``relax_kw``: its further keywords (``iters``, ``step``, ``backtrack``, ``rule``)."""
    from analog_ep.config import load_config
    from analog_ep.solvers.pcn import relax_pcn
    from analog_ep.train.build import build_model

    torch.manual_seed(0)
    cfg = load_config(None, ["model.name=pcn_mlp", "model.hidden=[32,32]", "seed=0"])
    model = build_model(cfg, (16,), 10)
    x = torch.randn(8, 16)
    y = torch.nn.functional.one_hot(torch.randint(0, 10, (8,)), 10).float()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(scale)
    free, _ = model.forward_pass(x)
    return relax_pcn(model, x, free, beta=0.1, target=y, tol=1e-6, **relax_kw)


def one_line_error(res, *needles) -> str:
    """The README's bad-input contract for a CliRunner result: exit code 2, one ``error:`` line on
    stderr that contains every needle, no traceback. Returns the line."""
    assert res.exit_code == 2, res.output
    err = res.stderr.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error: "), err
    for needle in needles:
        assert needle in err, (needle, err)
    assert "Traceback" not in res.output
    return err


@contextmanager
def kernels_mode(mode: str):
    """``compute.kernels`` ``mode`` (torch / numba) within, the previous mode restored after."""
    from analog_ep.analog import kernels as K

    old = K.mode()
    K.set_mode(mode)
    try:
        yield
    finally:
        K.set_mode(old)


DCHN_PAPER = ["model.gains=[1.0,1.0,1.0,1.0,1.0]", "train.spectral_cap=null", "compute.precision=fp32",
              "model.feedback_scale=1.0", "model.feedback_update=local", "train.lr=0.015", "ep.beta=0.1"]
"""``--set`` overrides that give a digital dchn_vgg5 its paper's energy and settings, as on a card
(its digital family defaults run EP in its feed-forward limit in float64; config/model_specs.py
DCHN_DIGITAL_DEFAULTS): tests written for the paper's energy pin them."""

CRNN_PAPER = ["model.gains=null", "model.feedback_scale=1.0", "model.feedback_update=local", "model.aux_weight=local",
              "compute.precision=fp32", "solver.tol=1e-4"]
"""``--set`` overrides that give a digital vgg_crnn the energy it runs on a card (the model's gain 1,
feedback 1, float32; its digital family defaults run EP in its feed-forward limit at gain 2 in
float64; config/model_specs.py CRNN_DIGITAL_DEFAULTS): tests written for that energy pin them."""
