"""Training loop: EP or the backprop twin, per-epoch evaluation, results and checkpoints.

Every epoch ends with an atomic write of ``checkpoint.pt`` and ``results.h5``; a checkpoint of
the initial state is written before the first batch, so a run interrupted at any point leaves a
loadable checkpoint and a readable results file. ``train.checkpoint_every`` adds checkpoints
inside an epoch, and SIGTERM (a cluster's preemption) writes one after the current step and ends
the run with status ``preempted`` (the first step of a process, which compiles numba's kernels
when their cache is cold, stops at once instead: nothing was trained since the checkpoint on
disk; one process only); an epoch's test pass, which can take minutes, checks the
signal between its batches: a checkpoint of the trained epoch is written before the pass, a
stopped pass records nothing, and the resumed run repeats it. Resuming restores weights,
optimizer, RNG states, the warm-start state and, mid-epoch, the step, the epoch's running sums
and the augmentation stream: on the digital path the resumed run is bit-for-bit the
uninterrupted one.

Devices and data parallelism (DESIGN section 9): the model, batches, states and the loop's
bookkeeping live on ``compute.accelerator``; losses, accuracies and relaxation statistics
accumulate there and reach the host every ``train.log_every`` steps. Under ``torchrun`` each rank
takes a contiguous shard of every global mini-batch (``data.batch_size`` is the global size), the
gradient estimates are all-reduced (weighted by shard size) before the update, so every rank
applies the same update (analog tiles: the same pulses, from the same counter-based streams) and
the model stays identical; rank 0 writes results and checkpoints.
"""

from __future__ import annotations

import datetime
import math
import platform
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import yaml

from .. import __version__
from ..algorithms.rules import LearningRule, build_rule
from ..analog.kernels import warm as warm_kernels
from ..analog.streams import stream_key
from ..compute import Dist, configure, init_distributed, resolve_accelerator, run_dtype
from ..config import RunConfig, dump_yaml
from ..data import Split, load_data
from ..data.augment import augment
from ..errors import CheckpointError, ConfigError, DivergenceError, Preempted
from ..results import write_results
from ..solvers.settle import clamped_since_epoch, restored, take_step_notes
from .build import aux_kappa, build_model, build_optimizer, device_record, lr_factor
from .checkpoint import load_checkpoint, save_checkpoint, stored_config
from .costs import cost_summary, diff_counts, row_fields
from .health import check_health
from .teacher import Teacher
from .spectral_cap import SpectralCap
from .update import apply_updates

