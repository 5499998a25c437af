#!/bin/bash
# vgg_crnn at its digital family defaults (session 18), the plain command on 10,000 / 2,000
# Fashion-MNIST images, 2 epochs, [8,16,32,32,32]. Usage: run10k.sh NAME ALG [--set ...]
TREE=${TREE:-/work/run18b}
cd $TREE && . /work/main/.venv/bin/activate && export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1
D=/work/notes/s18/crnn; NAME=$1; ALG=$2; shift 2
S="--set model.name=vgg_crnn --set data.name=fashion_mnist --set data.root=/work/shared/data/fashion-mnist --set train.epochs=2 --set model.channels=[8,16,32,32,32] --set data.train_size=10000 --set data.test_size=2000"
echo "start $NAME $ALG $* $(date -u +%H:%M:%S) commit $(git rev-parse --short HEAD) load $(cut -d' ' -f1-3 /proc/loadavg)" >> $D/runs.log
/usr/bin/time -v python -m analog_ep train $S --set algorithm=$ALG "$@" --out /tmp/S18_runs/crnn10k_$NAME --json > $D/$NAME.json 2> $D/$NAME.err
echo "end $NAME rc=$? $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)" >> $D/runs.log
