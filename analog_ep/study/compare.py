"""``analog-ep compare``: digital EP, analog EP (the card's update mode as configured, and mixed
precision) and the backprop twin (digital and on the same tiles) on the same data, initialization
and seeds.

Each variant x seed is an ordinary run folder ``DIR/<variant>-seed<k>``; the runs go one after
another in this process and share one data load. A rerun of the same command (same resolved
config and seeds, recorded in ``DIR/compare.yaml``) skips the finished runs and resumes the
interrupted ones (the study runner's :func:`~analog_ep.study.runner.run_folder`, as ``sweep``).
``DIR/compare.csv`` has one row per variant (mean and std over seeds); ``DIR/curves.png`` /
``curves.svg`` draw test accuracy per epoch (mean and min-max band over seeds).

What the learning costs (issue 19; the last epoch's figures of each run's ``results.h5``, mean
over the finished seeds): the variants on tiles (``ep-analog``, ``ep-mixed``, ``bp-analog`` =
backprop on the same chip) fill ``energy_per_sample_j_mean``, ``latency_per_sample_s_mean`` (per
training sample) and ``area_mm2_mean`` (:data:`CHIP_COSTS`); the digital variants (``ep-digital``
= digital EP on a GPU, ``bp-digital`` = the GPU backprop estimate) fill
``gpu_energy_per_sample_j_mean`` and ``gpu_latency_per_sample_s_mean`` (:data:`GPU_COSTS`), so
the four stand in one table beside their accuracy. Empty where unknown (a card without write
physics) or absent (older runs).

``grad_cosine_layerI`` (analog EP variants) is measured at initialization: for each seed the
analog and the digital model are built from the same config and seed (same initial weights),
:func:`~analog_ep.algorithms.ep.ep_gradient` runs on each of the first
:data:`COSINE_BATCHES` training batches of epoch 1 with both, and the cosine per layer (a weight
with the bias of the node it feeds, ``model.layer_groups()``) of the summed estimates is taken;
the row holds the mean over seeds. Cached in ``DIR/grad_cosine.json``.

The ``ep-deployed`` row ("trained digital, deployed") sits beside ``ep-analog`` ("trained on
tiles"): each seed's finished ``ep-digital`` run programmed onto the same card with the same
hardware settings (:func:`analog_ep.study.deploy.compare_row`, ``analog-ep deploy``'s path; the
deployment lives in ``ep-digital-seed<k>/deploy/<card>-<hash>/`` and is reused while that run's
checkpoint is unchanged), test accuracy as programmed.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from pathlib import Path
from typing import Any, Callable

import yaml

from ..config import dump_yaml, load_config
from ..config.loader import STORED_CIRCUIT_DEFAULTS
from ..config.relaxations import with_algorithm
from ..config.schema import AnalogConfig
from ..errors import AnalogEPError, ConfigError, Preempted
from ..rundir import check_out_dir, claim_run_dir, device_name, remove_run_files, run_files
from .costcols import fmt_cost, last_epoch
from .runner import (DONE, check_study_dir, last_finite, mean, one_line, open_study_dir,
                     read_epochs, run_folder, std, write_curves, write_table, write_text)

VARIANTS = (
    # name, algorithm, on the device's tiles, analog.update override
    ("ep-digital", "ep", False, None),
    ("ep-analog", "ep", True, None),
    ("ep-mixed", "ep", True, "mixed"),
    ("bp-digital", "bp", False, None),
    ("bp-analog", "bp", True, None),
)
CHIP_COSTS = ("energy_per_sample_j", "latency_per_sample_s", "area_mm2")
"""Per-epoch cost metrics of a variant on tiles (``<metric>_mean`` columns)."""
GPU_COSTS = ("gpu_energy_per_sample_j", "gpu_latency_per_sample_s")
"""Per-epoch GPU estimates of a digital variant (``<metric>_mean`` columns)."""
COSINE_BATCHES = 4
GRAD_COSINE_AT = "initialization"
SPEC_FILE, TABLE_FILE, COSINE_FILE = "compare.yaml", "compare.csv", "grad_cosine.json"
FIGURES = ("curves.png", "curves.svg")


# ----------------------------------------------------------------------------- configs
def variant_config(base, algorithm: str, analog: bool, update: str | None, seed: int) -> dict:
    """One variant's config (plain YAML data) from the resolved base config ``base`` (a run
    config): the algorithm and seed set (the algorithm by
    :func:`~analog_ep.config.relaxations.with_algorithm`: a variant whose algorithm the base
    config's relaxation does not run, backprop on tiles beside a settle, gets the default
    ``analog.relaxation`` and ``analog.settle_*``, so an EP settle on the card compares with
    backprop on the same tiles); a digital variant drops the device and every ``analog.*`` /
    ``device.*`` key; the mixed variant sets ``analog.update=mixed`` (with rounded pulses:
    bitstream needs pulsed); a variant other than ``pc`` drops the predictive-coding inference
    keys."""
    d = yaml.safe_load(dump_yaml(with_algorithm(base, algorithm)))
    d["seed"] = seed
    if algorithm != "pc" and isinstance(d.get("pc"), dict):  # PC-only keys (a pc base config)
        d["pc"] = {"nudged_update": d["pc"].get("nudged_update", "mod_pgd")}
    if not analog:
        d["analog"] = dataclasses.asdict(AnalogConfig())
        d["device"] = {}
    elif update is not None:
        d["analog"]["update"] = update
        if update != "pulsed":  # the pulse-train keys schedule pulsed updates only
            d["analog"]["pulse_scheme"] = "rounded"
            for key in ("pulse_accumulation", "bl_management", "update_management", "rounding"):
                d["analog"][key] = None
    return d


def build_variants(config: str | Path | None, overrides: list[str], seeds: int) -> tuple[Any, list[dict]]:
    """The base config and every run ``{"variant", "seed", "name", "config", "cfg"}`` (seeds
    inner), each validated (the device card too) before anything is written."""
    if seeds < 1:
        raise ConfigError(f"--seeds: must be >= 1, got {seeds}")
    cfg = load_config(config, overrides)
    if cfg.algorithm != "ep":  # each variant sets its own algorithm: another one would be silently dropped
        raise ConfigError(f"algorithm: compare trains its own variants ({', '.join(v[0] for v in VARIANTS)}: "
                          f"EP and the backprop twin), so algorithm {cfg.algorithm!r} would be ignored; drop it "
                          "(--set algorithm=ep), or train it alone with analog-ep train")
    if cfg.analog.device is None:
        raise ConfigError("--device: compare needs a device card for its analog variants; add --device NAME "
                          "(e.g. --device memristor; analog-ep devices list)")
    from ..train.build import resolve_device

    runs = []
    for name, algorithm, analog, update in VARIANTS:
        for k in range(seeds):
            seed = cfg.seed + k
            d = variant_config(cfg, algorithm, analog, update, seed)
            try:
                vcfg = load_config(None, [], base=d)
                if analog and k == 0:
                    resolve_device(vcfg)
            except ConfigError as e:
                raise ConfigError(f"{e} (variant {name})") from None
            runs.append({"variant": name, "seed": seed, "name": f"{name}-seed{seed}",
                         "config": yaml.safe_load(dump_yaml(vcfg)), "cfg": vcfg})
    return cfg, runs


def _identity(cfg, seeds: int) -> dict:
    return {"config": yaml.safe_load(dump_yaml(cfg)), "seeds": [cfg.seed + k for k in range(seeds)],
            "variants": [v[0] for v in VARIANTS]}


_NEURON_KEYS = tuple(f"config.analog.{k}" for k in STORED_CIRCUIT_DEFAULTS)
_NEURON_FIX = " ".join(f"--set analog.{k}={v!r}" for k, v in STORED_CIRCUIT_DEFAULTS.items())


def _as_loaded(old: Any) -> Any:
    """A stored ``compare.yaml`` identity with its config read as a stored config is
    (:func:`~analog_ep.config.load_config` with ``base``: the keys added since with the values it
    ran with, the pre-session-15 neuron constants of a relaxation without them nulled), dumped as
    :func:`_identity` dumps today's; unchanged where it does not load (the comparison names it)."""
    if not isinstance(old, dict) or not isinstance(old.get("config"), dict):
        return old
    try:
        cfg = load_config(None, [], base=old["config"])
    except ConfigError:
        return old
    return {**old, "config": yaml.safe_load(dump_yaml(cfg))}


