#!/bin/bash
# grad_scan2.sh OUT.jsonl: grad_probe.py at the family's beta, in fp32 (the runs' precision), seeds 1-2
out=$1
cd "$(dirname "$0")/../.." && . .venv/bin/activate && export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1
rec=benchmarks/model_defaults_crnn_s15
p() { python $rec/grad_probe.py "$@" >> $rec/raw/$out 2>> /tmp/V15/grad_scan.err; }
echo "$(date -u +%FT%TZ) $(git rev-parse --short HEAD) load $(cut -d' ' -f1-3 /proc/loadavg): grad_scan2 $out (python $rec/grad_probe.py TAG EPS BETA [--fp32] [--set ...]; in the JSON lines)" >> $rec/commands.txt
G2="--set model.gains=[2,2,2,2,2,2,2,2,2,2,2]"
p g2_e01_b01 0.1 0.1 $G2
p g2_e01_b01_fp32 0.1 0.1 --fp32 $G2
p g2_e01_b001_fp32 0.1 0.01 --fp32 $G2
p g2_e01_b001_s1 0.1 0.01 $G2 --set seed=1
p g1_e1_b01_fp32 1 0.1 --fp32
echo "$(date -u +%FT%TZ) end grad_scan2 $out load $(cut -d' ' -f1-3 /proc/loadavg)" >> $rec/commands.txt
