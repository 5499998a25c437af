"""Sweeps: a base config and axes (grid, zip, random, seeds) expanded into points, each point an
ordinary run folder with a deterministic name, one table (CSV and HDF5) with a row per point.

A spec (YAML)::

    base:                      # what every point shares (each entry optional)
      config: configs/hopfield_mlp_fmnist.yaml   # relative to the current directory, as --config
      device: memristor                          # = analog.device (a card name or a YAML path)
      set: {train.epochs: 3}                     # dotted keys, as --set (any key, device.* too)
    grid:                      # cartesian product over any dotted key
      analog.w_noise_std: [0.0, 0.02, 0.05]
      analog.out_bits: [4, 6, 8]
    zip:                       # keys varied together (lists of equal length)
      train.lr: [0.01, 0.02]
      ep.beta: [0.2, 0.5]
    random:                    # n points drawn from ranges with random.Random(seed)
      n: 4
      seed: 0
      keys:
        analog.w_noise_std: {low: 0.001, high: 0.1, log: true}
        analog.out_bits: {low: 4, high: 8, int: true}
    seeds: [0, 1]              # the run seed; absent: the base config's seed
    slurm: {timeout_min: 240, slurm_partition: gpu}   # submitit parameters (--executor slurm)
    deploy:                    # optional: program every trained point onto these cards' tiles
      devices: [memristor, pcm]                  # as analog-ep deploy RUN --device CARD
      set: {analog.out_bits: 8}                  # deploy overrides (hardware / inference keys only)
      times: [1, 86400, 31536000]                # seconds after programming (drifting cards)
      repeats: 1                                 # programmings per deployment

With a ``deploy:`` section, once the points have run, each completed point is deployed onto each
card (:func:`analog_ep.study.deploy.deploy_points`, in this process, into the point's
``deploy/<card>-<hash>`` folder; a rerun reuses deployments of the same checkpoint) and the
accuracies go to ``DIR/deploy.csv`` and ``deploy.h5`` (one row per point, card and evaluation).

The points are grid product x zip rows x random draws x seeds (an absent axis contributes one
empty assignment), in that nesting order (seeds innermost). Each point's config is the base
config file, then ``analog.device``, then ``base.set``, then the point's values and seed, loaded
with :func:`~analog_ep.config.load_config` and, with a device card, the card resolved with its
``device.*`` overrides: every point is validated before anything runs. The model's family
defaults fill what none of these sets, per point; where the points differ in such keys (the swept
values resolve different family defaults; compared among the points whose algorithm takes them) the
sweep logs one line (:func:`recipe_note`). Two points with equal resolved configs (one hash) are
refused.

A point's folder name is its swept values (``key=value`` parts joined by commas, the last
component of each dotted key unless two swept keys share it, sanitized), its seed and an
8-hex hash of its whole resolved config: deterministic, unique, and a changed base config gives
new folders instead of mixing runs. Points run in worker processes through an Executor-like
``submit``/``result`` interface (local process pool, Dask, submitit); the run folders and the
table are the only shared state, and the table is built by the parent alone from the folders
(plus the one-line error of a failed point), so every executor gives the same table. Running a
point (resume or start), the table files and the one-line errors are the study runner's
(:mod:`analog_ep.study.runner`).
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import importlib.util
import itertools
import json
import math
import multiprocessing
import os
import random as _random
import re
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import yaml

from ..config import RunConfig, apply_overrides, dump_yaml, load_config, to_dict
from ..config.loader import fresh_family_defaults
from ..config.relaxations import RELAXING_ALGORITHMS, relaxation_for, takes_key
from ..errors import AnalogEPError, ConfigError, Preempted
from .runner import DONE, last_finite, one_line, open_study_dir, read_epochs, run_folder, write_text, yaml_value
from .runner import read_table  # noqa: F401 - sweep.read_table reads a sweep.csv (public here too)
from .costcols import fmt_cost, last_epoch
from .runner import write_table as write_table_files

SPEC_KEYS = ("base", "grid", "zip", "random", "seeds", "slurm", "deploy")
BASE_KEYS = ("config", "device", "set")
RANDOM_KEYS = ("n", "seed", "keys")
RANGE_KEYS = ("low", "high", "log", "int")
COST_METRICS = ("energy_per_sample_j", "latency_per_sample_s", "gpu_energy_per_sample_j", "area_mm2")
"""What a point's learning costs (issue 19): its last epoch's energy and latency per training
sample on the chip (analog points), the GPU estimate of its matrix products (every point), J and
s, and the chip's area (mm^2; analog points: a digital point has none); NaN where unknown or
absent."""
METRICS = ("test_accuracy", "best_test_accuracy", "train_accuracy", "train_loss", "pulses", "seconds", *COST_METRICS)
"""Numeric columns of the table, read from each point's ``results.h5``."""
EXECUTORS = ("local", "dask", "slurm")
SUBMITIT_LOCAL_ENV = "ANALOG_EP_SUBMITIT_LOCAL"
"""``ANALOG_EP_SUBMITIT_LOCAL=1`` makes ``--executor slurm`` use ``submitit.LocalExecutor``
(local processes, for tests and for trying a spec without a cluster)."""
NAME_MAX = 96
"""Longest readable (``key=value``) part of a folder name before the seed and the hash."""


# ------------------------------------------------------------------------------------ the spec
@dataclass(frozen=True)
class RandomRange:
    low: float
    high: float
    log: bool = False
    int: bool = False

    def draw(self, u: float) -> float | int:
        """The value at uniform draw ``u`` in [0, 1): uniform or log-uniform in [low, high];
        ``int``: an integer in [low, high] (log-uniform values rounded)."""
        if self.log:
            v = math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
            return min(int(self.high), max(int(self.low), round(v))) if self.int else v
        if self.int:
            lo, hi = int(self.low), int(self.high)
            return min(hi, lo + int(u * (hi - lo + 1)))
        return self.low + u * (self.high - self.low)


