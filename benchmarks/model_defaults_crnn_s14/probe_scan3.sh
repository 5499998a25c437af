#!/bin/bash
# probe_scan3.sh OUT.jsonl: gain_probe.py on the equal-operator-norm profiles (conv1 at 3, every free coupling's
# gain B / its operator norm at gain 1, seed 0's norms from gain_probe_scan1.jsonl "g1"), seeds 0-2, 64 images;
# one JSON line each to raw/OUT.jsonl; start/end, commit and load to commands.txt
out=$1
cd "$(dirname "$0")/../.." && . .venv/bin/activate && export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1
rec=benchmarks/model_defaults_crnn_s14
p() {  # p TAG GAINS [args]
  python $rec/gain_probe.py "$@" >> $rec/raw/$out 2>> /tmp/V14/probe_scan.err
}
echo "$(date -u +%FT%TZ) $(git rev-parse --short HEAD) load $(cut -d' ' -f1-3 /proc/loadavg): probe_scan3 $out (python $rec/gain_probe.py TAG GAINS [--set seed=S], tags, gains and seeds in the JSON lines)" >> $rec/commands.txt
for s in 0 1 2; do
  p eqn1.25_s$s 3,0.926,0.962,1.08,1.19,1.21,1.66,1.65,1.08,1.18,1.54 --set seed=$s
  p eqn1.5_s$s 3,1.11,1.15,1.29,1.43,1.46,1.99,1.98,1.29,1.42,1.85 --set seed=$s
done
echo "$(date -u +%FT%TZ) end probe_scan3 $out load $(cut -d' ' -f1-3 /proc/loadavg)" >> $rec/commands.txt
