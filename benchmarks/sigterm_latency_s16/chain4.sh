#!/bin/bash
# session 16 task S: SIGTERM in the last epoch's test pass (train.epochs=1), before and after the fix
cd /work/wt-S && . .venv/bin/activate
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1
A="--set model.name=dchn_vgg5 --set model.channels=[16,32,64,64] --set data.name=fashion_mnist --set data.root=/work/shared/data/fashion-mnist --set compute.kernels=numba --set data.train_size=64 --set data.test_size=1000 --set train.epochs=1 --set seed=0 --device memristor"
P="python benchmarks/sigterm_latency_s16/probe.py"
J=/tmp/S16_sig/probes.jsonl
while pgrep -f "S16_sig/chain3.sh" > /dev/null; do sleep 5; done
$P def_lasteval_head eval --code /tmp/S16_head -- $A >> $J
$P def_lasteval_fix eval --code /tmp/S16_fix -- $A >> $J
$P def_lasteval_fix_resume none --code /tmp/S16_fix --resume /tmp/S16_sig/def_lasteval_fix -- >> $J
