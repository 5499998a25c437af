"""The fused pulse-rounds kernel (``compute.kernels: numba``, :mod:`analog_ep.analog.kernels.numba_engine`)
against the torch engine's compact rounds and against a deliberately plain per-device loop.

The kernel draws the torch engine's cycle-to-cycle stream (Box-Muller on the same hash words), so
noise-free rounds must be bit-identical and noisy ones equal to float rounding: float32 evaluates
``log`` / ``cos`` with polynomials (a few 1e-7 from torch's vectorized routines, ``test_pulse_normals.py``),
float64 with libm; a pulse moves by at most an ulp or two more or less, never a different pulse.
"""

from __future__ import annotations

import math

import pytest
import torch

from analog_ep.analog import engine as E
from analog_ep.analog import kernels as K
from analog_ep.analog import streams as S
from analog_ep.analog.population import sample_device_state, settle
from analog_ep.analog.rules import ConstantStep, ExpStep, LinearStep, SoftBounds
from conftest import kernels_mode


@pytest.fixture
def ne():
    pytest.importorskip("numba")
    from analog_ep.analog.kernels import numba_engine
    with kernels_mode("torch"):
        yield numba_engine


CARDS = {
    "soft_bounds": SoftBounds(dw_min=0.01, dw_min_dtod=0.1, dw_min_std=0.1, up_down_dtod=0.01, w_max_dtod=0.05,
                              w_min_dtod=0.05),
    "soft_bounds_quiet": SoftBounds(dw_min=0.01, dw_min_dtod=0.1, up_down_dtod=0.01, w_max_dtod=0.05),
    "linear_additive_levels": LinearStep(dw_min=0.02, dw_min_dtod=0.2, dw_min_std=0.3, gamma_up=0.4,
                                         gamma_down=0.3, gamma_up_dtod=0.05, mult_noise=False, n_states=41),
    "constant_stuck": ConstantStep(dw_min=0.02, dw_min_dtod=0.1, dw_min_std=0.3, up_down=0.2,
                                   stuck_at_min_fraction=0.1, stuck_at_max_fraction=0.05),
}


def _case(params, shape, dtype, seed=3, scale=4.0):
    g = torch.Generator().manual_seed(seed)
    st = sample_device_state(params, shape, g, dtype=dtype)
    w0 = settle((torch.rand(shape, generator=g, dtype=dtype) * 2 - 1) * 0.9, st, params)
    live = torch.rand(shape, generator=g) < 0.3
    n = (torch.randn(shape, generator=g) * scale * live).round().to(torch.int32).clamp(-31, 31)
    return st, w0, n


def _run(mode, w0, n, st, params, key, rounds):
    K.set_mode(mode)
    w = w0.clone()
    out = E.apply_counts(w, n, st, params, key, rounds=rounds, settled=True, out=w, closed_form=False)
    assert out is w
    assert K.ran()["apply_counts"] == mode
    K.set_mode("torch")
    return w


@pytest.mark.parametrize("name", sorted(CARDS))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("rounds", [31, 3, None])
def test_pulse_kernel_equals_torch_engine(ne, name, dtype, rounds):
    """Same devices, counts and key: the kernel's weights are the torch engine's (noise-free: bit for
    bit; noisy: within 4 ulps of the bound, on under 5 % of the devices: the normals' last bits
    reach a weight's ulp on about 2 % of the pulsed devices); a cap of 3 rounds gives
    the capped devices 3 pulses on both; stuck devices never move; another key moves others."""
    params = CARDS[name]
    st, w0, n = _case(params, (40, 97), dtype)
    a = _run("torch", w0, n, st, params, 1234, rounds)
    b = _run("numba", w0, n, st, params, 1234, rounds)
    assert b.dtype == dtype and b.shape == w0.shape
    moved = a != w0
    assert int(moved.sum()) > 200                          # the case pulses many devices
    if params.noise_std == 0:
        assert torch.equal(a, b)
    else:
        d = (a - b).abs()
        assert float(d.max()) <= 4 * torch.finfo(dtype).eps
        assert int((d > 0).sum()) <= 0.05 * d.numel()
        c = _run("numba", w0, n, st, params, 1235, rounds)
        assert not torch.equal(b, c)                       # the cycle-to-cycle draws follow the key
    stuck = st.stuck != 0
    assert torch.equal(b[stuck], w0[stuck])
    assert torch.equal(b[n == 0], w0[n == 0])


def _plain_loop(w0, n, st, params, key, cap):
    """The rounds written the plainest way: device by device, pulse by pulse, in float64 Python
    arithmetic, with the engine's stream's normal ``counter_normal(key, i, k)``."""
    w = w0.reshape(-1).tolist()
    nf = n.reshape(-1).tolist()
    f = {k: getattr(st, k).reshape(-1).tolist() for k in ("w_max", "w_min", "scale_up", "scale_down", "nl_up",
                                                           "nl_down", "stuck")}
    std = params.noise_std
    for i in range(len(w)):
        c = nf[i]
        if c == 0 or f["stuck"][i] != 0:
            continue
        up = c > 0
        scale = f["scale_up"][i] if up else f["scale_down"][i]
        slope = f["nl_up"][i] if up else f["nl_down"][i]
        for k in range(min(abs(c), cap)):
            xi = float(S.counter_normal(key, torch.tensor([i]), k, torch.float64)[0])
            mag = scale * (1.0 - slope * w[i])
            mag = mag * (1.0 + std * xi)
            w[i] = min(max(w[i] + (mag if up else -mag), f["w_min"][i]), f["w_max"][i])
    return torch.tensor(w, dtype=torch.float64).view(w0.shape)


