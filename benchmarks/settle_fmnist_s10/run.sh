#!/usr/bin/env bash
# Session 10, issue 20: the fused settle step (numba) before/after, one window.
# base = main at 432f2a1 unpacked in $BASE (git archive 432f2a1 | tar -x -C $BASE), run via PYTHONPATH;
# new = this branch. PART=bench: analog-ep bench alternated base/new (ROUNDS); PART=epoch: whole 10k-image epochs.
set -u
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1
BASE=${BASE:-/tmp/F10/base}
OUT=${OUT:-benchmarks/settle_fmnist_s10}
R=${R:-/tmp/F10/runs}
mkdir -p "$OUT" "$R"
log() { echo "$(date -u +%H:%M:%S) $1 load $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/done.log"; }
B="bench -c configs/hopfield_mlp_fmnist.yaml --device memristor --repeats 5 --warmup 1 --json"
E="train -c configs/hopfield_mlp_fmnist.yaml --set data.train_size=10000 --set data.test_size=10000 --set train.epochs=1 --json --overwrite --device memristor"
case "${PART:-bench}" in
bench)
  for r in ${ROUNDS:-a b}; do
    log "start settle_base_$r"; PYTHONPATH=$BASE analog-ep $B --set analog.relaxation=settle > "$OUT/settle_base_$r.json"; log "end settle_base_$r"
    log "start settle_new_$r";  analog-ep $B --set analog.relaxation=settle > "$OUT/settle_new_$r.json"; log "end settle_new_$r"
    log "start settle_torch_$r"; analog-ep $B --set analog.relaxation=settle --set compute.kernels=torch > "$OUT/settle_torchk_$r.json"; log "end settle_torch_$r"
    log "start iter_new_$r";    analog-ep $B > "$OUT/iter_new_$r.json"; log "end iter_new_$r"
  done ;;
epoch)
  log "start epoch_settle_new"; analog-ep $E --set analog.relaxation=settle --out $R/epoch_settle_new > "$OUT/epoch_settle_new.json"; log "end epoch_settle_new"
  log "start epoch_settle_base"; PYTHONPATH=$BASE analog-ep $E --set analog.relaxation=settle --out $R/epoch_settle_base > "$OUT/epoch_settle_base.json"; log "end epoch_settle_base"
  log "start epoch_iter_new"; analog-ep $E --out $R/epoch_iter_new > "$OUT/epoch_iter_new.json"; log "end epoch_iter_new"
  ;;
esac
