"""``analog-ep deploy``: a finished run's trained weights programmed onto a card's tiles, and the
inference accuracy they keep, as programmed and (where the card drifts) t seconds later.

**What is programmed.** The final checkpoint's trained values: for a digital run its float
weights, for a run trained on tiles the weights its devices hold (``w_scale (w_dev +
write_offset)``); biases and other digital-periphery values as they are. They go onto the card's
tiles through the one builder (:func:`analog_ep.train.loop.make_trainer` with ``weights``): a
model of the run's config is loaded with them, then every synapse gets the
:class:`~analog_ep.analog.storage.AnalogStorage` training would give it on that card (its
device-to-device draws, weight mapping computed from the trained weights, periphery, tiling),
which programs them with :meth:`~analog_ep.analog.storage.AnalogStorage.program_weights`
(programming noise, levels, stuck-at faults, write noise on set).

**The deploy config** is the run's config (model, data, solver, compute, seed) with its
``analog.*`` keys back at their defaults and no ``device.*`` overrides (how the run was trained
does not leak into the hardware it is deployed on; an fp64 run deploys at the default
``compute.precision``: tiles are simulated in fp32), then ``analog.device=CARD`` and the
``--set`` overrides, which may name only :data:`DEPLOY_KEYS` (the card's parameters and
periphery, ``analog.*``, the solver's inference relaxation, ``compute.*``, where the data
lives and the batch size).

**Repeats** (``--repeats N``): repeat ``r`` is one programming of the same tiles (``r = 0``: the
builder's programming; ``r >= 1``: ``program_weights`` again, whose ``r``-th programming has its
own seeded stream) read with its own read-noise streams and, on a drifting card, its own draw of
the drift exponents: mean and std over the repeats. Everything is seeded by the analog seed
(``analog.seed``, default the run's seed): the same command gives the same numbers.

**Drift** (cards with ``drift_nu`` or ``drift_nu_std`` > 0, e.g. pcm): the accuracy at each of
``times`` without and with global drift compensation, evaluated by the drift study
(:class:`analog_ep.study.drift.DriftStudy`, the ``drift`` command's evaluation) on the
programmed network.

The result goes to ``DEPLOY/deploy.json`` (temporary file, renamed) in a deploy folder: by
default ``RUN/deploy/<card>-<hash>`` (hash of the card, overrides, times and repeats), or
``--out DIR``. A folder that already holds a ``deploy.json`` is refused unless ``--overwrite``;
a run, sweep or compare folder is always refused. The run's own files are never written. Bad
input (no finished run, unknown card, bad times) is refused before anything is loaded or
written.

:func:`deploy_or_reuse` is what ``sweep`` (a spec's ``deploy:`` section) and ``compare`` (its
``ep-deployed`` row) call: an existing ``deploy.json`` of the same settings and the same
checkpoint is reused, a stale one redone.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import hashlib
import json
import math
import time
from pathlib import Path
from typing import Callable

import yaml

from ..errors import AnalogEPError, ConfigError

DEFAULT_TIMES = (1.0, 3600.0, 86400.0, 31536000.0)
"""Seconds after programming: 1 s, 1 hour, 1 day, 1 year."""
DEPLOY_FILE = "deploy.json"
DEPLOY_KEYS = ("analog.", "device.", "solver.", "compute.", "data.root", "data.batch_size", "data.workers")
"""``--set`` keys a deployment may change (prefixes); everything else is the trained run's."""
STUDY_FILES = ("sweep.csv", "sweep.h5", "compare.csv", "compare.yaml")
NOTE = ("Drift lowers every conductance (G(t) = G0 (t/t0)^-nu), so without compensation every weight shrinks by "
        "a similar factor: accuracy can rise as the weights shrink where the programmed network drove outputs "
        "past the ADC bound or hidden units into saturation (smaller weights clip less), and falls once the "
        "spread of nu and the fixed read and output noise dominate the shrunken signal. Global drift "
        "compensation scales each layer back to its calibration read at t0, which restores the signal and "
        "that clipping alike.")
"""The table footer and the JSON ``note`` of a drifting card (README: "Train digitally, deploy on tiles")."""


