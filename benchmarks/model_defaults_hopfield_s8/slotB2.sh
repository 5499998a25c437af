#!/bin/bash
# slot B after EP gains 0.7 seed 1: CE nudge at beta 0.01 with the relative nudged stop (s7's small-beta keys)
cd /work/wt-D/benchmarks/model_defaults_hopfield_s8
while pgrep -f "out /tmp/D/runs/dchn_ep_2k_g0.7_seed1" > /dev/null; do sleep 5; done
./dchn_gradcheck.sh gradcheck_init_ce_rtol1e-2_n40 --betas 0.1,0.03,0.01 --set ep.nudge=cross_entropy --set solver.nudge_rtol=0.01 --nudge-iters 40 --set data.train_size=2000
./dchn_run.sh 2000 ep_2k_ce_b0.01_r1e-2_n40_seed0 --set ep.nudge=cross_entropy --set ep.beta=0.01 --set solver.nudge_rtol=0.01 --set solver.nudge_iters=40 --set seed=0
