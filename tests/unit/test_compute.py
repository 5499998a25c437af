"""compute.*: accelerator resolution, no tensor created on the default device in the training
path, convergence checks every k sweeps, bf16 reads, rank shards."""

import pytest
import torch

from conftest import CRNN_PAPER, DCHN_PAPER
from analog_ep.compute import Dist, check_every, resolve_accelerator
from analog_ep.config import load_config
from analog_ep.errors import ConfigError
from analog_ep.solvers import relax_async
from analog_ep.synapses.storage import DigitalStorage
from analog_ep.train.build import build_model
from analog_ep.train.loop import make_trainer


def test_accelerator_names():
    assert resolve_accelerator("cpu") == torch.device("cpu")
    if torch.cuda.is_available():
        assert resolve_accelerator("auto").type == "cuda"
    else:
        assert resolve_accelerator("auto") == torch.device("cpu")
        with pytest.raises(ConfigError, match="compute.accelerator.*no CUDA"):
            resolve_accelerator("cuda")
        with pytest.raises(ConfigError, match="compute.accelerator"):
            resolve_accelerator("cuda:1")
    with pytest.raises(ConfigError, match="compute.accelerator: must be auto, cpu, cuda or cuda:N"):
        load_config(None, ["compute.accelerator=gpu"])
    with pytest.raises(ConfigError, match="solver.check_every"):
        load_config(None, ["solver.check_every=0"])
    with pytest.raises(ConfigError, match="compute.precision"):
        load_config(None, ["compute.precision=fp8"])


def test_check_every_default_by_device(monkeypatch):
    cfg = load_config(None, [])
    assert check_every(cfg.solver, torch.device("cpu")) == 1
    assert check_every(cfg.solver, torch.device("cuda", 0)) == 8
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert check_every(cfg.solver, torch.device("cpu")) == 8
    assert check_every(load_config(None, ["solver.check_every=3"]).solver, torch.device("cpu")) == 3


@pytest.mark.parametrize("n,world", [(10, 2), (7, 2), (5, 3), (1, 2), (64, 4)])
def test_shards_partition_the_global_batch(n, world):
    rows = [Dist(r, world).shard(n) for r in range(world)]
    assert rows[0].start == 0 and rows[-1].stop == n
    assert all(a.stop == b.start for a, b in zip(rows, rows[1:]))
    sizes = [r.stop - r.start for r in rows]
    assert max(sizes) - min(sizes) <= 1


CONFIGS = [
    [],
    ["algorithm=bp"],
    ["ep.estimator=random_sign", "train.clip_grad_norm=1.0"],
    [*DCHN_PAPER, "model.name=dchn_vgg5", "data.name=synthetic", "data.shape=[3,16,16]", "model.channels=[4,4,4,4]",
     "data.augment=[flip,crop]"],
    ["model.name=pcn_vgg5", "data.name=synthetic", "data.shape=[1,16,16]", "model.channels=[4,4,4,4]"],
    ["model.name=pcn_vgg5", "algorithm=pc", "data.name=synthetic", "data.shape=[1,16,16]",
     "model.channels=[4,4,4,4]", "model.batchnorm=true", "pc.precision=spiking", "train.optimizer=adamw"],
    ["model.name=mupc_resmlp", "algorithm=pc", "model.width=16", "model.depth=4", "train.optimizer=adam"],
    ["analog.device=memristor", "analog.w_noise_std=0.01", "analog.noise_policy=per_phase"],
    ["analog.device=reram_es", "analog.update=mixed"],
    ["model.name=hopfield_resnet13", "data.name=synthetic", "data.shape=[3,16,16]", "model.channels=[4,4,4,4]",
     "analog.device=memristor"],
    [*CRNN_PAPER, "model.name=vgg_crnn", "data.name=synthetic", "data.shape=[3,32,32]", "model.channels=[4,4,4,4,4]",
     "model.aux_nodes=[4]"],
    ["model.name=vgg_crnn", "data.name=synthetic", "data.shape=[3,32,32]", "model.channels=[4,4,4,4,4]",
     "model.aux_nodes=[4]"],  # its digital defaults: fp64, eps 0.05, objective aux weight
    [*DCHN_PAPER, "model.name=dchn_vgg5", "data.name=synthetic", "data.shape=[1,16,16]", "model.channels=[2,2,2,2]",
     "train.spectral_cap=0.5"],
    ["model.hidden=[12,8]", "analog.device=memristor", "train.spectral_cap=0.5"],
    ["compute.precision=fp64", "ep.warm_start=true"],
    ["compute.precision=fp64", "model.name=dchn_vgg5", "data.name=synthetic", "data.shape=[1,16,16]",
     "model.channels=[2,2,2,2]", "data.augment=[flip,crop]"],
]


