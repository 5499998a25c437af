#!/usr/bin/env bash
# vgg_crnn at the published CRNN line's operating point (session 16, issue 21), a control.
# Usage (repository root, venv active): [SEED=S] bash benchmarks/model_defaults_crnn_s16/run.sh OUTDIR STOP_UTC [ep bp rbp]
# Runs the given algorithms one after another under nice -n 10, each with a wall-clock limit so that
# none runs past STOP_UTC (HH:MM); logs `date -u` and `uptime` before and after each run to OUTDIR/log.txt.
set -u
seed=${SEED:-0}
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1
out=$1; stop=$2; shift 2
S="--set model.name=vgg_crnn --set data.name=fashion_mnist --set data.root=/work/shared/data/fashion-mnist
   --set train.epochs=2 --set model.channels=[8,16,32,32,32] --set data.train_size=2000
   --set data.test_size=1000 --set seed=$seed"
# the line's operating point: slope-1/2 hard sigmoid (gains stay 1: U(+-1/sqrt(fan_in)) as the line's
# init), inputs at std 1/3, an aux readout on every hidden node, constant aux strength
L="--set model.activation=hard_sigmoid --set data.std_scale=3
   --set model.aux_nodes=[1,2,3,4,5,6,7,8,9,10] --set ep.aux_schedule=constant"
for alg in "$@"; do
  left=$(( $(date -u -d "$stop" +%s) - $(date -u +%s) ))
  if [ "$left" -lt 120 ]; then echo "skip $alg: ${left}s left before $stop" >> "$out/log.txt"; continue; fi
  echo "start $alg seed $seed $(date -u +%FT%TZ) limit ${left}s | $(uptime)" >> "$out/log.txt"
  timeout "$left" nice -n 10 analog-ep train $S $L --set algorithm=$alg \
    --out "$out/${alg}_n2000_line_auxall_s$seed" --overwrite --json > "$out/${alg}_s$seed.out" 2> "$out/${alg}_s$seed.err"
  echo "end $alg rc=$? $(date -u +%FT%TZ) | $(uptime)" >> "$out/log.txt"
done
