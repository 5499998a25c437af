"""How a phase relaxes on the chip (``analog.relaxation``, DESIGN section 7c): the relaxation
registry.

Each relaxation is one :class:`Relaxation` entry: the solver it runs with the config's physical
constants (``solver``, ``build``), its stop defaults and the physical properties every other part asks about
instead of its name (the config checks, the periphery's refusal of a widened read window, the
settle's step bookkeeping, the PC rule's choice of inference). ``analog.relaxation``'s valid
values are this registry's names (:class:`~analog_ep.config.schema.AnalogConfig`).

No torch import (the config loader reads it); the solvers it names are registered in
:mod:`analog_ep.solvers`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Optional

from ..errors import ConfigError


@dataclass(frozen=True)
class Relaxation:
    """One way the chip relaxes a phase."""

    name: str
    """The ``analog.relaxation`` value."""
    solver: Callable[[Any], str]
    """``cfg -> solver name``: the registered solver (:func:`analog_ep.solvers.get_solver`) the
    relaxation runs, decided from the config alone (what ``bench`` times of it:
    :func:`analog_ep.solvers.base.timed_unit`)."""
    build: Callable[[Any, Any], dict]
    """``(cfg, periphery) -> the solver's physical keywords``: the circuit's constants it binds,
    from the run's effective periphery (``model.periphery``: the card's neuron under the
    ``analog.*`` overrides, resolved once by :func:`analog_ep.train.build.build_model`)."""
    discrete_reads: bool
    """True: each phase is a sequence of sweeps, each a DAC drive of the states held in digital
    logic, crossbar reads and ADC reads (iterative). So the knobs of discrete reads and steps apply:
    a widened read window (``analog.read_integration``), the average of the last sweeps' states
    (``solver.end_reads``), the nudged phases' relative stop between sweeps
    (``solver.nudge_rtol``), a PCN's node step (``solver.pcn_step`` / ``pcn_backtrack``) and
    activity-step weights (``pc.precision``), and a PCN's nudged phase runs its fixed
    ``solver.nudge_iters`` traversals (no noise-floor stop); PC's inference runs its own activity
    steps. False: one continuous flow of analog neurons, digitized once at the phase's end (settle):
    those knobs are refused and PC's inference is the relaxation's solver."""
    has_circuit_constants: bool
    """True: the neurons are the settle solver's node circuit (:mod:`analog_ep.solvers.settle`):
    circuits on a device card's crossbar lines with the constants ``analog.settle_*`` (capacitance,
    leak, integration step, time budget). It needs a card, and the parts that gate the settle
    solver's own internals ask this property: a given ``analog.settle_dt_s`` is checked against the
    first phase's stability bound (:mod:`analog_ep.train.first_phase`) and a run restored from its
    checkpoint keeps the settle's step log (:func:`analog_ep.solvers.settle.restored`); so an entry
    with it set must build the settle solver. False: a card's ``analog.settle_*`` keys are
    refused."""
    noise_patience: int
    """``solver.noise_patience`` where the config leaves it null: sweeps (discrete reads) or node
    time constants (a settle)."""
    noise_z: Optional[float] = None
    """``solver.noise_z`` where the config leaves it null, for the relaxations that implement the
    read-noise floor's threshold (:func:`analog_ep.solvers.base.floor_threshold`); None: it has none
    (``solver.noise_z`` and ``solver.noise_band`` are refused)."""
    algorithms: Optional[tuple[str, ...]] = None
    """The algorithms whose phases it relaxes; None: every algorithm. The settle's node circuit
    relaxes EP's phases (a Hopfield-type model's, a PCN's nudged phases) and PC's inference on a
    PCN; backprop's reads are one feed-forward pass of discrete reads (no relaxation), so a settle
    is refused for it (:func:`analog_ep.config.load_config`) and :func:`with_algorithm` gives
    it the default relaxation."""

    def runs(self, algorithm: str) -> bool:
        """Whether this relaxation relaxes ``algorithm``'s phases (:attr:`algorithms`)."""
        return self.algorithms is None or algorithm in self.algorithms


def _iterative_solver(cfg) -> str:
    """``analog.relaxation: iterative``: the schedule ``solver.name``."""
    return cfg.solver.name


def _settle_solver(cfg) -> str:
    """``analog.relaxation: settle``: the settle solver (:mod:`analog_ep.solvers.settle`)."""
    return "settle"


def _iterative_keywords(cfg, periphery) -> dict:
    """``analog.relaxation: iterative``: no circuit constants."""
    return {}


def _settle_keywords(cfg, periphery) -> dict:
    """``analog.relaxation: settle``: the node circuit's constants: the time constant ``tau = C /
    G_leak`` of the effective periphery's neuron
    (:attr:`analog_ep.analog.periphery.PeripheryParams.settle_tau_s`: the card's
    ``periphery.settle_*`` under ``analog.settle_capacitance_f`` / ``settle_g_leak_s``, resolved
    once by :func:`analog_ep.analog.cards.effective_periphery` where the model is built), the step
    and the budget. ``periphery`` is required: a settle runs on a card's model
    (:func:`analog_ep.train.build.build_model`)."""
    if periphery is None:
        raise ConfigError("analog.relaxation: settle needs the model's effective periphery (the card's neuron); "
                          "build the model with analog_ep.train.build.build_model")
    a = cfg.analog
    return {"tau_s": periphery.settle_tau_s, "dt_s": a.settle_dt_s, "t_max_s": a.settle_t_max_s}


