"""Tables of the session-16 dchn_vgg5 speed record (helper B) from raw/bench.jsonl and raw/epoch.jsonl
(python benchmarks/speed_fmnist_s16_conv/summarize.py). Bench rows: the analog and digital EP step (wall s, medians
of bench's alternated repeats), their ratio, the sweeps each ran, and the analog step's event counts summed over the
layers (ep_step_counts: vector reads, DAC and ADC conversions, update pulses). Epoch rows: user + sys CPU s and wall s
of the whole process (/usr/bin/time), the run's own seconds_per_epoch, test accuracy and mean sweeps per phase, and
the ratios analog / mean(digital runs)."""
import json
from pathlib import Path

from analog_ep.results import read_results

RAW = Path(__file__).parent / "raw"
RUNS = Path("/tmp/S16B_runs")  # the runs' folders (results.h5: mean sweeps per phase)


def counts(c):
    tot = dict(vector_reads=0, dac=0, adc=0, pulses=0)
    for layer in (c or {}).get("layers", []):
        for phase in layer.get("phases", {}).values():
            for kind in phase.values():
                tot["vector_reads"] += kind["vector_reads"]
                tot["dac"] += kind["dac_conversions"]
                tot["adc"] += kind["adc_conversions"]
        up = layer.get("update", {})
        tot["pulses"] += up.get("set_pulses", 0) + up.get("reset_pulses", 0)
    return tot


def bench_table():
    path = RAW / "bench.jsonl"
    if not path.exists():
        return
    print("| row | args | UTC | analog EP step (s) | digital EP step (s) | **analog / digital** | sweeps / step analog, digital (budget) "
          "| analog step: vector reads, DAC conv., ADC conv., update pulses | load start -> end |")
    print("|---|---|---|---|---|---|---|---|---|")
    for line in path.read_text().splitlines():
        d = json.loads(line)
        b = d["bench"]
        if b is None:
            print(f"| {d['label']} | `{d['args']}` | {d['start'][11:19]}-{d['end'][11:19]} | failed | | | | | |")
            continue
        c = counts(b.get("ep_step_counts"))
        print(f"| {d['label']} | `{d['args'] or '-'}` | {d['start'][11:19]}-{d['end'][11:19]} | {b['ep_step_s']:.2f} "
              f"| {b['digital_ep_step_s']:.2f} | **{b['analog_over_digital_ep_step']:.3f}** "
              f"| {b['ep_sweeps_per_step']:.2f}, {b['digital_ep_sweeps_per_step']:.2f} ({b['ep_sweeps_budget']}) "
              f"| {c['vector_reads']:.3g}, {c['dac']:.3g}, {c['adc']:.3g}, {c['pulses']:.3g} "
              f"| {d['load_start'].split()[0]} -> {d['load_end'].split()[0]} |")


def epoch_table():
    path = RAW / "epoch.jsonl"
    if not path.exists():
        return
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    print("| run | args | UTC | CPU s (user + sys) | wall s | seconds_per_epoch | test acc. | mean sweeps free / nudge+ / nudge- | load start -> end |")
    print("|---|---|---|---|---|---|---|---|---|")
    for d in rows:
        t = d["train"] or {}
        spe = t.get("seconds_per_epoch")
        sweeps = "-"
        h5 = RUNS / d["label"] / "results.h5"
        if h5.exists():
            ep = read_results(h5)["epochs"]
            sweeps = " / ".join(f"{ep[k][-1]:.2f}" for k in ("free_mean_steps", "nudge+_mean_steps", "nudge-_mean_steps") if k in ep)
        acc = t.get("test_accuracy")
        print(f"| {d['label']} | `{d['args'] or '-'}` | {d['start'][11:19]}-{d['end'][11:19]} | {d['user_s'] + d['sys_s']:.0f} "
              f"| {d['wall_s']:.0f} | {spe if spe is None else f'{spe:.0f}'} | {acc if acc is None else f'{acc:.4f}'} | {sweeps} "
              f"| {d['load_start'].split()[0]} -> {d['load_end'].split()[0]} |")
    dig = [d for d in rows if "--device" not in d["args"]]
    ana = [d for d in rows if "--device" in d["args"]]
    if dig and ana:
        mean = lambda xs: sum(xs) / len(xs)
        for name, f in (("CPU s", lambda d: d["user_s"] + d["sys_s"]), ("wall s", lambda d: d["wall_s"]),
                        ("seconds_per_epoch", lambda d: (d["train"] or {}).get("seconds_per_epoch"))):
            try:
                print(f"\n{name}: analog / mean(digital, {len(dig)} runs) = {mean([f(d) for d in ana]) / mean([f(d) for d in dig]):.3f}", end="")
            except TypeError:
                pass
        print()


bench_table()
print()
epoch_table()
