"""Training loop: EP or the backprop twin, per-epoch evaluation, results and checkpoints.

Every epoch ends with an atomic write of ``checkpoint.pt`` and ``results.h5``; a checkpoint of
the initial state is written before the first batch, so a run interrupted at any point leaves a
loadable checkpoint and a readable results file. Resuming restores weights, optimizer, RNG
states and the warm-start state: the resumed run is bit-for-bit the uninterrupted one.
"""

from __future__ import annotations

import datetime
import math
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import yaml

from .. import __version__
from ..algorithms.bp import bp_gradient
from ..algorithms.ep import ep_gradient
from ..algorithms.pc import pc_gradient, pcn_ep_gradient
from ..config import RunConfig, dump_yaml, load_config
from ..data import Split, load_data
from ..data.augment import augment
from ..errors import CheckpointError, ConfigError, DivergenceError
from ..results import write_results
from .build import aux_kappa, build_model, build_optimizer, build_solver, device_record, lr_factor
from .checkpoint import load_checkpoint, save_checkpoint
from .health import check_health
from .teacher import Teacher

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
    solver: Callable
    history: list[dict] = field(default_factory=list)
    epoch: int = 0
    warm: list[torch.Tensor] | None = None
    est_gen: torch.Generator = field(default_factory=torch.Generator)
    prov: dict = field(default_factory=dict)
    on_batch: Callable | None = None  # called as on_batch(epoch, batch_index) after each update
    teacher: Teacher | None = None     # distillation targets for the auxiliary readouts
    traces: dict = field(default_factory=dict)  # per epoch: name -> [sum of curves (device), count]

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
        return {
            "config_yaml": dump_yaml(self.cfg),
            "epoch": self.epoch,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "est_rng": self.est_gen.get_state(),
            "warm": self.warm,
            "history": self.history,
            "provenance": self.prov,
            "device": device_record(self.model),
        }

    def save(self, status: str = "running") -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        save_checkpoint(self.checkpoint_path, self.state_dict())
        self.write_results(status)

    def health(self) -> tuple[int, str] | None:
        """The first health problem of this run's history (:func:`check_health`), or None."""
        return check_health(self.history, check_convergence=self.cfg.solver.tol > 0)

    def write_results(self, status: str) -> None:
        """Write ``results.h5`` with ``status``; ``finished`` becomes ``unhealthy`` (with
        ``extra/unhealthy_reason``) when :meth:`health` finds a problem."""
        extra = None
        card = getattr(self.model, "device_card", None)
        if card is not None:
            import dataclasses

            # the card in effect (file values plus device.* overrides) and the effective periphery
            extra = {"device_name": card.name, "device_path": card.path, "device_source": card.source,
                     "device_card_yaml": yaml.safe_dump(card.to_dict(), sort_keys=False),
                     "periphery_yaml": yaml.safe_dump(dataclasses.asdict(self.model.periphery), sort_keys=False)}
        problem = self.health()
        if problem is not None:
            extra = {**(extra or {}), "unhealthy_reason": problem[1]}
            if status == "finished":
                status = "unhealthy"
        write_results(self.results_path, dump_yaml(self.cfg), self.prov, self.history, status, extra)

    def load(self, ckpt: dict) -> None:
        try:
            self.model.load_state_dict(ckpt["model"])
        except RuntimeError as e:
            raise CheckpointError(f"{self.checkpoint_path}: the checkpoint does not fit this model or this version "
                                  f"of analog-ep ({str(e).splitlines()[0]}); start a new run") from e
        self.optimizer.load_state_dict(ckpt["optimizer"])
        torch.set_rng_state(ckpt["torch_rng"])
        self.est_gen.set_state(ckpt["est_rng"])
        self.warm = ckpt["warm"]
        self.history = list(ckpt["history"])
        self.epoch = int(ckpt["epoch"])
        self.prov = dict(ckpt.get("provenance") or self.prov)

    # ---------------------------------------------------------------- steps
    def _batches(self, split: Split, order: torch.Tensor | None):
        """Mini-batches in ``order`` (training: augmented as configured, with a generator drawn
        from (seed, epoch) so a resumed run sees the same batches) or in file order."""
        d = self.cfg.data
        n = len(split)
        gen = torch.Generator().manual_seed(self.cfg.seed * 7919 + self.epoch) if order is not None else None
        for i in range(0, n, d.batch_size):
            idx = order[i:i + d.batch_size] if order is not None else slice(i, min(i + d.batch_size, n))
            x, y = split.batch(idx)  # float32, normalized (uint8 pixel sets: per batch)
            if gen is not None and d.augment:
                x = augment(x, d.augment, gen, d.crop_padding)
            yield x, y

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[float, int, dict]:
        cfg = self.cfg
        self.model.begin_batch()
        target = one_hot(y, self.num_classes, x.dtype)
        if self.teacher is not None and self.model.aux_nodes:
            target = (target, self.teacher.soft_targets(x, target, cfg.ep.kd_alpha, cfg.ep.kd_temperature))
        pcn = getattr(self.model, "is_pcn", False)
        if cfg.algorithm == "bp":
            want = any(s.wants_vectors for s in self.model.ep_storages())
            self.model.bn_update = True  # BatchNorm (PCNs): the twin's forward moves the running statistics
            grads, out, terms = bp_gradient(self.model, x, target, want_terms=want)
            self.model.bn_update = False
            stats = {}
        elif cfg.algorithm == "pc":
            p = cfg.pc
            res = pc_gradient(self.model, x, target, steps=p.steps, lr=p.activity_lr, momentum=p.activity_momentum,
                              nesterov=p.activity_nesterov, precision=p.precision, alpha=p.precision_alpha,
                              k_decay=p.precision_k, forward_update=p.forward_update, bn_freeze=p.bn_freeze)
            grads, out, stats, terms = res.grads, res.output, res.stats, res.terms
            self._trace("pc_energy", res.energy)
        elif pcn:
            res = pcn_ep_gradient(self.model, x, target, beta=cfg.ep.beta, estimator=cfg.ep.estimator,
                                  nudge_iters=cfg.solver.nudge_iters, rule=cfg.pc.nudged_update, tol=cfg.solver.tol,
                                  generator=self.est_gen, update_bn=True)
            grads, out, stats, terms = res.grads, self.model.output(res.free), res.stats, res.terms
            for phase, curve in res.energy.items():
                self._trace(f"{phase}_energy", curve)
        else:
            init = self.warm if (cfg.ep.warm_start and self.warm is not None
                                 and self.warm[0].shape[0] == x.shape[0]) else self.model.zero_state(x.shape[0], x)
            res = ep_gradient(self.model, x, target, init, self.solver, beta=cfg.ep.beta,
                              estimator=cfg.ep.estimator, free_iters=cfg.solver.free_iters,
                              nudge_iters=cfg.solver.nudge_iters, tol=cfg.solver.tol,
                              damping=cfg.solver.damping, generator=self.est_gen)
            grads, out, stats, terms = res.grads, self.model.output(res.free), res.stats, res.terms
            if cfg.ep.warm_start:
                self.warm = [s.detach().clone() for s in res.free]
        factor = None
        clip = cfg.train.clip_grad_norm
        if clip is not None:  # global norm clipping without a host sync: scale by min(1, clip / norm)
            norm = torch.sqrt(sum((g.double() ** 2).sum() for g in grads))
            factor = (clip / norm).clamp(max=1.0)
            grads = [g * factor.to(g.dtype) for g in grads]
        self.apply_updates(grads, terms, factor)
        loss = self.model.cost(out, target).mean().item()
        correct = int((out.argmax(1) == y).sum())
        if not math.isfinite(loss) or not all(torch.isfinite(p).all() for p in self.model.parameters()):
            raise DivergenceError(
                f"training diverged at epoch {self.epoch + 1} (loss {loss}); the last good checkpoint is "
                f"{self.checkpoint_path}; lower train.lr or ep.beta")
        return loss, correct, stats

    def apply_updates(self, grads: list[torch.Tensor], terms: list | None = None,
                      factor: torch.Tensor | None = None) -> None:
        """The optimizer proposes, the storages dispose: the optimizer's step on every parameter
        gives a change ``delta``; each parameter's storage applies it (digital: adds it; analog:
        sends pulses). A storage that wants the update's outer-product vectors (bit-stream pulse
        trains; plain SGD, checked by the config) gets them from the gradient's ``terms`` (EP
        phases or the backprop twin's reads), scaled by ``-lr`` and the clipping ``factor``."""
        params = self.model.ep_parameters()
        stores = self.model.ep_storages()
        for p, g in zip(params, grads):
            p.grad = g
        before = [p.detach().clone() for p in params]
        self.optimizer.step()
        with torch.no_grad():
            deltas = []
            for p, b in zip(params, before):
                deltas.append(p.detach() - b)
                p.copy_(b)
            synapses = self.model.ep_synapses()
            for i, (store, delta) in enumerate(zip(stores, deltas)):
                vectors = None
                if store.wants_vectors:
                    lr = next(g["lr"] for g in self.optimizer.param_groups if any(q is params[i] for q in g["params"]))
                    vectors = _update_vectors(synapses[i], terms[i], lr, factor)
                    if vectors is None:
                        continue
                store.apply_update(delta, vectors)

    def pulse_counts(self) -> list[int]:
        """Pulses sent so far to each synapse's devices (0 for digital storage); one host read."""
        return [int(s.storage.pulses) for s in self.model.all_synapses()]

    @torch.no_grad()
    def evaluate(self, split: Split) -> tuple[float, float, dict]:
        """Loss and accuracy: EP on a Hopfield model predicts from the free fixed point relaxed
        from zeros; backprop, and every rule on a predictive coding network (whose free
        equilibrium is its forward pass), from the feed-forward twin."""
        loss_sum, correct, stats_acc = 0.0, 0, {}
        was_training = self.model.training
        self.model.eval()  # BatchNorm (PCNs) reads its running statistics
        for x, y in self._batches(split, None):
            target = one_hot(y, self.num_classes, x.dtype)
            self.model.begin_batch()
            if self.cfg.algorithm == "bp" or getattr(self.model, "is_pcn", False):
                out = self.model.ff_forward(x)
            else:
                self.model.begin_phase()
                const = self.model.const_drive(x)
                sol = self.cfg.solver
                s, st = self.solver(self.model, const, self.model.zero_state(x.shape[0], x),
                                    iters=sol.free_iters, tol=sol.tol, damping=sol.damping)
                out = self.model.output(s)
                _accumulate(stats_acc, {"eval": st})
            loss_sum += self.model.cost(out, target).sum().item()
            correct += int((out.argmax(1) == y).sum())
        self.model.train(was_training)
        n = len(split)
        return loss_sum / n, correct / n, _summarize(stats_acc)

    def run_epoch(self, progress: bool = True) -> dict:
        from tqdm import tqdm

        cfg = self.cfg
        t0 = time.perf_counter()
        self.model.train()
        self.model.aux_kappa = aux_kappa(cfg, self.epoch)
        factor = lr_factor(cfg, self.epoch)
        for group in self.optimizer.param_groups:
            group["lr"] = group["base_lr"] * factor
        order = epoch_order(len(self.train_set), cfg.seed, self.epoch)
        n_batches = math.ceil(len(self.train_set) / cfg.data.batch_size)
        bar = tqdm(self._batches(self.train_set, order), total=n_batches, file=sys.stderr,
                   desc=f"epoch {self.epoch + 1}/{cfg.train.epochs}", leave=False,
                   disable=not progress or None, dynamic_ncols=True)
        loss_sum, correct, seen, stats_acc = 0.0, 0, 0, {}
        self.traces = {}
        pulses0 = self.pulse_counts() if self.model.device_card is not None else None
        for i, (x, y) in enumerate(bar):
            loss, c, stats = self.train_step(x, y)
            loss_sum += loss * x.shape[0]
            correct += c
            seen += x.shape[0]
            _accumulate(stats_acc, stats)
            bar.set_postfix(loss=f"{loss_sum / seen:.4f}", acc=f"{correct / seen:.3f}", refresh=False)
            if self.on_batch is not None:
                self.on_batch(self.epoch, i)
        bar.close()
        train_seconds = time.perf_counter() - t0
        row = {"epoch": self.epoch + 1, "train_loss": loss_sum / seen, "train_accuracy": correct / seen,
               "seconds": train_seconds, "lr_factor": factor}
        if self.model.aux_nodes:
            row["aux_kappa"] = self.model.aux_kappa
        if pulses0 is not None:  # pulses this epoch per layer (tile array), and per training step
            for i, (a, b) in enumerate(zip(pulses0, self.pulse_counts())):
                row[f"pulses_layer{i}"] = float(b - a)
            row["pulses_per_step"] = sum(b - a for a, b in zip(pulses0, self.pulse_counts())) / n_batches
        row.update(_summarize(stats_acc))
        for name, (total, count) in self.traces.items():  # lists: written to results.h5 group traces
            row[name] = (total / count).double().cpu().tolist()
        self.traces = {}
        last = self.epoch + 1 == cfg.train.epochs
        if (self.epoch + 1) % cfg.train.eval_every == 0 or last:
            t1 = time.perf_counter()
            row["test_loss"], row["test_accuracy"], est = self.evaluate(self.test_set)
            row["eval_seconds"] = time.perf_counter() - t1
            row.update(est)
            t_inf = cfg.analog.t_inference_s
            if last and t_inf is not None and cfg.analog.device is not None:
                from ..analog.mapping import drifted_weights

                with drifted_weights(self.model, t_inf):
                    row["test_loss_drift"], row["test_accuracy_drift"], _ = self.evaluate(self.test_set)
        self.epoch += 1
        self.history.append(row)
        return row


