#!/bin/bash
# crnn_run.sh TAG ALGORITHM TRAIN TEST EPOCHS [--set k=v ...]: one vgg_crnn Fashion-MNIST run (s12's
# launcher, this session's folders; channels [8,16,32,32,32], the branch's family defaults + the --sets);
# the --json line goes to raw/TAG.json, the log to /tmp/V14/TAG.log, the run folder to /tmp/V14/runs/TAG;
# start/end, commit and load to commands.txt
tag=$1; alg=$2; ntrain=$3; ntest=$4; epochs=$5; shift 5
cd "$(dirname "$0")/../.." && . .venv/bin/activate && export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1
rec=benchmarks/model_defaults_crnn_s14
args="--set model.name=vgg_crnn --set algorithm=$alg --set data.name=fashion_mnist --set data.root=/work/shared/data/fashion-mnist --set train.epochs=$epochs --set model.channels=[8,16,32,32,32] --set data.train_size=$ntrain --set data.test_size=$ntest"
echo "$(date -u +%FT%TZ) $(git rev-parse --short HEAD) load $(cut -d' ' -f1-3 /proc/loadavg): $tag: analog-ep train $args $* --out /tmp/V14/runs/$tag --overwrite --json" >> $rec/commands.txt
/usr/bin/time -f "wall %e s" analog-ep train $args "$@" --out /tmp/V14/runs/$tag --overwrite --json > /tmp/V14/$tag.log 2>&1
echo "$(date -u +%FT%TZ) end $tag rc=$? $(grep '^wall' /tmp/V14/$tag.log) load $(cut -d' ' -f1-3 /proc/loadavg)" >> $rec/commands.txt
grep '^{"test_accuracy"' /tmp/V14/$tag.log | tail -1 > $rec/raw/$tag.json
