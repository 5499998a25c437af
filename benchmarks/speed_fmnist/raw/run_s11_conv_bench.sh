#!/bin/bash
# Usage: run_s11_conv_bench.sh TREE COMMIT OUT.jsonl LABEL [--set ...]: analog-ep bench of dchn_vgg5 32-64-64-64
# (synthetic 3x32x32, batch 64, memristor card, mixed update, numba kernels; session 10's settings,
# speed_fmnist_s10_conv.md section 3) with the code of TREE (PYTHONPATH); appends one JSON line.
TREE=$1; COMMIT=$2; OUT=$3; LABEL=$4; shift 4
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 PYTHONPATH=$TREE
t0=$(date -u +%FT%TZ); l0=$(cut -d' ' -f1-3 /proc/loadavg)
line=$(analog-ep bench --device memristor --set model.name=dchn_vgg5 --set model.channels=[32,64,64,64] \
  --set data.name=synthetic --set data.shape=[3,32,32] --set data.batch_size=64 --set analog.update=mixed \
  --set compute.kernels=numba --repeats 3 --warmup 1 "$@" --json 2>/dev/null | tail -1)
echo "{\"commit\": \"$COMMIT\", \"label\": \"$LABEL\", \"args\": \"$*\", \"start\": \"$t0\", \"end\": \"$(date -u +%FT%TZ)\", \"load_start\": \"$l0\", \"load_end\": \"$(cut -d' ' -f1-3 /proc/loadavg)\", \"bench\": $line}" >> $OUT
