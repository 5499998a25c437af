#!/bin/bash
# Session 10, helper B (speed_fmnist_s10_stop.md): before (BASE, main 432f2a1) / after (NEW, s10-B 6f55a78)
# in one window, alternated: ab.py (2 rounds), run_bench.sh default + full_budget (2 rounds), whole
# 10k epochs digital and memristor (2 rounds; the second in the order after, before); then the
# accuracy runs (acc_run.sh, 3 epochs x seeds 0-2, and dchn_vgg5 2k images 1 epoch) and the traces.
# Run from the repo root of the branch with its venv active; BASE / NEW detached worktrees.
BASE=${BASE:-/work/wt-B-base}; NEW=${NEW:-/work/wt-B-cand}
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1
H=$(pwd)/benchmarks/speed_fmnist; R=$H/raw
ab() {
  cd $1; echo "{\"tree\": \"$1\", \"commit\": \"$(git -C $1 rev-parse --short HEAD)\", \"start\": \"$(date -u +%FT%TZ)\", \"load\": \"$(cut -d' ' -f1-3 /proc/loadavg)\", \"ab\": $(PYTHONPATH=$1 MODES=numba python benchmarks/speed_fmnist/ab.py --reps 8 2>/dev/null | tail -1)}" >> $R/ab_s10_stop.jsonl
}
for r in 1 2; do ab $BASE; ab $NEW; done
for r in 1 2; do
  KERNELS=numba ROWS="default full_budget" $H/run_bench.sh $BASE $R/bench_s10_stop.jsonl
  KERNELS=numba ROWS="default full_budget" $H/run_bench.sh $NEW $R/bench_s10_stop.jsonl
done
for t in $BASE $NEW; do
  $H/run_epochs.sh $t $R/epochs_s10_stop.jsonl s10B_dig_$(basename $t)
  $H/run_epochs.sh $t $R/epochs_s10_stop.jsonl s10B_mem_$(basename $t) --device memristor
done
for t in $NEW $BASE; do
  $H/run_epochs.sh $t $R/epochs_s10_stop.jsonl s10B_r2_mem_$(basename $t) --device memristor
  $H/run_epochs.sh $t $R/epochs_s10_stop.jsonl s10B_r2_dig_$(basename $t)
done
M="configs/hopfield_mlp_fmnist.yaml --device memristor --set data.train_size=10000 --set data.test_size=10000 --set train.epochs=3"
D="configs/dchn_vgg5_fmnist.yaml --device memristor --set model.channels=[32,64,64,64] --set data.train_size=2000 --set data.test_size=1000 --set train.epochs=1 --set compute.kernels=numba"
for s in 0 1 2; do
  $H/acc_run.sh $BASE $R/acc_s10_stop.jsonl base_mlp_s$s $M --set seed=$s
  $H/acc_run.sh $NEW $R/acc_s10_stop.jsonl cand_mlp_s$s $M --set seed=$s
done
$H/acc_run.sh $BASE $R/acc_s10_stop.jsonl base_dchn $D
$H/acc_run.sh $NEW $R/acc_s10_stop.jsonl cand_dchn $D
