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
Python objects, no per-sample loops. The per-pulse physics of every rule is written once, in
:func:`_pulse`; multi-pulse updates run through the pulse engine (:mod:`analog_ep.analog.engine`:
counter-based random streams, compacted rounds on CPU, masked rounds on CUDA, and the exact
closed form :func:`_closed_form` for noise-free ConstantStep / LinearStep / SoftBounds without
level quantization). :func:`apply_pulses` and :func:`response` are thin wrappers over it.
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
        _need(self.w_max > 0, "w_max", "must be > 0 (a differential pair stores both signs: w_min < 0 < w_max)",
              self.w_max)
        _need(self.w_min < 0, "w_min", "must be < 0 (a differential pair stores both signs: w_min < 0 < w_max)",
              self.w_min)
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


PULSE_FIELDS: dict[str, tuple[str, ...]] = {
    "constant_step": ("w_max", "w_min", "scale_up", "scale_down"),
    "linear_step": ("w_max", "w_min", "scale_up", "scale_down", "nl_up", "nl_down"),
    "soft_bounds": ("w_max", "w_min", "scale_up", "scale_down", "nl_up", "nl_down"),
    "exp_step": ("w_max", "w_min", "scale_up", "scale_down"),
    "pow_step": ("w_max", "w_min", "scale_up", "scale_down", "nl_up", "nl_down"),
    "piecewise_step": ("w_max", "w_min", "scale_up", "scale_down"),
    "neurosim": ("w_max", "w_min", "nl_up", "nl_down"),
}
"""The device-state fields :func:`_pulse` reads, per rule."""


_NODES_CACHE: dict = {}


