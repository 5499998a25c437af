"""Analog device models: pulse-response rules, device-to-device draws, drift, differential pair.

Conventions follow aihwkit (Rasch et al., "A flexible and fast PyTorch toolkit for simulating
training and inference on analog crossbar arrays", AICAS 2021; C++ ``rpucuda`` sources) so that
published presets carry over unchanged:

* A device stores a weight ``w`` in **relative units**, bounded by its own ``[w_min, w_max]``
  (nominally ``[-1, 1]``). One pulse moves it by about ``dw_min``.
* Device-to-device variations (``*_dtod``) are drawn **once** from a construction seed
  (:func:`sample_device_state`); cycle-to-cycle noise (``dw_min_std``) is drawn per pulse.
  ``dw_min_std``, ``dw_min_dtod`` and ``w_*_dtod`` are relative; ``up_down_dtod`` and
  ``write_noise_std`` are in units of ``dw_min``.
* Conductances appear only in the differential-pair mapping (:func:`to_conductances`):
  ``w = (G+ - G-) / (G_max - G_min) * w_scale`` with ``G`` in microsiemens.

Everything here is a pure, vectorized torch function of ``(w, state, params)``: no per-device
Python objects, no per-sample loops. Multi-pulse updates apply pulses one at a time in a loop over
``max |n|`` that only touches the devices still receiving pulses (its cost is proportional to the
total number of pulses), or use an exact closed form when the rule allows it (noise-free
ConstantStep / LinearStep / SoftBounds without level quantization). The numba kernels in
:mod:`analog_ep.analog.kernels` implement the same per-pulse update and agree with this reference.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import ClassVar, Optional, Union

import torch

from ..errors import ConfigError

Generatorish = Union[torch.Generator, int, None]


# --------------------------------------------------------------------------------------------
# parameters


def _need(cond: bool, key: str, msg: str, value) -> None:
    if not cond:
        raise ConfigError(f"{key}: {msg}, got {value!r}")


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


@dataclass(frozen=True)
class DeviceParams:
    """Parameters shared by every update rule (bounds, faults, programming, drift, conductances).

    Not used directly: pick one of the rule classes (:class:`ConstantStep`, :class:`LinearStep`,
    :class:`SoftBounds`, :class:`ExpStep`, :class:`PowStep`, :class:`PiecewiseStep`,
    :class:`NeuroSim`). Unlike aihwkit, every variation and noise defaults to 0: a card states its
    non-idealities explicitly. Constructing with an impossible value raises :class:`ConfigError`
    naming the key.
    """

    rule: ClassVar[str] = ""

    w_max: float = 1.0
    """Upper weight bound (relative units; aihwkit ``w_max``). Device-to-device:
    ``w_max * (1 + w_max_dtod * xi)``."""
    w_min: float = -1.0
    """Lower weight bound (relative units; aihwkit ``w_min``). Must be < ``w_max``."""
    w_max_dtod: float = 0.0
    """Relative device-to-device spread of ``w_max`` (std of the multiplicative Gaussian)."""
    w_min_dtod: float = 0.0
    """Relative device-to-device spread of ``w_min``."""
    n_states: Optional[int] = None
    """Explicit number of conductance levels: after every pulse the weight is rounded to the
    device's grid ``w_min + k (w_max - w_min) / (n_states - 1)``. null = continuous weights (the
    nominal count implied by ``dw_min`` is reported by :func:`implied_states`)."""
    stuck_at_min_fraction: float = 0.0
    """Fraction of devices stuck at their lower bound (G_min): they never move."""
    stuck_at_max_fraction: float = 0.0
    """Fraction of devices stuck at their upper bound (G_max): they never move."""
    prog_noise_std: float = 0.0
    """Programming noise of :func:`program`: std of the Gaussian error added to the target, as a
    fraction of the weight scale ``max(|w_min|, |w_max|)`` (= of ``G_max - G_min``)."""
    drift_nu: float = 0.0
    """Drift exponent nu of ``G(t) = G0 (t / t0)^(-nu)`` (dimensionless; PCM ~0.05)."""
    drift_nu_std: float = 0.0
    """Device-to-device std of nu (absolute); draws are clipped at 0."""
    t0_s: float = 1.0
    """Reference time t0 of the drift law (seconds after programming)."""
    g_min_us: float = 0.0
    """Minimum device conductance G_min (microsiemens) of the differential-pair mapping."""
    g_max_us: float = 25.0
    """Maximum device conductance G_max (microsiemens); must exceed ``g_min_us``."""

    def __post_init__(self) -> None:
        self.validate()

    # validation ---------------------------------------------------------------------------
    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first impossible parameter."""
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, float) or (isinstance(v, int) and not isinstance(v, bool)):
                _need(math.isfinite(v), f.name, "must be a finite number", v)
        _need(self.w_min < self.w_max, "w_min", f"must be < w_max ({self.w_max})", self.w_min)
        for k in ("w_max_dtod", "w_min_dtod", "prog_noise_std", "drift_nu", "drift_nu_std"):
            _need(getattr(self, k) >= 0, k, "must be >= 0", getattr(self, k))
        if self.n_states is not None:
            _need(isinstance(self.n_states, int) and not isinstance(self.n_states, bool)
                  and self.n_states >= 2, "n_states", "must be an integer >= 2 or null", self.n_states)
        for k in ("stuck_at_min_fraction", "stuck_at_max_fraction"):
            _need(0 <= getattr(self, k) <= 1, k, "must be in [0, 1]", getattr(self, k))
        total = self.stuck_at_min_fraction + self.stuck_at_max_fraction
        _need(total <= 1, "stuck_at_max_fraction",
              f"stuck_at_min_fraction + stuck_at_max_fraction must be <= 1 "
              f"(sum {total:g})", self.stuck_at_max_fraction)
        _need(self.t0_s > 0, "t0_s", "must be > 0 (seconds)", self.t0_s)
        _need(self.g_min_us >= 0, "g_min_us", "must be >= 0 (microsiemens)", self.g_min_us)
        _need(self.g_min_us < self.g_max_us, "g_min_us",
              f"must be < g_max_us ({self.g_max_us})", self.g_min_us)

    @property
    def noise_std(self) -> float:
        """Cycle-to-cycle noise strength used by the per-pulse update (0 = deterministic)."""
        return 0.0


