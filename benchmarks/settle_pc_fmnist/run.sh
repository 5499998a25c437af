#!/bin/bash
# benchmarks/settle_pc_fmnist.md: pcn_mlp on Fashion-MNIST (2k train / 2k test, 2 epochs), memristor card
# usage: run.sh pc | ep   (the two halves ran side by side)
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1
D=benchmarks/settle_pc_fmnist
A="--set model.name=pcn_mlp --set data.name=fashion_mnist --set data.root=/work/shared/data/fashion-mnist --set data.train_size=2000 --set data.test_size=2000 --set train.epochs=2 --device memristor --json"
if [ "$1" = pc ]; then
analog-ep train $A --set algorithm=pc --out $D/runs/pc_iter > $D/pc_iter.json 2> $D/pc_iter.err
analog-ep train $A --set algorithm=pc --set analog.relaxation=settle --out $D/runs/pc_settle > $D/pc_settle.json 2> $D/pc_settle.err
analog-ep train $A --set algorithm=pc --set analog.relaxation=settle --set analog.settle_t_max_s=8e-7 --out $D/runs/pc_settle_8tau > $D/pc_settle_8tau.json 2> $D/pc_settle_8tau.err
analog-ep train $A --set algorithm=ep --out $D/runs/ep_iter > $D/ep_iter.json 2> $D/ep_iter.err
else
analog-ep train $A --set algorithm=ep --set analog.relaxation=settle --out $D/runs/ep_settle > $D/ep_settle.json 2> $D/ep_settle.err
fi
