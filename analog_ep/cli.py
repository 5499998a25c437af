"""Command-line shell: parse -> config -> call. No numerics here.

Every :class:`AnalogEPError`, and every usage error (unknown option or command, missing value),
becomes one ``error:`` line on stderr and exit code 2 (``--debug`` shows the traceback). With ``--json``, every failure (exit 2, or 1) also prints ``{"error": ..., "exit_code":
...}`` as the last line of stdout. ``-h`` is ``--help``; ``--debug`` goes before or after the
command name.
"""

from __future__ import annotations

import json
import traceback
from pathlib import Path
from typing import Callable, Optional

import typer
from typer.core import TyperGroup

try:  # typer >= 0.22 ships its own copy of click
    from typer._click.exceptions import UsageError
except ImportError:  # pragma: no cover - older typer on click
    from click.exceptions import UsageError

from . import __version__
from .errors import AnalogEPError, ConfigError, Preempted

_STATE = {"debug": False, "run_dir": None, "interrupt": None, "json": False}

CONTEXT = {"help_option_names": ["-h", "--help"]}


def _before_dashdash(args: list[str]) -> list[str]:
    return args[:args.index("--")] if "--" in args else args


def _usage_error(e: UsageError) -> None:
    """A usage error (unknown option or command, missing or bad value) as one ``error:`` line on
    stderr naming where to look (``CMD -h``), the JSON line with ``--json``; exit code 2."""
    msg = " ".join(e.format_message().split()).rstrip(".")
    where = e.ctx.command_path if e.ctx is not None else "analog-ep"
    line = f"{msg}; see {where} -h"
    typer.echo(f"error: {line}", err=True)
    if _STATE["json"]:
        _json_error(line, e.exit_code)
    raise typer.Exit(e.exit_code)


class _Group(TyperGroup):
    """The root group: ``--debug`` is taken anywhere before ``--`` (so ``analog-ep train --debug``
    works as ``analog-ep --debug train``), and a usage error (unknown option, bad value: exit 2)
    is one ``error:`` line (:func:`_usage_error`), with ``--json`` also the JSON error line."""

    def parse_args(self, ctx, args: list[str]) -> list[str]:
        head = _before_dashdash(args)
        _STATE["json"] = "--json" in head
        if "--debug" in head[1:]:
            i = head.index("--debug")
            args = ["--debug", *args[:i], *args[i + 1:]]
        try:
            return super().parse_args(ctx, args)
        except UsageError as e:
            _usage_error(e)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except UsageError as e:
            _usage_error(e)


app = typer.Typer(cls=_Group, add_completion=False, no_args_is_help=False, pretty_exceptions_enable=False,
                  context_settings=CONTEXT,
                  help="Equilibrium Propagation on simulated memristor crossbars, with digital references.")

ConfigOpt = typer.Option(None, "--config", "-c", help="Experiment YAML (keys as in the README).")
SetOpt = typer.Option(None, "--set", "-s", help="Override a config key: dotted.key=YAML value, e.g. model.hidden=[500,200].")
JsonOpt = typer.Option(False, "--json", help="Print one JSON object as the last line of stdout.")
DeviceOpt = typer.Option(None, "--device", "-d", help="Device card NAME or PATH: put every weight on simulated "
                         "crossbar tiles (same as --set analog.device=...).")
AccelOpt = typer.Option(None, "--accelerator", help="Torch device: auto, cpu, cuda or cuda:N (same as --set "
                        "compute.accelerator=...; --device is the device card).")


ChipOpt = typer.Option(None, "--chip", help="Chip description YAML (chip.* keys, see the README): the cost model's "
                       "technology, converters, digital costs and update scheme; --set chip.KEY=VALUE wins over it.")


def _overrides(set_: Optional[list[str]], device: Optional[str], accelerator: Optional[str] = None,
               chip: Optional[Path] = None) -> list[str]:
    """The ``--set`` overrides with ``--device`` / ``--accelerator`` as their keys; a ``--set``
    of the same key with another value contradicts the option (one line, exit 2). ``--chip
    FILE``'s keys come first, so ``--set chip.KEY`` wins over the file."""
    import yaml

    out = list(set_ or [])
    for opt, key, value in (("--device", "analog.device", device), ("--accelerator", "compute.accelerator",
                                                                      accelerator)):
        if not value:
            continue
        for item in out:
            k, _, raw = item.partition("=")
            if k.strip() != key:
                continue
            try:
                same = yaml.safe_load(raw) == value
            except yaml.YAMLError:
                same = False
            if not same:
                raise ConfigError(f"{opt} {value} contradicts --set {key}={raw.strip()} ({opt} is --set "
                                  f"{key}=...); give one of them")
        out.append(f"{key}={value}")
    return _chip_overrides(chip) + out


