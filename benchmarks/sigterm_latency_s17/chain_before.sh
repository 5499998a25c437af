#!/bin/bash
# Session 17, task S: SIGTERM 3 s into the first step with a cold numba cache, the code before the fix
# (a copy of the branch's base in /tmp/S17_head), its resume, and a run never signalled.
# Usage: bash benchmarks/sigterm_latency_s17/chain_before.sh >> benchmarks/sigterm_latency_s17/probes.jsonl
set -u
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1
P=benchmarks/sigterm_latency_s17/probe.py
A="--set model.name=dchn_vgg5 --set model.channels=[16,32,64,64] --set data.name=fashion_mnist \
--set data.root=/work/shared/data/fashion-mnist --set compute.kernels=numba --set data.train_size=512 \
--set data.test_size=256 --set train.epochs=1 --set seed=0 --device memristor"
H=/tmp/S17_head
rm -rf /tmp/S17_nc_before && mkdir -p /tmp/S17_nc_before
python $P cold_first_before first:3 --code $H --numba-cache /tmp/S17_nc_before -- $A
python $P cold_first_before_resume none --code $H --numba-cache /tmp/S17_nc_before --resume /tmp/S17_sig/cold_first_before -- ""
python $P never_signalled none --code $H --numba-cache /tmp/S17_nc_before -- $A
python benchmarks/sigterm_latency_s17/same.py /tmp/S17_sig/never_signalled /tmp/S17_sig/cold_first_before