def _first_difference(a: Any, b: Any, key: str = "") -> str | None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in list(a) + [k for k in b if k not in a]:
            d = _first_difference(a.get(k), b.get(k), f"{key}.{k}" if key else str(k))
            if d:
                return d
        return None
    return None if a == b else f"{key}: {a!r} there, {b!r} now"


def prepare_out(out: Path | None, cfg, seeds: int, runs: list[dict], overwrite: bool,
                now: datetime.datetime | None = None) -> tuple[Path, bool]:
    """The compare folder, checked before anything is written: a default one is new
    (``compares/<time>-<model>-<card>``, claimed atomically); ``--out DIR`` holding the same compare
    (``compare.yaml``) continues it, a different compare or runs of its own are refused unless
    ``overwrite`` (which deletes the run files of its variant folders and its tables, nothing else);
    a folder of another kind of study (a sweep's) or a run folder is refused even then
    (:func:`~analog_ep.study.runner.open_study_dir`). Returns the folder and whether it was
    started afresh."""
    ident = _identity(cfg, seeds)
    if out is None:
        stamp = (now or datetime.datetime.now()).strftime("%Y%m%d-%H%M%S")
        out = open_study_dir(claim_run_dir(Path("compares") / f"{stamp}-{cfg.model.name}-{device_name(cfg)}"),
                             "compare")
        write_text(out / SPEC_FILE, yaml.safe_dump(ident, sort_keys=False))
        return out, True
    out = Path(out)
    check_study_dir(out, "compare")  # a sweep's folder or a run folder: refused even with --overwrite
    check_out_dir(out)  # a file, an unwritable place or a run folder itself: refused even with --overwrite
    spec = out / SPEC_FILE
    taken = [r["name"] for r in runs if run_files(out / r["name"])]
    if spec.is_file():
        try:
            old = yaml.safe_load(spec.read_text())
        except (OSError, yaml.YAMLError):
            old = None
        old = _as_loaded(old)
        if old != ident and not overwrite:
            diff = _first_difference(old, ident) if isinstance(old, dict) else f"unreadable {spec}"
            if diff and diff.split(":", 1)[0] in _NEURON_KEYS:
                diff += (f"; a settle compare stored before session 15 ran the 100 fF / 1 uS neuron (null now: the "
                         f"card's): continue it with {_NEURON_FIX}")
            raise ConfigError(f"{out}: holds a different compare ({diff}); rerun its own command to continue it, "
                              "replace it with --overwrite, or pick another --out")
        if old == ident and not overwrite:
            return open_study_dir(out, "compare"), False
    elif taken and not overwrite:
        raise ConfigError(f"{out}: already holds runs ({', '.join(taken[:3])}{', ...' if len(taken) > 3 else ''}) "
                          "but no compare.yaml; replace them with --overwrite or pick another --out")
    open_study_dir(out, "compare")
    if overwrite:
        for r in runs:
            if (out / r["name"]).is_dir():
                remove_run_files(out / r["name"])
        for name in (TABLE_FILE, COSINE_FILE, *FIGURES):
            (out / name).unlink(missing_ok=True)
    write_text(spec, yaml.safe_dump(ident, sort_keys=False))
    return out, True


