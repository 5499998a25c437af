#!/bin/bash
# session-11 end figures: base 78346f3 (/work/meas0) vs merged main (/work/meas), one process at a time
. /work/main/.venv/bin/activate
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 MODES=numba
O=/work/measout/s11; mkdir -p $O; export RUNS=$O/runs
for args in "" "solver.tol=0 solver.stop=tol"; do
  for t in meas0 meas meas0 meas; do
    cd /work/$t
    line=$(PYTHONPATH=/work/$t python benchmarks/speed_fmnist/ab.py --reps 8 $args 2>/dev/null | tail -1)
    echo "{\"tree\": \"$t\", \"commit\": \"$(git rev-parse --short HEAD)\", \"args\": \"$args\", \"load\": \"$(cut -d' ' -f1-3 /proc/loadavg)\", \"date\": \"$(date -u +%FT%TZ)\", \"ab\": $line}" >> $O/ab.jsonl
  done
done
for t in meas0 meas; do
  KERNELS=numba ROWS="full_budget default" bash /work/meas/benchmarks/speed_fmnist/run_bench.sh /work/$t $O/bench.jsonl
done
for r in 1 2; do
for t in meas meas0; do
  bash /work/meas/benchmarks/speed_fmnist/run_epochs.sh /work/$t $O/epochs.jsonl s11e${r}_${t}_digital
  bash /work/meas/benchmarks/speed_fmnist/run_epochs.sh /work/$t $O/epochs.jsonl s11e${r}_${t}_memristor --device memristor
done
done
for r in 1 2; do
for t in meas meas0; do
  bash /work/meas/benchmarks/speed_fmnist/run_epochs.sh /work/$t $O/epochs3.jsonl s11e3x${r}_${t}_digital --set train.epochs=3
  bash /work/meas/benchmarks/speed_fmnist/run_epochs.sh /work/$t $O/epochs3.jsonl s11e3x${r}_${t}_memristor --device memristor --set train.epochs=3
done
done
echo done >> $O/done