def _chip_overrides(chip: Optional[Path]) -> list[str]:
    """``--chip FILE`` as ``chip.KEY=VALUE`` overrides placed before the ``--set`` ones (which win);
    the file is validated first, so its errors name the file."""
    if chip is None:
        return []
    from .config.loader import load_chip_file

    return [f"chip.{k}={json.dumps(v)}" for k, v in load_chip_file(chip)["chip"].items()]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"analog-ep {__version__}")
        raise typer.Exit()


@app.callback()
def main(debug: bool = typer.Option(False, "--debug", help="Show tracebacks instead of one-line errors (also "
                                    "accepted after the command name)."),
         version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                      help="Print the version and exit.")) -> None:
    _STATE["debug"] = debug


def _json_error(message: str, exit_code: int, **fields) -> None:
    """The ``--json`` failure line: ``{**fields, "error": message, "exit_code": exit_code}`` on stdout."""
    typer.echo(json.dumps({**fields, "error": message, "exit_code": exit_code}))


def _json_requested() -> bool:
    """Whether the command line holds ``--json`` (before any ``--``; seen by :class:`_Group`)."""
    return bool(_STATE["json"])


def _interrupted() -> str:
    """The line for Ctrl-C: the exact resume command once a run folder holds a checkpoint."""
    run_dir = _STATE["run_dir"]
    if run_dir is None:
        return _STATE["interrupt"] or "interrupted: the last checkpoint and results file are kept"
    if not (Path(run_dir) / "checkpoint.pt").is_file():
        return f"interrupted before the first checkpoint of {run_dir}; nothing to resume, start the run again"
    from .rundir import resume_command

    return f"interrupted: the last checkpoint and results file are kept; continue with: {resume_command(run_dir)}"


def _guard(fn: Callable[[], None]) -> None:
    """Run ``fn``; map user errors to exit code 2 with one line, Ctrl-C to exit code 130 with one
    line (for train: the resume command, set through ``_STATE["run_dir"]``). With ``--json`` the
    failure (2, 130) is also the JSON error line on stdout."""
    _STATE["run_dir"] = _STATE["interrupt"] = None
    as_json = _json_requested()
    try:
        fn()
    except Preempted as e:
        from .rundir import resume_command

        run_dir = _STATE["run_dir"]
        line = f"preempted: {e}" + (f"; continue with: {resume_command(run_dir)}" if run_dir is not None else "")
        typer.echo(line, err=True)
        if as_json:
            _json_error(line, Preempted.exit_code)
        raise typer.Exit(Preempted.exit_code)
    except AnalogEPError as e:
        if _STATE["debug"]:
            traceback.print_exc()
        typer.echo(f"error: {e}", err=True)
        if as_json:
            _json_error(str(e), 2)
        raise typer.Exit(2)
    except KeyboardInterrupt:
        line = _interrupted()
        typer.echo(line, err=True)
        if as_json:
            _json_error(line, 130)
        raise typer.Exit(130)


@app.command()
def train(config: Optional[Path] = ConfigOpt, set_: Optional[list[str]] = SetOpt, device: Optional[str] = DeviceOpt,
          accelerator: Optional[str] = AccelOpt, chip: Optional[Path] = ChipOpt,
          out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output folder (default runs/<time>-<model>-<algorithm>)."),
          resume: Optional[Path] = typer.Option(None, "--resume", help="Continue the run in this folder from its checkpoint."),
          overwrite: bool = typer.Option(False, "--overwrite", help="Replace the run files (checkpoint.pt, results.h5) "
                                         "of an existing run in --out DIR (nothing else there is deleted)."),
          json_out: bool = JsonOpt) -> None:
    """Train a model (default: hopfield_mlp on the embedded digits set with centered EP). Under
    ``torchrun --nproc_per_node N -m analog_ep train ...`` the ranks train data-parallel and rank
    0 writes the run folder."""

    def run() -> None:
        from .train.session import NOT_STARTED, is_main_rank, run_training

        _STATE["interrupt"] = NOT_STARTED

        def on_start(start) -> None:
            _STATE["run_dir"] = start.run_dir
            if not json_out and start.main_rank:
                typer.echo(start.line())

        def log(row: dict) -> None:
            if json_out:
                return
            test = (f"  test loss {row['test_loss']:.4f} acc {row['test_accuracy']:.4f}"
                    if "test_accuracy" in row else "")
            conv = "".join(f"  {p} steps {row[p + '_mean_steps']:.1f} conv {row[p + '_converged_fraction']:.2f}"
                           for p in ("free", "nudge+", "nudge-", "adjoint") if p + "_mean_steps" in row)
            typer.echo(f"epoch {row['epoch']:3d}  train loss {row['train_loss']:.4f} acc {row['train_accuracy']:.4f}"
                       f"{test}  {row['seconds']:.1f}s{conv}")

        overrides = _overrides(set_, device, accelerator, chip)
        if out is not None:
            from .study.runner import check_study_dir

            check_study_dir(out, "run")  # a sweep's or a compare's folder holds no run of its own
        summary = run_training(config, overrides, out=out, resume=resume,
                               overwrite=overwrite, progress=not json_out, log=log, on_start=on_start)
        if not is_main_rank():
            return
        if json_out:
            typer.echo(json.dumps(summary))
        else:
            flag = f" (status unhealthy: {summary['unhealthy_reason']})" if summary["unhealthy_reason"] else ""
            typer.echo(f"done: test accuracy {summary['test_accuracy']}, results in {summary['results']}{flag}")

    _guard(run)


