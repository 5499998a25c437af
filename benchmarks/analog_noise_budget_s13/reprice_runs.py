"""Price every noise-budget run's epoch-2 event counts (as stored: its own m, reads, sweeps and
pulses) with the current cost model, per run and as means over seeds per group (NAME =
GROUP_sSEED; the K2 m 1 runs as group ``m1``, the rerun of its seed 0 as ``m1_rerun``): the runs' training and inference energy and
latency per sample after a change of the cost model (session 13, helper M: row drivers priced per
drive, not x m), without training again.

    python benchmarks/analog_noise_budget_s13/reprice_runs.py /tmp/I_runs [/tmp/K2_runs NAME ...]
"""

import sys
from collections import defaultdict
from pathlib import Path
from statistics import mean

import yaml

from analog_ep.analog.cards import load_device
from analog_ep.config.loader import from_dict
from analog_ep.hardware import price
from analog_ep.results.store import read_results


def priced(run: Path) -> dict:
    r = read_results(str(run / "results.h5"))
    rec = r["records"]["event_counts"][-1]
    cfg = from_dict(yaml.safe_load(r["config_yaml"]))
    d = price(rec, cfg.chip, load_device(cfg.analog.device)).to_dict()
    tr, inf = d["train"], d["inference"]
    return {"E": tr["energy_per_sample_j"], "t": tr["latency_per_sample_s"], "Ei": inf["energy_per_sample_j"],
            "ti": inf["latency_per_sample_s"], "drivers": d["by_component_j"]["drivers"] / tr["samples"],
            "stored_E": r["epochs"]["energy_per_sample_j"][-1]}


def main(argv):
    runs = {p.name: p for p in sorted(Path(argv[0]).iterdir()) if (p / "results.h5").exists()}
    for name in argv[2:]:
        runs["K2:" + name] = Path(argv[1]) / name
    groups = defaultdict(list)
    print("| run | train J/sample (stored -> now) | train s/sample | infer J/sample | infer s/sample | drivers J/sample |")
    print("|---|---|---|---|---|---|")
    for name, path in runs.items():
        p = priced(path)
        g = "m1" if name.startswith("K2:") else name.rsplit("_s", 1)[0]
        g = "m1_rerun" if g == "m1" and not name.startswith("K2:") and len(argv) > 2 else g
        groups[g].append(p)
        print(f"| {name} | {p['stored_E']:.3e} -> {p['E']:.3e} | {p['t']:.3e} | {p['Ei']:.3e} | {p['ti']:.3e} | "
              f"{p['drivers']:.2e} |")
    print()
    base = mean(p["E"] for p in groups["m1"]) if "m1" in groups else None
    base_t = mean(p["t"] for p in groups["m1"]) if "m1" in groups else None
    print("| group | seeds | train J/sample (mean) | x m 1 | train s/sample | x m 1 | infer J/sample | infer s/sample |")
    print("|---|---|---|---|---|---|---|---|")
    for g in sorted(groups, key=lambda g: (len(g), g)):
        ps = groups[g]
        E, t = mean(p["E"] for p in ps), mean(p["t"] for p in ps)
        print(f"| {g} | {len(ps)} | {E:.3e} | {E / base:.2f}x | {t:.3e} | {t / base_t:.2f}x | "
              f"{mean(p['Ei'] for p in ps):.3e} | {mean(p['ti'] for p in ps):.3e} |")


if __name__ == "__main__":
    main(sys.argv[1:])
