"""Crossbar periphery: DAC, ADC, read noise, output noise, first-order IR drop, noise redraw policy.

Pure functions of ``(tensor, params)``; :mod:`.reads` composes them around every tile's product,
in physical order, for each read (dense and conv, forward and transposed)::

    x_q = dac(x, p)                                   # the driven lines: clip + quantize
    w   = <effective weight as read, weight read noise included (the caller's)>
    t   = (x_q . w) / w_scale                         # one tile's product, in device units
    t   = ir_drop_scale(t, I, p.ir_drop)              # first-order IR drop, per sample and line
    t   = t + p.out_noise_std * xi                    # output noise
    out = w_scale * sum_tiles adc(t, p)               # that tile's ADC, then the digital sum

Converter bounds, output noise and line currents are in device units (``w_dev * x``).

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
from .streams import Generatorish, as_generator


class NoisePolicy(str, enum.Enum):
    """When read noise (weight and output noise) is redrawn.

    ``per_read``: every read draws fresh noise. ``per_phase``: one draw per relaxation phase
    (free / nudged), shared by every read of that phase. ``per_batch``: one draw per mini-batch,
    shared by all its phases.
    """

    PER_READ = "per_read"
    PER_PHASE = "per_phase"
    PER_BATCH = "per_batch"


def _need(cond: bool, key: str, msg: str, value) -> None:
    if not cond:
        raise ConfigError(f"{key}: {msg}, got {value!r}")


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
    ir_drop: float = 0.0
    """First-order IR-drop coefficient in [0, 1]: each tile output shrinks by ``ir_drop`` times its
    line's current relative to the tile's maximum (see :func:`apply_ir_drop`); needs ``inp_bound``."""
    noise_policy: str = "per_read"
    """When read noise is redrawn: ``per_read``, ``per_phase`` or ``per_batch``."""
    noise_management: str = "none"
    """Input scaling before the DAC: ``none``, or ``abs_max`` (aihwkit's
    ``NoiseManagementType.ABS_MAX``): each read's input vector is divided by its largest |x| per
    sample before the DAC (inputs then lie in [-1, 1], the full DAC range with ``inp_bound: 1``)
    and the outputs are multiplied back after the ADC; an all-zero input stays zero."""

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
        _need(0 <= self.ir_drop <= 1, "ir_drop", "must be in [0, 1]", self.ir_drop)
        valid = [p.value for p in NoisePolicy]
        _need(self.noise_policy in valid, "noise_policy", f"must be one of {', '.join(valid)}",
              self.noise_policy)
        _need(self.noise_management in ("none", "abs_max"), "noise_management",
              "must be one of none, abs_max", self.noise_management)

    @property
    def ideal(self) -> bool:
        """True when the periphery changes nothing (the float matmul). ``noise_management`` does
        not count: scaling the inputs by 1 / max|x| and the outputs back is exact without
        converters, noise or IR drop."""
        return (self.inp_bits is None and self.inp_bound is None and self.out_bits is None
                and self.out_bound is None and self.w_noise_std == 0 and self.out_noise_std == 0
                and self.ir_drop == 0)


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
    step = bound / (2 ** (bits - 1) - 1)
    return torch.round(x / step) * step


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
    step = bound / (2 ** (bits - 1) - 1)
    return x.div_(step).round_().mul_(step)


def levels(bits: int, bound: float) -> torch.Tensor:
    """All output values of a ``bits``-bit converter with full scale ``bound`` (float64)."""
    if bits == 1:
        return torch.tensor([-bound, bound], dtype=torch.float64)
    m = 2 ** (bits - 1) - 1
    return torch.arange(-m, m + 1, dtype=torch.float64) * (bound / m)


def dac(x: torch.Tensor, p: PeripheryParams) -> torch.Tensor:
    """Digital-to-analog conversion of the inputs: ``quantize(x, inp_bits, inp_bound)``."""
    return quantize(x, p.inp_bits, p.inp_bound)


def adc(y: torch.Tensor, p: PeripheryParams) -> torch.Tensor:
    """Analog-to-digital conversion of the outputs: ``quantize(y, out_bits, out_bound)``."""
    return quantize(y, p.out_bits, p.out_bound)


def weight_read_noise(w: torch.Tensor, std: float, w_scale: float = 1.0,
                      generator: Generatorish = None) -> torch.Tensor:
    """Weights as one read sees them: ``w + std * w_scale * xi`` (aihwkit ``w_noise``, additive
    constant type). One draw per call; the noise policy decides when a call redraws."""
    if std <= 0:
        return w
    g = as_generator(generator, w.device)
    return w + (std * w_scale) * torch.randn(w.shape, generator=g, dtype=w.dtype, device=w.device)


def output_noise(y: torch.Tensor, std: float, generator: Generatorish = None) -> torch.Tensor:
    """Additive output noise before the ADC: ``y + std * xi`` (aihwkit ``out_noise``)."""
    if std <= 0:
        return y
    g = as_generator(generator, y.device)
    return y + std * torch.randn(y.shape, generator=g, dtype=y.dtype, device=y.device)


def ir_drop_scale(y: torch.Tensor, rel_current: torch.Tensor, ir_drop: float) -> torch.Tensor:
    """First-order IR drop: ``y * (1 - ir_drop * rel_current)``, with ``rel_current`` (same shape
    as ``y``, clamped to [0, 1]) each output line's current in one tile for one sample, relative to
    the tile's maximum: all its driven lines at the DAC bound through devices at full conductance
    (:func:`apply_ir_drop`). Per sample and per line: no batch-wide normalization."""
    if ir_drop == 0:
        return y
    return y * (1.0 - ir_drop * rel_current.clamp(0.0, 1.0))


def apply_ir_drop(y: torch.Tensor, x: torch.Tensor, w: torch.Tensor, ir_drop: float,
                  x_scale: float = 1.0, w_scale: float = 1.0) -> torch.Tensor:
    """First-order IR drop of ONE tile's read ``y = x @ w.T`` (``x``: (B, rows), ``w``: (cols, rows),
    ``rows`` the driven lines this tile uses, ``w`` in device units ``w_dev``).

    The wire resistance lowers the voltage seen by the devices of an output line in proportion to
    the total current flowing in it; to first order the line's output shrinks by the factor::

        y_bj <- y_bj (1 - ir_drop * I_bj),   I_bj = sum_i |x_bi| |w_ji| / (rows * x_scale * w_scale)

    clamped to [0, 1], per sample ``b`` and line ``j``: the line's current relative to all the
    tile's rows driven at the DAC bound ``x_scale`` (``inp_bound``) through devices at full
    conductance ``w_scale`` (``g_unit = devices.weight_scale(params)``; |w| stands for the
    conducting part of the pair). For a transposed read the driven lines are the tile's columns:
    pass ``w.T``. ``ir_drop = 0`` returns ``y`` unchanged (no extra matmul). :mod:`.reads` applies
    the same definition to every read kind, vectorized over tiles.
    """
    if ir_drop == 0:
        return y
    rows = w.shape[-1]
    rel = (x.abs() @ w.abs().transpose(-1, -2)) / (rows * x_scale * w_scale)
    return ir_drop_scale(y, rel, ir_drop)


def _mix64(*values: int) -> int:
    """splitmix64-style hash of integers to a 63-bit seed (deterministic across runs)."""
    h = 0x9E3779B97F4A7C15
    mask = (1 << 64) - 1
    for v in values:
        h = (h ^ (int(v) & mask)) & mask
        h = (h + 0x9E3779B97F4A7C15) & mask
        z = h
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        h = z ^ (z >> 31)
    return h & ((1 << 63) - 1)


class NoiseStreams:
    """Seeds the read-noise draws under a :class:`NoisePolicy`.

    Call :meth:`next_batch` at the start of each mini-batch and :meth:`next_phase` at the start
    of each relaxation phase; ask :meth:`generator` for the generator of one read. The seed of a
    read is a hash of ``(seed, stream, batch[, phase[, read]])`` where the policy decides which
    counters count, so::

        per_read   every call differs
        per_phase  calls within a phase repeat the same numbers (for the same stream and shape)
        per_batch  calls within a batch repeat the same numbers

    ``stream`` separates independent noise sources (one per tile, forward vs. transposed, ...).
    Deterministic and checkpointable (:meth:`state_dict`).
    """

    def __init__(self, seed: int, policy: NoisePolicy | str = NoisePolicy.PER_READ) -> None:
        try:
            self.policy = NoisePolicy(policy)
        except ValueError:
            valid = ", ".join(p.value for p in NoisePolicy)
            raise ConfigError(f"noise_policy: must be one of {valid}, got {policy!r}") from None
        self.seed = int(seed)
        self.batch = 0
        self.phase = 0
        self.read = 0

    def next_batch(self) -> None:
        self.batch += 1
        self.phase = 0
        self.read = 0

    def next_phase(self) -> None:
        self.phase += 1
        self.read = 0

    def seed_for(self, stream: int = 0) -> int:
        """The seed of the next read of ``stream`` (advances the read counter under per_read)."""
        if self.policy is NoisePolicy.PER_READ:
            self.read += 1
            return _mix64(self.seed, stream, self.batch, self.phase, self.read)
        if self.policy is NoisePolicy.PER_PHASE:
            return _mix64(self.seed, stream, self.batch, self.phase)
        return _mix64(self.seed, stream, self.batch)

    def generator(self, stream: int = 0, device=None) -> torch.Generator:
        """A fresh generator seeded for the next read of ``stream``."""
        return torch.Generator(device=device or "cpu").manual_seed(self.seed_for(stream))

    def state_dict(self) -> dict:
        return {"seed": self.seed, "policy": self.policy.value, "batch": self.batch,
                "phase": self.phase, "read": self.read}

    def load_state_dict(self, d: dict) -> None:
        self.seed, self.policy = int(d["seed"]), NoisePolicy(d["policy"])
        self.batch, self.phase, self.read = int(d["batch"]), int(d["phase"]), int(d["read"])


__all__ = ["NoisePolicy", "PeripheryParams", "quantize", "levels", "dac", "adc",
           "weight_read_noise", "output_noise", "ir_drop_scale", "apply_ir_drop", "NoiseStreams"]
