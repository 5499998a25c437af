#!/bin/bash
# run10k.sh NAME SEED [--device memristor] [--set ...]: dchn_vgg5 10k x 2 (L's protocol, session 13; session 16 task A copy of
# analog_conv_fmnist_s15/run10k.sh) from this worktree with its own venv, under nice -n 10 (shared machine)
NAME=$1; SEED=$2; shift 2
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1
HERE=$(cd "$(dirname "$0")" && pwd)
cd "$HERE/../.." && . .venv/bin/activate
mkdir -p "$HERE/raw" /tmp/S16A_runs
LOG=$HERE/raw/train_$NAME.txt
CMD="python -m analog_ep train --set model.name=dchn_vgg5 --set model.channels=[32,64,64,64] --set data.name=fashion_mnist --set data.root=/work/shared/data/fashion-mnist --set compute.kernels=numba --set data.train_size=10000 --set data.test_size=2000 --set train.epochs=2 --set seed=$SEED --set ep.beta=0.3 $* --out /tmp/S16A_runs/$NAME --json"
echo "# $NAME start $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg) commit $(git rev-parse --short HEAD)" > $LOG
echo "# nice -n 10 $CMD" >> $LOG
/usr/bin/time -f "# time user_s sys_s wall_s: %U %S %e" nice -n 10 $CMD >> $LOG 2>&1
echo "# $NAME end $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)" >> $LOG