def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
                             capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def provenance(cfg: RunConfig) -> dict:
    return {
        "package": "analog-ep",
        "version": __version__,
        "git_commit": git_commit(),
        "torch_version": str(torch.__version__),
        "python_version": platform.python_version(),
        "host": platform.node(),
        "seed": cfg.seed,
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def one_hot(y: torch.Tensor, n: int, dtype: torch.dtype) -> torch.Tensor:
    return torch.nn.functional.one_hot(y, n).to(dtype)


_GLOBAL_RNG = 0x6C0BA1  # purpose tag of the global generator's seed (unrelated to the storages' stream tags)


def global_seed(seed: int) -> int:
    """The seed :func:`make_trainer` gives torch's global generator for run seed ``seed``.

    torch seeds its global CPU generator from the operating system's entropy in every process,
    and a checkpoint saves that generator's state (restored on resume): seeded from the run's seed,
    two runs of one config save the same state, and a draw from it (none in training today; a
    library's dropout, a future code path) is the same in every run and continues on resume."""
    return stream_key(seed, _GLOBAL_RNG)


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """Data order of an epoch: a permutation drawn from (seed, epoch) alone, so a resumed run
    sees the same batches as an uninterrupted one."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100003 + epoch))


@dataclass
class Trainer:
    cfg: RunConfig
    out_dir: Path
    train_set: Split
    test_set: Split
    num_classes: int
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    rule: LearningRule                 # the learning rule (algorithms.rules), built once for this model
    history: list[dict] = field(default_factory=list)
    epoch: int = 0
    est_gen: torch.Generator = field(default_factory=torch.Generator)
    prov: dict = field(default_factory=dict)
    on_batch: Callable | None = None  # called as on_batch(epoch, batch_index) after each update
    teacher: Teacher | None = None     # distillation targets for the auxiliary readouts
    traces: dict = field(default_factory=dict)  # per epoch: name -> [sum of curves (device), count]
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    dist: Dist = field(default_factory=Dist)
    partial: dict | None = None   # the epoch in progress: step, running sums, augmentation stream
    sigterm_seen: bool = False    # set by the SIGTERM handler, never cleared
    stepped: bool = False         # a training step of this process has finished (SIGTERM waits for a step from then on)
    stop_at_once: bool = False    # the first step runs: nothing to save, SIGTERM stops it at once (:meth:`_step`)
    stop_agreed: bool = False     # every rank knows of a SIGTERM (agreed after a step): stop there
    counts0: dict | None = None   # event counts at the start of the epoch in progress (its cost: the difference)
    last_cost: dict | None = None  # the last epoch's cost breakdown (:func:`.costs.cost_summary`)
    cap: SpectralCap | None = None  # train.spectral_cap (built in __post_init__)
    step_warning: str | None = None  # the last epoch's one-time line about a clamped settle step (fit warns it)

    def __post_init__(self) -> None:
        tc = self.cfg.train
        if tc.spectral_cap is not None and self.cap is None:
            self.cap = SpectralCap(self.model, tc.spectral_cap, tc.spectral_cap_iters, self.cfg.seed)

    def _trace(self, name: str, curve: torch.Tensor) -> None:
        """Accumulate a per-step curve (energy per relaxation step) on the device; averaged over
        the epoch's batches into the history row (one host transfer per epoch)."""
        acc = self.traces.get(name)
        if acc is None:
            self.traces[name] = [curve.detach().clone(), 1]
        else:
            acc[0] += curve.detach()
            acc[1] += 1

    @property
    def results_path(self) -> Path:
        return self.out_dir / "results.h5"

    @property
    def checkpoint_path(self) -> Path:
        return self.out_dir / "checkpoint.pt"

    # ---------------------------------------------------------------- persistence
    def state_dict(self) -> dict:
        """What a checkpoint holds (tensors moved to the CPU, so it loads on any device)."""
        return _to_cpu({
            "config_yaml": dump_yaml(self.cfg),
            "epoch": self.epoch,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "est_rng": self.est_gen.get_state(),
            "warm": self._global_warm(),
            "history": self.history,
            "provenance": self.prov,
            "device": device_record(self.model),
            "partial": self.partial,
            "spectral_cap_vectors": None if self.cap is None else self.cap.vectors,
        })

    def _global_warm(self) -> list[torch.Tensor] | None:
        """The rule's warm-start state of the whole global batch (the ranks' shards concatenated
        in rank order; a collective under torchrun), so a checkpoint resumes on any number of
        ranks."""
        warm = self.rule.state_dict().get("warm")
        if not self.dist.active:
            return warm
        import torch.distributed as tdist

        shards: list = [None] * self.dist.world
        mine = None if warm is None else [w.detach().cpu() for w in warm]
        tdist.all_gather_object(shards, mine)
        if any(sh is None for sh in shards):
            return None
        return [torch.cat([sh[i] for sh in shards]) for i in range(len(shards[0]))]

    def save(self, status: str = "running") -> None:
        state = self.state_dict()  # every rank takes part (the warm state is gathered)
        if not self.dist.is_main:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        save_checkpoint(self.checkpoint_path, state)
        self.write_results(status)

    def health(self) -> tuple[int, str] | None:
        """The first health problem of this run's history (:func:`check_health`), or None."""
        return check_health(self.history, check_convergence=self.cfg.solver.tol > 0, num_classes=self.num_classes,
                            test_size=len(self.test_set))

    def write_results(self, status: str) -> None:
        """Write ``results.h5`` with ``status``; ``finished`` becomes ``unhealthy`` (with
        ``extra/unhealthy_reason``) when :meth:`health` finds a problem."""
        extra = None
        card = getattr(self.model, "device_card", None)
        if card is not None:
            import dataclasses

            # the card in effect (file values plus device.* overrides), the effective periphery and mapping
            extra = {"device_name": card.name, "device_path": card.path, "device_source": card.source,
                     "device_card_yaml": yaml.safe_dump(card.to_dict(), sort_keys=False),
                     "periphery_yaml": yaml.safe_dump(dataclasses.asdict(self.model.periphery), sort_keys=False)}
            mapping = getattr(self.model, "weight_mapping", None)
            if mapping is not None:  # the weight mapping in effect, with where it came from
                omega = list(mapping.omega) if isinstance(mapping.omega, tuple) else mapping.omega
                extra["mapping_yaml"] = yaml.safe_dump({"kind": mapping.kind, "omega": omega,
                                                        "source": mapping.source}, sort_keys=False)
        problem = self.health()
        if problem is not None:
            extra = {**(extra or {}), "unhealthy_reason": problem[1]}
            if status == "finished":
                status = "unhealthy"
        if self.dist.is_main:
            write_results(self.results_path, dump_yaml(self.cfg), self.prov, self.history, status, extra)

    def load(self, ckpt: dict, path: str | Path | None = None) -> None:
        """Restore the state of checkpoint ``ckpt``; ``path``: the file it was read from (named by an
        error; default: this run's own :attr:`checkpoint_path`)."""
        try:
            self.model.load_state_dict(ckpt["model"])
        except RuntimeError as e:
            raise CheckpointError(f"{path or self.checkpoint_path}: the checkpoint does not fit this model or this version "
                                  f"of analog-ep ({str(e).splitlines()[0]}); start a new run") from e
        # the optimizer's state (momentum buffers, Adam moments) carries over; its hyper-parameters
        # are the config's (train.lr, layer_lrs, lr_scaling, momentum, weight_decay, nesterov,
        # adam_betas may change on resume), so the stored config is what runs; ``lr`` itself is set
        # from ``base_lr`` and the schedule at the start of every epoch
        hyper = [{k: v for k, v in g.items() if k not in ("params", "lr")} for g in self.optimizer.param_groups]
        self.optimizer.load_state_dict(ckpt["optimizer"])  # state follows each parameter's device
        for group, h in zip(self.optimizer.param_groups, hyper):
            group.update(h)
        torch.set_rng_state(ckpt["torch_rng"])
        self.est_gen.set_state(ckpt["est_rng"])
        self.rule.load_state_dict({"warm": ckpt["warm"]}, self.dist.shard if self.dist.active else None)
        self.history = list(ckpt["history"])
        self.epoch = int(ckpt["epoch"])
        self.prov = dict(ckpt.get("provenance") or self.prov)
        self.partial = ckpt.get("partial")
        restored(self.model, self.cfg, self.partial)  # a given settle step: clamped from here on, as uninterrupted
        if self.cap is not None:
            self.cap.load(ckpt.get("spectral_cap_vectors"), self.model)

    # ---------------------------------------------------------------- steps
    def _global_batches(self, split: Split, order: torch.Tensor | None, start: int = 0,
                        aug_gen: torch.Generator | None = None, aug_seed: int = 0):
        """``(x, y, n)`` per mini-batch from batch ``start`` on: this rank's shard of the global
        batch (all of it outside torchrun) on the trainer's device, and the global batch size
        ``n``. Training (``order`` given): batches in ``order``, augmented as configured by
        ``aug_gen`` over the whole global batch before sharding (so one process and N ranks see
        the same images), or by a streamed split's own per-image streams (seeded by
        ``aug_seed``); evaluation: file order."""
        d = self.cfg.data
        n = len(split)
        starts = range(start * d.batch_size, n, d.batch_size)
        idxs = [order[i:i + d.batch_size] if order is not None else torch.arange(i, min(i + d.batch_size, n), device="cpu")
                for i in starts]
        non_blocking = self.device.type == "cuda"
        dtype = run_dtype(self.cfg.compute.precision)  # fp64: the batches too (None: as stored, float32)
        if hasattr(split, "loader"):  # streamed from files (imagenet): decoded in worker processes
            shards = [idx[self.dist.shard(len(idx))] for idx in idxs]
            it = iter(split.loader([sh for sh in shards if len(sh)], train=order is not None, seed=aug_seed,
                                   workers=d.workers, pin_memory=non_blocking))
            for idx, sh in zip(idxs, shards):
                if len(sh):
                    x, y = next(it)
                else:  # this rank's shard of a global batch smaller than the ranks
                    x, y = torch.zeros((0,) + tuple(split.shape)), torch.zeros(0, dtype=torch.int64)
                yield (x.to(self.device, dtype, non_blocking=non_blocking),
                       y.to(self.device, non_blocking=non_blocking), len(idx))
            return
        for idx in idxs:
            x, y = split.batch(idx)  # float32, normalized (uint8 pixel sets: per batch); cast on the device move
            if aug_gen is not None and d.augment:
                x = augment(x, d.augment, aug_gen, d.crop_padding)
            if self.dist.active:
                rows = self.dist.shard(len(idx))
                x, y = x[rows], y[rows]
            if non_blocking:
                x, y = x.pin_memory(), y.pin_memory()
            yield (x.to(self.device, dtype, non_blocking=non_blocking), y.to(self.device, non_blocking=non_blocking),
                   len(idx))

    def batches(self, split: Split, order: torch.Tensor | None):
        """Mini-batches ``(x, y)`` of ``split`` (training order and augmentation of epoch
        ``self.epoch`` when ``order`` is given), on the trainer's device."""
        gen = torch.Generator().manual_seed(self.cfg.seed * 7919 + self.epoch) if order is not None else None
        for x, y, _ in self._global_batches(split, order, 0, gen, self.cfg.seed * 7919 + self.epoch):
            yield x, y

    def train_step(self, x: torch.Tensor, y: torch.Tensor, n_global: int | None = None):
        """One training step on ``(x, y)`` (this rank's shard of a global batch of ``n_global``
        examples; None = ``len(x)``). Returns ``(loss_sum, correct, stats)``: the summed loss
        and the number of correct predictions of the shard as device tensors (no host sync),
        and the relaxation statistics per phase."""
        cfg = self.cfg
        n_global = x.shape[0] if n_global is None else n_global
        self._set_rows(n_global)
        self.model.begin_batch()
        target = one_hot(y, self.num_classes, x.dtype)
        if self.teacher is not None and self.model.aux_nodes:
            target = (target, self.teacher.soft_targets(x, target, cfg.ep.kd_alpha, cfg.ep.kd_temperature))
        res = self.rule.step(x, target, n_global)
        grads, out, stats, terms = res.grads, res.output, res.stats, res.terms
        for name, curve in res.traces.items():
            self._trace(name, curve)
        if self.dist.active:
            grads, terms = self._reduce(grads, terms, x.shape[0], n_global)
        factor = None
        clip = cfg.train.clip_grad_norm
        if clip is not None:  # global norm clipping without a host sync: scale by min(1, clip / norm)
            norm = torch.sqrt(sum((g.double() ** 2).sum() for g in grads))
            factor = (clip / norm).clamp(max=1.0)
            grads = [g * factor.to(g.dtype) for g in grads]
        self.apply_updates(grads, terms, factor)
        with torch.no_grad():
            loss = self.model.cost(out, target).sum().double()
            correct = (out.argmax(1) == y).sum()
        return loss, correct, stats

    def _set_rows(self, n_global: int) -> None:
        """Data parallel: tell the analog storages which rows of the global batch this rank holds
        (their output-noise draws are per sample of the global batch)."""
        if not self.dist.active:
            return
        rows = (self.dist.shard(n_global).start, n_global)
        for syn in self.model.all_synapses():
            syn.storage.set_rows(rows)

    def _reduce(self, grads: list[torch.Tensor], terms: list, n_local: int, n_global: int):
        """Data parallel: the global batch's gradient from the ranks' shard means, ``sum_r (n_r /
        n) g_r`` (one all-reduce, which also carries the ranks' SIGTERM flags, read on the host
        once per step, so every rank stops after the same step). Every rank then holds the same
        gradient and applies the same update.
        Per-example update vectors (bit-stream trains) cannot be combined this way: refused at
        start-up."""
        w = n_local / n_global
        flag = torch.tensor([1.0 if self.sigterm_seen else 0.0], device=self.device)
        scaled = [g * w for g in grads] + [flag]
        self.dist.all_reduce_(scaled)
        self.stop_agreed = bool(scaled[-1].item() > 0)  # the step's one host read
        return scaled[:-1], terms

    def apply_updates(self, grads: list[torch.Tensor], terms: list | None = None,
                      factor: torch.Tensor | None = None) -> None:
        """The optimizer proposes, the storages dispose (:func:`.update.apply_updates`)."""
        apply_updates(self.optimizer, self.model, grads, terms, factor, self.cap)
        self._after_update()

    def _after_update(self) -> None:
        if self.dist.active:
            self._average_buffers()

    def _average_buffers(self) -> None:
        """Data parallel: BatchNorm running statistics (the only state a rank moves from its own
        shard) averaged over the ranks after each step, so the model stays identical."""
        bufs = [b for name, b in self.model.named_buffers() if name.endswith(("running_mean", "running_var"))]
        if bufs:
            self.dist.all_reduce_(bufs)
            for b in bufs:
                b.div_(self.dist.world)

    def _sum_counters(self) -> None:
        """Data parallel: each rank reads its own shard, so the storages' read counters are summed
        over the ranks (the whole chip's counts on every replica); after training and after each
        evaluation, which every rank runs."""
        if self.dist.active:
            self.model.sum_event_counts(self.dist.all_reduce_, self.dist.rank, self.dist.world)

    def _check_replicas(self) -> None:
        """Data parallel: every rank must hold the same model (weights, device state, counters);
        checked once per epoch from per-tensor sums (one all-reduce of max and -min)."""
        if not self.dist.active:
            return
        import torch.distributed as tdist

        self._sum_counters()
        sums = torch.stack([t.detach().double().sum() for t in self.model.state_dict().values()
                            if isinstance(t, torch.Tensor)]
                           + [self.est_gen.get_state().double().sum().to(self.device)])
        both = torch.cat([sums, -sums])
        tdist.all_reduce(both, op=tdist.ReduceOp.MAX)
        hi, lo = both[:sums.numel()], -both[sums.numel():]
        if not bool(((hi - lo).abs() <= 1e-12 * hi.abs().clamp_min(1.0)).all()):
            raise RuntimeError(f"rank {self.dist.rank}: the model replicas differ after epoch {self.epoch + 1}; "
                               "data-parallel training lost its lockstep (please report this)")

    def pulse_counts(self) -> list[int]:
        """Pulses sent so far to each synapse's devices (0 for digital storage); one host read."""
        return [int(s.storage.pulses) for s in self.model.all_synapses()]

    @torch.no_grad()
    def evaluate(self, split: Split, stop: Callable[[], None] | None = None) -> tuple[float, float, dict]:
        """Loss and accuracy: EP on a Hopfield model predicts from the free fixed point relaxed
        from zeros; backprop, and every rule on a predictive coding network (whose free
        equilibrium is its forward pass), from the feed-forward twin. Sums accumulate on the
        device (all-reduced over the ranks) and reach the host once. ``stop``: called before
        each batch (host work only; under torchrun one all-reduce and host read per batch), it
        may raise to end the pass there (:meth:`run_epoch`'s SIGTERM check); the model is put
        back in its mode either way."""
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        correct = torch.zeros((), dtype=torch.int64, device=self.device)
        stats_acc: dict = {}
        was_training = self.model.training
        self.model.eval()  # BatchNorm (PCNs) reads its running statistics
        try:
            self._evaluate_batches(split, stop, loss_sum, correct, stats_acc)
        finally:
            self.model.train(was_training)
        self._sum_counters()
        loss, correct_n, stats_acc = self._totals(loss_sum, correct, stats_acc)
        n = len(split)
        return loss / n, correct_n / n, _summarize(stats_acc)

    def _evaluate_batches(self, split: Split, stop: Callable[[], None] | None, loss_sum: torch.Tensor,
                          correct: torch.Tensor, stats_acc: dict) -> None:
        """:meth:`evaluate`'s pass over ``split``: the running sums grow in place (on the device)."""
        for x, y, n_global in self._global_batches(split, None):
            if stop is not None:
                stop()
            self.dist.sync_convergence = self.dist.active and n_global >= self.dist.world
            if x.shape[0] == 0:
                continue
            self._set_rows(n_global)
            target = one_hot(y, self.num_classes, x.dtype)
            self.model.begin_batch()
            self.model.tag_phase("inference")
            out, st = self.rule.predict(x)
            _accumulate(stats_acc, st)
            loss_sum += self.model.cost(out, target).sum().double()
            correct += (out.argmax(1) == y).sum()

    def _totals(self, loss_sum: torch.Tensor, correct: torch.Tensor, stats_acc: dict) -> tuple[float, int, dict]:
        """Host values of the running sums (over every rank: one all-reduce of the phases every
        rank names), one transfer."""
        names = sorted(stats_acc)
        if self.dist.active:  # a rank that relaxed no phase (no samples) still takes part
            import torch.distributed as tdist

            every: list = [None] * self.dist.world
            tdist.all_gather_object(every, names)
            names = sorted(set().union(*every))
        zero = torch.zeros((), dtype=torch.float64, device=loss_sum.device)
        acc = {k: stats_acc.get(k, [zero, zero, 0]) for k in names}
        vals = ([loss_sum.double(), correct.double()] + [t.double() for k in names for t in acc[k][:2]]
                + [torch.tensor(float(acc[k][2]), dtype=torch.float64, device=loss_sum.device) for k in names])
        flat = torch.stack([v.reshape(()) for v in vals])
        self.dist.all_reduce_([flat])
        host = flat.cpu().tolist()
        m = len(names)
        out = {k: [host[2 + 2 * i], host[3 + 2 * i], int(round(host[2 + 2 * m + i]))] for i, k in enumerate(names)}
        return host[0], int(round(host[1])), out

    def _check_finite(self, loss_sum: torch.Tensor, correct: torch.Tensor | None = None) -> tuple[float, int]:
        """Divergence check: the running loss and every weight finite. One host read, which also
        returns the running ``(loss_sum, correct)`` of this rank."""
        ok = torch.stack([torch.isfinite(loss_sum).all()] + [torch.isfinite(w).all() for w in self.model.stored_weights()])
        bad = (~ok.all()).double().reshape(1)
        self.dist.all_reduce_([bad])  # every rank raises together (torchrun)
        vals = torch.stack([bad[0], loss_sum.double(),
                            (correct if correct is not None else torch.zeros_like(loss_sum)).double()]).cpu().tolist()
        if vals[0] != 0.0:
            raise DivergenceError(
                f"training diverged at epoch {self.epoch + 1} (loss {vals[1]}); the last good checkpoint "
                f"is {self.checkpoint_path}; lower train.lr or ep.beta")
        return vals[1], int(vals[2])

    def _partial_state(self, step: int, loss_sum, correct, seen: int, seen_local: int, stats_acc: dict, pulses0,
                       seconds: float, aug_gen: torch.Generator, factor: float) -> dict:
        """The epoch in progress, as a checkpoint holds it: the running sums over every rank (a
        collective under torchrun), so the run resumes on any number of ranks (rank 0 takes them
        over, the others start from zero)."""
        loss, corr, stats = self._totals(loss_sum, correct, stats_acc)
        traces = self._global_traces()
        if self.dist.active:
            c = torch.tensor([float(seen_local)], dtype=torch.float64, device=self.device)
            self.dist.all_reduce_([c])
            seen_local = int(c.item())
        return {"step": step, "loss_sum": torch.tensor(loss, dtype=torch.float64),
                "correct": torch.tensor(corr, dtype=torch.int64), "seen": seen, "seen_local": seen_local,
                "stats": {k: [torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64), int(n)]
                          for k, (a, b, n) in stats.items()},
                "traces": traces, "pulses0": pulses0, "seconds": seconds, "aug_rng": aug_gen.get_state(),
                "lr_factor": factor, "counts0": self.counts0,
                "settle_dt_clamped": clamped_since_epoch(self.model)}

    def _global_traces(self) -> dict:
        """The epoch's trace sums and counts added over the ranks (one all-reduce per trace)."""
        out = {}
        for k in sorted(self.traces):
            total, count = self.traces[k]
            total = total.detach().clone().double()
            cnt = torch.tensor([float(count)], dtype=torch.float64, device=total.device)
            self.dist.all_reduce_([total, cnt])
            out[k] = [total, int(cnt.item())]
        return out

    def run_epoch(self, progress: bool = True) -> dict:
        from tqdm import tqdm

        cfg = self.cfg
        t0 = time.perf_counter()
        self.model.train()
        self.model.aux_kappa = aux_kappa(cfg, self.epoch)
        order = epoch_order(len(self.train_set), cfg.seed, self.epoch)
        n_batches = math.ceil(len(self.train_set) / cfg.data.batch_size)
        factor = lr_factor(cfg, self.epoch, 0, n_batches)  # the epoch's first step (recorded per epoch)
        per_step = cfg.train.schedule != "constant" and cfg.train.schedule_unit == "step"
        for group in self.optimizer.param_groups:
            group["lr"] = group["base_lr"] * factor
        seed_e = cfg.seed * 7919 + self.epoch
        aug_gen = torch.Generator().manual_seed(seed_e)
        dev = self.device
        part, self.partial = self.partial, None
        start, seen, before, seen_local = 0, 0, 0.0, 0
        loss_sum = torch.zeros((), dtype=torch.float64, device=dev)
        correct = torch.zeros((), dtype=torch.int64, device=dev)
        stats_acc: dict = {}
        self.traces = {}
        counting = cfg.compute.count_events
        if part is None:
            pulses0 = self.pulse_counts() if self.model.device_card is not None else None
            self.counts0 = self.model.event_counts() if counting else None  # the epoch's cost: counts since here
        else:  # resumed inside this epoch: the same step and streams on every rank
            start, seen, before = int(part["step"]), int(part["seen"]), float(part["seconds"])
            pulses0 = part["pulses0"]
            self.counts0 = part.get("counts0") if counting else None  # (None: a checkpoint from before the counts)
            aug_gen.set_state(part["aug_rng"])
            if self.dist.is_main:  # the sums so far (over every rank) continue on rank 0
                seen_local = int(part["seen_local"])
                loss_sum, correct = part["loss_sum"].to(dev), part["correct"].to(dev)
                stats_acc = {k: [a.to(dev), b.to(dev), int(c)] for k, (a, b, c) in part["stats"].items()}
                self.traces = {k: [t.to(dev), int(c)] for k, (t, c) in part["traces"].items()}
            else:  # the others from zero, with the same traces (each is all-reduced by name)
                self.traces = {k: [torch.zeros_like(t, device=dev), 0] for k, (t, _) in part["traces"].items()}
        bar = tqdm(total=n_batches, initial=start, file=sys.stderr, desc=f"epoch {self.epoch + 1}/{cfg.train.epochs}",
                   leave=False, disable=not progress or not self.dist.is_main or None, dynamic_ncols=True)
        every, ckpt_every = cfg.train.log_every, cfg.train.checkpoint_every

        def save_partial(step: int, status: str) -> None:
            """A checkpoint inside this epoch after ``step`` of its ``n_batches`` steps (a
            SIGTERM, ``train.checkpoint_every``, or the trained epoch before its test pass). A
            preempted run keeps its partial state (what it stopped with: the resume's)."""
            self.partial = self._partial_state(step, loss_sum, correct, seen, seen_local, stats_acc, pulses0,
                                               before + time.perf_counter() - t0, aug_gen, factor)
            self.save(status)
            if status != "preempted":
                self.partial = None
        skipped_warned = False
        batches = self._global_batches(self.train_set, order, start, aug_gen, seed_e)
        for i, (x, y, n_global) in enumerate(batches, start=start):
            done = i + 1
            bar.update(1)
            if n_global >= self.dist.world:
                self.dist.sync_convergence = self.dist.active
                if per_step:  # train.schedule_unit: step (host floats: no device work)
                    f_i = lr_factor(cfg, self.epoch, i, n_batches)
                    for group in self.optimizer.param_groups:
                        group["lr"] = group["base_lr"] * f_i
                loss_b, c, stats = self._step(x, y, n_global, i, n_batches, bar)
                loss_sum += loss_b
                correct += c
                seen += n_global
                seen_local += x.shape[0]
                _accumulate(stats_acc, stats)
            elif not skipped_warned and self.dist.is_main:  # torchrun: a last batch smaller than the ranks
                skipped_warned = True
                print(f"warning: the last global batch ({n_global} examples) is smaller than the {self.dist.world} "
                      "ranks and is skipped", file=sys.stderr, flush=True)
            if done % every == 0 or done == n_batches:  # the loop's host read (this rank's running means)
                ls, cs = self._check_finite(loss_sum, correct)
                bar.set_postfix(loss=f"{ls / max(seen_local, 1):.4f}", acc=f"{cs / max(seen_local, 1):.3f}",
                                refresh=False)
            if self.on_batch is not None:
                self.on_batch(self.epoch, i)
            stop = self.stop_agreed if self.dist.active else self.sigterm_seen
            if stop or (ckpt_every is not None and done % ckpt_every == 0 and done < n_batches):
                self._check_finite(loss_sum)  # never checkpoint a diverged state
                save_partial(done, "preempted" if stop else "running")
                if stop:
                    bar.close()
                    raise Preempted(f"SIGTERM: checkpoint written at epoch {self.epoch + 1}, step {done}/{n_batches} "
                                    f"in {self.checkpoint_path}")
        bar.close()
        self._check_replicas()  # (torchrun: sums the ranks' event counters, which the next checkpoint stores)
        last = self.epoch + 1 == cfg.train.epochs
        evaluating = (self.epoch + 1) % cfg.train.eval_every == 0 or last
        if evaluating and start < n_batches:  # the state a SIGTERM during the test pass resumes from
            save_partial(n_batches, "running")
        train_seconds = before + time.perf_counter() - t0
        loss_total, correct_total, stats_tot = self._totals(loss_sum, correct, stats_acc)
        row = {"epoch": self.epoch + 1, "train_loss": loss_total / seen, "train_accuracy": correct_total / seen,
               "seconds": train_seconds, "lr_factor": factor}
        if self.model.aux_nodes:
            row["aux_kappa"] = self.model.aux_kappa
        if pulses0 is not None:  # pulses this epoch per layer (tile array), and per training step
            for i, (a, b) in enumerate(zip(pulses0, self.pulse_counts())):
                row[f"pulses_layer{i}"] = float(b - a)
            row["pulses_per_step"] = sum(b - a for a, b in zip(pulses0, self.pulse_counts())) / n_batches
        row.update(_summarize(stats_tot))
        for name, (total, count) in self._global_traces().items():  # lists: results.h5 group traces
            row[name] = (total / max(count, 1)).double().cpu().tolist()
        self.traces = {}
        if evaluating:
            t1 = time.perf_counter()
            stop = self._evaluation_stop(n_batches)
            row["test_loss"], row["test_accuracy"], est = self.evaluate(self.test_set, stop)
            row["eval_seconds"] = time.perf_counter() - t1
            row.update(est)
            t_inf = cfg.analog.t_inference_s
            if last and t_inf is not None:  # (the config allows it with a device card only)
                from ..analog.mapping import drifted_weights

                with drifted_weights(self.model, t_inf):
                    row["test_loss_drift"], row["test_accuracy_drift"], _ = self.evaluate(self.test_set, stop)
        if self.counts0 is not None:  # what the epoch's learning (and its evaluation) cost on the chip
            record = diff_counts(self.counts0, self.model.event_counts())
            row.update(self.epoch_cost(record, seen))
            row["event_counts"] = record  # results.h5 group records: priced again on another chip later
        notes, self.step_warning = take_step_notes(self.model)  # a given settle step clamped to its bound
        row.update(notes)
        self.epoch += 1
        self.history.append(row)
        return row

    def _step(self, x: torch.Tensor, y: torch.Tensor, n_global: int, i: int, n_batches: int, bar):
        """:meth:`train_step`; SIGTERM during the first one of this process stops it at once.

        Later steps end before the flag is read (the loop checks it after each step and
        checkpoints what the step did), but the first step of a process can take minutes: with a
        cold numba cache (a fresh install or a changed source) it compiles every kernel it calls
        (163 s at load 9 for dchn_vgg5 16-32-64-64 on the memristor card, session 16's
        ``benchmarks/sigterm_latency_s16.md``), longer than a cluster's grace between SIGTERM and
        SIGKILL. Until it finishes there is nothing to save: the checkpoint on disk holds the
        state the step starts from (:func:`fit` wrote it at a new run's start; a resumed run was
        loaded from it, or wrote it to its new folder; a run resumed at the end of an epoch's
        training wrote it again after that epoch's test pass), and what happened since (the
        epoch's set-up, the step's own work) is repeated exactly by a resume. So here the handler
        raises :class:`_StopNow` (wherever the step is, numba's compiler included) and the step
        ends as :class:`Preempted` without a new checkpoint; the resumed run starts the step again.

        One process only: under torchrun a rank that left its step alone would leave the others
        waiting in the step's all-reduce, so with several ranks every step ends before the ranks
        agree to stop (:meth:`_reduce`)."""
        if self.stepped or self.dist.active:
            return self.train_step(x, y, n_global)
        try:
            self.stop_at_once = True
            if self.sigterm_seen:  # arrived before the step (the first checkpoint's write, the epoch's set-up)
                self.stop_at_once = False  # (as the handler does: a second signal cannot raise again below)
                raise _StopNow
            out = self.train_step(x, y, n_global)
            self.stop_at_once = False
        except _StopNow:
            bar.close()
            raise Preempted(f"SIGTERM: the checkpoint at epoch {self.epoch + 1}, step {i}/{n_batches} in "
                            f"{self.checkpoint_path} is kept (this run's first training step in this process "
                            "stopped at once: nothing was trained since that checkpoint; the resumed run starts "
                            "the step again)") from None
        finally:
            self.stop_at_once = False
        self.stepped = True
        return out

    def _evaluation_stop(self, n_batches: int) -> Callable[[], None]:
        """The SIGTERM check between the test pass's batches (:meth:`evaluate`'s ``stop``): a
        test pass of many relaxations (a full solver budget, a large test set) takes minutes, more
        than a cluster's grace period. The epoch's training is in the checkpoint written before
        the pass (step ``n_batches`` of ``n_batches``), so the pass ends at the next batch, records
        nothing and raises :class:`Preempted`; the resumed run repeats the whole pass from that
        state (bit for bit, as uninterrupted). Under torchrun the ranks agree per batch (one
        all-reduce of the flags and a host read, between batches)."""
        def stop() -> None:
            if _agreed(self):
                raise Preempted(f"SIGTERM: checkpoint written at epoch {self.epoch + 1}, step {n_batches}/{n_batches} "
                                f"in {self.checkpoint_path} (during the epoch's test evaluation, which the resumed "
                                "run repeats)")
        return stop

    def epoch_cost(self, record: dict, samples: int) -> dict:
        """The per-epoch cost metrics of ``record`` (:func:`.costs.row_fields`) on the config's
        chip with the run's card; the full breakdown stays in :attr:`last_cost`."""
        summary = cost_summary(record, self.cfg.chip, getattr(self.model, "device_card", None), samples=samples,
                               epochs=1)
        self.last_cost = summary
        return row_fields(summary)


