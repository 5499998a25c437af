"""Per-epoch test accuracy of the aihwkit preset side-by-side as a markdown table: for every
(card / preset, activation), aihwkit's spread over its seeds (min-max) and each analog-ep seed,
with whether it lies within aihwkit's spread.

    python benchmarks/scripts/aihwkit_presets_table.py AIHWKIT_JSONL OURS_JSONL
    python benchmarks/scripts/aihwkit_presets_table.py --paired AIHWKIT_JSONL OURS_JSONL

``--paired``: the runs share analog-ep's initial weights and data order per seed (aihwkit_mlp.py
--init), so each analog-ep seed is compared with aihwkit's repeats of that same seed only: a cell
reads ``ours [aihwkit min-max] (n)``, and the last columns give how many seeds lie inside and the
mean of ours minus the mean of aihwkit's repeats over the seeds. The summary adds how many points
would lie inside if ours were one more draw of aihwkit's own scatter ((n - 1) / (n + 1) each: the
chance that one more of n + 1 exchangeable draws is neither the smallest nor the largest) and, per
card, how often ours lies above aihwkit's mean (about half if the simulators agree).
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict

PRESET_OF = {"reram_sb": "ReRamSBPreset", "ecram": "EcRamPreset", "capacitor": "CapacitorPreset",
             "reram_es": "ReRamESPreset"}


def load(path: str, key: str) -> dict:
    runs = defaultdict(list)
    for line in open(path):
        r = json.loads(line)
        runs[(r[key], r["activation"])].append(r)
    return runs


def paired(theirs_path: str, ours_path: str) -> None:
    theirs, ours = defaultdict(list), {}
    for line in open(theirs_path):
        r = json.loads(line)
        theirs[(r["preset"], r["activation"], r["seed"])].append(r)
    for line in open(ours_path):
        r = json.loads(line)
        ours[(r["card"], r["activation"], r["seed"])] = r
    cells = sorted({(c, a) for c, a, _ in ours})
    seeds = sorted({s for _, _, s in ours})
    head = " | ".join(f"seed {s}: ours [aihwkit min-max]" for s in seeds)
    print(f"| card (preset) | activation | epoch | {head} | within | ours - aihwkit |")
    print("|---|---|---|" + "---|" * len(seeds) + "---|---|")
    total = inside_total = 0
    expected = 0.0  # inside count expected if ours were one more draw of aihwkit's run-to-run scatter
    above: dict = defaultdict(lambda: [0, 0])  # card -> [points where ours > aihwkit's mean, points]
    for card, act in cells:
        epochs = len(ours[(card, act, seeds[0])]["history"])
        for e in range(epochs):
            parts, inside, diffs = [], 0, []
            for sd in seeds:
                mine = ours.get((card, act, sd))
                ref = [r["history"][e]["test_accuracy"] for r in theirs.get((PRESET_OF[card], act, sd), [])]
                if mine is None or not ref:
                    parts.append("-")
                    continue
                a = mine["history"][e]["test_accuracy"]
                lo, hi = min(ref), max(ref)
                inside += lo <= a <= hi
                total += 1
                expected += (len(ref) - 1) / (len(ref) + 1)
                diffs.append(a - sum(ref) / len(ref))
                above[card][0] += diffs[-1] > 0
                above[card][1] += 1
                parts.append(f"{a:.3f} [{lo:.3f}-{hi:.3f}] ({len(ref)})")
            inside_total += inside
            mean_diff = sum(diffs) / len(diffs) if diffs else float("nan")
            print(f"| {card} ({PRESET_OF[card]}) | {act} | {e + 1} | {' | '.join(parts)} | "
                  f"{inside}/{len(diffs)} | {mean_diff:+.3f} |")
    print(f"\nwithin: {inside_total}/{total}; expected if ours were one more aihwkit run: {expected:.1f} "
          "((n - 1) / (n + 1) per point for n aihwkit repeats)")
    for card, (up, n) in sorted(above.items()):
        print(f"{card}: ours above aihwkit's mean at {up}/{n} points")


def main() -> None:
    if sys.argv[1] == "--paired":
        paired(sys.argv[2], sys.argv[3])
        return
    theirs, ours = load(sys.argv[1], "preset"), load(sys.argv[2], "card")
    print("| card (preset) | activation | epoch | aihwkit min-max (n) | analog-ep per seed | within |")
    print("|---|---|---|---|---|---|")
    for (card, act), runs in sorted(ours.items()):
        ref = theirs.get((PRESET_OF[card], act), [])
        epochs = len(runs[0]["history"])
        for e in range(epochs):
            accs = [r["history"][e]["test_accuracy"] for r in ref]
            mine = [r["history"][e]["test_accuracy"] for r in sorted(runs, key=lambda r: r["seed"])]
            lo, hi = (min(accs), max(accs)) if accs else (float("nan"), float("nan"))
            inside = sum(lo <= a <= hi for a in mine)
            print(f"| {card} ({PRESET_OF[card]}) | {act} | {e + 1} | {lo:.3f}-{hi:.3f} ({len(accs)}) | "
                  f"{', '.join(f'{a:.3f}' for a in mine)} | {inside}/{len(mine)} |")


if __name__ == "__main__":
    main()