@dataclass(frozen=True)
class PulsedParams(DeviceParams):
    """Parameters of aihwkit's ``PulsedDevice`` shared by the step rules (not NeuroSim).

    Per device (aihwkit ``PulsedRPUDevice::populate``)::

        gain = 1 + dw_min_dtod * xi1,   r = up_down_dtod * xi2
        scale_up   = |(min(up_down, 0) + gain + r) * dw_min|
        scale_down = |(-max(up_down, 0) + gain - r) * dw_min|
    """

    dw_min: float = 0.001
    """Mean step of one pulse at w = 0 (relative units; aihwkit ``dw_min``)."""
    dw_min_dtod: float = 0.0
    """Relative device-to-device spread of the step size."""
    dw_min_std: float = 0.0
    """Cycle-to-cycle noise of each step, relative to the step: ``dw (1 + dw_min_std xi)``
    (additive ``dw + scale dw_min_std xi`` for LinearStep/SoftBounds with ``mult_noise: false``)."""
    up_down: float = 0.0
    """Systematic up/down asymmetry in units of ``dw_min``: > 0 shrinks down steps, < 0 up steps."""
    up_down_dtod: float = 0.0
    """Device-to-device spread of the up/down asymmetry (units of ``dw_min``)."""
    write_noise_std: float = 0.0
    """aihwkit write noise: the weight seen by reads is ``w + write_noise_std * dw_min * xi``,
    redrawn on every device that receives pulses (:func:`redraw_write_noise`)."""

    def validate(self) -> None:
        super().validate()
        _need(self.dw_min > 0, "dw_min", "must be > 0", self.dw_min)
        for k in ("dw_min_dtod", "dw_min_std", "up_down_dtod", "write_noise_std"):
            _need(getattr(self, k) >= 0, k, "must be >= 0", getattr(self, k))

    @property
    def noise_std(self) -> float:
        return self.dw_min_std


@dataclass(frozen=True)
class ConstantStep(PulsedParams):
    """aihwkit ConstantStepDevice: ``w <- clip(w +- scale (1 + dw_min_std xi), w_min, w_max)``."""

    rule: ClassVar[str] = "constant_step"


@dataclass(frozen=True)
class LinearStep(PulsedParams):
    """aihwkit LinearStepDevice: the step shrinks linearly with the weight.

    ``dw+ = scale_up (1 - gamma_up_ij w / w_ref_up)``, ``dw- = scale_down (1 - gamma_down_ij w /
    w_ref_down)`` with ``w_ref_up = w_max``, ``w_ref_down = w_min`` (the nominal bounds when
    ``mean_bound_reference``, else the device's own) and ``gamma_ij = gamma + gamma_dtod xi``
    (absolute value unless ``allow_increasing``).
    """

    rule: ClassVar[str] = "linear_step"
    gamma_up: float = 0.0
    """Relative decrease of the up step at ``w_max`` (0 = constant step)."""
    gamma_down: float = 0.0
    """Relative decrease of the down step at ``w_min``."""
    gamma_up_dtod: float = 0.0
    """Device-to-device std of ``gamma_up`` (absolute)."""
    gamma_down_dtod: float = 0.0
    """Device-to-device std of ``gamma_down`` (absolute)."""
    mult_noise: bool = True
    """Cycle-to-cycle noise multiplies the whole step (true) or only its constant part (false)."""
    mean_bound_reference: bool = True
    """Slopes refer to the nominal bounds (true) or to each device's drawn bounds (false)."""
    allow_increasing: bool = False
    """Allow negative gamma draws (steps growing towards the bound)."""

    def validate(self) -> None:
        super().validate()
        for k in ("gamma_up_dtod", "gamma_down_dtod"):
            _need(getattr(self, k) >= 0, k, "must be >= 0", getattr(self, k))


@dataclass(frozen=True)
class SoftBounds(PulsedParams):
    """aihwkit SoftBoundsDevice: ``dw+ = scale_up (1 - w / w_max_ij)``, ``dw- = scale_down
    (1 - w / w_min_ij)``; steps vanish at the device's own bounds. Noise-free, from w0 = 0,
    ``w_n = w_max (1 - (1 - dw_min / w_max)^n)``."""

    rule: ClassVar[str] = "soft_bounds"
    mult_noise: bool = True
    """Cycle-to-cycle noise multiplies the whole step (true) or only its constant part (false)."""


@dataclass(frozen=True)
class ExpStep(PulsedParams):
    """aihwkit ExpStepDevice (CMOS-like / ReRAM fit)::

        z   = 2 w / (w_max_ij - w_min_ij) * a + b
        dw+ = scale_up   * max(1 - A_up   exp( gamma_up   z), 0) * (1 + dw_min_std xi)
        dw- = scale_down * max(1 - A_down exp(-gamma_down z), 0) * (1 + dw_min_std xi)

    Defaults are aihwkit's ``ExpStepDevice`` defaults.
    """

    rule: ClassVar[str] = "exp_step"
    A_up: float = 0.00081
    """Amplitude of the exponential term of up steps."""
    A_down: float = 0.36833
    """Amplitude of the exponential term of down steps."""
    gamma_up: float = 12.44625
    """Exponent scale of up steps."""
    gamma_down: float = 12.78785
    """Exponent scale of down steps."""
    a: float = 0.244
    """Slope of z in the normalized weight."""
    b: float = 0.2425
    """Offset of z."""


