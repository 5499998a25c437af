"""``compute.precision: fp64``: the whole digital run in float64 (model, states, batches, targets,
EP correlations and updates, optimizer state, checkpoint), its first EP update equal to the
float64 estimate computed by hand, a bit-exact resume, and the refusals (analog tiles, a resume
that changes the run dtype). Tiny seeded runs (digits MLP, synthetic dchn_vgg5)."""

import pytest
import torch
from typer.testing import CliRunner

from analog_ep.algorithms.ep import ep_gradient
from analog_ep.cli import app
from analog_ep.config import load_config
from analog_ep.data import load_data
from analog_ep.errors import ConfigError
from analog_ep.solvers import relax_async
from analog_ep.train import fit, make_trainer, resume_trainer
from analog_ep.train.build import build_model
from analog_ep.train.checkpoint import load_checkpoint
from analog_ep.train.loop import epoch_order, one_hot
from conftest import DCHN_PAPER, one_line_error

runner = CliRunner()
MLP = ["model.hidden=[12,8]", "data.train_size=24", "data.test_size=8", "data.batch_size=8",
       "solver.free_iters=20", "solver.nudge_iters=8"]
VGG = ["model.name=dchn_vgg5", "model.channels=[2,3,4,4]", "data.name=synthetic", "data.shape=[1,16,16]",
       "data.train_size=16", "data.test_size=8", "data.batch_size=8", "solver.free_iters=10",
       "solver.nudge_iters=5", *DCHN_PAPER]  # fp32 unless a test sets fp64 after it
RUNS = {"hopfield_mlp": MLP, "dchn_vgg5": VGG}


def _floats(model) -> dict:
    return {n: t for n, t in list(model.named_parameters()) + list(model.named_buffers()) if t.is_floating_point()}


@pytest.mark.parametrize("name", list(RUNS))
def test_an_fp64_run_is_float64_throughout(name, tmp_path):
    """One epoch trains end to end; every floating parameter and buffer, the batches, the relaxed
    states, the updates and the optimizer state are float64; the checkpoint stores float64; the
    model starts from the fp32 run's weights (cast, so fp32 and fp64 runs compare one network)."""
    over = RUNS[name] + ["train.epochs=1", "compute.precision=fp64"]
    t = make_trainer(load_config(None, over), tmp_path)
    t32 = make_trainer(load_config(None, RUNS[name] + ["train.epochs=1"]), None)
    for (n, a), (_, b) in zip(_floats(t.model).items(), _floats(t32.model).items()):
        assert a.dtype == torch.float64, n
        assert torch.equal(a, b.double()), n
    assert {b.dtype for b in t32.model.parameters()} == {torch.float32}
    x, y = next(iter(t.batches(t.test_set, None)))
    assert x.dtype == torch.float64
    out, _ = t.rule.predict(x)
    assert out.dtype == torch.float64
    res = t.rule.step(x, one_hot(y, t.num_classes, x.dtype), x.shape[0])
    assert all(g.dtype == torch.float64 for g in res.grads) and res.output.dtype == torch.float64
    fit(t, progress=False)
    floats = _floats(t.model)
    assert floats and all(v.dtype == torch.float64 and torch.isfinite(v).all() for v in floats.values())
    state = [v for s in t.optimizer.state.values() for v in s.values() if torch.is_tensor(v)]
    assert state and all(v.dtype == torch.float64 for v in state)       # SGD's momentum buffers
    ckpt = load_checkpoint(tmp_path / "checkpoint.pt")
    stored = [v for v in ckpt["model"].values() if torch.is_tensor(v) and v.is_floating_point()]
    assert stored and all(v.dtype == torch.float64 for v in stored)


