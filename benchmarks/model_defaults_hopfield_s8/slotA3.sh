#!/bin/bash
# slot A after the 2k gains-0.7 lr-0.06 seed-1 run: 10k EP gains 0.7 lr 0.06 seed 0
cd /work/wt-D/benchmarks/model_defaults_hopfield_s8
while pgrep -f "out /tmp/D/runs/dchn_ep_2k_g0.7_lr0.06_seed1" > /dev/null; do sleep 5; done
./dchn_run.sh 10000 ep_10k_g0.7_lr0.06_seed0 --set 'model.gains=[0.7,0.7,0.7,0.7,0.7]' --set train.lr=0.06 --set seed=0
