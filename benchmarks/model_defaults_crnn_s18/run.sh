#!/bin/bash
# vgg_crnn screen (session 18): EP with the auxiliary readouts weighted as the twin's objective
# (model.aux_weight=objective), the layer-scaled update and fp64, against its twin; s15-s17's
# protocol (8-16-32-32-32, 2,000 / 1,000 images, 2 epochs, family defaults otherwise).
# Usage: run.sh NAME ALG [--set ...]   (TREE: the frozen checkout to run, default /work/run18)
TREE=${TREE:-/work/run18}
cd $TREE && . /work/main/.venv/bin/activate && export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1
D=/work/notes/s18/crnn; NAME=$1; ALG=$2; shift 2
S="--set model.name=vgg_crnn --set data.name=fashion_mnist --set data.root=/work/shared/data/fashion-mnist --set train.epochs=2 --set model.channels=[8,16,32,32,32] --set data.train_size=2000 --set data.test_size=1000 --set compute.precision=fp64"
echo "start $NAME $ALG $* $(date -u +%H:%M:%S) commit $(git rev-parse --short HEAD) load $(cut -d' ' -f1-3 /proc/loadavg)" >> $D/runs.log
/usr/bin/time -v python -m analog_ep train $S --set algorithm=$ALG "$@" --out /tmp/S18_runs/crnn_$NAME --json > $D/$NAME.json 2> $D/$NAME.err
echo "end $NAME rc=$? $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)" >> $D/runs.log
