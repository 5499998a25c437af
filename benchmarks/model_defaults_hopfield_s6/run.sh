#!/bin/bash
# run.sh TAG ALGORITHM [--set k=v ...]: one hopfield_resnet13 Fashion-MNIST run of issue 21's
# comparison (2,000 / 2,000 images, 2 epochs, [8,16,32,32], the family defaults plus the keys
# given); the --json line goes to benchmarks/model_defaults_hopfield_s6/TAG.json, the log to
# /tmp/D/s6/TAG.log, the exact command to commands.txt, the load average before and after to loadavg.txt
tag=$1; alg=$2; shift 2
cd "$(dirname "$0")/../.." && . .venv/bin/activate && export OMP_NUM_THREADS=1
B=benchmarks/model_defaults_hopfield_s6
args=(--set model.name=hopfield_resnet13 --set algorithm=$alg --set model.channels=[8,16,32,32]
      --set data.name=fashion_mnist --set data.root=/work/shared/data/fashion-mnist
      --set data.train_size=2000 --set data.test_size=2000 --set train.epochs=2 "$@"
      --out /tmp/D/runs/s6/$tag --overwrite --json)
echo "$(git rev-parse --short HEAD) analog-ep train ${args[*]}" >> $B/commands.txt
echo "$tag start $(date -u +%H:%M:%S) $(cat /proc/loadavg)" >> $B/loadavg.txt
/usr/bin/time -f "wall %e s" analog-ep train "${args[@]}" > /tmp/D/s6/$tag.log 2>&1
echo "$tag end $(date -u +%H:%M:%S) $(cat /proc/loadavg)" >> $B/loadavg.txt
grep '^{"test_accuracy"' /tmp/D/s6/$tag.log | tail -1 > $B/$tag.json
