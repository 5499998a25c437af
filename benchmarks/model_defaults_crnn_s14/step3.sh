#!/bin/bash
# step3.sh: after the EP 10k x 2 run (launcher pid $1) ends, and only if it ends before 10:15 UTC: the best
# probe profile (eqn1.25) at 2,000 / 1,000 x 2: twins seeds 0-2, EP seed 0; then twins at 10,000 / 2,000 x 2,
# seeds 0-2 (one training at a time, crnn_run.sh each)
cd "$(dirname "$0")"
while kill -0 "$1" 2>/dev/null; do sleep 10; done
[ "$(date -u +%H%M)" -lt 1015 ] || { echo "$(date -u +%FT%TZ) step3 not started (EP ended after 10:15)" >> commands.txt; exit 0; }
G="model.gains=[3,0.926,0.962,1.08,1.19,1.21,1.66,1.65,1.08,1.18,1.54]"
for s in 0 1 2; do ./crnn_run.sh bp_n2000_eqn125_s$s bp 2000 1000 2 --set seed=$s --set $G; done
./crnn_run.sh ep_n2000_eqn125_s0 ep 2000 1000 2 --set seed=0 --set $G
for s in 0 1 2; do ./crnn_run.sh bp_n10000_eqn125_s$s bp 10000 2000 2 --set seed=$s --set $G; done