def test_pulse_kernel_equals_plain_per_device_loop(ne):
    """The kernel (float64, SoftBounds with multiplicative cycle-to-cycle noise) against the plain
    loop above: the same pulses with the same normals, to float64 rounding."""
    params = CARDS["soft_bounds"]
    st, w0, n = _case(params, (9, 14), torch.float64, seed=5)
    got = _run("numba", w0, n, st, params, 99, 31)
    ref = _plain_loop(w0, n, st, params, 99, 31)
    assert int((ref != w0).sum()) > 20
    torch.testing.assert_close(got, ref, rtol=0, atol=1e-14)


def test_pulse_kernel_rules_without_affine_form_run_torch(ne):
    """A rule without ``pulse_form`` (ExpStep) keeps the torch engine under compute.kernels: numba."""
    params = ExpStep(dw_min=0.01, dw_min_std=0.1)
    assert ExpStep.pulse_form is None and SoftBounds.pulse_form == "affine" and ConstantStep.pulse_form == "affine"
    st, w0, n = _case(params, (8, 8), torch.float32)
    K.set_mode("numba")
    E.apply_counts(w0.clone(), n, st, params, 1, rounds=31, settled=True)
    assert K.ran()["apply_counts"] == "torch"
    K.set_mode("torch")


def test_pulse_kernel_in_storage_and_per_vector(ne):
    """Through the storage (rounded and bit-stream per-vector updates of the memristor card), both
    kernel modes give the same weights to a few ulps and the same pulse counts and wear."""
    from analog_ep.analog.cards import load_device
    from analog_ep.analog.storage import AnalogStorage
    card = load_device("memristor")
    g = torch.Generator().manual_seed(0)
    w = torch.randn(30, 50, generator=g) * 0.2
    d, x = torch.randn(8, 30, generator=g), torch.randn(8, 50, generator=g)
    res = {}
    for mode in ("torch", "numba"):
        K.set_mode(mode)
        outs = []
        for kw in (dict(), dict(pulse_scheme="bitstream", pulse_accumulation="per_vector")):
            s = AnalogStorage(w, card.params, card.periphery, seed=4, **kw)
            for _ in range(3):
                s.apply_update(0.03 * (d.t() @ x), vectors=(d * 0.1, x))
            outs.append((s.w_dev.clone(), int(s.pulses), s.wear.clone()))
        res[mode] = outs
    K.set_mode("torch")
    for (wa, pa, ea), (wb, pb, eb) in zip(res["torch"], res["numba"]):
        assert pa == pb and pa > 100 and torch.equal(ea, eb)
        assert float((wa - wb).abs().max()) <= 8 * torch.finfo(torch.float32).eps


def test_the_prefetch_intrinsic_is_named_after_the_pointer_type_llvmlite_spells(ne, monkeypatch):
    """Review of session 11: ``llvm.prefetch``'s name was hard-coded ``llvm.prefetch.p0`` (the opaque
    pointers' mangling). It is mangled from the pointer type: ``p0i8`` for a typed ``i8*`` (the IR
    layer's spelling before llvmlite 0.45, and numba's still), ``p0`` for an opaque ``ptr``; and the
    kernel still emits a prefetch instruction here."""
    import numpy as np
    from llvmlite import ir
    from llvmlite.ir import types as lt
    from numba import njit

    i8 = ir.IntType(8)
    monkeypatch.setattr(lt, "ir_layer_typed_pointers_enabled", True, raising=False)  # (older llvmlite: typed only)
    assert str(i8.as_pointer()) == "i8*" and ne._prefetch_fn(ir.Module(), i8.as_pointer()).name == "llvm.prefetch.p0i8"
    if hasattr(lt, "_TypedPointerType"):  # llvmlite >= 0.45: opaque pointers exist in its IR layer
        monkeypatch.setattr(lt, "ir_layer_typed_pointers_enabled", False)
        opaque = ir.PointerType()
        assert str(opaque) == "ptr" and ne._prefetch_fn(ir.Module(), opaque).name == "llvm.prefetch.p0"
    monkeypatch.undo()
    m = ir.Module()
    assert ne._prefetch_fn(m, i8.as_pointer()) is ne._prefetch_fn(m, i8.as_pointer())  # declared once a module

    @njit
    def touch(a):
        s = 0.0
        for i in range(a.shape[0]):
            ne._prefetch(a, i)
            s += a[i]
        return s

    assert touch(np.arange(8.0)) == 28.0
    asm = next(iter(touch.inspect_asm().values()))
    assert "prefetch" in asm or "prfm" in asm  # x86's prefetcht0, arm64's prfm
