#!/bin/bash
# grad_scan5.sh OUT.jsonl: grad_probe.py at the trained gain-2 twin's weights (10k x 2, test 0.7955), float64
out=$1
cd "$(dirname "$0")/../.." && . .venv/bin/activate && export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1
rec=benchmarks/model_defaults_crnn_s15
p() { python $rec/grad_probe.py "$@" >> $rec/raw/$out 2>> /tmp/V15/grad_scan.err; }
echo "$(date -u +%FT%TZ) $(git rev-parse --short HEAD) load $(cut -d' ' -f1-3 /proc/loadavg): grad_scan5 $out (python $rec/grad_probe.py TAG EPS BETA --ckpt C [--set ...]; in the JSON lines)" >> $rec/commands.txt
G2="--set model.gains=[2,2,2,2,2,2,2,2,2,2,2]"
T=/tmp/E13/runs/bp_n10000_g2_s0/checkpoint.pt
p bp10k_g2_e01_b001 0.1 0.01 --ckpt $T $G2
p bp10k_g2_e1_b001 1 0.01 --ckpt $T $G2
echo "$(date -u +%FT%TZ) end grad_scan5 $out load $(cut -d' ' -f1-3 /proc/loadavg)" >> $rec/commands.txt
