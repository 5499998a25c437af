#!/bin/bash
# One dchn_vgg5 run: dchn_run.sh N EPOCHS NAME [extra --set args...]
# (s14's launcher, worktree D; adds the epoch count and runs under nice -n 10)
cd /work/wt-D && . .venv/bin/activate && export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1
D=benchmarks/model_defaults_hopfield_s16
N=$1; E=$2; NAME=dchn_$3; shift 3
COMMON="--set model.name=dchn_vgg5 --set model.channels=[16,32,64,64] --set data.name=fashion_mnist --set data.root=/work/shared/data/fashion-mnist --set data.train_size=$N --set data.test_size=2000 --set train.epochs=$E --json"
echo "start $NAME $* $(date -u +%H:%M:%S) commit $(git rev-parse --short HEAD) load $(cut -d' ' -f1-3 /proc/loadavg)" >> $D/dchn_runs.log
nice -n 10 /usr/bin/time -v analog-ep train $COMMON "$@" --out /tmp/S16D_runs/$NAME > $D/$NAME.json 2> $D/$NAME.err
echo "end $NAME rc=$? $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)" >> $D/dchn_runs.log