@dataclass(frozen=True)
class Spec:
    """A parsed, structurally checked sweep spec (keys and values are checked by
    :func:`build_points`)."""
    path: Path
    config: str | None
    device: str | None
    set: dict
    grid: dict
    zip: dict
    random_n: int
    random_seed: int
    random_keys: dict
    seeds: list | None
    slurm: dict
    text: str = ""
    deploy: Any = None
    """The ``deploy:`` section (:class:`analog_ep.study.deploy.DeploySpec`), or None."""

    @property
    def keys(self) -> list[str]:
        """The swept keys in spec order (one table column each, before ``seed``)."""
        return [*self.grid, *self.zip, *(self.random_keys if self.random_n else {})]


@dataclass(frozen=True)
class Point:
    name: str
    params: dict
    """Swept key -> value."""
    seed: int
    config: dict
    """The resolved config as plain YAML data (``load_config(None, [], base=config)`` rebuilds it)."""
    family: dict = field(default_factory=dict)
    """The model's family defaults that set keys of this point (neither the spec nor ``--set``
    gives them): dotted key -> the value as the family gives it, before the loader resolves it
    (``model.gains: [2.0]``, one gain for every layer; :func:`~analog_ep.config.loader.fresh_family_defaults`)."""


def _number(value: Any, where: str, key: str) -> float:
    if isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as a string
        try:
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{where}{key}: expected a finite number, got {value!r}")
    return value


def _mapping(value: Any, where: str, key: str, example: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where}{key}: expected a mapping such as {example}, got {value!r}")
    for k in value:
        if not isinstance(k, str):
            raise ConfigError(f"{where}{key}: keys must be dotted names such as analog.out_bits, got {k!r}")
    return value


def _unknown(data: dict, valid: tuple, where: str, prefix: str) -> None:
    for k in data:
        if k not in valid:
            raise ConfigError(f"{where}{prefix}{k}: unknown key; valid keys: "
                              f"{', '.join(prefix + v for v in valid)}")


def _check_key(key: str, value: Any, where: str, section: str) -> None:
    """A swept or base key exists in the config schema (values are checked per point)."""
    if key == "seed" and section != "base.set":
        raise ConfigError(f"{where}{section}.seed: sweep seeds with the top-level seeds: [0, 1, ...] list")
    try:
        apply_overrides({}, [f"{key}={yaml_value(value)}"])
    except ConfigError as e:
        msg = str(e)
        msg = msg[len("--set "):] if msg.startswith("--set ") else msg
        raise ConfigError(f"{where}{section}.{msg}") from None