@pytest.mark.parametrize("name", list(RUNS))
def test_the_first_fp64_update_is_the_float64_ep_estimate_by_hand(name):
    """The trainer's first step (its own batch fetch, target and rule) equals ``ep_gradient`` on a
    float64 model built by hand (the fp32 build cast with ``.double()``), the first batch of the
    epoch order cast to float64, zeros as the free phase's start and the async solver: bit for
    bit. The same reference in float32 differs (so the test sees the precision)."""
    over = RUNS[name] + ["train.momentum=0"]
    t = make_trainer(load_config(None, over + ["compute.precision=fp64"]), None)
    x, y = next(iter(t.batches(t.train_set, epoch_order(len(t.train_set), t.cfg.seed, 0))))
    grads = t.rule.step(x, one_hot(y, t.num_classes, x.dtype), x.shape[0]).grads

    cfg = load_config(None, over)   # fp32: the hand-made reference casts it
    train, _, info = load_data(cfg.data, cfg.seed)
    ref_model = build_model(cfg, info.shape, info.num_classes).double()
    xr, yr = train.batch(epoch_order(len(train), cfg.seed, 0)[:cfg.data.batch_size])
    xr = xr.double()
    target = torch.nn.functional.one_hot(yr, info.num_classes).double()
    sol = cfg.solver
    kw = dict(beta=cfg.ep.beta, estimator=cfg.ep.estimator, free_iters=sol.free_iters, nudge_iters=sol.nudge_iters,
              tol=sol.tol, damping=sol.damping)
    ref = ep_gradient(ref_model, xr, target, ref_model.zero_state(xr.shape[0], xr), relax_async, **kw).grads
    assert len(grads) == len(ref)
    for g, r in zip(grads, ref):
        assert g.dtype == r.dtype == torch.float64
        assert torch.equal(g, r)
    m32 = build_model(cfg, info.shape, info.num_classes)
    x32 = xr.float()
    r32 = ep_gradient(m32, x32, target.float(), m32.zero_state(x32.shape[0], x32), relax_async, **kw).grads
    assert not all(torch.equal(g, r.double()) for g, r in zip(grads, r32))


def test_an_fp64_resume_continues_bit_for_bit(tmp_path):
    """One epoch, a resume (which builds the float64 model from the stored config), a second
    epoch: equal to two epochs in one go, every weight float64 (warm starts and momentum too)."""
    over = MLP + ["compute.precision=fp64", "ep.warm_start=true", "train.momentum=0.9"]
    a = make_trainer(load_config(None, over + ["train.epochs=2"]), tmp_path / "a")
    fit(a, progress=False)
    b = make_trainer(load_config(None, over + ["train.epochs=1"]), tmp_path / "b")
    fit(b, progress=False)
    c = resume_trainer(tmp_path / "b", load_config(None, over + ["train.epochs=2"]))
    assert all(v.dtype == torch.float64 for v in _floats(c.model).values())
    fit(c, progress=False)
    for p, q in zip(a.model.parameters(), c.model.parameters()):
        assert p.dtype == q.dtype == torch.float64
        assert torch.equal(p, q)
    assert a.history[-1]["test_loss"] == c.history[-1]["test_loss"]


def test_a_resume_keeps_the_run_dtype(tmp_path):
    """fp64 -> fp32 (or back) on resume would round the stored state: refused, one line naming
    compute.precision; fp32 -> bf16 (the same float32 state) still resumes."""
    t = make_trainer(load_config(None, MLP + ["train.epochs=1", "compute.precision=fp64"]), tmp_path / "a")
    fit(t, progress=False)
    with pytest.raises(ConfigError, match=r"^compute.precision: a resumed run keeps its run dtype \('fp64'"):
        resume_trainer(tmp_path / "a", load_config(None, MLP + ["train.epochs=2", "compute.precision=fp32"]))
    t = make_trainer(load_config(None, MLP + ["train.epochs=1"]), tmp_path / "b")
    fit(t, progress=False)
    with pytest.raises(ConfigError, match="compute.precision"):
        resume_trainer(tmp_path / "b", load_config(None, MLP + ["train.epochs=2", "compute.precision=fp64"]))
    resume_trainer(tmp_path / "b", load_config(None, MLP + ["train.epochs=2", "compute.precision=bf16"]))


def test_fp64_on_an_analog_card_is_one_line(tmp_path):
    """Tiles are simulated in fp32 (their precision is the DAC and ADC): fp64 with --device is
    refused before anything is written; bf16 / tf32 with a card still load."""
    res = runner.invoke(app, ["train", "--device", "memristor", "--set", "compute.precision=fp64",
                              "--out", str(tmp_path / "run")])
    one_line_error(res, "compute.precision", "digital only", "fp32")
    assert not (tmp_path / "run").exists()
    with pytest.raises(ConfigError, match="compute.precision"):
        load_config(None, ["analog.device=memristor", "compute.precision=fp64"])
    for p in ("fp32", "tf32", "bf16"):
        load_config(None, ["analog.device=memristor", f"compute.precision={p}"])
    load_config(None, ["compute.precision=fp64"])