_EXTRA_STATS = {"settle_time_s": "settle_time_s", "settled": "settled_fraction"}
"""Optional per-sample fields of :class:`~analog_ep.solvers.SolverStats` -> the name of their
epoch mean (``<phase>_<name>``): the settle solver's settle time (seconds), the noise-floor
stop's settled flags. Accumulated under ``<phase>|<field>`` as ``[sum, 0, samples]``."""


def _accumulate(acc: dict, stats: dict) -> None:
    """Add a step's per-phase relaxation statistics to ``acc`` (phase -> [sum of steps, number
    converged, samples]; the optional fields of :data:`_EXTRA_STATS` under ``phase|field``);
    the sums stay device tensors (no host sync)."""
    for phase, st in stats.items():
        rows = [(phase, st.steps.sum(), st.converged.sum())]
        for f in _EXTRA_STATS:
            value = getattr(st, f, None)
            if value is not None:
                rows.append((f"{phase}|{f}", value.double().sum(), torch.zeros((), device=value.device)))
        for key, a_new, b_new in rows:
            a = acc.get(key)
            if a is None:
                acc[key] = [a_new, b_new, st.steps.numel()]
            else:
                a[0] = a[0] + a_new
                a[1] = a[1] + b_new
                a[2] += st.steps.numel()


