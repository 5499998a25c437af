#!/usr/bin/env bash
# analog-ep side of the aihwkit preset side-by-side (benchmarks/aihwkit_presets.md): the 784-500-10
# MLP's backprop twin on a preset card, softmax cross-entropy, SGD lr 0.05, batch 64, 4 epochs,
# Fashion-MNIST pixels / 255 (data.normalize=unit), the first TRAIN images, the whole test set.
# One JSON line per run (per-epoch test accuracy read from the run's results.h5) is appended to OUT.
# The aihwkit side: benchmarks/peers/aihwkit_mlp.py (same network, data and settings).
#
#   bash benchmarks/scripts/aihwkit_presets.sh OUT "reram_sb ecram capacitor" "sigmoid clamp" "0 1"
# (card "digital": the same run without a device card, the digital sanity check)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-benchmarks/aihwkit_presets/ours.jsonl}
cards=${2-"reram_sb ecram capacitor"}  # "" with INIT: export only
acts=${3:-"sigmoid clamp"}
seeds=${4:-"0 1"}
TRAIN=${TRAIN:-5000}
DATA=${DATA:-/work/shared/data/fashion-mnist}
PY=${PY:-.venv/bin/python}
work=${WORK:-$(mktemp -d /tmp/aihwkit_presets.XXXXXX)}
# INIT=DIR: also write DIR/init_ACT_SEED.npz (benchmarks/scripts/export_init.py: the initial weights and
# biases and the per-epoch training order of each run, for aihwkit_mlp.py --init), from the same overrides.
INIT=${INIT:-}
# EXTRA="KEY=VALUE ...": more overrides for every run (e.g. analog.seed=1000: other device and noise draws
# at the same initial weights and data order), recorded in the output line.
EXTRA=${EXTRA:-}
for act in $acts; do for seed in $seeds; do
  sets=(--set algorithm=bp --set ep.nudge=cross_entropy --set model.activation="$act"
        --set train.lr=0.05 --set train.lr_scaling=none --set train.layer_lrs=null --set train.momentum=0 --set train.epochs=4
        --set data.normalize=unit --set data.root="$DATA" --set data.train_size="$TRAIN" --set seed="$seed")
  for kv in $EXTRA; do sets+=(--set "$kv"); done
  if [ -n "$INIT" ]; then
    mkdir -p "$INIT"
    OMP_NUM_THREADS=1 $PY benchmarks/scripts/export_init.py -c configs/hopfield_mlp_fmnist.yaml "${sets[@]}" \
      --out "$INIT/init_${act}_${seed}.npz"
  fi
  for card in $cards; do
  run=$work/${card}_${act}_${seed}
  dev=(--device "$card"); [ "$card" = digital ] && dev=()   # card "digital": the digital twin, no device
  OMP_NUM_THREADS=1 $PY -m analog_ep train -c configs/hopfield_mlp_fmnist.yaml "${dev[@]}" \
    "${sets[@]}" --out "$run" --overwrite --json > "$run.json"
  $PY - "$run" "$card" "$act" "$seed" "$(git rev-parse --short HEAD)" "$EXTRA" >> "$out" <<'PY'
import json, sys
import h5py
run, card, act, seed, commit, extra = sys.argv[1:]
with h5py.File(f"{run}/results.h5", "r") as f:
    e = f["epochs"]
    hist = [{"epoch": int(a), "test_accuracy": round(float(b), 4), "train_s": round(float(c), 2)}
            for a, b, c in zip(e["epoch"][:], e["test_accuracy"][:], e["seconds"][:])]
final = json.load(open(f"{run}.json"))
print(json.dumps({"simulator": f"analog-ep {commit}", "card": card, "activation": act, "seed": int(seed),
                  "pulses": final.get("pulses"), "status": final.get("status"),
                  **({"extra": extra.split()} if extra else {}), "history": hist}))
PY
done; done; done
