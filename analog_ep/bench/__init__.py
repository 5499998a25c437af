"""Speed benchmark: one relaxation sweep, one EP training step and one backprop-twin step,
measured in the same process on one mini-batch (``analog-ep bench``).

Cost model (design handbook, section 6): a sweep touches every synapse about twice (forward read
and transposed read), about 2/3 of a backprop step's matrix work (forward, input gradient, weight
gradient), so ``sweep_over_bp_step`` should be at most about 1; an EP step costs
``T_free + n_nudge * T_nudge`` sweeps plus two correlates, so ``ep_step_over_bp_step`` is about
``ep_sweeps_per_step * sweep_over_bp_step``.

What is timed (``time.perf_counter``, median over ``repeats`` after ``warmup`` untimed rounds;
each round times the three in turn, so a change of machine load affects all three alike):

``sweep_s``
    One sweep of the configured solver (``iters=1, tol=0``: exactly one sweep, including the
    solver's per-sweep residual bookkeeping) with ``beta = 0``, starting from a relaxed free
    state: the free phase is first relaxed for ``solver.free_iters`` sweeps and each timed sweep
    continues from the previous sweep's output, as inside a relaxation (so synapse caches, e.g.
    the max-pool indices of :class:`~analog_ep.synapses.ConvPool`, are in their steady state).
    The constant input drive ``model.const_drive(x)`` is computed once outside the timed region,
    as in training, where it is computed once per EP step: it is part of ``ep_step_s``, not of
    ``sweep_s``. Runs on its own copy of the model, whose weights never change. On a predictive
    coding network (whose free phase is its forward pass, no sweep) a sweep is one traversal of a
    nudged phase at ``ep.beta`` from the forward pass with every node recomputed
    (:meth:`analog_ep.algorithms.rules.LearningRule.sweep_timer` says what each rule times).
    Under ``analog.relaxation: settle`` the unit is one **integration step** (``dt``): the timed
    call settles a whole phase (the free phase, ``solver.free_iters`` time constants, or
    ``analog.settle_t_max_s`` when set; a PCN: a nudged phase of ``solver.nudge_iters``) at
    ``tol=0`` (its full budget) and its time is divided by the integration steps it ran, so the
    per-phase setup (start charge, read-out, the step bound's power iteration; a PCN's stiffness
    estimate) is spread over the phase's steps as in training (until session 10 one time
    constant, which overstated a step's cost). Every call's time is divided by the sweeps it ran
    (1 for the iterative solvers), so ``sweep_s`` is always per unit of ``ep_sweeps_budget``.
``bp_step_s``
    One backprop-twin training step, :meth:`analog_ep.train.loop.Trainer.train_step` of a trainer
    with ``algorithm: bp`` on a separate copy of the model (identical initial weights, own
    optimizer): forward, cost, backward, gradient clipping, ``optimizer.step()``.
``ep_step_s``
    One EP training step, :meth:`analog_ep.train.loop.Trainer.train_step` itself: const drive, free
    phase (``solver.free_iters``), nudged phase(s) (``solver.nudge_iters``) with the configured
    estimator, ``solver.tol`` and damping, the correlates, gradient clipping
    (``train.clip_grad_norm``), gradient assignment and ``optimizer.step()``; the free phase
    starts from the previous round's free state when ``ep.warm_start`` (the first warm-up round
    from the relaxed free state above; from zeros when warm start is off), including the loss and
    divergence bookkeeping (for the backprop step too). Data augmentation and the per-epoch lr
    schedule happen outside ``train_step`` and are not timed.

``ep_uncounted_step_s`` / ``counting_overhead``
    The same EP step on a third copy of the model built with ``compute.count_events: false`` (no
    hardware-event counting, issue 19; identical numerics), timed in the same rounds;
    ``counting_overhead`` is the median over the rounds of ``counted / uncounted - 1`` (paired
    rounds, so a change of machine load cancels; the two take turns going first): what counting
    the events costs an EP step.

``ep_step_energy_per_sample_j`` / ``ep_step_latency_per_sample_s`` (and the ``bp_step_`` and GPU keys)
    What the timed steps cost (issue 19, DESIGN section 7b): the event counts of the last timed
    EP step (``model.event_counts()`` before and after it, outside the timed region; the record
    is ``ep_step_counts``) priced by :func:`analog_ep.train.costs.cost_summary` on the config's
    chip with the card's write physics, per training sample of the batch: energy (J) and latency
    (s) on the chip for an analog config (null for a digital one, and null where the card lacks
    the write physics), and ``ep_step_gpu_energy_per_sample_j`` /
    ``ep_step_gpu_latency_per_sample_s``, the GPU estimate of the same step's matrix products
    (every config; the figure to read for a digital one). The backprop twin's step (digital) is
    priced the same way from ``bp_step_counts``: ``bp_step_gpu_energy_per_sample_j`` /
    ``bp_step_gpu_latency_per_sample_s``.

Caveat: the benchmark repeats one batch, so a warm start comes from the same batch's previous
free state and early stopping (``solver.tol``) may cut the free phase shorter than in training,
where it starts from the previous, different batch. ``ep_sweeps_per_step`` reports the sweeps the
timed EP steps actually ran (free + nudged) and ``ep_sweeps_budget`` the maximum
(``free_iters + n_nudge * nudge_iters``, ``+ (1 + n_nudge) (end_reads - 1)`` where the reads are
noisy: ``solver.end_reads``' extra sweeps at each phase end; the timed sweep itself runs at
``end_reads`` 1, one read); ``sweep_s * ep_sweeps_budget`` estimates a step at full
budget. Use ``--set solver.tol=0 --set solver.stop=tol`` to time full-budget steps (under the
default ``solver.stop: auto`` a noisy analog phase also stops on its read-noise floor). Under ``analog.relaxation:
settle`` both count integration steps (``ep_budget_unit``: ``integration_steps``; ``sweeps``
otherwise): the budget is each phase's ``ceil(t_max / dt)`` summed over the phases the EP step
ran (the settle reports it per phase, :class:`analog_ep.solvers.settle.SettleStats`; a nudged
Hopfield phase's default ``t_max`` counts its own slowest time constant, measured per phase, so
the figure is the mean over the timed steps).

With an analog device (``analog.device``), the sweep and the EP step run through the tiles and
the EP step ends with the update by device pulses (the trainer comes from the same builder as
``train``); the backprop twin stays digital, and a digital EP step of the same network on the
same batch is timed too: ``analog_over_digital_ep_step = ep_step_s / digital_ep_step_s``, with
``digital_ep_sweeps_per_step`` the sweeps its timed steps ran (free + nudged, as ``ep_sweeps_per_step``).
``pulses_per_step`` is the mean number of pulses a timed EP step sent; ``model_bytes`` /
``digital_model_bytes`` / ``analog_over_digital_memory`` compare the memory of the parameters
and buffers (device state per weight included).

Trained weights (``analog-ep bench --from RUN``, :func:`load_run`): the timed trainers hold a
finished run's state exactly as ``train --resume`` restores it (:func:`~analog_ep.train.loop.restore_trainer`:
the card stored in its checkpoint, the weights and every tile's device state, the optimizer's
momentum, the random streams), with the run's stored config; ``--set`` may change solver and
bench-side keys (``solver.*``, ``ep.*``, ``train.*`` but ``train.optimizer``, ``data.batch_size``,
``compute.*``, the periphery shortcuts ``analog.*`` a resume may change), not what
:func:`~analog_ep.train.loop.check_kept` keeps for a resume (the model, the data, the card and its
``device.*`` overrides, the weight mapping, the update mode, the algorithm, the seed, the optimizer). So default stopping is timed where training
ran, not at the initial weights, where a noisy analog phase stops after a few sweeps. Without
``--from`` the trainers are built from the config's seed, as ``train`` builds a new run.

The digital twins (the backprop-twin step and, beside an analog config, the digital EP step) start
from the weights the timed EP model holds (:func:`analog_ep.study.deploy.digital_state`: every synapse's weight as its
storage holds it, the tiles' effective weights for an analog model): the seed's initial weights
for a new config, the trained ones with ``--from``; their optimizers start empty.

Devices: everything runs on ``compute.accelerator`` (the trainers come from ``make_trainer``;
the batch is moved there). On CUDA every timed call is bracketed by ``torch.cuda.synchronize``,
so a time covers the kernels it queued, and ``peak_memory_bytes`` gives, per timed step, the
peak of ``torch.cuda.max_memory_allocated`` over its rounds (the counter is reset before each
call); on the CPU ``peak_rss_bytes`` is the process's peak resident memory. ``precision`` and
``check_every`` report ``compute.precision`` and the solvers' convergence-check interval.

Threading is left as torch configured it (``torch_threads`` is reported).

``kernels``: ``compute.kernels`` (``mode``) and the implementation each tile read kind ran
during the timed steps (``ran``: ``{"dense_forward": "numba", ...}``; empty for a digital run;
:mod:`analog_ep.analog.kernels`).
"""

