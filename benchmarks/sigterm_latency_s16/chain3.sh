#!/bin/bash
# session 16 task S: the session-15 card run's settings (32-64-64-64, M 64, 12/13 bits, full budget): one step's wait
cd /work/wt-S && . .venv/bin/activate
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1
A="--set model.name=dchn_vgg5 --set model.channels=[32,64,64,64] --set data.name=fashion_mnist --set data.root=/work/shared/data/fashion-mnist --set compute.kernels=numba --set data.train_size=1000 --set data.test_size=1000 --set train.epochs=2 --set seed=0 --set ep.beta=0.3 --device memristor --set analog.read_integration=64 --set analog.inp_bits=12 --set analog.out_bits=13 --set solver.stop=tol --set solver.tol=0"
P="python benchmarks/sigterm_latency_s16/probe.py"
J=/tmp/S16_sig/probes.jsonl
while pgrep -f "S16_sig/chain2.sh" > /dev/null; do sleep 5; done
timeout 1200 $P s15_m64_step2 step:2 --code /tmp/S16_fix -- $A >> $J
