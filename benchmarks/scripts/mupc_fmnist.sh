#!/usr/bin/env bash
# muPC residual MLPs (width 128) at depth 8, 32 and 128 on Fashion-MNIST (all 60k training images,
# the 10k test set, 3 epochs), one set of learning rates for every depth, jpc's muPC recipe
# (configs/mupc_resmlp_mnist_d*.yaml): Adam lr 0.1 on the N(0,1) weights, activity GD lr 0.5 on the
# batch-mean energy (0.5 / 64 per example), T = depth activity steps, MSE clamp; and the backprop
# twin with the same Adam rate. Usage (repository root):
#   bash benchmarks/scripts/mupc_fmnist.sh OUT_DIR [pc128|rest]
# pc128 runs the 128-layer PC net alone (about 26 min per epoch on one core), rest everything else.
set -euo pipefail
OUT=${1:-/tmp/mupcb}; Q=${2:-all}
export OMP_NUM_THREADS=1
COMMON="--set model.name=mupc_resmlp --set model.width=128 --set data.name=fashion_mnist
        --set data.root=../shared/data/fashion-mnist --set data.test_size=10000 --set data.normalize=standard
        --set data.batch_size=64 --set train.optimizer=adam --set train.lr=0.1 --set train.lr_scaling=none
        --set train.epochs=3 --set ep.nudge=mse"
mkdir -p "$OUT"
run() { name=$1; shift; python -m analog_ep train $COMMON "$@" --out "$OUT/$name" --overwrite --json > "$OUT/$name.json" 2> "$OUT/$name.log" || echo "$name failed" >> "$OUT/failed"; }
pc() { run pc_d$1 --set model.depth=$1 --set algorithm=pc --set pc.steps=$1 --set pc.activity_lr=0.0078125; }
if [ "$Q" = pc128 ] || [ "$Q" = all ]; then pc 128; fi
if [ "$Q" = rest ] || [ "$Q" = all ]; then
  pc 8; pc 32
  for d in 8 32 128; do run bp_d$d --set model.depth=$d --set algorithm=bp; done
fi