def _summarize(acc: dict) -> dict:
    out = {}
    for key, (steps, conv, n) in acc.items():
        steps, conv = float(steps), float(conv)
        phase, _, field = key.partition("|")
        if field:
            out[f"{phase}_{_EXTRA_STATS[field]}"] = steps / n
            continue
        out[f"{phase}_mean_steps"] = steps / n
        out[f"{phase}_converged_fraction"] = conv / n
    return out


def make_trainer(cfg: RunConfig, out_dir: str | Path | None, data=None, stored_card: dict | None = None,
                 weights: dict | None = None) -> Trainer:
    """Wire a config into a trainer (data, model with its storage, optimizer, learning rule, teacher):
    the one path that train, bench and compare use. ``data``: an already loaded
    ``(train, test, info)``; ``stored_card``: a checkpoint's device record (resume); ``weights``:
    trained digital weights the storages are programmed from (:func:`~.build.build_model`; deploy).
    Seeds torch's global CPU generator (:func:`global_seed` of ``cfg.seed``; the one state a
    checkpoint saves and a resume restores, so the CUDA generators are left alone) before anything
    is built: a caller that needs its own global stream afterwards saves and restores it."""
    device = resolve_accelerator(cfg.compute.accelerator)
    configure(cfg.compute, device)
    dist = init_distributed(device)
    torch.default_generator.manual_seed(global_seed(cfg.seed))
    train_set, test_set, info = data if data is not None else load_data(cfg.data, cfg.seed)
    model = build_model(cfg, info.shape, info.num_classes, stored_card, device=device, weights=weights)
    if model.device_card is not None:  # numba's one-time start-up here, not in the first training step
        warm_kernels(next(model.parameters()))
    if dist.active and any(s.wants_vectors for s in model.ep_storages()):  # the card's update: section too
        raise ConfigError("analog.pulse_scheme: bitstream trains carry per-example vectors that cannot be "
                          "all-reduced over ranks; use analog.pulse_scheme=rounded with torchrun")
    opt = build_optimizer(cfg, model)
    est_gen = torch.Generator().manual_seed(cfg.seed + 1)  # host draws (the random sign): no device sync
    teacher = Teacher(cfg.ep.teacher, info.shape, info.num_classes, device) if cfg.ep.teacher else None
    rule = build_rule(cfg, model, device, est_gen)
    return Trainer(cfg, Path(out_dir if out_dir is not None else "."), train_set, test_set, info.num_classes,
                   model, opt, rule, est_gen=est_gen, prov=provenance(cfg), teacher=teacher, device=device, dist=dist)