@dataclass(frozen=True)
class PowStep(PulsedParams):
    """aihwkit PowStepDevice: ``dw+ = scale_up ((w_max_ij - w) / range_ij)^gamma_up_ij``,
    ``dw- = scale_down ((w - w_min_ij) / range_ij)^gamma_down_ij``, with
    ``gamma_up_ij = |(min(pow_up_down, 0) + g + r) pow_gamma|``,
    ``gamma_down_ij = |(-max(pow_up_down, 0) + g - r) pow_gamma|``, ``g = 1 + pow_gamma_dtod xi``,
    ``r = pow_up_down_dtod xi'``."""

    rule: ClassVar[str] = "pow_step"
    pow_gamma: float = 1.0
    """Exponent of the step-size law (1 = soft bounds over the full range)."""
    pow_gamma_dtod: float = 0.0
    """Relative device-to-device spread of the exponent."""
    pow_up_down: float = 0.0
    """Up/down asymmetry of the exponent (relative)."""
    pow_up_down_dtod: float = 0.0
    """Device-to-device spread of the exponent asymmetry."""

    def validate(self) -> None:
        super().validate()
        for k in ("pow_gamma", "pow_gamma_dtod", "pow_up_down_dtod"):
            _need(getattr(self, k) >= 0, k, "must be >= 0", getattr(self, k))


@dataclass(frozen=True)
class PiecewiseStep(PulsedParams):
    """aihwkit PiecewiseStepDevice: the step is ``scale * m(w)``, with the multiplier ``m``
    linearly interpolated between ``len(piecewise_up)`` nodes spread evenly over
    ``[w_min_ij, w_max_ij]``."""

    rule: ClassVar[str] = "piecewise_step"
    piecewise_up: tuple = (1.0, 1.0)
    """Multipliers of up steps at evenly spaced weights from w_min to w_max."""
    piecewise_down: tuple = (1.0, 1.0)
    """Multipliers of down steps (same number of nodes as ``piecewise_up``)."""

    def __post_init__(self) -> None:
        for k in ("piecewise_up", "piecewise_down"):
            v = getattr(self, k)
            if isinstance(v, (list, tuple)):
                object.__setattr__(self, k, tuple(float(x) for x in v))
        super().__post_init__()

    def validate(self) -> None:
        super().validate()
        for k in ("piecewise_up", "piecewise_down"):
            v = getattr(self, k)
            _need(isinstance(v, tuple) and len(v) >= 1, k, "must be a non-empty list of numbers", v)
            _need(all(_finite(x) and x >= 0 for x in v), k, "must hold numbers >= 0", list(v))
        _need(len(self.piecewise_down) == len(self.piecewise_up), "piecewise_down",
              f"must have as many nodes as piecewise_up ({len(self.piecewise_up)})",
              list(self.piecewise_down))


@dataclass(frozen=True)
class NeuroSim(DeviceParams):
    """NeuroSim's exponential conductance-vs-pulse model (Chen, Peng & Yu, "NeuroSim: a circuit-level
    macro model for benchmarking neuro-inspired architectures in online learning", IEEE TCAD 2018;
    ``RealDevice`` in MLP+NeuroSim ``Cell.cpp`` / ``formula.cpp``).

    On the normalized weight ``g = (w - w_min_ij) / (w_max_ij - w_min_ij)``::

        g(P) = (1 - exp(-P / A)) / (1 - exp(-N / A)),   A = a(NL) * N

    with ``N`` = ``n_levels_ltp`` (up) or ``n_levels_ltd`` (down). A pulse inverts the device's
    own curve to its pulse index ``P = -A log(1 - g (1 - exp(-N/A)))`` (clipped to [0, N]) and
    steps to ``g(P +- 1)``; cycle-to-cycle noise is additive, ``ctoc_std`` of the range per pulse.
    ``a(NL)`` is NeuroSim's ``getParamA``: the normalized curve's largest deviation from the
    straight line equals ``0.07 sqrt(2) |NL|``; the sign of NL is the sign of A (negative =
    convex). :func:`neurosim_a` solves this exactly and matches NeuroSim's table to its 6 digits.
    """

    rule: ClassVar[str] = "neurosim"
    nl_ltp: float = 2.4
    """Nonlinearity label of potentiation (up pulses), in [-9, 9] (NeuroSim NL_LTP)."""
    nl_ltd: float = -4.88
    """Nonlinearity label of depression (down pulses), in [-9, 9] (NeuroSim NL_LTD)."""
    n_levels_ltp: int = 97
    """Pulses spanning the full range upwards (NeuroSim maxNumLevelLTP)."""
    n_levels_ltd: int = 100
    """Pulses spanning the full range downwards (NeuroSim maxNumLevelLTD)."""
    nl_dtod: float = 0.0
    """Device-to-device std of the nonlinearity labels (NeuroSim sigmaDtoD)."""
    ctoc_std: float = 0.0
    """Cycle-to-cycle noise per pulse, as a fraction of the weight range (NeuroSim sigmaCtoC /
    (G_max - G_min); its default device uses 0.035)."""

    def validate(self) -> None:
        super().validate()
        for k in ("nl_ltp", "nl_ltd"):
            _need(-9 <= getattr(self, k) <= 9, k, "must be in [-9, 9] (NeuroSim's labels)",
                  getattr(self, k))
        for k in ("n_levels_ltp", "n_levels_ltd"):
            v = getattr(self, k)
            _need(isinstance(v, int) and not isinstance(v, bool) and v >= 1, k,
                  "must be an integer >= 1", v)
        for k in ("nl_dtod", "ctoc_std"):
            _need(getattr(self, k) >= 0, k, "must be >= 0", getattr(self, k))

    @property
    def noise_std(self) -> float:
        return self.ctoc_std


