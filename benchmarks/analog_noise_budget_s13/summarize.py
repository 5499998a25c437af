"""Summarize the noise-budget trainings: per run (results.h5 under RUNS/NAME) test accuracy per
epoch, train accuracy, mean sweeps per phase (epoch 1 -> 2), and the cost model's per-sample
energy and latency of training and inference (epoch 2, the run's own report); then the means
over seeds per group (NAME = GROUP_sSEED).

    python benchmarks/analog_noise_budget_s13/summarize.py /tmp/I_runs [/tmp/K2_runs NAME ...]
"""

import sys
from collections import defaultdict
from pathlib import Path
from statistics import mean

from analog_ep.results.store import read_results


def row(path: Path) -> dict:
    e = read_results(str(path / "results.h5"))["epochs"]
    last = -1
    nan = [float("nan")]
    e = {**{k: nan for k in ("energy_per_sample_j", "latency_per_sample_s", "inference_energy_per_sample_j",
                             "inference_latency_per_sample_s")}, **e}   # digital runs: GPU estimates only
    steps = lambda k: "/".join(f"{v:.1f}" for v in e[f"{k}_mean_steps"])
    return {"test": list(e["test_accuracy"]), "train": e["train_accuracy"][last],
            "free": steps("free"), "nudge+": steps("nudge+"), "nudge-": steps("nudge-"),
            "E_train": e["energy_per_sample_j"][last], "t_train": e["latency_per_sample_s"][last],
            "E_inf": e["inference_energy_per_sample_j"][last], "t_inf": e["inference_latency_per_sample_s"][last]}


def main(argv):
    root = Path(argv[0])
    runs = {p.name: p for p in sorted(root.iterdir()) if (p / "results.h5").exists()}
    extra = Path(argv[1]) if len(argv) > 1 else None
    for name in argv[2:]:
        runs["K2:" + name] = extra / name
    groups = defaultdict(list)
    print("| run | test acc. ep 1 / 2 | train acc. | sweeps free (ep1/ep2) | nudge+ | nudge- | train J/sample | "
          "train s/sample | infer J/sample | infer s/sample |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, path in runs.items():
        try:
            r = row(path)
        except Exception as exc:  # an unfinished run
            print(f"| {name} | unfinished ({exc.__class__.__name__}) |")
            continue
        if len(r["test"]) < 2:
            print(f"| {name} | unfinished ({len(r['test'])} epoch) |")
            continue
        groups[name.rsplit("_s", 1)[0]].append(r)
        print(f"| {name} | {r['test'][0]:.3f} / **{r['test'][-1]:.3f}** | {r['train']:.3f} | {r['free']} | "
              f"{r['nudge+']} | {r['nudge-']} | {r['E_train']:.3e} | {r['t_train']:.3e} | {r['E_inf']:.3e} | "
              f"{r['t_inf']:.3e} |")
    print()
    print("| group | seeds | mean test acc. | train J/sample (mean) | train s/sample | infer J/sample | infer s/sample |")
    print("|---|---|---|---|---|---|---|")
    for g, rs in groups.items():
        print(f"| {g} | {len(rs)} | **{mean(r['test'][-1] for r in rs):.3f}** | {mean(r['E_train'] for r in rs):.3e} | "
              f"{mean(r['t_train'] for r in rs):.3e} | {mean(r['E_inf'] for r in rs):.3e} | "
              f"{mean(r['t_inf'] for r in rs):.3e} |")


if __name__ == "__main__":
    main(sys.argv[1:])
