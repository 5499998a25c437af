#!/bin/bash
. /work/main/.venv/bin/activate
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1
O=/work/measout/s11; export RUNS=$O/runs2; mkdir -p $RUNS
for r in 1 2 3; do
for t in meas meas0; do
  bash /work/meas/benchmarks/speed_fmnist/run_epochs.sh /work/$t $O/epochs_b.jsonl s11b${r}_${t}_digital
  bash /work/meas/benchmarks/speed_fmnist/run_epochs.sh /work/$t $O/epochs_b.jsonl s11b${r}_${t}_memristor --device memristor
done
done
for t in meas meas0; do
  bash /work/meas/benchmarks/speed_fmnist/run_epochs.sh /work/$t $O/epochs_b3.jsonl s11b3x_${t}_digital --set train.epochs=3
  bash /work/meas/benchmarks/speed_fmnist/run_epochs.sh /work/$t $O/epochs_b3.jsonl s11b3x_${t}_memristor --device memristor --set train.epochs=3
done
echo done >> $O/done_b
