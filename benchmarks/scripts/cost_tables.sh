#!/usr/bin/env bash
# Tables of benchmarks/cost_fmnist.md from the runs of cost_fmnist_runs.sh, cost_tools.sh,
# cost_neurosim.sh and the sweep (configs/sweeps/cost_fmnist.yaml): copies the raw --json outputs
# into benchmarks/cost_fmnist/ and prints markdown tables (figures read from the JSON and from each
# run's results.h5, last epoch). Usage: benchmarks/scripts/cost_tables.sh RUNDIR  (venv active)
set -u
RUN=${1:-/work/bench19_runs}
DST=benchmarks/cost_fmnist
mkdir -p "$DST"
python - "$RUN" "$DST" <<'PY'
import json, os, shutil, sys, glob
import h5py, numpy as np
run, dst = sys.argv[1], sys.argv[2]

def load(p):
    try:
        with open(p) as f:
            return json.loads(f.read().strip().splitlines()[-1])
    except Exception as e:
        return None

def eng(x, unit):
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "unknown"
    for s, f in (("", 1), ("m", 1e-3), ("u", 1e-6), ("n", 1e-9), ("p", 1e-12), ("f", 1e-15)):
        if abs(x) >= f or f == 1e-15:
            return f"{x / f:.3g} {s}{unit}"
    return f"{x:.3g} {unit}"

def last_epoch(folder):
    with h5py.File(os.path.join(folder, "results.h5"), "r") as f:
        return {k: float(f["epochs"][k][-1]) for k in f["epochs"]}

# figure 1
rows = [("digital EP", "digital_ep"), ("digital BP", "digital_bp"),
        ("analog EP, rounded", "analog_ep_rounded"), ("analog EP, mixed", "analog_ep_mixed"),
        ("BP on the same chip (rounded)", "bp_on_chip")]
print("## fig1")
print("| run | test acc | epoch accs | energy / training sample (chip) | latency / sample (chip) | area (chip) | GPU energy / sample | GPU latency / sample | pulses |")
print("|---|---|---|---|---|---|---|---|---|")
for name, key in rows:
    d = load(f"{run}/{key}.json")
    if d is None:
        print(f"| {name} | missing |"); continue
    shutil.copy(f"{run}/{key}.json", f"{dst}/{key}.json")
    ep = last_epoch(f"{run}/{key}")
    with h5py.File(f"{run}/{key}/results.h5", "r") as f:
        accs = " ".join(f"{a:.4f}" for a in f["epochs"]["test_accuracy"][:])
    print(f"| {name} | {d['test_accuracy']:.4f} | {accs} | {eng(d.get('energy_per_sample_j'), 'J')} | "
          f"{eng(d.get('latency_per_sample_s'), 's')} | {d['area_mm2']:.3f} mm2 |" if d.get('area_mm2') else
          f"| {name} | {d['test_accuracy']:.4f} | {accs} | - | - | - |", end="")
    print(f" {eng(d.get('gpu_energy_per_sample_j'), 'J')} | {eng(d.get('gpu_latency_per_sample_s'), 's')} | {d.get('pulses', '-')} |")
for key in ("analog_ep_rounded", "analog_ep_mixed", "bp_on_chip"):
    if not os.path.exists(f"{run}/{key}/results.h5"):
        continue
    ep = last_epoch(f"{run}/{key}")
    comps = ["drivers", "array", "adc", "digital", "write", "leakage"]
    phases = [p for p in ("free", "nudge+", "nudge-", "forward", "backward", "update")
              if f"energy_{p}_write_j" in ep]
    print(f"\n### breakdown {key} (last epoch, per training sample)")
    print("| phase | " + " | ".join(comps) + " | total | latency |")
    print("|---|" + "---|" * (len(comps) + 2))
    tot = {c: 0.0 for c in comps}
    for p in phases:
        vals = [ep.get(f"energy_{p}_{c}_j", float("nan")) for c in comps]
        for c, v in zip(comps, vals):
            tot[c] += v
        print(f"| {p} | " + " | ".join(eng(v, "J") for v in vals) + f" | {eng(sum(vals), 'J')} | {eng(ep.get(f'latency_{p}_s'), 's')} |")
    s = sum(tot.values())
    print("| all | " + " | ".join(f"{eng(tot[c], 'J')} ({100 * tot[c] / s:.1f}%)" for c in comps) + f" | {eng(s, 'J')} | {eng(ep['latency_per_sample_s'], 's')} |")

# figure 2
print("\n## fig2")
for key in ("cost_dchn_vgg5", "bench_default", "bench_fmnist"):
    d = load(f"{run}/tools/{key}.json")
    if d is None:
        print(key, "missing"); continue
    shutil.copy(f"{run}/tools/{key}.json", f"{dst}/{key}.json")
    if key.startswith("bench"):
        print(key, {k: v for k, v in d.items() if not isinstance(v, (dict, list))})
    else:
        print(key, json.dumps(d)[:3000])
t = f"{run}/tools/cost_dchn_vgg5.time"
if os.path.exists(t):
    shutil.copy(t, f"{dst}/cost_dchn_vgg5.time.txt")
    print(open(t).read()[-1500:])

# figure 3: benchmarks/scripts/cost_neurosim_table.py (called below)
PY
# figure 3 (NeuroSim's setting, backprop 400-100-10): its tables from the JSON that
# cost_neurosim.sh wrote (copy them into benchmarks/cost_fmnist/neurosim/ by hand)
python benchmarks/scripts/cost_neurosim_table.py "$RUN/neurosim"
