#!/bin/bash
# Usage: run_more.sh TREE RAW -- after run_all.sh, one process at a time: whole 10k epochs (round 1),
# bench matrix round 2 (raw/bench2.jsonl, kernels in the other order), F3's quiet rows (output noise
# off too), whole 10k epochs (round 2).
TREE=$1; RAW=$2
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 PYTHONPATH=$TREE PATH=$TREE/.venv/bin:$PATH
cd $TREE
log() { echo "$1 $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)" >> $RAW/done.log; }
log "epochs_r1 start"; ROUND=r1 bash $TREE/benchmarks/settle_fmnist_s14/run_epochs_s14.sh $TREE $RAW; log "epochs_r1 end"
log "f2_round2 start"
KERNELS="numba torch" ROWS="full_budget default mixed_full mixed_default settle settle_noise_floor settle_default" \
  bash $TREE/benchmarks/speed_fmnist/run_bench.sh $TREE $RAW/bench2.jsonl
log "f2_round2 end"
T="--set data.train_size=1000 --set data.test_size=256 --set train.epochs=1"
for rel in iterative settle; do for stop in tol noise_floor; do
  name=f3q_${rel}_${stop}; log "$name start"
  /usr/bin/time -f "$name time wall %e user %U sys %S" -a -o $RAW/done.log \
    analog-ep train -c configs/hopfield_mlp_fmnist.yaml --set data.root=/work/shared/data/fashion-mnist \
      --out /tmp/G_runs/$name --overwrite --device memristor --set analog.relaxation=$rel \
      --set analog.w_noise_std=0 --set analog.out_noise_std=0 --set solver.stop=$stop $T --json > $RAW/$name.out 2> $RAW/$name.err
  tail -1 $RAW/$name.out > $RAW/$name.json; log "$name end"
done; done
log "epochs_r2 start"; ROUND=r2 bash $TREE/benchmarks/settle_fmnist_s14/run_epochs_s14.sh $TREE $RAW; log "epochs_r2 end"