def resume_trainer(ckpt_dir: str | Path, cfg: RunConfig, out_dir: str | Path | None = None) -> Trainer:
    """Continue the run in ``ckpt_dir`` with ``cfg`` (its own config plus overrides). The device
    card in effect comes from the checkpoint, never from the card file; the device, its
    ``device.*`` overrides and ``analog.update`` (which decides the stored state) cannot change
    on resume (the periphery shortcuts ``analog.*`` can); neither can the model, the dataset
    (:data:`RESUME_FIXED`), the algorithm or the seed, and ``train.epochs`` cannot drop below the
    epochs already done."""
    path = Path(ckpt_dir) / "checkpoint.pt"
    ckpt = load_checkpoint(path)
    old = stored_config(ckpt, path=path)
    check_kept(old, cfg, ckpt, "a resumed run keeps", lambda key, b: f"start a new run (--out) to use {b!r}")
    done = int(ckpt["epoch"])
    if cfg.train.epochs < done:
        raise ConfigError(f"train.epochs: the run in {ckpt_dir} has finished {done} epochs; pass "
                          f"train.epochs >= {done} (got {cfg.train.epochs})")
    if done >= cfg.train.epochs and not ckpt.get("partial"):
        changed = _changed_keys(old, cfg)
        if changed:  # nothing would train with the change, yet results.h5 would record it
            key, a, b = changed[0]
            raise ConfigError(f"{key}: the run in {ckpt_dir} has finished all {done} epochs, so nothing would "
                              f"train with {b!r} (it ran with {a!r}); raise train.epochs too (e.g. --set "
                              f"train.epochs={done + 1}) to continue with it, or start a new run (--out)")
    return restore_trainer(ckpt, cfg, out_dir or ckpt_dir, path=path)


