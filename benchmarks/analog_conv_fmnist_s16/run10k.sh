#!/bin/bash
# run10k.sh NAME SEED [--device memristor] [--set ...]: dchn_vgg5 10k x 2 (L's protocol, session 13; session 16 copy of session 15's) from helper G's worktree
NAME=$1; SEED=$2; shift 2
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1
cd /work/wt-G && . /work/wt-G/.venv/bin/activate
LOG=/work/wt-G/benchmarks/analog_conv_fmnist_s16/raw/train_$NAME.txt
CMD="python -m analog_ep train --set model.name=dchn_vgg5 --set model.channels=[32,64,64,64] --set data.name=fashion_mnist --set data.root=/work/shared/data/fashion-mnist --set compute.kernels=numba --set data.train_size=10000 --set data.test_size=2000 --set train.epochs=2 --set seed=$SEED --set ep.beta=0.3 $* --out /tmp/S16G_runs/$NAME --json"
echo "# $NAME start $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg) commit $(git rev-parse --short HEAD)" > $LOG
echo "# $CMD" >> $LOG
/usr/bin/time -f "# time user_s sys_s wall_s: %U %S %e" $CMD >> $LOG 2>&1
echo "# $NAME end $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)" >> $LOG
