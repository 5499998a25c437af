"""Device update rules as objects: one class per rule holds its parameters and its physics.

Conventions follow aihwkit (Rasch et al., "A flexible and fast PyTorch toolkit for simulating
training and inference on analog crossbar arrays", AICAS 2021; C++ ``rpucuda`` sources) so that
published presets carry over unchanged:

* A device stores a weight ``w`` in **relative units**, bounded by its own ``[w_min, w_max]``
  (nominally ``[-1, 1]``). One pulse moves it by about ``dw_min``.
* Device-to-device variations (``*_dtod``) are drawn **once** from a construction seed
  (:func:`.population.sample_device_state`, which asks the rule's :meth:`DeviceParams.populate`);
  cycle-to-cycle noise (``dw_min_std``) is drawn per pulse. ``dw_min_std``, ``dw_min_dtod`` and
  ``w_*_dtod`` are relative; ``up_down_dtod`` and ``write_noise_std`` are in units of ``dw_min``.
* Conductances appear only in the differential-pair mapping (:mod:`.pair`):
  ``w = (G+ - G-) / (G_max - G_min) * w_scale`` with ``G`` in microsiemens.

**A rule is one class** (a frozen dataclass of its parameters, validated on construction) whose
methods are the rule's physics; the pulse engine (:mod:`.engine`) only asks them, never the
rule's name or type:

* :attr:`DeviceParams.state_fields`: the per-device state the pulses read;
* :meth:`DeviceParams.populate`: the rule's device-to-device draws (scales, slopes, exponents);
* :meth:`DeviceParams.directional`: the per-device constants of one update's pulses, selected
  once by direction (all pulses of one update go the same way on a device);
* :meth:`DeviceParams.step`: one pulse on every device (the only definition of the per-pulse
  physics; every operation is elementwise, so a device's result does not depend on which other
  devices are in the tensors);
* :attr:`DeviceParams.has_closed_form` / :meth:`DeviceParams.closed_form`: the exact multi-pulse
  update where one exists (noise-free ConstantStep / LinearStep / SoftBounds without levels).

The step rules of aihwkit share :class:`PulsedParams`, whose :meth:`~PulsedParams.step` is
``clip(w + sgn * magnitude(w) * noise)`` then the level grid: a new step rule defines
:meth:`~PulsedParams.magnitude` (and :meth:`~PulsedParams.shape_params` /
``_select`` if it has per-device shape parameters). Adding a rule = one class +
:func:`register_rule`; a device card names it by its ``rule:``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import ClassVar, NamedTuple, Optional

import torch

from ..errors import ConfigError


# --------------------------------------------------------------------------------------------
# helpers of the rules' physics


def _need(cond: bool, key: str, msg: str, value) -> None:
    if not cond:
        raise ConfigError(f"{key}: {msg}, got {value!r}")


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


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


def _pick(a: torch.Tensor, b: torch.Tensor, upf: torch.Tensor, dnf: torch.Tensor) -> torch.Tensor:
    """Exact ``where(up, a, b)`` for finite values, as ``a [up] + b [down]`` with 0/1 factors
    (torch.where is slow on CPU)."""
    return a * upf + b * dnf


def _pow(base: torch.Tensor, expo: torch.Tensor) -> torch.Tensor:
    """``base ** expo`` for ``base >= 0`` as ``exp(expo log base)`` (``0 ** 0 = 1``).

    torch's CPU ``pow`` computes the tail of a tensor with a scalar routine whose last bit can
    differ from its vector routine, so a device's value would depend on its position in the
    tensor; ``exp`` and ``log`` give the same bits wherever the element sits, which keeps the
    engine's compacted and masked paths bit-identical."""
    pos = base > 0
    val = torch.exp(expo * torch.log(torch.where(pos, base, torch.ones_like(base))))
    return torch.where(pos, val, (expo == 0).to(base.dtype))


