"""Print the rows of benchmarks/settle_fmnist_s10.md from the JSON lines in this folder (and the
run folders' results.h5 for per-phase steps and settle times: RUNS, default /tmp/F10/runs)."""
import glob
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
RUNS = sys.argv[1] if len(sys.argv) > 1 else "/tmp/F10/runs"

print("| bench | EP step s | digital EP step s | analog / digital | steps per EP step (run / budget) | s per step | settle_step kernel |")
print("|---|---|---|---|---|---|---|")
for f in sorted(glob.glob(os.path.join(HERE, "settle_*.json")) + glob.glob(os.path.join(HERE, "iter_*.json"))):
    r = json.load(open(f))
    print(f"| {os.path.basename(f)[:-5]} | {r['ep_step_s']:.3f} | {r['digital_ep_step_s']:.4f} | "
          f"{r['analog_over_digital_ep_step']:.2f} | {r['ep_sweeps_per_step']:.1f} / {r['ep_sweeps_budget']:.1f} | "
          f"{r['ep_step_s'] / r['ep_sweeps_per_step'] * 1e3:.2f} ms | {r.get('kernels', {}).get('ran', {}).get('settle_step', '-')} |")
print()
print("| epoch | test acc | train acc | s / epoch (train) | eval s | steps free / nudge+ / nudge- / eval | settle time free / nudge+ / nudge- / eval (us) | settled free / nudge+ / nudge- |")
print("|---|---|---|---|---|---|---|---|")
from analog_ep.results.store import read_results  # noqa: E402

for f in sorted(glob.glob(os.path.join(HERE, "epoch_*.json"))):
    name = os.path.basename(f)[:-5]
    r = json.loads(open(f).read())
    ep = read_results(os.path.join(RUNS, name, "results.h5"))["epochs"]
    ph = ("free", "nudge+", "nudge-", "eval")
    g = lambda k: float(ep[k][-1]) if k in ep else float("nan")  # noqa: E731
    steps = " / ".join(f"{g(p + '_mean_steps'):.1f}" for p in ph)
    st = " / ".join(f"{g(p + '_settle_time_s') * 1e6:.2f}" for p in ph) if "free_settle_time_s" in ep else "-"
    sf = " / ".join(f"{g(p + '_settled_fraction'):.2f}" for p in ph[:3])
    print(f"| {name} | {r['test_accuracy']:.4f} | {r['train_accuracy']:.4f} | {r['seconds_per_epoch']:.1f} | "
          f"{g('eval_seconds'):.1f} | {steps} | {st} | {sf} |")
