"""Command-line shell: parse -> config -> call. No numerics here.

Every :class:`AnalogEPError` becomes one line on stderr and exit code 2 (``--debug`` shows the
traceback).
"""

from __future__ import annotations

import datetime
import json
import sys
import traceback
from pathlib import Path
from typing import Callable, Optional

import typer

from .errors import AnalogEPError, ConfigError

app = typer.Typer(add_completion=False, no_args_is_help=False, pretty_exceptions_enable=False,
                  help="Equilibrium Propagation on simulated memristor crossbars, with digital references.")

_STATE = {"debug": False}

ConfigOpt = typer.Option(None, "--config", "-c", help="Experiment YAML (keys as in the README).")
SetOpt = typer.Option(None, "--set", "-s", help="Override a config key: dotted.key=YAML value, e.g. model.hidden=[500,200].")
JsonOpt = typer.Option(False, "--json", help="Print one JSON object as the last line of stdout.")


@app.callback()
def main(debug: bool = typer.Option(False, "--debug", help="Show tracebacks instead of one-line errors.")) -> None:
    _STATE["debug"] = debug


def _guard(fn: Callable[[], None]) -> None:
    """Run ``fn``; map user errors to exit code 2 with one line."""
    try:
        fn()
    except AnalogEPError as e:
        if _STATE["debug"]:
            traceback.print_exc()
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2)
    except KeyboardInterrupt:
        typer.echo("interrupted: the last checkpoint and results file are kept", err=True)
        raise typer.Exit(130)


def _default_out(cfg) -> Path:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{stamp}-{cfg.model.name}-{cfg.algorithm}"


@app.command()
def train(config: Optional[Path] = ConfigOpt, set_: Optional[list[str]] = SetOpt,
          out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output folder (default runs/<time>-<model>-<algorithm>)."),
          resume: Optional[Path] = typer.Option(None, "--resume", help="Continue the run in this folder from its checkpoint."),
          json_out: bool = JsonOpt) -> None:
    """Train a model (default: hopfield_mlp on the embedded digits set with centered EP)."""

    def run() -> None:
        from .config import load_config, read_yaml
        from .train.checkpoint import load_checkpoint
        from .train.loop import fit, make_trainer, resume_trainer

        import yaml

        if resume is not None:
            if config is not None:
                raise ConfigError("--config cannot be combined with --resume (the run's own config is used); "
                                  "use --set to change keys such as train.epochs")
            ckpt = load_checkpoint(Path(resume) / "checkpoint.pt")
            base = yaml.safe_load(ckpt["config_yaml"])
            cfg = load_config(None, set_ or [], base=base)
            trainer = resume_trainer(resume, cfg, out)
        else:
            cfg = load_config(config, set_ or [])
            out_dir = out or _default_out(cfg)
            trainer = make_trainer(cfg, out_dir)

        def log(row: dict) -> None:
            if json_out:
                return
            test = (f"  test loss {row['test_loss']:.4f} acc {row['test_accuracy']:.4f}"
                    if "test_accuracy" in row else "")
            conv = "".join(f"  {p} steps {row[p + '_mean_steps']:.1f} conv {row[p + '_converged_fraction']:.2f}"
                           for p in ("free", "nudge+", "nudge-") if p + "_mean_steps" in row)
            typer.echo(f"epoch {row['epoch']:3d}  train loss {row['train_loss']:.4f} acc {row['train_accuracy']:.4f}"
                       f"{test}  {row['seconds']:.1f}s{conv}")

        if not json_out:
            typer.echo(f"training {cfg.model.name} on {cfg.data.name} with {cfg.algorithm}"
                       f"{' (' + cfg.ep.estimator + ' EP)' if cfg.algorithm == 'ep' else ''} -> {trainer.out_dir}")
        info = fit(trainer, progress=not json_out, log=log)
        last = trainer.history[-1] if trainer.history else {}
        tested = [r for r in trainer.history if "test_accuracy" in r]
        summary = {
            "test_accuracy": tested[-1]["test_accuracy"] if tested else None,
            "test_loss": tested[-1]["test_loss"] if tested else None,
            "train_accuracy": last.get("train_accuracy"),
            "train_loss": last.get("train_loss"),
            "epochs": trainer.epoch,
            "seconds": info["seconds"],
            "seconds_per_epoch": (sum(r["seconds"] for r in trainer.history) / len(trainer.history)
                                  if trainer.history else None),
            "algorithm": cfg.algorithm,
            "model": cfg.model.name,
            "dataset": cfg.data.name,
            "results": str(trainer.results_path),
            "checkpoint": str(trainer.checkpoint_path),
        }
        if json_out:
            typer.echo(json.dumps(summary))
        else:
            typer.echo(f"done: test accuracy {summary['test_accuracy']}, results in {summary['results']}")

    _guard(run)


