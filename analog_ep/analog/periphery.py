"""Crossbar periphery: DAC and ADC, and the parameters of read noise, output noise, first-order IR
drop and the noise redraw policy.

:mod:`.reads` composes them around every tile's product, in physical order, for each read
(dense and conv, forward and transposed; the IR drop and output-noise equations are there)::

    x_q = dac(x, p)                                   # the driven lines: clip + quantize
    w   = <effective weight as read, weight read noise included (the storage's)>
    t   = (x_q . w) / w_scale                         # one tile's product, in device units
    t   = t * (1 - p.ir_drop * I)                     # first-order IR drop, per sample and line
    t   = t + p.read_noise_std * xi                   # output noise (out_noise_std / sqrt(m))
    out = w_scale * sum_tiles adc(t, p)               # that tile's ADC, then the digital sum

Converter bounds, output noise and line currents are in device units (``w_dev * x``).

**Read integration.** ``read_integration`` m (>= 1) is how many times the card's reference read
window a column's current is integrated before its ADC converts it (once). White current noise
(thermal, shot) integrated over m windows falls by ``sqrt(m)`` relative to the signal, so every
discrete read's output noise has std :attr:`PeripheryParams.read_noise_std` = ``out_noise_std /
sqrt(m)``: the one place the effective output noise is formed (torch and numba reads, the
noise-floor threshold and everything that reports the periphery take it from there). The weight
read noise (``w_noise_std``, a conductance fluctuation drawn per read and weight) is not white
within a read and is kept. The cost model prices each read at m times the read window
(:mod:`analog_ep.hardware.cost`). A settle (``analog.relaxation: settle``) has no discrete reads:
its noise bandwidth is set by its node time constant, so it refuses m != 1 (config loader).

Names follow aihwkit's ``IOParameters`` (``inp_bound``, ``out_bound``, ``w_noise``, ``out_noise``,
``ir_drop``) with bits instead of resolutions. A ``null`` bits or bound means ideal (no
quantization / no clipping), the default: an ideal periphery reproduces the float matmul.

**Converters.** A ``b``-bit converter with bound ``B`` is a symmetric mid-tread quantizer, as
aihwkit's resolution ``1 / (2^b - 2)`` of the full range::

    q(x) = D round(clip(x, -B, B) / D),   D = B / (2^(b-1) - 1)

It has ``2^b - 1`` levels (zero included, so zero inputs give zero drive and the levels are
symmetric for the forward and transposed reads). ``b = 1`` is the sign comparator ``{-B, +B}``
(``x >= 0 -> +B``). Both have at most ``2^b`` levels.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Optional

import torch

from ..errors import ConfigError


class NoisePolicy(str, enum.Enum):
    """When read noise (weight and output noise) is redrawn.

    ``per_read``: every read draws fresh noise. ``per_phase``: one draw per relaxation phase
    (free / nudged), shared by every read of that phase. ``per_batch``: one draw per mini-batch,
    shared by all its phases.
    """

    PER_READ = "per_read"
    PER_PHASE = "per_phase"
    PER_BATCH = "per_batch"


NM_SCOPES = ("layer", "tile")
TILINGS = ("fill", "equal")
BOUND_MANAGEMENTS = ("none", "iterative", "shift")


def _need(cond: bool, key: str, msg: str, value) -> None:
    if not cond:
        raise ConfigError(f"{key}: {msg}, got {value!r}")


DEFAULT_SETTLE_CAPACITANCE_F = 1e-13
"""The settle neuron's capacitance where neither the card's ``periphery.settle_capacitance_f`` nor
``analog.settle_capacitance_f`` gives one: 100 fF, a neuron's integrating capacitor (assumed)."""

DEFAULT_SETTLE_G_LEAK_S = 1e-6
"""The settle neuron's leak where neither the card's ``periphery.settle_g_leak_s`` nor
``analog.settle_g_leak_s`` gives one: 1 uS (with 100 fF, tau = 100 ns)."""


