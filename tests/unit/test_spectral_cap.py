"""train.spectral_cap: the operator-norm bound on the couplings between free nodes, held after every update.

References: each synapse's weight map written out as an explicit matrix (its columns the map of
the unit basis), whose exact largest singular value ``torch.linalg.matrix_norm(M, 2)`` the power
iteration must reach; the cap itself against an uncapped trainer taking the same step.
"""

import pytest
import torch

from analog_ep.config import load_config
from analog_ep.errors import ConfigError
from analog_ep.models.convnets import DCHNVGG5
from analog_ep.synapses import Conv, Dense, Skip
from conftest import DCHN_PAPER
from analog_ep.train import make_trainer
from analog_ep.train.spectral_cap import SpectralCap

TINY = ["model.name=dchn_vgg5", "model.channels=[2,3,4,4]", "data.name=synthetic", "data.shape=[1,16,16]",
        "data.train_size=16", "data.test_size=8", "data.batch_size=16", "train.epochs=1", "train.momentum=0",
        "train.lr_scaling=none", *DCHN_PAPER]


def _matrix(syn, weight):
    """The weight map as an explicit (outputs x inputs) matrix, column j the map of basis vector j."""
    n = torch.Size(syn.map_shape).numel()
    basis = torch.eye(n, dtype=weight.dtype).reshape(n, *syn.map_shape)
    return syn.weight_map(weight, basis).reshape(n, -1).t()


def _exact(syn, weight=None):
    w = (syn.weight if weight is None else weight).detach().double()
    return torch.linalg.matrix_norm(_matrix(syn, w), 2)


@pytest.mark.parametrize("make", [
    lambda g: Dense((2, 3, 3), 5, 1.0, g),
    lambda g: Conv((2, 6, 6), 3, 3, stride=1, padding=1, generator=g),
    lambda g: Conv((3, 7, 7), 2, 3, stride=2, padding=1, generator=g),
    lambda g: Skip((2, 6, 6), (4, 3, 3), stride=2, generator=g),
])
def test_weight_map_t_is_the_adjoint_and_power_iteration_reaches_the_exact_norm(make):
    syn = make(torch.Generator().manual_seed(3))
    w = syn.weight.detach().double()
    m = _matrix(syn, w)
    out_n = m.shape[0]
    basis = torch.eye(out_n, dtype=torch.float64).reshape(out_n, *syn.weight_map(w, torch.zeros(1, *syn.map_shape,
                                                                                                   dtype=w.dtype)).shape[1:])
    mt = syn.weight_map_t(w, basis).reshape(out_n, -1)  # row i: the adjoint of output basis vector i
    torch.testing.assert_close(mt, m, rtol=0, atol=1e-12)
    model = DCHNVGG5((1, 16, 16), [2, 3, 4, 4], 3, generator=torch.Generator().manual_seed(0))
    cap = SpectralCap(model, 1.0)
    cap.vectors = [torch.randn(1, *syn.map_shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)]
    est = cap.sigma(syn, w, 0, 500)
    assert est.item() == pytest.approx(torch.linalg.matrix_norm(m, 2).item(), rel=1e-6)


def test_the_cap_holds_the_bound_after_an_update_and_keeps_directions(tmp_path):
    over = TINY + ["algorithm=bp", "train.lr=2.0", "train.spectral_cap_iters=300"]
    ref = make_trainer(load_config(None, over), tmp_path / "a")
    capped = make_trainer(load_config(None, over + ["train.spectral_cap=0.3"]), tmp_path / "b")
    free = capped.model.free_couplings()
    assert [s.weight.shape for s in free] == [s.weight.shape for s in capped.model.ep_synapses()[1:5]]
    assert max(_exact(s) for s in free) > 0.3  # the bound binds at initialisation already
    x, y = capped.train_set.x, capped.train_set.y
    ref.train_step(x, y)
    capped.train_step(x, y)
    # the input layer (no feedback in the free phase) and the bias are not capped: the same step bit for bit
    assert torch.equal(capped.model.ep_synapses()[0].weight, ref.model.ep_synapses()[0].weight)
    for syn_c, syn_r in zip(free, ref.model.free_couplings()):
        sigma_r = _exact(syn_r)
        scale = min(1.0, 0.3 / sigma_r.item())
        torch.testing.assert_close(syn_c.weight.double(), syn_r.weight.double() * scale, rtol=1e-5, atol=1e-7)
        assert _exact(syn_c).item() <= 0.3 * (1 + 1e-5)
    assert any(_exact(s).item() == pytest.approx(0.3, rel=1e-5) for s in free)


