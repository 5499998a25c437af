#!/bin/bash
# usage: bench.sh TAG SRC : analog-ep bench, MLP 784-500-10 on the memristor card, w_noise 0.05, numba, default stop
set -u
TAG=$1; SRC=$2
. /work/wt-C/.venv/bin/activate
cd /tmp
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 PYTHONPATH=$SRC
echo "== $TAG start $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
nice -n 10 analog-ep bench --device memristor --set data.name=synthetic --set data.shape=[1,28,28] \
  --set data.train_size=256 --set data.test_size=64 --set model.hidden=[500] --set data.batch_size=64 \
  --set compute.kernels=numba --set analog.w_noise_std=0.05 --repeats 7 --json 2>/tmp/C_runs/bench_$TAG.err | tail -1 >> /tmp/C_runs/bench_$TAG.jsonl
echo "rc=$? end $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
