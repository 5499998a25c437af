"""Learning rules behind one registry and one signature (DESIGN section 2).

A rule is built once from the config and the model it trains (:func:`build_rule`) and offers

* ``step(x, target, n_global)`` -> :class:`Step`: the gradient estimate of one mini-batch
  (aligned with ``model.ep_parameters()``), the network's output, the solver statistics per
  phase, the update's outer-product terms and the curves to trace (energy per sweep);
* ``predict(x)`` -> ``(output, stats)``: the prediction a trained network makes, with the
  statistics of any relaxation it ran (phase ``eval``);
* ``gradcheck(x, target, betas, iters, tol, generator)``: the per-layer agreement of its
  gradient estimate with the exact gradient (:mod:`.gradcheck`);
* ``state_dict()`` / ``load_state_dict()`` / ``reset()``: the state a rule carries from batch
  to batch (EP's warm start), which checkpoints keep.

Which rule runs is decided here and nowhere else: the registry is keyed by rule name (``ep``: EP
on Hopfield-type energies, ``pcn_ep``: EP on predictive coding networks, ``pc``: predictive
coding inference learning, ``rbp``: recurrent backpropagation, the exact gradient at the free fixed
point of a Hopfield-type energy, ``bp``: backprop on the feed-forward twin), and a model names the
rule each ``algorithm`` means for it (``model.learning_rules``, read from the one table
:data:`analog_ep.config.model_specs.LEARNING_RULES` that the config validator reads too), so the
trainer, bench, compare,
gradcheck and the distillation teacher never ask which model family they hold. Relaxations come
from the solver registry for the model's energy (``model.energy_kind``), so ``solver.*`` keys
mean the same on every model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..compute import check_every, compiled
from ..config.relaxations import relaxation_for
from ..errors import ConfigError
from ..solvers import SolverStats, build_solver
from ..solvers.base import TIMED_UNITS, end_reads_of, timed_unit
from .bp import bp_gradient
from .ep import ep_gradient, nudge_betas
from .gradcheck import _layer_rows, exact_reads, gradcheck, pcn_gradcheck
from .implicit import implicit_gradient
from .pc import pc_gradient
from .pcn_ep import pcn_ep_gradient
from .rbp import adjoint_gradient, rbp_gradient


@dataclass
class Step:
    """What one training step of a rule returns."""

    grads: list[torch.Tensor]          # aligned with model.ep_parameters()
    output: torch.Tensor               # the network's prediction for the batch (detached)
    stats: dict[str, SolverStats]      # per phase ("free", "nudge+", "nudge-", "pc")
    terms: list | None                 # per parameter [(post, pre, coef)] (EPResult.terms) or None
    traces: dict[str, torch.Tensor] = field(default_factory=dict)  # name -> curve per sweep


class LearningRule:
    """Base of the registered rules: holds the config, the model it trains and its device."""

    name = ""

    def __init__(self, cfg, model, device: torch.device | None = None, generator: torch.Generator | None = None):
        self.cfg, self.model = cfg, model
        self.device = device if device is not None else torch.device("cpu")
        self.generator = generator  # host draws of the estimator (random sign)

    def step(self, x: torch.Tensor, target, n_global: int) -> Step:
        raise NotImplementedError

    def predict(self, x: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """The prediction for ``x`` (the caller has begun the batch; a rule begins the phases it
        relaxes): here the feed-forward twin's output, the prediction of every rule but EP on a
        Hopfield energy; no relaxation statistics. Its events count as ``inference``."""
        self.model.tag_phase("inference")
        out = self.model.ff_forward(x)
        self.model.count_phase(x.shape[0], 0, x.shape[0] * self.model.neurons_per_sweep())
        return out, {}

    def gradcheck(self, x: torch.Tensor, target, betas: list[float], iters: int, tol: float,
                  generator: torch.Generator | None = None, nudge_iters: int | None = None) -> dict:
        """``nudge_iters``: the nudged phases' sweep budget (None: ``iters``); only a
        Hopfield-type EP check runs nudged phases to a budget, the others refuse it."""
        raise NotImplementedError

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict, shard=None) -> None:
        pass

    def reset(self) -> None:
        """Forget the state carried from batch to batch (the next step starts afresh)."""

    def sweeps_budget(self) -> int:
        """Most relaxation sweeps one step may run (0 for rules without a relaxation)."""
        return 0

    def sweep_timer(self, x: torch.Tensor, target):
        """``(sweep, free)``: a function running one sweep of this rule's relaxation on its model
        from a steady state, as ``bench`` times it (it returns the solver's stats: ``sweeps`` the
        sweeps or integration steps it ran), and the free state it starts from (the untimed
        setup); None for rules without a relaxation."""
        return None


class _Relaxing(LearningRule):
    """A rule that relaxes the model's energy: it holds the registered solver of that energy
    (``solver.name`` for ``model.energy_kind``) with its convergence-check interval."""

    def __init__(self, cfg, model, device=None, generator=None):
        super().__init__(cfg, model, device, generator)
        self.solver = build_solver(cfg, model.energy_kind, check_every(cfg.solver, self.device),
                                   model.periphery)

    def timed_budget(self, phase_iters: int) -> tuple[int, dict]:
        """What one timed call of ``bench`` runs of this rule's solver
        (:data:`~analog_ep.solvers.base.TIMED_UNITS` of its registered ``timed`` unit)."""
        return TIMED_UNITS[timed_unit(self.cfg, self.model.energy_kind)](phase_iters)

    @property
    def check_every(self) -> int:
        return self.solver.keywords["check_every"]


class EnergyEP(_Relaxing):
    """Equilibrium Propagation on a Hopfield-type energy (:func:`.ep.ep_gradient`): the free
    phase relaxes from zeros, or from the previous batch's free state with ``ep.warm_start``
    (when that batch had the same global size), and predictions are the free fixed point."""

    name = "ep"

    def __init__(self, cfg, model, device=None, generator=None):
        super().__init__(cfg, model, device, generator)
        self.warm: list[torch.Tensor] | None = None
        self.warm_n = 0  # global batch size of the batch that left ``warm``


    def step(self, x, target, n_global):
        cfg = self.cfg
        warm = self.warm
        usable = (cfg.ep.warm_start and warm is not None and self.warm_n == n_global and warm[0].shape[0] == x.shape[0])
        init = warm if usable else self.model.zero_state(x.shape[0], x)
        res = ep_gradient(self.model, x, target, init, self.solver, beta=cfg.ep.beta, estimator=cfg.ep.estimator,
                          free_iters=cfg.solver.free_iters, nudge_iters=cfg.solver.nudge_iters, tol=cfg.solver.tol,
                          damping=cfg.solver.damping, generator=self.generator)
        if cfg.ep.warm_start:
            self.warm = [s.detach().clone() for s in res.free]
            self.warm_n = n_global
        return Step(res.grads, self.model.output(res.free), res.stats, res.terms)

    def predict(self, x):
        """The free fixed point relaxed from zeros (``solver.free_iters``, ``solver.tol``)."""
        sol = self.cfg.solver
        self.model.begin_phase("inference")
        s, st = self.solver(self.model, self.model.const_drive(x), self.model.zero_state(x.shape[0], x),
                            iters=sol.free_iters, tol=sol.tol, damping=sol.damping)
        return self.model.output(s), {"eval": st}

    def gradcheck(self, x, target, betas, iters, tol, generator=None, nudge_iters=None):
        return gradcheck(self.model, x, target, self.solver, betas, self.cfg.ep.estimator, iters=iters, tol=tol,
                         damping=self.cfg.solver.damping, generator=generator, require_converged=tol > 0,
                         nudge_iters=nudge_iters)

    def state_dict(self):
        return {"warm": self.warm}

    def sweep_timer(self, x, target):
        """Sweeps of the free phase (``beta = 0``, exactly one each: ``iters=1, tol=0`` and
        ``end_reads=1``, a sweep is one read of the crossbars: the phase end's extra reads of
        ``solver.end_reads`` are inside ``ep_step_s``), each continuing from the previous one's
        output, after a relaxed free phase (its end averaged as in training); the constant drive
        is computed once outside, as in training. A solver registered ``timed="phase"`` (the settle)
        runs a whole free phase per call instead (``solver.free_iters``, its full budget at
        ``tol=0``: its per-phase setup spread over the phase's steps, as in training)."""
        sol = self.cfg.solver
        with torch.no_grad():
            const = self.model.const_drive(x)
        states, _ = self.solver(self.model, const, self.model.zero_state(x.shape[0], x), iters=sol.free_iters,
                                tol=sol.tol, damping=sol.damping)
        free = [s.detach().clone() for s in states]

        iters, full = self.timed_budget(sol.free_iters)
        if "end_reads" in self.solver.keywords:  # bound above 1 only (build_solver): one read per timed sweep
            full = dict(full, end_reads=1)

        def sweep():
            nonlocal states
            states, st = self.solver(self.model, const, states, iters=iters, tol=0.0, damping=sol.damping, **full)
            return st
        return sweep, free

    def load_state_dict(self, state, shard=None):
        """``state["warm"]`` holds the global batch's free state; ``shard(n)`` gives this rank's
        rows of it (data parallel; None: all)."""
        warm = state.get("warm")
        dev = next(self.model.parameters()).device
        self.warm_n = 0 if warm is None else int(warm[0].shape[0])
        rows = None if warm is None or shard is None else shard(self.warm_n)
        self.warm = None if warm is None else [(w if rows is None else w[rows]).to(dev) for w in warm]

    def reset(self):
        self.warm, self.warm_n = None, 0

    def sweeps_budget(self) -> int:
        """The phases' budgets plus each phase's ``solver.end_reads - 1`` extra sweeps (where the
        model's reads are noisy: :func:`~analog_ep.solvers.base.end_reads_of`)."""
        sol, n = self.cfg.solver, _nudged_phases(self.cfg)
        return sol.free_iters + n * sol.nudge_iters + (1 + n) * (end_reads_of(self.model, sol.end_reads) - 1)


class RBP(EnergyEP):
    """Recurrent backpropagation (:func:`.rbp.rbp_gradient`): the free phase exactly as EP's
    (same solver, stopping and warm start), then the exact gradient of the loss at its fixed point
    from the adjoint iteration (up to ``rbp.iters`` passes, relative stop ``rbp.rtol``, a host
    check every ``solver.check_every``), handed to the optimizer where EP's estimate goes.
    Predictions are the free fixed point, as EP's."""

    name = "rbp"

    def step(self, x, target, n_global):
        cfg = self.cfg
        warm = self.warm
        usable = (cfg.ep.warm_start and warm is not None and self.warm_n == n_global and warm[0].shape[0] == x.shape[0])
        init = warm if usable else self.model.zero_state(x.shape[0], x)
        res = rbp_gradient(self.model, x, target, init, self.solver, free_iters=cfg.solver.free_iters,
                           tol=cfg.solver.tol, damping=cfg.solver.damping, iters=cfg.rbp.iters, rtol=cfg.rbp.rtol,
                           check_every=self.check_every)
        if cfg.ep.warm_start:
            self.warm = [s.detach().clone() for s in res.free]
            self.warm_n = n_global
        return Step(res.grads, self.model.output(res.free), res.stats, None)

    def gradcheck(self, x, target, betas, iters, tol, generator=None, nudge_iters=None):
        """This rule's gradient (the adjoint iteration at ``rbp.rtol``, up to ``iters`` passes) at
        the free fixed point (relaxed from zeros for up to ``iters`` sweeps at ``tol``) against
        the GMRES solution of the same adjoint system (:func:`.implicit.implicit_gradient`): one
        row per layer with ``beta`` None; ``betas`` are not used (no nudge, so no ``nudge_iters``)."""
        _no_nudge_budget(nudge_iters)
        model, sol = self.model, self.cfg.solver
        with torch.no_grad(), exact_reads(model):
            model.tag_phase("free")
            free, st = self.solver(model, model.const_drive(x), model.zero_state(x.shape[0], x), iters=iters,
                                   tol=tol, damping=sol.damping)
        fraction = float(st.converged.double().mean())
        report = {"estimator": "rbp", "free_converged_fraction": fraction, "free_sweeps": st.sweeps,
                  "adjoint_residual": None, "layers": []}
        if tol > 0 and fraction < 1:
            return report
        with exact_reads(model):
            exact, info = implicit_gradient(model, x, target, free)
            grads, _, _ = adjoint_gradient(model, x, target, free, iters=iters, rtol=self.cfg.rbp.rtol,
                                           check_every=self.check_every)
        names = [f"layer{i}:{type(e.synapse).__name__.lower()}:{e.pre}->{e.post}" for i, e in enumerate(model.edges)]
        names += [f"aux{i}:{k}" for i, k in enumerate(model.aux_nodes)]
        report.update(adjoint_residual=info["adjoint_residual"], layers=_layer_rows(model, names, grads, exact, None, 0))
        return report

    def sweeps_budget(self) -> int:
        return self.cfg.solver.free_iters + end_reads_of(self.model, self.cfg.solver.end_reads) - 1 + self.cfg.rbp.iters


class PCNEP(_Relaxing):
    """Equilibrium Propagation on a predictive coding network (:func:`.pcn_ep.pcn_ep_gradient`): the
    free phase is the forward pass (the energy's exact minimum, no sweep), the nudged phases run
    the ``pcn`` solver; predictions are the forward pass."""

    name = "pcn_ep"

    def _gradient(self, x, target, beta, iters, generator, update_bn):
        c = self.cfg
        return pcn_ep_gradient(self.model, x, target, beta=beta, estimator=c.ep.estimator, nudge_iters=iters,
                               rule=c.pc.nudged_update, tol=c.solver.tol, generator=generator, update_bn=update_bn,
                               solver=self.solver)

    def step(self, x, target, n_global):
        res = self._gradient(x, target, self.cfg.ep.beta, self.cfg.solver.nudge_iters, self.generator, True)
        traces = {f"{phase}_energy": st.energy for phase, st in res.stats.items() if st.energy is not None}
        return Step(res.grads, self.model.output(res.free), res.stats, res.terms, traces)

    def sweep_timer(self, x, target):
        """One traversal of a nudged phase (``ep.beta``) from the forward pass, every node
        recomputed (``skip_clean=False``: the cost of a traversal once the nudge has reached
        every layer); a solver registered ``timed="phase"`` (the settle): the whole nudged phase
        (``solver.nudge_iters``, full budget)."""
        with torch.no_grad():
            free, _ = self.model.forward_pass(x)

        iters, full = self.timed_budget(self.cfg.solver.nudge_iters)

        def sweep():
            return self.solver(self.model, x, free, beta=self.cfg.ep.beta, target=target, iters=iters, tol=0.0,
                               rule=self.cfg.pc.nudged_update, skip_clean=False, **full)[1]
        return sweep, free

    def gradcheck(self, x, target, betas, iters, tol, generator=None, nudge_iters=None):
        _no_nudge_budget(nudge_iters)
        return pcn_gradcheck(self.model, x, target, betas, self.cfg.ep.estimator,
                             iters=min(iters, self.cfg.solver.nudge_iters * 20), rule=self.cfg.pc.nudged_update,
                             generator=generator, solver=self.solver)

    def sweeps_budget(self) -> int:
        return _nudged_phases(self.cfg) * self.cfg.solver.nudge_iters  # the free phase runs no sweep


class PC(LearningRule):
    """Predictive coding inference learning (:func:`.pc.pc_gradient`), optionally compiled
    (``compute.compile``); predictions are the forward pass. Under ``analog.relaxation: settle``
    the inference is the circuit's (the registered settle of ``pcn`` energies, which counts its
    own events; not compiled: it reads its step bound on the host once per phase)."""

    name = "pc"

    def __init__(self, cfg, model, device=None, generator=None):
        super().__init__(cfg, model, device, generator)
        flow = not relaxation_for(cfg).discrete_reads  # the inference is the relaxation's continuous flow
        self.solver = build_solver(cfg, model.energy_kind, check_every(cfg.solver, self.device),
                                   model.periphery) if flow else None
        self._fn = compiled(pc_gradient) if cfg.compute.compile and not flow else pc_gradient

    def _kwargs(self) -> dict:
        p = self.cfg.pc
        return dict(steps=p.steps, lr=p.activity_lr, momentum=p.activity_momentum, nesterov=p.activity_nesterov,
                    precision=p.precision, alpha=p.precision_alpha, k_decay=p.precision_k,
                    forward_update=p.forward_update, solver=self.solver, tol=self.cfg.solver.tol)

    def step(self, x, target, n_global):
        res = self._fn(self.model, x, target, bn_freeze=self.cfg.pc.bn_freeze, **self._kwargs())
        # the relaxation's counts (outside the compiled step: host ints): the forward pass updates
        # every node once, each activity step every free node (a settle counted its own)
        b, steps = x.shape[0], self.cfg.pc.steps
        if self.solver is None:
            self.model.count_phase(b, steps, b * self.model.neurons_per_sweep() * (1 + steps))
        else:  # the forward pass (the settle counted its own phase)
            self.model.count_phase(b, 0, b * self.model.neurons_per_sweep())
        return Step(res.grads, res.output, res.stats, res.terms, {"pc_energy": res.energy})

    def gradcheck(self, x, target, betas, iters, tol, generator=None, nudge_iters=None):
        _no_nudge_budget(nudge_iters)
        return pcn_gradcheck(self.model, x, target, betas, self.cfg.ep.estimator, generator=generator,
                             pc=self._kwargs())


class BP(LearningRule):
    """Backprop on the feed-forward twin (:func:`.bp.bp_gradient`); its forward pass moves
    BatchNorm's running statistics. Its gradient is exact: its gradcheck checks the model's EP
    estimate against the exact gradient (the rule ``algorithm: ep`` names for the model)."""

    name = "bp"

    def step(self, x, target, n_global):
        want = any(s.wants_vectors for s in self.model.ep_storages())
        with self.model.moving_bn_stats():
            grads, out, terms = bp_gradient(self.model, x, target, want_terms=want)
        return Step(grads, out, {}, terms)

    def gradcheck(self, x, target, betas, iters, tol, generator=None, nudge_iters=None):
        ep = build_rule(self.cfg, self.model, self.device, algorithm="ep")
        return ep.gradcheck(x, target, betas, iters, tol, generator, nudge_iters=nudge_iters)


def _no_nudge_budget(nudge_iters) -> None:
    """A PCN's gradcheck has no nudged-phase budget to set (its phases run their own rule)."""
    if nudge_iters is not None:
        raise ConfigError("--nudge-iters: applies to EP's gradcheck on a Hopfield-type model only (no nudged "
                          "phase here); drop it")


def _nudged_phases(cfg) -> int:
    """Nudged phases per step of the configured estimator."""
    return len(nudge_betas(cfg.ep.estimator, cfg.ep.beta, torch.Generator().manual_seed(0)))


_RULES: dict[str, type[LearningRule]] = {}


def register_learning_rule(name: str, cls: type[LearningRule]) -> None:
    """Register a learning rule class under ``name`` (models map ``algorithm`` values to names
    through ``learning_rules``)."""
    _RULES[name] = cls


def get_learning_rule(name: str) -> type[LearningRule]:
    if name not in _RULES:
        raise ConfigError(f"algorithm: unknown learning rule {name!r}; valid: {', '.join(sorted(_RULES))}")
    return _RULES[name]


for _cls in (EnergyEP, RBP, PCNEP, PC, BP):
    register_learning_rule(_cls.name, _cls)


def build_rule(cfg, model, device: torch.device | None = None, generator: torch.Generator | None = None,
               algorithm: str | None = None) -> LearningRule:
    """The rule ``algorithm`` (default ``cfg.algorithm``) means for ``model``, built for ``device``."""
    algorithm = cfg.algorithm if algorithm is None else algorithm
    name = model.learning_rules.get(algorithm)
    if name is None:
        raise ConfigError(f"algorithm: {algorithm!r} does not train a {type(model).__name__}; valid: "
                          f"{', '.join(sorted(model.learning_rules))}")
    return get_learning_rule(name)(cfg, model, device, generator)


__all__ = ["BP", "EnergyEP", "LearningRule", "PC", "PCNEP", "RBP", "Step", "build_rule", "get_learning_rule",
           "register_learning_rule"]
