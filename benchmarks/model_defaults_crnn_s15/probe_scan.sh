#!/bin/bash
# probe_scan.sh OUT.jsonl: sat_probe.py on our setting and the published line's, at init (seeds 0-2)
# and at trained twins' / EP's weights (seed 0); one JSON line each to raw/OUT.jsonl; start/end,
# commit and load to commands.txt
out=$1
cd "$(dirname "$0")/../.." && . .venv/bin/activate && export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1
rec=benchmarks/model_defaults_crnn_s15
mkdir -p /tmp/V15
p() {  # p TAG [args]
  python $rec/sat_probe.py "$@" >> $rec/raw/$out 2>> /tmp/V15/probe_scan.err
}
echo "$(date -u +%FT%TZ) $(git rev-parse --short HEAD) load $(cut -d' ' -f1-3 /proc/loadavg): probe_scan $out (python $rec/sat_probe.py TAG [--ckpt C] [--set ...]; tags, sets and ckpts in the JSON lines)" >> $rec/commands.txt
HS="--set model.activation=hard_sigmoid"
S3="--set data.std_scale=3"
for s in 0 1 2; do
  p ours_init_s$s --set seed=$s
  p hs_init_s$s $HS --set seed=$s
  p std3_init_s$s $S3 --set seed=$s
  p hs_std3_init_s$s $HS $S3 --set seed=$s
done
p hs_g2_init_s0 $HS --set "model.gains=[2,2,2,2,2,2,2,2,2,2,2]"
T=/tmp/E12/runs/bp_n10000_s0/checkpoint.pt
p ours_bp10k_s0 --ckpt $T
p hs_bp10k_s0 --ckpt $T $HS
T=/tmp/E13/runs/bp_n10000_g2_s0/checkpoint.pt
p ours_bp10k_g2_s0 --ckpt $T --set "model.gains=[2,2,2,2,2,2,2,2,2,2,2]"
p hs_bp10k_g2_s0 --ckpt $T $HS --set "model.gains=[2,2,2,2,2,2,2,2,2,2,2]"
T=/tmp/V14/runs/ep_n10000_base_s0/checkpoint.pt
p ours_ep10k_s0 --ckpt $T
p hs_ep10k_s0 --ckpt $T $HS
echo "$(date -u +%FT%TZ) end probe_scan $out load $(cut -d' ' -f1-3 /proc/loadavg)" >> $rec/commands.txt