@app.command()
def gradcheck(config: Optional[Path] = ConfigOpt, set_: Optional[list[str]] = SetOpt, device: Optional[str] = DeviceOpt,
              accelerator: Optional[str] = AccelOpt,
              betas: str = typer.Option("0.1,0.01,0.001", "--betas", help="Comma-separated nudging strengths."),
              batch: int = typer.Option(16, "--batch", help="Examples in the checked mini-batch."),
              iters: int = typer.Option(5000, "--iters", help="Maximum relaxation sweeps per phase."),
              tol: float = typer.Option(1e-12, "--tol", help="Relaxation tolerance (float64)."),
              nudge_iters: Optional[int] = typer.Option(
                  None, "--nudge-iters", help="Most sweeps per nudged phase (default: --iters); e.g. a training "
                  "run's solver.nudge_iters, to check the estimate its budget gives (with solver.nudge_rtol, "
                  "the relative stop). Hopfield-type EP only."),
              json_out: bool = JsonOpt) -> None:
    """Compare EP's gradient estimate with the exact gradient at the free fixed point, per layer
    (for a predictive coding network: with the backprop gradient of its feed-forward twin, for
    EP and, with algorithm=pc, for predictive coding)."""

    def run() -> None:
        from .config import load_config
        from .train.gradcheck import parse_betas, run as run_gradcheck

        beta_list = parse_betas(betas)
        cfg = load_config(config, _overrides(set_, device, accelerator))
        report = run_gradcheck(cfg, beta_list, batch=batch, iters=iters, tol=tol, nudge_iters=nudge_iters)
        frac = report["free_converged_fraction"]
        if tol > 0 and frac < 1:
            msg = (f"free phase did not converge (fraction {frac:.2f} after {report['free_sweeps']} sweeps); "
                   f"raise --iters or --tol")
            typer.echo(f"error: {msg}", err=True)
            if json_out:
                _json_error(msg, 1, **report)
            raise typer.Exit(1)
        if json_out:
            typer.echo(json.dumps(report))
            return
        typer.echo(f"estimator {report['estimator']}, reads in {report['precision']} on {report['accelerator']}; "
                   f"free phase converged fraction "
                   f"{report['free_converged_fraction']:.2f} in {report['free_sweeps']} sweeps")
        typer.echo(f"{'layer':32s} {'beta':>8s} {'cosine':>10s} {'rel_error':>10s} {'sat_changes':>11s}")
        for row in report["layers"]:
            beta_s = report["estimator"] if row["beta"] is None else f"{row['beta']:.4g}"
            typer.echo(f"{row['name']:32s} {beta_s:>8s} {row['cosine']:10.6f} {row['rel_error']:10.3e} "
                       f"{row['saturation_changes']:11d}")
        for ph in report.get("nudged", []):
            typer.echo(f"beta {ph['beta']:.4g} {ph['phase']}: {ph['sweeps']} sweeps, converged fraction "
                       f"{ph['converged_fraction']:.2f}")
        typer.echo("sat_changes: hidden units crossing an activation bound between the free and nudged "
                   "states; EP is exact to O(beta^2) only where it is 0 (try a smaller beta)")

    _guard(run)