RELAXATIONS: dict[str, Relaxation] = {
    # noise_patience 3 sweeps since session 9 (the same accuracy as 5 in fewer sweeps:
    # benchmarks/speed_fmnist_s9_stop.md); noise_z 3 since session 10 (the same test accuracy in
    # about half the sweeps: benchmarks/speed_fmnist_s10_stop.md)
    "iterative": Relaxation("iterative", _iterative_solver, _iterative_keywords, discrete_reads=True,
                            has_circuit_constants=False, noise_patience=3, noise_z=3.0),
    "settle": Relaxation("settle", _settle_solver, _settle_keywords, discrete_reads=False, has_circuit_constants=True,
                         noise_patience=5, algorithms=("ep", "pc")),
}
"""``analog.relaxation`` -> its :class:`Relaxation`: the one place each relaxation's properties
are decided."""


CIRCUIT_KEYS = ("settle_capacitance_f", "settle_g_leak_s", "settle_dt_s", "settle_t_max_s")
"""The ``analog.*`` keys of the node circuit's constants (a relaxation with ``has_circuit_constants``)."""

RELAXATION_KEYS = ("relaxation", *CIRCUIT_KEYS)
"""The ``analog.*`` keys :func:`with_algorithm` resets: the relaxation and its circuit's constants."""


def get_relaxation(name: str) -> Relaxation:
    """The relaxation ``name``; a :class:`ConfigError` listing the valid names otherwise."""
    entry = RELAXATIONS.get(name)
    if entry is None:
        raise ConfigError(f"analog.relaxation: invalid value {name!r}; valid: {', '.join(RELAXATIONS)}")
    return entry


def relaxation_for(cfg) -> Relaxation:
    """The relaxation a run's config asks for (``analog.relaxation``)."""
    return get_relaxation(cfg.analog.relaxation)


RELAXING_ALGORITHMS = ("ep", "rbp", "pc")
"""The algorithms that relax the model's energy to a fixed point. The others (``bp``: the
feed-forward twin) have no energy, so the energy's own model keys (:data:`ENERGY_MODEL_KEYS`) do not
apply to them: the loader refuses them set, and :func:`with_algorithm` resets them."""

ENERGY_MODEL_KEYS = ("feedback_scale", "feedback_update", "aux_weight")
"""``model.*`` keys of the energy a relaxation minimises (its shape, and the update EP and RBP
derive from it), not of the feed-forward pass."""


def takes_key(algorithm: str, key: str) -> bool:
    """Whether a run of ``algorithm`` takes the dotted config key ``key``: every key, but the
    energy's model keys (``model.`` :data:`ENERGY_MODEL_KEYS`) only where the algorithm relaxes an
    energy (:data:`RELAXING_ALGORITHMS`; the loader refuses them set otherwise). The sweep's
    recipe note compares a key only among the points that take it."""
    return algorithm in RELAXING_ALGORITHMS or key not in {f"model.{k}" for k in ENERGY_MODEL_KEYS}


def with_algorithm(cfg, algorithm: str):
    """The run config ``cfg`` with ``algorithm``; where ``cfg``'s relaxation does not run it
    (:meth:`Relaxation.runs`: backprop beside a settle), with the default ``analog.relaxation`` and
    ``analog.settle_*`` too (:data:`RELAXATION_KEYS`), so the config is one the loader accepts: the
    backprop twin on the same tiles of ``analog-ep cost`` and ``compare``. An algorithm that relaxes
    no energy (not in :data:`RELAXING_ALGORITHMS`) also gets the default :data:`ENERGY_MODEL_KEYS`
    (``model.feedback_scale``: the bp twin is the plain feed-forward pass)."""
    if algorithm not in RELAXING_ALGORITHMS:
        default = type(cfg.model)()
        cfg = dataclasses.replace(cfg, model=dataclasses.replace(
            cfg.model, **{k: getattr(default, k) for k in ENERGY_MODEL_KEYS}))
    if relaxation_for(cfg).runs(algorithm):
        return dataclasses.replace(cfg, algorithm=algorithm)
    default = type(cfg.analog)()
    analog = dataclasses.replace(cfg.analog, **{k: getattr(default, k) for k in RELAXATION_KEYS})
    return dataclasses.replace(cfg, algorithm=algorithm, analog=analog)


__all__ = ["CIRCUIT_KEYS", "ENERGY_MODEL_KEYS", "RELAXATIONS", "RELAXING_ALGORITHMS", "RELAXATION_KEYS", "Relaxation", "get_relaxation", "relaxation_for", "takes_key",
           "with_algorithm"]
