#!/bin/bash
# Usage: run_all.sh TREE RUNS RAW -- issue 20's MLP figures at one commit, one process at a time:
# F1 (10k/10k x 10 epochs: digital, analog iterative, analog settle), F3 (noise x stop x relaxation,
# 1k/256 x 1 epoch), F2a (bench matrix, torch + numba). Each train --json line goes to RAW/<name>.json,
# start/end UTC, load and /usr/bin/time wall/user/sys seconds to RAW/done.log.
TREE=$1; RUNS=$2; RAW=$3
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 PYTHONPATH=$TREE PATH=$TREE/.venv/bin:$PATH
cd $TREE; mkdir -p $RUNS $RAW
C=configs/hopfield_mlp_fmnist.yaml
D="--set data.root=/work/shared/data/fashion-mnist"
run() {  # run NAME args...
  local name=$1; shift
  echo "$name start $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)" >> $RAW/done.log
  /usr/bin/time -f "$name time wall %e user %U sys %S" -a -o $RAW/done.log \
    analog-ep train -c $C $D --out $RUNS/$name --overwrite "$@" --json > $RAW/$name.out 2> $RAW/$name.err
  tail -1 $RAW/$name.out > $RAW/$name.json
  echo "$name end $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)" >> $RAW/done.log
}
if [[ " ${PARTS:-F1 F3 F2} " == *" F1 "* ]]; then
A10="--set data.train_size=10000 --set data.test_size=10000 --set train.epochs=10"
run f1_digital $A10
run f1_iter --device memristor $A10
run f1_settle --device memristor --set analog.relaxation=settle $A10
fi
if [[ " ${PARTS:-F1 F3 F2} " == *" F3 "* ]]; then
T="--set data.train_size=1000 --set data.test_size=256 --set train.epochs=1"
for rel in iterative settle; do for w in 0 0.02 0.05; do for stop in tol noise_floor; do
  run f3_${rel}_w${w}_${stop} --device memristor --set analog.relaxation=$rel --set analog.w_noise_std=$w --set solver.stop=$stop $T
done; done; done
fi
if [[ " ${PARTS:-F1 F3 F2} " == *" F2 "* ]]; then
echo "f2 start $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)" >> $RAW/done.log
KERNELS="torch numba" ROWS="full_budget default mixed_full mixed_default settle settle_noise_floor settle_default" \
  bash $TREE/benchmarks/speed_fmnist/run_bench.sh $TREE $RAW/bench.jsonl
echo "f2 end $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)" >> $RAW/done.log
fi
