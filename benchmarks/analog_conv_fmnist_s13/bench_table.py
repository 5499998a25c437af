"""The bench --from figures of raw/bench_*.txt (bench_from.sh's output: '#' lines and one JSON line per bench).

usage: python benchmarks/analog_conv_fmnist_s13/bench_table.py raw/bench_*.txt
"""
import json
import sys

KEYS = ("ep_step_s", "digital_ep_step_s", "digital_ep_sweeps_per_step", "analog_over_digital_ep_step", "ep_sweeps_per_step", "ep_sweeps_budget",
        "sweep_s", "bp_step_s", "pulses_per_step", "from_epochs")
for path in sys.argv[1:]:
    head = None
    for line in open(path):
        if line.startswith("# ") and " start " in line:
            head = line[2:].strip()
        elif line.startswith("{"):
            r = json.loads(line)
            print(f"{path}: {head}\n   " + " ".join(f"{k}={r.get(k):.4g}" if isinstance(r.get(k), float)
                                                 else f"{k}={r.get(k)}" for k in KEYS))
