"""The fused settle step (``analog_ep/analog/kernels/numba_settle.py``) against the torch loop of
:func:`analog_ep.solvers.settle.relax_settle` (the reference, run on the same reads by turning
the fused step off): bit for bit the same states, residuals, stop decisions, settle times and
weights after training steps (on torch's FMA kernels, AVX2 and up; without them the floats to a
tolerance of a few ulps per step and the steps, stops and counts still exactly:
:func:`_same`), on every read the settle uses (ideal tiles; memristor tiles
noiseless, with white read noise in the loop, with per-phase noise, with IR drop), float32 and
float64, free and nudged phases (MSE and clamp nudges), ``tol`` and ``noise_floor`` stops; and
it declines (the torch loop runs) where it has no form: the cross-entropy readout, ``compute.kernels:
torch``.
"""

import sys

import pytest
import torch

from conftest import build_float64
from analog_ep.analog import kernels as K
from analog_ep.config import load_config
from analog_ep.solvers import settle as ST

pytest.importorskip("numba")

# the kernel's update is an LLVM fma, as torch.lerp's vectorized CPU kernel on an FMA build
# (AVX2 and up); torch's default-capability build (a CPU without FMA, or ATEN_CPU_CAPABILITY=default)
# multiplies and adds, rounding twice: there the two loops agree to float tolerance, not bit for bit
FMA = torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512", "ZVECTOR", "SVE256")
TOLERANCE = {torch.float32: (1e-5, 1e-6), torch.float64: (1e-12, 1e-14)}
"""``(rtol, atol)`` of a float compared without FMA: a few ulps per integration step, over tens of
steps of a contracting flow (measured under ``ATEN_CPU_CAPABILITY=default``, session 11: float32
residuals within 1.2e-7, ideal tiles' weights after two EP steps within 2e-9, the memristor cards'
pulse-quantized weights equal; the steps, stops and event counts equal; every test here passes)."""


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Bit for bit on an FMA build; without FMA a float to :data:`TOLERANCE` (the same shape and
    dtype), anything else (steps, flags) still exactly."""
    if FMA or not a.is_floating_point():
        return torch.equal(a, b)
    rtol, atol = TOLERANCE[a.dtype]
    return a.dtype == b.dtype and a.shape == b.shape and torch.allclose(a, b, rtol=rtol, atol=atol)

TAU = 1e-7
MLP = ["data.name=digits", "model.hidden=[12]", "analog.relaxation=settle"]
MEM = ["analog.device=memristor"]
READS = {
    "ideal": ["analog.device=ideal"],
    "memristor_noiseless": MEM + ["analog.w_noise_std=0", "analog.out_noise_std=0"],
    "memristor_card": MEM,
    "memristor_white": MEM + ["analog.w_noise_std=0.03", "analog.noise_policy=per_read"],
    "memristor_per_phase": MEM + ["analog.w_noise_std=0.03", "analog.noise_policy=per_phase"],
    "memristor_ir_drop": MEM + ["analog.ir_drop=0.05"],
}


def _torch_loop(monkeypatch):
    monkeypatch.setattr(ST, "_fused_steps", lambda *a: None)


def _train(over, steps=2):
    from analog_ep.train import make_trainer

    torch.manual_seed(0)
    t = make_trainer(load_config(None, MLP + ["data.batch_size=8", "data.train_size=32", "data.test_size=8",
                                              "solver.free_iters=12", "solver.nudge_iters=6"] + over), None)
    xs, ys = t.train_set.batch(slice(0, 8))
    stats = [t.train_step(xs, ys)[2] for _ in range(steps)]
    return [p.detach().clone() for p in t.model.parameters()], stats, t.model.event_counts()


def _same_stats(a, b):
    for sa, sb in zip(a, b):
        assert sa.keys() == sb.keys()
        for k in sa:
            assert sa[k].sweeps == sb[k].sweeps and sa[k].dt_s == sb[k].dt_s, k
            for f in ("steps", "residual", "converged", "settle_time_s"):
                assert _same(getattr(sa[k], f), getattr(sb[k], f)), (k, f)


@pytest.mark.parametrize("reads, nudge", [(r, "mse") for r in READS] + [("memristor_card", "clamp"),
                                                                          ("memristor_white", "clamp")])
def test_training_steps_are_as_the_torch_loops(reads, nudge, monkeypatch):
    """Two EP training steps (free, nudge+, nudge-; float32; the default stop, noise floor where
    the reads are noisy): the same weights and per-phase statistics with and without the
    fused step (bit for bit on an FMA build, else to :data:`TOLERANCE`: :func:`_same`), and the
    fused step ran."""
    over = READS[reads] + [f"ep.nudge={nudge}"]
    K.reset_ran()
    a, sa, ca = _train(over)
    assert K.ran()["settle_step"] == "numba"
    with monkeypatch.context() as mp:
        _torch_loop(mp)
        b, sb, cb = _train(over)
    assert all(_same(p, q) for p, q in zip(a, b))
    _same_stats(sa, sb)
    assert ca == cb  # the hardware events the cost model prices: the same reads, conversions and pulses


@pytest.mark.parametrize("reads", ["ideal", "memristor_white", "memristor_ir_drop"])
@pytest.mark.parametrize("beta", [0.0, -0.3])
@pytest.mark.parametrize("stop", ["tol", "noise_floor"])
def test_a_float64_phase_is_as_the_torch_loops(reads, beta, stop, monkeypatch):
    """One phase at float64 from a warm state, with an explicit step: the digitized states, the
    per-sample steps, residuals and settle times are the torch loop's (exactly on an FMA build,
    else the floats to :data:`TOLERANCE`: :func:`_same`)."""
    def phase():
        _, m, x, y = build_float64(MLP + READS[reads], seed=2, n=6)
        const = m.const_drive(x)
        init = [0.3 * torch.ones(6, *sh, dtype=torch.float64) for sh in m.node_shapes]
        m.begin_batch()
        m.begin_phase("free")
        return ST.relax_settle(m, const, init, beta=beta, target=y, iters=15, tol=1e-6, tau_s=TAU, dt_s=TAU / 3,
                               stop=stop, noise_patience=3)

    K.reset_ran()
    sa, sta = phase()
    assert K.ran()["settle_step"] == "numba"
    with monkeypatch.context() as mp:
        _torch_loop(mp)
        sb, stb = phase()
    assert all(_same(p, q) for p, q in zip(sa, sb))
    _same_stats([{"p": sta}], [{"p": stb}])
    assert sta.sweeps > 3  # the phase ran a while (not a trivial stop)


def test_declines_where_it_has_no_form():
    """The cross-entropy readout (its nudge is a read of the softmax, not a node map) and
    ``compute.kernels: torch`` run the torch loop."""
    K.reset_ran()
    _train(["analog.device=ideal", "ep.nudge=cross_entropy"], steps=1)
    assert K.ran()["settle_step"] == "torch"
    K.reset_ran()
    _train(["analog.device=ideal", "compute.kernels=torch"], steps=1)
    assert K.ran()["settle_step"] == "torch"


def test_the_comparison_without_fma_can_fail(monkeypatch):
    """The tolerance branch (a CPU without FMA) still fails on a real difference: a float off by
    1e-4 relative, another shape or dtype, a step count off by one; a few ulps pass."""
    monkeypatch.setattr(sys.modules[__name__], "FMA", False)
    a = torch.linspace(-1.0, 1.0, 50)
    assert _same(a, torch.nextafter(torch.nextafter(a, a + 1), a + 1))
    assert not _same(a, a * (1 + 1e-4)) and not _same(a, a[:-1]) and not _same(a, a.double())
    assert not _same(torch.arange(5), torch.arange(5) + (torch.arange(5) == 2))
    d = a.double()
    assert _same(d, torch.nextafter(d, d + 1)) and not _same(d, d * (1 + 1e-9))