@app.command()
def bench(config: Optional[Path] = ConfigOpt, set_: Optional[list[str]] = SetOpt, device: Optional[str] = DeviceOpt,
          accelerator: Optional[str] = AccelOpt, chip: Optional[Path] = ChipOpt,
          repeats: int = typer.Option(10, "--repeats", help="Timed repetitions (the median is reported)."),
          warmup: int = typer.Option(2, "--warmup", help="Untimed warm-up repetitions first."),
          from_run: Optional[Path] = typer.Option(None, "--from", help="A finished run's folder: time its trained "
                                                  "state (weights, the tiles' device state) with its stored config, "
                                                  "as --resume restores it; --set may change solver and bench keys "
                                                  "and train.* but train.optimizer, not the model, the data, "
                                                  "the card or the seed."),
          json_out: bool = JsonOpt) -> None:
    """Time one relaxation sweep, one EP training step and one backprop-twin step on one batch
    (with --from RUN: at a finished run's trained weights)."""

    def run() -> None:
        from .bench import bench as run_bench, load_run
        from .config import load_config

        if repeats < 1:
            raise ConfigError(f"--repeats: must be >= 1, got {repeats}")
        if warmup < 0:
            raise ConfigError(f"--warmup: must be >= 0, got {warmup}")
        source = None
        if from_run is not None:
            if config is not None:
                raise ConfigError("--config cannot be combined with --from (the run's own config is used); "
                                  "use --set to change solver or bench keys")
            cfg, source = load_run(from_run, _overrides(set_, device, accelerator, chip))
        else:
            cfg = load_config(config, _overrides(set_, device, accelerator, chip))
        r = run_bench(cfg, repeats=repeats, warmup=warmup, source=source)
        if json_out:
            typer.echo(json.dumps(r))
            return
        if source is not None:
            typer.echo(f"trained state of {r['from_run']} ({r['from_epochs']} epochs)")
        typer.echo(f"{r['model']} on {r['dataset']}, batch {r['batch']}, {r['solver']} solver, "
                   f"{r['estimator']} EP; median of {r['repeats']} after {r['warmup']} warm-up; "
                   f"torch {r['torch_version']}, {r['torch_threads']} threads, {r['torch_device']}")
        typer.echo(f"{'':24s} {'seconds':>10s} {'/ bp step':>10s} {'images/s':>10s}")
        typer.echo(f"{'sweep (1 relaxation)':24s} {r['sweep_s']:10.4g} {r['sweep_over_bp_step']:10.3f} {'':>10s}")
        typer.echo(f"{'bp step (backprop twin)':24s} {r['bp_step_s']:10.4g} {1.0:10.3f} {r['bp_images_per_s']:10.1f}")
        typer.echo(f"{'ep step':24s} {r['ep_step_s']:10.4g} {r['ep_step_over_bp_step']:10.3f} {r['images_per_s']:10.1f}")
        typer.echo(f"EP sweeps per step: {r['ep_sweeps_per_step']:.1f} run of {r['ep_sweeps_budget']} "
                   f"(free {r['free_iters']} + nudged {r['nudge_iters']} each, tol {r['tol']:g})")
        from .study.costcols import fmt_cost

        chip_cost = (f"EP step {fmt_cost(r['ep_step_energy_per_sample_j'], 'J')}, "
                     f"{fmt_cost(r['ep_step_latency_per_sample_s'], 's')} on the chip; " if r["device"] else "")
        typer.echo(f"cost per training sample: {chip_cost}GPU estimate: EP step "
                   f"{fmt_cost(r['ep_step_gpu_energy_per_sample_j'], 'J')}, "
                   f"{fmt_cost(r['ep_step_gpu_latency_per_sample_s'], 's')}; bp step "
                   f"{fmt_cost(r['bp_step_gpu_energy_per_sample_j'], 'J')}, "
                   f"{fmt_cost(r['bp_step_gpu_latency_per_sample_s'], 's')}")
        if "analog_over_digital_ep_step" in r:
            typer.echo(f"analog ({r['analog_device']}, {r['analog_update']} updates"
                       f"{', ' + r['pulse_scheme'] if r['pulse_scheme'] else ''}) EP step over digital EP step: "
                       f"{r['analog_over_digital_ep_step']:.3f} (digital {r['digital_ep_step_s']:.4g} s); "
                       f"{r['pulses_per_step']:.0f} pulses per step; memory {r['analog_over_digital_memory']:.1f}x digital")
            ran = r["kernels"]["ran"]
            typer.echo(f"kernels (compute.kernels {r['kernels']['mode']}): "
                       + (", ".join(f"{k} {v}" for k, v in sorted(ran.items())) or "none ran"))

    _guard(run)


