#!/bin/bash
# second slot: gradchecks at init (gains 0.8, 0.7; CE nudge), then the CE twin at seeds 0, 1
cd /work/wt-D/benchmarks/model_defaults_hopfield_s8
./dchn_gradcheck.sh gradcheck_init_g0.8 --betas 0.1,0.01 --set 'model.gains=[0.8,0.8,0.8,0.8,0.8]' --set data.train_size=2000
./dchn_gradcheck.sh gradcheck_init_g0.7 --betas 0.1,0.01 --set 'model.gains=[0.7,0.7,0.7,0.7,0.7]' --set data.train_size=2000
./dchn_gradcheck.sh gradcheck_init_ce --betas 0.5,0.1,0.01 --set ep.nudge=cross_entropy --set data.train_size=2000
./dchn_run.sh 2000 bp_2k_ce_seed0 --set algorithm=bp --set ep.nudge=cross_entropy --set seed=0
./dchn_run.sh 2000 bp_2k_ce_seed1 --set algorithm=bp --set ep.nudge=cross_entropy --set seed=1
