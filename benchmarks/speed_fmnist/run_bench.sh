#!/bin/bash
# Usage: run_bench.sh TREE OUT.jsonl  -- runs the bench matrix of benchmarks/speed_fmnist.md with the
# code of worktree TREE (PYTHONPATH), one JSON line per config appended to OUT.jsonl.
# Rows: full budget needs solver.stop=tol besides solver.tol=0 since the default solver.stop: auto
# stops a noisy analog phase on its floor; "default" is auto (before 2026-12-06 09:00 UTC: tol, now row "tol").
# settle / settle_noise_floor pin dt = tau (1e-7 s); settle_default is today's default step (no pin).
# Optional: ROWS="full_budget noise_floor" (labels to run; default all), KERNELS="numba" (default "torch numba").
TREE=$1; OUT=$2
KERNELS=${KERNELS:-torch numba}
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 PYTHONPATH=$TREE
B="--set data.root=/work/shared/data/fashion-mnist --set data.train_size=640 --set data.test_size=64"
cd $TREE
while read -r label args; do
  if [ -n "$ROWS" ] && [[ " $ROWS " != *" $label "* ]]; then continue; fi
  for k in $KERNELS; do
    line=$(analog-ep bench -c configs/hopfield_mlp_fmnist.yaml --device memristor $B $args --set compute.kernels=$k --repeats 10 --json 2>/dev/null | tail -1)
    echo "{\"tree\": \"$TREE\", \"commit\": \"$(git -C $TREE rev-parse --short HEAD)\", \"label\": \"$label\", \"kernels\": \"$k\", \"load\": \"$(cut -d' ' -f1-3 /proc/loadavg)\", \"date\": \"$(date -u +%FT%TZ)\", \"bench\": $line}" >> $OUT
  done
done <<'CFG'
full_budget --set solver.tol=0 --set solver.stop=tol
default
tol --set solver.stop=tol
noise_floor --set solver.stop=noise_floor
mixed_full --set solver.tol=0 --set solver.stop=tol --set analog.update=mixed
mixed_default --set analog.update=mixed
settle --set analog.relaxation=settle --set analog.settle_dt_s=1e-7
settle_noise_floor --set analog.relaxation=settle --set analog.settle_dt_s=1e-7 --set solver.stop=noise_floor
settle_default --set analog.relaxation=settle
CFG