@app.command()
def cost(config: Optional[Path] = ConfigOpt, set_: Optional[list[str]] = SetOpt, device: Optional[str] = DeviceOpt,
         accelerator: Optional[str] = AccelOpt, chip: Optional[Path] = ChipOpt, json_out: bool = JsonOpt) -> None:
    """Price one training step and one inference of a config on the chip, from one mini-batch's
    event counts (the training code path, no training): the configured algorithm, backprop on the
    same chip, and GPU estimates of the digital twins; energy by phase and component."""

    def run() -> None:
        from .config import load_config
        from .train.costs import price_config, variant_figures

        cfg = load_config(config, _overrides(set_, device, accelerator, chip))
        r = price_config(cfg)
        if json_out:
            typer.echo(json.dumps(r))
            return

        from .study.costcols import fmt_cost

        def num(v, unit: str) -> str:  # the tables' one cost format; unknown (null) is "unknown", never 0
            return "unknown" if v is None else fmt_cost(v, unit)

        typer.echo(f"{r['model']} on {r['dataset']}, batch {r['batch']}, card {r['device'] or '(digital)'}; "
                   f"chip: {cfg.chip.adc_model} ADC, {cfg.chip.input_encoding} inputs, {cfg.chip.update_scheme} writes; "
                   f"GPU {cfg.chip.gpu} at eta {cfg.chip.gpu_eta:g}")
        typer.echo(f"{'per sample':34s} {'train energy':>14s} {'train latency':>14s} {'infer energy':>14s} "
                   f"{'infer latency':>14s} {'area':>10s}")
        for row in r["variants"]:
            f = variant_figures(row)
            typer.echo(f"{row['variant']:34s} {num(f['train_energy_per_sample_j'], 'J'):>14s} "
                       f"{num(f['train_latency_per_sample_s'], 's'):>14s} {num(f['inference_energy_per_sample_j'], 'J'):>14s} "
                       f"{num(f['inference_latency_per_sample_s'], 's'):>14s} "
                       f"{'' if f['area_mm2'] is None else num(f['area_mm2'], 'mm2'):>10s}")
        chip_rows = [row for row in r["variants"] if row["where"] == "chip"]
        if chip_rows:
            c = chip_rows[0]["cost"]["chip"]
            n = max(c["train"]["samples"], 1)
            comps = list(c["by_component_j"])
            typer.echo(f"\n{chip_rows[0]['variant']}: energy per training sample by phase and component (J)")
            typer.echo(f"{'phase':10s} " + " ".join(f"{k:>10s}" for k in comps + ["total", "latency s"]))
            for phase, e in c["energy_j"].items():
                m = c["inference"]["samples"] if phase == "inference" else n
                vals = [e.get(k) for k in comps + ["total"]] + [c["latency_s"].get(phase)]
                typer.echo(f"{phase:10s} " + " ".join(f"{'unknown' if v is None else fmt_cost(v / max(m, 1)):>10s}"
                                                      for v in vals))
            for phase, st in c.get("settle", {}).items():
                typer.echo(f"settle {phase}: {num(st['settle_time_per_sample_s'], 's')} per sample settled "
                           f"(array and neurons over the settle, one read-out conversion per node)")
            for line in c["unknown"]:
                typer.echo(f"note: {line}")

    _guard(run)


@app.command("config")
def config_cmd(config: Optional[Path] = ConfigOpt, set_: Optional[list[str]] = SetOpt,
               device: Optional[str] = DeviceOpt, accelerator: Optional[str] = AccelOpt, chip: Optional[Path] = ChipOpt,
               all_keys: bool = typer.Option(False, "--all", help="List every key, the schema's defaults too."),
               json_out: bool = JsonOpt) -> None:
    """The config that train would run with these options, and where each key's value comes from:
    --set (or --device / --accelerator / --chip), the config file, the model's family defaults, or
    the schema's default (listed with --all). Nothing is trained or written."""

    def run() -> None:
        from .config import load_config
        from .config.loader import config_sources, to_dict
        from .study.runs import flatten

        overrides = _overrides(set_, device, accelerator, chip)
        cfg = load_config(config, overrides)
        sources = config_sources(config, overrides)
        flags = {"analog.device": (device, "--device"), "compute.accelerator": (accelerator, "--accelerator")}
        for key, (given, flag) in flags.items():
            if given is not None and sources.get(key) == "--set":
                sources[key] = flag
        if chip is not None:
            for key in sources:
                if key.startswith("chip.") and sources[key] == "--set":
                    sources[key] = "--chip"
        data = to_dict(cfg)
        if json_out:
            typer.echo(json.dumps({"config": data, "sources": sources}))
            return
        values = flatten(data)  # (an empty mapping, e.g. device: {}, has no leaf: shown as {})
        shown = [k for k in sources if all_keys or sources[k] != "default"]
        width = max((len(k) for k in shown), default=0)
        typer.echo(f"{cfg.model.name}, algorithm {cfg.algorithm}: "
                   + (f"{len(shown)} keys" if all_keys else
                      f"{len(shown)} keys not at the schema default (--all lists all {len(sources)})"))
        for key in shown:
            typer.echo(f"{key:{width}s}  {json.dumps(values.get(key, {}))}  ({sources[key]})")

    _guard(run)


