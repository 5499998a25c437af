#!/bin/bash
# The BP twin at 10k images at two more rates (is the family's 0.03 its best here too?), once the EP 10k run ended.
cd /work/wt-C && . .venv/bin/activate && export OMP_NUM_THREADS=1
D=benchmarks/model_defaults_hopfield_s5
while kill -0 20550 2>/dev/null; do sleep 5; done
COMMON="--set model.name=dchn_vgg5 --set model.channels=[16,32,64,64] --set data.name=fashion_mnist --set data.root=/work/shared/data/fashion-mnist --set data.train_size=10000 --set data.test_size=2000 --set train.epochs=2 --json --set algorithm=bp"
for lr in 0.015 0.06; do
  echo "start bp lr $lr $(date -u) load $(cut -d' ' -f1-3 /proc/loadavg)" >> $D/run10k.log
  analog-ep train $COMMON --set train.lr=$lr --out runs_C/bp_10k_lr$lr > $D/bp_10k_lr$lr.json 2> $D/bp_10k_lr$lr.err
  echo "end bp lr $lr rc=$? $(date -u) load $(cut -d' ' -f1-3 /proc/loadavg)" >> $D/run10k.log
done
