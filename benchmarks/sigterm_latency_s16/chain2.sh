#!/bin/bash
# session 16 task S: SIGTERM in the first step with numba's cache cold (a fresh copy of the package)
cd /work/wt-S && . .venv/bin/activate
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1
A="--set model.name=dchn_vgg5 --set model.channels=[16,32,64,64] --set data.name=fashion_mnist --set data.root=/work/shared/data/fashion-mnist --set compute.kernels=numba --set data.test_size=1000 --set train.epochs=2 --set seed=0 --device memristor"
P="python benchmarks/sigterm_latency_s16/probe.py"
J=/tmp/S16_sig/probes.jsonl
while pgrep -f "S16_sig/chain.sh" > /dev/null; do sleep 5; done
$P def_first_cold first:3 --code /tmp/S16_cold -- $A --set data.train_size=1000 >> $J
$P def_start5_cold start:5 --code /tmp/S16_cold -- $A --set data.train_size=1000 >> $J
