"""Per-run table of the session-15 dchn_vgg5 runs: test accuracy per epoch, mean sweeps per phase,
chip energy per training sample (last epoch, the run's cost model), CPU seconds (user + sys) and wall seconds from each run's log (raw/train_*.txt) and
results.h5 (python summarize.py RUN_DIR...)."""
import re
import sys
from pathlib import Path

from analog_ep.results import read_results

RAW = Path(__file__).parent / "raw"
for run in map(Path, sys.argv[1:]):
    r = read_results(run / "results.h5")
    ep = r["epochs"]
    acc = " / ".join(f"{a:.4f}" for a in ep["test_accuracy"])
    sweeps = " / ".join(f"{ep[k][-1]:.2f}" for k in ("free_mean_steps", "nudge+_mean_steps") if k in ep)
    name = run.name
    log = RAW / f"train_{name}.txt"
    log = log if log.exists() else None
    cpu = wall = head = tail = "?"
    if log:
        text = log.read_text()
        m = re.search(r"time user_s sys_s wall_s: ([\d.]+) ([\d.]+) ([\d.]+)", text)
        if m:
            cpu, wall = f"{float(m[1]) + float(m[2]):.0f}", f"{float(m[3]):.0f}"
        lines = text.splitlines()
        head, tail = lines[0].split(" start ")[-1], lines[-1].split(" end ")[-1]
    e = ep.get("energy_per_sample_j")
    energy = f"{e[-1]:.3g}" if e is not None else "-"
    print(f"| {name} | {r['status']} | {acc} | {sweeps} | {energy} | {cpu} / {wall} | {head} -> {tail} |")
