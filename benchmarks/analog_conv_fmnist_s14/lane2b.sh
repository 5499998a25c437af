#!/bin/bash
while kill -0 $1 2>/dev/null; do sleep 20; done
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1; cd /work/run14 && . /work/main/.venv/bin/activate
for s in 0 1 2; do
  for stop in default tol; do
    X=""; [ $stop = tol ] && X="--set solver.stop=tol"
    F=/work/notes/s14/bench_warm_s${s}_$stop.txt
    echo "# bench m64adc11_warm_s$s $stop start $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg) commit $(git rev-parse --short HEAD)" > $F
    echo "# python -m analog_ep bench --from /tmp/S13_runs/m64adc11_warm_s$s $X --repeats 3 --warmup 1 --json" >> $F
    python -m analog_ep bench --from /tmp/S13_runs/m64adc11_warm_s$s $X --repeats 3 --warmup 1 --json >> $F 2>&1
    echo "# end $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)" >> $F
  done
done
