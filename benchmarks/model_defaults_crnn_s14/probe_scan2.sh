#!/bin/bash
# probe_scan2.sh OUT.jsonl: gain_probe.py (with the per-node sample std) on the scan's telling profiles, seeds 0-2,
# 64 images; one JSON line each to raw/OUT.jsonl; start/end, commit and load to commands.txt
out=$1
cd "$(dirname "$0")/../.." && . .venv/bin/activate && export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1
rec=benchmarks/model_defaults_crnn_s14
p() {  # p TAG GAINS [args]
  python $rec/gain_probe.py "$@" >> $rec/raw/$out 2>> /tmp/V14/probe_scan.err
}
echo "$(date -u +%FT%TZ) $(git rev-parse --short HEAD) load $(cut -d' ' -f1-3 /proc/loadavg): probe_scan2 $out (python $rec/gain_probe.py TAG GAINS [--cap B] [--set seed=S], tags, gains and seeds in the JSON lines)" >> $rec/commands.txt
for s in 0 1 2; do
  p g1_s$s 1 --set seed=$s
  p g2_s$s 2 --set seed=$s
  p g3cap1_s$s 3 --cap 1 --set seed=$s
  p deep2_s$s 1,1,1,1,2,2,2,2,2,2,2 --set seed=$s
  p in3out3_s$s 3,1,1,1,1,1,1,1,1,1,3 --set seed=$s
done
echo "$(date -u +%FT%TZ) end probe_scan2 $out load $(cut -d' ' -f1-3 /proc/loadavg)" >> $rec/commands.txt