def piecewise_nodes(params: DeviceParams, dtype: torch.dtype, device=None
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """The up / down multiplier nodes of a PiecewiseStep rule as tensors (cached: on CUDA each
    build is a host-to-device copy)."""
    k = (params.piecewise_up, params.piecewise_down, dtype, str(torch.device(device or "cpu")))
    nodes = _NODES_CACHE.get(k)
    if nodes is None:
        if len(_NODES_CACHE) >= 64:
            _NODES_CACHE.clear()
        nodes = _NODES_CACHE[k] = (torch.tensor(params.piecewise_up, dtype=dtype, device=device),
                                   torch.tensor(params.piecewise_down, dtype=dtype, device=device))
    return nodes


def _pow(base: torch.Tensor, expo: torch.Tensor) -> torch.Tensor:
    """``base ** expo`` for ``base >= 0`` as ``exp(expo log base)`` (``0 ** 0 = 1``).

    torch's CPU ``pow`` computes the tail of a tensor with a scalar routine whose last bit can
    differ from its vector routine, so a device's value would depend on its position in the
    tensor; ``exp`` and ``log`` give the same bits wherever the element sits, which keeps the
    engine's compacted and masked paths bit-identical."""
    pos = base > 0
    val = torch.exp(expo * torch.log(torch.where(pos, base, torch.ones_like(base))))
    return torch.where(pos, val, (expo == 0).to(base.dtype))


def _safe_range(wmx: torch.Tensor, wmn: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    rng = wmx - wmn
    ok = rng > 0
    return rng, ok, torch.where(ok, rng, torch.ones_like(rng))


def _directional(up: torch.Tensor, s: dict, params: DeviceParams) -> dict:
    """The per-device constants of the pulses of one update, selected once by direction.

    All pulses of one update go the same way on a device, so the up / down choice and everything
    that does not depend on ``w`` is computed here once: ``sgn`` (+-1), ``scale``, ``slope``
    (LinearStep / SoftBounds), ``expo`` (PowStep), ``A`` / ``G`` (ExpStep), node offsets
    (PiecewiseStep), ``A`` / ``N`` / ``c`` (NeuroSim, float64), the bounds and their safe range.
    Keys starting with ``_`` are not per-device (flags, tables); every other value has one
    entry per device, so a subset of devices is ``{k: v[sel]}``. The selections are exact
    (``a * [up] + b * [down]`` with 0/1 factors; torch.where is slow on CPU).
    """
    if s.get("_dir"):
        return s
    rule = params.rule
    wmx, wmn = s["w_max"], s["w_min"]
    upf = up.to(wmx.dtype)
    dnf = (~up).to(wmx.dtype)

    def pick(a, b):  # exact where(up, a, b) for finite values, without torch.where (slow on CPU)
        return a * upf + b * dnf

    d = {"_dir": True, "w_max": wmx, "w_min": wmn}
    if rule == "neurosim":  # in float64: inverting G(P) amplifies float32 rounding
        wmx, wmn = wmx.double(), wmn.double()
        rng, ok, safe = _safe_range(wmx, wmn)
        A = pick(s["nl_up"], s["nl_down"]).double()
        N = (upf * float(params.n_levels_ltp) + dnf * float(params.n_levels_ltd)).double()
        d.update(w_max=wmx, w_min=wmn, rng=rng, ok=ok, safe=safe, A=A, N=N,
                 c=-torch.expm1(-N / A), sgn=(upf - dnf).double())
        return d
    d["sgn"] = upf - dnf
    d["scale"] = pick(s["scale_up"], s["scale_down"])
    if rule in ("linear_step", "soft_bounds"):
        d["slope"] = pick(s["nl_up"], s["nl_down"])
    elif rule == "exp_step":
        _, d["ok"], d["safe"] = _safe_range(wmx, wmn)
        d["A"] = upf * params.A_up + dnf * params.A_down
        d["G"] = upf * params.gamma_up - dnf * params.gamma_down
    elif rule == "pow_step":
        _, d["ok"], d["safe"] = _safe_range(wmx, wmn)
        d["upf"], d["dnf"] = upf, dnf
        d["expo"] = pick(s["nl_up"], s["nl_down"])
    elif rule == "piecewise_step":
        pu, pd = s.get("pw_up"), s.get("pw_down")
        if pu is None or pd is None:
            pu, pd = piecewise_nodes(params, wmx.dtype, wmx.device)
        _, d["ok"], d["safe"] = _safe_range(wmx, wmn)
        d["_nodes"] = torch.cat((pu, pd))
        d["off"] = (~up).to(torch.int64) * len(params.piecewise_up)
    elif rule != "constant_step":  # pragma: no cover - RULES is closed
        raise ConfigError(f"rule: unknown update rule {rule!r}; valid: {', '.join(RULES)}")
    return d


def _pulse(w: torch.Tensor, up: Optional[torch.Tensor], xi: Optional[torch.Tensor], s: dict,
           params: DeviceParams) -> torch.Tensor:
    """One pulse on every device of the (flat, gathered) tensors: up where ``up`` else down.

    ``s`` holds the per-device state the rule needs (``w_max``, ``w_min``, ``scale_up``,
    ``scale_down``, ``nl_up``, ``nl_down``; :data:`PULSE_FIELDS`) gathered to the devices of
    ``w``, optionally the piecewise node tensors ``pw_up`` / ``pw_down``; or it is already the
    output of :func:`_directional` (then ``up`` is not used). ``xi``: the standard normals of
    this pulse, or None (noise-free). Every operation is elementwise, so a device's result does
    not depend on which other devices are in the tensors. This is the only definition of the
    per-pulse physics.
    """
    d = _directional(up, s, params)
    wmx, wmn = d["w_max"], d["w_min"]
    rule = params.rule
    if rule == "neurosim":
        dtype = w.dtype
        w = w.double()
        g = ((w - wmn) / d["safe"]).clamp(0.0, 1.0)
        A, N, c = d["A"], d["N"], d["c"]
        P = torch.minimum(torch.maximum(-A * torch.log1p(-g * c), torch.zeros_like(N)), N)
        g = -torch.expm1(-(P + d["sgn"]) / A) / c
        if xi is not None:
            g = g + params.ctoc_std * xi.double()
        g = g.clamp(0.0, 1.0)
        w_new = torch.where(d["ok"], wmn + g * d["rng"], w)
        return quantize_to_levels(w_new, wmn, wmx, params.n_states).to(dtype)

    scale = d["scale"]
    if rule == "constant_step":
        mag = scale
    elif rule in ("linear_step", "soft_bounds"):
        mag = scale * (1.0 - d["slope"] * w)
    elif rule == "exp_step":
        z = 2.0 * w / d["safe"] * params.a + params.b
        mag = (1.0 - d["A"] * torch.exp(d["G"] * z)).clamp(min=0.0) * scale
    elif rule == "pow_step":
        base = ((wmx - w) * d["upf"] + (w - wmn) * d["dnf"]) / d["safe"]
        mag = scale * _pow(base.clamp(min=0.0), d["expo"])
    else:  # piecewise_step
        nodes, off = d["_nodes"], d["off"]
        n_sec = len(params.piecewise_up) - 1
        if n_sec <= 0:
            m = nodes[off]
        else:
            ws = ((w - wmn) / d["safe"] * n_sec).clamp(min=0.0)
            idx = torch.floor(ws).clamp(max=n_sec - 1)
            t = (ws - idx).clamp(max=1.0)
            i = idx.long() + off
            m = torch.where(d["ok"], (1.0 - t) * nodes[i] + t * nodes[i + 1], nodes[off])
        mag = scale * m

    if xi is not None:
        std = params.dw_min_std
        if rule in ("linear_step", "soft_bounds") and not params.mult_noise:
            mag = mag + scale * (std * xi)
        else:
            mag = mag * (1.0 + std * xi)
    w_new = torch.clamp(w + mag * d["sgn"], wmn, wmx)
    if rule in ("exp_step", "pow_step"):
        w_new = torch.where(d["ok"], w_new, w)
    return quantize_to_levels(w_new, wmn, wmx, params.n_states)


# --------------------------------------------------------------------------------------------
# multi-pulse update


def _any_stuck(stuck: torch.Tensor) -> bool:
    """Whether any device is stuck (a host sync: use on CPU; aminmax is faster than any)."""
    if stuck.numel() == 0:
        return False
    lo, hi = torch.aminmax(stuck)
    return bool(lo != 0) or bool(hi != 0)


def settle(w: torch.Tensor, state: DeviceState, params: DeviceParams) -> torch.Tensor:
    """Put ``w`` where the devices can hold it: clip to each device's bounds, round to its levels
    (if ``n_states``), pin stuck devices at their bound. Always returns a new tensor."""
    w = torch.clamp(w, state.w_min, state.w_max)
    w = quantize_to_levels(w, state.w_min, state.w_max, params.n_states)
    if w.device.type == "cpu" and not _any_stuck(state.stuck):  # nothing to pin (no sync on CPU)
        return w
    return torch.where(state.stuck < 0, state.w_min, torch.where(state.stuck > 0, state.w_max, w))


def _as_counts(n_pulses, w: torch.Tensor) -> torch.Tensor:
    n = torch.as_tensor(n_pulses, device=w.device)
    if n.is_floating_point():
        n = torch.round(n)
    return n.to(torch.int64).expand(w.shape)


def closed_form_applies(params: DeviceParams) -> bool:
    """Whether :func:`_closed_form` may apply: noise-free ConstantStep / LinearStep / SoftBounds
    without level quantization."""
    return (params.rule in ("constant_step", "linear_step", "soft_bounds")
            and params.dw_min_std <= 0 and params.n_states is None)


def _closed_form(w, n, state, params) -> Optional[torch.Tensor]:
    """Exact noise-free multi-pulse update of the affine rules (or None if not applicable).

    ConstantStep / LinearStep / SoftBounds map ``w -> w + d s (1 - k w) = q w + d s`` per pulse
    (``d = +-1``, ``q = 1 - d s k``). For ``q >= 0`` the iterates approach the fixed point
    monotonically, so clipping once at the end equals clipping every pulse::

        w_n = w0 + S_n (d s - d s k w0),   S_n = (1 - q^n) / (1 - q)   (= n when q = 1)
    """
    if not closed_form_applies(params):
        return None
    dtype = w.dtype
    up = n > 0
    upf, dnf = up.to(dtype), (~up).to(dtype)
    b = (state.scale_up * upf + state.scale_down * dnf) * (upf - dnf)  # d s, exactly
    na = n.abs().to(dtype)
    if w.device.type != "cpu" or _any_stuck(state.stuck):
        na = na * state.free.to(dtype)  # stuck devices: no pulses
    if params.rule == "constant_step":  # k = 0: S_n = n
        w_n = w + na * b
    else:
        c = b * (state.nl_up * upf + state.nl_down * dnf)
        if w.device.type == "cpu":  # no host sync elsewhere: there c > 1 (one pulse beyond the
            if bool((c > 1).any()):  # bound, a pathological card) is clipped to c = 1 (lands on it)
                return None
        else:
            c = c.clamp(max=1.0)
        zero = c == 0
        t = torch.nan_to_num_(na * torch.log1p(-c), nan=0.0)  # c = 1, n = 0: 0 * -inf -> 0
        S = torch.where(zero, na, -torch.expm1(t) / torch.where(zero, 1.0, c))
        w_n = w + S * (b - c * w)
    # n = 0 (and stuck) devices: w + 0 = w, and w is settled, so the clip keeps it
    return torch.clamp(w_n, state.w_min, state.w_max)


def generator_key(generator: Generatorish = None) -> int:
    """A 64-bit stream key for the engine from a seed or a generator.

    ``int`` -> ``engine.stream_key(seed)`` (a pure function of the seed); a ``torch.Generator``
    -> one 63-bit draw from it (so it advances and a resumed generator continues the sequence);
    ``None`` -> one draw from torch's global generator."""
    from .engine import stream_key

    if isinstance(generator, int) and not isinstance(generator, bool):
        return stream_key(generator)
    if generator is None:
        return int(torch.randint(0, 2 ** 63 - 1, (1,)).item())
    return int(torch.randint(0, 2 ** 63 - 1, (1,), generator=generator,
                             device=generator.device).item())


def apply_pulses(w: torch.Tensor, n_pulses, state: DeviceState, params: DeviceParams,
                 generator: Generatorish = None, *, closed_form: bool = True,
                 path: Optional[str] = None) -> torch.Tensor:
    """Apply a signed number of pulses to every device (n > 0 up, n < 0 down); return new ``w``.

    A thin wrapper over :func:`analog_ep.analog.engine.apply_counts` with the stream key
    :func:`generator_key` ``(generator)``: ``w`` is first :func:`settle`-d (clipped to the
    device bounds, stuck devices pinned); each pulse follows the device's rule with its
    cycle-to-cycle noise (pulse ``k`` of device ``i`` draws ``engine.counter_normal(key, i,
    k)``), is clipped to the bounds and rounded to the level grid when ``n_states`` is set.
    Stuck devices never move. Never returns NaN for finite input. ``closed_form=False`` forces
    the per-pulse rounds even where the exact closed form applies; ``path`` picks the engine's
    ``"compact"`` or ``"masked"`` rounds (both for tests).
    """
    from .engine import apply_counts

    if tuple(state.shape) != tuple(w.shape):
        raise ValueError(f"device state has shape {tuple(state.shape)}, weights {tuple(w.shape)}")
    n = _as_counts(n_pulses, w)
    return apply_counts(w, n, state, params, generator_key(generator), path=path,
                        closed_form=closed_form)


def redraw_write_noise(offset: torch.Tensor, n_pulses, params: DeviceParams,
                       generator: Generatorish = None) -> torch.Tensor:
    """aihwkit write noise: the weight reads see is ``w + offset``; every device that received a
    pulse gets a fresh ``offset = write_noise_std * dw_min * xi``, the others keep theirs
    (:func:`analog_ep.analog.engine.write_noise` with the key :func:`generator_key`)."""
    from .engine import write_noise

    if getattr(params, "write_noise_std", 0.0) <= 0:
        return offset
    return write_noise(offset, _as_counts(n_pulses, offset), params, generator_key(generator))


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


def response(params: DeviceParams, n_pulses: int, n_devices: int = 100, seed: int = 0) -> dict:
    """Pulse response from w = 0: ``n_pulses`` up pulses, then ``n_pulses`` down pulses.

    Returns JSON-ready lists over the ``2 n_pulses + 1`` points (the start included):
    ``pulses`` (cumulative pulse count), ``w_mean`` and ``w_std`` (population std, ddof 0) over
    ``n_devices`` devices drawn from ``seed``; the cycle-to-cycle noise of pulse ``k`` comes from
    the engine stream ``stream_key(seed, 1, k)``.
    """
    from .engine import apply_counts, stream_key

    if n_pulses < 0 or n_devices < 1:
        raise ConfigError(f"response: need n_pulses >= 0 and n_devices >= 1, got {n_pulses}, {n_devices}")
    state = sample_device_state(params, (n_devices,), seed, dtype=torch.float64)
    w = settle(torch.zeros(n_devices, dtype=torch.float64), state, params)
    ws = [w]
    ones = torch.ones(n_devices, dtype=torch.int32)
    for sign in (1, -1):
        for _ in range(n_pulses):
            w = apply_counts(w, sign * ones, state, params, stream_key(seed, 1, len(ws)))
            ws.append(w)
    ws = torch.stack(ws)
    return {"pulses": list(range(2 * n_pulses + 1)), "w_mean": ws.mean(1).tolist(),
            "w_std": ws.std(1, correction=0).tolist()}


__all__ = [
    "DeviceParams", "PulsedParams", "ConstantStep", "LinearStep", "SoftBounds", "ExpStep",
    "PowStep", "PiecewiseStep", "NeuroSim", "RULES", "get_rule", "params_to_dict",
    "weight_scale", "nominal_dw_min", "implied_states", "neurosim_a", "DeviceState",
    "as_generator", "sample_device_state", "quantize_to_levels", "settle", "PULSE_FIELDS",
    "piecewise_nodes", "closed_form_applies", "generator_key", "apply_pulses",
    "redraw_write_noise", "program", "to_conductances", "from_conductances", "drift_conductance",
    "drift", "response",
]
