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

# figure 3
print("\n## fig3")
ns = {"neurosim": ("Ag:a-Si", 13.44e-3, 31997), "taox_hfox": ("TaOx/HfOx", 4.01e-3, 10.15),
      "pcmo": ("PCMO", 2.53e-3, 12218), "alox_hfo2": ("AlOx/HfO2", 15.26e-3, 470),
      "gst_pcm": ("GST PCM", 35.0e-3, 203), "epiram": ("EpiRAM", 31.0e-3, 229.6),
      "hzo_fefet": ("HZO FeFET", 1.9e-3, 2.73)}
print("| card | test acc | pulses / sample | write E / sample | train E / sample | latency / sample | update latency / sample | EP step write E (cost) | BP step write E (cost) | BP step E | BP step latency | NeuroSim E / sample (run / epoch) | NeuroSim latency / sample (run / epoch) |")
print("|---|" + "---|" * 12)
os.makedirs(f"{dst}/neurosim", exist_ok=True)
for card, (label, e_ns, t_ns) in ns.items():
    d = load(f"{run}/neurosim/{card}.json"); c = load(f"{run}/neurosim/{card}.cost.json")
    if d is None:
        print(f"| {card} | missing |"); continue
    shutil.copy(f"{run}/neurosim/{card}.json", f"{dst}/neurosim/{card}.json")
    if c is not None:
        shutil.copy(f"{run}/neurosim/{card}.cost.json", f"{dst}/neurosim/{card}.cost.json")
    ep = last_epoch(f"{run}/neurosim/{card}")
    with h5py.File(f"{run}/neurosim/{card}/results.h5", "r") as f:
        n = json.loads(f["records/event_counts"][-1])["phases"]
    samples = n.get("free", {}).get("samples", 1)
    wr = ep.get("energy_update_write_j")
    cw = bw = be = bl = None
    if c is not None:
        var = {v["variant"]: v["cost"]["chip"] for v in c["variants"]}
        ep_c, bp_c = var.get("ep on the chip"), var.get("bp on the same chip")
        cw = ep_c["by_component_j"]["write"] if ep_c else None
        if bp_c:
            bw, be, bl = bp_c["by_component_j"]["write"], bp_c["train"]["energy_per_sample_j"], bp_c["train"]["latency_per_sample_s"]
    print(f"| {card} ({label}) | {d['test_accuracy']:.3f} | {d['pulses'] / samples:.0f} | {eng(wr, 'J')} | {eng(d['energy_per_sample_j'], 'J')} | "
          f"{eng(d['latency_per_sample_s'], 's')} | {eng(ep.get('latency_update_s'), 's')} | {eng(cw, 'J')} | {eng(bw, 'J')} | {eng(be, 'J')} | {eng(bl, 's')} | "
          f"{eng(e_ns / 1e6, 'J')} / {eng(e_ns / 8000, 'J')} | {eng(t_ns / 1e6, 's')} / {eng(t_ns / 8000, 's')} |")
PY
# figure 3, by component (all training phases, last epoch, per training sample)
python - "$RUN" <<'PY'
import os, sys, h5py, math
run = sys.argv[1]
comps = ["drivers", "array", "adc", "digital", "write", "leakage"]
print("\n| card | " + " | ".join(comps) + " | update latency | read latency (free + nudged) |")
print("|---|" + "---|" * (len(comps) + 2))
for card in ("neurosim", "taox_hfox", "pcmo", "alox_hfo2", "gst_pcm", "epiram", "hzo_fefet"):
    p = f"{run}/neurosim/{card}/results.h5"
    if not os.path.exists(p):
        continue
    with h5py.File(p, "r") as f:
        e = {k: float(f["epochs"][k][-1]) for k in f["epochs"]} if "epochs" in f else {}
    if "latency_update_s" not in e:
        continue
    tot = {c: sum(e.get(f"energy_{ph}_{c}_j", 0.0) for ph in ("free", "nudge+", "nudge-", "update")) for c in comps}
    fmt = lambda x, u: f"{x * 1e9:.3g} n{u}" if x < 1e-6 else f"{x * 1e6:.3g} u{u}"
    rl = sum(e.get(f"latency_{ph}_s", 0.0) for ph in ("free", "nudge+", "nudge-"))
    print(f"| {card} | " + " | ".join(fmt(tot[c], "J") for c in comps) + f" | {e['latency_update_s']:.3g} s | {rl * 1e6:.3g} us |")
PY
