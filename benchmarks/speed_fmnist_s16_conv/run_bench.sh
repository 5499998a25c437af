#!/bin/bash
# Usage: run_bench.sh OUT.jsonl LABEL [--set ...]: analog-ep bench of dchn_vgg5 32-64-64-64 on Fashion-MNIST
# (the first batch of the training set, batch 32 = the schema's and the training protocol's), beta 0.3, numba kernels,
# the memristor card at its equal-accuracy configuration (session 15: read noise off, 12-bit DAC, 13-bit ADC; rounded
# pulsed update, iterative, default stopping unless ARGS say otherwise), with this worktree's code (session 16,
# helper B; adapted from speed_fmnist/raw/run_s11_conv_bench.sh). Appends one JSON line.
OUT=$1; LABEL=$2; shift 2
TREE=$(cd "$(dirname "$0")/../.." && pwd)
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 PYTHONPATH=$TREE
COMMIT=$(git -C "$TREE" rev-parse --short HEAD)
t0=$(date -u +%FT%TZ); l0=$(cut -d' ' -f1-3 /proc/loadavg)
line=$(analog-ep bench --device memristor --set model.name=dchn_vgg5 --set model.channels=[32,64,64,64] \
  --set data.name=fashion_mnist --set data.root=/work/shared/data/fashion-mnist --set ep.beta=0.3 \
  --set compute.kernels=numba --set analog.out_noise_std=0 --set analog.inp_bits=12 --set analog.out_bits=13 \
  --repeats 3 --warmup 1 "$@" --json 2>/tmp/S16B_runs/bench_$LABEL.err | tail -1)
echo "{\"commit\": \"$COMMIT\", \"label\": \"$LABEL\", \"args\": \"$*\", \"start\": \"$t0\", \"end\": \"$(date -u +%FT%TZ)\", \"load_start\": \"$l0\", \"load_end\": \"$(cut -d' ' -f1-3 /proc/loadavg)\", \"bench\": ${line:-null}}" >> $OUT