@dataclass(frozen=True)
class PeripheryParams:
    """DAC / ADC / noise parameters of one tile's read path (ideal by default)."""

    inp_bits: Optional[int] = None
    """DAC resolution in bits (>= 1); null = unquantized inputs."""
    inp_bound: Optional[float] = None
    """DAC full scale B: inputs are clipped to [-B, B] (> 0; in state units); null = no clipping."""
    out_bits: Optional[int] = None
    """ADC resolution in bits (>= 1); null = unquantized outputs."""
    out_bound: Optional[float] = None
    """ADC full scale: outputs are clipped to [-B, B] (> 0; device units, ``w_dev * x``); null = none."""
    w_noise_std: float = 0.0
    """Read noise on each weight, std relative to the weight scale ``max(|w_min|, |w_max|)``."""
    out_noise_std: float = 0.0
    """Additive Gaussian noise on each tile output before its ADC (device units, ``w_dev * x``)."""
    read_integration: float = 1.0
    """m >= 1: each read integrates the column currents over m times the card's reference read
    window before its one ADC conversion; the output noise std becomes ``out_noise_std /
    sqrt(m)`` (:attr:`read_noise_std`), the read's latency and window-bound energy m times
    (module doc). 1 = the card's read as it is."""
    ir_drop: float = 0.0
    """First-order IR-drop coefficient in [0, 1]: each tile output shrinks by ``ir_drop`` times its
    line's current relative to the tile's maximum (see :mod:`.reads`); needs ``inp_bound``."""
    noise_policy: str = "per_read"
    """When read noise is redrawn: ``per_read``, ``per_phase`` or ``per_batch``."""
    noise_management: str = "none"
    """Input scaling before the DAC: ``none``, or ``abs_max`` (aihwkit's
    ``NoiseManagementType.ABS_MAX``): each read's input vector is divided by its largest |x| per
    sample before the DAC (inputs then lie in [-1, 1], the full DAC range with ``inp_bound: 1``)
    and the outputs are multiplied back after the ADC; an all-zero input stays zero. Its scope
    is ``nm_scope``."""
    nm_scope: str = "layer"
    """Where ``abs_max`` noise management takes its max: ``layer`` (one max |x| per sample over the
    layer's whole input, shared by all its tiles) or ``tile`` (aihwkit: every tile is its own
    analog tile with its own noise management, so each tile's max is over its own input slice,
    per sample and, for a convolution, per patch; each tile's output is multiplied back by its
    own scale before the digital sum). Applies to forward and transposed reads."""
    tiling: str = "fill"
    """How a layer's driven lines split into tiles of at most ``max_rows`` (forward) /
    ``max_cols`` (transposed) lines: ``fill`` (blocks of the maximum, the last one short:
    784 rows -> 512 + 272) or ``equal`` (aihwkit's ``get_split_sizes``: ceil(n / max) tiles of
    nearly equal size, the first ``n mod tiles`` one line longer: 784 -> 392 + 392; a conv
    splits its input channels so)."""
    bound_management: str = "none"
    """What a forward read does when a tile's output saturates the ADC (aihwkit's
    ``BoundManagementType``; transposed reads never manage bounds, as aihwkit): ``none`` (clip);
    ``iterative`` (the read is repeated with the inputs halved, x / 2^k on the DAC, the outputs
    multiplied back by 2^k after the ADC, until no output of that sample's tile read saturates
    or the limit of ``max_bm_factor`` / ``max_bm_res`` is reached; per sample, per tile, per
    conv patch; every re-read is a real read with its own output noise, DAC and ADC);
    ``shift`` (as aihwkit's enum documents it; its 1.2.0 simulator implements none: a read whose
    largest output exceeds ``out_bound`` has all its outputs shifted by ``out_bound - max
    output`` before the ADC, per sample, tile and patch, and the shift is not undone, which only
    softmax-like consumers tolerate)."""
    max_bm_factor: int = 1000
    """``iterative``: stop after the pass whose input reduction 2^k exceeds this (aihwkit's
    ``max_bm_factor``, default 1000: at most 11 passes)."""
    max_bm_res: float = 0.25
    """``iterative`` with a quantizing DAC: stop after the pass whose reduction 2^k exceeds
    ``max_bm_res / inp_res``, ``inp_res`` the DAC step relative to ``inp_bound``
    (``1 / (2^(inp_bits-1) - 1)``; aihwkit's ``max_bm_res``, default 0.25)."""
    bm_test_negative_bound: bool = True
    """``iterative``: an output below ``-out_bound`` also counts as saturation
    (aihwkit's ``bm_test_negative_bound``, default true); false = only the positive bound."""
    settle_capacitance_f: Optional[float] = None
    """The settle relaxation's neuron (``analog.relaxation: settle``, :mod:`analog_ep.solvers.settle`):
    the node's integrating capacitance C in farads (> 0). The neuron is a virtual-ground
    integrator on its line: its input holds the line at virtual ground, so the crossbar's
    conductances drive it with their current but do not load it (the node's fixed point is the
    iterative solver's), and the neuron has its own leak ``settle_g_leak_s``. null = 100 fF
    (:data:`DEFAULT_SETTLE_CAPACITANCE_F`); ``analog.settle_capacitance_f`` overrides it."""
    settle_g_leak_s: Optional[float] = None
    """The settle neuron's leak (feedback) conductance G_leak in siemens (> 0): the drive ``h`` = 1
    is the current that holds the node at 1 against it, so a leak of the card's conductance span
    ``g_max - g_min`` (one unit device weight) makes the node's gain the weight's. With
    ``settle_capacitance_f`` it sets the node time constant ``tau = C / G_leak``
    (:attr:`settle_tau_s`). null = 1 uS (:data:`DEFAULT_SETTLE_G_LEAK_S`);
    ``analog.settle_g_leak_s`` overrides it."""

    def __post_init__(self) -> None:
        for bits, bound in (("inp_bits", "inp_bound"), ("out_bits", "out_bound")):
            b, B = getattr(self, bits), getattr(self, bound)
            if b is not None:
                _need(isinstance(b, int) and not isinstance(b, bool) and b >= 1, bits,
                      "must be an integer >= 1 or null", b)
            if B is not None:
                _need(isinstance(B, (int, float)) and not isinstance(B, bool)
                      and math.isfinite(B) and B > 0, bound, "must be > 0 or null", B)
            if b is not None:
                _need(B is not None, bits, f"needs {bound} (the converter's full scale)", b)
        for k in ("w_noise_std", "out_noise_std"):
            v = getattr(self, k)
            _need(isinstance(v, (int, float)) and math.isfinite(v) and v >= 0, k, "must be >= 0", v)
        m = self.read_integration
        _need(isinstance(m, (int, float)) and not isinstance(m, bool) and math.isfinite(m) and m >= 1,
              "read_integration", "must be a number >= 1 (times the card's read window; 1: as the card)", m)
        _need(0 <= self.ir_drop <= 1, "ir_drop", "must be in [0, 1]", self.ir_drop)
        valid = [p.value for p in NoisePolicy]
        _need(self.noise_policy in valid, "noise_policy", f"must be one of {', '.join(valid)}",
              self.noise_policy)
        _need(self.noise_management in ("none", "abs_max"), "noise_management",
              "must be one of none, abs_max", self.noise_management)
        for key, valid in (("nm_scope", NM_SCOPES), ("tiling", TILINGS),
                           ("bound_management", BOUND_MANAGEMENTS)):
            _need(getattr(self, key) in valid, key, f"must be one of {', '.join(valid)}", getattr(self, key))
        _need(isinstance(self.max_bm_factor, int) and not isinstance(self.max_bm_factor, bool)
              and self.max_bm_factor >= 1, "max_bm_factor", "must be an integer >= 1", self.max_bm_factor)
        _need(isinstance(self.max_bm_res, (int, float)) and not isinstance(self.max_bm_res, bool)
              and math.isfinite(self.max_bm_res) and self.max_bm_res > 0, "max_bm_res", "must be > 0",
              self.max_bm_res)
        _need(isinstance(self.bm_test_negative_bound, bool), "bm_test_negative_bound", "must be true or false",
              self.bm_test_negative_bound)
        for key, unit in (("settle_capacitance_f", "farads"), ("settle_g_leak_s", "siemens")):
            v = getattr(self, key)
            _need(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0),
                  key, f"must be > 0 {unit} or null (the default neuron)", v)

    @property
    def read_noise_std(self) -> float:
        """The output noise std of one discrete read: ``out_noise_std / sqrt(read_integration)``
        (module doc, *Read integration*); exactly ``out_noise_std`` at m = 1."""
        m = self.read_integration
        return self.out_noise_std if m == 1 else self.out_noise_std / math.sqrt(m)

    @property
    def settle_tau_s(self) -> float:
        """The settle neuron's time constant ``tau = C / G_leak`` in seconds (each null one at its
        default: :data:`DEFAULT_SETTLE_CAPACITANCE_F`, :data:`DEFAULT_SETTLE_G_LEAK_S`)."""
        c = DEFAULT_SETTLE_CAPACITANCE_F if self.settle_capacitance_f is None else self.settle_capacitance_f
        g = DEFAULT_SETTLE_G_LEAK_S if self.settle_g_leak_s is None else self.settle_g_leak_s
        return c / g

    @property
    def ideal(self) -> bool:
        """True when the periphery changes nothing (the float matmul). ``noise_management`` does
        not count: scaling the inputs by 1 / max|x| and the outputs back is exact without
        converters, noise or IR drop."""
        return (self.inp_bits is None and self.inp_bound is None and self.out_bits is None
                and self.out_bound is None and self.w_noise_std == 0 and self.out_noise_std == 0
                and self.ir_drop == 0)


