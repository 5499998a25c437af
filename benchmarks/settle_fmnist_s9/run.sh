#!/bin/bash
# Session 9 settle speed record (benchmarks/settle_fmnist_s9.md). Run from the worktree root with its venv.
# BASE: a copy of the code before the change (git archive <base commit> | tar -x -C $BASE), run via PYTHONPATH.
set -u
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1
BASE=${BASE:-/tmp/D/base}
RUNS=${RUNS:-/tmp/D/runs}
OUT=benchmarks/settle_fmnist_s9
C=configs/hopfield_mlp_fmnist.yaml
B="bench -c $C --device memristor --repeats 5 --warmup 1 --json"
S="--set analog.relaxation=settle"
FULL="--set solver.tol=0 --set solver.stop=tol"
log() { echo "$(date -u +%H:%M:%S) $1 $(cut -d' ' -f1-3 /proc/loadavg)" >> $OUT/done.log; }
one() {  # name, code (base|new), args...
  local name=$1 code=$2; shift 2
  log "start $name"
  if [ "$code" = base ]; then PYTHONPATH=$BASE analog-ep "$@" | tail -1 > $OUT/$name.json
  else analog-ep "$@" | tail -1 > $OUT/$name.json; fi
  log "end $name"
}
if [ "${PART:-bench}" = bench ]; then
for round in a b; do
  one bench_settle_old_$round base $B $S
  one bench_settle_new_$round new $B $S
  one bench_settle_new_dt10_$round new $B $S --set analog.settle_dt_s=1e-8
  one bench_iter_$round new $B
done
one bench_settle_old_full base $B $S $FULL
one bench_settle_new_full new $B $S $FULL
one bench_iter_full new $B $FULL
fi
if [ "${PART:-bench}" = bench2 ]; then  # the final code: steps of tau / 4 (default), tau / 2, tau, beside the old code
for round in a b; do
  one bench2_settle_old_$round base $B $S
  one bench2_settle_new_$round new $B $S
  one bench2_settle_new_dt2_$round new $B $S --set analog.settle_dt_s=5e-8
  one bench2_settle_new_dt1_$round new $B $S --set analog.settle_dt_s=1e-7
done
fi
if [ "${PART:-bench}" = vgg ]; then  # dchn_vgg5 32-64-64-64 on synthetic 3x32x32, batch 64
V="bench --device memristor --set model.name=dchn_vgg5 --set model.channels=[32,64,64,64] --set data.name=synthetic --set data.shape=[3,32,32] --set data.batch_size=16 --repeats 1 --warmup 1 --json"
# (batch 64 with --repeats 2 did not finish the old settle in 15 minutes at load 6-9: batch 16, one timed round)
one vgg_settle_old base $V $S
one vgg_settle_new new $V $S
fi
if [ "${PART:-bench}" = epoch ]; then
E="train -c $C --set data.train_size=10000 --set data.test_size=10000 --set train.epochs=1 --json --overwrite"
one epoch_digital new $E --out $RUNS/epoch_digital
one epoch_iter new $E --device memristor --out $RUNS/epoch_iter
one epoch_settle_new new $E --device memristor $S --out $RUNS/epoch_settle_new
one epoch_settle_old base $E --device memristor $S --out $RUNS/epoch_settle_old
one epoch_settle_new_dt2 new $E --device memristor $S --set analog.settle_dt_s=5e-8 --out $RUNS/epoch_settle_new_dt2
fi
