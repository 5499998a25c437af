#!/bin/bash
# slot B after the 2k gains-0.7 lr-0.06 seed-0 run: twins at gains 0.7 (2k lr 0.48; 10k lr 0.12 / 0.24 / 0.48), then 10k EP seed 1
cd /work/wt-D/benchmarks/model_defaults_hopfield_s8
while pgrep -f "out /tmp/D/runs/dchn_ep_2k_g0.7_lr0.06_seed0" > /dev/null; do sleep 5; done
G='model.gains=[0.7,0.7,0.7,0.7,0.7]'
for s in 0 1; do ./dchn_run.sh 2000 bp_2k_g0.7_lr0.48_seed$s --set algorithm=bp --set $G --set train.lr=0.48 --set seed=$s; done
for s in 0 1; do for lr in 0.12 0.24; do
./dchn_run.sh 10000 bp_10k_g0.7_lr${lr}_seed$s --set algorithm=bp --set $G --set train.lr=$lr --set seed=$s
done; done
./dchn_run.sh 10000 bp_10k_g0.7_lr0.48_seed0 --set algorithm=bp --set $G --set train.lr=0.48 --set seed=0
./dchn_run.sh 10000 ep_10k_g0.7_lr0.06_seed1 --set $G --set train.lr=0.06 --set seed=1
