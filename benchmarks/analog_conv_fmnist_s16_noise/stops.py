"""Per-epoch sweeps and stops of dchn_vgg5 card runs (session 16, task A): for each run folder, per
epoch, the mean sweeps of the free / nudge+ / nudge- phases, their converged (residual below
solver.tol) and settled (converged or stopped on the noise floor) fractions, the test accuracy and
the chip energy per training sample (the run's cost model), from results.h5
(python stops.py RUN_DIR...)."""
import sys
from pathlib import Path

from analog_ep.results import read_results

PHASES = ("free", "nudge+", "nudge-")
print("| run | status | epoch | test acc. | mean sweeps free / nudge+ / nudge- | converged free / nudge+ / nudge- "
      "| settled free / nudge+ / nudge- | eval sweeps | chip J per training sample |")
print("|---|---|---|---|---|---|---|---|---|")
for run in map(Path, sys.argv[1:]):
    r = read_results(run / "results.h5")
    ep = r["epochs"]
    for i, e in enumerate(ep.get("epoch", [])):
        def row(key):
            return " / ".join(f"{ep[f'{p}_{key}'][i]:.3g}" if f"{p}_{key}" in ep else "-" for p in PHASES)
        energy = ep.get("energy_per_sample_j")
        print(f"| {run.name} | {r['status']} | {int(e)} | {ep['test_accuracy'][i]:.4f} | {row('mean_steps')} "
              f"| {row('converged_fraction')} | {row('settled_fraction')} | {ep['eval_mean_steps'][i]:.2f} "
              f"| {energy[i]:.3g} |" if energy is not None else "| - |")
