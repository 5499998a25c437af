#!/usr/bin/env bash
# Figure 2 of benchmarks/cost_fmnist.md: the wall time of `analog-ep cost` on dchn_vgg5 at published
# width (configs/dchn_vgg5_cifar10.yaml, synthetic CIFAR-shaped inputs: no CIFAR-10 on this machine)
# on the memristor card, and the counting overhead of `analog-ep bench --device memristor`
# (default config: digits 64-... MLP; and the 784-500-10 F-MNIST config).
# Usage: benchmarks/scripts/cost_tools.sh OUTDIR   (repository root, venv active)
set -u
OUT=${1:-/work/bench19_runs}/tools
mkdir -p "$OUT"
export OMP_NUM_THREADS=1
/usr/bin/time -v analog-ep cost -c configs/dchn_vgg5_cifar10.yaml --set data.name=synthetic \
  --set "data.shape=[3,32,32]" --device memristor --json > "$OUT/cost_dchn_vgg5.log" 2> "$OUT/cost_dchn_vgg5.time"
echo "cost rc=$?" >> "$OUT/done.txt"
tail -1 "$OUT/cost_dchn_vgg5.log" > "$OUT/cost_dchn_vgg5.json"
analog-ep bench --device memristor --json > "$OUT/bench_default.log" 2>&1
echo "bench default rc=$?" >> "$OUT/done.txt"
tail -1 "$OUT/bench_default.log" > "$OUT/bench_default.json"
analog-ep bench -c configs/hopfield_mlp_fmnist.yaml --device memristor --json > "$OUT/bench_fmnist.log" 2>&1
echo "bench fmnist rc=$?" >> "$OUT/done.txt"
tail -1 "$OUT/bench_fmnist.log" > "$OUT/bench_fmnist.json"