def check_kept(old: RunConfig, cfg: RunConfig, ckpt: dict, keeps: str, fix) -> None:
    """Refuse (:class:`ConfigError`, one line) a ``cfg`` that changes what a checkpoint's state keeps:
    :func:`_identity_changes` (the model, the data, the algorithm, the seed, the device, the weight
    mapping, the update mode), the run dtype of ``compute.precision`` (fp64 or not) and
    ``train.optimizer`` (its state does not carry over; the other
    ``train.*`` keys, e.g. ``train.lr``, momentum, weight_decay, layer_lrs, epochs, may change).
    ``old``: the checkpoint's stored config; ``keeps``: who keeps it (``"a resumed run keeps"``);
    ``fix(key, new_value)``: the message's remedy. The one check that ``train --resume``
    (:func:`resume_trainer`) and ``bench --from`` (:func:`analog_ep.bench.load_run`) share."""
    changes = _identity_changes(old, cfg)
    if changes:
        key, a, b = changes[0]
        raise ConfigError(f"{key}: {keeps} its model, data, algorithm, seed, device, weight mapping and update mode "
                          f"({_kept_value(key, a, ckpt.get('device'))}); {fix(key, b)}")
    if run_dtype(cfg.compute.precision) != run_dtype(old.compute.precision):  # fp64 <-> fp32 / tf32 / bf16
        raise ConfigError(f"compute.precision: {keeps} its run dtype ({old.compute.precision!r}: its weights, "
                          f"optimizer state and warm starts are stored in it); "
                          f"{fix('compute.precision', cfg.compute.precision)}")
    if cfg.train.optimizer != old.train.optimizer:
        raise ConfigError(f"train.optimizer: {keeps} its optimizer ({old.train.optimizer!r}: its state does not "
                          f"carry over to {cfg.train.optimizer!r}); {fix('train.optimizer', cfg.train.optimizer)} "
                          f"(train.lr, momentum, weight_decay and layer_lrs may change)")