def _update_vectors(synapse, terms: list, lr: float, factor: torch.Tensor | None):
    """The outer-product vectors ``(d, x)`` of the step ``-lr * factor * sum c corr(post, pre)``
    (``delta = d.T @ x``), as the pulse trains of a bit-stream update carry them.

    A contrastive pair (EP: ``c corr(a, b) - c corr(a', b')``, the two phases) is sent as the exact
    identity ``a b^T - a' b'^T = ((a - a')(b + b')^T + (a + a')(b - b')^T) / 2``: each vector pair
    has one small factor (a difference of the phases' states, computed digitally in the periphery),
    so the stochastic trains carry the update itself rather than two large terms that would cancel
    only on average. Other terms (backprop: one per read) are sent as they are."""
    vecs = [(*synapse.update_vectors(post, pre), coef) for post, pre, coef in terms]
    if not vecs:
        return None
    if len(vecs) == 2 and vecs[0][2] == -vecs[1][2]:
        (d1, x1, c), (d2, x2, _) = vecs
        vecs = [(d1 - d2, x1 + x2, 0.5 * c), (d1 + d2, x1 - x2, 0.5 * c)]
    ds, xs = [], []
    for d, x, coef in vecs:
        scale = -lr * coef if factor is None else (-lr * coef) * factor.to(d.dtype)
        ds.append(d * scale)
        xs.append(x)
    return torch.cat(ds), torch.cat(xs)


