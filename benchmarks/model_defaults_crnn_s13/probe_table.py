"""Summaries of twin_probe.py's lines (python probe_table.py raw/probe_TAG.jsonl ...): per file, the
first probed step at which the output's cross-entropy on the 512 probe images is below 2.25 (the
escape from chance, ln 10 = 2.303), the probe loss / accuracy at steps 0, 50, 100, 300, 600, and the
per-node std at step 0 and the fraction of units at either clip bound at the last probed step."""
import json
import sys

for f in sys.argv[1:]:
    rows = [json.loads(line) for line in open(f)]
    pr = {r["step"]: r for r in rows if "cost" in r}
    esc = next((s for s in sorted(pr) if pr[s]["out_ce"] < 2.25), None)
    last = max(pr)
    out = {"file": f.split("/")[-1], "escape_step": esc,
           "out_ce/acc": {s: [pr[s]["out_ce"], pr[s]["acc"]] for s in (0, 50, 100, 300, 600) if s in pr},
           "std_step0": pr[0]["std"], "last_step": last,
           "at_bound_last": [round(a + b, 2) for a, b in zip(pr[last]["at0"], pr[last]["at1"])],
           "test_acc_epochs": [r["test_accuracy"] for r in rows if "epoch" in r]}
    print(json.dumps(out))