# --------------------------------------------------------------------------------- runs
class _DataCache:
    """One data load per distinct data config (and seed, for the seeded synthetic set)."""

    def __init__(self):
        self._cache: dict[str, tuple] = {}

    def get(self, cfg):
        from ..data import load_data

        d = dataclasses.asdict(cfg.data)
        key = json.dumps([d, cfg.seed if cfg.data.name == "synthetic" else None], sort_keys=True, default=str)
        if key not in self._cache:
            self._cache[key] = load_data(cfg.data, cfg.seed)
        return self._cache[key]


def _cosine(a, b) -> float:
    na, nb = float(a.norm()), float(b.norm())
    if na == 0.0 or nb == 0.0:
        return 1.0 if na == nb else 0.0
    return max(-1.0, min(1.0, float((a @ b) / (na * nb))))


def grad_cosines(analog_cfg, data, batches: int = COSINE_BATCHES) -> list[float]:
    """Per-layer cosine between the analog and the digital EP gradient estimates, each summed over
    the first ``batches`` training batches of epoch 1, both models built from the same config and
    seed (the digital one without the device) and relaxed from zeros."""
    import torch

    from ..train.build import aux_kappa
    from ..train.loop import epoch_order, make_trainer, one_hot

    dig_cfg = load_config(None, [], base=variant_config(analog_cfg, "ep", False, None, analog_cfg.seed))
    sums = []
    for cfg in (analog_cfg, dig_cfg):
        tr = make_trainer(cfg, None, data=data)
        model = tr.model
        model.train()
        model.aux_kappa = aux_kappa(cfg, 0)
        total = None
        for i, (x, y) in enumerate(tr.batches(tr.train_set, epoch_order(len(tr.train_set), cfg.seed, 0))):
            if i == batches:
                break
            model.begin_batch()
            target = one_hot(y, tr.num_classes, x.dtype)
            if tr.teacher is not None and model.aux_nodes:
                target = (target, tr.teacher.soft_targets(x, target, cfg.ep.kd_alpha, cfg.ep.kd_temperature))
            tr.rule.reset()  # every batch relaxes from zeros (no warm start)
            res = tr.rule.step(x, target, x.shape[0])
            g = [t.detach().double().clone() for t in res.grads]
            total = g if total is None else [a + b for a, b in zip(total, g)]
        index = {id(p): i for i, p in enumerate(model.ep_parameters())}
        sums.append([torch.cat([total[index[id(p)]].reshape(-1) for p in group]) for group in model.layer_groups()])
    return [_cosine(a, b) for a, b in zip(*sums)]


