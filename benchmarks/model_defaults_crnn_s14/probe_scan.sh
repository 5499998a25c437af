#!/bin/bash
# probe_scan.sh OUT.jsonl: gain_probe.py over this session's gain profiles (seed 0, 64 images), one JSON line
# each to raw/OUT.jsonl; start/end, commit and load to commands.txt
out=$1
cd "$(dirname "$0")/../.." && . .venv/bin/activate && export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1
rec=benchmarks/model_defaults_crnn_s14
p() {  # p TAG GAINS [args]
  python $rec/gain_probe.py "$@" >> $rec/raw/$out 2>> /tmp/V14/probe_scan.err
}
echo "$(date -u +%FT%TZ) $(git rev-parse --short HEAD) load $(cut -d' ' -f1-3 /proc/loadavg): probe_scan $out (python $rec/gain_probe.py TAG GAINS [--cap B], tags and gains in the JSON lines)" >> $rec/commands.txt
p g0.8 0.8
p g1 1
p g1.25 1.25
p g1.5 1.5
p g2 2
p deep15 1,1,1,1,1.5,1.5,1.5,1.5,1.5,1.5,1.5
p deep2 1,1,1,1,2,2,2,2,2,2,2
p dense2 1,1,1,1,1,1,1,1,2,2,2
p in3out3 3,1,1,1,1,1,1,1,1,1,3
p in2deep2 2,1,1,1,2,2,2,2,2,2,2
p g3cap1 3 --cap 1
p g3cap1.25 3 --cap 1.25
p g3cap1.5 3 --cap 1.5
p g3cap2 3 --cap 2
echo "$(date -u +%FT%TZ) end probe_scan $out load $(cut -d' ' -f1-3 /proc/loadavg)" >> $rec/commands.txt
