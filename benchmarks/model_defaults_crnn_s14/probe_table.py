"""Markdown rows from gain_probe.py's JSON lines (python probe_table.py raw/FILE.jsonl...): per profile
the free couplings' largest operator norm, the twin's state std at nodes 4 / 8 / output, the twin's and the
equilibrium's fraction of units at 1 (nodes 1-10), |eq - ff| at 1 (mean over nodes), the output's std over
the images (equilibrium / twin), converged fraction and mean sweeps."""
import json
import sys


def f(v):
    return " ".join(f"{x:.2f}".lstrip("0") if x else "0" for x in v)


for path in sys.argv[1:]:
    for line in open(path):
        d = json.loads(line)
        eqs, ffs = d.get("eq_sample_std"), d.get("ff_sample_std")
        out = f"{eqs[-1]:.2g} / {ffs[-1]:.2g}" if eqs else "-"
        print(f"| {d['tag']} | {max(d['ops']):.2f} | {d['ff_std'][3]:.2g} / {d['ff_std'][7]:.2g} / {d['ff_std'][-1]:.2g} "
              f"| {f(d['ff_at1'])} | {f(d['eq_at1'])} | {d['eq_minus_ff_at1']:.3f} | {out} | {d['converged']:.2f} / "
              f"{d['mean_sweeps']:.0f} |")
