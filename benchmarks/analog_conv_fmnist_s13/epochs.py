"""Per-epoch figures of the s13 run folders (results.h5 through analog_ep.results.store.read_results):
test accuracy, train accuracy, mean sweeps free / nudge+ / nudge-, seconds per epoch, pulses.

usage: python benchmarks/analog_conv_fmnist_s13/epochs.py RUN_DIR [RUN_DIR ...]
"""
import sys

from analog_ep.results.store import read_results

for run in sys.argv[1:]:
    r = read_results(f"{run}/results.h5")
    ep = r["epochs"]
    n = len(next(iter(ep.values()))) if ep else 0
    print(f"# {run}: status {r['status']}, {n} epochs recorded")
    for i in range(n):
        row = {k: v[i] for k, v in ep.items()}
        steps = " ".join(f"{k[:-11]}={row[k]:.2f}" for k in row if k.endswith("_mean_steps"))
        pulses = sum(v for k, v in row.items() if k.startswith("pulses_layer"))
        print(f"  epoch {i + 1}: test {row.get('test_accuracy', float('nan')):.4f} "
              f"train {row.get('train_accuracy', float('nan')):.4f} s {row.get('seconds', float('nan')):.0f} "
              f"steps {steps} pulses {pulses:.0f}")
