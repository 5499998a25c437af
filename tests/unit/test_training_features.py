"""Schedules, gradient clipping, augmentation and the clamp nudge."""

import math

import pytest
import torch

from conftest import tiny_mlp
from analog_ep.algorithms.ep import ep_gradient
from analog_ep.algorithms.implicit import implicit_gradient
from analog_ep.config import load_config
from analog_ep.data.augment import augment
from analog_ep.solvers import relax_async
from analog_ep.train import fit, make_trainer
from analog_ep.train.build import lr_factor


def test_cosine_schedule_closed_form():
    cfg = load_config(None, ["train.schedule=cosine", "train.epochs=5", "train.lr=0.1", "train.lr_min=0.01",
                             "train.schedule_unit=epoch"])
    f = [lr_factor(cfg, e) for e in range(5)]
    expect = [0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * e / 4)) for e in range(5)]
    assert f == pytest.approx(expect)
    assert f[0] == 1.0 and f[-1] == pytest.approx(0.1)
    assert lr_factor(load_config(None, []), 3) == 1.0


def test_schedule_reaches_optimizer_and_results(tmp_path):
    cfg = load_config(None, ["train.schedule=cosine", "train.epochs=3", "data.train_size=64", "data.test_size=32",
                             "model.hidden=[8]", "train.layer_lrs=[0.02,0.01]", "train.schedule_unit=epoch"])
    t = make_trainer(cfg, tmp_path)
    fit(t, progress=False)
    # the default floor: train.lr_min null -> lr_min_ratio 0.01 of each group's rate
    assert [r["lr_factor"] for r in t.history] == pytest.approx([1.0, 0.01 + 0.99 * 0.5, 0.01])
    assert [g["lr"] for g in t.optimizer.param_groups] == pytest.approx([0.02 * 0.01, 0.01 * 0.01])
    assert [g["base_lr"] for g in t.optimizer.param_groups] == [0.02, 0.01]


def test_per_step_cosine_closed_form():
    E, S, floor = 2, 4, 0.01
    cfg = load_config(None, ["train.schedule=cosine", f"train.epochs={E}"])
    assert cfg.train.schedule_unit == "step"
    f = [lr_factor(cfg, e, i, S) for e in range(E) for i in range(S)]
    expect = [floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * k / (E * S))) for k in range(E * S)]
    assert f == pytest.approx(expect, abs=1e-15)
    assert f[0] == 1.0 and all(a > b for a, b in zip(f, f[1:])) and f[-1] > floor
    # a 2-epoch trial: its second epoch trains between half the rate and the floor, not at the floor
    assert f[S] == pytest.approx(floor + (1 - floor) * 0.5)
    # warmup_cosine per step: a linear ramp over the warmup epochs, then the cosine to the floor at cosine_epochs
    wc = load_config(None, ["train.schedule=warmup_cosine", "train.epochs=4", "train.warmup_epochs=1",
                            "train.cosine_epochs=3"])
    assert [lr_factor(wc, 0, i, S) for i in range(S)] == pytest.approx([(i + 1) / S for i in range(S)])
    assert lr_factor(wc, 1, 0, S) == 1.0
    assert lr_factor(wc, 2, 0, S) == pytest.approx(floor + (1 - floor) * 0.5)
    assert lr_factor(wc, 3, 2, S) == pytest.approx(floor)  # past cosine_epochs: stays at the floor


def test_per_step_schedule_reaches_the_optimizer_every_step(tmp_path):
    cfg = load_config(None, ["train.schedule=cosine", "train.epochs=2", "data.train_size=64", "data.test_size=32",
                             "data.batch_size=16", "model.hidden=[8]", "train.layer_lrs=[0.02,0.01]"])
    t = make_trainer(cfg, tmp_path)
    seen = []
    t.on_batch = lambda e, i: seen.append((e, i, [g["lr"] for g in t.optimizer.param_groups]))
    fit(t, progress=False)
    assert len(seen) == 8
    for e, i, lrs in seen:  # the rate the step just used
        f = lr_factor(cfg, e, i, 4)
        assert lrs == pytest.approx([0.02 * f, 0.01 * f])
    assert len({tuple(lrs) for _, _, lrs in seen}) == 8  # it moved every step
    assert [r["lr_factor"] for r in t.history] == pytest.approx([1.0, 0.01 + 0.99 * 0.5])  # each epoch's first step


def test_a_run_stored_before_schedule_unit_resumes_per_epoch():
    fresh = load_config(None, ["train.schedule=cosine"])
    assert fresh.train.schedule_unit == "step"
    import dataclasses
    import yaml
    from analog_ep.config.loader import dump_yaml
    stored = yaml.safe_load(dump_yaml(fresh))
    assert load_config(None, [], base=stored).train.schedule_unit == "step"  # a current run keeps what it ran
    del stored["train"]["schedule_unit"]  # as every run written before the key existed
    old = load_config(None, [], base=stored)
    assert old.train.schedule_unit == "epoch"
    assert dataclasses.replace(old.train, schedule_unit="step") == fresh.train