def load_spec(path: str | Path) -> Spec:
    """Read and check a sweep spec's structure; every error is one line naming the file and key."""
    path = Path(path)
    where = f"{path}: "
    if not path.is_file():
        raise ConfigError(f"{path}: sweep spec not found; pass an existing YAML file (see configs/sweeps/)")
    try:
        text = path.read_text()
        data = yaml.safe_load(text)
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read sweep spec ({e.__class__.__name__}: {e})") from e
    except yaml.YAMLError as e:
        line = getattr(getattr(e, "problem_mark", None), "line", None)
        raise ConfigError(f"{path}: invalid YAML{f' at line {line + 1}' if line is not None else ''}; "
                          "fix the syntax") from e
    data = _mapping(data, where, "top level", "{base: ..., grid: ...}") if data is not None else {}
    if not data:
        raise ConfigError(f"{path}: the sweep spec is empty; give a base and at least one axis, e.g. "
                          "{base: {set: {train.epochs: 3}}, grid: {analog.w_noise_std: [0.0, 0.02]}} "
                          "(one run needs no sweep: analog-ep train)")
    _unknown(data, SPEC_KEYS, where, "")

    base = _mapping(data.get("base"), where, "base", "{config: FILE, device: memristor, set: {train.epochs: 3}}")
    _unknown(base, BASE_KEYS, where, "base.")
    config = base.get("config")
    if config is not None:
        if not isinstance(config, str):
            raise ConfigError(f"{where}base.config: expected a path to an experiment YAML, got {config!r}")
        if not Path(config).is_file():
            raise ConfigError(f"{where}base.config: {config} not found (paths in a spec are relative to the "
                              f"current directory, as --config)")
    device = base.get("device")
    if device is not None and not isinstance(device, str):
        raise ConfigError(f"{where}base.device: expected a device card name or YAML path, got {device!r}")
    sets = _mapping(base.get("set"), where, "base.set", "{train.epochs: 3}")
    for k, v in sets.items():
        _check_key(k, v, where, "base.set")
    if device is not None and "analog.device" in sets and sets["analog.device"] != device:
        raise ConfigError(f"{where}base.set.analog.device: {sets['analog.device']!r} contradicts base.device "
                          f"{device!r} (base.device is analog.device); give one of them")

    grid = _mapping(data.get("grid"), where, "grid", "{analog.out_bits: [4, 6, 8]}")
    zipped = _mapping(data.get("zip"), where, "zip", "{train.lr: [0.01, 0.02], ep.beta: [0.2, 0.5]}")
    for section, axis in (("grid", grid), ("zip", zipped)):
        for k, values in axis.items():
            if not isinstance(values, list) or not values:
                raise ConfigError(f"{where}{section}.{k}: expected a non-empty list of values, got {values!r}")
            for v in values:
                _check_key(k, v, where, section)
    if zipped:
        lengths = {k: len(v) for k, v in zipped.items()}
        first = next(iter(lengths))
        for k, n in lengths.items():
            if n != lengths[first]:
                raise ConfigError(f"{where}zip.{k}: has {n} values but zip.{first} has {lengths[first]}; "
                                  "keys varied together need lists of equal length")

    rnd = _mapping(data.get("random"), where, "random", "{n: 4, seed: 0, keys: {KEY: {low: 0.001, high: 0.1}}}")
    _unknown(rnd, RANDOM_KEYS, where, "random.")
    n = rnd.get("n", 0)
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ConfigError(f"{where}random.n: expected a number of points >= 0, got {n!r}")
    rseed = rnd.get("seed", 0)
    if isinstance(rseed, bool) or not isinstance(rseed, int):
        raise ConfigError(f"{where}random.seed: expected an integer, got {rseed!r}")
    ranges = {}
    for k, r in _mapping(rnd.get("keys"), where, "random.keys", "{analog.w_noise_std: {low: 0.001, high: 0.1}}").items():
        key = f"random.keys.{k}"
        r = _mapping(r, where, key, "{low: 0.001, high: 0.1, log: true}")
        _unknown(r, RANGE_KEYS, where, key + ".")
        for need in ("low", "high"):
            if need not in r:
                raise ConfigError(f"{where}{key}: needs low and high, e.g. {{low: 0.001, high: 0.1}}")
        low, high = _number(r["low"], where, key + ".low"), _number(r["high"], where, key + ".high")
        flags = {}
        for flag in ("log", "int"):
            flags[flag] = r.get(flag, False)
            if not isinstance(flags[flag], bool):
                raise ConfigError(f"{where}{key}.{flag}: expected true or false, got {flags[flag]!r}")
        if low > high:
            raise ConfigError(f"{where}{key}: low {low!r} > high {high!r}; swap them")
        if flags["log"] and low <= 0:
            raise ConfigError(f"{where}{key}.low: a log range needs low > 0, got {low!r}")
        if flags["int"] and (low != int(low) or high != int(high)):
            raise ConfigError(f"{where}{key}: an int range needs integer low and high, got {low!r}, {high!r}")
        rng = RandomRange(float(low), float(high), flags["log"], flags["int"])
        _check_key(k, rng.draw(0.0), where, "random.keys")
        ranges[k] = rng
    if n > 0 and not ranges:
        raise ConfigError(f"{where}random.keys: random.n is {n} but no keys to draw; add e.g. "
                          "keys: {analog.w_noise_std: {low: 0.001, high: 0.1}}")

    axes = [("grid", grid), ("zip", zipped), ("random.keys", ranges if n else {})]
    for (sa, a), (sb, b) in itertools.combinations(axes, 2):
        for k in a:
            if k in b:
                raise ConfigError(f"{where}{sb}.{k}: also swept in {sa}; sweep each key in one place")

    seeds = data.get("seeds")
    if seeds is not None:
        if not isinstance(seeds, list) or not seeds or any(isinstance(s, bool) or not isinstance(s, int) for s in seeds):
            raise ConfigError(f"{where}seeds: expected a non-empty list of integers such as [0, 1], got {seeds!r}")
        if len(set(seeds)) != len(seeds):
            raise ConfigError(f"{where}seeds: repeated seed in {seeds!r}")
    slurm = _mapping(data.get("slurm"), where, "slurm", "{timeout_min: 240, slurm_partition: gpu}")
    from .deploy import parse_deploy_spec

    deploy = parse_deploy_spec(data.get("deploy"), where)
    return Spec(path, config, device, dict(sets), dict(grid), dict(zipped), n, rseed, ranges, seeds,
                dict(slurm), text, deploy)


def expand(spec: Spec) -> list[tuple[dict, int | None]]:
    """The points' swept values and seeds (no configs loaded): grid product x zip rows x random
    draws x seeds; a seed of None means the base config's."""
    grid_rows = [dict(zip(spec.grid, combo)) for combo in itertools.product(*spec.grid.values())]
    zip_rows = [dict(zip(spec.zip, vals)) for vals in zip(*spec.zip.values())] if spec.zip else [{}]
    rnd = _random.Random(spec.random_seed)
    random_rows = [{k: r.draw(rnd.random()) for k, r in spec.random_keys.items()}
                   for _ in range(spec.random_n)] or [{}]
    seeds = spec.seeds or [None]
    return [({**g, **z, **r}, s) for g, z, r, s in itertools.product(grid_rows, zip_rows, random_rows, seeds)]


def _labels(keys: list[str]) -> dict[str, str]:
    """Short names for folder names: the last dotted component, the whole key where two share it."""
    last = [k.rsplit(".", 1)[-1] for k in keys]
    return {k: (s if last.count(s) == 1 else k) for k, s in zip(keys, last)}


