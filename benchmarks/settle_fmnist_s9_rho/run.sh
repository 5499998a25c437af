#!/bin/bash
# Session 9 issue 20: the settle's warm-started per-phase rho measurement (benchmarks/settle_fmnist_s9_rho.md).
# Run from the worktree root with its venv. BASE: the code before the change (git archive <base> | tar -x -C $BASE).
set -u
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1
BASE=${BASE:-/tmp/F/base}
OUT=benchmarks/settle_fmnist_s9_rho
C=configs/hopfield_mlp_fmnist.yaml
B="bench -c $C --device memristor --repeats 5 --warmup 1 --json"
S="--set analog.relaxation=settle"
log() { echo "$(date -u +%H:%M:%S) $1 $(cut -d' ' -f1-3 /proc/loadavg)" >> $OUT/done.log; }
one() {  # name, code (base|new), args...
  local name=$1 code=$2; shift 2
  log "start $name"
  if [ "$code" = base ]; then PYTHONPATH=$BASE analog-ep "$@" | tail -1 > $OUT/$name.json
  else analog-ep "$@" | tail -1 > $OUT/$name.json; fi
  log "end $name"
}
if [ "${PART:-bench}" = bench ]; then
for round in ${ROUNDS:-a b c}; do
  one settle_old_$round base $B $S
  one settle_new_$round new $B $S
  one settle_dt1_new_$round new $B $S --set analog.settle_dt_s=1e-7
  one settle_dt1_old_$round base $B $S --set analog.settle_dt_s=1e-7
done
fi
if [ "${PART:-bench}" = epoch ]; then  # one 10k-image settle epoch each: new, old, old, new
RUNS=${RUNS:-/tmp/F/runs}
E="train -c $C --set data.train_size=10000 --set data.test_size=10000 --set train.epochs=1 --json --overwrite"
one epoch_settle_new new $E --device memristor $S --out $RUNS/epoch_settle_new
one epoch_settle_old base $E --device memristor $S --out $RUNS/epoch_settle_old
one epoch_settle_old_2 base $E --device memristor $S --out $RUNS/epoch_settle_old_2
one epoch_settle_new_2 new $E --device memristor $S --out $RUNS/epoch_settle_new_2
fi