from __future__ import annotations

import copy
import dataclasses
import statistics
import sys
import time
from pathlib import Path

import torch

from ..algorithms.rules import build_rule
from ..analog import kernels
from ..compute import run_dtype
from ..config import AnalogConfig, RunConfig
from ..config.relaxations import with_algorithm
from ..data import load_data
from ..errors import ConfigError
from ..rundir import device_name
from ..study.deploy import digital_state
from ..synapses.counters import diff_counts
from ..train.loop import Trainer, make_trainer, one_hot, restore_trainer
from ..train.build import analog_update

__all__ = ["bench", "BENCH_KEYS", "COST_KEYS", "BenchSource", "load_run", "step_costs"]

COST_KEYS = ("ep_step_energy_per_sample_j", "ep_step_latency_per_sample_s", "ep_step_gpu_energy_per_sample_j",
             "ep_step_gpu_latency_per_sample_s", "bp_step_gpu_energy_per_sample_j", "bp_step_gpu_latency_per_sample_s")
"""The cost of the timed steps, per training sample (J, s): :func:`step_costs`."""

BENCH_KEYS = ("sweep_s", "bp_step_s", "ep_step_s", "sweep_over_bp_step", "ep_step_over_bp_step",
              "images_per_s", "bp_images_per_s", "batch", "model", "dataset", "repeats", "warmup",
              "ep_sweeps_per_step", "ep_sweeps_budget", "estimator", "solver", "free_iters",
              "nudge_iters", "tol", "device", "torch_device", "torch_threads", "torch_version",
              "ep_uncounted_step_s", "counting_overhead", *COST_KEYS, "ep_step_counts", "bp_step_counts", "kernels",
              "ep_budget_unit", "from_run", "from_epochs")


