#!/bin/bash
# One dchn_vgg5 gradcheck at init (s7's launcher, worktree D): dchn_gradcheck.sh NAME [extra args...] (json -> dchn_NAME.json)
cd /work/wt-D && . .venv/bin/activate && export OMP_NUM_THREADS=1
D=benchmarks/model_defaults_hopfield_s8
NAME=dchn_$1; shift
echo "start $NAME $* $(date -u +%H:%M:%S) commit $(git rev-parse --short HEAD) load $(cut -d' ' -f1-3 /proc/loadavg)" >> $D/dchn_runs.log
/usr/bin/time -v analog-ep gradcheck --set model.name=dchn_vgg5 --set model.channels=[16,32,64,64] \
  --set data.name=fashion_mnist --set data.root=/work/shared/data/fashion-mnist --batch 16 --iters 400 --tol 1e-7 \
  --json "$@" > $D/$NAME.json 2> $D/$NAME.err
echo "end $NAME rc=$? $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)" >> $D/dchn_runs.log
