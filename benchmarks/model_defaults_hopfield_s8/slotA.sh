#!/bin/bash
# slot A after the CE seed-0 EP run: the gains-0.7 twin's rate (0.24, 0.06; seeds 0, 1), then EP gains 0.7 seed 0
cd /work/wt-D/benchmarks/model_defaults_hopfield_s8
while pgrep -f "out /tmp/D/runs/dchn_ep_2k_ce_b0.1_seed0" > /dev/null; do sleep 5; done
G='model.gains=[0.7,0.7,0.7,0.7,0.7]'
for lr in 0.24 0.06; do for s in 0 1; do
./dchn_run.sh 2000 bp_2k_g0.7_lr${lr}_seed$s --set algorithm=bp --set $G --set train.lr=$lr --set seed=$s
done; done
./dchn_run.sh 2000 ep_2k_g0.7_seed0 --set $G --set seed=0
