#!/bin/bash
# grad_scan3.sh OUT.jsonl: grad_probe.py with the aux nudges at full local strength (--aux-local), fp32 and float64
out=$1
cd "$(dirname "$0")/../.." && . .venv/bin/activate && export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1
rec=benchmarks/model_defaults_crnn_s15
p() { python $rec/grad_probe.py "$@" >> $rec/raw/$out 2>> /tmp/V15/grad_scan.err; }
echo "$(date -u +%FT%TZ) $(git rev-parse --short HEAD) load $(cut -d' ' -f1-3 /proc/loadavg): grad_scan3 $out (python $rec/grad_probe.py TAG EPS BETA [--fp32] [--aux-local] [--set ...]; in the JSON lines)" >> $rec/commands.txt
G2="--set model.gains=[2,2,2,2,2,2,2,2,2,2,2]"
p g2_e01_b01_auxloc_fp32 0.1 0.1 --fp32 --aux-local $G2
p g2_e025_b01_auxloc_fp32 0.25 0.1 --fp32 --aux-local $G2
p g2_e01_b001_auxloc 0.1 0.01 --aux-local $G2
echo "$(date -u +%FT%TZ) end grad_scan3 $out load $(cut -d' ' -f1-3 /proc/loadavg)" >> $rec/commands.txt
