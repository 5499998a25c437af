#!/bin/bash
# The BP twin's best rate: 2k at 0.12 and 0.24, 10k at 0.24 (one run at a time, beside the 2k EP run).
cd /work/wt-C && . .venv/bin/activate && export OMP_NUM_THREADS=1
D=benchmarks/model_defaults_hopfield_s5
BASE="--set model.name=dchn_vgg5 --set model.channels=[16,32,64,64] --set data.name=fashion_mnist --set data.root=/work/shared/data/fashion-mnist --set data.test_size=2000 --set train.epochs=2 --json --set algorithm=bp"
for job in "2000 0.12" "10000 0.24" "2000 0.24"; do
  set -- $job
  echo "start bp n=$1 lr $2 $(date -u) load $(cut -d' ' -f1-3 /proc/loadavg)" >> $D/run10k.log
  analog-ep train $BASE --set data.train_size=$1 --set train.lr=$2 --out runs_C/bp_n$1_lr$2 > $D/bp_n$1_lr$2.json 2> $D/bp_n$1_lr$2.err
  echo "end bp n=$1 lr $2 rc=$? $(date -u) load $(cut -d' ' -f1-3 /proc/loadavg)" >> $D/run10k.log
done
