"""Solver statistics, the sweep loop every iterative solver shares, and the solver registry
(see :mod:`analog_ep.solvers`)."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Callable

import torch

from ..config.relaxations import RELAXATIONS, relaxation_for
from ..errors import ConfigError


@dataclass
class SolverStats:
    """Per-sample statistics of one relaxation.

    ``steps``: sweeps until the sample's residual first fell below ``tol`` (``iters`` if never);
    ``residual``: max |s_new - s_old| over all nodes at the last sweep; ``converged``: residual
    below ``tol`` at the last sweep; ``sweeps``: sweeps run for the batch; ``trace``: (sweeps,)
    the batch's largest residual after each sweep (on the states' device; None where no sweep
    ran); ``energy``: the solver's energy curve where it computes one (the predictive coding
    solver: the batch-mean total energy before the first and after every sweep), else None.
    """

    steps: torch.Tensor
    residual: torch.Tensor
    converged: torch.Tensor
    sweeps: int
    trace: torch.Tensor | None = None
    energy: torch.Tensor | None = None
    settled: torch.Tensor | None = None
    """``solver.stop: noise_floor`` on noisy reads: per sample, whether it settled (residual below
    ``tol``, or on its noise floor: :class:`Stopper`); None under ``tol`` (then settled means
    converged)."""
    settle_time_s: torch.Tensor | None = None
    """The settle solver: per sample, the physical time in seconds until it settled (``steps``
    integrator steps of ``dt``; the phase's whole budget where it did not); None for the
    iterative solvers."""


def per_sample(c: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A per-sample vector ``c`` (b,) shaped to broadcast over ``like`` (b, ...)."""
    return c.reshape(-1, *([1] * (like.dim() - 1)))


def max_abs(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-sample max |a - b| (reduced over the sample's dims in place: no copy of a
    channels-last map into rows)."""
    d = (a - b).abs()
    return d.amax(tuple(range(1, d.dim()))) if d.dim() > 1 else d


STOPS = ("tol", "noise_floor")

NOISE_BAND = "max"
"""``solver.noise_band`` where the config leaves it null (:data:`NOISE_BANDS`): ``max`` since
session 12 (the Fashion-MNIST MLP on the memristor card at the same test accuracy in fewer
sweeps, dchn_vgg5 in fewer sweeps: ``benchmarks/speed_fmnist_s12_stop.md``); ``flat`` before."""

SQRT2 = math.sqrt(2.0)


def flat_band(z: float, n: int) -> float:
    """``solver.noise_band: flat``: the band of one draw, ``z`` whatever the node's size ``n``
    (session 10's threshold)."""
    return z


def max_band(z: float, n: int) -> float:
    """``solver.noise_band: max``: the per-draw ``z`` carried to a node of ``n`` entries per sample.

    The residual of a node is the largest of its ``n`` entries' changes ``|d_j|``; on the noise
    floor each is ``sqrt(2) sigma |Z_j|``, ``Z_j`` standard normal and (read noise per output)
    independent. The largest of ``n`` independent draws with CDF ``F`` has CDF ``F^n`` (order
    statistics: David & Nagaraja, *Order Statistics*, 3rd ed., 2003, eq. 2.1.1), and ``|Z|``
    has ``F(t) = 1 - 2 Q(t)`` (``Q`` the standard normal tail). ``z`` keeps its meaning as a
    per-draw band: one draw exceeds it with probability ``p = 2 Q(z) = erfc(z / sqrt 2)``. The
    band of ``n`` draws is the level the *largest* of them exceeds with the same ``p``:

        (1 - 2 Q(z_n))^n = 1 - p   <=>   z_n = Q^-1( (1 - (1 - p)^(1/n)) / 2 ),

    i.e. the ``(1 - p)^(1/n)`` quantile of one ``|Z|`` (computed as ``-expm1(log1p(-p) / n) / 2``
    and ``Q^-1(t) = -Phi^-1(t)``: accurate for the tiny tails of large ``n``). ``z_1 = z``; for
    large ``n``, ``z_n ~ sqrt(2 ln(2n/p))`` less ``ln(4 pi ln(2n/p)) / (2 sqrt(2 ln(2n/p)))`` (the
    Gaussian maximum grows as ``sqrt(2 ln n)``: Leadbetter, Lindgren & Rootzen, *Extremes and
    Related Properties of Random Sequences and Processes*, 1983, thm. 1.5.3). At ``z`` = 3:
    ``z_10`` 3.64, ``z_500`` 4.55, ``z_4340`` 4.98. Across a sample's nodes the threshold is
    the largest node's band (:func:`floor_threshold`), so a noise-only sweep fails it with
    probability at most ``p`` times the node count (union bound)."""
    if n <= 1 or not z:
        return z
    t = -math.expm1(math.log1p(-math.erfc(z / SQRT2)) / n) / 2.0
    return -NormalDist().inv_cdf(t) if t > 0 else math.inf


NOISE_BANDS: dict[str, Callable[[float, int], float]] = {"flat": flat_band, "max": max_band}
"""``solver.noise_band`` -> ``(z, n) -> z_n``: the band, in read-noise stds ``sqrt(2) sigma``, of
the residual of a node of ``n`` entries per sample for the per-draw ``solver.noise_z`` = ``z``."""


def floor_coef(z: float, gain: float, c: float) -> float:
    """The threshold per unit of a read's noise-management scale: ``z sqrt(2) gain c`` (the
    one product :func:`floor_threshold` and the fused sweep's kernel both use)."""
    return z * SQRT2 * gain * c


def node_bands(z: float, band: str, sizes) -> list[float]:
    """Each node's band ``z_k = NOISE_BANDS[band](z, n_k)`` for nodes of ``sizes`` ``n_k``
    entries per sample (host floats, once per phase: the one place :func:`floor_threshold` and
    the fused sweep's kernel take it from)."""
    fn = NOISE_BANDS[band]
    return [fn(z, int(n)) for n in sizes]


def floor_threshold(floors: list | None, z: float, band: str) -> Callable | None:
    """``solver.noise_z``'s per-sample threshold as a function of a sweep's new states, or None
    where it does not run (``z`` 0 or ``floors`` None): ``floors`` the model's
    :meth:`~analog_ep.models.base.EnergyNetwork.read_floors`. A settled node changes from one
    sweep to the next only by its reads' noise: two independent reads of std ``sigma`` differ
    with std ``sqrt(2) sigma``. So sample ``b`` counts as settled on its noise floor once its
    residual is at most ``max_k z_k sqrt(2) sigma_k,b``, ``sigma_k,b = gain_k sqrt(sum_terms (c
    m_b)^2)`` over the node's independent noise terms (``m_b = norm(x_b)`` of the term's read
    input state: the read's noise-management scale ``max(max |x_b|, 1e-30) / nm_bound`` for the
    output noise and the ADC's rounding, or 1 without noise management; ``||x_b||_2`` for a
    dense read's weight read noise; one term: ``m_b * floor_coef(z_k, gain, c)`` in the states' dtype),
    ``z_k`` node ``k``'s band for its ``n_k`` entries per sample (``solver.noise_band``:
    :data:`NOISE_BANDS`, :func:`node_bands`; ``flat``: ``z`` for every node). The sizes are the
    states' shapes (host metadata), so the coefficients are made once per phase (per batch shape)."""
    if not z or floors is None:
        return None
    built: dict = {}   # per-sample sizes -> the nodes' (coefficient, norm, source) terms

    def coefs(states: list[torch.Tensor]) -> list:
        sizes = tuple(math.prod(s.shape[1:]) for s in states)
        nodes = built.get(sizes)
        if nodes is None:
            zs = node_bands(z, band, sizes)
            nodes = built[sizes] = [[(floor_coef(zk, gain, c), norm, src) for c, norm, src in terms]
                                    for zk, (gain, terms) in zip(zs, floors)]
        return nodes

    consts: dict = {}   # (value, batch, dtype, device) -> the constant per-sample tensor, built once

    def const(k: float, like: torch.Tensor) -> torch.Tensor:
        key = (k, like.shape[0], like.dtype, like.device)
        t = consts.get(key)
        if t is None:
            t = consts[key] = torch.full((like.shape[0],), k, dtype=like.dtype, device=like.device)
        return t

    def threshold(states: list[torch.Tensor]) -> torch.Tensor:
        per = []
        for terms in coefs(states):
            parts = [norm(states[src - 1]).mul(k) if norm is not None else const(k, states[0])
                     for k, norm, src in terms]
            if not parts:   # a node no sweep read drives: no floor of its own
                parts = [const(0.0, states[0])]
            per.append(parts[0] if len(parts) == 1 else torch.stack(parts).square().sum(0).sqrt())
        return torch.stack(per).amax(0)

    return threshold



class Stopper:
    """The per-sample stop bookkeeping every relaxation shares (on the states' device; the host
    reads one flag every ``check_every`` sweeps, and none with ``tol`` 0).

    ``stop: tol``: a sample has converged when its residual is below ``tol``; the phase stops
    when every sample's is. ``stop: noise_floor`` with ``noisy`` reads (the storages' periphery
    implies a floor: read noise or converters, :func:`noisy_reads`): a sample has also *settled*
    once it sits on its noise floor: ``patience`` sweeps in a row failed to bring its residual
    below ``(1 - drop)`` times the smallest residual it had reached (a contracting relaxation
    lowers its residual geometrically; on the floor it only fluctuates), or (``solver.noise_z``,
    where the caller passes a threshold) once its residual is within the band the reads' noise
    alone sets (:func:`floor_threshold`: a settled state changes by no more). The flag stays set,
    ``steps`` is the sweep at which it settled and ``converged`` still means residual below
    ``tol``; the phase stops when every sample has settled. Without noisy reads the floor is
    zero and ``noise_floor`` is ``tol`` exactly (a digital phase keeps its semantics).

    ``rtol > 0`` (``solver.nudge_rtol``, a nudged phase): the absolute test ``residual < tol`` is
    replaced by the relative one the caller passes to :meth:`update` per sample (every node's
    residual below ``rtol`` times its displacement from the phase's start: :func:`run_sweeps`);
    ``converged`` then means that test at the last sweep."""

    def __init__(self, like: torch.Tensor, iters: int, tol: float, check_every: int = 1, stop: str = "tol",
                 noisy: bool = False, patience: int = RELAXATIONS["iterative"].noise_patience, drop: float = 0.05,
                 rtol: float = 0.0):
        if stop not in STOPS:
            raise ConfigError(f"solver.stop: unknown rule {stop!r}; valid: {', '.join(STOPS)}")
        from ..compute import current

        self.dist = current()
        b, device = like.shape[0], like.device
        self.iters, self.tol, self.check_every, self.rtol = iters, tol, check_every, float(rtol)
        self.last = None  # the relative test's last per-sample flags (rtol > 0)
        self.ending = False  # the phase end's extra sweeps (:func:`average_end`): no host read
        self.floor = stop == "noise_floor" and noisy
        self.patience, self.drop = int(patience), float(drop)
        # the per-sample state, in two blocks a kernel can take whole (:meth:`kernel_state`):
        # flags (done, now, on_floor) and counts (steps, stall); best in the states' dtype
        self._flags = torch.zeros((3, b), dtype=torch.bool, device=device)
        self._counts = torch.zeros((2, b), dtype=torch.long, device=device)
        self.done, self._now, self.on_floor = self._flags.unbind(0)
        self.steps, self.stall = self._counts.unbind(0)
        self.steps.fill_(iters)
        self.best = torch.full((b,), float("inf"), dtype=like.dtype, device=device)
        self.residual = torch.full((b,), float("inf"), device=device)
        self.residuals: list[torch.Tensor] = []
        # per-sweep work buffers: the bookkeeping runs in place (no new tensors per sweep)
        self._fresh = torch.empty(b, dtype=torch.bool, device=device)
        if self.floor:
            self._thr = torch.empty(b, dtype=like.dtype, device=device)
            self._progress = torch.empty(b, dtype=torch.bool, device=device)
            self._stalled = torch.empty(b, dtype=torch.bool, device=device)

    def kernel_state(self) -> tuple:
        """The bookkeeping's state for a kernel that runs :meth:`update`'s rule itself per sample
        (the fused sweep, :mod:`analog_ep.analog.kernels.numba_sweep`), in place on the stopper's
        own buffers: ``(flags, counts, best, tol, factor, floor, patience)``, ``flags`` (3, B)
        bool rows done / now / on_floor, ``counts`` (2, B) long rows steps / stall, ``best`` (B,)
        in the states' dtype; ``tol`` and ``factor = 1 - drop`` as Python floats (the kernel
        rounds them to the states' dtype, as torch does a wrapped scalar); ``floor`` whether the
        noise-floor rule runs. After such a sweep the caller hands the residual to :meth:`record`."""
        return self._flags, self._counts, self.best, self.tol, 1.0 - self.drop, self.floor, self.patience

    def update(self, n: int, residual: torch.Tensor, relative: torch.Tensor | None = None,
               threshold: torch.Tensor | None = None) -> bool:
        """Record sweep ``n``'s per-sample residual; True when the phase should stop now.
        ``relative``: with ``rtol > 0``, the per-sample relative test that replaces ``residual <
        tol`` (bool, on the device); ``threshold``: the noise floor's per-sample threshold of the
        sweep's states (:func:`floor_threshold`; None: that test does not run). In place on the
        stopper's buffers: ``progress = residual < best (1 - drop)``, ``best = min(best,
        residual)``, ``stall = 0 where progress else stall + 1``, ``on_floor |= stall >=
        patience``, ``on_floor |= residual <= threshold``, ``now |= on_floor``; ``steps = n`` where
        ``now`` and not ``done``; ``done |= now``."""
        self.residual = residual
        self.residuals.append(residual)
        now = self._now
        if self.rtol > 0:
            self.last = relative
            now.copy_(relative)
        else:
            torch.lt(residual, self.tol, out=now)
        if self.floor:
            progress = torch.lt(residual, torch.mul(self.best, 1.0 - self.drop, out=self._thr), out=self._progress)
            torch.minimum(self.best, residual, out=self.best)
            self.stall.add_(1).masked_fill_(progress, 0)
            self.on_floor.logical_or_(torch.ge(self.stall, self.patience, out=self._stalled))
            if threshold is not None:
                self.on_floor.logical_or_(torch.le(residual, threshold, out=self._stalled))
            now.logical_or_(self.on_floor)
        self.steps.masked_fill_(torch.logical_not(self.done, out=self._fresh).logical_and_(now), n)
        self.done.logical_or_(now)
        return self._check(n)

    def record(self, n: int, residual: torch.Tensor) -> bool:
        """Sweep ``n``'s per-sample residual where a kernel already ran :meth:`update`'s rule on
        :meth:`kernel_state` (``rtol`` 0): keeps the residual for :meth:`stats`; True when the
        phase should stop now (the same host flag as :meth:`update`)."""
        self.residual = residual
        self.residuals.append(residual)
        return self._check(n)

    def _check(self, n: int) -> bool:
        """The host's flag after sweep ``n``: every ``check_every`` sweeps, whether every sample's
        ``now`` holds (all ranks' under data parallel)."""
        # tol 0 (and no floor, no relative test): the full budget, no host read
        if (self.tol > 0 or self.floor or self.rtol > 0) and n % self.check_every == 0 and n < self.iters \
                and not self.ending:
            flag = self._now.all()
            if self.dist.sync_convergence:
                flag = self.dist.all_true(flag)
            return bool(flag)
        return False

    def stats(self, n: int, **extra) -> SolverStats:
        trace = torch.stack(self.residuals).amax(1) if self.residuals else None
        converged = self.residual < self.tol if self.last is None else self.last
        settled = converged | self.on_floor if self.floor else None
        return SolverStats(self.steps, self.residual, converged, n, trace, settled=settled, **extra)


def noisy_reads(model) -> bool:
    """Whether the model's reads have a noise floor (any storage's ``noisy_reads``: read noise or
    converters); a host attribute, no sync."""
    return any(syn.storage.noisy_reads for syn in model.all_synapses())


def end_reads_of(model, end_reads: int) -> int:
    """``solver.end_reads`` where the model's reads are noisy (:func:`noisy_reads`: read noise or
    converters), else 1: averaging exact reads of a phase end buys nothing, so a digital run (and
    every digital twin of an analog one: ``bench``, ``compare``, ``cost``) ends on its last sweep
    and pays no extra sweep. The one place the solvers and the rules' sweep budgets ask."""
    return end_reads if noisy_reads(model) else 1


def noisy_settle_reads(model) -> bool:
    """Whether a settle's converter-free reads have a noise floor (any storage's
    ``noisy_settle_reads``: analog read noise only); a host attribute, no sync."""
    return any(syn.storage.noisy_settle_reads for syn in model.all_synapses())


def run_sweeps(sweep: Callable, states: list[torch.Tensor], iters: int, tol: float,
               check_every: int = 1, stop: str = "tol", noisy: bool = False,
               patience: int = RELAXATIONS["iterative"].noise_patience, drop: float = 0.05, rtol: float = 0.0,
               threshold: Callable | None = None, end_reads: int = 1) -> tuple[list[torch.Tensor], SolverStats]:
    """Apply ``sweep`` (old states -> new states) up to ``iters`` times; stop early once every
    sample has converged (residual below ``tol``) or, with ``stop: noise_floor`` and ``noisy``
    reads, settled on its noise floor (:class:`Stopper`; checked on the host every
    ``check_every`` sweeps); ``threshold``: new states -> the floor's per-sample threshold
    (:func:`floor_threshold`), or None.

    ``rtol > 0`` (a nudged phase under ``solver.nudge_rtol``): a sample has converged when, at
    every node ``k``, its residual ``max |s_k - s_k_old|`` is below ``rtol`` times its
    displacement ``max |s_k - s_k_start|`` from the states the phase started from (the free
    fixed point): scale-free in beta, since both shrink with the nudge, and a node the nudge
    has not reached yet (residual and displacement 0) has not converged.

    ``end_reads``: the states returned are the mean of the last ``end_reads`` sweeps'
    (:func:`average_end`)."""
    stopper = Stopper(states[0], iters, tol, check_every, stop, noisy, patience, drop, rtol)
    start = list(states) if rtol > 0 else None

    def advance(n, old):
        new = sweep(old)
        per_node = torch.stack([max_abs(s1, s0) for s1, s0 in zip(new, old)])
        relative = None
        if start is not None:
            moved = torch.stack([max_abs(s1, s0) for s1, s0 in zip(new, start)])
            relative = (per_node < rtol * moved).all(0)
        thr = threshold(new) if threshold is not None and stopper.floor else None
        return new, stopper.update(n, per_node.amax(0), relative, thr)

    return sweep_loop(advance, states, iters, stopper, end_reads)


def sweep_loop(advance: Callable, states: list[torch.Tensor], iters: int,
               stopper: Stopper, end_reads: int = 1) -> tuple[list[torch.Tensor], SolverStats]:
    """The sweep loop every iterative relaxation shares: ``advance(n, states) -> (new states,
    stop now)`` for sweep ``n`` = 1 .. ``iters`` (``advance`` records the sweep in ``stopper``:
    :meth:`Stopper.update`, or :meth:`Stopper.record` after a kernel's own bookkeeping) until it
    says stop; the last states and the stopper's statistics. ``end_reads > 1``
    (``solver.end_reads``): the phase's end is averaged over that many sweeps
    (:func:`average_end`); 1: the last sweep's states, untouched."""
    n = 0
    for n in range(1, iters + 1):
        states, halt = advance(n, states)
        if halt:
            break
    if end_reads > 1:
        states, n = average_end(advance, states, n, end_reads, stopper)
    return states, stopper.stats(n)


def average_end(advance: Callable, states: list[torch.Tensor], n: int, k: int,
                stopper: Stopper) -> tuple[list[torch.Tensor], int]:
    """The phase end read ``k`` times (``solver.end_reads``): after the phase stopped at sweep ``n``
    by its rule, ``k - 1`` more sweeps of the same relaxation (``advance(n + 1 .. n + k - 1)``,
    each from the previous one's states, its reads drawing their own noise) and the mean of the
    ``k`` states ``(s_n + s_{n+1} + ... + s_{n+k-1}) / k``, summed in that order in the states'
    dtype. Physically: the iterative relaxation holds its states in digital logic, so this is
    ``k - 1`` more reads of the same crossbars and converters plus a per-neuron accumulator for
    the mean (``k - 1`` adds and one scale per neuron per phase, digital, not priced); the read
    noise of the end falls by up to ``sqrt(k)`` (less where consecutive sweeps correlate, or
    where a converged state's ADC rounding is not dithered by the noise: 1.3-1.7x at k 16 on
    dchn_vgg5, ``benchmarks/analog_conv_fmnist_s12.md``), and only where each read draws its own
    noise (``analog.noise_policy: per_read``; ``per_phase`` / ``per_batch`` reuse one draw in a
    phase, so the extra sweeps average the same draw). The extra sweeps run the stopper's
    bookkeeping as any sweep (the residual, ``converged`` and the trace are the last sweep's) but
    with no host read; its flags and counts (``done`` / ``on_floor``, ``steps`` / ``stall``,
    ``best``) are then restored to the phase's stop, so a sample that reached the budget off its
    noise floor stays off it in the stats whatever the extra sweeps did (``settled`` is
    ``converged or on_floor``: only the last sweep's ``residual < tol`` can still set it), and
    every sample's ``steps`` (the sweep its phase ended at) grows by ``k - 1``: the sweeps the
    phase took.
    Returns the mean states and the sweeps run (``n + k - 1``; counted and priced as sweeps)."""
    flags, counts, best = stopper._flags.clone(), stopper._counts.clone(), stopper.best.clone()
    stopper.ending = True
    total = [s.clone() for s in states]        # a kernel's state buffers are reused two sweeps later
    for j in range(1, k):
        states, _ = advance(n + j, states)
        for t, s in zip(total, states):
            t.add_(s)
    stopper._flags.copy_(flags)
    stopper._counts.copy_(counts)
    stopper.best.copy_(best)
    stopper.steps.add_(k - 1)
    return [t.div_(k) for t in total], n + k - 1


def counts_sweeps(relax: Callable) -> Callable:
    """A solver that also counts its relaxation in the model's event counts
    (``model.count_phase(batch, stats.sweeps)``, under the phase the model is in): the sweeps
    it ran are a host int, so counting adds no host sync."""
    @functools.wraps(relax)
    def counted(model, const, states, **kwargs):
        out, stats = relax(model, const, states, **kwargs)
        model.count_phase(states[0].shape[0], stats.sweeps)
        return out, stats
    return counted


_SOLVERS: dict[tuple[str, str], Callable] = {}
_STOPS: dict[tuple[str, str], tuple[str, ...]] = {}
_TIMED: dict[tuple[str, str], str] = {}

TIMED_UNITS: dict[str, Callable[[int], tuple[int, dict]]] = {
    "sweep": lambda phase_iters: (1, {}),
    "phase": lambda phase_iters: (phase_iters, {"stop": "tol"}),
}
"""What one timed call of ``bench`` runs of a solver (its registry entry's ``timed``), as
``phase_iters -> (iters, extra keywords)``: ``sweep``, one sweep; ``phase``, a whole phase at its
full budget (``phase_iters`` steps, ``stop="tol"`` with ``tol=0``: the noise-floor stop the config
may bind would end it early); for the settle, whose per-phase setup (the stiffness measurement and
the start charge) one integration step would overstate. Read by ``register_solver`` (the valid
units) and the rules' ``timed_budget`` (:mod:`analog_ep.algorithms.rules`)."""


def register_solver(name: str, fn: Callable, energy: str = "hopfield", stops: tuple[str, ...] = STOPS,
                    timed: str = "sweep") -> None:
    """Register ``fn`` as solver ``name`` for energies of kind ``energy`` (``model.energy_kind``);
    ``stops``: the ``solver.stop`` rules it implements (a solver with only ``tol`` takes no stop
    keywords); ``timed``: what ``bench`` times of it (:data:`TIMED_UNITS`, :func:`timed_unit`)."""
    if timed not in TIMED_UNITS:
        raise ValueError(f"register_solver({name!r}): timed must be one of {tuple(TIMED_UNITS)}, got {timed!r}")
    _SOLVERS[(name, energy)] = fn
    _STOPS[(name, energy)] = tuple(stops)
    _TIMED[(name, energy)] = timed


def timed_unit(cfg, energy: str) -> str:
    """What one timed call of ``bench`` runs of the relaxation ``cfg`` asks for on energies of kind
    ``energy`` (the registered solver's ``timed``: :data:`TIMED_UNITS`)."""
    name = relaxation_for(cfg).solver(cfg)
    return _TIMED[(name, energy)]


def resolve_stop(stop: str, name: str, energy: str = "hopfield") -> str:
    """The stop rule a phase of solver ``name`` runs for ``solver.stop``: ``auto`` is
    ``noise_floor`` where the solver implements it (on noiseless reads that is ``tol`` exactly,
    so a digital phase keeps ``tol``), else ``tol``; an explicit rule is itself."""
    if stop != "auto":
        return stop
    return "noise_floor" if "noise_floor" in _STOPS.get((name, energy), ("tol",)) else "tol"


def get_solver(name: str, energy: str = "hopfield") -> Callable:
    """The solver ``name`` of energies of kind ``energy``; a :class:`ConfigError` listing the
    valid names (for that energy) otherwise."""
    fn = _SOLVERS.get((name, energy))
    if fn is None:
        valid = sorted(n for n, e in _SOLVERS if e == energy)
        if any(n == name for n, _ in _SOLVERS):
            raise ConfigError(f"solver.name: solver {name!r} does not relax a {energy} energy; valid for this "
                              f"model: {', '.join(valid)}")
        raise ConfigError(f"solver.name: unknown solver {name!r}; valid: {', '.join(valid)}")
    return fn


def build_solver(cfg, energy: str, check_every: int, periphery=None) -> functools.partial:
    """The relaxation a run's config asks for, as one callable with the solver signature: the
    registered solver of ``analog.relaxation``'s entry
    (:data:`~analog_ep.config.relaxations.RELAXATIONS`) for energies of kind ``energy``, bound to
    its physical constants, ``check_every`` and the stop rule (``solver.stop`` resolved by
    :func:`resolve_stop`, and its ``noise_patience`` (null: the relaxation's) / ``noise_drop`` /
    ``noise_z`` (null: the relaxation's) and ``noise_band`` (null: :data:`NOISE_BAND`), bound only
    for the relaxations that implement the floor threshold (an entry's ``noise_z`` not None); the
    phase end's reads (``solver.end_reads``, bound only above 1: :func:`average_end`);
    ``tol`` binds nothing, so a solver without the noise-floor rule takes it), the nudged phases'
    relative stop (``solver.nudge_rtol``, bound only when set) and a PCN's node
    step (``solver.pcn_step`` / ``pcn_backtrack``, bound only when set). The one place the solver
    is chosen: every command builds its learning rule, and so its solver, from the config and
    the model's effective periphery (``periphery``: the settle neuron's constants, the card's
    under the ``analog.*`` overrides; :attr:`Relaxation.build`)."""
    relax = relaxation_for(cfg)
    name, kw = relax.solver(cfg), relax.build(cfg, periphery)
    s = cfg.solver
    stop = resolve_stop(s.stop, name, energy)
    if stop != "tol":
        patience = relax.noise_patience if s.noise_patience is None else s.noise_patience
        kw.update(stop=stop, noise_patience=patience, noise_drop=s.noise_drop)
        if relax.noise_z is not None:
            kw.update(noise_z=relax.noise_z if s.noise_z is None else s.noise_z,
                      noise_band=NOISE_BAND if s.noise_band is None else s.noise_band)
    if s.nudge_rtol:  # a Hopfield-type iterative nudged phase's relative stop (the config allows it there only)
        kw.update(nudge_rtol=s.nudge_rtol)
    if s.pcn_step != 1.0 or s.pcn_backtrack:  # the PCN node step (the config allows it there only)
        kw.update(step=s.pcn_step, backtrack=s.pcn_backtrack)
    if s.end_reads > 1:  # the phase end averaged (the config allows it on Hopfield-type iterative solvers only)
        kw.update(end_reads=s.end_reads)
    return functools.partial(get_solver(name, energy), check_every=check_every, **kw)

