#!/usr/bin/env bash
# Reduced-width DCHN VGG5 and Hopfield-ResNet13 on a Fashion-MNIST subset, EP vs the backprop
# twin at equal epochs (CPU). Usage: bash benchmarks/run_conv_fmnist.sh OUTDIR
set -euo pipefail
out=${1:-runs/conv_fmnist}
mkdir -p "$out"
common="--set data.name=fashion_mnist --set data.root=../shared/data/fashion-mnist
        --set data.train_size=10000 --set data.test_size=2000 --set data.batch_size=64
        --set train.epochs=3 --set train.lr=0.05 --set train.momentum=0.5 --set model.channels=[16,32,32,32]
        --set ep.beta=0.05 --set solver.free_iters=60 --set solver.nudge_iters=20 --json"
dchn="--set model.name=dchn_vgg5 --set model.gains=[1,1,1,1,1] --set solver.colouring=odd_even"
resnet="--set model.name=hopfield_resnet13"
for algo in ep bp; do
  analog-ep train $common $dchn --set algorithm=$algo --out "$out/dchn_vgg5-$algo" | tail -1 > "$out/dchn_vgg5-$algo.json"
done
for algo in ep bp; do
  analog-ep train $common $resnet --set algorithm=$algo --out "$out/hopfield_resnet13-$algo" | tail -1 > "$out/hopfield_resnet13-$algo.json"
done