# ------------------------------------------------------------------------------- table
STATUS_ORDER = ("failed", "diverged", "interrupted", "preempted", "running", "missing", "corrupt")


def build_rows(out: Path, runs: list[dict], errors: dict[str, str], cosines: dict,
               outcomes: dict[str, str] | None = None) -> tuple[list[dict], list[str]]:
    """One row per variant (metrics over its finished seeds) and the column order. ``errors``:
    this invocation's one line per run that ran and did not finish; such a run's status is the
    one the runner returned (``outcomes``: a fresh divergence stays ``diverged``), else
    ``failed``, never its folder's older ``results.h5`` status (a refused run leaves its folder
    untouched: a ``diverged`` there is an earlier run's)."""
    import numpy as np

    by_variant: dict[str, list[dict]] = {}
    for r in runs:
        by_variant.setdefault(r["variant"], []).append(r)
    read = {r["name"]: read_epochs(out / r["name"]) for r in runs}
    n_pulse = max([int(k[len("pulses_layer"):]) + 1 for _, ep in read.values() for k in ep
                   if k.startswith("pulses_layer")] or [0])
    n_cos = max([len(c) for per_seed in cosines.values() for c in per_seed.values()] or [0])
    rows = []
    for name, algorithm, analog, update in VARIANTS:
        vr = by_variant[name]
        cfg = vr[0]["cfg"]
        statuses = [((outcomes or {}).get(r["name"]) or "failed") if errors.get(r["name"]) else read[r["name"]][0]
                    for r in vr]
        done = [read[r["name"]][1] for r, s in zip(vr, statuses) if s == "finished"]
        bad = [s for s in statuses if s != "finished"]
        status = "finished" if not bad else min(bad, key=lambda s: STATUS_ORDER.index(s) if s in STATUS_ORDER else 0)
        errs = [f"{r['name']}: {errors[r['name']]}" for r in vr if errors.get(r["name"])]
        test = [last_finite(ep, "test_accuracy") for ep in done]
        row = {"name": name, "algorithm": algorithm, "device": device_name(cfg) or "digital",
               "update": cfg.analog.update if analog else None, "seeds": len(vr), "finished": len(done),
               "test_accuracy_mean": mean(test), "test_accuracy_std": std(test),
               "train_accuracy_mean": mean([last_finite(ep, "train_accuracy") for ep in done])}
        for i in range(n_pulse):
            key = f"pulses_layer{i}"
            row[key] = (mean([float(np.nansum(ep.get(key, np.array([0.0])))) for ep in done])
                        if analog else (0.0 if done else None))
        row["seconds_per_epoch_mean"] = mean([float(np.mean(ep["seconds"])) for ep in done
                                               if np.asarray(ep.get("seconds", [])).size])
        for key in (*CHIP_COSTS, *GPU_COSTS):  # a chip row's chip figures, a digital row's GPU estimate
            mine = key in (CHIP_COSTS if analog else GPU_COSTS)
            row[f"{key}_mean"] = mean([last_epoch(ep, key) for ep in done]) if mine else None
        for i in range(n_cos):
            vals = [c[i] for c in cosines.get(name, {}).values() if c is not None and i < len(c)]
            row[f"grad_cosine_layer{i}"] = mean(vals) if algorithm == "ep" and analog else None
        row["status"] = status
        row["error"] = "; ".join(errs) if errs and status != "finished" else None
        rows.append(row)
    columns = list(rows[0]) if rows else []
    return rows, columns