@pytest.mark.parametrize("overrides", CONFIGS, ids=lambda o: ",".join(o) or "default")
def test_training_path_creates_no_tensor_on_the_default_device(overrides, tmp_path):
    """Every tensor of a training step and an evaluation is created on the device of the data or
    model it belongs to: with torch's default device set to ``meta``, a tensor made without an
    explicit device (``torch.zeros(n)``) lands on meta and the first operation mixing it with the
    CPU data raises. The CPU stand-in for "no tensor on the CPU by default on a GPU run"."""
    cfg = load_config(None, ["data.train_size=24", "data.test_size=8", "data.batch_size=8", *overrides])
    t = make_trainer(cfg, tmp_path)
    batches = list(t.batches(t.train_set, torch.arange(len(t.train_set))))[:2]
    torch.set_default_device("meta")
    try:
        for x, y in batches:
            loss, correct, _ = t.train_step(x, y)
            assert loss.device == x.device and correct.device == x.device
        t.evaluate(t.test_set)
    finally:
        torch.set_default_device(None)
    assert all(p.device.type == "cpu" and torch.isfinite(p).all() for p in t.model.parameters())


def _chain(seed=0):
    cfg = load_config(None, ["model.hidden=[12, 8]"])
    model = build_model(cfg, (1, 8, 8), 10)
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(6, 1, 8, 8, generator=g)
    return model, x


