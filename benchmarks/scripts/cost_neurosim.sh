#!/usr/bin/env bash
# Figure 3 of benchmarks/cost_fmnist.md: NeuroSim V3.0's benchmark setting as far as this machine
# allows: online training (batch 1) of a 400-100-10 MLP (Fashion-MNIST center-cropped to 20x20,
# data.crop=20; there is no MNIST here) with backprop (algorithm=bp, the feed-forward twin, as
# NeuroSim trains) on the seven NeuroSim device cards, NeuroSim's deterministic-rounding update,
# row-by-row writes; N training images (default 2000), 1 epoch, 1000 test images; plain SGD
# (momentum 0, layer lrs 0.05 / 0.025). Then `analog-ep cost` (one step, batch 1) per card.
# Two cards at a time (OMP_NUM_THREADS=1 each). Extra settings for every run in $EXTRA, e.g.
# EXTRA="--set data.normalize=unit" (pixels in [0, 1], zero background, as NeuroSim's MNIST input).
# Usage: [EXTRA=...] benchmarks/scripts/cost_neurosim.sh OUTDIR [N]   (repository root, venv active)
set -u
OUT=${1:-/work/bench19_runs}/neurosim
N=${2:-2000}
mkdir -p "$OUT"
EXTRA=${EXTRA:-}
export OMP_NUM_THREADS=1 OUT N EXTRA
one() {
  d=$1
  C=configs/hopfield_mlp_fmnist.yaml
  SET=(--set algorithm=bp --set "model.hidden=[100]" --set data.crop=20 --set data.batch_size=1
       --set analog.pulse_scheme=rounded --set analog.rounding=deterministic
       --set chip.update_scheme=row_by_row --set train.momentum=0 --set "train.layer_lrs=[0.05,0.025]" $EXTRA)
  analog-ep train -c $C --device $d "${SET[@]}" --set data.train_size=$N --set data.test_size=1000 \
    --set train.epochs=1 --out "$OUT/$d" --overwrite --json > "$OUT/$d.log" 2>&1
  echo "$d train rc=$?" >> "$OUT/done.txt"
  tail -1 "$OUT/$d.log" > "$OUT/$d.json"
  analog-ep cost -c $C --device $d "${SET[@]}" --json > "$OUT/$d.cost.log" 2>&1
  echo "$d cost rc=$?" >> "$OUT/done.txt"
  tail -1 "$OUT/$d.cost.log" > "$OUT/$d.cost.json"
}
export -f one
printf '%s\n' neurosim pcmo taox_hfox alox_hfo2 gst_pcm epiram hzo_fefet | xargs -P 2 -I{} bash -c 'one {}'
