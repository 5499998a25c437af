#!/bin/bash
# Session 17, task S: the same probes with the fix (a copy of the fix's commit in /tmp/S17_fix):
# SIGTERM at three points of the first step's cold compile (each its own empty NUMBA_CACHE_DIR),
# each then resumed in the same (now partly written) cache; a run never signalled; a warm first step.
# Usage: bash benchmarks/sigterm_latency_s17/chain_after.sh >> benchmarks/sigterm_latency_s17/probes.jsonl
set -u
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1
P=benchmarks/sigterm_latency_s17/probe.py
A="--set model.name=dchn_vgg5 --set model.channels=[16,32,64,64] --set data.name=fashion_mnist \
--set data.root=/work/shared/data/fashion-mnist --set compute.kernels=numba --set data.train_size=512 \
--set data.test_size=256 --set train.epochs=1 --set seed=0 --device memristor"
F=/tmp/S17_fix
for t in 3 12 30; do
  rm -rf /tmp/S17_nc_after$t && mkdir -p /tmp/S17_nc_after$t
  python $P cold_first_after$t first:$t --code $F --numba-cache /tmp/S17_nc_after$t -- $A
  echo "{\"cache_after_stop\": \"/tmp/S17_nc_after$t\", \"files\": $(find /tmp/S17_nc_after$t -type f | wc -l), \"tmp_files\": $(find /tmp/S17_nc_after$t -name '*.tmp.*' | wc -l)}"
done
for t in 3 12 30; do
  python $P cold_first_after${t}_resume none --code $F --numba-cache /tmp/S17_nc_after$t --resume /tmp/S17_sig/cold_first_after$t -- ""
done
python $P never_signalled_after none --code $F --numba-cache /tmp/S17_nc_after3 -- $A
python $P warm_first_after first:3 --code $F --numba-cache /tmp/S17_nc_after3 -- $A
python $P warm_first_before first:3 --code /tmp/S17_head --numba-cache /tmp/S17_nc_before -- $A
for t in 3 12 30; do
  python benchmarks/sigterm_latency_s17/same.py /tmp/S17_sig/never_signalled_after /tmp/S17_sig/cold_first_after$t
done
python benchmarks/sigterm_latency_s17/same.py /tmp/S17_sig/never_signalled /tmp/S17_sig/never_signalled_after
