#!/bin/bash
# run.sh TAG MODEL ALGORITHM [--set k=v ...]: one Fashion-MNIST run of issue 21's comparison;
# the --json line goes to benchmarks/model_defaults_hopfield_s5/TAG.json, the log to /tmp/D/TAG.log
tag=$1; model=$2; alg=$3; shift 3
cd "$(dirname "$0")/../.." && . .venv/bin/activate && export OMP_NUM_THREADS=1
echo "analog-ep train --set model.name=$model --set algorithm=$alg --set data.name=fashion_mnist --set data.root=/work/shared/data/fashion-mnist --set train.epochs=2 $* --out /tmp/D/runs/$tag --overwrite --json" >> benchmarks/model_defaults_hopfield_s5/commands.txt
/usr/bin/time -f "wall %e s" analog-ep train --set model.name=$model --set algorithm=$alg --set data.name=fashion_mnist \
  --set data.root=/work/shared/data/fashion-mnist --set train.epochs=2 "$@" --out /tmp/D/runs/$tag --overwrite --json \
  > /tmp/D/$tag.log 2>&1
# the --json line (the log's last line is /usr/bin/time's)
grep '^{"test_accuracy"' /tmp/D/$tag.log | tail -1 > benchmarks/model_defaults_hopfield_s5/$tag.json