def write_csv(rows: list[dict], columns: list[str], path: Path) -> Path:
    """The table, written to a temporary file and renamed (empty cell: no value)."""
    return write_table(rows, columns, path)


def write_figures(out: Path, runs: list[dict]) -> list[str]:
    """``curves.png`` and ``curves.svg``: test accuracy per epoch per variant, mean over seeds
    with a min-max band (epochs that every plotted seed evaluated)."""
    groups = {name: [out / r["name"] for r in runs if r["variant"] == name] for name, *_ in VARIANTS}
    return write_curves(out, groups, Path(FIGURES[0]).stem)


def _cost_cells(r: dict) -> tuple[str, str, str, str]:
    """Energy and latency per training sample, area and where (``chip``: the variant on tiles,
    ``gpu``: the GPU estimate of a digital variant) of a row, as text."""
    if any(r.get(f"{k}_mean") is not None for k in CHIP_COSTS):
        return (fmt_cost(r.get("energy_per_sample_j_mean"), "J"), fmt_cost(r.get("latency_per_sample_s_mean"), "s"),
                fmt_cost(r.get("area_mm2_mean"), "mm2"), "chip")
    if any(r.get(f"{k}_mean") is not None for k in GPU_COSTS):
        return (fmt_cost(r.get("gpu_energy_per_sample_j_mean"), "J"),
                fmt_cost(r.get("gpu_latency_per_sample_s_mean"), "s"), "-", "gpu")
    return "-", "-", "-", "-"


def format_rows(rows: list[dict]) -> list[str]:
    """A readable table: accuracy mean +- std, train accuracy, pulses (all layers), s/epoch, the
    cost per training sample (energy, latency; area on the chip; ``on``: chip or GPU estimate)
    and the grad cosines per layer."""
    cos = [c for c in (rows[0] if rows else {}) if c.startswith("grad_cosine_layer")]
    pulses = [c for c in (rows[0] if rows else {}) if c.startswith("pulses_layer")]

    def num(v, fmt):
        return "-" if v is None else format(v, fmt)

    head = (f"{'variant':11s} {'status':9s} {'seeds':>5s} {'test acc':>16s} {'train acc':>9s} {'pulses':>10s} "
            f"{'s/epoch':>8s} {'energy/sample':>13s} {'latency/sample':>14s} {'area':>12s} {'on':>4s}"
            + "".join(f" {'cos L' + c[len('grad_cosine_layer'):]:>8s}" for c in cos))
    lines = [head]
    for r in rows:
        test = ("-" if r["test_accuracy_mean"] is None
                else f"{r['test_accuracy_mean']:.4f} +- {r['test_accuracy_std']:.4f}")
        p = [r[c] for c in pulses if r[c] is not None]
        lines.append(f"{r['name']:11s} {r['status']:9s} {r['finished']:>2d}/{r['seeds']:<2d} {test:>16s} "
                     f"{num(r['train_accuracy_mean'], '.4f'):>9s} {num(sum(p) if p else None, '.4g'):>10s} "
                     f"{num(r['seconds_per_epoch_mean'], '.3g'):>8s} "
                     + "{:>13s} {:>14s} {:>12s} {:>4s}".format(*_cost_cells(r))
                     + "".join(f" {num(r[c], '.4f'):>8s}" for c in cos))
    return lines


