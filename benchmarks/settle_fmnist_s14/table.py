"""Print the tables of benchmarks/settle_fmnist_s14.md from raw/ (train --json lines, bench.jsonl,
done.log) and the run folders' results.h5 (RUNS, default /tmp/G_runs).
Usage: python benchmarks/settle_fmnist_s14/table.py [RUNS]"""
import glob
import json
import os
import re
import sys

from analog_ep.results.store import read_results

HERE = os.path.dirname(os.path.abspath(__file__))
RAW = os.path.join(HERE, "raw")
RUNS = sys.argv[1] if len(sys.argv) > 1 else "/tmp/G_runs"
PH = ("free", "nudge+", "nudge-", "eval")

times = {}
for line in open(os.path.join(RAW, "done.log")):
    m = re.match(r"(\S+) time wall (\S+) user (\S+) sys (\S+)", line)
    if m:
        times[m[1]] = tuple(float(x) for x in m.groups()[1:])
    m = re.match(r"(\S+) (start|end) (\S+) load (\S+)", line)
    if m:
        times.setdefault(m[1] + "_" + m[2], (m[3], m[4]))


def epochs(name):
    return read_results(os.path.join(RUNS, name, "results.h5"))["epochs"]


def last(ep, k, fmt="{:.2f}", scale=1.0):
    return fmt.format(float(ep[k][-1]) * scale) if k in ep else "-"


def phases(ep, suffix, fmt="{:.2f}", scale=1.0, ph=PH):
    if not any(p + suffix in ep for p in ph):
        return "-"
    return " / ".join(last(ep, p + suffix, fmt, scale) for p in ph)


def row_common(name):
    js = json.loads(open(os.path.join(RAW, name + ".json")).read())
    ep = epochs(name)
    wall, user, sys_ = times.get(name, (float("nan"),) * 3)
    return js, ep, wall, user + sys_


def f1():
    print("| run | final test acc. | vs digital | per-epoch test accuracy (1-10) | steps per phase free / nudge+ / nudge- / eval (last epoch) | settle time per phase (us) | settled fraction free / nudge+ / nudge- / eval | energy / latency per training sample | inference energy per sample | s / epoch train (mean of 10); eval (last) | wall s; CPU s (whole command) | start load; end load |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    dig = None
    for name in ("f1_digital", "f1_iter", "f1_settle"):
        if not os.path.exists(os.path.join(RAW, name + ".json")) or not os.path.getsize(os.path.join(RAW, name + ".json")):
            continue
        js, ep, wall, cpu = row_common(name)
        acc = js["test_accuracy"]
        dig = acc if dig is None else dig
        per = " ".join(f"{a:.4f}" for a in ep["test_accuracy"])
        en = (f"{last(ep, 'energy_per_sample_j', '{:.3g}')} J / {last(ep, 'latency_per_sample_s', '{:.3g}')} s"
              if "energy_per_sample_j" in ep else f"GPU est. {last(ep, 'gpu_energy_per_sample_j', '{:.3g}')} J")
        inf = last(ep, "inference_energy_per_sample_j", "{:.3g}")
        print(f"| {name} | **{acc:.4f}** | {100 * (acc - dig):+.2f} | {per} | {phases(ep, '_mean_steps', '{:.1f}')} | "
              f"{phases(ep, '_settle_time_s', '{:.2f}', 1e6)} | {phases(ep, '_settled_fraction')} | {en} | {inf} | "
              f"{js['seconds_per_epoch']:.1f}; {last(ep, 'eval_seconds', '{:.1f}')} | {wall:.0f}; {cpu:.0f} | "
              f"{times.get(name + '_start', ('', '?'))[1]}; {times.get(name + '_end', ('', '?'))[1]} |")


def f3():
    print("| relaxation | w_noise_std | stop | test acc. | steps per phase free / nudge+ / nudge- / eval | settle time per phase (tau = 100 ns) | settled free / nudge+ / nudge- / eval | converged free / nudge+ / nudge- / eval | wall s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for rel in ("iterative", "settle"):
        for w in ("quiet", "0", "0.02", "0.05"):
            for stop in ("tol", "noise_floor"):
                name = f"f3q_{rel}_{stop}" if w == "quiet" else f"f3_{rel}_w{w}_{stop}"
                p = os.path.join(RAW, name + ".json")
                if not os.path.exists(p) or not os.path.getsize(p):
                    continue
                js, ep, wall, cpu = row_common(name)
                tau = phases(ep, "_settle_time_s", "{:.2f}", 1e7)
                print(f"| {rel} | {w} | {stop} | {js['test_accuracy']:.4f} | {phases(ep, '_mean_steps', '{:.1f}')} | "
                      f"{tau} | {phases(ep, '_settled_fraction')} | {phases(ep, '_converged_fraction')} | {wall:.0f} |")


def f2(fname="bench.jsonl"):
    p = os.path.join(RAW, fname)
    if not os.path.exists(p):
        return
    print(f"`raw/{fname}`:")
    print()
    print("| row | kernels | analog / digital EP step | EP step s | digital EP step s | sweeps (or integration steps) per EP step run / budget | load | UTC |")
    print("|---|---|---|---|---|---|---|---|")
    for line in open(p):
        r = json.loads(line)
        b = r["bench"]
        print(f"| {r['label']} | {r['kernels']} | **{b['analog_over_digital_ep_step']:.2f}** | {b['ep_step_s']:.3f} | "
              f"{b['digital_ep_step_s']:.4f} | {b['ep_sweeps_per_step']:.1f} / {b['ep_sweeps_budget']:.1f} | {r['load']} | {r['date'][11:19]} |")


def epochs_table():
    print("| round | run | `seconds` (train + 1k test) | `seconds_per_epoch` (train) | test acc. (1k) | analog / digital, `seconds` | analog / digital, train | load at end | UTC end |")
    print("|---|---|---|---|---|---|---|---|---|")
    for rnd in ("r1", "r2", "r3"):
        p = os.path.join(RAW, f"epochs_{rnd}.jsonl")
        if not os.path.exists(p):
            continue
        rows = [json.loads(line) for line in open(p)]
        dig = [r["train"] for r in rows if r["label"].startswith("digital")]
        d = sum(t["seconds"] for t in dig) / len(dig)
        dt = sum(t["seconds_per_epoch"] for t in dig) / len(dig)
        for r in rows:
            t = r["train"]
            a, b = ("-", "-") if r["label"].startswith("digital") else (
                f"**{t['seconds'] / d:.2f}**", f"{t['seconds_per_epoch'] / dt:.2f}")
            print(f"| {rnd} | {r['label']} | {t['seconds']:.2f} | {t['seconds_per_epoch']:.2f} | {t['test_accuracy']:.4f} | "
                  f"{a} | {b} | {r['load']} | {r['date'][11:19]} |")


for part in (f1, f3, f2, lambda: f2("bench2.jsonl"), epochs_table):
    part()
    print()