@app.command()
def runs(folders: list[Path] = typer.Argument(..., help="Folders to search (recursively) for run folders."),
         csv_out: Optional[Path] = typer.Option(None, "--csv", help="Also write the table as CSV to this file."),
         json_out: bool = JsonOpt) -> None:
    """Tabulate every run folder (a folder holding results.h5) under DIR...: the config keys that
    differ between them, device, status, epochs, accuracies, pulses and seconds."""

    def run() -> None:
        from .study.runs import format_table, runs_table, write_csv

        table = runs_table(folders)
        for path, err in table["errors"].items():
            typer.echo(f"warning: {path}: unreadable ({err})", err=True)
        if csv_out is not None:
            write_csv(table, csv_out)
        if json_out:
            typer.echo(json.dumps({"runs": table["runs"], "keys": table["keys"], "errors": table["errors"]}))
            return
        for line in format_table(table):
            typer.echo(line)
        if csv_out is not None:
            typer.echo(f"wrote {csv_out}")

    _guard(run)


@app.command()
def drift(run_dir: Path = typer.Argument(..., metavar="RUN", help="Folder of a trained analog run."),
          times: str = typer.Option("1,60,3600,86400,2592000,31536000", "--times",
                                    help="Comma-separated seconds after programming."),
          draws: int = typer.Option(5, "--draws", help="Independent draws of the devices' drift exponents."),
          compensation: str = typer.Option("both", "--compensation",
                                           help="none, global (aihwkit's global drift compensation) or both."),
          json_out: bool = JsonOpt) -> None:
    """Test accuracy of a trained analog run read t seconds after programming (conductance drift),
    mean and std over draws of the drift exponents; written to RUN/drift.json too."""

    def run() -> None:
        from .study.drift import drift_study, parse_times

        if draws < 1:
            raise ConfigError(f"--draws: must be >= 1, got {draws}")
        if compensation not in ("none", "global", "both"):
            raise ConfigError(f"--compensation: expected one of none, global, both; got {compensation!r}")
        r = drift_study(run_dir, parse_times(times), draws, compensation)
        if r["saved"] is None:
            typer.echo(f"warning: could not write {Path(run_dir) / 'drift.json'}", err=True)
        if json_out:
            typer.echo(json.dumps(r))
            return
        typer.echo(f"{r['run']}: {r['device']} (nu {r['drift_nu']:g} +- {r['drift_nu_std']:g}, t0 {r['t0_s']:g} s), "
                   f"{r['epochs']} epochs, test accuracy {r['test_accuracy']}; {r['draws']} draws of the exponents")
        typer.echo(f"{'t (s)':>12s} {'compensation':>12s} {'accuracy':>9s} {'std':>7s} {'sum|W|':>10s} {'gain':>7s}")
        for row in r["rows"]:
            typer.echo(f"{row['t_s']:12g} {row['compensation']:>12s} {row['accuracy_mean']:9.4f} "
                       f"{row['accuracy_std']:7.4f} {row['weight_abs_sum']:10.4g} {row['gain_mean']:7.3f}")
        if r["saved"]:
            typer.echo(f"wrote {r['saved']}")

    _guard(run)


@app.command()
def deploy(run_dir: Path = typer.Argument(..., metavar="RUN", help="Folder of a finished train run (digital "
                                          "or analog)."),
           device: Optional[str] = typer.Option(None, "--device", "-d", help="Device card NAME or PATH whose "
                                                "tiles the trained weights are programmed onto."),
           set_: Optional[list[str]] = typer.Option(None, "--set", "-s", help="Override a hardware or inference "
                                                    "key: analog.*, device.*, solver.*, compute.*, data.root, "
                                                    "data.batch_size."),
           times: str = typer.Option("1,3600,86400,31536000", "--times",
                                     help="Comma-separated seconds after programming (cards with drift)."),
           repeats: int = typer.Option(1, "--repeats", help="Programmings of the tiles (each with its own "
                                       "programming, read-noise and drift draws): mean and std."),
           out: Optional[Path] = typer.Option(None, "--out", "-o", help="Deploy folder (default "
                                              "RUN/deploy/<card>-<hash of the settings>)."),
           overwrite: bool = typer.Option(False, "--overwrite", help="Replace the deploy.json of an earlier "
                                          "deployment in the deploy folder."),
           json_out: bool = JsonOpt) -> None:
    """Program a finished run's trained weights onto a card's tiles (programming noise, levels,
    stuck-at, the card's periphery) and evaluate the test accuracy with read noise, and, where the
    card drifts, at each time without and with global drift compensation; written to
    DEPLOY/deploy.json."""

    def run() -> None:
        from .study.deploy import deploy_run, format_result

        _STATE["interrupt"] = "interrupted: nothing written (a deployment is written when it is complete)"
        if not device:
            raise ConfigError("--device: deploy needs a device card NAME or PATH (analog-ep devices list)")
        r = deploy_run(run_dir, device, list(set_ or []), times, repeats, out=out, overwrite=overwrite)
        if json_out:
            typer.echo(json.dumps(r))
            return
        for line in format_result(r):
            typer.echo(line)

    _guard(run)