# ----------------------------------------------------------------------------- compare
def run_compare(config: str | Path | None, overrides: list[str], seeds: int = 3, out: str | Path | None = None,
                overwrite: bool = False, log: Callable[[str], None] | None = None) -> dict:
    """Run the five variants x ``seeds`` (skipping finished runs), then write the table and the
    figures. Returns ``{"rows", "table", "figures", "out", "runs", "ran", "skipped", "failed",
    "grad_cosine_at", "grad_cosine_batches"}`` (``failed``: variants not finished)."""
    say = log or (lambda s: None)
    cfg, runs = build_variants(config, overrides, seeds)
    if overwrite and out is None:
        raise ConfigError("--overwrite: nothing to replace; it needs --out DIR (a default folder is always new)")
    out, fresh = prepare_out(Path(out) if out is not None else None, cfg, seeds, runs, overwrite)
    say(f"compare {cfg.model.name} on {cfg.data.name}: {len(VARIANTS)} variants x {seeds} seeds on "
        f"{device_name(cfg)} tiles ({cfg.analog.update}) -> {out}")
    data = _DataCache()
    errors: dict[str, str] = {}
    outcomes: dict[str, str] = {}  # the status the runner returned for each run in errors

    # gradient cosines at initialization (cached: a rerun does not recompute them)
    cos_path = out / COSINE_FILE
    try:
        cache = json.loads(cos_path.read_text()) if cos_path.is_file() else {}
    except (OSError, ValueError):
        cache = {}
    if cache.get("at") != GRAD_COSINE_AT or cache.get("batches") != COSINE_BATCHES:
        cache = {}
    cosines: dict = cache.get("variants", {})
    changed = False
    for r in runs:
        if r["variant"] not in ("ep-analog", "ep-mixed") or str(r["seed"]) in cosines.get(r["variant"], {}):
            continue
        try:
            c = grad_cosines(r["cfg"], data.get(r["cfg"]))
        except AnalogEPError as e:
            say(f"warning: grad cosine of {r['name']}: {one_line(e)}")
            c = None
        except Exception as e:  # noqa: BLE001 - reported, the runs still go on
            say(f"warning: grad cosine of {r['name']}: {one_line(e)}")
            c = None
        cosines.setdefault(r["variant"], {})[str(r["seed"])] = c
        changed = True
    if changed:
        write_text(cos_path, json.dumps({"at": GRAD_COSINE_AT, "batches": COSINE_BATCHES, "variants": cosines},
                                         indent=1))

    ran = skipped = 0
    order = sorted(runs, key=lambda r: (r["seed"], [v[0] for v in VARIANTS].index(r["variant"])))
    table = out / TABLE_FILE
    try:
        for k, r in enumerate(order, 1):
            folder = out / r["name"]
            res = run_folder(folder, r["cfg"], data.get(r["cfg"]), done=("finished",), create=True)
            if res["skipped"]:
                skipped += 1
                continue
            ran += 1
            if res["status"] not in DONE:
                errors[r["name"]] = res["error"] or res["status"]
                outcomes[r["name"]] = res["status"]
                say(f"[{k}/{len(order)}] {r['name']}: {res['status']}: {errors[r['name']]}")
            else:
                _, ep = read_epochs(folder)
                acc = last_finite(ep, "test_accuracy")
                say(f"[{k}/{len(order)}] {r['name']}: test acc {'-' if acc is None else f'{acc:.4f}'}"
                    f"{' (resumed)' if res['resumed'] else ''}")
    except Preempted as e:  # SIGTERM: the run in progress kept its checkpoint; name the command that continues
        import shlex

        again = " ".join(["analog-ep compare", *(["--config", shlex.quote(str(config))] if config else []),
                          *[f"--set {shlex.quote(o)}" for o in overrides], "--seeds", str(seeds),
                          "--out", shlex.quote(str(out))])
        raise Preempted(f"{e}; the compare stopped (finished runs and the table {table} are kept); continue "
                        f"with: {again}") from None
    finally:  # interrupted too: the table shows what the folders hold
        rows, columns = build_rows(out, runs, errors, cosines, outcomes)
        write_csv(rows, columns, table)
    figures = write_figures(out, runs)
    from .deploy import compare_row

    at = [r["name"] for r in rows].index("ep-mixed") + 1
    rows.insert(at, compare_row(cfg, [out / r["name"] for r in runs if r["variant"] == "ep-digital"], columns))
    write_csv(rows, columns, table)
    return {"rows": rows, "table": str(table), "figures": figures, "out": str(out), "runs": len(runs),
            "ran": ran, "skipped": skipped, "failed": sum(r["status"] != "finished" for r in rows),
            "grad_cosine_at": GRAD_COSINE_AT, "grad_cosine_batches": COSINE_BATCHES}