def _accumulate(acc: dict, stats: dict) -> None:
    for phase, st in stats.items():
        a = acc.setdefault(phase, [0.0, 0.0, 0])
        a[0] += float(st.steps.float().sum())
        a[1] += float(st.converged.float().sum())
        a[2] += st.steps.numel()


def _summarize(acc: dict) -> dict:
    out = {}
    for phase, (steps, conv, n) in acc.items():
        out[f"{phase}_mean_steps"] = steps / n
        out[f"{phase}_converged_fraction"] = conv / n
    return out


def make_trainer(cfg: RunConfig, out_dir: str | Path | None, data=None, stored_card: dict | None = None) -> Trainer:
    """Wire a config into a trainer (data, model with its storage, optimizer, solver, teacher):
    the one path that train, bench and compare use. ``data``: an already loaded
    ``(train, test, info)``; ``stored_card``: a checkpoint's device record (resume)."""
    train_set, test_set, info = data if data is not None else load_data(cfg.data, cfg.seed)
    model = build_model(cfg, info.shape, info.num_classes, stored_card)
    opt = build_optimizer(cfg, model)
    est_gen = torch.Generator().manual_seed(cfg.seed + 1)
    teacher = Teacher(cfg.ep.teacher, info.shape, info.num_classes) if cfg.ep.teacher else None
    return Trainer(cfg, Path(out_dir if out_dir is not None else "."), train_set, test_set, info.num_classes,
                   model, opt, build_solver(cfg), est_gen=est_gen, prov=provenance(cfg), teacher=teacher)