RULES: dict[str, type[DeviceParams]] = {
    cls.rule: cls for cls in (ConstantStep, LinearStep, SoftBounds, ExpStep, PowStep,
                              PiecewiseStep, NeuroSim)
}
"""Update rules by name (the ``rule:`` of a device card)."""


def get_rule(name: str) -> type[DeviceParams]:
    """The parameter class of rule ``name``; ConfigError listing the valid names otherwise."""
    try:
        return RULES[name]
    except (KeyError, TypeError):
        raise ConfigError(f"rule: unknown update rule {name!r}; valid: {', '.join(RULES)}") from None


def params_to_dict(params: DeviceParams) -> dict:
    """Plain dict (with ``rule``) that :func:`params_from_dict` / a card turns back into params."""
    out = {"rule": params.rule}
    for f in dataclasses.fields(params):
        v = getattr(params, f.name)
        out[f.name] = list(v) if isinstance(v, tuple) else v
    return out


def weight_scale(params: DeviceParams) -> float:
    """``w_scale = max(|w_min|, |w_max|)``: the weight mapped onto ``G_max - G_min``."""
    return max(abs(params.w_min), abs(params.w_max))


def nominal_dw_min(params: DeviceParams) -> float:
    """Nominal weight change of one pulse: ``dw_min``, or ``range / max(N_ltp, N_ltd)`` for NeuroSim."""
    if isinstance(params, NeuroSim):
        return (params.w_max - params.w_min) / max(params.n_levels_ltp, params.n_levels_ltd)
    return params.dw_min


def implied_states(params: DeviceParams) -> int:
    """Number of conductance states: ``n_states`` if given, else ``round((w_max - w_min) / dw_min)
    + 1`` (NeuroSim: ``max(N_ltp, N_ltd) + 1`` pulse positions)."""
    if params.n_states is not None:
        return int(params.n_states)
    return int(round((params.w_max - params.w_min) / nominal_dw_min(params))) + 1


# --------------------------------------------------------------------------------------------
# NeuroSim nonlinearity


def _neurosim_dev(a: torch.Tensor) -> torch.Tensor:
    """Largest deviation of ``(1 - exp(-x/a)) / (1 - exp(-1/a))`` from ``x`` on [0, 1] (a > 0).

    The maximum sits at ``x* = -a log(a c)``, ``c = 1 - exp(-1/a)``, where the curve equals
    ``1/c - a``; so ``dev = 1/c - a + a log(a c)``.
    """
    c = -torch.expm1(-1.0 / a)
    return 1.0 / c - a + a * torch.log(a * c)


def neurosim_a(nl) -> torch.Tensor:
    """NeuroSim's normalized nonlinearity parameter ``A / N`` for label(s) ``nl`` (float64).

    Solves ``dev(a) = 0.07 sqrt(2) |nl|`` by bisection in ``log a``; labels are clipped to
    ``0.01 <= |nl| <= 9`` as NeuroSim's ``getParamA`` table does, and the sign of ``nl`` is kept
    (label 0 counts as +0.01). E.g. ``neurosim_a(2.4) = 0.499181``, ``neurosim_a(-4.88) =
    -0.200303``, as in NeuroSim's table.
    """
    nl = torch.as_tensor(nl, dtype=torch.float64)
    target = nl.abs().clamp(0.01, 9.0) * (0.07 * math.sqrt(2.0))
    lo = torch.full_like(target, math.log(1e-3))
    hi = torch.full_like(target, math.log(1e3))
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        above = _neurosim_dev(torch.exp(mid)) > target  # too nonlinear -> larger a
        lo = torch.where(above, mid, lo)
        hi = torch.where(above, hi, mid)
    a = torch.exp(0.5 * (lo + hi))
    return torch.where(nl < 0, -a, a)


# --------------------------------------------------------------------------------------------
# device-to-device state


_STATE_FIELDS = ("w_max", "w_min", "scale_up", "scale_down", "nl_up", "nl_down", "stuck",
                 "nu_plus", "nu_minus")


@dataclass
class DeviceState:
    """Per-device draws made once from the construction seed (all tensors of the weight shape).

    ``nl_up`` / ``nl_down`` hold the rule's per-device nonlinearity: LinearStep / SoftBounds the
    slope ``k`` of ``dw = scale (1 - k w)``; PowStep the exponents; NeuroSim the signed curve
    parameter ``A`` (in pulses); zeros for the other rules. ``stuck`` is -1 (stuck at w_min),
    +1 (stuck at w_max) or 0. ``nu_plus`` / ``nu_minus`` are the drift exponents of G+ and G-.
    Save it with :meth:`state_dict` so a resumed run keeps the same devices.
    """

    w_max: torch.Tensor
    w_min: torch.Tensor
    scale_up: torch.Tensor
    scale_down: torch.Tensor
    nl_up: torch.Tensor
    nl_down: torch.Tensor
    stuck: torch.Tensor
    nu_plus: torch.Tensor
    nu_minus: torch.Tensor

    @property
    def shape(self) -> torch.Size:
        return self.w_max.shape

    @property
    def free(self) -> torch.Tensor:
        """Boolean mask of devices that are not stuck."""
        return self.stuck == 0

    def to(self, device=None, dtype=None) -> "DeviceState":
        out = {}
        for k in _STATE_FIELDS:
            t = getattr(self, k)
            out[k] = t.to(device=device) if k == "stuck" else t.to(device=device, dtype=dtype)
        return DeviceState(**out)

    def reshape(self, *shape) -> "DeviceState":
        return DeviceState(**{k: getattr(self, k).reshape(*shape) for k in _STATE_FIELDS})

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {k: getattr(self, k).clone() for k in _STATE_FIELDS}

    @classmethod
    def from_state_dict(cls, d: dict[str, torch.Tensor]) -> "DeviceState":
        missing = [k for k in _STATE_FIELDS if k not in d]
        if missing:
            raise ConfigError(f"device state: missing entries {', '.join(missing)}")
        return cls(**{k: d[k] for k in _STATE_FIELDS})