def restore_trainer(ckpt: dict, cfg: RunConfig, out_dir: str | Path | None = None, data=None,
                    path: str | Path | None = None) -> Trainer:
    """A trainer for ``cfg`` holding the state of checkpoint ``ckpt`` exactly as a resume restores it
    (the card stored in the checkpoint, weights and device state, optimizer, random streams, warm
    start, history): the one loader that ``train --resume`` and ``bench --from`` share. ``cfg``
    must keep what :func:`check_kept` checks (the callers refuse a change first); ``data``:
    an already loaded ``(train, test, info)``; ``path``: the checkpoint's file (named by an error)."""
    trainer = make_trainer(cfg, out_dir, data=data, stored_card=ckpt.get("device"))
    trainer.load(ckpt, path)
    return trainer


def _changed_keys(old: RunConfig, new: RunConfig) -> list[tuple[str, object, object]]:
    """``(dotted key, old, new)`` for every leaf of the two configs that differs, in schema order."""
    import dataclasses

    from ..config.typed import flatten

    a, b = flatten(dataclasses.asdict(old)), flatten(dataclasses.asdict(new))
    return [(k, a.get(k), b.get(k)) for k in list(a) + [k for k in b if k not in a] if a.get(k) != b.get(k)]


RESUME_FIXED = ("analog.device", "analog.update", "analog.mapping", "analog.omega", "analog.weight_range",
                "algorithm", "seed", "data.name", "data.root", "data.shape", "data.crop", "data.num_classes",
                "data.train_size", "data.test_size")
"""Keys (besides every ``model.*`` and ``device.*`` key) that a resumed run cannot change: they
decide the weights' shapes and stored device state (the weight mapping: the checkpoint holds
each synapse's ``w_scale``), the data and the random streams."""


def _identity_changes(old: RunConfig, new: RunConfig) -> list[tuple[str, object, object]]:
    """``(key, old, new)`` for each key of :data:`RESUME_FIXED`, of ``model.*`` and of the device
    card's ``device.*`` overrides that differs."""
    import dataclasses

    keys = [f"model.{f.name}" for f in dataclasses.fields(old.model)] + list(RESUME_FIXED)
    out = []
    for key in keys:
        a, b = old, new
        for part in key.split("."):
            a, b = getattr(a, part), getattr(b, part)
        if a != b:
            out.append((key, a, b))
    from ..config.typed import leaf_keys

    def leaves(d: dict) -> dict:
        flat = {}
        for key in leaf_keys(d, ""):
            v = d
            for part in key.split("."):
                v = v[part]
            flat[key] = v
        return flat

    a, b = leaves(old.device), leaves(new.device)
    for k in sorted(set(a) | set(b)):
        if a.get(k) != b.get(k):
            out.append((f"device.{k}", a.get(k), b.get(k)))
    return out


