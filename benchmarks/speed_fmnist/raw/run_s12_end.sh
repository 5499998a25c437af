#!/bin/bash
# session-12 end figures: base 61d9340 (/work/meas0) vs merged main (/work/meas), one process at a time
. /work/main/.venv/bin/activate
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 MODES=numba
O=/work/measout/s12; mkdir -p $O; export RUNS=$O/runs
for t in meas0 meas meas0 meas; do
  cd /work/$t
  line=$(PYTHONPATH=/work/$t python benchmarks/speed_fmnist/ab.py --reps 8 2>/dev/null | tail -1)
  echo "{\"tree\": \"$t\", \"commit\": \"$(git rev-parse --short HEAD)\", \"load\": \"$(cut -d' ' -f1-3 /proc/loadavg)\", \"date\": \"$(date -u +%FT%TZ)\", \"ab\": $line}" >> $O/ab.jsonl
done
for r in 1 2; do
for t in meas meas0; do
  bash /work/meas/benchmarks/speed_fmnist/run_epochs.sh /work/$t $O/epochs.jsonl s12e${r}_${t}_digital
  bash /work/meas/benchmarks/speed_fmnist/run_epochs.sh /work/$t $O/epochs.jsonl s12e${r}_${t}_memristor --device memristor
done
done
echo done >> $O/done
