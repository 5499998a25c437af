#!/bin/bash
# session-10 end figures: base 432f2a1 (/work/meas0) vs merged main (/work/meas), one process at a time
. /work/main/.venv/bin/activate
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 MODES=numba
O=/work/measout/s10; mkdir -p $O
for args in "" "solver.tol=0 solver.stop=tol"; do
  for t in meas0 meas meas0 meas; do
    cd /work/$t
    line=$(PYTHONPATH=/work/$t python benchmarks/speed_fmnist/ab.py --reps 8 $args 2>/dev/null | tail -1)
    echo "{\"tree\": \"$t\", \"commit\": \"$(git rev-parse --short HEAD)\", \"args\": \"$args\", \"load\": \"$(cut -d' ' -f1-3 /proc/loadavg)\", \"date\": \"$(date -u +%FT%TZ)\", \"ab\": $line}" >> $O/ab.jsonl
  done
done
for t in meas0 meas; do
  KERNELS=numba ROWS="full_budget default mixed_full mixed_default" bash /work/meas/benchmarks/speed_fmnist/run_bench.sh /work/$t $O/bench.jsonl
done
for r in 1 2; do
for t in meas meas0; do
  bash /work/meas/benchmarks/speed_fmnist/run_epochs.sh /work/$t $O/epochs.jsonl s10e${r}_${t}_digital
  bash /work/meas/benchmarks/speed_fmnist/run_epochs.sh /work/$t $O/epochs.jsonl s10e${r}_${t}_memristor --device memristor
done
done
echo done >> $O/done
. /work/main/.venv/bin/activate
O=/work/measout/s10
for r in 3 4 5; do
for t in meas meas0; do
  bash /work/meas/benchmarks/speed_fmnist/run_epochs.sh /work/$t $O/epochs2.jsonl s10e${r}_${t}_digital
  bash /work/meas/benchmarks/speed_fmnist/run_epochs.sh /work/$t $O/epochs2.jsonl s10e${r}_${t}_memristor --device memristor
done
done
echo done >> $O/done_e2
. /work/main/.venv/bin/activate
O=/work/measout/s10
for r in 6 7 8; do
  bash /work/meas/benchmarks/speed_fmnist/run_epochs.sh /work/meas $O/epochs3.jsonl s10e${r}_meas_digital
  bash /work/meas/benchmarks/speed_fmnist/run_epochs.sh /work/meas $O/epochs3.jsonl s10e${r}_meas_memristor --device memristor
  bash /work/meas/benchmarks/speed_fmnist/run_epochs.sh /work/meas $O/epochs3.jsonl s10e${r}_meas_memristor_mixed --device memristor --set analog.update=mixed
  bash /work/meas/benchmarks/speed_fmnist/run_epochs.sh /work/meas0 $O/epochs3.jsonl s10e${r}_meas0_memristor --device memristor
done
echo done >> $O/done_e3
