"""Tables of figure 3 of benchmarks/cost_fmnist.md from the raw JSON of cost_neurosim.sh.

Usage: python benchmarks/scripts/cost_neurosim_table.py DIR   (DIR holds CARD.json, CARD.cost.json)
Per training sample: the run's chip cost (last epoch; forward + backward + update of backprop),
beside MLP+NeuroSim V3.0's Table II (hardware_costs.md section 5.2) read two ways: the totals
divided by the whole default run (125 epochs x 8,000 images) or by one epoch (8,000 images).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

# card, NeuroSim name, Table II training energy (J), latency (s), accuracy
TABLE = [("neurosim", "Ag:a-Si", 13.44e-3, 31997.0, "~72%"),
         ("taox_hfox", "TaOx/HfOx", 4.01e-3, 10.15, "~80%"),
         ("pcmo", "PCMO", 2.53e-3, 12218.0, "~33%"),
         ("alox_hfo2", "AlOx/HfO2", 15.26e-3, 470.0, "~20%"),
         ("gst_pcm", "GST PCM", 35.0e-3, 203.0, "89%"),
         ("epiram", "EpiRAM", 31.0e-3, 229.6, "92%"),
         ("hzo_fefet", "HZO FeFET", 1.9e-3, 2.73, "88%")]
RUN, EPOCH = 125 * 8000, 8000
TRAIN = ("forward", "backward", "update")


def si(x: float, unit: str) -> str:
    for scale, p in ((1, ""), (1e-3, "m"), (1e-6, "u"), (1e-9, "n"), (1e-12, "p"), (1e-15, "f"), (1e-18, "a")):
        if abs(x) >= scale or scale == 1e-18:
            v = x / scale
            return f"{v:.3g} {p}{unit}" if abs(v) < 1000 else f"{v:,.0f} {p}{unit}"
    return f"0 {unit}"


def main(d: Path) -> None:
    rows1, rows2, rows3 = [], [], []
    for card, name, e_tab, t_tab, acc_tab in TABLE:
        if not (d / f"{card}.json").exists():
            continue
        r = json.loads((d / f"{card}.json").read_text())
        chip = r["cost"]["chip"]
        n = chip["samples"]["forward"]
        e = {ph: {k: v / n for k, v in chip["energy_j"][ph].items()} for ph in TRAIN}
        lat = {ph: chip["latency_s"][ph] / n for ph in TRAIN}
        e_tot, t_tot = r["energy_per_sample_j"], r["latency_per_sample_s"]
        pulses = r["pulses"] / n
        w = yaml.safe_load((Path("devices") / f"{card}.yaml").read_text())["write"]
        e_pulse = e["update"]["write"] / (r["pulses"] / n) if pulses else float("nan")
        slot = 0.5 * (float(w["t_set_s"]) + float(w["t_reset_s"]))  # PyYAML reads 5e-08 as a string
        rows1.append(f"| `{card}` ({name}) | {r['test_accuracy']:.3f} / {r['train_accuracy']:.3f} | {acc_tab} "
                     f"| {si(e_tot, 'J')} | {si(t_tot, 's')} "
                     f"| {si(e_tab / RUN, 'J')} / {si(e_tab / EPOCH, 'J')} | {si(t_tab / RUN, 's')} / {si(t_tab / EPOCH, 's')} "
                     f"| {e_tot / (e_tab / RUN):.3g} / {e_tot / (e_tab / EPOCH):.3g} "
                     f"| {t_tot / (t_tab / RUN):.3g} / {t_tot / (t_tab / EPOCH):.3g} |")
        read = {k: e["forward"][k] + e["backward"][k] for k in ("drivers", "array", "adc", "digital")}
        leak = sum(e[ph]["leakage"] for ph in TRAIN)
        rows2.append(f"| `{card}` | {si(read['array'], 'J')} | {si(read['drivers'] + read['adc'] + read['digital'], 'J')} "
                     f"| {si(e['update']['digital'], 'J')} | **{si(e['update']['write'], 'J')}** | {si(leak, 'J')} "
                     f"| {si(lat['forward'] + lat['backward'], 's')} | {si(lat['update'], 's')} |")
        rows3.append(f"| `{card}` | {pulses:,.0f} | {si(e_pulse, 'J')} | {lat['update'] / slot:,.0f} "
                     f"| {e_tab / RUN / e_pulse:,.0f} / {e_tab / EPOCH / e_pulse:,.0f} "
                     f"| {t_tab / RUN / slot:,.0f} / {t_tab / EPOCH / slot:,.0f} |")
    print("| card (NeuroSim name) | test / train acc. (ours) | NeuroSim acc. | **training energy / sample** "
          "| **latency / sample** | NeuroSim energy / sample, run / epoch | NeuroSim latency / sample, run / epoch "
          "| ours / NeuroSim, energy (run / epoch) | ours / NeuroSim, latency (run / epoch) |")
    print("|---" * 9 + "|")
    print("\n".join(rows1))
    print()
    print("| card | array read (fwd + bwd) | read periphery: drivers + ADC + digital | update digital (outer product) "
          "| write (cells) | leakage | read latency | update latency |")
    print("|---" * 8 + "|")
    print("\n".join(rows2))
    print()
    print("| card | pulses / sample (ours) | write energy / pulse (ours) | write slots / sample (ours) "
          "| pulses / sample implied by NeuroSim's energy, run / epoch | write slots / sample implied by NeuroSim's "
          "latency, run / epoch |")
    print("|---" * 6 + "|")
    print("\n".join(rows3))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
