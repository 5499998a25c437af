"""Markdown rows from probe.py's JSON lines: python table.py RAW_FILE [STEP ...] (helper D, s13)."""
import json, sys

f, steps = sys.argv[1], {int(s) for s in sys.argv[2:]}
for line in open(f):
    if not line.startswith("{"):
        continue
    r = json.loads(line)
    if steps and r["step"] not in steps:
        continue
    st = r.get("states") or []
    sat = " | ".join(f"{x['at0']:.2f} / {x['at1']:.2f} / {x['std_over_samples']:.3f}" for x in st[1:4]) if st else "- | - | -"
    print(f"| {r['step']} | {r['loss']:.3f} | {r['out_std']:.3f} | {r['sweeps']['free']:.1f} | {r['sweeps'].get('nudge+', 0):.1f} | {sat} |")