@app.command()
def gradcheck(config: Optional[Path] = ConfigOpt, set_: Optional[list[str]] = SetOpt,
              betas: str = typer.Option("0.1,0.01,0.001", "--betas", help="Comma-separated nudging strengths."),
              batch: int = typer.Option(16, "--batch", help="Examples in the checked mini-batch."),
              iters: int = typer.Option(5000, "--iters", help="Maximum relaxation sweeps per phase."),
              tol: float = typer.Option(1e-12, "--tol", help="Relaxation tolerance (float64)."),
              json_out: bool = JsonOpt) -> None:
    """Compare EP's gradient estimate with the exact gradient at the free fixed point, per layer."""

    def run() -> None:
        import torch

        from .algorithms.gradcheck import gradcheck as check
        from .config import load_config
        from .data import load_data
        from .train.build import build_model, build_solver
        from .train.loop import one_hot

        try:
            beta_list = [float(b) for b in betas.split(",") if b.strip()]
        except ValueError:
            raise ConfigError(f"--betas: expected comma-separated numbers such as 0.1,0.01, got {betas!r}")
        if not beta_list or any(b <= 0 for b in beta_list):
            raise ConfigError(f"--betas: need positive numbers, got {betas!r}")
        if batch < 1 or iters < 1 or tol < 0:
            raise ConfigError("--batch and --iters must be >= 1 and --tol >= 0")
        cfg = load_config(config, set_ or [])
        train_set, _, info = load_data(cfg.data, cfg.seed)
        model = build_model(cfg, info.shape, info.num_classes).double()
        x = train_set.x[:batch].double()
        target = one_hot(train_set.y[:batch], info.num_classes, torch.float64)
        gen = torch.Generator().manual_seed(cfg.seed)
        report = check(model, x, target, build_solver(cfg), beta_list, cfg.ep.estimator, iters=iters, tol=tol,
                       damping=cfg.solver.damping, generator=gen)
        if json_out:
            typer.echo(json.dumps(report))
            return
        typer.echo(f"estimator {report['estimator']}; free phase converged fraction "
                   f"{report['free_converged_fraction']:.2f} in {report['free_sweeps']} sweeps")
        typer.echo(f"{'layer':32s} {'beta':>8s} {'cosine':>10s} {'rel_error':>10s} {'sat_changes':>11s}")
        for row in report["layers"]:
            typer.echo(f"{row['name']:32s} {row['beta']:8.4g} {row['cosine']:10.6f} {row['rel_error']:10.3e} "
                       f"{row['saturation_changes']:11d}")
        typer.echo("sat_changes: hidden units crossing an activation bound between the free and nudged "
                   "states; EP is exact to O(beta^2) only where it is 0 (try a smaller beta)")

    _guard(run)


@app.command()
def bench(config: Optional[Path] = ConfigOpt, set_: Optional[list[str]] = SetOpt,
          repeats: int = typer.Option(10, "--repeats", help="Timed repetitions (the median is reported)."),
          warmup: int = typer.Option(2, "--warmup", help="Untimed warm-up repetitions first."),
          json_out: bool = JsonOpt) -> None:
    """Time one relaxation sweep, one EP training step and one backprop-twin step on one batch."""

    def run() -> None:
        from .bench import bench as run_bench
        from .config import load_config

        if repeats < 1:
            raise ConfigError(f"--repeats: must be >= 1, got {repeats}")
        if warmup < 0:
            raise ConfigError(f"--warmup: must be >= 0, got {warmup}")
        cfg = load_config(config, set_ or [])
        r = run_bench(cfg, repeats=repeats, warmup=warmup)
        if json_out:
            typer.echo(json.dumps(r))
            return
        typer.echo(f"{r['model']} on {r['dataset']}, batch {r['batch']}, {r['solver']} solver, "
                   f"{r['estimator']} EP; median of {r['repeats']} after {r['warmup']} warm-up; "
                   f"torch {r['torch_version']}, {r['torch_threads']} threads, {r['device']}")
        typer.echo(f"{'':24s} {'seconds':>10s} {'/ bp step':>10s} {'images/s':>10s}")
        typer.echo(f"{'sweep (1 relaxation)':24s} {r['sweep_s']:10.4g} {r['sweep_over_bp_step']:10.3f} {'':>10s}")
        typer.echo(f"{'bp step (backprop twin)':24s} {r['bp_step_s']:10.4g} {1.0:10.3f} {r['bp_images_per_s']:10.1f}")
        typer.echo(f"{'ep step':24s} {r['ep_step_s']:10.4g} {r['ep_step_over_bp_step']:10.3f} {r['images_per_s']:10.1f}")
        typer.echo(f"EP sweeps per step: {r['ep_sweeps_per_step']:.1f} run of {r['ep_sweeps_budget']} "
                   f"(free {r['free_iters']} + nudged {r['nudge_iters']} each, tol {r['tol']:g})")

    _guard(run)


def run() -> None:
    """Console-script entry point."""
    app(prog_name="analog-ep")


if __name__ == "__main__":  # pragma: no cover
    run()