def _kept_value(key: str, value, stored_card: dict | None) -> str:
    """How a resume refusal names the value a run keeps: ``digital`` for a run without a device
    card; for a ``device.*`` key the run never overrode, the value of the card stored in its
    checkpoint; else the value's repr."""
    if key == "analog.device" and value is None:
        return "digital: no device card"
    if key.startswith("device.") and value is None:
        v = (stored_card or {}).get("card")
        for part in key.split(".")[1:]:
            v = v.get(part) if isinstance(v, dict) else None
        return f"the card's {v!r}" if v is not None else "not set on the card"
    return repr(value)


def fit(trainer: Trainer, progress: bool = True, log: Callable[[dict], None] | None = None,
        warn: Callable[[str], None] | None = None) -> dict:
    """Train until ``cfg.train.epochs``; checkpoint and results after every epoch. After each
    epoch the history's health is checked (:mod:`.health`): the epoch where a problem first
    appears gives one ``warning: ...`` line (``warn``, default stderr), and the run ends with
    status ``unhealthy`` instead of ``finished``. SIGTERM (a cluster preempting the job) is
    handled after the training step in progress, or at the next batch of a test pass (whose
    epoch's checkpoint was written before the pass): a checkpoint is written, the results get status
    ``preempted`` and :class:`Preempted` is raised (the CLI exits with code 143 and prints the
    resume command). During this process's first training step (minutes where it compiles
    numba's kernels) the handler stops the step at once and nothing new is written but the
    status: the checkpoint on disk is the state that step starts from (:meth:`Trainer._step`;
    one process only, not under torchrun). ``trainer`` is a new run (its first checkpoint is
    written here) or one restored from the checkpoint in its ``out_dir``. Returns ``{"seconds",
    "status", "unhealthy_reason"}`` (reason None when healthy)."""
    if warn is None:
        def warn(line: str) -> None:
            print(line, file=sys.stderr, flush=True)
    t0 = time.perf_counter()

    def on_term(signum, frame) -> None:
        trainer.sigterm_seen = True
        if trainer.stop_at_once and not _in_numba_cache(frame):  # the first step: nothing to save (Trainer._step)
            trainer.stop_at_once = False
            raise _StopNow

    try:
        previous = signal.signal(signal.SIGTERM, on_term)
        installed = True
    except ValueError:  # not the main thread: no handler (the caller owns signals)
        previous, installed = None, False
    card = getattr(trainer.model, "device_card", None)
    if card is not None and trainer.cfg.compute.count_events and trainer.dist.is_main:
        from ..analog.cards import write_warning

        line = write_warning(card)  # its write energy / latency are reported as unknown (null), never 0
        if line is not None:
            warn(f"warning: {line}")
    try:
        if trainer.epoch == 0 and trainer.partial is None:
            trainer.save("running")
        while trainer.epoch < trainer.cfg.train.epochs:
            row = trainer.run_epoch(progress)
            trainer.save("running")
            if log is not None and trainer.dist.is_main:
                log(row)
            if trainer.step_warning is not None and trainer.dist.is_main:
                warn(f"warning: {trainer.out_dir}: {trainer.step_warning}")
            problem = trainer.health()
            if problem is not None and problem[0] == row["epoch"] and trainer.dist.is_main:
                warn(f"warning: {trainer.out_dir}: {problem[1]} (the run goes on; it will be marked unhealthy)")
            if _agreed(trainer) and trainer.epoch < trainer.cfg.train.epochs:
                trainer.write_results("preempted")
                raise Preempted(f"SIGTERM: checkpoint written after epoch {trainer.epoch} in {trainer.checkpoint_path}")
    except DivergenceError:
        _write_final(trainer, "diverged")
        raise
    except Preempted:
        _write_final(trainer, "preempted")
        raise
    except _StopNow:  # (Trainer._step turns it into Preempted; this only if a signal raced another exception)
        _write_final(trainer, "preempted")
        raise Preempted(f"SIGTERM: the run stopped in its first training step; the checkpoint in "
                        f"{trainer.checkpoint_path} holds the state it started from") from None
    except KeyboardInterrupt:
        _write_final(trainer, "interrupted")
        raise
    finally:
        if installed:  # None: the previous handler was not set from Python; restore the default
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
    trainer.write_results("finished")
    problem = trainer.health()
    return {"seconds": time.perf_counter() - t0, "status": "finished" if problem is None else "unhealthy",
            "unhealthy_reason": None if problem is None else problem[1]}


def _write_final(trainer: Trainer, status: str) -> None:
    """The stopped run's status in ``results.h5``, with SIGINT and SIGTERM held while it is written
    (:func:`~analog_ep.study.runner.deferred_signals`): a second signal (a sweep worker's orphan
    watch interrupting a point that is already stopping for SIGTERM, a second Ctrl-C) arrives after
    the write instead of cutting it off and leaving the last ``running`` status behind."""
    from ..study.runner import deferred_signals

    with deferred_signals():
        trainer.write_results(status)


class _StopNow(BaseException):
    """SIGTERM during a process's first training step (:meth:`Trainer._step`), raised by
    :func:`fit`'s handler wherever the step is and turned into :class:`Preempted` there. A
    ``BaseException`` (as ``KeyboardInterrupt``): numba's compiler catches ``Exception`` in places
    while it types a kernel (numba 0.68, ``types.functions``: a template's retry without literal
    types records any exception as a failed resolution, which ends as a ``TypingError`` that the
    dispatcher also remembers for the signature), so a stop that is an ``Exception`` could end
    the run as a failed compile instead of ``preempted``; a ``BaseException`` passes through."""


def _in_numba_cache(frame) -> bool:
    """Whether the main thread, at ``frame`` (a signal handler's), is inside numba's kernel cache
    (``numba.core.caching``: loading or saving a compiled kernel). numba writes each cache file to a
    temporary name and renames it, but a kernel's index before its data file: a stop between the two
    would leave an index entry naming a data file that is missing (recompiled next time) or, after a
    source change, a stale one of the same name that a later process would load. The handler does
    not stop there (a few milliseconds per kernel); the flag then ends the run after the step."""
    caching = sys.modules.get("numba.core.caching")
    path = getattr(caching, "__file__", None)
    while path is not None and frame is not None:
        if frame.f_code.co_filename == path:
            return True
        frame = frame.f_back
    return False


def _agreed(trainer: Trainer) -> bool:
    """Whether a SIGTERM arrived on any rank (one all-reduce under torchrun)."""
    if not trainer.dist.active:
        return trainer.sigterm_seen
    flag = torch.tensor([1.0 if trainer.sigterm_seen else 0.0], device=trainer.device)
    trainer.dist.all_reduce_([flag])
    trainer.stop_agreed = bool(flag.item() > 0)
    return trainer.stop_agreed


def _to_cpu(obj):
    """``obj`` with every tensor moved to the CPU (dicts, lists and tuples walked)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj
