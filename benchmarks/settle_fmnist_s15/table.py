"""Print the tables of benchmarks/settle_fmnist_s15.md from raw/ (train --json lines, done.log) and
the run folders' results.h5 (RUNS, default /tmp/G15_runs); the 10k comparison from
benchmarks/settle_fmnist_s14/raw (its --json lines and epochs_from_results_h5.json).
A run without a --json line (stopped before its end) is tabulated from results.h5 alone.
Usage: python benchmarks/settle_fmnist_s15/table.py [RUNS]"""
import json
import os
import re
import statistics
import sys

from analog_ep.results.store import read_results

HERE = os.path.dirname(os.path.abspath(__file__))
RAW = os.path.join(HERE, "raw")
RAW14 = os.path.join(HERE, "..", "settle_fmnist_s14", "raw")
RUNS = sys.argv[1] if len(sys.argv) > 1 else "/tmp/G15_runs"
PH = ("free", "nudge+", "nudge-", "eval")
NAMES = ("f60_digital", "f60_iter", "f60_settle")
RECORD_DIGITAL = 0.8937  # benchmarks/analog_core_fmnist.md, digital EP after 10 epochs (2026-11-29)

times = {}
for line in open(os.path.join(RAW, "done.log")):
    m = re.match(r"(\S+) time wall (\S+) user (\S+) sys (\S+)", line)
    if m:
        times[m[1]] = tuple(float(x) for x in m.groups()[1:])
    m = re.match(r"(\S+) (start|end) (\S+) load (\S+ \S+ \S+)", line)
    if m:
        times[m[1] + "_" + m[2]] = (m[3], m[4])


def js_of(raw, name):
    p = os.path.join(raw, name + ".json")
    return json.loads(open(p).read()) if os.path.exists(p) and os.path.getsize(p) else None


def fmt_last(ep, k, fmt="{:.2f}", scale=1.0, i=-1):
    return fmt.format(float(ep[k][i]) * scale) if k in ep else "-"


def phases(ep, suffix, fmt="{:.2f}", scale=1.0, i=-1):
    if not any(p + suffix in ep for p in PH):
        return "-"
    return " / ".join(fmt_last(ep, p + suffix, fmt, scale, i) for p in PH)


def runs():
    out = {}
    for name in NAMES:
        h5 = os.path.join(RUNS, name, "results.h5")
        ep = read_results(h5)["epochs"] if os.path.exists(h5) else {}
        if "test_accuracy" in ep:  # at least one finished epoch
            out[name] = (js_of(RAW, name), ep)
    return out


def accuracy_table(rs):
    print("| run | epochs done | final test acc. | vs digital (points) | vs record's digital 0.8937 | per-epoch test accuracy |")
    print("|---|---|---|---|---|---|")
    dig = rs["f60_digital"][1]["test_accuracy"][-1] if "f60_digital" in rs else None
    for name, (js, ep) in rs.items():
        acc = float(ep["test_accuracy"][-1])
        d = f"{100 * (acc - dig):+.2f}" if dig is not None else "-"
        per = " ".join(f"{a:.4f}" for a in ep["test_accuracy"])
        print(f"| {name} | {len(ep['epoch'])}{'' if js else ' (no --json line)'} | **{acc:.4f}** | {d} | "
              f"{100 * (acc - RECORD_DIGITAL):+.2f} | {per} |")
    if dig is not None and len(rs) > 1:
        print()
        print("Per-epoch difference from digital EP (points):")
        print()
        for name, (js, ep) in rs.items():
            if name == "f60_digital":
                continue
            d = rs["f60_digital"][1]["test_accuracy"]
            n = min(len(d), len(ep["test_accuracy"]))
            print(f"- {name}: " + " ".join(f"{100 * (ep['test_accuracy'][i] - d[i]):+.2f}" for i in range(n)))


def relax_table(rs):
    print("| run | epoch | steps per phase free / nudge+ / nudge- / eval | settle time per phase (us) | settled fraction | converged fraction |")
    print("|---|---|---|---|---|---|")
    for name, (js, ep) in rs.items():
        for i in (0, -1):
            print(f"| {name} | {int(ep['epoch'][i])} | {phases(ep, '_mean_steps', '{:.1f}', i=i)} | "
                  f"{phases(ep, '_settle_time_s', '{:.2f}', 1e6, i=i)} | {phases(ep, '_settled_fraction', i=i)} | "
                  f"{phases(ep, '_converged_fraction', i=i)} |")


