#!/bin/bash
# Lead's copy of helper D's launcher: frozen tree /work/run17, main's venv, normal priority; outputs in /work/notes/s17/
cd /work/run17 && . /work/main/.venv/bin/activate && export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1
D=/work/notes/s17
N=$1; E=$2; NAME=dchn_f64_$3; shift 3
COMMON="--set model.name=dchn_vgg5 --set model.channels=[16,32,64,64] --set data.name=fashion_mnist --set data.root=/work/shared/data/fashion-mnist --set data.train_size=$N --set data.test_size=2000 --set train.epochs=$E --json"
echo "start $NAME $* $(date -u +%H:%M:%S) commit $(git rev-parse --short HEAD) load $(cut -d' ' -f1-3 /proc/loadavg)" >> $D/dchn_runs.log
/usr/bin/time -v python /work/notes/s17/f64_wrap.py train $COMMON "$@" --out /tmp/S17L_runs/$NAME > $D/$NAME.json 2> $D/$NAME.err
echo "end $NAME rc=$? $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)" >> $D/dchn_runs.log
