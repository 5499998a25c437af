#!/bin/bash
# slot A after EP gains 0.7 seed 0: EP gains 0.7 at lr 0.06 (seed 1)
cd /work/wt-D/benchmarks/model_defaults_hopfield_s8
while pgrep -f "out /tmp/D/runs/dchn_ep_2k_g0.7_seed0" > /dev/null; do sleep 5; done
./dchn_run.sh 2000 ep_2k_g0.7_lr0.06_seed1 --set 'model.gains=[0.7,0.7,0.7,0.7,0.7]' --set train.lr=0.06 --set seed=1