def resume_trainer(ckpt_dir: str | Path, cfg: RunConfig, out_dir: str | Path | None = None) -> Trainer:
    """Continue the run in ``ckpt_dir`` with ``cfg`` (its own config plus overrides). The device
    card in effect comes from the checkpoint, never from the card file; the device, its
    ``device.*`` overrides and ``analog.update`` (which decides the stored state) cannot change
    on resume (the periphery shortcuts ``analog.*`` can); neither can the model, the dataset
    (:data:`RESUME_FIXED`), the algorithm or the seed, and ``train.epochs`` cannot drop below the
    epochs already done."""
    ckpt = load_checkpoint(Path(ckpt_dir) / "checkpoint.pt")
    old = load_config(None, [], base=yaml.safe_load(ckpt["config_yaml"]))
    changes = _identity_changes(old, cfg)
    if changes:
        key, a, b = changes[0]
        raise ConfigError(f"{key}: a resumed run keeps its model, data, algorithm, seed, device and update mode "
                          f"({a!r}); start a new run (--out) to use {b!r}")
    done = int(ckpt["epoch"])
    if cfg.train.epochs < done:
        raise ConfigError(f"train.epochs: the run in {ckpt_dir} has finished {done} epochs; pass "
                          f"train.epochs >= {done} (got {cfg.train.epochs})")
    trainer = make_trainer(cfg, out_dir or ckpt_dir, stored_card=ckpt.get("device"))
    trainer.load(ckpt)
    return trainer