def converter_step(bits: int, bound: float) -> float:
    """The grid step ``bound / (2^(bits-1) - 1)`` of a symmetric ``bits``-bit converter (DAC or
    ADC, ``bits >= 2``) with full scale ``bound``: :func:`quantize`'s, and the one every other
    user of the grid (the read-noise floor, the saturation test, the numba reads) takes."""
    return bound / (2 ** (bits - 1) - 1)


def quantize(x: torch.Tensor, bits: Optional[int], bound: Optional[float]) -> torch.Tensor:
    """Clip to ``[-bound, bound]`` and quantize to the symmetric ``bits``-bit grid (module doc).

    ``bits=None`` only clips; ``bound=None`` (then ``bits`` must be None) returns ``x``.
    """
    if bound is None:
        if bits is not None:
            raise ConfigError(f"quantize: {bits} bits need a bound (the converter's full scale)")
        return x
    x = x.clamp(-bound, bound)
    if bits is None:
        return x
    if bits == 1:
        return torch.where(x >= 0, torch.full_like(x, bound), torch.full_like(x, -bound))
    step = converter_step(bits, bound)
    if x.requires_grad:
        return torch.round(x / step) * step
    return x.div_(step).round_().mul_(step)  # in place on the clipped copy: the same values


def quantize_(x: torch.Tensor, bits: Optional[int], bound: Optional[float]) -> torch.Tensor:
    """:func:`quantize` in place on ``x`` (a fresh tensor the caller owns); the same values."""
    if bound is None:
        if bits is not None:
            raise ConfigError(f"quantize: {bits} bits need a bound (the converter's full scale)")
        return x
    x.clamp_(-bound, bound)
    if bits is None:
        return x
    if bits == 1:
        return torch.where(x >= 0, torch.full_like(x, bound), torch.full_like(x, -bound))
    step = converter_step(bits, bound)
    return x.div_(step).round_().mul_(step)


