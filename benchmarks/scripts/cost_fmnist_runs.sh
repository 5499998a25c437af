#!/usr/bin/env bash
# Figure 1 of benchmarks/cost_fmnist.md: F-MNIST 784-500-10 (analog-core settings), 10k training
# images, 3 epochs, full 10k test set; five runs in two queues of one torch thread each.
# Usage: benchmarks/scripts/cost_fmnist_runs.sh OUTDIR   (run from the repository root, venv active)
set -u
OUT=${1:-/work/bench19_runs}
mkdir -p "$OUT"
export OMP_NUM_THREADS=1
C=configs/hopfield_mlp_fmnist.yaml
COMMON=(-c $C --set data.train_size=10000 --set train.epochs=3 --overwrite --json)
run() {  # name, extra args...
  local name=$1; shift
  analog-ep train "${COMMON[@]}" --out "$OUT/$name" "$@" > "$OUT/$name.log" 2>&1
  echo "$name rc=$?" >> "$OUT/fig1_done.txt"
  tail -1 "$OUT/$name.log" > "$OUT/$name.json"
}
( run analog_ep_rounded --device memristor
  run analog_ep_mixed --device memristor --set analog.update=mixed
  run digital_ep ) &
( run bp_on_chip --set algorithm=bp --device memristor
  run digital_bp --set algorithm=bp ) &
wait
