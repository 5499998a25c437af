#!/bin/bash
# Usage: run_epoch.sh OUT.jsonl LABEL [--device memristor] [--set ...]: one whole epoch of dchn_vgg5 32-64-64-64 on
# Fashion-MNIST, 10,000 training / 2,000 test images, seed 0, beta 0.3, numba kernels, family defaults otherwise: the
# protocol of analog_conv_fmnist_s15/run10k.sh with train.epochs=1 and without its warm-up flags (a one-epoch timing),
# with this worktree's code, under /usr/bin/time (session 16, helper B; adapted from speed_fmnist/raw/run_s11_conv_epoch.sh).
# Appends one JSON line: the train --json line plus user/sys CPU s and wall s of the whole process.
OUT=$1; LABEL=$2; shift 2
TREE=$(cd "$(dirname "$0")/../.." && pwd)
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 PYTHONPATH=$TREE
COMMIT=$(git -C "$TREE" rev-parse --short HEAD)
rm -rf /tmp/S16B_runs/$LABEL
t0=$(date -u +%FT%TZ); l0=$(cut -d' ' -f1-3 /proc/loadavg)
/usr/bin/time -o /tmp/S16B_runs/time_$LABEL.txt -f "%U %S %e" analog-ep train --set model.name=dchn_vgg5 \
  --set model.channels=[32,64,64,64] --set data.name=fashion_mnist --set data.root=/work/shared/data/fashion-mnist \
  --set compute.kernels=numba --set data.train_size=10000 --set data.test_size=2000 --set train.epochs=1 --set seed=0 \
  --set ep.beta=0.3 "$@" --out /tmp/S16B_runs/$LABEL --json > /tmp/S16B_runs/train_$LABEL.out 2>/tmp/S16B_runs/train_$LABEL.err
line=$(tail -1 /tmp/S16B_runs/train_$LABEL.out)
read U S E < /tmp/S16B_runs/time_$LABEL.txt
echo "{\"commit\": \"$COMMIT\", \"label\": \"$LABEL\", \"args\": \"$*\", \"start\": \"$t0\", \"end\": \"$(date -u +%FT%TZ)\", \"load_start\": \"$l0\", \"load_end\": \"$(cut -d' ' -f1-3 /proc/loadavg)\", \"user_s\": $U, \"sys_s\": $S, \"wall_s\": $E, \"train\": ${line:-null}}" >> $OUT
