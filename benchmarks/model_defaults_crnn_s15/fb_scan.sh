#!/bin/bash
# fb_scan.sh OUT.jsonl: fb_probe.py (feedback scaled by EPS) at init and at trained twins' weights,
# one JSON line each to raw/OUT.jsonl; start/end, commit and load to commands.txt
out=$1
cd "$(dirname "$0")/../.." && . .venv/bin/activate && export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1
rec=benchmarks/model_defaults_crnn_s15
mkdir -p /tmp/V15
p() {  # p TAG EPS [args]
  python $rec/fb_probe.py "$@" >> $rec/raw/$out 2>> /tmp/V15/fb_scan.err
}
echo "$(date -u +%FT%TZ) $(git rev-parse --short HEAD) load $(cut -d' ' -f1-3 /proc/loadavg): fb_scan $out (python $rec/fb_probe.py TAG EPS [--from-ff] [--ckpt C] [--set ...]; tags, eps, sets and ckpts in the JSON lines)" >> $rec/commands.txt
G2="--set model.gains=[2,2,2,2,2,2,2,2,2,2,2]"
G245="--set model.gains=[2.45,2.45,2.45,2.45,2.45,2.45,2.45,2.45,2.45,2.45,2.45]"
p g1_e1 1
p g1_e1_ff 1 --from-ff
p g1_e05 0.5
p g1_e025 0.25
p g2_e1 1 $G2
p g2_e1_ff 1 --from-ff $G2
p g2_e05 0.5 $G2
p g2_e025 0.25 $G2
p g2_e01 0.1 $G2
p g245_e025 0.25 $G245
p g245_e01 0.1 $G245
T=/tmp/E13/runs/bp_n10000_g2_s0/checkpoint.pt
p bp10k_g2_e1 1 --ckpt $T $G2
p bp10k_g2_e05 0.5 --ckpt $T $G2
p bp10k_g2_e025 0.25 --ckpt $T $G2
p bp10k_g2_e01 0.1 --ckpt $T $G2
T=/tmp/E12/runs/bp_n10000_s0/checkpoint.pt
p bp10k_g1_e1 1 --ckpt $T
p bp10k_g1_e025 0.25 --ckpt $T
p bp10k_g1_e01 0.1 --ckpt $T
for s in 1 2; do
  p g2_e025_s$s 0.25 $G2 --set seed=$s
  p g2_e1_s$s 1 $G2 --set seed=$s
done
echo "$(date -u +%FT%TZ) end fb_scan $out load $(cut -d' ' -f1-3 /proc/loadavg)" >> $rec/commands.txt
