#!/bin/bash
# Usage: acc_run.sh TREE OUT.jsonl LABEL CONFIG [--set ...]: one training run with the code of worktree
# TREE (analog-ep and python from PATH); appends its test accuracy, time and per-epoch history
# (<phase>_mean_steps, <phase>_settled_fraction, test_accuracy) to OUT.jsonl. Session 10, stop rules.
TREE=$1; OUT=$2; LABEL=$3; CFG=$4; shift 4
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 PYTHONPATH=$TREE
cd $TREE
t0=$(date -u +%FT%TZ)
line=$(analog-ep train -c $CFG --set data.root=/work/shared/data/fashion-mnist --out /tmp/acc_runs/$LABEL "$@" --json 2>/dev/null | tail -1)
steps=$(python -c "
import h5py, json; f = h5py.File('/tmp/acc_runs/$LABEL/results.h5'); e = f['epochs']
print(json.dumps({k: [round(float(v), 4) for v in e[k][...]] for k in e if 'steps' in k or 'settled' in k or 'test_acc' in k}))")
acc=$(echo "$line" | python -c "import json,sys; d=json.loads(sys.stdin.read()); print(json.dumps({k: d.get(k) for k in ('test_accuracy','seconds','seconds_per_epoch')}))")
echo "{\"tree\": \"$TREE\", \"commit\": \"$(git -C $TREE rev-parse --short HEAD)\", \"label\": \"$LABEL\", \"args\": \"$*\", \"start\": \"$t0\", \"end\": \"$(date -u +%FT%TZ)\", \"load\": \"$(cut -d' ' -f1-3 /proc/loadavg)\", \"run\": $acc, \"epochs\": $steps}" >> $OUT
