#!/bin/bash
# Usage: run_epochs.sh TREE OUT.jsonl LABEL [--set ...]: one 10k-image epoch (1k test images) of the
# Fashion-MNIST Hopfield MLP with the code of worktree TREE; appends the train --json line. Run
# directories under $RUNS (default /tmp/A_runs).
TREE=$1; OUT=$2; LABEL=$3; shift 3
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 PYTHONPATH=$TREE
cd $TREE
line=$(analog-ep train -c configs/hopfield_mlp_fmnist.yaml --set data.root=/work/shared/data/fashion-mnist \
  --set data.train_size=10000 --set data.test_size=1000 --set train.epochs=1 --out ${RUNS:-/tmp/A_runs}/$LABEL "$@" --json 2>/dev/null | tail -1)
echo "{\"tree\": \"$TREE\", \"commit\": \"$(git -C $TREE rev-parse --short HEAD)\", \"label\": \"$LABEL\", \"args\": \"$*\", \"load\": \"$(cut -d' ' -f1-3 /proc/loadavg)\", \"date\": \"$(date -u +%FT%TZ)\", \"train\": $line}" >> $OUT