@pytest.mark.parametrize("k", [1, 3, 4, 7])
def test_check_every_runs_whole_blocks_and_matches_fixed_sweeps(k):
    """Checking convergence every k sweeps: the solver stops at the first multiple of k where
    every sample has converged (or at ``iters``); the states equal a plain fixed-sweep relaxation
    of that many sweeps, and the per-sample steps equal the every-sweep solver's."""
    model, x = _chain()
    const = model.const_drive(x)
    z = model.zero_state(6, x)
    ref, st1 = relax_async(model, const, z, iters=60, tol=1e-5, check_every=1)
    s, st = relax_async(model, const, z, iters=60, tol=1e-5, check_every=k)
    expect = min(-(-st1.sweeps // k) * k, 60)
    assert st.sweeps == expect
    fixed, _ = relax_async(model, const, z, iters=expect, tol=0.0)
    for a, b in zip(s, fixed):
        assert torch.equal(a, b)
    assert torch.equal(st.steps, st1.steps)
    assert bool(st.converged.all())


def test_bf16_reads_round_operands_and_accumulate_in_fp32():
    """bf16 reads equal the product of the bf16-rounded operands accumulated in fp32 (computed
    here in float64 from the rounded values), within fp32 accumulation error plus one bf16
    rounding of the output; they differ from the exact fp32 read by the bf16 input rounding."""
    g = torch.Generator().manual_seed(1)
    w = torch.randn(20, 300, generator=g)
    x = torch.randn(5, 300, generator=g)
    st = DigitalStorage(w.clone())
    exact = st.linear(x)
    st.read_dtype = torch.bfloat16
    with torch.no_grad():
        low = st.linear(x)
        low_t = st.linear_t(exact)
    assert low.dtype == torch.float32
    ref = x.bfloat16().double() @ w.bfloat16().double().t()
    scale = (x.bfloat16().double().abs() @ w.bfloat16().double().abs().t())
    assert ((low.double() - ref).abs() <= 2 ** -8 * ref.abs() + 1e-5 * scale).all()
    assert (low - exact).abs().max() > 1e-4  # really rounded
    ref_t = exact.bfloat16().double() @ w.bfloat16().double()
    assert torch.allclose(low_t.double(), ref_t, rtol=2 ** -7, atol=1e-3)
    # the cached weight follows in-place updates
    st.apply_update(torch.ones_like(w))
    with torch.no_grad():
        again = st.linear(x)
    ref2 = x.bfloat16().double() @ (w + 1).bfloat16().double().t()
    assert torch.allclose(again.double(), ref2, rtol=2 ** -7, atol=1e-3)
    # convs: same contract
    k = torch.randn(4, 3, 3, 3, generator=g)
    img = torch.randn(2, 3, 8, 8, generator=g)
    sc = DigitalStorage(k.clone())
    sc.read_dtype = torch.bfloat16
    with torch.no_grad():
        out = sc.conv(img, 1, 1)
    ref_c = torch.nn.functional.conv2d(img.bfloat16().double(), k.bfloat16().double(), padding=1)
    assert torch.allclose(out.double(), ref_c, rtol=2 ** -7, atol=1e-2)


def test_bf16_precision_reaches_every_digital_storage_and_backprop():
    cfg = load_config(None, ["compute.precision=bf16", "algorithm=bp"])
    model = build_model(cfg, (1, 8, 8), 10)
    stores = [m for m in model.modules() if isinstance(m, DigitalStorage)]
    assert stores and all(s.read_dtype == torch.bfloat16 for s in stores)
    x = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    out = model.ff_forward(x)
    out.sum().backward()
    assert all(s.weight.grad is not None and s.weight.grad.dtype == torch.float32 for s in stores)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
@pytest.mark.parametrize("cmd", ["train", "gradcheck", "bench"])
def test_cli_accelerator_without_cuda_is_one_line_exit_2(cmd, tmp_path):
    from typer.testing import CliRunner

    from analog_ep.cli import app

    args = [cmd, "--accelerator", "cuda"] + (["--out", str(tmp_path / "r")] if cmd == "train" else [])
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: compute.accelerator: 'cuda' asked for"), res.output
    assert not (tmp_path / "r").exists()  # nothing written
    if cmd == "gradcheck":
        ok = CliRunner().invoke(app, ["gradcheck", "--accelerator", "cpu", "--betas", "0.01", "--json"])
        assert ok.exit_code == 0 and '"accelerator": "cpu"' in ok.output


def test_compiled_pc_step_trains_like_the_eager_one(monkeypatch, tmp_path):
    """compute.compile: the trainer runs torch.compile's graphs of the PC step (traced by dynamo
    through the generic PCN code; the aot_eager backend here, inductor in real runs) and ends
    with the eager run's weights, with a last batch of another size (a second graph); bad
    combinations are one-line config errors."""
    import analog_ep.compute as compute
    from analog_ep.algorithms.pc import pc_gradient

    monkeypatch.setattr(compute, "COMPILE_BACKEND", "aot_eager")
    base = ["algorithm=pc", "model.name=pcn_mlp", "model.hidden=[12,8]", "data.train_size=20", "data.test_size=8",
            "data.batch_size=8", "pc.steps=4", "pc.activity_lr=0.2", "pc.activity_momentum=0.5",
            "train.optimizer=adam", "train.lr=0.01"]
    weights = []
    for comp in (False, True):
        t = make_trainer(load_config(None, base + [f"compute.compile={str(comp).lower()}"]), tmp_path / str(comp))
        init = [p.detach().clone() for p in t.model.ep_parameters()]
        for x, y in t.batches(t.train_set, torch.arange(len(t.train_set))):
            t.train_step(x, y)
        assert (t.rule._fn is pc_gradient) != comp
        weights.append([p.detach().clone() for p in t.model.ep_parameters()])
        assert all(not torch.equal(a, b) for a, b in zip(init, weights[-1]))
    for a, b in zip(*weights):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    with pytest.raises(ConfigError, match="compute.compile: compiles the PC step only"):
        load_config(None, ["compute.compile=true"])
    with pytest.raises(ConfigError, match="compute.compile: is for digital storages"):
        load_config(None, base + ["compute.compile=true", "analog.device=memristor"])
