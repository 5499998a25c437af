#!/bin/bash
# usage: bench_from.sh RUN_DIR NAME [--set ...]: analog-ep bench --from RUN_DIR at the run's default
# stopping, then at full budget (--set solver.stop=tol), one process each; start/end UTC and load around each.
# Runs the library of the checkout it is called from (its .venv), one thread.
cd "$(dirname "$0")/../.." && . .venv/bin/activate && export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1
run=$1; name=$2; shift 2
for stop in default tol; do
  extra=(); [ $stop = tol ] && extra=(--set solver.stop=tol)
  echo "# $name stop=$stop start $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg) commit $(git rev-parse --short HEAD)"
  echo "# analog-ep bench --from $run ${extra[*]} $* --repeats 3 --warmup 1 --json"
  /usr/bin/time -f "# time user_s sys_s wall_s: %U %S %e" analog-ep bench --from "$run" "${extra[@]}" "$@" --repeats 3 --warmup 1 --json 2>&1
  echo "# $name stop=$stop end $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
done
