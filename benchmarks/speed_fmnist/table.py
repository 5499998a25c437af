"""Markdown table of the bench matrix (run_bench.sh output): base vs new per config and kernels.
Usage: python benchmarks/speed_fmnist/table.py raw/bench_base.jsonl raw/bench_new.jsonl"""
import json, sys

rows = {}
for tag, path in (("base", sys.argv[1]), ("new", sys.argv[2])):
    for line in open(path):
        d = json.loads(line)
        rows.setdefault((d["label"], d["kernels"]), {})[tag] = d
print("| config | kernels | before: analog / digital EP step (s) | before: ratio | after: analog / digital EP step (s) "
      "| after: ratio | analog sweeps / step (after) | load (1/5/15 min, after run) |")
print("|---|---|---|---|---|---|---|---|")
for (label, k), v in rows.items():
    cells = []
    for tag in ("base", "new"):
        b = v.get(tag, {}).get("bench")
        cells += (["-", "-"] if b is None else
                  [f"{b['ep_step_s']:.3f} / {b['digital_ep_step_s']:.3f}", f"**{b['analog_over_digital_ep_step']:.2f}**"])
    nb = v.get("new", {}).get("bench", {})
    print(f"| {label} | {k} | {' | '.join(cells)} | {nb.get('ep_sweeps_per_step', '-')} | {v.get('new', {}).get('load', '-')} |")