def levels(bits: int, bound: float) -> torch.Tensor:
    """All output values of a ``bits``-bit converter with full scale ``bound`` (float64)."""
    if bits == 1:
        return torch.tensor([-bound, bound], dtype=torch.float64)
    m = 2 ** (bits - 1) - 1
    return torch.arange(-m, m + 1, dtype=torch.float64) * (bound / m)


def bm_passes(p: PeripheryParams) -> int:
    """Most passes of a forward read under ``bound_management: iterative`` (1 otherwise).

    aihwkit (``ForwardBackwardPassIOManaged::forwardVector``, rpucuda/rpu_forward_backward_pass.cpp)
    runs pass k = 0, 1, ... with the inputs divided by ``2^k`` and stops after the first pass
    that does not saturate, or after the pass with ``(int) 2^k > max_bm_factor``, or (with a DAC
    step ``inp_res > 0``) with ``2^k > max_bm_res / inp_res``. Here ``inp_res`` is the DAC step
    relative to ``inp_bound`` (aihwkit's inputs are scaled to bound 1); no DAC bits = no limit."""
    if p.bound_management != "iterative":
        return 1
    inp_res = 0.0 if p.inp_bits is None else 1.0 / max(2 ** (p.inp_bits - 1) - 1, 1)
    k = 0
    while not (2 ** k > p.max_bm_factor or (inp_res > 0 and 2 ** k > p.max_bm_res / inp_res)):
        k += 1
    return k + 1


def dac(x: torch.Tensor, p: PeripheryParams) -> torch.Tensor:
    """Digital-to-analog conversion of the inputs: ``quantize(x, inp_bits, inp_bound)``."""
    return quantize(x, p.inp_bits, p.inp_bound)


def adc(y: torch.Tensor, p: PeripheryParams) -> torch.Tensor:
    """Analog-to-digital conversion of the outputs: ``quantize(y, out_bits, out_bound)``."""
    return quantize(y, p.out_bits, p.out_bound)


__all__ = ["BOUND_MANAGEMENTS", "DEFAULT_SETTLE_CAPACITANCE_F", "DEFAULT_SETTLE_G_LEAK_S", "NM_SCOPES", "NoisePolicy", "PeripheryParams", "TILINGS", "adc", "bm_passes",
           "dac", "levels", "quantize"]
