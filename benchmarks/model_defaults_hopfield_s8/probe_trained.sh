#!/bin/bash
# EP's estimate against the exact gradient at trained gains-0.7 weights (s7's dchn_nudge_probe.py, CKPT=...):
# the 10k seed-0 run after epoch 1, and the 2k seed-0 lr-0.06 run at its end; betas 0.1, 0.01; the training budget (20 sweeps, tol 1e-4) and 400 sweeps at 1e-7
cd /work/wt-D && . .venv/bin/activate && export OMP_NUM_THREADS=1
D=benchmarks/model_defaults_hopfield_s8
G='model.gains=[0.7,0.7,0.7,0.7,0.7]'
for c in /tmp/D/ckpt_10k_g07_s0_epoch1.pt /tmp/D/runs/dchn_ep_2k_g0.7_lr0.06_seed0/checkpoint.pt; do
  echo "start probe CKPT=$c $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)" >> $D/dchn_runs.log
  echo "# CKPT=$c" >> $D/probe_trained.jsonl
  CKPT=$c python benchmarks/model_defaults_hopfield_s7/dchn_nudge_probe.py 0.1,0.01 20:1e-4:0,400:1e-7:0 --set $G >> $D/probe_trained.jsonl 2>> $D/probe_trained.err
  echo "end probe rc=$? $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)" >> $D/dchn_runs.log
done
