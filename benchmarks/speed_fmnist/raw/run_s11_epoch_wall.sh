#!/bin/bash
# session-11 helper A: two more rounds of whole 10k epochs (run_epochs.sh, wall), base and branch alternating
. /work/wt-A/.venv/bin/activate
O=/work/wt-A/benchmarks/speed_fmnist/raw; B=/tmp/A_base; N=/work/wt-A
for r in 3 4; do
  for t in $N $B; do
    bash $N/benchmarks/speed_fmnist/run_epochs.sh $t $O/epochs_s11_epoch.jsonl s11A_${r}_$(basename $t)_digital
    bash $N/benchmarks/speed_fmnist/run_epochs.sh $t $O/epochs_s11_epoch.jsonl s11A_${r}_$(basename $t)_memristor --device memristor
  done
done
echo done > /tmp/A_out/wall_done
