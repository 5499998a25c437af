#!/bin/bash
# slot B after probes.sh: twins at gains 0.7 (seeds 0, 1; twin rate 0.12), then EP gains 0.7 seed 1
cd /work/wt-D/benchmarks/model_defaults_hopfield_s8
while pgrep -f probes.sh > /dev/null; do sleep 5; done
G='model.gains=[0.7,0.7,0.7,0.7,0.7]'
./dchn_run.sh 2000 bp_2k_g0.7_seed0 --set algorithm=bp --set $G --set seed=0
./dchn_run.sh 2000 bp_2k_g0.7_seed1 --set algorithm=bp --set $G --set seed=1
./dchn_run.sh 2000 ep_2k_g0.7_seed1 --set $G --set seed=1
