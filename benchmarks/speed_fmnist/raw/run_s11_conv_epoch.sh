#!/bin/bash
# Usage: run_s11_conv_epoch.sh TREE COMMIT OUT.jsonl LABEL [--set ...]: one short whole epoch of dchn_vgg5 32-64-64-64
# on Fashion-MNIST (640 images, 256 test images, family defaults, numba kernels) with the code of TREE; appends
# the train --json line (session 11, helper C; add --device memristor for the analog run).
TREE=$1; COMMIT=$2; OUT=$3; LABEL=$4; shift 4
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 PYTHONPATH=$TREE
t0=$(date -u +%FT%TZ); l0=$(cut -d' ' -f1-3 /proc/loadavg)
line=$(analog-ep train --set model.name=dchn_vgg5 --set model.channels=[32,64,64,64] --set data.name=fashion_mnist \
  --set data.root=/work/shared/data/fashion-mnist --set data.train_size=640 --set data.test_size=256 \
  --set train.epochs=1 --set compute.kernels=numba --out /tmp/C_runs/$LABEL "$@" --json 2>/dev/null | tail -1)
echo "{\"commit\": \"$COMMIT\", \"label\": \"$LABEL\", \"args\": \"$*\", \"start\": \"$t0\", \"end\": \"$(date -u +%FT%TZ)\", \"load_start\": \"$l0\", \"load_end\": \"$(cut -d' ' -f1-3 /proc/loadavg)\", \"train\": $line}" >> $OUT
