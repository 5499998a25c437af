#!/bin/bash
# session 16 task S: the SIGTERM probes, one at a time (nice 10 inside probe.py)
cd /work/wt-S && . .venv/bin/activate
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1
A="--set model.name=dchn_vgg5 --set model.channels=[16,32,64,64] --set data.name=fashion_mnist --set data.root=/work/shared/data/fashion-mnist --set compute.kernels=numba --set data.test_size=1000 --set train.epochs=2 --set seed=0 --device memristor"
FULL="--set solver.stop=tol --set solver.tol=0"
P="python benchmarks/sigterm_latency_s16/probe.py"
J=/tmp/S16_sig/probes.jsonl
echo "# chain start $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)" >> /tmp/S16_sig/chain.log
$P def_wrap start:40 --wrapper time --code /tmp/S16_head -- $A --set data.train_size=1000 >> $J
$P full_eval_head eval --code /tmp/S16_head -- $A $FULL --set data.train_size=64 >> $J
$P full_eval_fix eval --code /tmp/S16_fix -- $A $FULL --set data.train_size=64 >> $J
$P full_eval_fix_resume step:2:1 --code /tmp/S16_fix --resume /tmp/S16_sig/full_eval_fix -- >> $J
$P full_first_head first:3 --code /tmp/S16_head -- $A $FULL --set data.train_size=1000 >> $J
$P full_step_head step:2 --code /tmp/S16_head -- $A $FULL --set data.train_size=1000 >> $J
$P def_step3_resume step:1:5 --code /tmp/S16_head --resume /tmp/S16_sig/def_step3 -- >> $J
echo "# chain end $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)" >> /tmp/S16_sig/chain.log
