"""Price one stored run's epoch-2 event counts (its own reads, sweeps and pulses) again with every
analog layer's ``read_integration`` set to m: what read integration costs at fixed counts (the
price factor of m alone), by component. The run's chip and card as it ran (its stored config).

    python benchmarks/analog_noise_budget_s13/reprice.py RUN_DIR [m ...]
"""

import copy
import sys

from analog_ep.analog.cards import load_device
import yaml

from analog_ep.config.loader import from_dict
from analog_ep.hardware import price
from analog_ep.results.store import read_results


def main(run: str, ms: list) -> None:
    r = read_results(run + "/results.h5")
    rec = r["records"]["event_counts"][-1]
    cfg = from_dict(yaml.safe_load(r["config_yaml"]))
    card = load_device(cfg.analog.device)
    print(f"{run}: epoch-2 counts, card {cfg.analog.device}, stored m "
          f"{sorted({l.get('read_integration') for l in rec['layers'] if l['analog']})}")
    print("| m | train J/sample | train s/sample | infer J/sample | infer s/sample | train array / drivers / adc / digital J/sample |")
    print("|---|---|---|---|---|---|")
    for m in ms:
        rm = copy.deepcopy(rec)
        for layer in rm["layers"]:
            if layer["analog"]:
                layer["read_integration"] = float(m)
        d = price(rm, cfg.chip, card).to_dict()
        tr, inf, comp = d["train"], d["inference"], d["by_component_j"]
        n = tr["samples"]
        print(f"| {m:g} | {tr['energy_per_sample_j']:.3e} | {tr['latency_per_sample_s']:.3e} | "
              f"{inf['energy_per_sample_j']:.3e} | {inf['latency_per_sample_s']:.3e} | "
              + " / ".join(f"{comp[c] / n:.2e}" for c in ("array", "drivers", "adc", "digital")) + " |")


if __name__ == "__main__":
    main(sys.argv[1], [float(v) for v in sys.argv[2:]] or [1.0, 4.0, 16.0, 64.0])
