#!/bin/bash
# slot B after the CE beta-0.01 run: EP gains 0.7 at lr 0.06 (seed 0)
cd /work/wt-D/benchmarks/model_defaults_hopfield_s8
while pgrep -f "out /tmp/D/runs/dchn_ep_2k_ce_b0.01_r1e-2_n40_seed0" > /dev/null; do sleep 5; done
./dchn_run.sh 2000 ep_2k_g0.7_lr0.06_seed0 --set 'model.gains=[0.7,0.7,0.7,0.7,0.7]' --set train.lr=0.06 --set seed=0