def cost_table(rs):
    print("| run | epoch | energy / latency per training sample | inference energy / latency per sample | pulses per step | GPU estimate per training sample (digital twin) |")
    print("|---|---|---|---|---|---|")
    for name, (js, ep) in rs.items():
        for i in (0, -1):
            en = (f"{fmt_last(ep, 'energy_per_sample_j', '{:.3g}', 1e6, i)} uJ / {fmt_last(ep, 'latency_per_sample_s', '{:.3g}', 1e6, i)} us"
                  if "energy_per_sample_j" in ep else "-")
            inf = (f"{fmt_last(ep, 'inference_energy_per_sample_j', '{:.3g}', 1e6, i)} uJ / "
                   f"{fmt_last(ep, 'inference_latency_per_sample_s', '{:.3g}', 1e6, i)} us"
                   if "inference_energy_per_sample_j" in ep else "-")
            gpu = (f"{fmt_last(ep, 'gpu_energy_per_sample_j', '{:.3g}', 1e6, i)} uJ / "
                   f"{fmt_last(ep, 'gpu_latency_per_sample_s', '{:.3g}', 1e9, i)} ns")
            print(f"| {name} | {int(ep['epoch'][i])} | {en} | {inf} | {fmt_last(ep, 'pulses_per_step', '{:.0f}', i=i)} | {gpu} |")
    for name, (js, ep) in rs.items():
        if js and "energy_j" in ((js.get("cost") or {}).get("chip") or {}):
            c = js["cost"]["chip"]
            n = c["train"]["samples"]
            parts = ", ".join(f"{ph} {1e6 * c['energy_j'][ph]['total'] / n:.3g}" for ph in ("free", "nudge+", "nudge-", "update"))
            print(f"\n{name}, last epoch, energy per training sample by phase (uJ): {parts}; total pulses {js['pulses']:,}")


def time_table(rs):
    print("| run | s / train epoch: mean of all; median of 2-n; epoch 1 | eval s (median) | whole command wall s; CPU s | start UTC, load | end UTC, load |")
    print("|---|---|---|---|---|---|")
    for name, (js, ep) in rs.items():
        s = [float(x) for x in ep["seconds"]]
        med = statistics.median(s[1:]) if len(s) > 1 else float("nan")
        wall, user, sys_ = times.get(name, (float("nan"),) * 3)
        st = times.get(name + "_start", ("?", "?"))
        en = times.get(name + "_end", ("?", "?"))
        print(f"| {name} | {statistics.mean(s):.1f}; {med:.1f}; {s[0]:.1f} | {statistics.median(ep['eval_seconds']):.1f} | "
              f"{wall:.0f}; {user + sys_:.0f} | {st[0][11:19]}, {st[1]} | {en[0][11:19]}, {en[1]} |")
    if "f60_digital" in rs:
        d = rs["f60_digital"][1]["seconds"]
        dm = statistics.median([float(x) for x in d[1:]])
        dw = times.get("f60_digital", (float("nan"),) * 3)
        print()
        for name in ("f60_iter", "f60_settle"):
            if name in rs:
                s = [float(x) for x in rs[name][1]["seconds"]]
                w = times.get(name, (float("nan"),) * 3)
                print(f"- {name} / digital: train epoch (medians of epochs 2-n) **{statistics.median(s[1:]) / dm:.2f}**; "
                      f"whole command wall {w[0] / dw[0]:.2f}, CPU {(w[1] + w[2]) / (dw[1] + dw[2]):.2f}")


def compare_10k(rs):
    e14 = json.load(open(os.path.join(RAW14, "epochs_from_results_h5.json")))
    print("| relaxation | test acc. 10k / 60k | vs digital 10k / 60k | free steps 10k / 60k (last epoch) | free settle time us 10k / 60k | energy per training sample uJ 10k / 60k | latency per training sample us 10k / 60k |")
    print("|---|---|---|---|---|---|---|")
    d10 = e14["f1_digital"]["test_accuracy"][-1]
    d60 = rs["f60_digital"][1]["test_accuracy"][-1] if "f60_digital" in rs else float("nan")
    for a, b in (("f1_digital", "f60_digital"), ("f1_iter", "f60_iter"), ("f1_settle", "f60_settle")):
        if b not in rs:
            continue
        x, y = e14[a], rs[b][1]

        def pair(k, fmt, scale=1.0):
            u = fmt.format(x[k][-1] * scale) if k in x else "-"
            v = fmt.format(float(y[k][-1]) * scale) if k in y else "-"
            return f"{u} / {v}"
        print(f"| {a[3:]} | {pair('test_accuracy', '{:.4f}')} | {100 * (x['test_accuracy'][-1] - d10):+.2f} / "
              f"{100 * (float(y['test_accuracy'][-1]) - d60):+.2f} | {pair('free_mean_steps', '{:.1f}')} | "
              f"{pair('free_settle_time_s', '{:.2f}', 1e6)} | {pair('energy_per_sample_j', '{:.3g}', 1e6)} | "
              f"{pair('latency_per_sample_s', '{:.3g}', 1e6)} |")


rs = runs()
for part in (accuracy_table, relax_table, cost_table, time_table, compare_10k):
    part(rs)
    print()