def _name_value(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return Path(v).stem if ("/" in v or v.endswith(".yaml")) else v
    if isinstance(v, (list, tuple)):
        return "-".join(_name_value(x) for x in v)
    if isinstance(v, dict):
        return "-".join(f"{k}{_name_value(x)}" for k, x in v.items())
    return str(v)


def _differences(config, default):
    """The part of ``config`` that differs from ``default`` (nested dicts compared key by key)."""
    if isinstance(config, dict) and isinstance(default, dict):
        out = {}
        for k, v in config.items():
            if k not in default:
                out[k] = v
                continue
            d = _differences(v, default[k])
            if d is not _SAME:
                out[k] = d
        return out if out else _SAME
    return _SAME if config == default else config


_SAME = object()


def config_hash(config: dict, neuron: dict | None = None) -> str:
    """8 hex digits of the SHA-1 of the resolved config's departures from the schema defaults
    (as canonical JSON): equal configs get equal names, and a new config key with a default
    (a later version of analog-ep) leaves every existing point's name, so a sweep started
    before an upgrade resumes after it. ``neuron``: a settle point's resolved neuron (the
    effective periphery's time constant: the card's neuron under the ``analog.*`` overrides,
    :func:`settle_neuron`), hashed too: the config's null
    ``analog.settle_*`` keys say "the card's", so two cards' neurons (or a settle point finished
    before session 15 with the 100 fF / 1 uS defaults then) never share a folder."""
    diff = _differences(config, json.loads(json.dumps(to_dict(RunConfig()), default=str)))
    diff = {} if diff is _SAME else diff
    if neuron is not None:
        diff = {**diff, "settle_neuron": neuron}
    return hashlib.sha1(json.dumps(diff, sort_keys=True, default=str).encode()).hexdigest()[:8]


def settle_neuron(cfg, periph) -> dict | None:
    """The settle neuron a point runs: its effective periphery's time constant ``tau = C /
    G_leak`` (what the settle solver and the neurons' price take from it), or None where its
    relaxation has no node circuit or it has no card (:func:`config_hash`)."""
    if periph is None or not relaxation_for(cfg).has_circuit_constants:
        return None
    return {"settle_tau_s": periph.settle_tau_s}


def point_name(params: dict, seed: int, config: dict, labels: dict[str, str] | None = None,
               neuron: dict | None = None) -> str:
    """``w_noise_std=0.02,out_bits=4,seed=0,3fa9c1d2``: the swept values (sanitized, at most
    :data:`NAME_MAX` characters), the seed and the hash of the whole resolved config (with a
    settle point's resolved ``neuron``: :func:`config_hash`)."""
    labels = labels or _labels(list(params))
    readable = ",".join(f"{labels[k]}={_name_value(v)}" for k, v in params.items())
    readable = re.sub(r"[^A-Za-z0-9._+=,-]", "_", readable)[:NAME_MAX].rstrip(",")
    return f"{readable + ',' if readable else ''}seed={seed},{config_hash(config, neuron)}"


def check_overrides(spec: Spec, overrides: list[str]) -> list[str]:
    """``sweep --set KEY=VALUE`` overrides of the spec's base: each key must exist (one line with
    a did-you-mean otherwise) and must not be swept (the point's value would replace it), nor
    ``seed`` when the spec sweeps seeds. Returns them as given."""
    swept = set(spec.keys) | ({"seed"} if spec.seeds else set())
    for item in overrides:
        apply_overrides({}, [item])  # KEY=VALUE form and the key (errors say --set KEY)
        key = item.split("=", 1)[0].strip()
        if key in swept:
            section = "seeds" if key == "seed" else next(s for s, axis in (("grid", spec.grid), ("zip", spec.zip),
                                                                          ("random.keys", spec.random_keys))
                                                         if key in axis)
            raise ConfigError(f"--set {key}: is swept by {spec.path} ({section}); change it in the spec, or "
                              "leave out --set")
    return list(overrides)


def build_points(spec: Spec, overrides: list[str] | None = None) -> list[Point]:
    """Every point with its resolved config, validated (keys, values, the device card with its
    ``device.*`` overrides); the first error is one line naming the spec, the key and the point.
    ``overrides`` (``sweep --set``) go on top of the spec's base (after ``base.set``, before the
    point's values; :func:`check_overrides`)."""
    where = f"{spec.path}: "
    base = ([f"analog.device={yaml_value(spec.device)}"] if spec.device is not None else []) + \
        [f"{k}={yaml_value(v)}" for k, v in spec.set.items()] + check_overrides(spec, list(overrides or []))
    labels = _labels(spec.keys)
    checked: dict[str, Any] = {}   # the analog keys and card -> the effective periphery
    points: list[Point] = []
    seen: dict[str, str] = {}   # config hash -> the point's label
    for params, seed in expand(spec):
        over = base + [f"{k}={yaml_value(v)}" for k, v in params.items()] + \
            ([f"seed={seed}"] if seed is not None else [])
        label = ", ".join([f"{k}={yaml_value(v)}" for k, v in params.items()] +
                          ([f"seed={seed}"] if seed is not None else [])) or "the base config"
        periph = None
        try:
            cfg = load_config(spec.config, over)
            if cfg.analog.device is not None:
                key = json.dumps([to_dict(cfg)["analog"], cfg.device], sort_keys=True, default=str)
                if key not in checked:
                    from ..train.build import resolve_device

                    checked[key] = resolve_device(cfg)[1]
                periph = checked[key]
        except ConfigError as e:
            raise ConfigError(f"{where}{e} (point {label})") from None
        config = yaml.safe_load(dump_yaml(cfg))
        neuron = settle_neuron(cfg, periph)
        name = point_name(params, cfg.seed, config, labels, neuron)
        digest = config_hash(config, neuron)  # equal resolved configs (one gain or the same spelled out per layer)
        if digest in seen:
            raise ConfigError(f"{where}the points {seen[digest]} and {label} have the same config; "
                              "remove the repeated value")
        seen[digest] = label
        family = fresh_family_defaults(spec.config, over)
        points.append(Point(name, dict(params), cfg.seed, config, family))
    return points


def _dotted(data: dict, key: str) -> Any:
    for part in key.split("."):
        data = data.get(part) if isinstance(data, dict) else None
    return data


def recipe_keys(points: list[Point]) -> tuple[list[str], list[str]]:
    """The keys that the model's family defaults fill in (in some point; the spec sets none of
    them there) and whose values differ between the points that take them
    (:func:`~analog_ep.config.relaxations.takes_key`: a bp point takes no energy key): each point's
    value is the family's as given (:attr:`Point.family`; one gain for every layer is one rule at
    any depth), the resolved one where its family does not set the key. Returns ``(fixed,
    paired)``, sorted: ``fixed`` every point takes (base.set holds them), ``paired`` only some
    (base.set would make the others refuse them)."""
    fixed, paired = [], []
    for key in sorted({k for p in points for k in p.family}):
        takers = [p for p in points if takes_key(p.config["algorithm"], key)]
        values = {json.dumps(p.family[key] if key in p.family else _dotted(p.config, key), sort_keys=True)
                  for p in takers}
        if len(values) > 1:
            (fixed if len(takers) == len(points) else paired).append(key)
    return fixed, paired


def recipe_note(points: list[Point], shown: int = 8) -> str | None:
    """One line where the points differ in keys that none of them sets but the model's family
    defaults fill in (their values differ between the swept values: another model, algorithm,
    or a card against none where a model has digital defaults), so the sweep compares recipes,
    not only its swept keys; None where every such key resolves alike in every point that takes
    it (:func:`recipe_keys`). Its advice works when followed: base.set for the keys every point
    takes, a zip with ``algorithm`` for those only the relaxing algorithms take."""
    fixed, paired = recipe_keys(points)
    differ = sorted(fixed + paired)
    if not differ:
        return None
    more = f" and {len(differ) - shown} more" if len(differ) > shown else ""
    hold = []
    if fixed:
        hold.append(f"set {'them' if not paired else 'the others'} in the spec's base (base.set)")
    if paired:
        hold.append(f"pair {', '.join(paired)} with algorithm in a zip (only {', '.join(RELAXING_ALGORITHMS)} "
                    "take them: the other algorithms' points keep the schema default, the loader refuses them set "
                    "there)")
    return (f"note: the points also differ in {', '.join(differ[:shown])}{more}, which the spec does not set: "
            "the model's family defaults resolve them per swept value, so the sweep compares recipes, not the "
            f"swept keys alone; to hold them fixed, {' and '.join(hold)}")


# ------------------------------------------------------------------------------- run folders
def run_point(task: dict) -> dict:
    """Train one point in its folder (runs in a worker) with
    :func:`~analog_ep.study.runner.run_folder`: a finished or unhealthy folder (a run that
    completed; :data:`DONE`) is left alone; a running or interrupted one resumes from its
    checkpoint when that loads; anything else restarts from scratch, overwriting that point's run
    files only. Returns ``{"name", "status", "error", "resumed", "skipped"}``; a point's own
    failure is returned, not raised (SIGTERM: status ``preempted``, the checkpoint kept)."""
    out = {"name": task["name"], "status": "failed", "error": None, "resumed": False}
    try:
        import torch

        if task.get("threads"):
            torch.set_num_threads(int(task["threads"]))
        cfg = load_config(None, [], base=task["config"])
        return {**out, **run_folder(Path(task["folder"]), cfg)}
    except Preempted as e:  # SIGTERM reached the worker: checkpoint kept, the point resumes next time
        out.update(status="preempted", error=one_line(e))
    except Exception as e:  # noqa: BLE001 - a point's failure is recorded, the sweep goes on
        out.update(status="failed", error=one_line(e))
    return out


class _SubmititPoint:
    """:func:`run_point` as a submitit job that SLURM may requeue on timeout or preemption
    (submitit calls ``checkpoint``): the point then resumes from its last epoch checkpoint."""

    def __call__(self, task: dict) -> dict:
        return run_point(task)

    def checkpoint(self, task: dict):
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(self, task)


_STOP = None
"""Local pool worker: the sweep's stop event (set when the sweep is interrupted)."""


def _init_worker(threads: int, stop, slots=None) -> None:
    """Local pool worker: torch threads for its share of the cores, the package imported once;
    on a node with CUDA devices, worker ``i`` (in start order) makes ``cuda:i mod count`` its
    current device, so ``compute.accelerator: auto`` / ``cuda`` puts one point per GPU; SIGINT
    ignored while idle (:func:`_run_point_local` takes it while a point trains)."""
    global _STOP
    import torch

    from ..train import loop  # noqa: F401

    torch.set_num_threads(threads)
    if slots is not None and torch.cuda.is_available() and torch.cuda.device_count() > 0:
        with slots.get_lock():
            slot = slots.value
            slots.value += 1
        torch.cuda.set_device(slot % torch.cuda.device_count())
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _STOP = stop
    threading.Thread(target=_end_when_orphaned, args=(os.getppid(),), daemon=True,
                     name="analog-ep-orphan-watch").start()


_BUSY = threading.Event()
"""Local pool worker: set while a point trains (:func:`_run_point_local`)."""
_ORPHANED = threading.Event()
"""Local pool worker: set once the parent is gone (:func:`_end_when_orphaned`); no point starts then."""
_POINT_LOCK = threading.Lock()
"""Local pool worker: a point's start and the orphan watch's check-then-exit are atomic."""


def _end_when_orphaned(parent: int, every_s: float = 0.5) -> None:
    """Local pool worker: end the process once its parent (the forkserver, or the sweep itself
    under spawn) is gone. A SIGTERM to the whole process group (``timeout``, ``scancel``, a batch
    system's limit) also kills the forkserver; the pool then reads every worker's exit code as
    lost and drops them without their stop message, and a worker whose point caught the signal
    (it checkpoints and returns) would wait for work forever. A training point is interrupted
    first (SIGINT: it records ``interrupted`` and keeps its checkpoint), then the worker exits."""
    while os.getppid() == parent:
        time.sleep(every_s)
    with _POINT_LOCK:
        _ORPHANED.set()
        busy = _BUSY.is_set()
    if busy:
        os.kill(os.getpid(), signal.SIGINT)
        while _BUSY.is_set():
            time.sleep(every_s / 5)
    os._exit(0)


def _run_point_local(task: dict) -> dict:
    """:func:`run_point` in a local pool worker: SIGINT (Ctrl-C, or the parent stopping the
    sweep) interrupts a training point, which records ``interrupted`` and keeps its checkpoint;
    a point picked up after the sweep was stopped does not start."""
    with _POINT_LOCK:
        if (_STOP is not None and _STOP.is_set()) or _ORPHANED.is_set():
            return {"name": task["name"], "status": "interrupted", "error": "interrupted", "resumed": False}
        _BUSY.set()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return run_point(task)
    finally:
        _BUSY.clear()
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _mp_context():
    """forkserver (POSIX) with the training code preloaded in the server, so every worker starts
    as a fork with torch imported (and later sweeps of the same process reuse the server); spawn
    elsewhere. Never plain fork: the parent may hold torch threads."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload([__name__.rsplit(".", 2)[0] + ".train.loop"])
        return ctx
    return multiprocessing.get_context("spawn")  # pragma: no cover - Windows


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


# ------------------------------------------------------------------------------------ tables
def read_point(folder: str | Path) -> tuple[str, dict]:
    """A point folder's status and metrics: final and best test accuracy, final train accuracy
    and loss, pulses (all layers and epochs; 0 digital), seconds (training plus evaluation,
    all epochs) and the last epoch's cost figures (:data:`COST_METRICS`); NaN where missing."""
    nan = float("nan")
    metrics = {k: nan for k in METRICS}
    status, ep = read_epochs(folder)
    if status in ("missing", "corrupt"):
        return status, metrics
    import numpy as np

    def last(key: str) -> float:
        v = last_finite(ep, key)
        return nan if v is None else v

    metrics["test_accuracy"] = last("test_accuracy")
    t = ep.get("test_accuracy", np.array([]))
    metrics["best_test_accuracy"] = float(np.nanmax(t)) if np.isfinite(t).any() else nan
    metrics["train_accuracy"] = last("train_accuracy")
    metrics["train_loss"] = last("train_loss")
    metrics["pulses"] = float(sum(np.nansum(v) for k, v in ep.items() if k.startswith("pulses_layer")))
    metrics["seconds"] = float(np.nansum(ep.get("seconds", 0.0)) + np.nansum(ep.get("eval_seconds", 0.0)))
    for key in COST_METRICS:
        v = last_epoch(ep, key)
        metrics[key] = nan if v is None else v
    return status, metrics


def _cost_note(row: dict) -> str:
    """``, 2.70e-07 J and 6.44e-05 s per sample on the chip`` (or ``, GPU estimate 1.60e-07 J per
    sample`` for a digital point; empty without figures): the log line's cost."""
    def known(key: str) -> bool:
        return row.get(key) is not None and math.isfinite(row[key])

    if known("energy_per_sample_j"):
        return (f", {fmt_cost(row['energy_per_sample_j'], 'J')} and {fmt_cost(row.get('latency_per_sample_s'), 's')}"
                " per sample on the chip")
    if known("gpu_energy_per_sample_j"):
        return f", GPU estimate {fmt_cost(row['gpu_energy_per_sample_j'], 'J')} per sample"
    return ""


def table_columns(spec: Spec) -> list[str]:
    return [*spec.keys, "seed", *METRICS, "status", "error", "folder"]


def table_row(spec: Spec, point: Point, folder: Path, error: str | None = None) -> dict:
    """One row: the point's swept values and seed, its metrics and status from its folder
    (``failed`` with the worker's one-line ``error`` unless the folder says finished, unhealthy
    or diverged; an unhealthy point's ``error`` is its ``unhealthy_reason``)."""
    status, metrics = read_point(folder)
    if status == "corrupt":
        status = "missing"
    if error is not None and status not in (*DONE, "diverged"):
        status = "failed"
    if status == "unhealthy":
        from ..results import read_results

        try:
            error = read_results(Path(folder) / "results.h5")["extra"].get("unhealthy_reason") or error
        except AnalogEPError:
            pass
    return {**{k: point.params.get(k) for k in spec.keys}, "seed": point.seed, **metrics, "status": status,
            "error": error if status != "finished" else None, "folder": str(folder)}


def write_table(rows: list[dict], columns: list[str], out: Path) -> Path:
    """``out/sweep.csv`` and ``out/sweep.h5`` (one dataset per column, in column order; numbers
    as float64, the seed as int64, anything else as strings), each written to a temporary file
    and renamed. Returns the CSV path."""
    return write_table_files(rows, columns, out / "sweep.csv", out / "sweep.h5", numeric=METRICS,
                              integer=("seed",))


# --------------------------------------------------------------------------------- executors
def _check_executor(executor: str, workers: int | None, scheduler: str | None) -> None:
    if executor not in EXECUTORS:
        raise ConfigError(f"--executor: expected one of {', '.join(EXECUTORS)}, got {executor!r}")
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers: must be >= 1, got {workers}")
    if scheduler is not None and executor != "dask":
        raise ConfigError("--scheduler: is the Dask scheduler address; add --executor dask")
    if executor == "dask" and importlib.util.find_spec("distributed") is None:
        raise ConfigError("--executor dask: Dask's distributed scheduler is not installed; "
                          "pip install 'analog-ep[dask]'")
    if executor == "slurm" and importlib.util.find_spec("submitit") is None:
        raise ConfigError("--executor slurm: submitit is not installed; pip install 'analog-ep[slurm]'")


def _outcome(get: Callable[[], dict], task: dict) -> dict:
    try:
        return get()
    except KeyboardInterrupt:
        return {"name": task["name"], "status": "interrupted", "error": "interrupted", "resumed": False}
    except Exception as e:  # noqa: BLE001 - a lost worker or job fails its point only
        return {"name": task["name"], "status": "failed", "error": one_line(e), "resumed": False}


def _run_local(tasks: list[dict], workers: int) -> Iterator[tuple[dict, dict]]:
    n = min(workers, len(tasks))
    ctx = _mp_context()
    stop = ctx.Event()
    pool = cf.ProcessPoolExecutor(max_workers=n, mp_context=ctx, initializer=_init_worker,
                                  initargs=(max(1, _cores() // n), stop, ctx.Value("i", 0)))
    interrupted = True
    try:
        futures = {pool.submit(_run_point_local, t): t for t in tasks}
        for f in cf.as_completed(futures):
            yield futures[f], _outcome(f.result, futures[f])
        interrupted = False
    finally:
        if interrupted:  # stop the training points now (they record interrupted, keep their checkpoints)
            stop.set()
            for proc in list((getattr(pool, "_processes", None) or {}).values()):
                try:
                    os.kill(proc.pid, signal.SIGINT)
                except (OSError, AttributeError):  # pragma: no cover - already gone
                    pass
        pool.shutdown(wait=True, cancel_futures=True)


def _run_dask(tasks: list[dict], workers: int | None, scheduler: str | None) -> Iterator[tuple[dict, dict]]:
    import distributed

    if scheduler is not None:
        try:
            client = distributed.Client(scheduler, timeout="30s")
        except (OSError, TimeoutError, ValueError) as e:
            raise ConfigError(f"--scheduler {scheduler}: cannot connect to the Dask scheduler ({one_line(e)}); "
                              "start one (dask scheduler, dask worker ADDRESS) or leave out --scheduler "
                              "for a local cluster") from None
    else:  # a local cluster of --workers processes, one thread each (torch threads: a core share)
        n = workers or 1
        client = distributed.Client(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None)
        tasks = [{**t, "threads": max(1, _cores() // n)} for t in tasks]
    try:
        ex = client.get_executor(pure=False)
        futures = {ex.submit(run_point, t): t for t in tasks}
        for f in cf.as_completed(futures):
            yield futures[f], _outcome(f.result, futures[f])
    finally:
        client.close()


def _run_slurm(tasks: list[dict], workers: int | None, folder: Path, params: dict, local: bool,
               where: str) -> Iterator[tuple[dict, dict]]:
    import submitit

    if local:
        ex = submitit.LocalExecutor(folder=folder)
        params = {k: v for k, v in params.items() if k == "timeout_min"}
        params.setdefault("timeout_min", 240)
    else:
        try:
            ex = submitit.AutoExecutor(folder=folder)
        except RuntimeError:
            raise ConfigError(f"--executor slurm: no SLURM cluster found here (no srun); run the sweep on a "
                              f"login node, use --executor local or dask, or set {SUBMITIT_LOCAL_ENV}=1 to run "
                              "the jobs as local processes") from None
        params = {"timeout_min": 240, "name": "analog-ep-sweep",
                  **({"slurm_array_parallelism": workers} if workers else {}), **params}
    try:
        ex.update_parameters(**params)
    except (ValueError, TypeError, AssertionError, NameError) as e:
        raise ConfigError(f"{where}slurm: {one_line(e)}") from None
    jobs = list(zip(ex.map_array(_SubmititPoint(), tasks), tasks))
    try:
        while jobs:
            done = [(j, t) for j, t in jobs if j.done()]
            for j, t in done:
                jobs.remove((j, t))
                yield t, _outcome(j.result, t)
            if not done:
                time.sleep(0.5)
    finally:
        for j, _ in jobs:  # interrupted: never leave a job writing a folder that a rerun may start again
            try:
                j.cancel(check=False)
            except Exception:  # noqa: BLE001
                pass


# ------------------------------------------------------------------------------------- sweep
@contextmanager
def _sigterm_as_interrupt(state: dict):
    """SIGTERM (kill, scancel, a batch system's time limit) stops the sweep like Ctrl-C (running
    points record interrupted and keep their checkpoints, the table is written), and
    ``state["sigterm"]`` says it was SIGTERM (:func:`run_sweep` then raises
    :class:`~analog_ep.errors.Preempted`: exit code 143)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        state["sigterm"] = True
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def run_sweep(spec_path: str | Path, out: str | Path | None = None, workers: int | None = None,
              executor: str = "local", scheduler: str | None = None, slurm_local: bool = False,
              log: Callable[[str], None] | None = None, overrides: list[str] | None = None) -> dict:
    """Run every point of a spec that has no finished ``results.h5`` and write the table.

    Returns ``{"points", "ran", "skipped", "failed", "unhealthy", "table"}``: ``skipped`` points
    had completed already (finished or unhealthy: :data:`DONE`); ``failed`` counts the points not
    completed at the end (failed, diverged, interrupted, missing); ``unhealthy`` the completed
    points flagged by the health check (not failures: the sweep still exits 0). With a spec's
    ``deploy:`` section also ``"deploy": {"table", "rows", "ran", "reused", "failed"}``
    (:func:`analog_ep.study.deploy.deploy_points`).
    ``log`` gets one line per finished point; ``overrides``: ``sweep --set`` on top of the
    spec's base (:func:`build_points`). The folder must not hold another kind of study
    (:func:`~analog_ep.study.runner.open_study_dir`). SIGTERM stops the sweep as Ctrl-C does
    and raises :class:`~analog_ep.errors.Preempted` (exit code 143; the same command continues
    it)."""
    _check_executor(executor, workers, scheduler)
    spec = load_spec(spec_path)
    overrides = list(overrides or [])
    points = build_points(spec, overrides)
    out = Path(out) if out is not None else Path("sweeps") / spec.path.stem
    state = {"sigterm": False}
    try:
        with _sigterm_as_interrupt(state):
            return _sweep_points(spec, points, out, overrides, workers, executor, scheduler, slurm_local, log, state)
    except KeyboardInterrupt:
        if not state["sigterm"]:
            raise
    import shlex

    again = " ".join(["analog-ep sweep", shlex.quote(str(spec.path)), "--out", shlex.quote(str(out)),
                      *[f"--set {shlex.quote(o)}" for o in overrides]])
    raise Preempted(f"SIGTERM: the sweep stopped; finished points, the checkpoints of the running ones and the "
                    f"table {out / 'sweep.csv'} are kept; continue with: {again}")


def _keep_previous_spec(out: Path, text: str) -> Path | None:
    """A rerun into ``out`` with a spec of another text (an edited spec, more values, ``--set``)
    keeps the spec the earlier points ran with as ``spec.<sha256[:8] of its text>.yaml`` before
    ``spec.yaml`` is replaced, so every point folder's spec can still be read. Returns the kept
    file, None where there was no other spec (or that text was kept already)."""
    old = out / "spec.yaml"
    if not old.is_file():
        return None
    prev = old.read_text()
    if prev == text:
        return None
    kept = out / f"spec.{hashlib.sha256(prev.encode()).hexdigest()[:8]}.yaml"
    if kept.exists():
        return None
    write_text(kept, prev)
    return kept


def _sweep_points(spec: Spec, points: list[Point], out: Path, overrides: list[str], workers: int | None,
                  executor: str, scheduler: str | None, slurm_local: bool, log: Callable[[str], None] | None,
                  state: dict) -> dict:
    """:func:`run_sweep` once the points are known: open the folder, run what is missing, write
    the table after every point (and when stopped)."""
    open_study_dir(out, "sweep")
    text = spec.text + ("" if not overrides else "".join(f"\n# run with --set {o}" for o in overrides) + "\n")
    kept = _keep_previous_spec(out, text)
    write_text(out / "spec.yaml", text)
    columns = table_columns(spec)
    folders = {p.name: out / p.name for p in points}
    rows = {p.name: table_row(spec, p, folders[p.name]) for p in points}
    todo = [p for p in points if rows[p.name]["status"] not in DONE]
    table = write_table(list(rows.values()), columns, out)
    say = log or (lambda s: None)
    local = slurm_local or os.environ.get(SUBMITIT_LOCAL_ENV, "") not in ("", "0")
    how = {"local": f"local pool x{min(workers or 1, max(1, len(todo)))}",
           "dask": f"dask ({scheduler or f'local cluster x{workers or 1}'})",
           "slurm": "submitit local processes" if local else "slurm (submitit)"}[executor]
    say(f"sweep {spec.path}: {len(points)} points, {len(points) - len(todo)} finished already, "
        f"running {len(todo)} on {how} -> {out}")
    if kept is not None:
        say(f"the folder's previous spec (another text) is kept as {kept}")
    note = recipe_note(points)
    if note is not None:
        say(note)
    by_name = {p.name: p for p in points}
    if todo:
        tasks = [{"name": p.name, "folder": str(folders[p.name]), "config": p.config} for p in todo]
        if executor == "local":
            results = _run_local(tasks, workers or 1)
        elif executor == "dask":
            results = _run_dask(tasks, workers, scheduler)
        else:
            results = _run_slurm(tasks, workers, out / "slurm", spec.slurm, local, f"{spec.path}: ")
        try:
            for k, (task, res) in enumerate(results, 1):
                if state["sigterm"]:  # the signal landed while a result was being read
                    raise KeyboardInterrupt
                p = by_name[task["name"]]
                error = None if res.get("status") in DONE else (res.get("error") or res.get("status"))
                rows[p.name] = row = table_row(spec, p, folders[p.name], error)
                write_table(list(rows.values()), columns, out)
                if row["status"] == "finished":
                    say(f"[{k}/{len(todo)}] {p.name}: test acc {row['test_accuracy']:.4f} "
                        f"({row['seconds']:.1f} s){' (resumed)' if res.get('resumed') else ''}"
                        f"{_cost_note(row)}")
                else:
                    say(f"[{k}/{len(todo)}] {p.name}: {row['status']}: {row['error']}")
        finally:  # interrupted too: the workers are stopped, the table shows what the folders hold
            results.close()
            for p in todo:
                if rows[p.name]["status"] not in (*DONE, "failed", "diverged"):
                    rows[p.name] = table_row(spec, p, folders[p.name])
            write_table(list(rows.values()), columns, out)
    failed = sum(r["status"] not in DONE for r in rows.values())
    unhealthy = sum(r["status"] == "unhealthy" for r in rows.values())
    summary = {"points": len(points), "ran": len(todo), "skipped": len(points) - len(todo), "failed": failed,
               "unhealthy": unhealthy, "table": str(table)}
    if spec.deploy is not None:
        from .deploy import deploy_points

        summary["deploy"] = deploy_points(spec.deploy, [({**p.params, "seed": p.seed}, folders[p.name],
                                                         rows[p.name]["status"]) for p in points],
                                          spec.keys, out, say)
    return summary
