#!/bin/bash
# Usage: run_s12_stop_mlp.sh TREE COMMIT OUT.jsonl LABEL SEED [--set ...]: one 1-epoch training of the
# Fashion-MNIST Hopfield MLP 784-500-10 on the memristor card (10k training images, 2k test images;
# the s11 end figures' settings with 2k test images) with the code of TREE (PYTHONPATH), under
# stop_trace.py (per-sample residual traces: the batch sweeps per phase); appends the train --json
# line, the history's <phase>_mean_steps and the traces' batch sweeps per phase. Session 12 (Z).
TREE=$1; COMMIT=$2; OUT=$3; LABEL=$4; SEED=$5; shift 5
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 PYTHONPATH=$TREE
R=${RUNS:-/tmp/Z_runs}; mkdir -p $R
HERE=$(cd $(dirname $0)/.. && pwd)
t0=$(date -u +%FT%TZ); l0=$(cut -d' ' -f1-3 /proc/loadavg)
line=$(cd $TREE && python $HERE/stop_trace.py $R/$LABEL.pt train -c configs/hopfield_mlp_fmnist.yaml \
  --set data.root=/work/shared/data/fashion-mnist --set data.train_size=10000 --set data.test_size=2000 \
  --set train.epochs=1 --set seed=$SEED --device memristor --out $R/$LABEL "$@" --json 2>/dev/null | tail -1)
extra=$(python - $R/$LABEL.pt $R/$LABEL/results.h5 <<'PY'
import json, sys, collections, h5py, torch
by = collections.defaultdict(list)
for p, t in torch.load(sys.argv[1]):
    by[p].append(t.shape[1])
e = h5py.File(sys.argv[2])['epochs']
print(json.dumps({"batch_sweeps": {p: round(sum(v) / len(v), 3) for p, v in by.items()},
                  "history": {k: [round(float(x), 4) for x in e[k][...]] for k in e if 'steps' in k or 'settled' in k}}))
PY
)
echo "{\"commit\": \"$COMMIT\", \"label\": \"$LABEL\", \"seed\": $SEED, \"args\": \"$*\", \"start\": \"$t0\", \"end\": \"$(date -u +%FT%TZ)\", \"load_start\": \"$l0\", \"load_end\": \"$(cut -d' ' -f1-3 /proc/loadavg)\", \"trace\": $extra, \"train\": $line}" >> $OUT