# ---------------------------------------------------------------------------------- checks
def parse_repeats(repeats: int) -> int:
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ConfigError(f"--repeats: must be an integer >= 1, got {repeats!r}")
    return repeats


def check_times(times) -> list[float]:
    """Positive finite seconds: ``"1,3600"`` text as ``--times`` gives (at least one), or a list
    of numbers (empty: no drift evaluation, the accuracy as programmed only)."""
    if isinstance(times, str):
        from .drift import parse_times

        return parse_times(times)
    try:
        out = [float(t) for t in times]
    except (TypeError, ValueError):
        raise ConfigError(f"--times: need positive finite seconds such as 1,3600,86400, got {times!r}") from None
    if any(not math.isfinite(t) or t <= 0 for t in out) or any(isinstance(t, bool) for t in times):
        raise ConfigError(f"--times: need positive finite seconds such as 1,3600,86400, got {times!r}")
    return out


def check_overrides(overrides) -> list[str]:
    """The ``--set`` overrides of a deployment: each names a :data:`DEPLOY_KEYS` key."""
    out = []
    for o in overrides or []:
        key = o.split("=", 1)[0].strip()
        if key == "analog.device":
            raise ConfigError("--set analog.device: deploy takes the card as --device CARD")
        if "=" not in o or not any(key == k or (k.endswith(".") and key.startswith(k)) for k in DEPLOY_KEYS):
            valid = ", ".join(k + "*" if k.endswith(".") else k for k in DEPLOY_KEYS)
            raise ConfigError(f"--set {key}: deploy programs the run's trained network; only the hardware and "
                              f"inference keys can be set ({valid})")
        out.append(o)
    return out


def load_source(run_dir: str | Path) -> tuple[dict, dict, str]:
    """A finished run's checkpoint, its config (:func:`~analog_ep.train.checkpoint.stored_config`)
    and status; one-line errors when the folder holds no finished run."""
    from ..results import read_results
    from ..train.checkpoint import load_checkpoint, stored_config
    from .runner import DONE

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ConfigError(f"{run_dir}: no such run folder; pass the output folder of a finished train run")
    if not (run_dir / "results.h5").is_file() or not (run_dir / "checkpoint.pt").is_file():
        raise ConfigError(f"{run_dir}: holds no run (results.h5 and checkpoint.pt); pass the output folder of a "
                          "finished train run")
    status = read_results(run_dir / "results.h5")["status"]
    if status not in DONE:
        raise ConfigError(f"{run_dir}: the run is {status or 'of unknown status'}, not finished; finish it first "
                          f"(analog-ep train --resume {run_dir})")
    ckpt = load_checkpoint(run_dir / "checkpoint.pt")
    return ckpt, stored_config(ckpt, path=run_dir / "checkpoint.pt"), status


FP32_TOL_FLOOR = 1e-6
"""The smallest ``solver.tol`` a float32 relaxation can meet (float32's resolution at unit-scale
states is about 1.2e-7; a tighter tolerance only runs the whole budget)."""


def deploy_config(run_config, card: str, overrides: list[str]):
    """The deploy config: the run's (``run_config``, its run config: :func:`load_source`), with
    ``analog.*`` at its defaults, no ``device.*`` overrides and, for an fp64 run, the default
    ``compute.precision`` (tiles are simulated in fp32) and, where the run's ``solver.tol`` is
    below :data:`FP32_TOL_FLOOR` (vgg_crnn's digital default 1e-10), the default tolerance, then ``analog.device=card`` and
    ``overrides``; the card is resolved (an unknown card or an impossible override is refused
    here)."""
    from ..config import dump_yaml, load_config
    from ..compute import run_dtype
    from ..config.schema import AnalogConfig, ComputeConfig, SolverConfig
    from ..train.build import resolve_device
    from .runner import yaml_value

    if not isinstance(card, str) or not card.strip():
        raise ConfigError("--device: deploy needs a device card NAME or PATH (analog-ep devices list)")
    base = yaml.safe_load(dump_yaml(run_config))
    base["analog"] = dataclasses.asdict(AnalogConfig())
    base["device"] = {}
    if run_dtype(run_config.compute.precision) is not None:  # an fp64 run's weights go onto fp32-simulated tiles
        base["compute"]["precision"] = ComputeConfig().precision
        if run_config.solver.tol < FP32_TOL_FLOOR:  # a float64 tolerance no float32 sweep reaches
            base["solver"]["tol"] = SolverConfig().tol
    cfg = load_config(None, [f"analog.device={yaml_value(card)}", *overrides], base=base)
    resolve_device(cfg)
    return cfg


