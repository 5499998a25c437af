"""The record's bench table: per round, ep_step_s old vs new (default step and dt = tau), and the ratios."""
import json, statistics
rows = []
for dt in ("", "dt1_"):
    rat = []
    for r in "abcdef":
        try:
            o = json.load(open(f"settle_{dt}old_{r}.json")); n = json.load(open(f"settle_{dt}new_{r}.json"))
        except FileNotFoundError:
            continue
        rat.append(n["ep_step_s"] / o["ep_step_s"])
        print(f"| {dt or 'default '}{r} | {o['ep_step_s']*1e3:.1f} | {n['ep_step_s']*1e3:.1f} | {rat[-1]:.3f} | "
              f"{o['ep_sweeps_per_step']} / {n['ep_sweeps_per_step']} | {o['ep_sweeps_budget']} / {n['ep_sweeps_budget']} |")
    print(f"| {dt or 'default '}median ratio | | | {statistics.median(rat):.3f} | | |")
