#!/bin/bash
# measure_pair.sh BASE NEW TAG (absolute worktree paths): the update's before / after record, each
# pair both trees at the same time (the scripts from NEW's benchmarks/, run with each tree's code):
# update_insitu.py, commit_ab.py --reps 10, step_parts.py --reps 8 (full budget, defaults), ab.py
# --reps 8 with MODES=numba (full budget, defaults), then a 10k-image epoch digital and --device
# memristor (run_epochs.sh; ROUNDS of them, default 1; run directories under $RUNS). Then update_ab.py
# (torch / numba kernels of the 784x500 apply_update alternating). One JSON line per run in
# raw/NAME_TAG.jsonl. Needs the venv active. STEPS (default all: "insitu commit steps ab epochs
# update_ab") picks a subset.
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1
BASE=$1; NEW=$2; TAG=$3
RAW=$NEW/benchmarks/speed_fmnist/raw
pair() {  # pair NAME SCRIPT ARGS...
  NAME=$1; SCRIPT=$2; shift 2
  for T in $BASE $NEW; do
    ( cd $T && L0=$(cut -d' ' -f1-3 /proc/loadavg); D0=$(date -u +%FT%TZ); \
      line=$(PYTHONPATH=$T MODES=numba python $NEW/benchmarks/speed_fmnist/$SCRIPT "$@" 2>/dev/null | tail -1); \
      echo "{\"tree\": \"$T\", \"commit\": \"$(git -C $T rev-parse --short HEAD)\", \"script\": \"$SCRIPT\", \"args\": \"$*\", \"load_start\": \"$L0\", \"load_end\": \"$(cut -d' ' -f1-3 /proc/loadavg)\", \"start\": \"$D0\", \"end\": \"$(date -u +%FT%TZ)\", \"out\": \"$(echo $line | sed 's/"/\\"/g')\"}" >> $RAW/${NAME}_$TAG.jsonl ) &
  done
  wait
}
STEPS=${STEPS:-insitu commit steps ab epochs update_ab}
on() { [[ " $STEPS " == *" $1 "* ]]; }
on insitu && pair update_insitu update_insitu.py
on commit && pair commit_ab commit_ab.py --reps 10
on steps && pair step_parts step_parts.py --reps 8 solver.tol=0 solver.stop=tol
on steps && pair step_parts step_parts.py --reps 8
on ab && pair ab ab.py --reps 8 solver.tol=0 solver.stop=tol
on ab && pair ab ab.py --reps 8
on epochs && for round in $(seq ${ROUNDS:-1}); do
  for cfg in dig mem; do
    extra=""; [ $cfg = mem ] && extra="--device memristor"
    $NEW/benchmarks/speed_fmnist/run_epochs.sh $BASE $RAW/epochs_$TAG.jsonl base_${cfg}_r$round $extra &
    $NEW/benchmarks/speed_fmnist/run_epochs.sh $NEW $RAW/epochs_$TAG.jsonl new_${cfg}_r$round $extra &
    wait
  done
done
on update_ab && pair update_ab update_ab.py
