#!/bin/bash
# Usage: run60k.sh TREE RUNS RAW PART -- issue 20's MLP figures at the analog-core record's size:
# Fashion-MNIST 784-500-10, all 60,000 training images, 10,000 test (data.train_size/test_size unset,
# as in benchmarks/analog_core_fmnist.md), 10 epochs, seed 0, configs/hopfield_mlp_fmnist.yaml defaults.
# PART=settle: the analog settle run alone; PART=chain: digital EP then analog EP iterative.
# Started as two concurrent processes (one per PART). Each train --json line goes to RAW/<name>.json,
# start/end UTC, load and /usr/bin/time wall/user/sys seconds to RAW/done.log.
TREE=$1; RUNS=$2; RAW=$3; PART=$4
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 PYTHONPATH=$TREE PATH=$TREE/.venv/bin:$PATH
cd $TREE; mkdir -p $RUNS $RAW
C=configs/hopfield_mlp_fmnist.yaml
D="--set data.root=/work/shared/data/fashion-mnist"
run() {  # run NAME args...
  local name=$1; shift
  echo "$name start $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg) commit $(git rev-parse --short HEAD)" >> $RAW/done.log
  /usr/bin/time -f "$name time wall %e user %U sys %S" -a -o $RAW/done.log \
    analog-ep train -c $C $D --out $RUNS/$name --overwrite "$@" --json > $RAW/$name.out 2> $RAW/$name.err
  tail -1 $RAW/$name.out > $RAW/$name.json
  echo "$name end $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)" >> $RAW/done.log
}
A="--set train.epochs=10"
case $PART in
  settle) run f60_settle --device memristor --set analog.relaxation=settle $A ;;
  chain)  run f60_digital $A; run f60_iter --device memristor $A ;;
  *) echo "PART must be settle or chain, got '$PART'" >&2; exit 2 ;;
esac