RESUME_FIXED = ("analog.device", "analog.update", "algorithm", "seed", "data.name", "data.root", "data.shape", "data.num_classes",
                "data.train_size", "data.test_size")
"""Keys (besides every ``model.*`` and ``device.*`` key) that a resumed run cannot change: they
decide the weights' shapes and stored device state, the data and the random streams."""


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
    for k in sorted(set(old.device) | set(new.device)):
        if old.device.get(k) != new.device.get(k):
            out.append((f"device.{k}", old.device.get(k), new.device.get(k)))
    return out


def fit(trainer: Trainer, progress: bool = True, log: Callable[[dict], None] | None = None,
        warn: Callable[[str], None] | None = None) -> dict:
    """Train until ``cfg.train.epochs``; checkpoint and results after every epoch. After each
    epoch the history's health is checked (:mod:`.health`): the epoch where a problem first
    appears gives one ``warning: ...`` line (``warn``, default stderr), and the run ends with
    status ``unhealthy`` instead of ``finished``. Returns ``{"seconds", "status",
    "unhealthy_reason"}`` (reason None when healthy)."""
    if warn is None:
        def warn(line: str) -> None:
            print(line, file=sys.stderr, flush=True)
    if trainer.epoch == 0:
        trainer.save("running")
    t0 = time.perf_counter()
    try:
        while trainer.epoch < trainer.cfg.train.epochs:
            row = trainer.run_epoch(progress)
            trainer.save("running")
            if log is not None:
                log(row)
            problem = trainer.health()
            if problem is not None and problem[0] == row["epoch"]:
                warn(f"warning: {trainer.out_dir}: {problem[1]} (the run goes on; it will be marked unhealthy)")
    except DivergenceError:
        trainer.write_results("diverged")
        raise
    except KeyboardInterrupt:
        trainer.write_results("interrupted")
        raise
    trainer.write_results("finished")
    problem = trainer.health()
    return {"seconds": time.perf_counter() - t0, "status": "finished" if problem is None else "unhealthy",
            "unhealthy_reason": None if problem is None else problem[1]}
