#!/bin/bash
# Step 1: dchn_vgg5 family defaults at 10k images, EP then its BP twin.
cd /work/wt-C && . .venv/bin/activate && export OMP_NUM_THREADS=1
D=benchmarks/model_defaults_hopfield_s5
COMMON="--set model.name=dchn_vgg5 --set model.channels=[16,32,64,64] --set data.name=fashion_mnist --set data.root=/work/shared/data/fashion-mnist --set data.train_size=10000 --set data.test_size=2000 --set train.epochs=2 --json"
for alg in ep bp; do
  echo "start $alg $(date -u)" >> $D/run10k.log
  /usr/bin/time -v analog-ep train $COMMON --set algorithm=$alg > $D/defaults_10k_$alg.json 2> $D/defaults_10k_$alg.err
  echo "end $alg rc=$? $(date -u)" >> $D/run10k.log
done
