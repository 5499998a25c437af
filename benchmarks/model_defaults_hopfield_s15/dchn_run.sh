#!/bin/bash
# One dchn_vgg5 run: dchn_run.sh N NAME [extra --set args...]  (N = training images; s11's launcher, worktree H, session 15)
cd /work/wt-H && . .venv/bin/activate && export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1
D=benchmarks/model_defaults_hopfield_s15
N=$1; NAME=dchn_$2; shift 2
COMMON="--set model.name=dchn_vgg5 --set model.channels=[16,32,64,64] --set data.name=fashion_mnist --set data.root=/work/shared/data/fashion-mnist --set data.train_size=$N --set data.test_size=2000 --set train.epochs=2 --json"
echo "start $NAME $* $(date -u +%H:%M:%S) commit $(git rev-parse --short HEAD) load $(cut -d' ' -f1-3 /proc/loadavg)" >> $D/dchn_runs.log
/usr/bin/time -v analog-ep train $COMMON "$@" --out /tmp/H/runs/$NAME > $D/$NAME.json 2> $D/$NAME.err
echo "end $NAME rc=$? $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)" >> $D/dchn_runs.log
