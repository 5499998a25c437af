#!/usr/bin/env bash
# muPC residual MLPs (width 128) at depth 8, 32 and 128 on Fashion-MNIST (a 10k training subset,
# the full test set), one set of learning rates for every depth: PC (T = 20 activity GD steps)
# and the backprop twin. Usage (repository root): bash benchmarks/scripts/mupc_fmnist.sh OUT_DIR
set -euo pipefail
OUT=${1:-/tmp/mupcb}
export OMP_NUM_THREADS=1
COMMON="--set model.name=mupc_resmlp --set model.width=128 --set data.name=fashion_mnist
        --set data.root=../shared/data/fashion-mnist --set data.train_size=10000 --set data.test_size=10000
        --set data.batch_size=64 --set train.optimizer=adam --set train.lr=0.01 --set train.lr_scaling=none
        --set train.epochs=2"
mkdir -p "$OUT"
for d in 8 32 128; do
  python -m analog_ep train $COMMON --set model.depth=$d --set algorithm=pc --set pc.steps=20 --set pc.activity_lr=0.1 \
    --out "$OUT/pc_d$d" --overwrite --json > "$OUT/pc_d$d.json" 2> "$OUT/pc_d$d.log"
  python -m analog_ep train $COMMON --set model.depth=$d --set algorithm=bp \
    --out "$OUT/bp_d$d" --overwrite --json > "$OUT/bp_d$d.json" 2> "$OUT/bp_d$d.log"
done