def _safe_range(wmx: torch.Tensor, wmn: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(range, range > 0, range or 1)`` of the devices' bounds."""
    rng = wmx - wmn
    ok = rng > 0
    return rng, ok, torch.where(ok, rng, torch.ones_like(rng))


def _inv(t: torch.Tensor) -> torch.Tensor:
    """``1 / t``, and 0 where ``t == 0``."""
    return torch.where(t != 0, 1.0 / torch.where(t != 0, t, 1.0), 0.0)


class Draws(NamedTuple):
    """The standard normals (float64, the weight shape) a rule's :meth:`DeviceParams.populate`
    may use. :func:`.population.sample_device_state` draws all of them for every rule, in one
    fixed order, so a seed names the same physical devices whatever the rule."""

    gain: torch.Tensor
    """Step-size gain of the device (``dw_min_dtod``)."""
    up_down: torch.Tensor
    """Up/down asymmetry of the device (``up_down_dtod``)."""
    p_up: torch.Tensor
    """First shape parameter of the rule (LinearStep ``gamma_up``, PowStep exponent gain,
    NeuroSim ``nl_ltp``)."""
    p_down: torch.Tensor
    """Second shape parameter of the rule (LinearStep ``gamma_down``, PowStep exponent
    asymmetry, NeuroSim ``nl_ltd``)."""


# --------------------------------------------------------------------------------------------
# rules


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
    """The rule's name: the ``rule:`` of a device card, its key in :data:`RULES`."""
    state_fields: ClassVar[tuple[str, ...]] = ("w_max", "w_min")
    """The device-state fields (:class:`.population.DeviceState`) the pulses read."""
    pulse_form: ClassVar[Optional[str]] = None
    """The form of :meth:`step` a fused CPU kernel can run (``compute.kernels``,
    :mod:`.kernels.numba_engine`): ``"affine"`` for ``levels(clip(w + sgn scale (1 - slope w)
    noise))`` (slope from ``nl_up`` / ``nl_down`` when they are state fields, else 0); None: the
    torch engine only."""

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
    """Programming noise of :func:`.pair.program`: std of the Gaussian error added to the target, as a
    fraction of the weight scale ``max(|w_min|, |w_max|)`` (= of ``G_max - G_min``). It moves the
    stored weight itself (pulses start from the missed target); not aihwkit's: aihwkit's
    programming noise on set is the write noise (``apply_write_noise_on_set`` of the step rules),
    which moves only the apparent weight and is redrawn by the next pulse."""
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

    # the rule's physics: what the population draws and the pulse engine ask -----------------
    def nominal_dw_min(self) -> float:
        """Nominal weight change of one pulse (relative units)."""
        raise NotImplementedError(f"{type(self).__name__} defines no nominal step")

    def populate(self, draws: Draws, w_max: torch.Tensor, w_min: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The rule's device-to-device draws (aihwkit ``populate``): ``(scale_up, scale_down,
        nl_up, nl_down)``, float64 tensors of the weight shape, from the standard normals
        ``draws`` and the devices' drawn bounds. ``nl_up`` / ``nl_down`` hold the rule's
        per-device nonlinearity (see :class:`.population.DeviceState`)."""
        raise NotImplementedError(f"{type(self).__name__} defines no device-to-device draws")

    def directional(self, up: torch.Tensor, s: dict) -> dict:
        """The per-device constants of the pulses of one update, selected once by direction.

        ``up``: bool tensor, True where the device's pulses go up. ``s``: the device-state
        tensors named by :attr:`state_fields`, gathered to the pulsed devices. Returns a dict
        with ``"_dir": True``, the bounds ``w_max`` / ``w_min`` and whatever :meth:`step` needs.
        Keys starting with ``_`` are not per-device (flags, tables); every other value has one
        entry per device, so a subset of devices is ``{k: v[sel]}``."""
        raise NotImplementedError(f"{type(self).__name__} defines no pulse")

    def step(self, w: torch.Tensor, xi: Optional[torch.Tensor], d: dict) -> torch.Tensor:
        """One pulse on every device of ``w`` (flat, gathered), in the direction ``d`` was
        selected for (:meth:`directional`). ``xi``: the standard normals of this pulse, or None
        (noise-free). Returns the new weights, clipped to the bounds and on the level grid."""
        raise NotImplementedError(f"{type(self).__name__} defines no pulse")

    def pulse(self, w: torch.Tensor, up: Optional[torch.Tensor], xi: Optional[torch.Tensor],
              s: dict) -> torch.Tensor:
        """One pulse: ``step(w, xi, directional(up, s))`` (``s`` may already be the output of
        :meth:`directional`; then ``up`` is not used)."""
        return self.step(w, xi, s if s.get("_dir") else self.directional(up, s))

    @property
    def has_closed_form(self) -> bool:
        """Whether :meth:`closed_form` is the exact multi-pulse update of these parameters."""
        return False

    def closed_form(self, w: torch.Tensor, na: torch.Tensor, up: torch.Tensor, s: dict
                    ) -> Optional[torch.Tensor]:
        """``w`` after ``na`` (float, >= 0) pulses up where ``up`` else down, before the final
        clip to the device bounds; ``s``: the device-state tensors of :attr:`state_fields` (the
        weight shape). None where no closed form applies."""
        return None


@dataclass(frozen=True)
class PulsedParams(DeviceParams):
    """Parameters of aihwkit's ``PulsedDevice`` shared by the step rules (not NeuroSim).

    Per device (aihwkit ``PulsedRPUDevice::populate``)::

        gain = 1 + dw_min_dtod * xi1,   r = up_down_dtod * xi2
        scale_up   = |(min(up_down, 0) + gain + r) * dw_min|
        scale_down = |(-max(up_down, 0) + gain - r) * dw_min|
    """

    state_fields: ClassVar[tuple[str, ...]] = ("w_max", "w_min", "scale_up", "scale_down")

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
    redrawn on every device that receives pulses (:func:`.engine.write_noise`)."""
    apply_write_noise_on_set: bool = True
    """aihwkit's ``apply_write_noise_on_set`` (default true): programming target weights onto the
    devices (:meth:`.storage.AnalogStorage.program_weights`, at construction and on deploy) draws
    the write noise of every device once, as aihwkit's ``PulsedRPUDevice::onSetWeights`` (via
    ``applyUpdateWriteNoise``) does when a tile's weights are set: the devices hold the target
    (the persistent weight) and reads see ``target + write_noise_std * dw_min * xi``. No effect
    when ``write_noise_std`` is 0. It differs from ``prog_noise_std``, which moves the stored
    (persistent) weight itself and scales with the weight range; write noise moves only the
    apparent weight and is redrawn by the device's next pulse."""

    def validate(self) -> None:
        super().validate()
        _need(self.dw_min > 0, "dw_min", "must be > 0", self.dw_min)
        for k in ("dw_min_dtod", "dw_min_std", "up_down_dtod", "write_noise_std"):
            _need(getattr(self, k) >= 0, k, "must be >= 0", getattr(self, k))

    @property
    def noise_std(self) -> float:
        return self.dw_min_std

    def nominal_dw_min(self) -> float:
        return self.dw_min

    def populate(self, draws: Draws, w_max: torch.Tensor, w_min: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        gain = 1.0 + self.dw_min_dtod * draws.gain
        r = self.up_down_dtod * draws.up_down
        su = ((min(self.up_down, 0.0) + gain + r) * self.dw_min).abs()
        sd = ((-max(self.up_down, 0.0) + gain - r) * self.dw_min).abs()
        nl_up, nl_down = self.shape_params(draws, w_max, w_min)
        return su, sd, nl_up, nl_down

    def shape_params(self, draws: Draws, w_max: torch.Tensor, w_min: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        """The rule's per-device ``(nl_up, nl_down)`` (zeros: the rule has none)."""
        zeros = torch.zeros_like(w_max)
        return zeros, zeros

    def directional(self, up: torch.Tensor, s: dict) -> dict:
        """``sgn`` (+-1) and ``scale`` (``scale_up`` or ``scale_down``) of each device, plus the
        rule's own constants (:meth:`_select`). The selections are exact."""
        wmx, wmn = s["w_max"], s["w_min"]
        upf = up.to(wmx.dtype)
        dnf = (~up).to(wmx.dtype)
        d = {"_dir": True, "w_max": wmx, "w_min": wmn, "sgn": upf - dnf,
             "scale": _pick(s["scale_up"], s["scale_down"], upf, dnf)}
        self._select(d, s, up, upf, dnf)
        return d

    def _select(self, d: dict, s: dict, up: torch.Tensor, upf: torch.Tensor,
                dnf: torch.Tensor) -> None:
        """Add the rule's own per-direction constants to ``d`` (none by default)."""

    def magnitude(self, w: torch.Tensor, d: dict) -> torch.Tensor:
        """The noise-free size ``|dw| >= 0`` of one pulse at ``w``."""
        raise NotImplementedError(f"{type(self).__name__} defines no step size")

    def _noisy(self, mag: torch.Tensor, xi: torch.Tensor, d: dict) -> torch.Tensor:
        """Cycle-to-cycle noise on the step: ``mag (1 + dw_min_std xi)``."""
        return mag * (1.0 + self.dw_min_std * xi)

    frozen_if_degenerate: ClassVar[bool] = False
    """Devices whose drawn range ``w_max - w_min`` is not positive never move (ExpStep,
    PowStep: their step divides by the range)."""

    def step(self, w: torch.Tensor, xi: Optional[torch.Tensor], d: dict) -> torch.Tensor:
        """``w <- levels(clip(w + sgn * magnitude(w) [noise], w_min, w_max))``."""
        mag = self.magnitude(w, d)
        if xi is not None:
            mag = self._noisy(mag, xi, d)
        wmx, wmn = d["w_max"], d["w_min"]
        w_new = torch.clamp(w + mag * d["sgn"], wmn, wmx)
        if self.frozen_if_degenerate:
            w_new = torch.where(d["ok"], w_new, w)
        return quantize_to_levels(w_new, wmn, wmx, self.n_states)


@dataclass(frozen=True)
class ConstantStep(PulsedParams):
    """aihwkit ConstantStepDevice: ``w <- clip(w +- scale (1 + dw_min_std xi), w_min, w_max)``."""

    rule: ClassVar[str] = "constant_step"
    pulse_form: ClassVar[Optional[str]] = "affine"

    def magnitude(self, w: torch.Tensor, d: dict) -> torch.Tensor:
        return d["scale"]

    @property
    def has_closed_form(self) -> bool:
        return self.dw_min_std <= 0 and self.n_states is None

    def closed_form(self, w: torch.Tensor, na: torch.Tensor, up: torch.Tensor, s: dict
                    ) -> Optional[torch.Tensor]:
        """``w_n = w0 + n d s`` (``d = +-1``, ``s`` the device's step of that direction)."""
        upf, dnf = up.to(w.dtype), (~up).to(w.dtype)
        b = (s["scale_up"] * upf + s["scale_down"] * dnf) * (upf - dnf)  # d s, exactly
        return w + na * b


class _AffineStep:
    """The step rules whose pulse is affine in ``w`` (LinearStep, SoftBounds): ``dw = d s (1 -
    k w)`` with ``d = +-1``, ``s`` the device's scale and ``k`` its slope (``nl_up`` /
    ``nl_down``) of that direction; cycle-to-cycle noise multiplies the step (``mult_noise``)
    or adds ``s dw_min_std xi``. A mixin of methods (no fields) before :class:`PulsedParams`."""

    state_fields: ClassVar[tuple[str, ...]] = ("w_max", "w_min", "scale_up", "scale_down",
                                               "nl_up", "nl_down")
    pulse_form: ClassVar[Optional[str]] = "affine"

    def _select(self, d, s, up, upf, dnf) -> None:
        d["slope"] = _pick(s["nl_up"], s["nl_down"], upf, dnf)

    def magnitude(self, w: torch.Tensor, d: dict) -> torch.Tensor:
        return d["scale"] * (1.0 - d["slope"] * w)

    def _noisy(self, mag: torch.Tensor, xi: torch.Tensor, d: dict) -> torch.Tensor:
        if self.mult_noise:
            return mag * (1.0 + self.dw_min_std * xi)
        return mag + d["scale"] * (self.dw_min_std * xi)

    @property
    def has_closed_form(self) -> bool:
        return self.dw_min_std <= 0 and self.n_states is None

    def closed_form(self, w: torch.Tensor, na: torch.Tensor, up: torch.Tensor, s: dict
                    ) -> Optional[torch.Tensor]:
        """Exact noise-free multi-pulse update: a pulse maps ``w -> w + d s (1 - k w) = q w + d
        s`` (``q = 1 - d s k``). For ``q >= 0`` the iterates approach the fixed point
        monotonically, so clipping once at the end equals clipping every pulse::

            w_n = w0 + S_n (d s - d s k w0),   S_n = (1 - q^n) / (1 - q)   (= n when q = 1)

        On CPU, None when some ``c = d s k > 1`` (one pulse beyond the bound, a pathological
        card); elsewhere (no host sync) such ``c`` is clipped to 1 (the pulse lands on it)."""
        dtype = w.dtype
        upf, dnf = up.to(dtype), (~up).to(dtype)
        b = (s["scale_up"] * upf + s["scale_down"] * dnf) * (upf - dnf)  # d s, exactly
        c = b * (s["nl_up"] * upf + s["nl_down"] * dnf)
        if w.device.type == "cpu":
            if bool((c > 1).any()):
                return None
        else:
            c = c.clamp(max=1.0)
        zero = c == 0
        t = torch.nan_to_num_(na * torch.log1p(-c), nan=0.0)  # c = 1, n = 0: 0 * -inf -> 0
        S = torch.where(zero, na, -torch.expm1(t) / torch.where(zero, 1.0, c))
        return w + S * (b - c * w)


@dataclass(frozen=True)
class LinearStep(_AffineStep, PulsedParams):
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

    def shape_params(self, draws: Draws, w_max: torch.Tensor, w_min: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        """Slopes ``k_up = gamma_up_ij / w_ref_up``, ``k_down = gamma_down_ij / w_ref_down``."""
        gu = self.gamma_up + self.gamma_up_dtod * draws.p_up
        gd = self.gamma_down + self.gamma_down_dtod * draws.p_down
        if not self.allow_increasing:
            gu, gd = gu.abs(), gd.abs()
        ref_up = torch.full_like(w_max, self.w_max) if self.mean_bound_reference else w_max
        ref_down = torch.full_like(w_min, self.w_min) if self.mean_bound_reference else w_min
        return gu * _inv(ref_up), gd * _inv(ref_down)


@dataclass(frozen=True)
class SoftBounds(_AffineStep, PulsedParams):
    """aihwkit SoftBoundsDevice: ``dw+ = scale_up (1 - w / w_max_ij)``, ``dw- = scale_down
    (1 - w / w_min_ij)``; steps vanish at the device's own bounds. Noise-free, from w0 = 0,
    ``w_n = w_max (1 - (1 - dw_min / w_max)^n)``."""

    rule: ClassVar[str] = "soft_bounds"
    mult_noise: bool = True
    """Cycle-to-cycle noise multiplies the whole step (true) or only its constant part (false)."""

    def shape_params(self, draws: Draws, w_max: torch.Tensor, w_min: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        """Slopes ``1 / w_max_ij`` (up) and ``1 / w_min_ij`` (down): steps vanish at the bounds."""
        return _inv(w_max), _inv(w_min)


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

    frozen_if_degenerate: ClassVar[bool] = True

    def _select(self, d, s, up, upf, dnf) -> None:
        _, d["ok"], d["safe"] = _safe_range(d["w_max"], d["w_min"])
        d["A"] = upf * self.A_up + dnf * self.A_down
        d["G"] = upf * self.gamma_up - dnf * self.gamma_down

    def magnitude(self, w: torch.Tensor, d: dict) -> torch.Tensor:
        z = 2.0 * w / d["safe"] * self.a + self.b
        return (1.0 - d["A"] * torch.exp(d["G"] * z)).clamp(min=0.0) * d["scale"]


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

    state_fields: ClassVar[tuple[str, ...]] = ("w_max", "w_min", "scale_up", "scale_down",
                                               "nl_up", "nl_down")
    frozen_if_degenerate: ClassVar[bool] = True

    def shape_params(self, draws: Draws, w_max: torch.Tensor, w_min: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        """The exponents ``gamma_up_ij``, ``gamma_down_ij``."""
        gain_p = 1.0 + self.pow_gamma_dtod * draws.p_up
        r_p = self.pow_up_down_dtod * draws.p_down
        nl_up = ((min(self.pow_up_down, 0.0) + gain_p + r_p) * self.pow_gamma).abs()
        nl_down = ((-max(self.pow_up_down, 0.0) + gain_p - r_p) * self.pow_gamma).abs()
        return nl_up, nl_down

    def _select(self, d, s, up, upf, dnf) -> None:
        _, d["ok"], d["safe"] = _safe_range(d["w_max"], d["w_min"])
        d["upf"], d["dnf"] = upf, dnf
        d["expo"] = _pick(s["nl_up"], s["nl_down"], upf, dnf)

    def magnitude(self, w: torch.Tensor, d: dict) -> torch.Tensor:
        base = ((d["w_max"] - w) * d["upf"] + (w - d["w_min"]) * d["dnf"]) / d["safe"]
        return d["scale"] * _pow(base.clamp(min=0.0), d["expo"])


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

    def _select(self, d, s, up, upf, dnf) -> None:
        wmx = d["w_max"]
        pu, pd = piecewise_nodes(self, wmx.dtype, wmx.device)
        _, d["ok"], d["safe"] = _safe_range(wmx, d["w_min"])
        d["_nodes"] = torch.cat((pu, pd))
        d["off"] = (~up).to(torch.int64) * len(self.piecewise_up)

    def magnitude(self, w: torch.Tensor, d: dict) -> torch.Tensor:
        nodes, off = d["_nodes"], d["off"]
        n_sec = len(self.piecewise_up) - 1
        if n_sec <= 0:
            m = nodes[off]
        else:
            ws = ((w - d["w_min"]) / d["safe"] * n_sec).clamp(min=0.0)
            idx = torch.floor(ws).clamp(max=n_sec - 1)
            t = (ws - idx).clamp(max=1.0)
            i = idx.long() + off
            m = torch.where(d["ok"], (1.0 - t) * nodes[i] + t * nodes[i + 1], nodes[off])
        return d["scale"] * m


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
    state_fields: ClassVar[tuple[str, ...]] = ("w_max", "w_min", "nl_up", "nl_down")
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

    def nominal_dw_min(self) -> float:
        """``range / max(N_ltp, N_ltd)``."""
        return (self.w_max - self.w_min) / max(self.n_levels_ltp, self.n_levels_ltd)

    def populate(self, draws: Draws, w_max: torch.Tensor, w_min: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Mean steps ``range / N`` (for information only) and the signed curve parameters
        ``A = a(NL_ij) N`` in pulses, ``NL_ij = clip(NL + nl_dtod xi, -9, 9)``."""
        su = (w_max - w_min) / self.n_levels_ltp
        sd = (w_max - w_min) / self.n_levels_ltd
        zeros = torch.zeros_like(w_max)
        if self.nl_dtod > 0:  # per-device labels: one vectorized bisection
            a_up = neurosim_a((self.nl_ltp + self.nl_dtod * draws.p_up).clamp(-9, 9))
            a_down = neurosim_a((self.nl_ltd + self.nl_dtod * draws.p_down).clamp(-9, 9))
        else:
            a_up = zeros + neurosim_a(self.nl_ltp)
            a_down = zeros + neurosim_a(self.nl_ltd)
        return su, sd, a_up * self.n_levels_ltp, a_down * self.n_levels_ltd

    def directional(self, up: torch.Tensor, s: dict) -> dict:
        """``A`` / ``N`` / ``c = 1 - exp(-N / A)`` of each device's direction, the bounds and
        their safe range, in float64 (inverting G(P) amplifies float32 rounding)."""
        wmx, wmn = s["w_max"], s["w_min"]
        upf = up.to(wmx.dtype)
        dnf = (~up).to(wmx.dtype)
        wmx, wmn = wmx.double(), wmn.double()
        rng, ok, safe = _safe_range(wmx, wmn)
        A = _pick(s["nl_up"], s["nl_down"], upf, dnf).double()
        N = (upf * float(self.n_levels_ltp) + dnf * float(self.n_levels_ltd)).double()
        return {"_dir": True, "w_max": wmx, "w_min": wmn, "rng": rng, "ok": ok, "safe": safe,
                "A": A, "N": N, "c": -torch.expm1(-N / A), "sgn": (upf - dnf).double()}

    def step(self, w: torch.Tensor, xi: Optional[torch.Tensor], d: dict) -> torch.Tensor:
        """Invert the device's curve to its pulse index ``P``, step to ``g(P +- 1)``, add the
        cycle-to-cycle noise ``ctoc_std xi`` (of the range), clip, map back (float64)."""
        dtype = w.dtype
        w = w.double()
        wmx, wmn = d["w_max"], d["w_min"]
        g = ((w - wmn) / d["safe"]).clamp(0.0, 1.0)
        A, N, c = d["A"], d["N"], d["c"]
        P = torch.minimum(torch.maximum(-A * torch.log1p(-g * c), torch.zeros_like(N)), N)
        g = -torch.expm1(-(P + d["sgn"]) / A) / c
        if xi is not None:
            g = g + self.ctoc_std * xi.double()
        g = g.clamp(0.0, 1.0)
        w_new = torch.where(d["ok"], wmn + g * d["rng"], w)
        return quantize_to_levels(w_new, wmn, wmx, self.n_states).to(dtype)


# --------------------------------------------------------------------------------------------
# registry


RULES: dict[str, type[DeviceParams]] = {}
"""Update rules by name (the ``rule:`` of a device card); extend it with :func:`register_rule`."""


def register_rule(name: str, cls: type[DeviceParams]) -> type[DeviceParams]:
    """Register the rule class ``cls`` under ``name`` (its ``rule`` class attribute); returns
    ``cls``. A rule is a frozen :class:`DeviceParams` dataclass whose methods define its
    physics (module docstring); nothing else needs to change for cards and the engine to use it."""
    if not (isinstance(cls, type) and issubclass(cls, DeviceParams)):
        raise TypeError(f"register_rule: {cls!r} is not a DeviceParams subclass")
    if cls.rule != name:
        raise ValueError(f"register_rule: {cls.__name__}.rule is {cls.rule!r}, not {name!r}")
    if RULES.get(name, cls) is not cls:
        raise ValueError(f"register_rule: rule {name!r} is already {RULES[name].__name__}")
    RULES[name] = cls
    return cls


for _cls in (ConstantStep, LinearStep, SoftBounds, ExpStep, PowStep, PiecewiseStep, NeuroSim):
    register_rule(_cls.rule, _cls)


def get_rule(name: str) -> type[DeviceParams]:
    """The parameter class of rule ``name``; ConfigError listing the valid names otherwise."""
    try:
        return RULES[name]
    except (KeyError, TypeError):
        raise ConfigError(f"rule: unknown update rule {name!r}; valid: {', '.join(RULES)}") from None


def params_to_dict(params: DeviceParams) -> dict:
    """Plain dict (with ``rule``) that :func:`.cards.params_from_dict` / a card turns back into params."""
    out = {"rule": params.rule}
    for f in dataclasses.fields(params):
        v = getattr(params, f.name)
        out[f.name] = list(v) if isinstance(v, tuple) else v
    return out


def weight_scale(params: DeviceParams) -> float:
    """``w_scale = max(|w_min|, |w_max|)``: the weight mapped onto ``G_max - G_min``."""
    return max(abs(params.w_min), abs(params.w_max))


def nominal_dw_min(params: DeviceParams) -> float:
    """Nominal weight change of one pulse: ``dw_min``, or ``range / max(N_ltp, N_ltd)`` for
    NeuroSim (:meth:`DeviceParams.nominal_dw_min`)."""
    return params.nominal_dw_min()


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


__all__ = [
    "DeviceParams", "PulsedParams", "ConstantStep", "LinearStep", "SoftBounds", "ExpStep",
    "PowStep", "PiecewiseStep", "NeuroSim", "Draws", "RULES", "register_rule", "get_rule",
    "params_to_dict", "weight_scale", "nominal_dw_min", "implied_states", "neurosim_a",
    "quantize_to_levels", "piecewise_nodes",
]