def test_the_bound_holds_over_training_with_one_step_per_update(tmp_path):
    """The default (one power step per update from the persistent vector) follows the weights:
    after a few updates at a rate that grows them, every capped norm is within 2 % of the bound."""
    tr = make_trainer(load_config(None, TINY + ["algorithm=bp", "train.lr=2.0", "train.spectral_cap=0.3"]),
                      tmp_path / "a")
    x, y = tr.train_set.x, tr.train_set.y
    for _ in range(6):
        tr.train_step(x, y)
    norms = [_exact(s).item() for s in tr.model.free_couplings()]
    assert max(norms) <= 0.3 * 1.02
    assert max(norms) >= 0.3 * 0.98


def test_a_bound_above_every_norm_is_the_uncapped_path_bit_for_bit(tmp_path):
    over = TINY + ["train.lr=0.5", "solver.free_iters=6", "solver.nudge_iters=3"]
    ref = make_trainer(load_config(None, over), tmp_path / "a")
    loose = make_trainer(load_config(None, over + ["train.spectral_cap=1e6"]), tmp_path / "b")
    x, y = ref.train_set.x, ref.train_set.y
    for _ in range(2):
        ref.train_step(x, y)
        loose.train_step(x, y)
    for a, b in zip(ref.model.ep_parameters(), loose.model.ep_parameters()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("key, value", [("train.spectral_cap", "0"), ("train.spectral_cap", "-1"),
                                        ("train.spectral_cap_iters", "0")])
def test_bad_values_name_the_key(key, value):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(None, [f"{key}={value}"])


def test_an_analog_storage_receives_the_capped_weight_as_its_proposed_change(tmp_path):
    """Analog storage (the optimizer's step a proposal, sent as device changes): the cap adds its
    shrink to the proposal, so with exact changes (``analog.update=ideal``) the stored weight
    after the update is the capped one, as on digital storage."""
    over = ["model.hidden=[12,8]", "data.train_size=16", "data.test_size=8", "data.batch_size=16", "algorithm=bp",
            "train.momentum=0", "train.lr=0.5", "train.spectral_cap_iters=300", "analog.device=memristor",
            "analog.update=ideal", "analog.w_noise_std=0"]
    tr = make_trainer(load_config(None, over + ["train.spectral_cap=0.2"]), tmp_path / "a")
    free = tr.model.free_couplings()
    assert len(free) == 2 and max(_exact(s).item() for s in free) > 0.2
    tr.train_step(tr.train_set.x, tr.train_set.y)
    norms = [_exact(s).item() for s in free]
    assert max(norms) == pytest.approx(0.2, rel=1e-4)


def test_a_resumed_capped_run_continues_bit_for_bit(tmp_path):
    """The power-iteration vectors travel in the checkpoint: one epoch, a resume, a second epoch
    equals two epochs in one go."""
    from analog_ep.train import fit, resume_trainer

    over = TINY + ["data.batch_size=8", "train.schedule_unit=epoch", "train.lr=0.5", "train.spectral_cap=0.3",
                   "solver.free_iters=5", "solver.nudge_iters=3"]
    a = make_trainer(load_config(None, over + ["train.epochs=2"]), tmp_path / "a")
    fit(a, progress=False)
    b = make_trainer(load_config(None, over), tmp_path / "b")
    fit(b, progress=False)
    c = resume_trainer(tmp_path / "b", load_config(None, over + ["train.epochs=2"]))
    fit(c, progress=False)
    for p, q in zip(a.model.parameters(), c.model.parameters()):
        assert torch.equal(p, q)
