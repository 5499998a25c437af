#!/bin/bash
for S in 0 1 2; do
  ./dchn_run_p.sh 10000 3 bp_fp64_g0.7_cap2_lr0.12_e3_seed$S --set algorithm=bp --set model.gains=[0.7,0.7,0.7,0.7,0.7] --set train.spectral_cap=2 --set compute.precision=fp64 --set seed=$S
done