@app.command()
def sweep(spec: Path = typer.Argument(..., help="Sweep spec YAML: base, grid, zip, random, seeds (see configs/sweeps/)."),
          out: Optional[Path] = typer.Option(None, "--out", "-o", help="Sweep folder (default sweeps/<spec stem>)."),
          workers: Optional[int] = typer.Option(None, "--workers", "-w", help="Points run at once: local worker "
                                                "processes (default 1), Dask local-cluster workers, SLURM array "
                                                "parallelism (default unlimited)."),
          executor: str = typer.Option("local", "--executor", help="local (process pool), dask or slurm (submitit)."),
          scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Dask scheduler address, e.g. "
                                                  "tcp://host:8786 (default: a local Dask cluster)."),
          slurm_local: bool = typer.Option(False, "--slurm-local", hidden=True,
                                           help="--executor slurm through submitit.LocalExecutor (tests)."),
          set_: Optional[list[str]] = typer.Option(None, "--set", "-s", help="Override a key of the spec's base "
                                                   "config (after base.set; not a swept key), e.g. "
                                                   "--set train.epochs=1."),
          json_out: bool = JsonOpt) -> None:
    """Run every point of a sweep spec as its own run folder (resumable) and write DIR/sweep.csv and
    sweep.h5. SIGTERM stops it like Ctrl-C and exits 143; the same command continues it."""

    def run() -> None:
        from .study.sweep import run_sweep

        summary = run_sweep(spec, out, workers=workers, executor=executor, scheduler=scheduler,
                            slurm_local=slurm_local, log=None if json_out else typer.echo, overrides=set_)
        if summary["failed"]:
            summary = {**summary, "error": f"{summary['failed']} of {summary['points']} points failed "
                       f"(see the status and error columns of {summary['table']})", "exit_code": 1}
        if json_out:
            typer.echo(json.dumps(summary))
        else:
            failed = (f"; {summary['failed']} failed (see the status and error columns)"
                      if summary["failed"] else "")
            unhealthy = (f"; {summary['unhealthy']} unhealthy (finished, flagged; see the error column)"
                         if summary["unhealthy"] else "")
            typer.echo(f"done: {summary['points']} points, ran {summary['ran']}, skipped {summary['skipped']}"
                       f"{failed}{unhealthy}; table {summary['table']}")
        if summary["failed"]:
            raise typer.Exit(1)

    _guard(run)


@app.command()
def compare(config: Optional[Path] = ConfigOpt, set_: Optional[list[str]] = SetOpt, device: Optional[str] = DeviceOpt,
            seeds: int = typer.Option(3, "--seeds", help="Seeds per variant (the config's seed, +1, +2, ...)."),
            out: Optional[Path] = typer.Option(None, "--out", "-o", help="Compare folder (default "
                                               "compares/<time>-<model>-<card>); the same command again continues it."),
            overwrite: bool = typer.Option(False, "--overwrite", help="Replace the compare in --out DIR (its runs' "
                                           "files and tables) even when it was made with another config."),
            json_out: bool = JsonOpt) -> None:
    """Digital EP, analog EP (as configured, and mixed precision) and the backprop twin (digital and
    on the tiles) on the same data, initialization and seeds: DIR/compare.csv, DIR/curves.png/.svg."""

    def run() -> None:
        from .study.compare import format_rows, run_compare

        _STATE["interrupt"] = ("interrupted: finished runs and the last checkpoints are kept; "
                               "run the same command with --out DIR to continue")
        summary = run_compare(config, _overrides(set_, device), seeds=seeds, out=out, overwrite=overwrite,
                              log=None if json_out else typer.echo)
        if json_out:
            typer.echo(json.dumps(summary))
        else:
            for line in format_rows(summary["rows"]):
                typer.echo(line)
            typer.echo(f"grad cosine: analog vs digital EP estimate at {summary['grad_cosine_at']} "
                       f"(first {summary['grad_cosine_batches']} batches, same weights)")
            failed = f"; {summary['failed']} variants not finished (see status, error)" if summary["failed"] else ""
            typer.echo(f"done: ran {summary['ran']}, skipped {summary['skipped']} of {summary['runs']} runs{failed}; "
                       f"table {summary['table']}; figures {', '.join(summary['figures'])}")
        if summary["failed"]:
            raise typer.Exit(1)

    _guard(run)