def settings_hash(card: str, overrides: list[str], times: list[float], repeats: int) -> str:
    """8 hex digits naming a deployment's settings (the default folder's suffix)."""
    text = json.dumps({"device": card, "set": list(overrides), "times": list(times), "repeats": repeats},
                      sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:8]


def default_out(run_dir: str | Path, card: str, overrides: list[str], times: list[float], repeats: int) -> Path:
    """``RUN/deploy/<card stem>-<settings hash>``."""
    name = Path(card).name
    stem = name[:-5] if name.endswith(".yaml") else name
    return Path(run_dir) / "deploy" / f"{stem}-{settings_hash(card, overrides, times, repeats)}"


def check_out(out: Path, overwrite: bool) -> None:
    """Refuse, writing nothing, a deploy folder that is a file, a run, sweep or compare folder,
    one that holds a deployment already (unless ``overwrite``) or one that cannot be written."""
    from ..rundir import check_out_dir, run_files

    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a folder; pick another --out")
    found = run_files(out) + [n for n in STUDY_FILES if (out / n).exists()]
    if found:
        raise ConfigError(f"{out}: is a run or study folder ({', '.join(found)}); a deployment gets its own "
                          "folder: pick another --out")
    if (out / DEPLOY_FILE).exists() and not overwrite:
        raise ConfigError(f"{out}: already holds a deployment ({DEPLOY_FILE}); replace it with --overwrite or "
                          "pick another --out")
    check_out_dir(out)