def test_a_teacher_of_the_other_precision_answers_in_the_students_dtype(tmp_path):
    """Distillation across run dtypes: an fp32 teacher reads an fp64 student's batch in its own
    float32 and answers in float64 (its fp32 logits, cast); an fp64 teacher answers an fp32 batch
    in float32."""
    from analog_ep.train.teacher import Teacher

    for p in ("fp32", "fp64"):
        fit(make_trainer(load_config(None, MLP + ["train.epochs=1", f"compute.precision={p}"]), tmp_path / p),
            progress=False)
    cfg = load_config(None, MLP)
    train, _, info = load_data(cfg.data, cfg.seed)
    x = train.batch(slice(0, 8))[0]
    t32 = Teacher(tmp_path / "fp32", info.shape, info.num_classes)
    t64 = Teacher(tmp_path / "fp64", info.shape, info.num_classes)
    a, b = t32.logits(x.double()), t64.logits(x)
    assert a.dtype == torch.float64 and b.dtype == torch.float32
    assert torch.equal(a, t32.logits(x).double())
    assert torch.equal(b, t64.logits(x.double()).float())


@pytest.mark.parametrize("command", [["bench", "--repeats", "1", "--warmup", "0"], ["cost"]])
def test_bench_and_cost_time_and_price_the_fp64_step(command):
    """``bench`` and ``cost`` fetch their batch outside the training loop: at fp64 they cast it as
    the loop does (a float32 batch into a float64 model was a dtype error)."""
    sets = [a for kv in MLP + ["compute.precision=fp64"] for a in ("--set", kv)]
    res = runner.invoke(app, [*command, *sets, "--json"])
    assert res.exit_code == 0, res.output


def test_streamed_imagenet_batches_are_float64(tmp_path):
    """The streamed ImageNet folder split (decoded by its loader, not ``Split.batch``) reaches the
    fp64 model as float64 too, in training and evaluation order: the float32 batch, cast."""
    from test_data_imagenet_folder import S, make_imagenet

    make_imagenet(tmp_path)
    over = ["data.name=imagenet", f"data.root={tmp_path}", f"data.image_size={S}", "data.workers=0",
            "data.batch_size=2", "model.hidden=[6]", "solver.free_iters=3", "solver.nudge_iters=2"]
    t = make_trainer(load_config(None, over + ["compute.precision=fp64"]), None)
    t32 = make_trainer(load_config(None, over), None)
    order = epoch_order(len(t.train_set), 0, 0)
    for split, o in ((t.train_set, order), (t.test_set, None)):
        (x, y), (x32, y32) = next(iter(t.batches(split, o))), next(iter(t32.batches(split, o)))
        assert x.dtype == torch.float64 and x32.dtype == torch.float32
        assert torch.equal(x, x32.double()) and torch.equal(y, y32)
        t.train_step(x, y)


def test_an_fp64_run_deploys_onto_fp32_tiles(tmp_path):
    """``deploy`` of an fp64 run builds the card's model at the default precision (tiles are
    simulated in fp32; the fp64 config with a card would be refused): ideal tiles hold the trained
    float64 weights rounded to float32, and the trained accuracy is the fp64 network's own."""
    from analog_ep.study.deploy import Deployment

    t = make_trainer(load_config(None, MLP + ["train.epochs=1", "compute.precision=fp64"]), tmp_path / "run")
    fit(t, progress=False)
    dep = Deployment(tmp_path / "run", "ideal")
    assert dep.cfg.compute.precision == "fp32" and dep.cfg.analog.device == "ideal"
    assert dep.cfg.solver.tol == t.cfg.solver.tol  # 1e-4: a float32 sweep reaches it, kept
    assert dep.trained_accuracy == t.history[-1]["test_accuracy"]
    for syn, w, w_run in zip(dep.study.trainer.model.all_synapses(), dep.targets, t.model.all_synapses()):
        assert w.dtype == torch.float64 and torch.equal(w, w_run.weight)
        assert syn.storage.weight.dtype == torch.float32
        assert torch.allclose(syn.storage.weight.double(), w, rtol=1e-6, atol=1e-7)


def test_an_fp64_runs_float64_tolerance_is_reset_on_deploy():
    """A float64 run's tolerance below float32's reach (vgg_crnn's digital 1e-10) becomes the
    default on fp32 tiles (on a noise-free card it would run every sweep of the budget); a
    reachable one is kept (above), and a float32 run's is never touched."""
    from analog_ep.config.schema import SolverConfig
    from analog_ep.study.deploy import deploy_config

    run = load_config(None, MLP + ["compute.precision=fp64", "solver.tol=1e-10"])
    assert deploy_config(run, "ideal", []).solver.tol == SolverConfig().tol
    assert deploy_config(run, "ideal", ["solver.tol=1e-5"]).solver.tol == 1e-5  # --set wins
    run32 = load_config(None, MLP + ["solver.tol=1e-10"])
    assert deploy_config(run32, "ideal", []).solver.tol == 1e-10