def as_generator(generator: Generatorish, device=None) -> Optional[torch.Generator]:
    """``int`` -> a new seeded ``torch.Generator``; a generator or ``None`` passes through."""
    if isinstance(generator, int) and not isinstance(generator, bool):
        return torch.Generator(device=device or "cpu").manual_seed(generator)
    return generator


def sample_device_state(params: DeviceParams, shape, generator: Generatorish = None, *,
                        dtype: torch.dtype = torch.float32, device=None) -> DeviceState:
    """Draw the device-to-device variations of ``shape`` devices once (aihwkit ``populate``).

    Always consumes the same random numbers in the same order (9 draws per device), whatever
    the parameters, so a seed names the same physical devices across parameter sweeps::

        w_max_ij = w_max + |w_max| w_max_dtod xi,   w_min_ij = w_min + |w_min| w_min_dtod xi
        (swapped if crossed; kept on their side of 0 when the nominal range contains 0)
        scales, slopes, exponents: see the rule classes
        stuck: u < f_min -> at w_min;  f_min <= u < f_min + f_max -> at w_max
        nu_+-  = max(drift_nu + drift_nu_std xi, 0)
    """
    g = as_generator(generator, device)
    shape = tuple(int(s) for s in shape)
    f64 = dict(dtype=torch.float64, device=device)

    def normal() -> torch.Tensor:
        return torch.randn(shape, generator=g, **f64)

    x_wmax, x_wmin, x_gain, x_ud, x_p_up, x_p_down = (normal() for _ in range(6))
    u_stuck = torch.rand(shape, generator=g, **f64)
    x_nu_p, x_nu_m = normal(), normal()
    p = params

    wmx = p.w_max + abs(p.w_max) * p.w_max_dtod * x_wmax
    wmn = p.w_min + abs(p.w_min) * p.w_min_dtod * x_wmin
    wmx, wmn = torch.maximum(wmx, wmn), torch.minimum(wmx, wmn)
    if p.w_min <= 0 <= p.w_max:  # aihwkit enforce_consistency
        wmx, wmn = wmx.abs(), -wmn.abs()

    zeros = torch.zeros(shape, **f64)
    nl_up, nl_down = zeros, zeros
    if isinstance(p, PulsedParams):
        gain = 1.0 + p.dw_min_dtod * x_gain
        r = p.up_down_dtod * x_ud
        su = ((min(p.up_down, 0.0) + gain + r) * p.dw_min).abs()
        sd = ((-max(p.up_down, 0.0) + gain - r) * p.dw_min).abs()
    else:  # NeuroSim: mean step, for information only
        su = (wmx - wmn) / p.n_levels_ltp
        sd = (wmx - wmn) / p.n_levels_ltd

    def inv(t: torch.Tensor) -> torch.Tensor:
        return torch.where(t != 0, 1.0 / torch.where(t != 0, t, 1.0), 0.0)

    if isinstance(p, SoftBounds):
        nl_up, nl_down = inv(wmx), inv(wmn)
    elif isinstance(p, LinearStep):
        gu = p.gamma_up + p.gamma_up_dtod * x_p_up
        gd = p.gamma_down + p.gamma_down_dtod * x_p_down
        if not p.allow_increasing:
            gu, gd = gu.abs(), gd.abs()
        ref_up = torch.full(shape, p.w_max, **f64) if p.mean_bound_reference else wmx
        ref_down = torch.full(shape, p.w_min, **f64) if p.mean_bound_reference else wmn
        nl_up, nl_down = gu * inv(ref_up), gd * inv(ref_down)
    elif isinstance(p, PowStep):
        gain_p = 1.0 + p.pow_gamma_dtod * x_p_up
        r_p = p.pow_up_down_dtod * x_p_down
        nl_up = ((min(p.pow_up_down, 0.0) + gain_p + r_p) * p.pow_gamma).abs()
        nl_down = ((-max(p.pow_up_down, 0.0) + gain_p - r_p) * p.pow_gamma).abs()
    elif isinstance(p, NeuroSim):
        if p.nl_dtod > 0:  # per-device labels: one vectorized bisection
            a_up = neurosim_a((p.nl_ltp + p.nl_dtod * x_p_up).clamp(-9, 9))
            a_down = neurosim_a((p.nl_ltd + p.nl_dtod * x_p_down).clamp(-9, 9))
        else:
            a_up = zeros + neurosim_a(p.nl_ltp)
            a_down = zeros + neurosim_a(p.nl_ltd)
        nl_up, nl_down = a_up * p.n_levels_ltp, a_down * p.n_levels_ltd

    f_min, f_max = p.stuck_at_min_fraction, p.stuck_at_max_fraction
    stuck = torch.where(u_stuck < f_min, -1, torch.where(u_stuck < f_min + f_max, 1, 0))
    nu_p = (p.drift_nu + p.drift_nu_std * x_nu_p).clamp(min=0)
    nu_m = (p.drift_nu + p.drift_nu_std * x_nu_m).clamp(min=0)

    def cast(t):
        return t.to(dtype)

    return DeviceState(w_max=cast(wmx), w_min=cast(wmn), scale_up=cast(su), scale_down=cast(sd),
                       nl_up=cast(nl_up), nl_down=cast(nl_down), stuck=stuck.to(torch.int8),
                       nu_plus=cast(nu_p), nu_minus=cast(nu_m))