def checkpoint_digest(run_dir: str | Path) -> str:
    """SHA-256 of the run's ``checkpoint.pt`` (a deployment records which weights it programmed)."""
    h = hashlib.sha256()
    with open(Path(run_dir) / "checkpoint.pt", "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ------------------------------------------------------------------------------- weights
def digital_state(model) -> dict:
    """The state dict of ``model``'s digital twin: every synapse's storage replaced by its
    weight as the storage holds it (``<storage>.weight``), everything else as it is."""
    import torch

    storages = {id(syn.storage) for syn in model.all_synapses()}
    named = [(n, m) for n, m in model.named_modules() if id(m) in storages]
    prefixes = tuple(n + "." for n, _ in named)
    out = {k: v.detach().clone() if isinstance(v, torch.Tensor) else copy.deepcopy(v)  # counters' extra state
           for k, v in model.state_dict().items() if not k.startswith(prefixes)}
    with torch.no_grad():
        for n, m in named:
            out[n + ".weight"] = m.weight.detach().clone()
    return out


# ------------------------------------------------------------------------------- deploy
class Deployment:
    """A finished run's trained network programmed onto a card's tiles (nothing is written).

    ``study``: the :class:`~analog_ep.study.drift.DriftStudy` of the programmed network (its
    ``trainer`` holds the deploy config's model with the card's storages); ``targets``: the
    trained weight of every synapse (``model.all_synapses()`` order), what is programmed;
    ``trained_accuracy``: the trained network's own test accuracy, evaluated now;
    :meth:`program` programs repeat ``r``."""

    def __init__(self, run_dir: str | Path, card: str, overrides=(), ckpt: dict | None = None,
                 run_config=None):
        import torch

        from ..data import load_data
        from ..train.loop import make_trainer
        from .drift import DriftStudy

        self.run_dir = Path(run_dir)
        if ckpt is None or run_config is None:
            ckpt, run_config, _ = load_source(run_dir)
        self.cfg = deploy_config(run_config, card, check_overrides(overrides))
        src_card = ckpt.get("device")
        self.trained_on = src_card["name"] if src_card is not None else "digital"
        self.epochs = int(ckpt.get("epoch", 0))
        rng = torch.get_rng_state()  # make_trainer seeds the global RNG, load sets it: leave the caller's untouched
        try:
            data = load_data(self.cfg.data, self.cfg.seed)
            source = make_trainer(run_config, self.run_dir, data=data, stored_card=src_card)
            source.load(ckpt)
            _, self.trained_accuracy, _ = source.evaluate(source.test_set)
            with torch.no_grad():
                self.targets = [syn.weight.detach().clone() for syn in source.model.all_synapses()]
            weights = digital_state(source.model)
            del source
            trainer = make_trainer(self.cfg, None, data=data, weights=weights)
        finally:
            torch.set_rng_state(rng)
        self.storages = [syn.storage for syn in trainer.model.all_synapses()]
        self.study = DriftStudy.programmed(trainer, trainer.model.device_card.name, self.run_dir)
        self._programmed = 1  # the builder programmed repeat 0

    def program(self, r: int) -> None:
        """Repeat ``r``'s programming: the builder's for ``r = 0``; for ``r >= 1`` every storage's
        :meth:`~analog_ep.analog.storage.AnalogStorage.program_weights` of the trained weight,
        its ``r``-th programming (repeats are programmed in order: 1, 2, ...)."""
        if r == 0:
            return
        if r != self._programmed:
            raise ValueError(f"repeat {r}: program the repeats in order (next is {self._programmed})")
        for s, w in zip(self.storages, self.targets):
            s.program_weights(w)
        self._programmed += 1


def deploy_run(run_dir: str | Path, card: str, overrides=(), times=DEFAULT_TIMES, repeats: int = 1,
               out: str | Path | None = None, overwrite: bool = False, save: bool = True,
               log: Callable[[str], None] | None = None) -> dict:
    """Program the finished run in ``run_dir`` onto ``card``'s tiles and evaluate it (see the
    module docstring). Returns ``{"run", "run_status", "trained_on", "epochs",
    "run_test_accuracy" (the run's last recorded), "trained_accuracy" (the trained network
    re-evaluated on the test set), "device", "device_name", "analog_seed", "set", "repeats",
    "accuracy_mean", "accuracy_std" (population std over the repeats), "accuracies" (as
    programmed, per repeat), "loss_mean", "has_drift", "t0_s", "drift_nu", "drift_nu_std",
    "times", "rows" ([{"t_s", "compensation", "accuracy_mean", "accuracy_std", "accuracies",
    "draws", "loss_mean", "weight_abs_sum", "gain_mean"}], empty without drift or times), "note",
    "checkpoint_sha256", "config_yaml", "test_size", "seconds", "date", "out", "saved"}``; with
    ``save`` the same object is written to ``out/deploy.json`` (temporary file, renamed)."""
    import torch

    from ..config import dump_yaml
    from .drift import COMPENSATIONS

    say = log or (lambda s: None)
    t_start = time.perf_counter()
    run_dir = Path(run_dir)
    repeats = parse_repeats(repeats)
    times = check_times(times)
    overrides = check_overrides(overrides)
    ckpt, run_config, status = load_source(run_dir)
    deploy_config(run_config, card, overrides)  # the card and the overrides, before any folder is touched
    out = Path(out) if out is not None else default_out(run_dir, card, overrides, times, repeats)
    if save:
        check_out(out, overwrite)
    digest = checkpoint_digest(run_dir)
    dep = Deployment(run_dir, card, overrides, ckpt, run_config)
    cfg, study = dep.cfg, dep.study
    say(f"deploy {run_dir} (trained on {dep.trained_on}, {dep.epochs} epochs) onto {card}: "
        f"{repeats} repeat{'s' if repeats > 1 else ''}")
    drifting = study.has_drift
    comps = COMPENSATIONS if drifting and times else ()
    rng = torch.get_rng_state()
    try:
        res = study.run(times if comps else [], repeats, comps, prepare=dep.program, programmed=True)
    finally:
        torch.set_rng_state(rng)
    prog = res["programmed"]
    tested = [r for r in ckpt.get("history", []) if "test_accuracy" in r]
    result = {
        "run": str(run_dir), "run_status": status, "trained_on": dep.trained_on, "epochs": dep.epochs,
        "run_test_accuracy": tested[-1]["test_accuracy"] if tested else None,
        "trained_accuracy": dep.trained_accuracy, "device": card, "device_name": res["device"],
        "analog_seed": cfg.seed if cfg.analog.seed is None else cfg.analog.seed, "set": list(overrides),
        "repeats": repeats, "accuracy_mean": prog["accuracy_mean"], "accuracy_std": prog["accuracy_std"],
        "accuracies": prog["accuracies"], "loss_mean": prog["loss_mean"], "has_drift": drifting,
        "t0_s": res["t0_s"], "drift_nu": res["drift_nu"], "drift_nu_std": res["drift_nu_std"],
        "times": times, "rows": res["rows"],
        "note": NOTE if drifting else (f"card {res['device']} has no drift (drift_nu = 0, drift_nu_std = 0): "
                                       "the accuracy is the same at every time after programming"),
        "checkpoint_sha256": digest, "config_yaml": dump_yaml(cfg), "test_size": len(study.trainer.test_set),
        "seconds": time.perf_counter() - t_start,
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "out": str(out), "saved": None,
    }
    if save:
        from .runner import write_text

        out.mkdir(parents=True, exist_ok=True)
        path = out / DEPLOY_FILE
        write_text(path, json.dumps({**result, "saved": str(path)}, indent=1) + "\n")
        result["saved"] = str(path)
    return result


def deploy_or_reuse(run_dir: str | Path, card: str, overrides=(), times=DEFAULT_TIMES, repeats: int = 1,
                    log: Callable[[str], None] | None = None) -> tuple[dict, bool]:
    """A study's deployment of a finished run into its default folder: the saved result when that
    folder's ``deploy.json`` was made from the same checkpoint (``(result, True)``), else a new
    deployment replacing it (``(result, False)``)."""
    times = check_times(times)
    overrides = check_overrides(overrides)
    out = default_out(run_dir, card, overrides, times, repeats)
    path = out / DEPLOY_FILE
    if path.is_file() and (Path(run_dir) / "checkpoint.pt").is_file():
        try:
            old = json.loads(path.read_text())
        except (OSError, ValueError):
            old = None
        if isinstance(old, dict) and old.get("checkpoint_sha256") == checkpoint_digest(run_dir):
            return old, True
    return deploy_run(run_dir, card, overrides, times, repeats, out=out, overwrite=True, log=log), False


# ------------------------------------------------------------------------- studies
@dataclasses.dataclass(frozen=True)
class DeploySpec:
    """A sweep spec's ``deploy:`` section: every completed point is deployed onto each card."""
    devices: tuple[str, ...]
    """Device card names or YAML paths (``--device`` of each deployment)."""
    set: tuple[str, ...] = ()
    """``KEY=VALUE`` overrides of every deployment (:data:`DEPLOY_KEYS` only)."""
    times: tuple[float, ...] = DEFAULT_TIMES
    """Seconds after programming at which drifting cards are evaluated."""
    repeats: int = 1
    """Programmings per deployment (mean and std over them)."""


DEPLOY_SPEC_KEYS = ("devices", "set", "times", "repeats")
DEPLOY_COLUMNS = ("device", "t_s", "compensation", "accuracy_mean", "accuracy_std", "repeats",
                  "trained_accuracy", "status", "error", "deploy_folder")
"""Columns of a sweep's deploy table after the point's swept keys and seed."""


def parse_deploy_spec(data, where: str = "") -> DeploySpec | None:
    """Check a spec's ``deploy:`` section (``{devices: [CARD, ...], set: {KEY: VALUE},
    times: [s, ...], repeats: N}``): keys, the cards (resolved with the overrides on the
    default config), times, repeats; one-line errors naming the spec and the key."""
    from .runner import yaml_value

    if data is None:
        return None
    if not isinstance(data, dict):
        raise ConfigError(f"{where}deploy: expected a mapping such as {{devices: [memristor, pcm]}}, got {data!r}")
    for k in data:
        if k not in DEPLOY_SPEC_KEYS:
            raise ConfigError(f"{where}deploy.{k}: unknown key; valid keys: "
                              f"{', '.join('deploy.' + v for v in DEPLOY_SPEC_KEYS)}")
    devices = data.get("devices")
    if not isinstance(devices, list) or not devices or not all(isinstance(d, str) and d for d in devices):
        raise ConfigError(f"{where}deploy.devices: expected a non-empty list of device cards such as "
                          f"[memristor, pcm], got {devices!r}")
    sets = data.get("set") or {}
    if not isinstance(sets, dict) or not all(isinstance(k, str) for k in sets):
        raise ConfigError(f"{where}deploy.set: expected a mapping such as {{analog.out_bits: 8}}, got {sets!r}")
    repeats = data.get("repeats", 1)
    times = data.get("times", list(DEFAULT_TIMES))
    if not isinstance(times, list):
        raise ConfigError(f"{where}deploy.times: expected a list of seconds such as [1, 86400], got {times!r}")
    try:
        overrides = check_overrides([f"{k}={yaml_value(v)}" for k, v in sets.items()])
        times = check_times(times)
        parse_repeats(repeats)
        from ..config import load_config
        from ..train.build import resolve_device

        for d in devices:
            resolve_device(load_config(None, [f"analog.device={yaml_value(d)}", *overrides]))
    except ConfigError as e:
        msg = str(e)
        for flag, key in (("--set ", "deploy.set."), ("--times", "deploy.times"), ("--repeats", "deploy.repeats")):
            msg = msg.replace(flag, key, 1) if msg.startswith(flag) else msg
        raise ConfigError(f"{where}{msg}") from None
    return DeploySpec(tuple(devices), tuple(overrides), tuple(times), int(repeats))


def result_rows(r: dict) -> list[dict]:
    """A deployment as table rows: as programmed (``t_s`` and ``compensation`` empty), then one
    row per time and compensation."""
    base = {"device": r["device"], "repeats": r["repeats"], "trained_accuracy": r["trained_accuracy"],
            "status": "finished", "error": None, "deploy_folder": r["out"]}
    rows = [{**base, "t_s": None, "compensation": None, "accuracy_mean": r["accuracy_mean"],
             "accuracy_std": r["accuracy_std"]}]
    rows += [{**base, "t_s": row["t_s"], "compensation": row["compensation"], "accuracy_mean": row["accuracy_mean"],
              "accuracy_std": row["accuracy_std"]} for row in r["rows"]]
    return rows


def deploy_points(spec: DeploySpec, points: list[tuple[dict, Path, str]], keys: list[str], out: Path,
                  log: Callable[[str], None] | None = None) -> dict:
    """Deploy every completed point (``(swept values with "seed", folder, status)``) onto each of
    ``spec.devices`` (:func:`deploy_or_reuse`: a rerun reuses what was deployed from the same
    checkpoint) and write ``out/deploy.csv`` and ``out/deploy.h5`` (one row per point, card and
    evaluation; a point not completed, or a failed deployment, one row with its status and
    error). Returns ``{"table", "rows", "ran", "reused", "failed"}``."""
    from .runner import DONE, one_line, write_table

    say = log or (lambda s: None)
    rows, ran, reused, failed = [], 0, 0, 0
    for values, folder, status in points:
        head = {**{k: values.get(k) for k in keys}, "seed": values.get("seed")}
        for card in spec.devices:
            empty = {c: None for c in DEPLOY_COLUMNS}
            if status not in DONE:
                rows.append({**head, **empty, "device": card, "status": "not trained",
                             "error": f"the point is {status}"})
                failed += 1
                continue
            try:
                r, old = deploy_or_reuse(folder, card, spec.set, spec.times, spec.repeats)
            except AnalogEPError as e:
                rows.append({**head, **empty, "device": card, "status": "failed", "error": one_line(e)})
                failed += 1
                say(f"deploy {folder.name} onto {card}: failed: {one_line(e)}")
                continue
            reused += old
            ran += not old
            rows += [{**head, **row} for row in result_rows(r)]
            if not old:
                say(f"deploy {folder.name} onto {card}: {r['accuracy_mean']:.4f} as programmed "
                    f"(trained {r['trained_accuracy']:.4f})")
    columns = [*keys, "seed", *DEPLOY_COLUMNS]
    table = write_table(rows, columns, out / "deploy.csv", out / "deploy.h5",
                        numeric=("t_s", "accuracy_mean", "accuracy_std", "trained_accuracy"))
    return {"table": str(table), "rows": len(rows), "ran": ran, "reused": reused, "failed": failed}


def hardware_overrides(cfg) -> list[str]:
    """``cfg``'s hardware as deploy overrides: its ``analog.*`` keys that differ from the
    defaults (the card excepted) and its ``device.*`` overrides."""
    from ..config.schema import AnalogConfig
    from .runner import yaml_value

    default = dataclasses.asdict(AnalogConfig())
    analog = dataclasses.asdict(cfg.analog)
    return ([f"analog.{k}={yaml_value(v)}" for k, v in analog.items() if k != "device" and v != default[k]]
            + [f"device.{k}={yaml_value(v)}" for k, v in cfg.device.items()])


def compare_row(cfg, folders: list[Path], columns: list[str], name: str = "ep-deployed") -> dict:
    """``compare``'s "trained digital, deployed" row: each seed's finished digital run
    (``folders``) programmed onto the compare's card with its hardware settings
    (:func:`hardware_overrides`), accuracy as programmed (mean and sample std over the seeds,
    as the other rows); the columns a deployment has no value for are empty."""
    from ..rundir import device_name
    from .runner import folder_status, mean, one_line, std

    accs, errs = [], []
    overrides = hardware_overrides(cfg)
    for f in folders:
        status = folder_status(f)
        if status != "finished":
            errs.append(f"{f.name}: {status}")
            continue
        try:
            r, _ = deploy_or_reuse(f, cfg.analog.device, overrides, ())
            accs.append(r["accuracy_mean"])
        except AnalogEPError as e:
            errs.append(f"{f.name}: {one_line(e)}")
    row = {c: None for c in columns}
    row.update({"name": name, "algorithm": "ep", "device": device_name(cfg), "seeds": len(folders),
                "finished": len(accs), "test_accuracy_mean": mean(accs), "test_accuracy_std": std(accs),
                "status": "finished" if not errs else "failed", "error": "; ".join(errs) or None})
    return {c: row[c] for c in columns}


# -------------------------------------------------------------------------------- output
def format_result(r: dict) -> list[str]:
    """The one-screen table of a deployment."""
    def acc(mean, std):
        return f"{mean:.4f} +- {std:.4f}"

    lines = [f"{r['run']} ({r['run_status']}, trained on {r['trained_on']}, {r['epochs']} epochs): "
             f"trained accuracy {r['trained_accuracy']:.4f} on {r['test_size']} test images",
             f"deployed on {r['device_name']}"
             + (f" with {' '.join('--set ' + s for s in r['set'])}" if r["set"] else "")
             + f", {r['repeats']} repeat{'s' if r['repeats'] > 1 else ''} (programming, read noise"
             + (", drift exponents" if r["has_drift"] else "") + f"; analog seed {r['analog_seed']})",
             f"{'as programmed':>14s}  {acc(r['accuracy_mean'], r['accuracy_std'])}"]
    if r["rows"]:
        rows = {(row["t_s"], row["compensation"]): row for row in r["rows"]}
        lines.append(f"{'t (s)':>14s}  {'no compensation':>16s}  {'global drift comp.':>18s}")
        for t in r["times"]:
            cells = [acc(rows[(t, c)]["accuracy_mean"], rows[(t, c)]["accuracy_std"])
                     if (t, c) in rows else "-" for c in ("none", "global")]
            lines.append(f"{t:14g}  {cells[0]:>16s}  {cells[1]:>18s}")
        lines.append(f"drift nu {r['drift_nu']:g} +- {r['drift_nu_std']:g}, t0 {r['t0_s']:g} s "
                     f"(times up to t0 read the programmed weights)")
    lines.append(f"note: {r['note']}")
    if r.get("saved"):
        lines.append(f"wrote {r['saved']}")
    return lines


__all__ = ["DEFAULT_TIMES", "DEPLOY_COLUMNS", "DEPLOY_FILE", "DEPLOY_KEYS", "DeploySpec", "Deployment", "NOTE",
           "check_overrides", "check_times", "compare_row", "default_out", "deploy_config", "deploy_or_reuse", "deploy_points",
           "deploy_run", "digital_state", "format_result", "hardware_overrides", "load_source",
           "parse_deploy_spec", "result_rows"]