def test_gradient_clipping_bounds_the_update(tmp_path):
    over = ["data.train_size=32", "data.test_size=16", "data.batch_size=32", "model.hidden=[8]", "train.epochs=1",
            "train.momentum=0", "train.lr=1.0"]
    ref = make_trainer(load_config(None, over), tmp_path / "a")
    clip = make_trainer(load_config(None, over + ["train.clip_grad_norm=1e-3"]), tmp_path / "b")
    before = [p.detach().clone() for p in clip.model.ep_parameters()]
    x, y = clip.train_set.x, clip.train_set.y
    clip.train_step(x, y)
    ref.train_step(x, y)
    step = torch.sqrt(sum(((p - b) ** 2).sum() for p, b in zip(clip.model.ep_parameters(), before)))
    ref_step = torch.sqrt(sum(((p - b) ** 2).sum() for p, b in zip(ref.model.ep_parameters(), before)))
    assert step.item() == pytest.approx(1e-3, rel=1e-4)  # lr 1, no momentum: the step is the clipped gradient
    assert ref_step.item() > 1e-2
    # same direction
    d1 = torch.cat([(p - b).reshape(-1) for p, b in zip(clip.model.ep_parameters(), before)])
    d2 = torch.cat([(p - b).reshape(-1) for p, b in zip(ref.model.ep_parameters(), before)])
    assert torch.nn.functional.cosine_similarity(d1, d2, dim=0) > 0.9999


def test_flip_and_crop():
    g = torch.Generator().manual_seed(0)
    x = torch.arange(2 * 1 * 4 * 5, dtype=torch.float32).reshape(2, 1, 4, 5)
    out = augment(x.repeat(50, 1, 1, 1), ["flip"], g)
    flipped = (out == x.flip(3).repeat(50, 1, 1, 1)).flatten(1).all(1)
    same = (out == x.repeat(50, 1, 1, 1)).flatten(1).all(1)
    assert (flipped | same).all() and 20 < flipped.sum() < 80
    crops = augment(x, ["crop"], g, crop_padding=2)
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(2):  # each crop is a window of the zero-padded image
        found = any(torch.equal(crops[i], padded[i, :, dy:dy + 4, dx:dx + 5]) for dy in range(5) for dx in range(5))
        assert found
    assert torch.equal(augment(x, ["crop"], g, crop_padding=0), x)
    flat = torch.randn(3, 64)
    assert augment(flat, ["flip", "crop"], g) is flat


def test_clamp_nudge_is_rescaled_mse_nudge_and_estimates_gradient():
    m, x, y = tiny_mlp()
    m.nudge = "clamp"
    const = m.const_drive(x)
    free, _ = relax_async(m, const, m.zero_state(5, x), iters=5000, tol=1e-14)
    sc, _ = relax_async(m, const, free, beta=0.2, target=y, iters=5000, tol=1e-14)
    m.nudge = "mse"
    sm, _ = relax_async(m, const, free, beta=0.2 / 0.8, target=y, iters=5000, tol=1e-14)
    for a, b in zip(sc, sm):
        torch.testing.assert_close(a, b)
    m.nudge = "clamp"
    exact, _ = implicit_gradient(m, x, y, free)
    res = ep_gradient(m, x, y, free, relax_async, beta=1e-4, estimator="centered", free_iters=5000,
                      nudge_iters=5000, tol=1e-14)
    for g, e in zip(res.grads, exact):
        assert torch.nn.functional.cosine_similarity(g.reshape(-1), e.reshape(-1), dim=0) > 0.9999


def test_augmented_resume_is_exact(tmp_path):
    over = ["model.name=dchn_vgg5", "model.channels=[2,2,2,2]", "data.name=synthetic", "data.shape=[1,16,16]",
            "data.train_size=16", "data.test_size=8", "data.batch_size=8", "data.augment=[flip,crop]",
            "train.schedule_unit=epoch",  # (per step, a 1-epoch run's cosine is not a 2-epoch run's first epoch)
            "train.epochs=2", "solver.free_iters=5", "solver.nudge_iters=3"]
    a = make_trainer(load_config(None, over), tmp_path / "a")
    fit(a, progress=False)
    b = make_trainer(load_config(None, over[:-3] + ["train.epochs=1", "solver.free_iters=5", "solver.nudge_iters=3"]),
                     tmp_path / "b")
    fit(b, progress=False)
    from analog_ep.train import resume_trainer

    c = resume_trainer(tmp_path / "b", load_config(None, over))
    fit(c, progress=False)
    for p, q in zip(a.model.parameters(), c.model.parameters()):
        assert torch.equal(p, q)