# --------------------------------------------------------------------------------------------
# single pulse (torch reference)


def quantize_to_levels(w: torch.Tensor, w_min: torch.Tensor, w_max: torch.Tensor,
                       n_states: Optional[int]) -> torch.Tensor:
    """Round ``w`` to the device grid ``w_min + k (w_max - w_min) / (n_states - 1)``."""
    if n_states is None:
        return w
    delta = (w_max - w_min) / (n_states - 1)
    ok = delta > 0
    safe = torch.where(ok, delta, torch.ones_like(delta))
    q = w_min + torch.round((w - w_min) / safe) * safe
    return torch.where(ok, torch.minimum(torch.maximum(q, w_min), w_max), w)


def _pulse(w: torch.Tensor, up: torch.Tensor, xi: Optional[torch.Tensor], s: dict,
           params: DeviceParams) -> torch.Tensor:
    """One pulse on every device of the (flat, gathered) tensors: up where ``up`` else down.

    ``s`` holds the gathered per-device state; ``xi`` the standard normals of this pulse or None.
    Mirrors ``kernels._pulse_once`` operation by operation.
    """
    wmx, wmn = s["w_max"], s["w_min"]
    rule = params.rule
    if rule == "neurosim":  # in float64: inverting G(P) amplifies float32 rounding
        dtype = w.dtype
        w, wmx, wmn = w.double(), wmx.double(), wmn.double()
        xi = None if xi is None else xi.double()
        rng = wmx - wmn
        ok = rng > 0
        g = ((w - wmn) / torch.where(ok, rng, torch.ones_like(rng))).clamp(0.0, 1.0)
        A = torch.where(up, s["nl_up"], s["nl_down"]).double()
        N = torch.where(up, float(params.n_levels_ltp), float(params.n_levels_ltd)).double()
        c = -torch.expm1(-N / A)
        P = torch.minimum(torch.maximum(-A * torch.log1p(-g * c), torch.zeros_like(N)), N)
        P = P + torch.where(up, 1.0, -1.0).double()
        g = -torch.expm1(-P / A) / c
        if xi is not None:
            g = g + params.ctoc_std * xi
        g = g.clamp(0.0, 1.0)
        w_new = torch.where(ok, wmn + g * rng, w)
        return quantize_to_levels(w_new, wmn, wmx, params.n_states).to(dtype)

    su, sd = s["scale_up"], s["scale_down"]
    valid = None
    if rule == "constant_step":
        mag = torch.where(up, su, sd)
    elif rule in ("linear_step", "soft_bounds"):
        mag = torch.where(up, su * (1.0 - s["nl_up"] * w), sd * (1.0 - s["nl_down"] * w))
    elif rule == "exp_step":
        bdiff = wmx - wmn
        valid = bdiff > 0
        z = 2.0 * w / torch.where(valid, bdiff, torch.ones_like(bdiff)) * params.a + params.b
        y_up = (1.0 - params.A_up * torch.exp(params.gamma_up * z)).clamp(min=0.0)
        y_dn = (1.0 - params.A_down * torch.exp(-params.gamma_down * z)).clamp(min=0.0)
        mag = torch.where(up, y_up * su, y_dn * sd)
    elif rule == "pow_step":
        rng = wmx - wmn
        valid = rng > 0
        safe = torch.where(valid, rng, torch.ones_like(rng))
        mag = torch.where(up, su * torch.pow(((wmx - w) / safe).clamp(min=0.0), s["nl_up"]),
                          sd * torch.pow(((w - wmn) / safe).clamp(min=0.0), s["nl_down"]))
    elif rule == "piecewise_step":
        pu = torch.tensor(params.piecewise_up, dtype=w.dtype, device=w.device)
        pd = torch.tensor(params.piecewise_down, dtype=w.dtype, device=w.device)
        n_sec = len(params.piecewise_up) - 1
        rng = wmx - wmn
        if n_sec <= 0:
            m_up, m_dn = pu[0].expand_as(w), pd[0].expand_as(w)
        else:
            ok = rng > 0
            ws = ((w - wmn) / torch.where(ok, rng, torch.ones_like(rng)) * n_sec).clamp(min=0.0)
            idx = torch.floor(ws).clamp(max=n_sec - 1)
            t = (ws - idx).clamp(max=1.0)
            i = idx.long()
            m_up = (1.0 - t) * pu[i] + t * pu[i + 1]
            m_dn = (1.0 - t) * pd[i] + t * pd[i + 1]
            m_up = torch.where(ok, m_up, pu[0])
            m_dn = torch.where(ok, m_dn, pd[0])
        mag = torch.where(up, su * m_up, sd * m_dn)
    else:  # pragma: no cover - RULES is closed
        raise ConfigError(f"rule: unknown update rule {rule!r}; valid: {', '.join(RULES)}")

    if xi is not None:
        std = params.dw_min_std
        if rule in ("linear_step", "soft_bounds") and not params.mult_noise:
            mag = mag + torch.where(up, su, sd) * (std * xi)
        else:
            mag = mag * (1.0 + std * xi)
    w_new = w + torch.where(up, mag, -mag)
    w_new = torch.minimum(torch.maximum(w_new, wmn), wmx)
    if valid is not None:
        w_new = torch.where(valid, w_new, w)
    return quantize_to_levels(w_new, wmn, wmx, params.n_states)


# --------------------------------------------------------------------------------------------
# multi-pulse update


