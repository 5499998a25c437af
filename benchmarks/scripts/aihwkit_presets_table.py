"""Per-epoch test accuracy of the aihwkit preset side-by-side as a markdown table: for every
(card / preset, activation), aihwkit's spread over its seeds (min-max) and each analog-ep seed,
with whether it lies within aihwkit's spread.

    python benchmarks/scripts/aihwkit_presets_table.py AIHWKIT_JSONL OURS_JSONL
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


def main() -> None:
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
