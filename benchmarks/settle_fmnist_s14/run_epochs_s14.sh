#!/bin/bash
# Usage: run_epochs_s14.sh TREE RAW -- whole 10k-image epochs (1k test, 1 epoch, seed 0) through
# benchmarks/speed_fmnist/run_epochs.sh: digital EP, analog iterative (default), analog mixed update,
# analog settle (default step), digital again, back to back, one process at a time. Lines: RAW/epochs_$ROUND.jsonl (ROUND default r1), run folders /tmp/G_runs/epochs_$ROUND.
TREE=$1; RAW=$2
export PATH=$TREE/.venv/bin:$PATH RUNS=/tmp/G_runs/epochs_${ROUND:-r1}
E=$TREE/benchmarks/speed_fmnist/run_epochs.sh
bash $E $TREE $RAW/epochs_${ROUND:-r1}.jsonl digital_a
bash $E $TREE $RAW/epochs_${ROUND:-r1}.jsonl iterative --device memristor
bash $E $TREE $RAW/epochs_${ROUND:-r1}.jsonl mixed --device memristor --set analog.update=mixed
bash $E $TREE $RAW/epochs_${ROUND:-r1}.jsonl settle --device memristor --set analog.relaxation=settle
bash $E $TREE $RAW/epochs_${ROUND:-r1}.jsonl digital_b
