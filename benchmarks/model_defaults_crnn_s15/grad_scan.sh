#!/bin/bash
# grad_scan.sh OUT.jsonl: grad_probe.py (EP estimate on the feedback-scaled energy against the twin's
# gradient, float64, at init), one JSON line each to raw/OUT.jsonl; start/end, commit, load to commands.txt
out=$1
cd "$(dirname "$0")/../.." && . .venv/bin/activate && export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1
rec=benchmarks/model_defaults_crnn_s15
p() { python $rec/grad_probe.py "$@" >> $rec/raw/$out 2>> /tmp/V15/grad_scan.err; }
echo "$(date -u +%FT%TZ) $(git rev-parse --short HEAD) load $(cut -d' ' -f1-3 /proc/loadavg): grad_scan $out (python $rec/grad_probe.py TAG EPS BETA [--set ...]; in the JSON lines)" >> $rec/commands.txt
G2="--set model.gains=[2,2,2,2,2,2,2,2,2,2,2]"
p g2_e01_b001 0.1 0.01 $G2
p g2_e025_b001 0.25 0.01 $G2
p g1_e1_b001 1 0.01
p g2_e1_b001 1 0.01 $G2
echo "$(date -u +%FT%TZ) end grad_scan $out load $(cut -d' ' -f1-3 /proc/loadavg)" >> $rec/commands.txt
