#!/bin/bash
# ab_pair.sh BASE NEW OUT.jsonl ARGS... (absolute paths): ab.py on two worktrees at the same time (before / after under the
# same load); one JSON line each appended to OUT.jsonl.
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1
BASE=$1; NEW=$2; OUT=$3; shift 3
for T in $BASE $NEW; do
  ( cd $T && L0=$(cut -d' ' -f1-3 /proc/loadavg); line=$(PYTHONPATH=$T python benchmarks/speed_fmnist/ab.py --reps 8 "$@" 2>/dev/null | tail -1); \
    echo "{\"tree\": \"$T\", \"commit\": \"$(git -C $T rev-parse --short HEAD)\", \"load_start\": \"$L0\", \"load_end\": \"$(cut -d' ' -f1-3 /proc/loadavg)\", \"date\": \"$(date -u +%FT%TZ)\", \"ab\": $line}" >> $OUT ) &
done
wait
