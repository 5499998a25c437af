"""Deep VGG Hopfield networks with intermediate error signals and distillation."""

import math

import pytest
import torch

from conftest import CRNN_PAPER

from analog_ep.algorithms.gradcheck import gradcheck
from analog_ep.config import load_config
from analog_ep.data import load_data
from analog_ep.errors import ConfigError
from analog_ep.models import VGGCRNN
from analog_ep.solvers import relax_async
from analog_ep.train import fit, make_trainer
from analog_ep.train.build import aux_kappa, build_model

TINY = [*CRNN_PAPER, "model.name=vgg_crnn", "model.channels=[2,2,3,3,3]", "model.aux_nodes=[3,6]", "data.name=synthetic",
        "data.shape=[1,32,32]", "data.num_classes=3", "data.train_size=16", "data.test_size=8"]


@pytest.mark.parametrize("depth,convs", [(11, 8), (13, 10)])
def test_layouts(depth, convs):
    m = VGGCRNN((3, 32, 32), [2, 2, 2, 2, 2], 10, depth=depth, aux_nodes=[2])
    assert len(m.edges) == depth
    assert sum(type(e.synapse).__name__ in ("Conv", "ConvPool") for e in m.edges) == convs
    assert m.node_shapes[convs - 1] == (2, 1, 1)  # five 2x2 poolings of 32x32
    assert len(m.ep_parameters()) == 2 * depth + 2 and m.aux_nodes == [2]


def test_bad_aux_node_and_shape():
    with pytest.raises(ConfigError, match="model.aux_nodes"):
        VGGCRNN((3, 32, 32), [2] * 5, 10, aux_nodes=[11])
    with pytest.raises(ConfigError, match="multiple of 32"):
        VGGCRNN((3, 16, 16), [2] * 5, 10)
    with pytest.raises(ConfigError, match="model.aux_nodes: auxiliary readouts exist for vgg_crnn only"):
        load_config(None, ["model.aux_nodes=[1]"])


def test_ep_with_auxiliary_signals_matches_exact_gradient():
    """EP on F = E + beta (C + kappa sum C_aux) estimates the gradient of C + kappa sum C_aux,
    auxiliary readouts included; the reference differentiates that objective implicitly."""
    cfg = load_config(None, TINY + ["model.gains=[" + ",".join(["1.5"] * 11) + "]"])  # the init it was written at
    train, _, info = load_data(cfg.data, 0)
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        m = build_model(cfg, info.shape, 3)
    finally:
        torch.set_default_dtype(default)
    with torch.no_grad():  # non-zero biases: no unit sits exactly on its clamp kink (h = 0)
        for b in m.biases:
            b.uniform_(-0.1, 0.3, generator=torch.Generator().manual_seed(0))
    m.aux_kappa = 0.7
    x = train.x[:2].double()
    y = torch.nn.functional.one_hot(train.y[:2], 3).double()
    y_aux = 0.5 * y + 0.5 * torch.softmax(torch.randn(2, 3, generator=torch.Generator().manual_seed(0),
                                                      dtype=torch.float64), 1)
    rep = gradcheck(m, x, (y, y_aux), relax_async, [0.01], "centered", iters=3000, tol=1e-12)
    assert rep["layers"][0]["saturation_changes"] == 0
    for row in rep["layers"]:
        assert row["cosine"] >= 0.99, row
        assert row["rel_error"] < 1e-2, row
    assert {r["name"] for r in rep["layers"]} >= {"aux0:3", "aux1:6"}


def test_kappa_schedules():
    base = ["train.epochs=5", "ep.aux_kappa=1.0", "ep.aux_kappa_min=0.2"]
    lin = [aux_kappa(load_config(None, base + ["ep.aux_schedule=linear"]), e) for e in range(5)]
    assert lin == pytest.approx([1.0, 0.8, 0.6, 0.4, 0.2])
    cos = [aux_kappa(load_config(None, base + ["ep.aux_schedule=cosine"]), e) for e in range(5)]
    assert cos == pytest.approx([0.2 + 0.8 * 0.5 * (1 + math.cos(math.pi * e / 4)) for e in range(5)])
    exp = [aux_kappa(load_config(None, base + ["ep.aux_schedule=exponential", "ep.aux_decay=0.5"]), e) for e in range(5)]
    assert exp == pytest.approx([1.0, 0.5, 0.25, 0.2, 0.2])
    assert aux_kappa(load_config(None, base), 3) == 1.0


def test_distillation_from_backprop_teacher(tmp_path):
    common = TINY + ["train.epochs=1", "solver.free_iters=5", "solver.nudge_iters=3", "data.batch_size=8"]
    teacher_run = make_trainer(load_config(None, common + ["algorithm=bp"]), tmp_path / "teacher")
    fit(teacher_run, progress=False)
    cfg = load_config(None, common + [f"ep.teacher={tmp_path / 'teacher'}", "ep.kd_alpha=0.3", "ep.kd_temperature=2.0",
                                      "train.epochs=2", "ep.aux_schedule=linear"])
    student = make_trainer(cfg, tmp_path / "student")
    x, y = student.train_set.x[:4], student.train_set.y[:4]
    onehot = torch.nn.functional.one_hot(y, 3).float()
    soft = student.teacher.soft_targets(x, onehot, 0.3, 2.0)
    expect = 0.7 * onehot + 0.3 * torch.softmax(teacher_run.model.ff_forward(x) / 2.0, 1)
    torch.testing.assert_close(soft, expect)
    fit(student, progress=False)
    assert [r["aux_kappa"] for r in student.history] == [1.0, 0.0]
    assert all(math.isfinite(r["train_loss"]) for r in student.history)


def test_teacher_missing_is_a_config_error(tmp_path):
    with pytest.raises(Exception, match="checkpoint"):
        make_trainer(load_config(None, TINY + [f"ep.teacher={tmp_path / 'none'}"]), tmp_path / "s")


def test_teacher_targets_reach_the_aux_nudge(tmp_path):
    """The training loop hands the teacher's soft targets to the auxiliary readouts' nudge: one
    training step with kd_alpha 0 is bit for bit the step without a teacher (the soft target is
    the label); with kd_alpha 1 (the teacher's softmax alone) the aux readouts take another step
    (their gradient term), and so does the first convolution, which only the nudged states reach
    (the aux nudge in the drive of node 3, below it node 1 and 2)."""
    common = TINY + ["train.epochs=1", "solver.free_iters=5", "solver.nudge_iters=3", "data.batch_size=8",
                     "train.optimizer=sgd", "train.lr=0.1", "train.clip_grad_norm=null"]
    fit(make_trainer(load_config(None, common + ["algorithm=bp"]), tmp_path / "teacher"), progress=False)

    def one_step(extra, name):
        tr = make_trainer(load_config(None, common + extra), tmp_path / name)
        x, y = tr.train_set.x[:8], tr.train_set.y[:8]
        tr.train_step(x, y)
        return [w.detach().clone() for w in tr.model.stored_weights()], tr.model
    kd = [f"ep.teacher={tmp_path / 'teacher'}", "ep.kd_temperature=1.0"]
    none, model = one_step([], "none")
    a0, _ = one_step(kd + ["ep.kd_alpha=0.0"], "a0")
    a1, _ = one_step(kd + ["ep.kd_alpha=1.0"], "a1")
    for p, q in zip(none, a0):
        assert torch.equal(p, q)
    n_aux = 2 * len(model.aux_nodes)  # the aux readouts' weights and biases come last
    assert all(not torch.equal(p, q) for p, q in zip(none[-n_aux:], a1[-n_aux:]))
    assert not torch.equal(none[0], a1[0])
