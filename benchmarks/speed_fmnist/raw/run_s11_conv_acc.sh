#!/bin/bash
# Usage: run_s11_conv_acc.sh TREE COMMIT OUT.jsonl LABEL [--set ...]: one dchn_vgg5 32-64-64-64 training on
# Fashion-MNIST (family defaults, memristor card, numba kernels) with the code of TREE (PYTHONPATH);
# appends test accuracy, time and the per-epoch history (<phase>_mean_steps, settled fractions) to OUT.
# Session 11 (issue 20, helper C): the read-noise floor of conv reads.
TREE=$1; COMMIT=$2; OUT=$3; LABEL=$4; shift 4
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 PYTHONPATH=$TREE
t0=$(date -u +%FT%TZ)
line=$(analog-ep train --set model.name=dchn_vgg5 --set model.channels=[32,64,64,64] --set data.name=fashion_mnist \
  --set data.root=/work/shared/data/fashion-mnist --device memristor --set compute.kernels=numba \
  --out /tmp/C_runs/$LABEL "$@" --json 2>/tmp/C_runs/$LABEL.err | tail -1)
steps=$(python -c "
import h5py, json; f = h5py.File('/tmp/C_runs/$LABEL/results.h5'); e = f['epochs']
print(json.dumps({k: [round(float(v), 4) for v in e[k][...]] for k in e if 'steps' in k or 'settled' in k or 'test_acc' in k or 'sweeps' in k}))")
acc=$(echo "$line" | python -c "import json,sys; d=json.loads(sys.stdin.read()); print(json.dumps({k: d.get(k) for k in ('test_accuracy','seconds','seconds_per_epoch')}))")
echo "{\"commit\": \"$COMMIT\", \"label\": \"$LABEL\", \"args\": \"$*\", \"start\": \"$t0\", \"end\": \"$(date -u +%FT%TZ)\", \"load\": \"$(cut -d' ' -f1-3 /proc/loadavg)\", \"run\": $acc, \"epochs\": $steps}" >> $OUT
