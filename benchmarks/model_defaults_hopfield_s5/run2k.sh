#!/bin/bash
# Step 2: one 2k-image dchn_vgg5 run: run2k.sh NAME [extra --set args...]
cd /work/wt-C && . .venv/bin/activate && export OMP_NUM_THREADS=1
D=benchmarks/model_defaults_hopfield_s5
NAME=$1; shift
COMMON="--set model.name=dchn_vgg5 --set model.channels=[16,32,64,64] --set data.name=fashion_mnist --set data.root=/work/shared/data/fashion-mnist --set data.train_size=2000 --set data.test_size=2000 --set train.epochs=2 --json"
echo "start $NAME $* $(date -u) commit $(git rev-parse --short HEAD) load $(cut -d' ' -f1-3 /proc/loadavg)" >> $D/run2k.log
analog-ep train $COMMON "$@" --out runs_C/$NAME > $D/$NAME.json 2> $D/$NAME.err
echo "end $NAME rc=$? $(date -u) load $(cut -d' ' -f1-3 /proc/loadavg)" >> $D/run2k.log