@app.command()
def report(folder: Path = typer.Argument(..., metavar="DIR", help="A run folder (results.h5), a sweep folder "
                                         "(sweep.csv) or a compare folder (compare.csv)."),
           out: Optional[Path] = typer.Option(None, "--out", "-o", help="HTML file to write (default "
                                              "DIR/report.html; figures in <stem>_files/ next to it)."),
           json_out: bool = JsonOpt) -> None:
    """One static HTML page of figures (PNG + SVG) and tables for a run, a sweep or a comparison."""

    def run() -> None:
        from .report.html import render_report

        r = render_report(folder, out)
        if json_out:
            typer.echo(json.dumps({k: r[k] for k in ("kind", "out", "files", "figures")}))
        else:
            typer.echo(f"wrote {r['out']} ({r['kind']} report, {len(r['figures']) // 2} figures in {r['files']})")

    _guard(run)


devices_app = typer.Typer(help="Device cards: list, show, pulse response, plot.", no_args_is_help=True,
                          context_settings=CONTEXT)
app.add_typer(devices_app, name="devices")


@devices_app.command("list")
def devices_list(json_out: bool = JsonOpt) -> None:
    """The shipped device cards with their update rule and number of states."""

    def run() -> None:
        from .analog.cards import list_devices, load_device

        rows = []
        for name in list_devices():
            card = load_device(name)
            rows.append({"name": name, "rule": card.rule, "states": card.implied_states,
                         "source": " ".join(card.source.split())})
        if json_out:
            typer.echo(json.dumps(rows))
            return
        for r in rows:
            src = r["source"] if len(r["source"]) <= 70 else r["source"][:67] + "..."
            typer.echo(f"{r['name']:10s} {r['rule']:14s} {r['states']:6d} states  {src}")

    _guard(run)


@devices_app.command("show")
def devices_show(name: str = typer.Argument(..., help="Card name or YAML path."), json_out: bool = JsonOpt) -> None:
    """The whole hardware a card implies: device rule and parameters, periphery (converters,
    noise, noise and bound management, tiling), weight mapping and pulse updates, each value with
    where it comes from (card, default) and each part with the card's citation."""

    def run() -> None:
        from .analog.cards import load_device
        from .analog.hardware import card_hardware, format_hardware

        hw = card_hardware(load_device(name))
        typer.echo(json.dumps(hw) if json_out else format_hardware(hw))

    _guard(run)


@devices_app.command("response")
def devices_response(name: str = typer.Argument(..., help="Card name or YAML path."),
                     pulses: int = typer.Option(100, "--pulses", help="Up pulses, then as many down pulses."),
                     devices: int = typer.Option(100, "--devices", help="Population size (device-to-device draws)."),
                     seed: int = typer.Option(0, "--seed", help="Seed of the device-to-device draws and cycle noise."),
                     json_out: bool = JsonOpt) -> None:
    """Weight after each of N up then N down pulses from w = 0: mean and std over devices."""

    def run() -> None:
        from .analog.cards import load_device
        from .analog.devices import response

        if pulses < 1 or devices < 1:
            raise ConfigError("--pulses and --devices must be >= 1")
        r = response(load_device(name).params, pulses, devices, seed)
        if json_out:
            typer.echo(json.dumps(r))
            return
        step = max(1, len(r["pulses"]) // 20)
        for p, m, sd in list(zip(r["pulses"], r["w_mean"], r["w_std"]))[::step]:
            typer.echo(f"{p:6d}  w_mean {m:+.4f}  w_std {sd:.4f}")

    _guard(run)


@devices_app.command("plot")
def devices_plot(name: str = typer.Argument(..., help="Card name or YAML path."),
                 out: Path = typer.Option(..., "--out", "-o", help="PNG file to write."),
                 pulses: int = typer.Option(0, "--pulses", help="Up/down pulses (0: enough to span the range)."),
                 devices: int = typer.Option(100, "--devices", help="Population size (device-to-device draws)."),
                 seed: int = typer.Option(0, "--seed", help="Seed of the device-to-device draws and cycle noise."),
                 json_out: bool = JsonOpt) -> None:
    """Plot a card's pulse response (mean +- std over devices, and a few single devices)."""

    def run() -> None:
        from .analog.cards import load_device
        from .report.device_plot import plot_response

        card = load_device(name)
        plot_response(card, out, pulses or None, devices, seed)
        typer.echo(json.dumps({"out": str(out), "device": card.name}) if json_out else f"wrote {out}")

    _guard(run)


def run() -> None:
    """Console-script entry point."""
    app(prog_name="analog-ep")


if __name__ == "__main__":  # pragma: no cover
    run()