def settle(w: torch.Tensor, state: DeviceState, params: DeviceParams) -> torch.Tensor:
    """Put ``w`` where the devices can hold it: clip to each device's bounds, round to its levels
    (if ``n_states``), pin stuck devices at their bound."""
    w = torch.minimum(torch.maximum(w, state.w_min), state.w_max)
    w = quantize_to_levels(w, state.w_min, state.w_max, params.n_states)
    return torch.where(state.stuck < 0, state.w_min, torch.where(state.stuck > 0, state.w_max, w))


def _as_counts(n_pulses, w: torch.Tensor) -> torch.Tensor:
    n = torch.as_tensor(n_pulses, device=w.device)
    if n.is_floating_point():
        n = torch.round(n)
    return n.to(torch.int64).expand(w.shape)


def pulse_noise_counts(n_abs: torch.Tensor, free: torch.Tensor) -> list[int]:
    """How many devices receive their k-th pulse, k = 0 .. max|n| - 1 (the noise draw sizes).

    Both the torch loop and the numba kernels consume the cycle-to-cycle normals in this order:
    pulse-major, devices in flat (row-major) order, stuck devices skipped.
    """
    m = n_abs.reshape(-1)[free.reshape(-1)]
    if m.numel() == 0:
        return []
    hist = torch.bincount(m)
    return (m.numel() - torch.cumsum(hist, 0))[:-1].tolist()


def _closed_form(w, n, state, params) -> Optional[torch.Tensor]:
    """Exact noise-free multi-pulse update of the affine rules (or None if not applicable).

    ConstantStep / LinearStep / SoftBounds map ``w -> w + d s (1 - k w) = q w + d s`` per pulse
    (``d = +-1``, ``q = 1 - d s k``). For ``q >= 0`` the iterates approach the fixed point
    monotonically, so clipping once at the end equals clipping every pulse::

        w_n = w0 + S_n (d s - d s k w0),   S_n = (1 - q^n) / (1 - q)   (= n when q = 1)
    """
    if params.rule not in ("constant_step", "linear_step", "soft_bounds"):
        return None
    if params.dw_min_std > 0 or params.n_states is not None:
        return None
    up = n > 0
    d = torch.where(up, 1.0, -1.0).to(w.dtype)
    s = torch.where(up, state.scale_up, state.scale_down)
    k = torch.where(up, state.nl_up, state.nl_down)
    b = d * s
    c = b * k
    if bool((c > 1).any()):
        return None
    na = n.abs().to(w.dtype)
    S = torch.where(c == 0, na, -torch.expm1(na * torch.log1p(-c)) / torch.where(c == 0, 1.0, c))
    w_n = w + S * (b - c * w)
    w_n = torch.minimum(torch.maximum(w_n, state.w_min), state.w_max)
    return torch.where((n != 0) & state.free, w_n, w)


def apply_pulses(w: torch.Tensor, n_pulses, state: DeviceState, params: DeviceParams,
                 generator: Generatorish = None, *, backend: str = "torch",
                 closed_form: bool = True) -> torch.Tensor:
    """Apply a signed number of pulses to every device (n > 0 up, n < 0 down); return new ``w``.

    ``w`` is first :func:`settle`-d (clipped to the device bounds, stuck devices pinned). Each
    pulse follows the device's rule with cycle-to-cycle noise (standard normals from
    ``generator``, drawn pulse-major over the devices still pulsing: see
    :func:`pulse_noise_counts`), is clipped to the bounds and rounded to the level grid when
    ``n_states`` is set. Stuck devices never move. Never returns NaN for finite input.
    ``backend="numba"`` / ``"cuda"`` run the kernels of :mod:`analog_ep.analog.kernels` on the
    same random numbers; ``backend="fused"`` runs the parallel CPU kernel of
    :func:`analog_ep.analog.kernels.fused_update` (same semantics, its own counter-based random
    numbers seeded by one draw from ``generator``, made only when the rule is noisy).
    ``closed_form=False`` forces the per-pulse loop even where the exact closed form applies (for
    tests).
    """
    if backend != "torch":
        from .kernels import apply_pulses as dispatch

        return dispatch(w, n_pulses, state, params, generator, backend=backend)
    if tuple(state.shape) != tuple(w.shape):
        raise ValueError(f"device state has shape {tuple(state.shape)}, weights {tuple(w.shape)}")
    n = _as_counts(n_pulses, w)
    w = settle(w, state, params)
    fast = _closed_form(w, n, state, params) if closed_form else None
    if fast is not None:
        return fast

    g = as_generator(generator, w.device)
    flat = w.reshape(-1).clone()
    n_flat = n.reshape(-1)
    idx = torch.nonzero((n_flat != 0) & state.free.reshape(-1)).squeeze(1)
    if idx.numel() == 0:
        return flat.reshape(w.shape)
    m = n_flat[idx].abs()
    up = n_flat[idx] > 0
    sub = {k: getattr(state, k).reshape(-1)[idx] for k in
           ("w_max", "w_min", "scale_up", "scale_down", "nl_up", "nl_down")}
    ws = flat[idx]
    noisy = params.noise_std > 0
    max_n = int(m.max())
    for k in range(max_n):
        if k > 0:
            keep = m > k
            if not bool(keep.all()):
                flat[idx] = ws
                idx, m, up, ws = idx[keep], m[keep], up[keep], ws[keep]
                sub = {key: t[keep] for key, t in sub.items()}
        xi = torch.randn(ws.shape, generator=g, dtype=w.dtype, device=w.device) if noisy else None
        ws = _pulse(ws, up, xi, sub, params)
    flat[idx] = ws
    return flat.reshape(w.shape)