@dataclasses.dataclass(frozen=True)
class BenchSource:
    """A finished run whose trained state ``bench`` times (:func:`load_run`)."""

    run_dir: str
    ckpt: dict
    """The run's checkpoint (:func:`~analog_ep.train.checkpoint.load_checkpoint`)."""

    @property
    def epochs(self) -> int:
        return int(self.ckpt["epoch"])


def load_run(run_dir, overrides: list[str] | None = None) -> tuple[RunConfig, BenchSource]:
    """The config and trained state that ``bench --from RUN`` times: the run's stored config with
    ``overrides`` on top, and its checkpoint. Refused (:class:`ConfigError`, one line): a folder
    without a checkpoint, a run that has not finished its epochs (or stopped inside one), and an
    override of a key a resume keeps (:func:`~analog_ep.train.loop.check_kept`: the model, the
    data, the card, the weight mapping, the update mode, the algorithm, the seed, ``train.optimizer``).
    The other ``train.*`` keys pass (``train.lr``, ``momentum``, ``weight_decay``, ``layer_lrs``,
    ``epochs``, ...): the timed step uses them."""
    from ..train.checkpoint import load_checkpoint, stored_config
    from ..train.loop import check_kept

    path = Path(run_dir)
    if not (path / "checkpoint.pt").is_file():
        raise ConfigError(f"--from {path}: no run here (no checkpoint.pt); pass the folder of a run that "
                          "`analog-ep train` finished")
    ckpt = load_checkpoint(path / "checkpoint.pt")
    old = stored_config(ckpt, path=path / "checkpoint.pt")
    done = int(ckpt["epoch"])
    if done < old.train.epochs or ckpt.get("partial"):
        where = f"{done} of {old.train.epochs} epochs" + (" and part of the next" if ckpt.get("partial") else "")
        raise ConfigError(f"--from {path}: the run has not finished ({where} done); finish it with "
                          f"`analog-ep train --resume {path}` or pass a finished run")
    cfg = stored_config(ckpt, overrides, path / "checkpoint.pt")
    check_kept(old, cfg, ckpt, "bench --from times the run's trained state, which keeps",
               lambda key, b: f"drop --set {key}={b!r} (or bench a config without --from)")
    return cfg, BenchSource(str(path), ckpt)


