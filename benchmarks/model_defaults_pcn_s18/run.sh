#!/bin/bash
# Issue 21's first-table conv PCN rows rerun on today's code (session 18): the plain command at the
# family defaults, 5,000 / 2,000 Fashion-MNIST images, 2 epochs, as first measured (2026-12-06,
# model_defaults_fmnist.md "## Results"). Usage: run.sh NAME MODEL ALG [CHANNELS]
TREE=${TREE:-/work/run18d}
cd $TREE && . /work/main/.venv/bin/activate && export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1
D=/work/notes/s18/pcn; NAME=$1; MODEL=$2; ALG=$3; CH=$4
S="--set model.name=$MODEL ${CH:+--set model.channels=$CH} --set data.name=fashion_mnist --set data.root=/work/shared/data/fashion-mnist --set data.train_size=5000 --set data.test_size=2000 --set train.epochs=2 --set algorithm=$ALG"
echo "start $NAME $S $(date -u +%H:%M:%S) commit $(git rev-parse --short HEAD) load $(cut -d' ' -f1-3 /proc/loadavg)" >> $D/runs.log
/usr/bin/time -v python -m analog_ep train $S --out /tmp/S18_runs/pcn_$NAME --json > $D/$NAME.json 2> $D/$NAME.err
echo "end $NAME rc=$? $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)" >> $D/runs.log
