#!/bin/bash
# R6 (Laborieux et al. 2021: larger rates for the lower layers) once the BP 10k run has ended.
while kill -0 30480 2>/dev/null; do sleep 5; done
/work/wt-C/benchmarks/model_defaults_hopfield_s5/run2k.sh ep_2k_llr30_15 --set 'train.layer_lrs=[0.03,0.03,0.03,0.015,0.015]'
