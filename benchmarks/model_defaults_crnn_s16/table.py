"""Markdown rows of per-epoch figures from runs' results.h5 (epochs/*).

python benchmarks/model_defaults_crnn_s16/table.py RUN [RUN ...]
One row per run: test accuracy, test loss, train accuracy per epoch; free / nudged phases'
converged fraction and mean sweeps per epoch (where the run has them); seconds per epoch
(training; evaluation); the run's status.
"""
import sys

import h5py


def per_epoch(e, key, fmt):
    return ", ".join(fmt.format(v) for v in e[key][()]) if key in e else "-"


for run in sys.argv[1:]:
    with h5py.File(f"{run}/results.h5", "r") as f:
        e = f["epochs"]
        status = f.attrs.get("status", "?")
        phases = []
        for ph in ("free", "nudge+", "nudge-", "eval"):
            if f"{ph}_mean_steps" in e:
                c, m = e[f"{ph}_converged_fraction"][()], e[f"{ph}_mean_steps"][()]
                phases.append(f"{ph} " + "; ".join(f"{a:.3g} / {b:.1f}" for a, b in zip(c, m)))
        secs = "; ".join(f"{a:.0f} ({b:.0f})" for a, b in zip(e["seconds"][()], e["eval_seconds"][()]))
        print(f"| {run.rstrip('/').split('/')[-1]} | {per_epoch(e, 'test_accuracy', '{:.4g}')} "
              f"| {per_epoch(e, 'test_loss', '{:.4g}')} | {per_epoch(e, 'train_accuracy', '{:.4g}')} "
              f"| {'<br>'.join(phases) or '-'} | {secs} | {status} |")