def redraw_write_noise(offset: torch.Tensor, n_pulses, params: DeviceParams,
                       generator: Generatorish = None) -> torch.Tensor:
    """aihwkit write noise: the weight reads see is ``w + offset``; every device that received a
    pulse gets a fresh ``offset = write_noise_std * dw_min * xi``, the others keep theirs."""
    std = getattr(params, "write_noise_std", 0.0) * getattr(params, "dw_min", 0.0)
    if std <= 0:
        return offset
    g = as_generator(generator, offset.device)
    n = _as_counts(n_pulses, offset)
    fresh = std * torch.randn(offset.shape, generator=g, dtype=offset.dtype, device=offset.device)
    return torch.where(n != 0, fresh, offset)


def program(w_target: torch.Tensor, state: DeviceState, params: DeviceParams,
            generator: Generatorish = None) -> torch.Tensor:
    """Program devices to ``w_target`` with Gaussian programming noise, then :func:`settle`::

        w = settle(w_target + prog_noise_std * w_scale * xi)
    """
    w = w_target
    if params.prog_noise_std > 0:
        g = as_generator(generator, w.device)
        xi = torch.randn(w.shape, generator=g, dtype=w.dtype, device=w.device)
        w = w + params.prog_noise_std * weight_scale(params) * xi
    return settle(w, state, params)


# --------------------------------------------------------------------------------------------
# differential pair and drift


def to_conductances(w: torch.Tensor, params: DeviceParams, w_scale: Optional[float] = None
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Map weights onto a differential pair ``(G+, G-)`` in microsiemens.

    The positive part goes on G+, the negative part on G-, the other device sits at G_min::

        G+ = G_min + max(w, 0) / w_scale (G_max - G_min),  G- = G_min + max(-w, 0) / w_scale (...)

    so ``w = (G+ - G-) / (G_max - G_min) * w_scale`` (:func:`from_conductances`). ``w_scale``
    defaults to :func:`weight_scale`; weights beyond it are clipped (G stays in [G_min, G_max]).
    """
    scale = weight_scale(params) if w_scale is None else float(w_scale)
    span = params.g_max_us - params.g_min_us
    x = (w / scale).clamp(-1.0, 1.0)
    g_plus = params.g_min_us + x.clamp(min=0.0) * span
    g_minus = params.g_min_us + (-x).clamp(min=0.0) * span
    return g_plus, g_minus


def from_conductances(g_plus: torch.Tensor, g_minus: torch.Tensor, params: DeviceParams,
                      w_scale: Optional[float] = None) -> torch.Tensor:
    """``w = (G+ - G-) / (G_max - G_min) * w_scale`` (inverse of :func:`to_conductances`)."""
    scale = weight_scale(params) if w_scale is None else float(w_scale)
    return (g_plus - g_minus) / (params.g_max_us - params.g_min_us) * scale


def drift_conductance(g: torch.Tensor, t_s: float, nu, t0_s: float) -> torch.Tensor:
    """Power-law drift ``G(t) = G0 (t / t0)^(-nu)`` for ``t >= t0`` (no drift before t0)."""
    ratio = max(float(t_s), float(t0_s)) / float(t0_s)
    if isinstance(nu, torch.Tensor):
        return g * torch.pow(ratio, -nu.to(g.dtype))
    return g * ratio ** (-float(nu))


def drift(w: torch.Tensor, t_s: float, state: DeviceState, params: DeviceParams,
          w_scale: Optional[float] = None) -> torch.Tensor:
    """Weights read ``t_s`` seconds after programming ``w``: both conductances of each pair drift
    with their own exponent (``state.nu_plus``, ``state.nu_minus``), then map back to weights."""
    g_plus, g_minus = to_conductances(w, params, w_scale)
    g_plus = drift_conductance(g_plus, t_s, state.nu_plus, params.t0_s)
    g_minus = drift_conductance(g_minus, t_s, state.nu_minus, params.t0_s)
    return from_conductances(g_plus, g_minus, params, w_scale)


# --------------------------------------------------------------------------------------------
# response curve


def response(params: DeviceParams, n_pulses: int, n_devices: int = 100, seed: int = 0, *,
             backend: str = "torch") -> dict:
    """Pulse response from w = 0: ``n_pulses`` up pulses, then ``n_pulses`` down pulses.

    Returns JSON-ready lists over the ``2 n_pulses + 1`` points (the start included):
    ``pulses`` (cumulative pulse count), ``w_mean`` and ``w_std`` (population std, ddof 0) over
    ``n_devices`` devices drawn from ``seed`` (cycle-to-cycle noise from ``seed + 1``).
    """
    if n_pulses < 0 or n_devices < 1:
        raise ConfigError(f"response: need n_pulses >= 0 and n_devices >= 1, got {n_pulses}, {n_devices}")
    state = sample_device_state(params, (n_devices,), seed, dtype=torch.float64)
    gen = torch.Generator().manual_seed(seed + 1)
    w = settle(torch.zeros(n_devices, dtype=torch.float64), state, params)
    means, stds = [w.mean().item()], [w.std(correction=0).item()]
    ones = torch.ones(n_devices, dtype=torch.int64)
    for sign in (1, -1):
        for _ in range(n_pulses):
            w = apply_pulses(w, sign * ones, state, params, gen, backend=backend)
            means.append(w.mean().item())
            stds.append(w.std(correction=0).item())
    return {"pulses": list(range(2 * n_pulses + 1)), "w_mean": means, "w_std": stds}


__all__ = [
    "DeviceParams", "PulsedParams", "ConstantStep", "LinearStep", "SoftBounds", "ExpStep",
    "PowStep", "PiecewiseStep", "NeuroSim", "RULES", "get_rule", "params_to_dict",
    "weight_scale", "nominal_dw_min", "implied_states", "neurosim_a", "DeviceState",
    "as_generator", "sample_device_state", "quantize_to_levels", "settle", "pulse_noise_counts",
    "apply_pulses", "redraw_write_noise", "program", "to_conductances", "from_conductances",
    "drift_conductance", "drift", "response",
]