def _peak_rss() -> int | None:
    """Peak resident memory of this process (bytes), where the platform reports it."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss if sys.platform == "darwin" else rss * 1024)


def _model_bytes(model) -> int:
    """Bytes of every parameter and buffer (weights, biases, device state, accumulators)."""
    return sum(t.numel() * t.element_size() for t in list(model.parameters()) + list(model.buffers()))


def step_costs(ep_counts: dict, bp_counts: dict, chip, card, batch: int) -> dict:
    """:data:`COST_KEYS` from the event counts of one EP step (``ep_counts``, priced on ``chip``
    with ``card``'s write physics; None: digital) and one backprop-twin step (``bp_counts``,
    digital: its GPU estimate), per training sample of a ``batch``."""
    from ..train.costs import cost_summary, row_fields

    ep = row_fields(cost_summary(ep_counts, chip, card, samples=batch))
    bp = row_fields(cost_summary(bp_counts, chip, None, samples=batch))
    return {"ep_step_energy_per_sample_j": ep.get("energy_per_sample_j"),
            "ep_step_latency_per_sample_s": ep.get("latency_per_sample_s"),
            "ep_step_gpu_energy_per_sample_j": ep["gpu_energy_per_sample_j"],
            "ep_step_gpu_latency_per_sample_s": ep["gpu_latency_per_sample_s"],
            "bp_step_gpu_energy_per_sample_j": bp["gpu_energy_per_sample_j"],
            "bp_step_gpu_latency_per_sample_s": bp["gpu_latency_per_sample_s"]}


def bench(cfg: RunConfig, repeats: int = 10, warmup: int = 2, source: BenchSource | None = None) -> dict:
    """Time a sweep, an EP step and a backprop step on the first ``cfg.data.batch_size``
    training examples; return the medians (seconds), their ratios and throughputs. ``source``
    (:func:`load_run`, with ``cfg`` from it): time the finished run's trained state.

    Keys: see :data:`BENCH_KEYS`; ``sweep_over_bp_step = sweep_s / bp_step_s``,
    ``ep_step_over_bp_step = ep_step_s / bp_step_s``, ``images_per_s = batch / ep_step_s`` (EP
    training images per second), ``bp_images_per_s = batch / bp_step_s``.
    """
    if isinstance(repeats, bool) or int(repeats) != repeats or repeats < 1:
        raise ConfigError(f"repeats: must be an integer >= 1, got {repeats!r}")
    if isinstance(warmup, bool) or int(warmup) != warmup or warmup < 0:
        raise ConfigError(f"warmup: must be an integer >= 0, got {warmup!r}")
    repeats, warmup = int(repeats), int(warmup)

    data = load_data(cfg.data, cfg.seed)
    train_set, _, info = data
    x, y = train_set.batch(slice(0, cfg.data.batch_size))
    x = x.contiguous()
    batch = int(x.shape[0])
    sol = cfg.solver
    analog = cfg.analog.device is not None

    # every trainer comes from the builder that `train` uses (make_trainer; with --from the resume's
    # restore_trainer), so what is timed is the training step itself: relaxation through the tiles
    # and the update by device pulses
    def trainer(c: RunConfig) -> Trainer:
        if source is not None:  # each trainer its own copy: no optimizer state or warm start shared
            return restore_trainer(copy.deepcopy(source.ckpt), c, None, data=(train_set, train_set, info),
                                   path=Path(source.run_dir) / "checkpoint.pt")
        return make_trainer(c, None, data=(train_set, train_set, info))

    def twin(c: RunConfig) -> Trainer:  # a digital twin: the timed EP model's weights as its storages hold them
        return make_trainer(c, None, data=(train_set, train_set, info), weights=digital_state(model))

    digital_cfg = dataclasses.replace(cfg, analog=AnalogConfig(), device={})
    ep_trainer = trainer(dataclasses.replace(cfg, algorithm="ep"))
    model = ep_trainer.model
    dev = ep_trainer.device
    x, y = x.to(dev, run_dtype(cfg.compute.precision)), y.to(dev)  # fp64: the batch too, as train casts it
    bp_trainer = twin(with_algorithm(digital_cfg, "bp"))
    digital_trainer = twin(dataclasses.replace(digital_cfg, algorithm="ep")) if analog else None
    uncounted_trainer = trainer(dataclasses.replace(cfg, algorithm="ep",
                                                    compute=dataclasses.replace(cfg.compute, count_events=False)))

    # the sweep runs on its own copy of the model (whose weights never change), with the rule's
    # own relaxation: a relaxed free phase first (untimed), then single sweeps as in training
    sweep_rule = build_rule(ep_trainer.cfg, copy.deepcopy(model), dev)
    sweep, free = sweep_rule.sweep_timer(x, one_hot(y, info.num_classes, x.dtype))
    if cfg.ep.warm_start:  # the EP steps start from the relaxed free state (rules that keep one)
        ep_trainer.rule.load_state_dict({"warm": [s.detach().clone() for s in free]})
        if digital_trainer is not None:
            digital_trainer.rule.load_state_dict({"warm": [s.detach().clone() for s in free]})
        uncounted_trainer.rule.load_state_dict({"warm": [s.detach().clone() for s in free]})

    def bp_step() -> None:
        bp_trainer.train_step(x, y)

    sweeps_run: list[int] = []
    budgets: list[int | None] = []  # per EP step, its phases' settle budgets in integration steps (None: iterative)

    def ep_step() -> None:
        _, _, stats = ep_trainer.train_step(x, y)
        sweeps_run.append(sum(int(st.sweeps) for st in stats.values()))
        settled = [st.budget for st in stats.values() if hasattr(st, "budget")]
        budgets.append(sum(settled) if settled else None)

    digital_sweeps: list[int] = []

    def digital_ep_step() -> None:
        _, _, stats = digital_trainer.train_step(x, y)
        digital_sweeps.append(sum(int(st.sweeps) for st in stats.values()))

    def uncounted_ep_step() -> None:
        uncounted_trainer.train_step(x, y)

    steps = [("sweep", sweep), ("bp", bp_step), ("ep", ep_step), ("ep_uncounted", uncounted_ep_step)]
    if "pc" in model.learning_rules:  # predictive coding on the same model (the card's tiles when analog)
        pc_trainer = trainer(dataclasses.replace(cfg, algorithm="pc"))

        def pc_step() -> None:
            pc_trainer.train_step(x, y)

        steps.append(("pc", pc_step))
    pulses_timed: list[int] = []  # pulses each EP step sent (counted outside the timed region)
    if analog:
        steps.append(("digital_ep", digital_ep_step))
    times: dict[str, list[float]] = {name: [] for name, _ in steps}
    cuda = dev.type == "cuda"
    peak: dict[str, int] = {name: 0 for name, _ in steps}

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize(dev)

    kernels.reset_ran()  # which implementation each read kind runs (compute.kernels), seen over the timed steps
    swapped = [("ep_uncounted", uncounted_ep_step) if n == "ep" else ("ep", ep_step) if n == "ep_uncounted"
               else (n, f) for n, f in steps]
    counted = {"ep": ep_trainer.model, "bp": bp_trainer.model}  # steps whose last timed round is priced
    step_counts: dict[str, dict] = {}
    last = warmup + repeats - 1
    for r in range(warmup + repeats):
        for name, fn in (steps if r % 2 == 0 else swapped):  # counted and uncounted take turns going first
            before = sum(ep_trainer.pulse_counts()) if name == "ep" else 0
            counts0 = counted[name].event_counts() if r == last and name in counted else None
            sync()
            if cuda:
                torch.cuda.reset_peak_memory_stats(dev)
            t0 = time.perf_counter()
            ret = fn()
            sync()
            dt = time.perf_counter() - t0
            if name == "sweep":  # per sweep, or per integration step of a settle
                dt /= max(1, int(ret.sweeps))
            if cuda:
                peak[name] = max(peak[name], int(torch.cuda.max_memory_allocated(dev)))
            if name == "ep":
                pulses_timed.append(sum(ep_trainer.pulse_counts()) - before)
            if counts0 is not None:
                step_counts[name] = diff_counts(counts0, counted[name].event_counts())
            if r >= warmup:
                times[name].append(dt)

    sweep_s = statistics.median(times["sweep"])
    bp_step_s = statistics.median(times["bp"])
    ep_step_s = statistics.median(times["ep"])
    timed_sweeps = sweeps_run[warmup:]
    timed_budgets = budgets[warmup:]
    settle = all(b is not None for b in timed_budgets)
    uncounted_s = statistics.median(times["ep_uncounted"])
    overhead = statistics.median(a / b - 1.0 for a, b in zip(times["ep"], times["ep_uncounted"]))
    extra = {**step_costs(step_counts["ep"], step_counts["bp"], ep_trainer.cfg.chip,
                          getattr(model, "device_card", None), batch),
             "ep_step_counts": step_counts["ep"], "bp_step_counts": step_counts["bp"]}
    if "pc" in times:
        pc_s = statistics.median(times["pc"])
        extra.update({"pc_step_s": pc_s, "pc_step_over_bp_step": pc_s / bp_step_s, "pc_steps": cfg.pc.steps})
    if cuda:
        extra["peak_memory_bytes"] = {k: v for k, v in peak.items()}
    else:
        extra["peak_rss_bytes"] = _peak_rss()
    if analog:
        digital_s = statistics.median(times["digital_ep"])
        digital_bytes = _model_bytes(digital_trainer.model)
        extra = {**extra, "analog_device": cfg.analog.device, "analog_update": cfg.analog.update,
                 "pulse_scheme": (analog_update(cfg, getattr(model, "device_card", None)).pulse_scheme
                                  if cfg.analog.update == "pulsed" else None),
                 "digital_ep_step_s": digital_s, "analog_over_digital_ep_step": ep_step_s / digital_s,
                 "digital_ep_sweeps_per_step": statistics.mean(digital_sweeps[warmup:]),
                 "pulses_per_step": statistics.mean(pulses_timed[warmup:]),
                 "model_bytes": _model_bytes(model), "digital_model_bytes": digital_bytes,
                 "analog_over_digital_memory": _model_bytes(model) / digital_bytes}
    return {
        "sweep_s": sweep_s,
        "bp_step_s": bp_step_s,
        "ep_step_s": ep_step_s,
        "sweep_over_bp_step": sweep_s / bp_step_s,
        "ep_step_over_bp_step": ep_step_s / bp_step_s,
        "images_per_s": batch / ep_step_s,
        "bp_images_per_s": batch / bp_step_s,
        "batch": batch,
        "model": cfg.model.name,
        "dataset": cfg.data.name,
        "repeats": repeats,
        "warmup": warmup,
        "ep_sweeps_per_step": sum(timed_sweeps) / len(timed_sweeps),
        "ep_sweeps_budget": (sum(timed_budgets) / len(timed_budgets) if settle
                             else ep_trainer.rule.sweeps_budget()),
        "ep_budget_unit": "integration_steps" if settle else "sweeps",
        "estimator": cfg.ep.estimator,
        "solver": sol.name,
        "free_iters": sol.free_iters,
        "nudge_iters": sol.nudge_iters,
        "tol": sol.tol,
        "device": device_name(cfg),  # the device card, as in train's JSON (null: digital)
        "torch_device": str(x.device),
        "precision": cfg.compute.precision,
        "check_every": ep_trainer.rule.check_every,
        "torch_threads": torch.get_num_threads(),
        "torch_version": str(torch.__version__),
        "ep_uncounted_step_s": uncounted_s,
        "counting_overhead": overhead,
        "kernels": {"mode": kernels.mode(), "ran": kernels.ran()},
        "from_run": None if source is None else source.run_dir,  # bench --from: the run whose trained state ran
        "from_epochs": 0 if source is None else source.epochs,
        **extra,
    }
